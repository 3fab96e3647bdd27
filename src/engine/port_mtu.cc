#include "dptls/engine/port_mtu.h"

#include <fmt/format.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dptls::engine {
namespace {

// Why the set failed, in the PMD's terms where they explain it.
std::string set_failure(const MtuAttempt& a) {
  if (a.set_result == -ENOTSUP) {
    return "the PMD cannot change it";
  }
  const uint16_t max = pmd_max_mtu(a.max_mtu, a.max_rx_pktlen);
  if (a.wanted > max) {
    return fmt::format("the PMD's maximum is {}", max);
  }
  return std::strerror(-a.set_result);
}

}  // namespace

uint16_t pmd_max_mtu(uint16_t max_mtu, uint32_t max_rx_pktlen) {
  if (max_rx_pktlen == 0) {
    return max_mtu;
  }
  // lib/ethdev eth_dev_get_overhead_len(): Ethernet header and CRC unless
  // the PMD's two limits say otherwise.
  const uint32_t overhead = max_mtu != UINT16_MAX && max_rx_pktlen > max_mtu
                                ? max_rx_pktlen - max_mtu
                                : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
  const uint32_t by_frame =
      max_rx_pktlen > overhead ? max_rx_pktlen - overhead : 0;
  return static_cast<uint16_t>(std::min<uint32_t>(max_mtu, by_frame));
}

uint32_t rx_frame_overhead(uint16_t max_mtu, uint32_t max_rx_pktlen) {
  const uint32_t ours = RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN;
  if (max_mtu == UINT16_MAX || max_rx_pktlen <= max_mtu) {
    return ours;
  }
  return std::max(ours, max_rx_pktlen - max_mtu);
}

uint32_t mbuf_rx_room(rte_mempool* pool) {
  return rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
}

uint64_t rx_scatter_offload(uint16_t wanted, uint32_t rx_room, uint64_t rx_capa,
                            uint16_t max_mtu, uint32_t max_rx_pktlen) {
  const uint32_t mtu = std::min(wanted, pmd_max_mtu(max_mtu, max_rx_pktlen));
  if (mtu + rx_frame_overhead(max_mtu, max_rx_pktlen) <= rx_room) {
    return 0;
  }
  return rx_capa & RTE_ETH_RX_OFFLOAD_SCATTER;
}

namespace {

// The MTU alone: what the port took, or what to assume when it refused.
PortMtu choose_mtu(const MtuAttempt& a) {
  if (a.set_result == 0) {
    return PortMtu{a.wanted, "", ""};
  }
  const std::string why = set_failure(a);
  if (a.get_result == 0) {
    if (a.port_mtu <= a.wanted) {
      return PortMtu{a.port_mtu,
                     fmt::format("cannot set MTU {} ({}); using the port's "
                                 "MTU {}",
                                 a.wanted, why, a.port_mtu),
                     ""};
    }
    // The port carries more than configured: the stack still keeps to
    // the configuration (the link beyond the port may not).
    return PortMtu{a.wanted,
                   fmt::format("cannot set MTU {} ({}); the port's MTU is "
                               "{}, the stack keeps to {}",
                               a.wanted, why, a.port_mtu, a.wanted),
                   ""};
  }
  const uint16_t guess =
      std::min({a.wanted, kDefaultPortMtu,
                std::max<uint16_t>(pmd_max_mtu(a.max_mtu, a.max_rx_pktlen),
                                   RTE_ETHER_MIN_MTU)});
  return PortMtu{
      guess,
      fmt::format("cannot set MTU {} ({}) nor read the port's ({}); "
                  "assuming {}MTU {}",
                  a.wanted, why, std::strerror(-a.get_result),
                  guess == kDefaultPortMtu ? "DPDK's default " : "", guess),
      ""};
}

// The MTU the stack would use, checked against what one mbuf receives.
PortMtu check_rx_fit(PortMtu r, const MtuAttempt& a) {
  if (a.rx_room == 0 || a.rx_scatter) {
    return r;
  }
  const uint32_t overhead = rx_frame_overhead(a.max_mtu, a.max_rx_pktlen);
  if (r.mtu + overhead <= a.rx_room) {
    return r;
  }
  r.error = fmt::format(
      "MTU {} means frames of up to {} bytes, more than one mbuf holds ({}), "
      "and the port cannot receive a frame into several (no scatter "
      "offload); set mtu to at most {}",
      r.mtu, r.mtu + overhead, a.rx_room,
      a.rx_room > overhead ? a.rx_room - overhead : 0);
  return r;
}

}  // namespace

PortMtu settle_port_mtu(const MtuAttempt& a) {
  return check_rx_fit(choose_mtu(a), a);
}

PortMtu apply_port_mtu(uint16_t port, const rte_eth_dev_info& info,
                       uint16_t wanted, uint32_t rx_room,
                       uint64_t rx_offloads) {
  MtuAttempt a;
  a.wanted = wanted;
  a.max_mtu = info.max_mtu;
  a.max_rx_pktlen = info.max_rx_pktlen;
  a.rx_room = rx_room;
  a.rx_scatter = (rx_offloads & RTE_ETH_RX_OFFLOAD_SCATTER) != 0;
  a.set_result = rte_eth_dev_set_mtu(port, wanted);
  if (a.set_result != 0) {
    a.get_result = rte_eth_dev_get_mtu(port, &a.port_mtu);
  }
  return settle_port_mtu(a);
}

}  // namespace dptls::engine
