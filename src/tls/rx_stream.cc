#include "dptls/tls/rx_stream.h"

#include <cstring>

namespace dptls::tls {

bool RxStream::push(const RxChunk& chunk) {
  if (count_ == kMaxChunks || chunk.len == 0 || chunk.data == nullptr) {
    return false;
  }
  ring_[(head_ + count_) % kMaxChunks] = chunk;
  ++count_;
  buffered_ += chunk.len;
  return true;
}

template <typename F>
bool RxStream::visit(size_t from, size_t len, F&& f) const {
  if (from > buffered_ || len > buffered_ - from) {
    return false;
  }
  // Skip to the piece holding byte `from`.
  size_t skip = from + head_off_;
  for (uint32_t i = 0; i < count_ && len != 0; ++i) {
    const RxChunk& c = ring_[(head_ + i) % kMaxChunks];
    if (skip >= c.len) {
      skip -= c.len;
      continue;
    }
    const size_t n = c.len - skip < len ? c.len - skip : len;
    if (!f(c.data + skip, n)) {
      return false;
    }
    len -= n;
    skip = 0;
  }
  return len == 0;
}

bool RxStream::peek(size_t offset, std::span<uint8_t> out) const {
  size_t done = 0;
  return visit(cut_ + offset, out.size(), [&](const uint8_t* p, size_t n) {
    std::memcpy(out.data() + done, p, n);
    done += n;
    return true;
  });
}

size_t RxStream::segments(size_t offset, size_t len,
                          std::span<crypto::IoSegment> out) const {
  size_t used = 0;
  const bool ok =
      len != 0 && visit(cut_ + offset, len, [&](const uint8_t* p, size_t n) {
        if (used == out.size()) {
          return false;
        }
        // The stream's bytes are writable: records are opened in place.
        out[used++] = crypto::IoSegment{const_cast<uint8_t*>(p), n};
        return true;
      });
  return ok ? used : 0;
}

void RxStream::consume(size_t n, ReleaseFn release, void* ctx) {
  if (n > cut_) {
    n = cut_;
  }
  cut_ -= n;
  buffered_ -= n;
  size_t left = n + head_off_;
  while (count_ != 0 && left >= ring_[head_].len) {
    left -= ring_[head_].len;
    release(ctx, ring_[head_].owner);
    ring_[head_] = RxChunk{};
    head_ = (head_ + 1) % kMaxChunks;
    --count_;
  }
  head_off_ = static_cast<uint32_t>(left);
}

void RxStream::clear(ReleaseFn release, void* ctx) {
  while (count_ != 0) {
    release(ctx, ring_[head_].owner);
    ring_[head_] = RxChunk{};
    head_ = (head_ + 1) % kMaxChunks;
    --count_;
  }
  head_ = 0;
  head_off_ = 0;
  buffered_ = 0;
  cut_ = 0;
}

}  // namespace dptls::tls
