// Ephemeral (EC)DHE for the TLS 1.3 key_share extension (RFC 8446 sections
// 4.2.8 and 7.4): X25519 (RFC 7748) and the NIST curves P-256 and P-384, on
// OpenSSL libcrypto.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/hkdf.h"
#include "dptls/tls/record.h"

struct evp_pkey_st;      // EVP_PKEY, kept out of the public headers.
struct evp_pkey_ctx_st;  // EVP_PKEY_CTX, likewise.

namespace dptls::tls {

// The wire length of a group's key_exchange value: 32 for X25519, the
// uncompressed point 0x04 || X || Y for the NIST curves (4.2.8.2).
size_t key_share_len(NamedGroup group);

// One ephemeral key pair. Owns its libcrypto key objects: an EVP_PKEY for
// the NIST curves, and for X25519 the provider's key data and context,
// called directly (src/tls/handshake/x25519_direct.h), or an EVP_PKEY
// where those functions are not found. The destructor and reset() wipe
// the private key (X25519's objects are then kept for the thread's next
// key) or free it (libcrypto cleanses it). Not copyable; movable.
// Belongs to one thread at a time.
class EphemeralKey {
 public:
  EphemeralKey() = default;
  ~EphemeralKey();
  EphemeralKey(const EphemeralKey&) = delete;
  EphemeralKey& operator=(const EphemeralKey&) = delete;
  EphemeralKey(EphemeralKey&& other) noexcept;
  EphemeralKey& operator=(EphemeralKey&& other) noexcept;

  // Generates a fresh key pair for `group`, replacing any key held, and
  // fills `also_random` (any length up to 64 bytes; may be empty) with
  // random bytes for the caller's own use, such as ServerHello.random. For
  // X25519 both come from one draw from libcrypto's private DRBG: each
  // RAND call costs a fork check and a DRBG rekey, as much as the bytes.
  // Returns false on a libcrypto failure (the key is then empty and
  // `also_random` unspecified).
  bool generate(NamedGroup group, std::span<uint8_t> also_random = {});

  // Takes a given private key: 32 raw bytes for X25519, the big-endian
  // private scalar (32 or 48 bytes) for secp256r1 and secp384r1; false for
  // a wrong length or a scalar libcrypto refuses, leaving the key empty.
  // The test hook for deterministic handshakes such as RFC 8448's.
  bool set_private_key(NamedGroup group, std::span<const uint8_t> priv);

  // True once generate() or set_private_key() succeeded, until reset().
  bool ready() const { return pkey_ != nullptr || xdata_ != nullptr; }
  // The group of the last generate() or set_private_key().
  NamedGroup group() const { return group_; }
  // The public key in its wire form (key_share_len(group()) bytes); empty
  // when not ready(). Valid until the key changes.
  std::span<const uint8_t> public_key() const { return {pub_.data(), len_}; }

  // The (EC)DHE shared secret with the peer's key_exchange value (RFC 8446
  // section 7.4): the X25519 output or the x-coordinate of the ECDH point.
  // Returns false with *out_alert = illegal_parameter when the peer's value
  // has the wrong length or form, is not a point on the curve, or gives an
  // all-zero secret (7.4.2) -- libcrypto reports these as failures of the
  // derivation, so any failure once the key is ready is illegal_parameter;
  // internal_error when not ready(). *out is empty on failure. Not safe to
  // call on one key from two threads at once (it reuses a derivation
  // context the key keeps).
  bool derive(std::span<const uint8_t> peer, Secret* out,
              Alert* out_alert) const;

  // Frees the key.
  void reset();

 private:
  bool load_public();
  bool set_x25519_private(std::span<const uint8_t> priv);
  bool init_derive();

  evp_pkey_st* pkey_ = nullptr;
  // A derivation context on pkey_, initialised once per key and reused by
  // derive() (which only replaces the peer), so a handshake does not pay
  // for a context and its provider lookups twice.
  mutable evp_pkey_ctx_st* derive_ctx_ = nullptr;
  // An X25519 key on the provider's functions (src/tls/handshake/
  // x25519_direct.h) instead of pkey_: its key data and key exchange
  // context, both null otherwise.
  void* xdata_ = nullptr;
  void* xctx_ = nullptr;
  NamedGroup group_ = NamedGroup::kX25519;
  std::array<uint8_t, 97> pub_{};  // P-384 uncompressed: 1 + 2 * 48
  size_t len_ = 0;
};

}  // namespace dptls::tls
