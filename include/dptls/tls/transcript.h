// The TLS 1.3 transcript hash (RFC 8446 section 4.4.1): a running hash of
// every handshake message, headers included, in the order sent or received.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dptls/tls/hkdf.h"

namespace dptls::tls {

namespace internal {
class Digest;  // dptls/tls/digest.h
}

// HandshakeType.message_hash, the synthetic message that replaces
// ClientHello1 after a HelloRetryRequest (RFC 8446 section 4.4.1).
inline constexpr uint8_t kMessageHashType = 254;

// The hash depends on the cipher suite, so a transcript is started once the
// suite is known: the server after choosing it, the client after
// ServerHello (it keeps its ClientHello bytes until then, as it must for a
// HelloRetryRequest anyway). Messages are fed whole: type, 24-bit length,
// body.
//
// Owns one hash state, allocated by init() and freed (cleansed) by the
// destructor and reset(). Not copyable; moving leaves the source empty.
// Belongs to one thread at a time.
class Transcript {
 public:
  Transcript() = default;
  ~Transcript();
  Transcript(const Transcript&) = delete;
  Transcript& operator=(const Transcript&) = delete;
  Transcript(Transcript&& other) noexcept;
  Transcript& operator=(Transcript&& other) noexcept;

  // Starts an empty transcript for `alg`, discarding anything before.
  // Fails with kBadAlg or kLibcrypto, leaving the transcript empty (not
  // ready()).
  KdfStatus init(HashAlg alg);
  // Frees the hash state; ready() is false until the next init().
  void reset();

  bool ready() const { return state_ != nullptr; }
  HashAlg alg() const { return alg_; }
  // How many messages add() took since init() (the synthetic message_hash
  // counts as one).
  size_t message_count() const { return messages_; }

  // Appends one handshake message. Fails with kBadState before init(),
  // kLibcrypto (the transcript is then reset: a hash with a gap in it must
  // not be used).
  KdfStatus add(std::span<const uint8_t> message);

  // Transcript-Hash of every message so far, without finalising the running
  // hash (works on a copy). Fails with kBadState before init(), kLibcrypto;
  // `out` is empty on failure.
  KdfStatus current_hash(HashValue* out) const;

  // Transcript-Hash of every message so far followed by `partial`, which is
  // not added: for a PSK binder, whose transcript ends with the ClientHello
  // truncated before its binders (RFC 8446 section 4.2.11.2). Same failures
  // as current_hash().
  KdfStatus hash_with(std::span<const uint8_t> partial, HashValue* out) const;

  // The HelloRetryRequest rule (RFC 8446 section 4.4.1): replaces the
  // transcript, which must hold exactly ClientHello1 (kBadState otherwise),
  // by message_hash(254) || 00 00 Hash.length || Hash(ClientHello1). Call it
  // after adding ClientHello1 and before adding the HelloRetryRequest.
  // kLibcrypto resets the transcript.
  KdfStatus replace_with_message_hash();

 private:
  internal::Digest* state_ = nullptr;
  HashAlg alg_ = HashAlg::kSha256;
  size_t messages_ = 0;
};

}  // namespace dptls::tls
