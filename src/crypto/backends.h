// Factories of the concrete AEAD backends; make_backend() is the public way
// in.
#pragma once

#include <memory>
#include <string>

#include "dptls/crypto/aead.h"

namespace dptls::crypto {

// The parameter checks every backend runs before touching a byte, so a
// refused op leaves its segments as they were.
inline AeadStatus check_op(const AeadBackend* self, const AeadOp& op) {
  if (op.key == nullptr || op.key->owner() != self) {
    return AeadStatus::kBadKey;
  }
  if (op.nonce.size() != kAeadNonceLen) {
    return AeadStatus::kBadNonce;
  }
  if (op.tag == nullptr || (op.aad.data() == nullptr && !op.aad.empty())) {
    return AeadStatus::kBadArgument;
  }
  const uint64_t limit = aead_max_plaintext(op.key->alg());
  uint64_t total = 0;
  for (const IoSegment& seg : op.segs) {
    if (seg.data == nullptr && seg.len != 0) {
      return AeadStatus::kBadArgument;
    }
    // Compare before adding so the sum cannot wrap.
    if (seg.len > limit - total) {
      return AeadStatus::kTooLong;
    }
    total += seg.len;
  }
  return AeadStatus::kOk;
}

// The batch loop shared by the backends, with the backend's per-op work
// inlined: `Derived::process(storage, alg, op)` is called for ops that passed
// check_op() and returns kOk or kAuthFailed (after wiping the segments).
template <typename Derived>
class BatchBackend : public AeadBackend {
 public:
  size_t run(std::span<AeadOp> ops) noexcept final {
    size_t ok = 0;
    for (AeadOp& op : ops) {
      op.status = check_op(this, op);
      if (op.status == AeadStatus::kOk) {
        op.status = static_cast<Derived*>(this)->process(storage_of(*op.key),
                                                         op.key->alg(), op);
      }
      ok += op.status == AeadStatus::kOk ? 1 : 0;
    }
    return ok;
  }

 protected:
  using AeadBackend::AeadBackend;

  // Every backend's path for an open whose tag did not match, called after
  // the segments were decrypted in place: applies the op's AeadFailPolicy and
  // returns kAuthFailed. Restoring works because both AEADs are stream
  // ciphers: sealing the wrongly decrypted bytes under the same key and nonce
  // XORs the same keystream back in.
  AeadStatus reject_open(const void* storage, AeadAlg alg, AeadOp& op) {
    if (op.on_auth_failure == AeadFailPolicy::kRestoreCiphertext) {
      uint8_t scratch_tag[kAeadTagLen];
      AeadOp reseal = op;
      reseal.dir = AeadDir::kSeal;
      reseal.tag = scratch_tag;
      if (static_cast<Derived*>(this)->process(storage, alg, reseal) ==
          AeadStatus::kOk) {
        return AeadStatus::kAuthFailed;
      }
    }
    for (const IoSegment& seg : op.segs) {
      secure_wipe(seg.data, seg.len);
    }
    return AeadStatus::kAuthFailed;
  }
};

std::unique_ptr<AeadBackend> make_ipsec_mb_backend(
    const BackendOptions& options, std::string* error);
std::unique_ptr<AeadBackend> make_openssl_backend(const BackendOptions& options,
                                                  std::string* error);

}  // namespace dptls::crypto
