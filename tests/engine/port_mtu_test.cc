// The MTU the stack gets when the port refuses the configured one.
#include "dptls/engine/port_mtu.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>

#include <cerrno>
#include <cstdint>

namespace dptls::engine {
namespace {

MtuAttempt Refused(uint16_t wanted, int set_result) {
  MtuAttempt a;
  a.wanted = wanted;
  a.set_result = set_result;
  return a;
}

TEST(PortMtuTest, TakenAsConfigured) {
  MtuAttempt a = Refused(9000, 0);
  a.get_result = -EIO;  // not read when the set succeeded
  const PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 9000);
  EXPECT_TRUE(m.warning.empty());
}

TEST(PortMtuTest, RefusedAboveThePmdsMaximumUsesThePortsMtu) {
  MtuAttempt a = Refused(9000, -EINVAL);
  a.max_rx_pktlen = 1518;  // max_mtu not given: 14 + 4 bytes of overhead
  a.port_mtu = 1500;
  const PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 1500);
  EXPECT_EQ(m.warning,
            "cannot set MTU 9000 (the PMD's maximum is 1500); using the "
            "port's MTU 1500");
}

TEST(PortMtuTest, PmdThatCannotChangeItsMtu) {
  MtuAttempt a = Refused(9000, -ENOTSUP);
  a.port_mtu = 1500;
  const PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 1500);
  EXPECT_EQ(m.warning,
            "cannot set MTU 9000 (the PMD cannot change it); using the "
            "port's MTU 1500");
}

TEST(PortMtuTest, ThePortCarryingMoreStillKeepsToTheConfiguration) {
  MtuAttempt a = Refused(1500, -EIO);
  a.port_mtu = 9000;
  const PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 1500);
  EXPECT_NE(m.warning.find("the port's MTU is 9000, the stack keeps to 1500"),
            std::string::npos)
      << m.warning;
}

TEST(PortMtuTest, UnreadableMtuFallsBackToDpdksDefault) {
  MtuAttempt a = Refused(9000, -EIO);
  a.get_result = -ENODEV;
  PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 1500);
  EXPECT_NE(m.warning.find("nor read the port's"), std::string::npos)
      << m.warning;
  EXPECT_NE(m.warning.find("assuming DPDK's default MTU 1500"),
            std::string::npos)
      << m.warning;
  // Never more than configured or than the PMD takes.
  a.wanted = 1400;
  EXPECT_EQ(settle_port_mtu(a).mtu, 1400);
  a.wanted = 9000;
  a.max_mtu = 1280;
  m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 1280);
  EXPECT_NE(m.warning.find("assuming MTU 1280"), std::string::npos)
      << m.warning;
}

TEST(PortMtuTest, PmdMaximumAsEthdevChecksIt) {
  EXPECT_EQ(pmd_max_mtu(UINT16_MAX, 0), UINT16_MAX);
  EXPECT_EQ(pmd_max_mtu(UINT16_MAX, 1518), 1500);
  // Both given: the overhead is their difference (here with a VLAN tag).
  EXPECT_EQ(pmd_max_mtu(9000, 9022), 9000);
  EXPECT_EQ(pmd_max_mtu(9600, 9000), 8982);
  EXPECT_EQ(pmd_max_mtu(UINT16_MAX, 10), 0);
}

// RTE_MBUF_DEFAULT_BUF_SIZE less the headroom: what the engine's and the
// generator's packet mbufs receive.
constexpr uint32_t kRoom = 2048;

TEST(PortMtuTest, RxFrameOverheadIsAtLeastHeaderVlanAndCrc) {
  EXPECT_EQ(rx_frame_overhead(UINT16_MAX, 0), 22u);
  EXPECT_EQ(rx_frame_overhead(UINT16_MAX, 9728), 22u);
  EXPECT_EQ(rx_frame_overhead(9000, 9018), 22u);
  // A PMD that counts two VLAN tags (i40e, ice): its own.
  EXPECT_EQ(rx_frame_overhead(9702, 9728), 26u);
}

TEST(PortMtuTest, ScatterOnlyWhenFramesDoNotFitOneMbuf) {
  const uint64_t capa =
      RTE_ETH_RX_OFFLOAD_SCATTER | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  // 2026 + 22 = 2048: fits.
  EXPECT_EQ(rx_scatter_offload(1500, kRoom, capa, UINT16_MAX, 9728), 0u);
  EXPECT_EQ(rx_scatter_offload(2026, kRoom, capa, UINT16_MAX, 9728), 0u);
  EXPECT_EQ(rx_scatter_offload(2027, kRoom, capa, UINT16_MAX, 9728),
            RTE_ETH_RX_OFFLOAD_SCATTER);
  EXPECT_EQ(rx_scatter_offload(9000, kRoom, capa, UINT16_MAX, 9728),
            RTE_ETH_RX_OFFLOAD_SCATTER);
  // Not offered: nothing to ask for (settle_port_mtu() refuses).
  EXPECT_EQ(rx_scatter_offload(9000, kRoom, RTE_ETH_RX_OFFLOAD_TCP_CKSUM,
                               UINT16_MAX, 9728),
            0u);
  // A port that takes 1500 at most (net_af_packet: max_rx_pktlen 1518)
  // never gets 9000-byte frames.
  EXPECT_EQ(rx_scatter_offload(9000, kRoom, capa, UINT16_MAX, 1518), 0u);
  // Large mbufs hold the whole frame.
  EXPECT_EQ(rx_scatter_offload(9000, 9216, capa, UINT16_MAX, 9728), 0u);
}

TEST(PortMtuTest, MtuTakenWithScatterIsKept) {
  MtuAttempt a = Refused(9000, 0);
  a.rx_room = kRoom;
  a.rx_scatter = true;
  const PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 9000);
  EXPECT_TRUE(m.warning.empty());
  EXPECT_TRUE(m.error.empty()) << m.error;
}

TEST(PortMtuTest, MtuTakenWithoutScatterThatDoesNotFitIsAnError) {
  MtuAttempt a = Refused(9000, 0);
  a.rx_room = kRoom;
  a.max_rx_pktlen = 9728;
  const PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.error,
            "MTU 9000 means frames of up to 9022 bytes, more than one mbuf "
            "holds (2048), and the port cannot receive a frame into several "
            "(no scatter offload); set mtu to at most 2026");
  a.wanted = 2026;
  EXPECT_TRUE(settle_port_mtu(a).error.empty());
  a.wanted = 2027;
  EXPECT_FALSE(settle_port_mtu(a).error.empty());
}

TEST(PortMtuTest, FitIsJudgedOnTheMtuThePortHas) {
  // Refused 9000 and kept 1500: its frames fit, scatter or not.
  MtuAttempt a = Refused(9000, -ENOTSUP);
  a.port_mtu = 1500;
  a.rx_room = kRoom;
  PortMtu m = settle_port_mtu(a);
  EXPECT_EQ(m.mtu, 1500);
  EXPECT_FALSE(m.warning.empty());
  EXPECT_TRUE(m.error.empty()) << m.error;
  // The port carries 9000 but the stack keeps to 1500: what it receives
  // is the peer's, sized by the MSS the stack advertises.
  a = Refused(1500, -EIO);
  a.port_mtu = 9000;
  a.rx_room = kRoom;
  EXPECT_TRUE(settle_port_mtu(a).error.empty());
  // Not checked at all without a room.
  a = Refused(9000, 0);
  EXPECT_TRUE(settle_port_mtu(a).error.empty());
}

}  // namespace
}  // namespace dptls::engine
