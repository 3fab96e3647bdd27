// Backend-independent part of the AEAD layer: names, limits and the
// parameter checks every backend relies on.
#include "dptls/crypto/aead.h"

#include <openssl/crypto.h>
#include <string.h>  // explicit_bzero

#include "crypto/backends.h"

namespace dptls::crypto {

namespace {

template <typename Enum, size_t N>
std::optional<Enum> parse_by_name(std::string_view name,
                                  const Enum (&values)[N],
                                  std::string_view (*name_of)(Enum)) {
  for (Enum v : values) {
    if (name_of(v) == name) {
      return v;
    }
  }
  return std::nullopt;
}

constexpr CpuPath kAllCpuPaths[] = {
#define DPTLS_X(e, name) CpuPath::e,
    DPTLS_CPU_PATHS(DPTLS_X)
#undef DPTLS_X
};

}  // namespace

size_t aead_key_len(AeadAlg alg) {
  constexpr size_t kKeyLens[] = {
#define DPTLS_X(e, name, keylen) keylen,
      DPTLS_AEAD_ALGS(DPTLS_X)
#undef DPTLS_X
  };
  const auto i = static_cast<size_t>(alg);
  return i < std::size(kKeyLens) ? kKeyLens[i] : 0;
}

uint64_t aead_max_plaintext(AeadAlg alg) {
  switch (alg) {
    case AeadAlg::kAes128Gcm:
    case AeadAlg::kAes256Gcm:
      return (uint64_t{1} << 36) - 32;
    case AeadAlg::kChaCha20Poly1305:
      return (uint64_t{1} << 38) - 64;
  }
  return 0;
}

std::string_view aead_alg_name(AeadAlg alg) {
  switch (alg) {
#define DPTLS_X(e, name, keylen) \
  case AeadAlg::e:               \
    return name;
    DPTLS_AEAD_ALGS(DPTLS_X)
#undef DPTLS_X
  }
  return "?";
}

std::optional<AeadAlg> parse_aead_alg(std::string_view name) {
  return parse_by_name(name, kAllAeadAlgs, aead_alg_name);
}

std::string_view aead_status_name(AeadStatus status) {
  switch (status) {
#define DPTLS_X(e, name) \
  case AeadStatus::e:    \
    return name;
    DPTLS_AEAD_STATUSES(DPTLS_X)
#undef DPTLS_X
  }
  return "?";
}

std::string_view backend_kind_name(BackendKind kind) {
  switch (kind) {
#define DPTLS_X(e, name) \
  case BackendKind::e:   \
    return name;
    DPTLS_AEAD_BACKENDS(DPTLS_X)
#undef DPTLS_X
  }
  return "?";
}

std::optional<BackendKind> parse_backend_kind(std::string_view name) {
  return parse_by_name(name, kAllBackends, backend_kind_name);
}

std::string_view cpu_path_name(CpuPath path) {
  switch (path) {
#define DPTLS_X(e, name) \
  case CpuPath::e:       \
    return name;
    DPTLS_CPU_PATHS(DPTLS_X)
#undef DPTLS_X
  }
  return "?";
}

std::optional<CpuPath> parse_cpu_path(std::string_view name) {
  return parse_by_name(name, kAllCpuPaths, cpu_path_name);
}

// glibc's explicit_bzero (a memset the compiler may not drop, glibc 2.25
// and later) rather than OPENSSL_cleanse: the same guarantee, but the
// vectorised memset instead of OpenSSL's loop of one 8-byte store at a
// time. The handshake wipes a few hundred small buffers (hash states,
// secrets, pads), where that loop cost about as much as the hashing.
void secure_wipe(void* p, size_t len) noexcept {
  if (len != 0) {
    explicit_bzero(p, len);
  }
}

void AeadKey::release() noexcept {
  if (owner_ != nullptr) {
    owner_->wipe_key(storage_, alg_);
    owner_ = nullptr;
  }
}

AeadStatus AeadBackend::init_key(AeadKey& key, AeadAlg alg,
                                 std::span<const uint8_t> secret) noexcept {
  key.release();
  if (!supports(alg)) {
    return AeadStatus::kUnsupported;
  }
  if (secret.size() != aead_key_len(alg)) {
    return AeadStatus::kBadKey;
  }
  AeadStatus status = expand_key(key.storage_, alg, secret);
  if (status != AeadStatus::kOk) {
    // Whatever expand_key() wrote before it failed is not left behind.
    secure_wipe(key.storage_, sizeof(key.storage_));
    return status;
  }
  key.alg_ = alg;
  key.owner_ = this;
  return AeadStatus::kOk;
}

AeadStatus AeadBackend::run_one(AeadOp& op) noexcept {
  run(std::span<AeadOp>(&op, 1));
  return op.status;
}

std::unique_ptr<AeadBackend> make_backend(BackendKind kind,
                                          const BackendOptions& options,
                                          std::string* error) {
  switch (kind) {
    case BackendKind::kIpsecMb:
      return make_ipsec_mb_backend(options, error);
    case BackendKind::kOpenSsl:
      return make_openssl_backend(options, error);
  }
  if (error != nullptr) {
    *error = "unknown backend";
  }
  return nullptr;
}

}  // namespace dptls::crypto
