// The MTU a port really has after dptls asked for the configured one, so
// the stack (NetConfig::mtu: IP output, the TCP MSS) never assumes frames
// the port cannot carry, and whether the port can receive such frames: a
// frame longer than one mbuf's data room arrives as a chain of mbufs
// (RTE_ETH_RX_OFFLOAD_SCATTER; the stack parses chains, headers in the
// first segment) or not at all. The engine and `dptls gen` both use it.
//
// rx_scatter_offload() and settle_port_mtu() are the decisions, pure (no
// DPDK calls) and tested; apply_port_mtu() asks the port and decides.
#pragma once

#include <cstdint>
#include <string>

struct rte_eth_dev_info;
struct rte_mempool;

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
  /// Bytes of a received frame one mbuf holds (mbuf_rx_room(); 0: not
  /// checked), and whether the port was configured to spread a frame over
  /// several (rx_scatter_offload() gave RTE_ETH_RX_OFFLOAD_SCATTER).
  uint32_t rx_room = 0;
  bool rx_scatter = false;
};

/// The MTU to give the stack, and what to log.
struct PortMtu {
  uint16_t mtu = 0;
  /// Empty when the port took the wanted MTU; otherwise one line naming
  /// the wanted and the used MTU and why (for a warning).
  std::string warning;
  /// Non-empty when the port has an MTU whose frames it cannot receive
  /// (longer than one mbuf, no scatter): why, and the largest MTU that
  /// works. The port must not be started.
  std::string error;
};

/// The MTU assumed when the port's cannot be read: rte_eth_dev_configure()
/// gives every port this one (RTE_ETHER_MTU) unless asked otherwise.
inline constexpr uint16_t kDefaultPortMtu = 1500;

/// The largest MTU the PMD accepts, as rte_eth_dev_set_mtu() checks it:
/// max_mtu, and max_rx_pktlen less the frame overhead (max_rx_pktlen -
/// max_mtu when the PMD gives both, Ethernet header and CRC otherwise).
uint16_t pmd_max_mtu(uint16_t max_mtu, uint32_t max_rx_pktlen);

/// Bytes around the IP datagram in a frame as a port receives it: an
/// Ethernet header, one VLAN tag and the CRC, or the PMD's own overhead
/// (max_rx_pktlen - max_mtu) when it gives both limits and that is more.
uint32_t rx_frame_overhead(uint16_t max_mtu, uint32_t max_rx_pktlen);

/// Bytes of a received frame one mbuf of `pool` holds: its data room less
/// the headroom PMDs leave.
uint32_t mbuf_rx_room(rte_mempool* pool);

/// The receive offload frames of `wanted` (or of the PMD's maximum, when
/// less: the port takes no more) need: RTE_ETH_RX_OFFLOAD_SCATTER when they
/// do not fit `rx_room` bytes and the port offers it in `rx_capa`; 0
/// otherwise (then settle_port_mtu() refuses an MTU that does not fit).
/// For rte_eth_conf.rxmode.offloads, before rte_eth_dev_configure().
uint64_t rx_scatter_offload(uint16_t wanted, uint32_t rx_room, uint64_t rx_capa,
                            uint16_t max_mtu, uint32_t max_rx_pktlen);

/// Decides from an attempt. The set succeeded: the wanted MTU, no
/// warning. It failed: the port's own MTU as read, never more than the
/// wanted one; the port's MTU unreadable too: kDefaultPortMtu (at most
/// the wanted one and the PMD's maximum), and the warning says it is a
/// guess. Whatever the MTU, when its frames do not fit a.rx_room bytes
/// and a.rx_scatter is false, error says so.
PortMtu settle_port_mtu(const MtuAttempt& a);

/// Sets `wanted` on the configured (not yet started) `port`, reads the MTU
/// back when that fails and settles; `info` is the port's
/// rte_eth_dev_info, `rx_room` mbuf_rx_room() of its receive pools and
/// `rx_offloads` the rxmode.offloads it was configured with. The warning
/// and the error do not name the port (the caller's log line does).
PortMtu apply_port_mtu(uint16_t port, const rte_eth_dev_info& info,
                       uint16_t wanted, uint32_t rx_room, uint64_t rx_offloads);

}  // namespace dptls::engine
