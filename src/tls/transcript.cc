#include "dptls/tls/transcript.h"

#include <new>
#include <utility>

#include "dptls/tls/digest.h"
#include "tls/evp_util.h"

namespace dptls::tls {

Transcript::~Transcript() { reset(); }

Transcript::Transcript(Transcript&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)),
      alg_(other.alg_),
      messages_(std::exchange(other.messages_, 0)) {}

Transcript& Transcript::operator=(Transcript&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::exchange(other.state_, nullptr);
    alg_ = other.alg_;
    messages_ = std::exchange(other.messages_, 0);
  }
  return *this;
}

void Transcript::reset() {
  // The Digest's destructor cleanses the hash state.
  delete state_;
  state_ = nullptr;
  messages_ = 0;
}

KdfStatus Transcript::init(HashAlg alg) {
  if (hash_len(alg) == 0) {
    reset();
    return KdfStatus::kBadAlg;
  }
  if (state_ == nullptr) {
    state_ = new (std::nothrow) internal::Digest();
  }
  if (state_ == nullptr || !state_->init(alg)) {
    reset();
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  alg_ = alg;
  messages_ = 0;
  return KdfStatus::kOk;
}

KdfStatus Transcript::add(std::span<const uint8_t> message) {
  if (state_ == nullptr) {
    return KdfStatus::kBadState;
  }
  // Exactly one whole message: HandshakeType, uint24 length, body (RFC 8446
  // section 4). A fragment or two messages at once would still hash the
  // same bytes, but would break message_count() and the HelloRetryRequest
  // rule, so they are refused.
  ByteReader reader(message);
  uint8_t type = 0;
  uint32_t body_len = 0;
  if (!reader.u8(&type) || !reader.u24(&body_len) ||
      reader.remaining() != body_len) {
    return KdfStatus::kBadLength;
  }
  if (!state_->update(message)) {
    reset();
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  ++messages_;
  return KdfStatus::kOk;
}

KdfStatus Transcript::current_hash(HashValue* out) const {
  return hash_with({}, out);
}

KdfStatus Transcript::hash_with(std::span<const uint8_t> partial,
                                HashValue* out) const {
  *out = HashValue();
  if (state_ == nullptr) {
    return KdfStatus::kBadState;
  }
  // Finalise a copy (a plain struct, cleansed by its destructor) so the
  // running hash goes on.
  internal::Digest copy(*state_);
  const size_t len = hash_len(alg_);
  if (!copy.update(partial) || !copy.final(out->bytes.data())) {
    *out = HashValue();
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  out->len = len;
  return KdfStatus::kOk;
}

KdfStatus Transcript::replace_with_message_hash() {
  if (state_ == nullptr || messages_ != 1) {
    return KdfStatus::kBadState;
  }
  HashValue client_hello1;
  KdfStatus status = current_hash(&client_hello1);
  if (status != KdfStatus::kOk) {
    reset();
    return status;
  }
  // message_hash: HandshakeType 254, uint24 length Hash.length, the hash.
  uint8_t synthetic[4 + kMaxHashLen];
  ByteWriter writer(synthetic);
  writer.u8(kMessageHashType);
  writer.u24(static_cast<uint32_t>(client_hello1.len));
  writer.bytes(client_hello1.span());
  if (!writer.ok()) {
    reset();
    return KdfStatus::kLibcrypto;  // unreachable: the buffer always fits
  }
  status = init(alg_);
  if (status != KdfStatus::kOk) {
    return status;
  }
  return add(writer.written());
}

}  // namespace dptls::tls
