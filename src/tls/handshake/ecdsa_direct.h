// ECDSA P-256 signatures through libcrypto's EC_KEY functions, for the
// server's CertificateVerify.
//
// EVP_PKEY_sign on a duplicated context spends, around the same
// ECDSA_do_sign_ex that does the work, time on the context's duplicate and
// free, ECDSA_size() (which builds and DER-encodes a dummy signature to
// learn the length) and i2d_ECDSA_SIG's generic ASN.1 encoder: about
// 2.5 us of a handshake, on the caches a handshake leaves (0.1-0.8 us in
// a tight loop of signatures; docs/benchmarks.md). Here the signature's two
// integers come from ECDSA_do_sign() on an EC_KEY taken from the EVP_PKEY once,
// and are DER-encoded directly (a SEQUENCE of two INTEGERs, RFC 3279 section
// 2.2.3, at most 72 bytes for P-256). The EC_KEY functions are deprecated
// in OpenSSL 3.0 (not removed); where a build of OpenSSL leaves them out,
// available() is false and the caller keeps the EVP path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

struct evp_pkey_st;

namespace dptls::tls::internal {

class EcdsaP256Key {
 public:
  // The largest DER signature: SEQUENCE header (2) and two INTEGERs of up
  // to 33 bytes (a leading zero before a high bit) with their headers.
  static constexpr size_t kMaxSignatureLen = 2 + 2 * (2 + 33);

  EcdsaP256Key() = default;
  ~EcdsaP256Key();
  EcdsaP256Key(const EcdsaP256Key&) = delete;
  EcdsaP256Key& operator=(const EcdsaP256Key&) = delete;

  // Whether this build of libcrypto has the functions (and the test hook
  // has not turned them off).
  static bool available();
  // Tests: false makes available() false, so callers take their EVP path.
  static void set_enabled_for_testing(bool enabled);

  // Takes the key of `pkey` (a P-256 private key); false when it is not
  // one or libcrypto cannot give it.
  bool init(evp_pkey_st* pkey);
  bool ready() const { return key_ != nullptr; }

  // Signs the digest `digest` into `out`; returns the signature's length,
  // 0 on failure. Safe to call from several threads at once.
  size_t sign(std::span<const uint8_t> digest,
              std::span<uint8_t, kMaxSignatureLen> out) const;

 private:
  void* key_ = nullptr;  // EC_KEY*, owned
};

// DER of ECDSA-Sig-Value { r, s } with r and s given as big-endian
// magnitudes of `width` bytes each (leading zeros allowed): minimal
// INTEGERs, a zero byte before a set high bit. Returns the length written
// into `out`, 0 when it does not fit or width is over 32.
size_t encode_ecdsa_signature(std::span<const uint8_t> r,
                              std::span<const uint8_t> s,
                              std::span<uint8_t> out);

}  // namespace dptls::tls::internal
