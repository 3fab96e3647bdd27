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

PortMtu settle_port_mtu(const MtuAttempt& a) {
  if (a.set_result == 0) {
    return PortMtu{a.wanted, ""};
  }
  const std::string why = set_failure(a);
  if (a.get_result == 0) {
    if (a.port_mtu <= a.wanted) {
      return PortMtu{a.port_mtu,
                     fmt::format("cannot set MTU {} ({}); using the port's "
                                 "MTU {}",
                                 a.wanted, why, a.port_mtu)};
    }
    // The port carries more than configured: the stack still keeps to
    // the configuration (the link beyond the port may not).
    return PortMtu{a.wanted,
                   fmt::format("cannot set MTU {} ({}); the port's MTU is "
                               "{}, the stack keeps to {}",
                               a.wanted, why, a.port_mtu, a.wanted)};
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
                  guess == kDefaultPortMtu ? "DPDK's default " : "", guess)};
}

PortMtu apply_port_mtu(uint16_t port, const rte_eth_dev_info& info,
                       uint16_t wanted) {
  MtuAttempt a;
  a.wanted = wanted;
  a.max_mtu = info.max_mtu;
  a.max_rx_pktlen = info.max_rx_pktlen;
  a.set_result = rte_eth_dev_set_mtu(port, wanted);
  if (a.set_result != 0) {
    a.get_result = rte_eth_dev_get_mtu(port, &a.port_mtu);
  }
  return settle_port_mtu(a);
}

}  // namespace dptls::engine
