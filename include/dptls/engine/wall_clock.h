// The wall clock as a worker reads it, without a syscall: the control
// plane publishes, about once a second, the offset between the system's
// wall clock and the TSC; a worker converts its TSC to nanoseconds and adds
// the offset. So the workers follow the system clock (NTP's steps and
// slews) to within a second, instead of drifting from one reading taken at
// start-up by however far the TSC's calibration is off (10 ppm is almost a
// second a day).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace dptls::engine {

// The system's wall clock now, in ns since the Unix epoch: for the control
// plane and start-up, not the data path.
inline uint64_t system_clock_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

class WallClock {
 public:
  // `ns_per_tick`: 1e9 / the TSC's rate, the same figure on both sides.
  explicit WallClock(double ns_per_tick) : ns_per_tick_(ns_per_tick) {}

  // Control plane: the wall clock read `wall_ns` (ns since the Unix epoch)
  // at TSC `tsc`.
  void publish(uint64_t wall_ns, uint64_t tsc) {
    offset_ns_.store(static_cast<int64_t>(wall_ns - tsc_ns(tsc)),
                     std::memory_order_relaxed);
  }

  // Any thread: ns since the Unix epoch at TSC `tsc` (by the last publish).
  uint64_t now_ns(uint64_t tsc) const {
    return tsc_ns(tsc) +
           static_cast<uint64_t>(offset_ns_.load(std::memory_order_relaxed));
  }

 private:
  uint64_t tsc_ns(uint64_t tsc) const {
    return static_cast<uint64_t>(static_cast<double>(tsc) * ns_per_tick_);
  }

  double ns_per_tick_;
  std::atomic<int64_t> offset_ns_{0};
};

}  // namespace dptls::engine
