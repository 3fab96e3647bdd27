// The MTU the stack gets when the port refuses the configured one.
#include "dptls/engine/port_mtu.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dptls::engine
