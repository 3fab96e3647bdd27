// Hashes, HMAC and HKDF on OpenSSL libcrypto.
//
// Why our own HMAC (RFC 2104, a dozen lines over the libcrypto digest) and
// our own Extract/Expand rather than EVP_MAC "HMAC" or EVP_KDF "HKDF": one
// primitive serves Extract, Expand, Finished and the PSK binders, so there
// is one code path to prove; RFC 5869's expand loop is ten lines and lets
// us enforce the 255 * HashLen limit ourselves and write straight into the
// caller's fixed buffers; and EVP_MAC / EVP_KDF cost a context with its
// provider lookups per call, which at TLS's short inputs is as much as the
// hashing. A cross-check against libcrypto's HMAC at key lengths around
// the block size, the Wycheproof HKDF vectors and RFC 8448 check it.
#include "dptls/tls/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <initializer_list>
#include <iterator>

#include "dptls/crypto/aead.h"
#include "dptls/tls/digest.h"
#include "tls/evp_util.h"

namespace dptls::tls {

using crypto::secure_wipe;

namespace internal {

const char* ossl_digest_name(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256:
      return "SHA2-256";
    case HashAlg::kSha384:
      return "SHA2-384";
  }
  return nullptr;
}

const EVP_MD* evp_md(HashAlg alg) {
  // Function-local statics: initialised once, thread-safely, on first use.
  switch (alg) {
    case HashAlg::kSha256: {
      static const EVP_MD* const md =
          EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
      return md;
    }
    case HashAlg::kSha384: {
      static const EVP_MD* const md =
          EVP_MD_fetch(nullptr, "SHA2-384", nullptr);
      return md;
    }
  }
  return nullptr;
}

void clear_libcrypto_errors() { ERR_clear_error(); }

}  // namespace internal

namespace {

constexpr size_t kHashLens[] = {
#define DPTLS_X(e, name, len) len,
    DPTLS_HASH_ALGS(DPTLS_X)
#undef DPTLS_X
};
constexpr std::string_view kHashNames[] = {
#define DPTLS_X(e, name, len) name,
    DPTLS_HASH_ALGS(DPTLS_X)
#undef DPTLS_X
};
constexpr std::string_view kStatusNames[] = {
#define DPTLS_X(e, name) name,
    DPTLS_KDF_STATUSES(DPTLS_X)
#undef DPTLS_X
};

static_assert([] {
  for (size_t len : kHashLens) {
    if (len > kMaxHashLen) {
      return false;
    }
  }
  return true;
}());

// HMAC-Hash(key, parts[0] || parts[1] || ...) into out[0, hash_len(alg)):
// RFC 2104 on the block-function Digest (digest.h), through a one-use
// HmacKey. EVP_MAC "HMAC" costs a context duplicate (allocations, the
// digest's provider lookups) per call, and even the EVP digest calls cost
// about as much as the two hashes themselves at TLS's short inputs. `out`
// must have room for the digest.
KdfStatus hmac_parts(HashAlg alg, std::span<const uint8_t> key,
                     std::initializer_list<std::span<const uint8_t>> parts,
                     uint8_t* out) {
  if (hash_len(alg) == 0) {
    return KdfStatus::kBadAlg;
  }
  internal::HmacKey keyed;  // its destructor cleanses the key states
  if (!keyed.init(alg, key) || !keyed.mac(parts, out)) {
    secure_wipe(out, hash_len(alg));
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  return KdfStatus::kOk;
}

// Keys `keyed` with an HKDF PRK: kBadAlg, or kBadLength when it is shorter
// than Hash.length (RFC 5869 section 2.3: "at least HashLen octets").
KdfStatus key_prk(HashAlg alg, std::span<const uint8_t> prk,
                  internal::HmacKey* keyed) {
  const size_t len = hash_len(alg);
  if (len == 0) {
    return KdfStatus::kBadAlg;
  }
  if (prk.size() < len) {
    return KdfStatus::kBadLength;
  }
  if (!keyed->init(alg, prk)) {
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  return KdfStatus::kOk;
}

}  // namespace

size_t hash_len(HashAlg alg) {
  const auto i = static_cast<size_t>(alg);
  return i < std::size(kHashLens) ? kHashLens[i] : 0;
}

std::string_view hash_alg_name(HashAlg alg) {
  const auto i = static_cast<size_t>(alg);
  return i < std::size(kHashNames) ? kHashNames[i] : "unknown";
}

std::optional<HashAlg> parse_hash_alg(std::string_view name) {
  for (HashAlg alg : kAllHashAlgs) {
    if (hash_alg_name(alg) == name) {
      return alg;
    }
  }
  return std::nullopt;
}

std::string_view kdf_status_name(KdfStatus status) {
  const auto i = static_cast<size_t>(status);
  return i < std::size(kStatusNames) ? kStatusNames[i] : "unknown";
}

// Secret ------------------------------------------------------------------

Secret::Secret(const Secret& other) : bytes_(other.bytes_), len_(other.len_) {}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    wipe();
    bytes_ = other.bytes_;
    len_ = other.len_;
  }
  return *this;
}

