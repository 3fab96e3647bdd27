// The MTU a port really has after dptls asked for the configured one, so
// the stack (NetConfig::mtu: IP output, the TCP MSS) never assumes frames
// the port cannot carry. The engine and `dptls gen` both use it.
//
// settle_port_mtu() is the decision, pure (no DPDK calls) and tested;
// apply_port_mtu() asks the port and decides.
#pragma once

#include <cstdint>
#include <string>

struct rte_eth_dev_info;

namespace dptls::engine {

/// What happened when the port was asked for an MTU.
struct MtuAttempt {
  uint16_t wanted = 0;    ///< the configured MTU
  int set_result = 0;     ///< rte_eth_dev_set_mtu(): 0 or a negative errno
  int get_result = 0;     ///< rte_eth_dev_get_mtu(): 0 or a negative errno
  uint16_t port_mtu = 0;  ///< rte_eth_dev_get_mtu()'s (get_result 0)
  /// rte_eth_dev_info's limits (UINT16_MAX / 0: not given by the PMD).
  uint16_t max_mtu = UINT16_MAX;
  uint32_t max_rx_pktlen = 0;
};

/// The MTU to give the stack, and what to log.
struct PortMtu {
  uint16_t mtu = 0;
  /// Empty when the port took the wanted MTU; otherwise one line naming
  /// the wanted and the used MTU and why (for a warning).
  std::string warning;
};

/// The MTU assumed when the port's cannot be read: rte_eth_dev_configure()
/// gives every port this one (RTE_ETHER_MTU) unless asked otherwise.
inline constexpr uint16_t kDefaultPortMtu = 1500;

/// The largest MTU the PMD accepts, as rte_eth_dev_set_mtu() checks it:
/// max_mtu, and max_rx_pktlen less the frame overhead (max_rx_pktlen -
/// max_mtu when the PMD gives both, Ethernet header and CRC otherwise).
uint16_t pmd_max_mtu(uint16_t max_mtu, uint32_t max_rx_pktlen);

/// Decides from an attempt. The set succeeded: the wanted MTU, no
/// warning. It failed: the port's own MTU as read, never more than the
/// wanted one; the port's MTU unreadable too: kDefaultPortMtu (at most
/// the wanted one and the PMD's maximum), and the warning says it is a
/// guess.
PortMtu settle_port_mtu(const MtuAttempt& a);

/// Sets `wanted` on the configured (not yet started) `port`, reads the MTU
/// back when that fails and settles; `info` is the port's
/// rte_eth_dev_info. The warning does not name the port (the caller's log
/// line does).
PortMtu apply_port_mtu(uint16_t port, const rte_eth_dev_info& info,
                       uint16_t wanted);

}  // namespace dptls::engine
