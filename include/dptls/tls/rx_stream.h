// The received byte stream of one TLS connection, as the pieces TCP handed
// up (mbuf data, in order), so that records are opened where they lie.
//
// Bytes move through three positions: pushed (TCP gave them), cut (the
// record engine has framed them into records) and consumed (the application
// is done with a record; the pieces wholly before this point are released to
// their owner, e.g. an mbuf freed). Fixed capacity, no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dptls/crypto/aead.h"

namespace dptls::tls {

// One in-order piece of the stream. `owner` is opaque here (an rte_mbuf* in
// the engine); the stream hands it to the release callback once every byte
// of the piece is consumed.
struct RxChunk {
  uint8_t* data = nullptr;
  uint32_t len = 0;
  void* owner = nullptr;
};

// Called with a chunk's owner when the stream is done with it.
using ReleaseFn = void (*)(void* ctx, void* owner);

class RxStream {
 public:
  // A 16 KB record in 1448-byte segments spans 13 pieces; 32 leaves room for
  // the next record's start and for short segments. The layer below coalesces
  // small segments (TCP appends into the last mbuf's tailroom) so a record
  // never needs more.
  static constexpr size_t kMaxChunks = 32;

  RxStream() = default;
  RxStream(const RxStream&) = delete;
  RxStream& operator=(const RxStream&) = delete;

  // Appends a piece. Returns false, taking nothing, when the ring is full or
  // the piece is empty; the caller keeps it (TCP leaves it in its queue and
  // its window closes).
  bool push(const RxChunk& chunk);

  // Bytes pushed and not yet cut.
  size_t uncut() const { return buffered_ - cut_; }
  // Bytes pushed and not yet consumed.
  size_t buffered() const { return buffered_; }
  size_t chunks() const { return count_; }
  bool full() const { return count_ == kMaxChunks; }

  // Copies out.size() bytes starting `offset` bytes past the cut position.
  // Returns false when they are not all buffered.
  bool peek(size_t offset, std::span<uint8_t> out) const;

  // Describes `len` bytes starting `offset` bytes past the cut position as
  // segments (borrowed; valid until those bytes are consumed). Returns the
  // number written to `out`, or 0 when the bytes are not all buffered or
  // need more than out.size() segments (len 0 also gives 0).
  size_t segments(size_t offset, size_t len,
                  std::span<crypto::IoSegment> out) const;

  // Moves the cut position `n` bytes forward (n <= uncut()).
  void cut(size_t n) { cut_ += n; }

  // Releases the first `n` bytes (n <= cut bytes); every piece wholly inside
  // them goes to `release`.
  void consume(size_t n, ReleaseFn release, void* ctx);

  // Releases every piece, consumed or not (connection teardown).
  void clear(ReleaseFn release, void* ctx);

 private:
  // Visits the buffered bytes [from, from + len) (relative to the head) as
  // (pointer, length) runs; returns false if they are not all buffered.
  template <typename F>
  bool visit(size_t from, size_t len, F&& f) const;

  std::array<RxChunk, kMaxChunks> ring_{};
  uint32_t head_ = 0;      // index of the oldest piece
  uint32_t count_ = 0;     // pieces in the ring
  uint32_t head_off_ = 0;  // bytes of ring_[head_] already consumed
  size_t buffered_ = 0;    // bytes from head_off_ to the end
  size_t cut_ = 0;         // bytes of buffered_ already cut into records
};

}  // namespace dptls::tls
