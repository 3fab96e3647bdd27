// The hashed timing wheel (see tcp_timer_wheel.h).
#include "dptls/net/tcp_timer_wheel.h"

namespace dptls::net {
namespace {

uint64_t next_pow2(uint64_t v) {
  uint64_t n = 1;
  while (n < v) {
    n <<= 1;
  }
  return n;
}

}  // namespace

TimerWheel::TimerWheel(uint32_t max_ids, uint32_t slots, uint64_t start)
    : head_(next_pow2(slots == 0 ? 1 : slots), kNone),
      next_(max_ids, kNone),
      prev_(max_ids, kNone),
      expiry_(max_ids, 0),
      mask_(head_.size() - 1),
      now_(start) {}

void TimerWheel::schedule(uint32_t id, uint64_t expiry) {
  if (expiry_[id] != 0) {
    unlink(id);
  }
  if (expiry <= now_) {
    expiry = now_ + 1;
  }
  expiry_[id] = expiry;
  const uint32_t s = static_cast<uint32_t>(expiry & mask_);
  prev_[id] = kNone;
  next_[id] = head_[s];
  if (head_[s] != kNone) {
    prev_[head_[s]] = id;
  }
  head_[s] = id;
  ++count_;
}

void TimerWheel::cancel(uint32_t id) {
  if (expiry_[id] != 0) {
    unlink(id);
  }
}

void TimerWheel::unlink(uint32_t id) {
  const uint32_t s = static_cast<uint32_t>(expiry_[id] & mask_);
  if (prev_[id] != kNone) {
    next_[prev_[id]] = next_[id];
  } else {
    head_[s] = next_[id];
  }
  if (next_[id] != kNone) {
    prev_[next_[id]] = prev_[id];
  }
  next_[id] = kNone;
  prev_[id] = kNone;
  expiry_[id] = 0;
  --count_;
}

}  // namespace dptls::net
