#include "dptls/net/port_offloads.h"

#include <rte_ethdev.h>

namespace dptls::net {

PortOffloadPlan plan_port_offloads(uint64_t rx_capa, uint64_t tx_capa,
                                   uint16_t nb_seg_max, OffloadWish wish,
                                   const char* driver_name) {
  PortOffloadPlan p;
  if (driver_name != nullptr && wish.checksums && wish.tx) {
    p.tx_defect = tx_offload_defect(driver_name);
    wish.tx = p.tx_defect.empty();
  }
  const auto take = [](uint64_t capa, uint64_t bits, uint64_t* into) {
    if ((capa & bits) != bits) {
      return false;
    }
    *into |= bits;
    return true;
  };
  take(tx_capa, RTE_ETH_TX_OFFLOAD_MULTI_SEGS, &p.tx);
  if (!wish.checksums) {
    return p;
  }
  take(rx_capa, RTE_ETH_RX_OFFLOAD_IPV4_CKSUM, &p.rx);
  take(rx_capa, RTE_ETH_RX_OFFLOAD_TCP_CKSUM, &p.rx);
  if (!wish.tx) {
    return p;
  }
  p.stack.ipv4_checksum = take(tx_capa, RTE_ETH_TX_OFFLOAD_IPV4_CKSUM, &p.tx);
  p.stack.tcp_checksum = take(tx_capa, RTE_ETH_TX_OFFLOAD_TCP_CKSUM, &p.tx);
  // TSO sends are chains (header + queued data by reference) whose TCP
  // checksum the port fills per segment.
  if (wish.tso && p.stack.tcp_checksum &&
      (p.tx & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0 &&
      (nb_seg_max == 0 || nb_seg_max >= 2) &&
      take(tx_capa, RTE_ETH_TX_OFFLOAD_TCP_TSO, &p.tx)) {
    p.stack.tso_max_payload = kMaxTsoPayload;
    p.stack.tso_max_mbufs = nb_seg_max;
  }
  return p;
}

std::string tx_offload_defect(const std::string& driver_name) {
  if (driver_name == "net_tap") {
    return "net_tap sums chained mbufs with odd-length segments wrongly and "
           "compares TSO frames, Ethernet header included, with the MTU";
  }
  return {};
}

std::string PortOffloadPlan::summary() const {
  std::string rx_s;
  std::string tx_s;
  if ((rx & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0) {
    rx_s += " ipv4-cksum";
  }
  if ((rx & RTE_ETH_RX_OFFLOAD_TCP_CKSUM) != 0) {
    rx_s += " tcp-cksum";
  }
  if ((rx & RTE_ETH_RX_OFFLOAD_SCATTER) != 0) {
    rx_s += " scatter";
  }
  if (stack.ipv4_checksum) {
    tx_s += " ipv4-cksum";
  }
  if (stack.tcp_checksum) {
    tx_s += " tcp-cksum";
  }
  if (stack.tso_max_payload != 0) {
    tx_s += " tso";
  }
  if (rx_s.empty() && tx_s.empty()) {
    return "none: checksums in software";
  }
  return "rx" + (rx_s.empty() ? std::string(" none") : rx_s) + "; tx" +
         (tx_s.empty() ? std::string(" none") : tx_s);
}

}  // namespace dptls::net