Secret::Secret(Secret&& other) noexcept
    : bytes_(other.bytes_), len_(other.len_) {
  other.wipe();
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = other.bytes_;
    len_ = other.len_;
    other.wipe();
  }
  return *this;
}

bool Secret::assign(std::span<const uint8_t> bytes) {
  std::span<uint8_t> dst = resize_for_overwrite(bytes.size());
  if (dst.size() != bytes.size()) {
    return false;
  }
  std::copy(bytes.begin(), bytes.end(), dst.begin());
  return true;
}

void Secret::wipe() noexcept {
  secure_wipe(bytes_.data(), bytes_.size());
  len_ = 0;
}

std::span<uint8_t> Secret::resize_for_overwrite(size_t len) {
  wipe();
  if (len > kMaxHashLen) {
    return {};
  }
  len_ = static_cast<uint8_t>(len);
  return {bytes_.data(), len};
}

// Primitives --------------------------------------------------------------

KdfStatus hash_bytes(HashAlg alg, std::span<const uint8_t> data,
                     HashValue* out) {
  *out = HashValue();
  const size_t len = hash_len(alg);
  if (len == 0) {
    return KdfStatus::kBadAlg;
  }
  internal::Digest digest;
  if (!digest.init(alg) || !digest.update(data) ||
      !digest.final(out->bytes.data())) {
    *out = HashValue();
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  out->len = len;
  return KdfStatus::kOk;
}

KdfStatus hmac(HashAlg alg, std::span<const uint8_t> key,
               std::span<const uint8_t> data, Secret* out) {
  // Computed into a local first, so `key` or `data` may alias `out`.
  Secret result;
  std::span<uint8_t> dst = result.resize_for_overwrite(hash_len(alg));
  if (dst.empty()) {
    out->wipe();
    return KdfStatus::kBadAlg;
  }
  const KdfStatus status = hmac_parts(alg, key, {data}, dst.data());
  if (status != KdfStatus::kOk) {
    out->wipe();
    return status;
  }
  *out = std::move(result);
  return KdfStatus::kOk;
}

KdfStatus hkdf_extract(HashAlg alg, std::span<const uint8_t> salt,
                       std::span<const uint8_t> ikm, Secret* out) {
  // RFC 5869 section 2.2: "if not provided, [salt] is set to a string of
  // HashLen zeros".
  static constexpr uint8_t kZeros[kMaxHashLen] = {};
  const size_t len = hash_len(alg);
  if (len == 0) {
    out->wipe();
    return KdfStatus::kBadAlg;
  }
  if (salt.empty()) {
    salt = std::span<const uint8_t>(kZeros, len);
  }
  return hmac(alg, salt, ikm, out);
}

KdfStatus hkdf_expand(HashAlg alg, std::span<const uint8_t> prk,
                      std::span<const uint8_t> info, std::span<uint8_t> out) {
  internal::HmacKey keyed;  // its destructor cleanses the key states
  const KdfStatus status = key_prk(alg, prk, &keyed);
  if (status != KdfStatus::kOk) {
    secure_wipe(out.data(), out.size());
    return status;
  }
  return internal::hkdf_expand(keyed, info, out);
}

KdfStatus build_hkdf_label(size_t length, std::string_view label,
                           std::span<const uint8_t> context, ByteWriter* out) {
  if (label.empty() || label.size() > kMaxLabelLen) {
    return KdfStatus::kBadLabel;
  }
  if (context.size() > kMaxContextLen || length > 0xFFFF) {
    return KdfStatus::kBadLength;
  }
  auto as_bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()),
                                    s.size());
  };
  // struct { uint16 length; opaque label<7..255>; opaque context<0..255>; }
  out->u16(static_cast<uint16_t>(length));
  const size_t label_at = out->open(1);
  out->bytes(as_bytes(kTls13LabelPrefix));
  out->bytes(as_bytes(label));
  out->close(label_at, 1);
  const size_t context_at = out->open(1);
  out->bytes(context);
  out->close(context_at, 1);
  return out->ok() ? KdfStatus::kOk : KdfStatus::kBadLength;
}

