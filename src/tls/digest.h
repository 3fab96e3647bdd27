// SHA-256 and SHA-384 states on libcrypto's block functions, for the
// handshake's many short hashes: HMAC inside HKDF, the transcript, the
// signed content.
//
// Why not EVP_Digest*: each EVP_DigestInit_ex2 / Update / Final goes
// through the provider's dispatch, and a context copy through its dupctx;
// at TLS's inputs (one to three blocks) that is as much again as the
// compression itself. SHA256_Init / Update / Final are the same assembly
// (SHA-NI, AVX2 or plain, chosen by libcrypto's CPU detection) without
// the dispatch, and a state is a plain struct: copied by assignment,
// finalised on the stack. They are deprecated in OpenSSL 3.0 (they bypass
// providers, so no FIPS provider can take them over) but present in every
// OpenSSL 3 built with its default options, Debian's included.
#pragma once

#include <openssl/opensslconf.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "dptls/tls/hkdf.h"

#if defined(OPENSSL_NO_DEPRECATED_3_0)
#error "dptls needs libcrypto's SHA256_Init family (no no-deprecated build)"
#endif
#include <openssl/sha.h>

namespace dptls::tls::internal {

// One running hash. Copyable (a copy finalises without disturbing the
// original: what the transcript needs); the destructor and wipe() cleanse
// the state, which may hold key material (HMAC's padded key). Not
// thread-safe; lives on one thread at a time. Every call after a failed
// init() fails.
class Digest {
 public:
  Digest() = default;
  ~Digest() { wipe(); }
  Digest(const Digest&) = default;
  Digest& operator=(const Digest&) = default;

  // Starts an empty hash of `alg`. False for a value outside the enum or a
  // libcrypto failure.
  bool init(HashAlg alg);
  bool update(std::span<const uint8_t> data);
  // Writes hash_len(alg) bytes to `out` and ends the hash: init() again
  // before the next update().
  bool final(uint8_t* out);
  // Forgets the state, cleansed.
  void wipe();

  HashAlg alg() const { return alg_; }
  // The block size of `alg` (64 or 128 bytes), 0 outside the enum.
  static size_t block_size(HashAlg alg);

 private:
  HashAlg alg_ = HashAlg::kSha256;
  bool ready_ = false;
  union State {
    SHA256_CTX sha256;
    SHA512_CTX sha512;  // SHA-384 runs on the SHA-512 state
  } state_{};
};

}  // namespace dptls::tls::internal
