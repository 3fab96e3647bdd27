// Which of a port's offloads the stack uses: the rx/tx offload bits to
// configure the port with (rte_eth_conf) and the matching TxOffloads for
// NetConfig. A pure function of the port's capabilities (rte_eth_dev_info),
// so the engine, the load generator and the tests agree on it.
//
// Receive: the port's IPv4 and TCP checksum verdicts (the stack trusts
// RTE_MBUF_F_RX_*_CKSUM_GOOD/BAD and checks in software when UNKNOWN).
// Transmit: IPv4 and TCP checksums, then TSO on top of the TCP checksum.
// Chains of mbufs are always sent, so MULTI_SEGS is asked for whenever the
// port lists it. Receiving into chains (SCATTER) depends on the MTU and the
// mbuf size, not on the capabilities alone: engine/port_mtu.h
// rx_scatter_offload() adds it.
#pragma once

#include <cstdint>
#include <string>

#include "dptls/net/stack.h"

namespace dptls::net {

/// What the user allows (config `port.offloads`; tests turn parts off).
struct OffloadWish {
  bool checksums = true;  ///< receive verdicts and transmit checksums
  bool tx = true;         ///< transmit checksums and TSO at all
  bool tso = true;
};

/// The offloads to configure and the stack's share of them.
struct PortOffloadPlan {
  uint64_t rx = 0;  ///< rte_eth_conf.rxmode.offloads
  uint64_t tx = 0;  ///< rte_eth_conf.txmode.offloads
  TxOffloads stack;
  /// Why transmit offloads were left off although wished for: the
  /// driver's known defect (tx_offload_defect); empty otherwise.
  std::string tx_defect;
  /// For the log: e.g. "rx ipv4-cksum tcp-cksum; tx ipv4-cksum tcp-cksum
  /// tso" ("scatter" too when rx has it), or "none: checksums in
  /// software".
  std::string summary() const;
};

/// Why a driver's transmit offloads must not be used (empty: none known).
/// net_tap (DPDK 22.11) computes TCP checksums of chained mbufs wrongly
/// when a segment before the last has an odd length, and refuses TSO
/// segments whose frame exceeds its MTU.
std::string tx_offload_defect(const std::string& driver_name);

/// Plans from the port's rx/tx offload capabilities, its most mbufs per
/// packet (rte_eth_dev_info::tx_desc_lim.nb_seg_max; 0: no limit) and its
/// driver's name (rte_eth_dev_info::driver_name; a driver with a known
/// transmit-offload defect gets none, see tx_defect; null: not checked).
PortOffloadPlan plan_port_offloads(uint64_t rx_capa, uint64_t tx_capa,
                                   uint16_t nb_seg_max, OffloadWish wish,
                                   const char* driver_name = nullptr);

}  // namespace dptls::net
