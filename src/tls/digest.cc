// The block-function calls are deprecated in OpenSSL 3.0; digest.h says why
// they are used here, and this file is the only caller.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tls/digest.h"

#include <openssl/crypto.h>

namespace dptls::tls::internal {

bool Digest::init(HashAlg alg) {
  alg_ = alg;
  switch (alg) {
    case HashAlg::kSha256:
      ready_ = SHA256_Init(&state_.sha256) == 1;
      return ready_;
    case HashAlg::kSha384:
      ready_ = SHA384_Init(&state_.sha512) == 1;
      return ready_;
  }
  ready_ = false;
  return false;
}

bool Digest::update(std::span<const uint8_t> data) {
  if (!ready_) {
    return false;
  }
  if (data.empty()) {
    return true;
  }
  switch (alg_) {
    case HashAlg::kSha256:
      return SHA256_Update(&state_.sha256, data.data(), data.size()) == 1;
    case HashAlg::kSha384:
      return SHA384_Update(&state_.sha512, data.data(), data.size()) == 1;
  }
  return false;
}

bool Digest::final(uint8_t* out) {
  if (!ready_) {
    return false;
  }
  ready_ = false;
  switch (alg_) {
    case HashAlg::kSha256:
      return SHA256_Final(out, &state_.sha256) == 1;
    case HashAlg::kSha384:
      return SHA384_Final(out, &state_.sha512) == 1;
  }
  return false;
}

void Digest::wipe() {
  OPENSSL_cleanse(&state_, sizeof(state_));
  ready_ = false;
}

size_t Digest::block_size(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256:
      return SHA256_CBLOCK;
    case HashAlg::kSha384:
      return SHA512_CBLOCK;
  }
  return 0;
}

}  // namespace dptls::tls::internal
