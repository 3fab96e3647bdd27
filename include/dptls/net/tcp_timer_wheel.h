// A hashed timing wheel (Varghese and Lauck, scheme 6): one timer per id
// (a connection slot), slots of one tick, intrusive doubly-linked lists in
// arrays sized at creation. Timers further out than one rotation stay in
// their slot and are skipped until their rotation comes round.
//
// O(1) schedule and cancel; advance() visits the slots passed. Nothing
// allocates after construction; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dptls::net {

class TimerWheel {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;

  /// Timers for ids [0, max_ids); `slots` is rounded up to a power of two.
  /// `start` is the current tick.
  TimerWheel(uint32_t max_ids, uint32_t slots, uint64_t start);

  /// (Re)schedules `id` to fire at tick `expiry`. An expiry not after the
  /// current tick fires on the next advance().
  void schedule(uint32_t id, uint64_t expiry);
  /// Cancels `id` (no-op when not scheduled).
  void cancel(uint32_t id);
  bool scheduled(uint32_t id) const { return expiry_[id] != 0; }
  uint64_t expiry(uint32_t id) const { return expiry_[id]; }
  /// The tick the wheel has advanced to.
  uint64_t now() const { return now_; }
  size_t size() const { return count_; }

  /// Moves time to `now` and calls f(id) for each timer that expired, in
  /// tick order (each fired timer is unscheduled before its call, so f may
  /// schedule it again). Returns how many fired.
  template <typename F>
  size_t advance(uint64_t now, F&& f) {
    size_t fired = 0;
    if (now <= now_) {
      return 0;
    }
    // Past a full rotation every slot is due once: visit each one, ending
    // at `now` (overdue timers have expiry <= the tick of their slot).
    if (now - now_ > mask_ + 1) {
      now_ = now - (mask_ + 1);
    }
    while (now_ < now) {
      ++now_;
      uint32_t id = head_[now_ & mask_];
      while (id != kNone) {
        // A timer f() schedules again goes to the head of its slot, so this
        // walk never meets it twice.
        const uint32_t next = next_[id];
        if (expiry_[id] <= now_) {
          unlink(id);
          ++fired;
          f(id);
        }
        id = next;
      }
    }
    return fired;
  }

 private:
  void unlink(uint32_t id);

  std::vector<uint32_t> head_;
  std::vector<uint32_t> next_;
  std::vector<uint32_t> prev_;
  std::vector<uint64_t> expiry_;  // 0: not scheduled
  uint64_t mask_ = 0;
  uint64_t now_ = 0;
  size_t count_ = 0;
};

}  // namespace dptls::net
