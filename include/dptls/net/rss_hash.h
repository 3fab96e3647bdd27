// Which worker a flow's packets land on: the NIC's receive-side scaling,
// computed in software so an active open can pick a local port whose
// replies come back to the opening worker (the architecture's "flows never
// migrate"). Pluggable: Toeplitz with a given key and redirection table
// (rte_softrss from rte_thash.h, what NICs implement), or a single worker.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "dptls/net/tcp_flow_table.h"

namespace dptls::net {

class RssHash {
 public:
  /// Longest Toeplitz key accepted (52 bytes covers every NIC in DPDK).
  static constexpr size_t kMaxKeyLen = 52;
  static constexpr size_t kMaxReta = 512;

  /// Every flow goes to worker 0.
  static RssHash single_worker() { return RssHash(); }
  /// Toeplitz over (src addr, dst addr, src port, dst port) of a received
  /// packet with `key` (at least 40 bytes, at most kMaxKeyLen; a shorter or
  /// longer key gives single_worker()), and a redirection table of
  /// `reta_size` (a power of two <= kMaxReta) entries filled round-robin
  /// over `workers` queues, as rte_eth_dev_rss_reta_update would be.
  static RssHash toeplitz(std::span<const uint8_t> key, uint16_t workers,
                          uint16_t reta_size = 128);

  bool is_toeplitz() const { return toeplitz_; }
  uint16_t workers() const { return workers_; }

  /// The 32-bit Toeplitz hash of a packet arriving on flow `k` (source =
  /// k.remote); 0 in single-worker mode.
  uint32_t hash(const FlowKey& k) const;
  /// The worker the NIC steers flow `k`'s received packets to.
  uint16_t worker_for(const FlowKey& k) const;

 private:
  bool toeplitz_ = false;
  uint16_t workers_ = 1;
  uint16_t reta_size_ = 1;
  std::array<uint8_t, kMaxKeyLen> key_{};
  std::array<uint16_t, kMaxReta> reta_{};
};

}  // namespace dptls::net
