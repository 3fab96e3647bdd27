// A thread's small stock of reusable libcrypto key objects (the X25519
// keys of key_exchange.cc and x25519_direct.cc): a key that is done with
// is wiped and put() back, the next one take()s it instead of making new
// objects. What is left is freed with `Free` when the thread exits.
#pragma once

#include <array>
#include <cstddef>

namespace dptls::tls::internal {

template <typename T, void (*Free)(T&), size_t N = 4>
class ThreadSpares {
 public:
  // This thread's stock; nullptr once it is destroyed (at thread exit a
  // key released after it must be freed by its owner instead).
  static ThreadSpares* mine() {
    if (gone_) {
      return nullptr;
    }
    thread_local ThreadSpares spares;
    return &spares;
  }

  ThreadSpares(const ThreadSpares&) = delete;
  ThreadSpares& operator=(const ThreadSpares&) = delete;
  ~ThreadSpares() {
    gone_ = true;
    for (size_t i = 0; i < count_; ++i) {
      Free(items_[i]);
    }
  }

  // Takes a spare into *out; false when there is none.
  bool take(T* out) {
    if (count_ == 0) {
      return false;
    }
    *out = items_[--count_];
    return true;
  }
  // Keeps `item`; false when the stock is full (the caller frees it).
  bool put(const T& item) {
    if (count_ == items_.size()) {
      return false;
    }
    items_[count_++] = item;
    return true;
  }

 private:
  ThreadSpares() = default;

  static inline thread_local bool gone_ = false;
  std::array<T, N> items_{};
  size_t count_ = 0;
};

}  // namespace dptls::tls::internal
