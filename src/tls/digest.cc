// The block-function calls are deprecated in OpenSSL 3.0; digest.h says why
// they are used here, and this file is the only caller.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "dptls/tls/digest.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "dptls/crypto/aead.h"  // secure_wipe

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
  crypto::secure_wipe(&state_, sizeof(state_));
  ready_ = false;
}

bool Digest::wiped() const {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&state_);
  return std::all_of(bytes, bytes + sizeof(state_),
                     [](uint8_t b) { return b == 0; });
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

// HmacKey -----------------------------------------------------------------

bool HmacKey::init(HashAlg alg, std::span<const uint8_t> key) {
  wipe();
  const size_t len = hash_len(alg);
  const size_t block = Digest::block_size(alg);
  constexpr size_t kMaxBlock = SHA512_CBLOCK;
  if (len == 0 || block == 0 || block > kMaxBlock || block < len) {
    return false;
  }
  uint8_t pad[kMaxBlock] = {};
  bool ok = true;
  // K0: the key itself, or H(key) when longer than a block.
  if (key.size() > block) {
    ok = inner_.init(alg) && inner_.update(key) && inner_.final(pad);
  } else {
    std::copy(key.begin(), key.end(), pad);
  }
  for (size_t i = 0; i < block; ++i) {
    pad[i] ^= 0x36;
  }
  ok = ok && inner_.init(alg) && inner_.update({pad, block});
  for (size_t i = 0; i < block; ++i) {
    pad[i] ^= 0x36 ^ 0x5c;
  }
  ok = ok && outer_.init(alg) && outer_.update({pad, block});
  crypto::secure_wipe(pad, sizeof(pad));
  if (!ok) {
    wipe();
    return false;
  }
  ready_ = true;
  return true;
}

bool HmacKey::mac(std::initializer_list<std::span<const uint8_t>> parts,
                  uint8_t* out) const {
  if (!ready_) {
    return false;
  }
  const size_t len = hash_len(alg());
  uint8_t inner[kMaxHashLen];
  // Copies of the keyed states; their destructors cleanse them.
  Digest digest = inner_;
  bool ok = true;
  for (std::span<const uint8_t> part : parts) {
    ok = ok && digest.update(part);
  }
  ok = ok && digest.final(inner);
  digest = outer_;
  ok = ok && digest.update({inner, len}) && digest.final(out);
  crypto::secure_wipe(inner, sizeof(inner));
  if (!ok) {
    crypto::secure_wipe(out, len);
  }
  return ok;
}

HmacKey::HmacKey(HmacKey&& other) noexcept
    : inner_(other.inner_), outer_(other.outer_), ready_(other.ready_) {
  other.wipe();
}

HmacKey& HmacKey::operator=(HmacKey&& other) noexcept {
  if (this != &other) {
    inner_ = other.inner_;
    outer_ = other.outer_;
    ready_ = other.ready_;
    other.wipe();
  }
  return *this;
}

void HmacKey::wipe() {
  inner_.wipe();
  outer_.wipe();
  ready_ = false;
}

}  // namespace dptls::tls::internal