KdfStatus hkdf_expand_label(HashAlg alg, std::span<const uint8_t> secret,
                            std::string_view label,
                            std::span<const uint8_t> context,
                            std::span<uint8_t> out) {
  internal::HmacKey keyed;  // its destructor cleanses the key states
  const KdfStatus status = key_prk(alg, secret, &keyed);
  if (status != KdfStatus::kOk) {
    secure_wipe(out.data(), out.size());
    return status;
  }
  return internal::hkdf_expand_label(keyed, label, context, out);
}

KdfStatus derive_secret(HashAlg alg, std::span<const uint8_t> secret,
                        std::string_view label,
                        std::span<const uint8_t> transcript_hash, Secret* out) {
  const size_t len = hash_len(alg);
  if (len == 0) {
    out->wipe();
    return KdfStatus::kBadAlg;
  }
  if (secret.size() != len || transcript_hash.size() != len) {
    out->wipe();
    return KdfStatus::kBadLength;
  }
  Secret result;  // `secret` may point into `out`
  const KdfStatus status = hkdf_expand_label(
      alg, secret, label, transcript_hash, result.resize_for_overwrite(len));
  if (status != KdfStatus::kOk) {
    out->wipe();
    return status;
  }
  *out = std::move(result);
  return KdfStatus::kOk;
}

namespace internal {

KdfStatus hkdf_expand(const HmacKey& prk, std::span<const uint8_t> info,
                      std::span<uint8_t> out) {
  auto fail = [&out](KdfStatus status) {
    secure_wipe(out.data(), out.size());
    return status;
  };
  if (!prk.ready()) {
    return fail(KdfStatus::kBadState);
  }
  const size_t len = hash_len(prk.alg());
  // RFC 5869 section 2.3: L <= 255*HashLen because the block counter is one
  // octet.
  if (out.size() > 255 * len) {
    return fail(KdfStatus::kBadLength);
  }
  // T(0) = empty; T(i) = HMAC(PRK, T(i-1) | info | i); OKM = first L octets
  // of T(1) | T(2) | ...
  uint8_t t[kMaxHashLen];
  size_t t_len = 0;
  size_t done = 0;
  for (uint8_t counter = 1; done < out.size(); ++counter) {
    const uint8_t counter_byte[1] = {counter};
    if (!prk.mac({std::span<const uint8_t>(t, t_len), info,
                  std::span<const uint8_t>(counter_byte)},
                 t)) {
      secure_wipe(t, sizeof(t));
      clear_libcrypto_errors();
      return fail(KdfStatus::kLibcrypto);
    }
    t_len = len;
    const size_t n = std::min(len, out.size() - done);
    std::copy_n(t, n, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
  }
  secure_wipe(t, sizeof(t));
  return KdfStatus::kOk;
}

KdfStatus hkdf_expand_label(const HmacKey& prk, std::string_view label,
                            std::span<const uint8_t> context,
                            std::span<uint8_t> out) {
  uint8_t info[kMaxHkdfLabelLen];
  ByteWriter writer(info);
  const KdfStatus status =
      build_hkdf_label(out.size(), label, context, &writer);
  if (status != KdfStatus::kOk) {
    secure_wipe(out.data(), out.size());
    return status;
  }
  return hkdf_expand(prk, writer.written(), out);
}

}  // namespace internal

}  // namespace dptls::tls
