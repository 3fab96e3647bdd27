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
//
// Internal to dptls (namespace internal): public only because
// KeySchedule holds an HmacKey by value.
#pragma once

#include <openssl/opensslconf.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

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
  // True when the state is all zeros (after wipe(); for tests).
  bool wiped() const;
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

// HMAC (RFC 2104) under one key, H((K0 ^ opad) || H((K0 ^ ipad) || text)),
// with the two padded key blocks hashed once, in init(): each mac() starts
// from copies of those two states, so it costs the compressions of its
// text and of the inner digest only. HKDF-Expand-Label of a Hash.length
// output is two compressions instead of four; the key schedule expands
// three or four labels from each stage secret and two ("key", "iv") from
// each traffic secret. Holds key material (the states after the padded
// key): the destructor and wipe() cleanse it. Not copyable (moving wipes
// the source), so no stray copy of a key state outlives it. Nothing allocates.
class HmacKey {
 public:
  HmacKey() = default;
  ~HmacKey() { wipe(); }
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;
  // Moving moves the states and wipes the source.
  HmacKey(HmacKey&& other) noexcept;
  HmacKey& operator=(HmacKey&& other) noexcept;

  // Keys the MAC with `key`, any length including 0 (longer than a block:
  // its hash, RFC 2104). False for a value outside the enum or a libcrypto
  // failure, and then not ready().
  bool init(HashAlg alg, std::span<const uint8_t> key);
  // out[0, hash_len(alg())) = HMAC(key, parts[0] || parts[1] || ...). The
  // key stays for the next mac(). False when not ready() or on a libcrypto
  // failure (then `out` is cleansed).
  bool mac(std::initializer_list<std::span<const uint8_t>> parts,
           uint8_t* out) const;
  // Forgets the key, both states cleansed.
  void wipe();

  bool ready() const { return ready_; }
  HashAlg alg() const { return inner_.alg(); }
  // True when both states are all zeros (after wipe(); for tests).
  bool wiped() const { return inner_.wiped() && outer_.wiped(); }

 private:
  Digest inner_;  // after K0 ^ ipad
  Digest outer_;  // after K0 ^ opad
  bool ready_ = false;
};

// HKDF-Expand (RFC 5869 section 2.3) and HKDF-Expand-Label (RFC 8446
// section 7.1) under a keyed PRK: as the span functions of hkdf.h, for a
// caller that expands several outputs from one secret (the key schedule).
// The caller checked the PRK's length (at least Hash.length). Fail as
// those do (kBadState for a key not ready()); `out` is zeroed on failure.
KdfStatus hkdf_expand(const HmacKey& prk, std::span<const uint8_t> info,
                      std::span<uint8_t> out);
KdfStatus hkdf_expand_label(const HmacKey& prk, std::string_view label,
                            std::span<const uint8_t> context,
                            std::span<uint8_t> out);

}  // namespace dptls::tls::internal
