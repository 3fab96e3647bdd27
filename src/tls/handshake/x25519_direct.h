// X25519 through the functions of the libcrypto provider that implements
// it, called directly (provider-keymgmt(7), provider-keyexch(7)) instead
// of through EVP_PKEY.
//
// Why: libcrypto 3.0's EVP layer costs a server handshake several
// microseconds around its two X25519 multiplications. EVP_PKEY_fromdata
// (the private key into an EVP_PKEY) runs EVP_PKEY_set_type_by_keymgmt,
// which walks libcrypto's whole name map under a lock for every key, and
// EVP_PKEY_derive_init fetches the key exchange by name again. The
// provider's own functions take the private key into key data that is kept
// from one handshake to the next, and derive with a context initialised
// once on it: what remains is the multiplication itself. The functions
// are those of the provider EVP_KEYEXCH_fetch(NULL, "X25519", NULL)
// chooses, found once per process through OSSL_PROVIDER_query_operation;
// where that fails (no such provider, or one without the functions) the
// caller keeps the EVP path (available() is false).
//
// The speed relies on two behaviours of libcrypto's X25519 key
// management (providers/implementations/keymgmt/ecx_kmgmt.c, 3.0): an
// import of a private key together with a public one takes the public key
// as given (without one it would compute it, with a fixed-base
// multiplication slower than the derive used here instead), and an import
// into key data that already holds a private key overwrites it in place.
// The results do not depend on either (tests/tls/handshake/
// key_exchange_test.cc checks them on both paths against Wycheproof); the
// wipe is checked by release() on every key: the private key must read
// back as zeros, or the objects are freed rather than kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace dptls::tls::internal {

class X25519Direct {
 public:
  // One key: the provider's key data and a key exchange context
  // initialised on it. Both null when empty.
  struct Key {
    void* data = nullptr;
    void* ctx = nullptr;
  };

  // True when the provider functions were found (once per process) and
  // the test hook has not turned them off.
  static bool available();

  // Gives *key key objects, from this thread's spares or new. False on a
  // libcrypto failure (*key stays empty).
  static bool acquire(Key* key);

  // Takes the 32-byte private key `priv` into `key` and writes its public
  // key X25519(priv, 9) to `pub` (32 bytes). False on failure.
  static bool set_private(const Key& key, std::span<const uint8_t> priv,
                          std::span<uint8_t> pub);

  // X25519(private key, peer) into `out` (32 bytes); false when the peer
  // value is not 32 bytes or libcrypto refuses (an all-zero output).
  static bool derive(const Key& key, std::span<const uint8_t> peer,
                     std::span<uint8_t> out);

  // Overwrites the private key with zeros and keeps the objects as a spare
  // of this thread, or frees them (libcrypto cleanses the key) when the
  // zeros cannot be confirmed or the spares are full. *key is then empty.
  static void release(Key* key);

  // Test hook: false makes available() false, so that EphemeralKey uses
  // the EVP path (both paths are tested). Keys made before keep theirs.
  static void set_enabled_for_testing(bool enabled);
};

}  // namespace dptls::tls::internal
