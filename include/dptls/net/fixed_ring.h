// A single-threaded FIFO of fixed capacity, allocated once. Used for the
// stack's transmit and delivery queues; not a cross-thread ring (those are
// rte_ring / SPSC elsewhere).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dptls::net {

template <typename T>
class FixedRing {
 public:
  /// Allocates room for at least `capacity` items (rounded up to a power of
  /// two).
  explicit FixedRing(size_t capacity) {
    size_t n = 1;
    while (n < capacity) {
      n <<= 1;
    }
    slots_.resize(n);
    mask_ = n - 1;
  }

  size_t size() const { return static_cast<size_t>(tail_ - head_); }
  size_t capacity() const { return slots_.size(); }
  bool empty() const { return head_ == tail_; }
  bool full() const { return size() == slots_.size(); }

  /// False, and nothing stored, when full.
  bool push(const T& v) {
    if (full()) {
      return false;
    }
    slots_[tail_++ & mask_] = v;
    return true;
  }
  /// Moves up to `n` items, oldest first, to `out`; returns how many.
  size_t pop(T* out, size_t n) {
    size_t k = 0;
    while (k < n && !empty()) {
      out[k++] = slots_[head_++ & mask_];
    }
    return k;
  }

 private:
  std::vector<T> slots_;
  size_t mask_ = 0;
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
};

}  // namespace dptls::net
