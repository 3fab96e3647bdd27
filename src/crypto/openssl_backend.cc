// OpenSSL EVP backend: the reference the IPsec-MB backend is tested against,
// and the fallback on CPUs without AES-NI.
//
// Each key owns one EVP_CIPHER_CTX with the key schedule done once; each
// operation only re-initialises the nonce and direction. Creating the context
// allocates (inside OpenSSL), so this backend's init_key() is not
// allocation-free; run() is.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <climits>
#include <memory>

#include "crypto/backends.h"
#include "dptls/crypto/aead.h"

namespace dptls::crypto {

namespace {

struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};
using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherDeleter>;

// What an AeadKey's storage holds for this backend.
struct EvpKey {
  EVP_CIPHER_CTX* ctx;
};
static_assert(sizeof(EvpKey) <= AeadKey::kStorageSize);

const char* evp_name(AeadAlg alg) {
  switch (alg) {
    case AeadAlg::kAes128Gcm:
      return "AES-128-GCM";
    case AeadAlg::kAes256Gcm:
      return "AES-256-GCM";
    case AeadAlg::kChaCha20Poly1305:
      return "ChaCha20-Poly1305";
  }
  return "";
}

// EVP_CipherUpdate takes an int length; longer segments go in pieces.
bool update_in_place(EVP_CIPHER_CTX* ctx, uint8_t* data, size_t len) {
  constexpr size_t kChunk = size_t{1} << 30;
  while (len != 0) {
    const int n = static_cast<int>(len < kChunk ? len : kChunk);
    int out_len = 0;
    if (EVP_CipherUpdate(ctx, data, &out_len, data, n) != 1 || out_len != n) {
      return false;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

class OpenSslBackend final : public BatchBackend<OpenSslBackend> {
 public:
  OpenSslBackend() : BatchBackend(BackendKind::kOpenSsl) {
    for (AeadAlg alg : kAllAeadAlgs) {
      ciphers_[static_cast<size_t>(alg)].reset(
          EVP_CIPHER_fetch(nullptr, evp_name(alg), nullptr));
    }
  }

  std::string describe() const override {
    return OpenSSL_version(OPENSSL_VERSION);
  }

  bool supports(AeadAlg alg) const override { return cipher(alg) != nullptr; }

 protected:
  AeadStatus expand_key(void* storage, AeadAlg alg,
                        std::span<const uint8_t> secret) noexcept override {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr) {
      return AeadStatus::kUnsupported;
    }
    if (EVP_CipherInit_ex(ctx, cipher(alg), nullptr, secret.data(), nullptr,
                          1) != 1) {
      EVP_CIPHER_CTX_free(ctx);
      return AeadStatus::kBadKey;
    }
    static_cast<EvpKey*>(storage)->ctx = ctx;
    return AeadStatus::kOk;
  }

  void wipe_key(void* storage, AeadAlg /*alg*/) noexcept override {
    auto* key = static_cast<EvpKey*>(storage);
    // EVP_CIPHER_CTX_free cleanses the key schedule it holds.
    EVP_CIPHER_CTX_free(key->ctx);
    key->ctx = nullptr;
  }

 public:
  // Called by BatchBackend::run() for each op that passed check_op().
  AeadStatus process(const void* storage, AeadAlg alg, AeadOp& op) noexcept {
    EVP_CIPHER_CTX* ctx = static_cast<const EvpKey*>(storage)->ctx;
    const bool seal = op.dir == AeadDir::kSeal;
    if (!run_cipher(ctx, op)) {
      // OpenSSL refused an op our own checks let through.
      return refuse(op);
    }
    if (seal) {
      return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTagLen,
                                 op.tag) == 1
                 ? AeadStatus::kOk
                 : refuse(op);
    }
    int out_len = 0;
    uint8_t scratch[16];
    if (EVP_CipherFinal_ex(ctx, scratch, &out_len) != 1) {
      return reject_open(storage, alg, op);
    }
    return AeadStatus::kOk;
  }

 private:
  const EVP_CIPHER* cipher(AeadAlg alg) const {
    return ciphers_[static_cast<size_t>(alg)].get();
  }

  // Sets the nonce and direction, feeds AAD and every segment; for seal also
  // finalises. For open, sets the expected tag so the caller's
  // EVP_CipherFinal_ex verifies it.
  static bool run_cipher(EVP_CIPHER_CTX* ctx, AeadOp& op) {
    const int enc = op.dir == AeadDir::kSeal ? 1 : 0;
    if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, op.nonce.data(),
                          enc) != 1) {
      return false;
    }
    if (!op.aad.empty()) {
      int out_len = 0;
      if (op.aad.size() > INT_MAX ||
          EVP_CipherUpdate(ctx, nullptr, &out_len, op.aad.data(),
                           static_cast<int>(op.aad.size())) != 1) {
        return false;
      }
    }
    for (const IoSegment& seg : op.segs) {
      if (!update_in_place(ctx, seg.data, seg.len)) {
        return false;
      }
    }
    if (enc == 1) {
      int out_len = 0;
      uint8_t scratch[16];
      return EVP_CipherFinal_ex(ctx, scratch, &out_len) == 1;
    }
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kAeadTagLen,
                               op.tag) == 1;
  }

  // For a call OpenSSL refused midway (not expected for an op that passed
  // check_op()): releases nothing it may have half-processed.
  static AeadStatus refuse(AeadOp& op) {
    for (const IoSegment& seg : op.segs) {
      secure_wipe(seg.data, seg.len);
    }
    return op.dir == AeadDir::kSeal ? AeadStatus::kBadArgument
                                    : AeadStatus::kAuthFailed;
  }

  CipherPtr ciphers_[std::size(kAllAeadAlgs)];
};

}  // namespace

std::unique_ptr<AeadBackend> make_openssl_backend(
    const BackendOptions& /*options*/, std::string* error) {
  auto backend = std::make_unique<OpenSslBackend>();
  for (AeadAlg alg : kAllAeadAlgs) {
    if (!backend->supports(alg) && error != nullptr) {
      // Not fatal: init_key() reports kUnsupported for that algorithm.
      *error = std::string("OpenSSL lacks ") + evp_name(alg);
    }
  }
  return backend;
}

}  // namespace dptls::crypto
