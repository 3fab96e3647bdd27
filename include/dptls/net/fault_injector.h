// A seeded network impairment for tests (this kernel has no netem): frames
// pushed in come out later, possibly dropped, duplicated, reordered,
// delayed or corrupted, each with its own probability. One instance is one
// direction: put one between a stack's drain_tx() and the port (or the
// other stack's rx()) per direction. Same seed, same inputs, same faults.
//
// Fixed capacity, allocated at construction; frames beyond it are dropped
// and counted (overflow). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

struct rte_mbuf;
struct rte_mempool;

namespace dptls::net {

struct FaultConfig {
  /// Probabilities in [0, 1], drawn independently per frame.
  double drop = 0;
  double duplicate = 0;  // a deep copy follows the original
  double reorder = 0;    // held back reorder_ticks so later frames pass it
  double delay = 0;      // held back a uniform [0, delay_ticks] extra
  double corrupt = 0;    // one random bit of the frame flipped
  /// Latency every frame gets, and the extra holds above (clock ticks).
  uint64_t latency_ticks = 0;
  uint64_t reorder_ticks = 0;
  uint64_t delay_ticks = 0;
  /// Bytes at the start of a frame never corrupted (14 keeps the Ethernet
  /// header intact, as a link's FCS would; 34 corrupts only TCP over IPv4).
  uint32_t corrupt_skip = 0;
  /// Frames held at once.
  uint32_t capacity = 8192;
  uint64_t seed = 1;
};

// X(field).
#define DPTLS_FAULT_COUNTERS(X) \
  X(frames_in)                  \
  X(frames_out)                 \
  X(dropped)                    \
  X(duplicated)                 \
  X(reordered)                  \
  X(delayed)                    \
  X(corrupted)                  \
  X(overflow) /* capacity exceeded: dropped */

struct FaultStats {
#define DPTLS_FAULT_FIELD(name) uint64_t name = 0;
  DPTLS_FAULT_COUNTERS(DPTLS_FAULT_FIELD)
#undef DPTLS_FAULT_FIELD
};

class FaultInjector {
 public:
  /// `pool` supplies the copies made for duplicates and for corrupting a
  /// frame whose buffer is shared.
  FaultInjector(const FaultConfig& config, rte_mempool* pool);
  /// Frees every frame still held.
  ~FaultInjector();
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  /// Takes frames at time `now`. Consumes pkts[0..n): each is held for
  /// later, or dropped (freed and counted).
  void push(rte_mbuf** pkts, uint16_t n, uint64_t now);
  /// Moves up to `n` frames whose time has come to `out`, earliest first.
  /// The caller owns them. Returns how many.
  uint16_t pull(rte_mbuf** out, uint16_t n, uint64_t now);
  /// Frames held.
  size_t held() const { return heap_.size(); }
  /// The release time of the next frame (UINT64_MAX when none).
  uint64_t next_release() const;
  const FaultStats& stats() const { return stats_; }
  /// Replaces the probabilities (the seed's stream continues).
  void reconfigure(const FaultConfig& config);

 private:
  struct Held {
    uint64_t release;
    uint64_t order;
    rte_mbuf* m;
  };
  double uniform();
  uint64_t next_u64();
  void hold(rte_mbuf* m, uint64_t release);
  rte_mbuf* corrupt(rte_mbuf* m);

  FaultConfig cfg_;
  rte_mempool* pool_;
  uint64_t rng_[4];
  uint64_t order_ = 0;
  std::vector<Held> heap_;
  FaultStats stats_;
};

}  // namespace dptls::net
