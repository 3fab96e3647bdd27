// plan_port_offloads(): which of a port's capabilities the stack uses.
#include <gtest/gtest.h>
#include <rte_ethdev.h>

#include "dptls/net/port_offloads.h"

namespace dptls::net {
namespace {

constexpr uint64_t kRxAll = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM |
                            RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
                            RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
constexpr uint64_t kTxAll =
    RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
    RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM |
    RTE_ETH_TX_OFFLOAD_TCP_TSO;

TEST(PortOffloadsTest, UsesEverythingAFullPortHas) {
  const PortOffloadPlan p = plan_port_offloads(kRxAll, kTxAll, 40, {});
  EXPECT_EQ(p.rx, RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
  EXPECT_EQ(p.tx,
            RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
                RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO);
  EXPECT_TRUE(p.stack.ipv4_checksum);
  EXPECT_TRUE(p.stack.tcp_checksum);
  EXPECT_EQ(p.stack.tso_max_payload, kMaxTsoPayload);
  EXPECT_EQ(p.stack.tso_max_mbufs, 40);
  EXPECT_EQ(p.summary(),
            "rx ipv4-cksum tcp-cksum; tx ipv4-cksum tcp-cksum tso");
  // What the stack is given is a configuration NetConfig accepts.
  NetConfig c;
  c.mac = MacAddr{{0x02, 0, 0, 0, 0, 1}};
  c.tx_offloads = p.stack;
  EXPECT_EQ(c.validate(), "");
}

TEST(PortOffloadsTest, AVirtualPortWithoutOffloadsGetsSoftware) {
  // net_af_packet and net_memif list MULTI_SEGS at most.
  const PortOffloadPlan p =
      plan_port_offloads(0, RTE_ETH_TX_OFFLOAD_MULTI_SEGS, 0, {});
  EXPECT_EQ(p.rx, 0u);
  EXPECT_EQ(p.tx, RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
  EXPECT_FALSE(p.stack.ipv4_checksum);
  EXPECT_FALSE(p.stack.tcp_checksum);
  EXPECT_EQ(p.stack.tso_max_payload, 0u);
  EXPECT_EQ(p.summary(), "none: checksums in software");
}

TEST(PortOffloadsTest, TheUserCanTurnThemOff) {
  const PortOffloadPlan off = plan_port_offloads(
      kRxAll, kTxAll, 0, OffloadWish{.checksums = false, .tso = false});
  EXPECT_EQ(off.rx, 0u);
  EXPECT_EQ(off.tx, RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
  EXPECT_FALSE(off.stack.tcp_checksum);
  const PortOffloadPlan no_tso = plan_port_offloads(
      kRxAll, kTxAll, 0, OffloadWish{.checksums = true, .tso = false});
  EXPECT_TRUE(no_tso.stack.tcp_checksum);
  EXPECT_EQ(no_tso.stack.tso_max_payload, 0u);
  EXPECT_EQ(no_tso.tx & RTE_ETH_TX_OFFLOAD_TCP_TSO, 0u);
}

TEST(PortOffloadsTest, TsoNeedsTheTcpChecksumChainsAndTwoMbufs) {
  // No TCP checksum offload: TSO is not used even when listed.
  PortOffloadPlan p =
      plan_port_offloads(kRxAll, kTxAll & ~RTE_ETH_TX_OFFLOAD_TCP_CKSUM, 0, {});
  EXPECT_FALSE(p.stack.tcp_checksum);
  EXPECT_TRUE(p.stack.ipv4_checksum);
  EXPECT_EQ(p.stack.tso_max_payload, 0u);
  EXPECT_EQ(p.tx & RTE_ETH_TX_OFFLOAD_TCP_TSO, 0u);
  EXPECT_EQ(p.summary(), "rx ipv4-cksum tcp-cksum; tx ipv4-cksum");
  // A TSO send is a chain: no MULTI_SEGS, no TSO.
  p = plan_port_offloads(kRxAll, kTxAll & ~RTE_ETH_TX_OFFLOAD_MULTI_SEGS, 0,
                         {});
  EXPECT_TRUE(p.stack.tcp_checksum);
  EXPECT_EQ(p.stack.tso_max_payload, 0u);
  // One mbuf per packet leaves no room for a header and data.
  p = plan_port_offloads(kRxAll, kTxAll, 1, {});
  EXPECT_EQ(p.stack.tso_max_payload, 0u);
  p = plan_port_offloads(kRxAll, kTxAll, 2, {});
  EXPECT_EQ(p.stack.tso_max_mbufs, 2);
}

TEST(PortOffloadsTest, ReceiveOnlyWhenTransmitIsRefused) {
  const PortOffloadPlan p =
      plan_port_offloads(kRxAll, kTxAll, 0, OffloadWish{.tx = false});
  EXPECT_EQ(p.rx, RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
  EXPECT_EQ(p.tx, RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
  EXPECT_FALSE(p.stack.ipv4_checksum);
  EXPECT_FALSE(p.stack.tcp_checksum);
  EXPECT_EQ(p.summary(), "rx ipv4-cksum tcp-cksum; tx none");
}

TEST(PortOffloadsTest, KnownDriverDefectsAreNamed) {
  EXPECT_NE(tx_offload_defect("net_tap"), "");
  EXPECT_EQ(tx_offload_defect("net_ixgbe"), "");
  EXPECT_EQ(tx_offload_defect(""), "");
  // Given the driver's name, the plan leaves transmit offloads off and
  // says why; receive verdicts are still used.
  const PortOffloadPlan tap =
      plan_port_offloads(kRxAll, kTxAll, 0, {}, "net_tap");
  EXPECT_NE(tap.tx_defect, "");
  EXPECT_FALSE(tap.stack.tcp_checksum);
  EXPECT_EQ(tap.summary(), "rx ipv4-cksum tcp-cksum; tx none");
  const PortOffloadPlan nic =
      plan_port_offloads(kRxAll, kTxAll, 0, {}, "net_ixgbe");
  EXPECT_EQ(nic.tx_defect, "");
  EXPECT_TRUE(nic.stack.tcp_checksum);
}

TEST(PortOffloadsTest, ReceiveVerdictsAreTakenOneByOne) {
  const PortOffloadPlan p =
      plan_port_offloads(RTE_ETH_RX_OFFLOAD_TCP_CKSUM, 0, 0, {});
  EXPECT_EQ(p.rx, RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
  EXPECT_EQ(p.tx, 0u);
  EXPECT_EQ(p.summary(), "rx tcp-cksum; tx none");
}

TEST(PortOffloadsTest, SummaryNamesScatteredReceive) {
  PortOffloadPlan p = plan_port_offloads(0, 0, 0, {});
  p.rx |= RTE_ETH_RX_OFFLOAD_SCATTER;  // as the engine adds it
  EXPECT_EQ(p.summary(), "rx scatter; tx none");
}

TEST(PortOffloadsTest, NetConfigRefusesTsoWithoutTheChecksumOrTooLarge) {
  NetConfig c;
  c.mac = MacAddr{{0x02, 0, 0, 0, 0, 1}};
  c.tx_offloads.tso_max_payload = 60000;
  EXPECT_NE(c.validate(), "");
  c.tx_offloads.tcp_checksum = true;
  EXPECT_EQ(c.validate(), "");
  c.tx_offloads.tso_max_payload = kMaxTsoPayload + 1;
  EXPECT_NE(c.validate(), "");
}

}  // namespace
}  // namespace dptls::net
