#include "tls/handshake/ecdsa_direct.h"

// EC_KEY, ECDSA_do_sign and EVP_PKEY_get1_EC_KEY are deprecated in
// OpenSSL 3.0; this file is their one user (see the header for why).
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/opensslconf.h>

#include <array>
#include <atomic>

namespace dptls::tls::internal {

namespace {

std::atomic<bool> enabled{true};

// Appends a minimal DER INTEGER for the non-negative big-endian `v`.
bool put_integer(std::span<const uint8_t> v, std::span<uint8_t> out,
                 size_t* at) {
  size_t first = 0;
  while (first < v.size() && v[first] == 0) {
    ++first;
  }
  const std::span<const uint8_t> digits = v.subspan(first);
  const bool pad = digits.empty() || (digits[0] & 0x80) != 0;
  const size_t len = digits.size() + (pad ? 1 : 0);
  if (len > 127 || out.size() - *at < 2 + len) {
    return false;
  }
  out[(*at)++] = 0x02;
  out[(*at)++] = static_cast<uint8_t>(len);
  if (pad) {
    out[(*at)++] = 0x00;
  }
  for (uint8_t b : digits) {
    out[(*at)++] = b;
  }
  return true;
}

}  // namespace

void EcdsaP256Key::set_enabled_for_testing(bool on) {
  enabled.store(on, std::memory_order_relaxed);
}

size_t encode_ecdsa_signature(std::span<const uint8_t> r,
                              std::span<const uint8_t> s,
                              std::span<uint8_t> out) {
  if (r.size() > 32 || s.size() > 32 || out.size() < 2) {
    return 0;
  }
  size_t at = 2;
  if (!put_integer(r, out, &at) || !put_integer(s, out, &at) || at - 2 > 127) {
    return 0;
  }
  out[0] = 0x30;
  out[1] = static_cast<uint8_t>(at - 2);
  return at;
}

#ifndef OPENSSL_NO_DEPRECATED_3_0

bool EcdsaP256Key::available() {
  return enabled.load(std::memory_order_relaxed);
}

EcdsaP256Key::~EcdsaP256Key() { EC_KEY_free(static_cast<EC_KEY*>(key_)); }

bool EcdsaP256Key::init(EVP_PKEY* pkey) {
  EC_KEY* key = EVP_PKEY_get1_EC_KEY(pkey);
  const EC_GROUP* group = key != nullptr ? EC_KEY_get0_group(key) : nullptr;
  if (group == nullptr ||
      EC_GROUP_get_curve_name(group) != NID_X9_62_prime256v1 ||
      EC_KEY_get0_private_key(key) == nullptr) {
    EC_KEY_free(key);
    ERR_clear_error();
    return false;
  }
  EC_KEY_free(static_cast<EC_KEY*>(key_));
  key_ = key;
  return true;
}

size_t EcdsaP256Key::sign(std::span<const uint8_t> digest,
                          std::span<uint8_t, kMaxSignatureLen> out) const {
  if (key_ == nullptr) {
    return 0;
  }
  ECDSA_SIG* sig = ECDSA_do_sign(digest.data(), static_cast<int>(digest.size()),
                                 static_cast<EC_KEY*>(key_));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  if (sig != nullptr) {
    ECDSA_SIG_get0(sig, &r, &s);
  }
  std::array<uint8_t, 32> rb{};
  std::array<uint8_t, 32> sb{};
  size_t len = 0;
  if (r != nullptr && s != nullptr &&
      BN_bn2binpad(r, rb.data(), static_cast<int>(rb.size())) == 32 &&
      BN_bn2binpad(s, sb.data(), static_cast<int>(sb.size())) == 32) {
    len = encode_ecdsa_signature(rb, sb, out);
  }
  ECDSA_SIG_free(sig);
  if (len == 0) {
    ERR_clear_error();
  }
  return len;
}

#else  // a libcrypto without the deprecated 3.0 functions

bool EcdsaP256Key::available() { return false; }
EcdsaP256Key::~EcdsaP256Key() = default;
bool EcdsaP256Key::init(EVP_PKEY*) { return false; }
size_t EcdsaP256Key::sign(std::span<const uint8_t>,
                          std::span<uint8_t, kMaxSignatureLen>) const {
  return 0;
}

#endif

}  // namespace dptls::tls::internal
