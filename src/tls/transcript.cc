#include "dptls/tls/transcript.h"

#include <openssl/evp.h>

#include <utility>

#include "tls/evp_util.h"

namespace dptls::tls {

using internal::MdCtxPtr;

Transcript::~Transcript() { reset(); }

Transcript::Transcript(Transcript&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      alg_(other.alg_),
      messages_(std::exchange(other.messages_, 0)) {}

Transcript& Transcript::operator=(Transcript&& other) noexcept {
  if (this != &other) {
    reset();
    ctx_ = std::exchange(other.ctx_, nullptr);
    alg_ = other.alg_;
    messages_ = std::exchange(other.messages_, 0);
  }
  return *this;
}

void Transcript::reset() {
  // EVP_MD_CTX_free cleanses the digest state.
  EVP_MD_CTX_free(ctx_);
  ctx_ = nullptr;
  messages_ = 0;
}

KdfStatus Transcript::init(HashAlg alg) {
  const EVP_MD* md = internal::evp_md(alg);
  if (md == nullptr) {
    reset();
    return hash_len(alg) == 0 ? KdfStatus::kBadAlg : KdfStatus::kLibcrypto;
  }
  if (ctx_ == nullptr) {
    ctx_ = EVP_MD_CTX_new();
  }
  if (ctx_ == nullptr || EVP_DigestInit_ex2(ctx_, md, nullptr) != 1) {
    reset();
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  alg_ = alg;
  messages_ = 0;
  return KdfStatus::kOk;
}

KdfStatus Transcript::add(std::span<const uint8_t> message) {
  if (ctx_ == nullptr) {
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
  if (EVP_DigestUpdate(ctx_, message.data(), message.size()) != 1) {
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
  if (ctx_ == nullptr) {
    return KdfStatus::kBadState;
  }
  // Finalise a copy so the running hash goes on, in a context kept per
  // thread: a new one per hash costs an allocation of the context and of
  // the digest's state, and their frees.
  thread_local const MdCtxPtr copy(EVP_MD_CTX_new());
  unsigned int len = 0;
  if (copy == nullptr || EVP_MD_CTX_copy_ex(copy.get(), ctx_) != 1 ||
      EVP_DigestUpdate(copy.get(), partial.data(), partial.size()) != 1 ||
      EVP_DigestFinal_ex(copy.get(), out->bytes.data(), &len) != 1 ||
      len != hash_len(alg_)) {
    *out = HashValue();
    internal::clear_libcrypto_errors();
    return KdfStatus::kLibcrypto;
  }
  out->len = len;
  return KdfStatus::kOk;
}

KdfStatus Transcript::replace_with_message_hash() {
  if (ctx_ == nullptr || messages_ != 1) {
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
