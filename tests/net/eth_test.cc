// Ethernet and 802.1Q dispatch: tags accepted, recorded and checked against
// the interface's VLAN; frames not for us dropped by reason; bursts and the
// bounded transmit and delivery queues.
#include <gtest/gtest.h>

#include "dptls/net/stack.h"
#include "net_test_support.h"

namespace dptls::net::testing {
namespace {

Bytes tcp_frame(std::optional<uint16_t> tci = std::nullopt,
                const MacAddr& dst = kOurMac) {
  Bytes f = eth(dst, kPeerMac, 0x0800, tci);
  append(f, ipv4(kPeerIp, kOurIp, 6, Bytes(20, 0x33)));
  return f;
}

Bytes arp_request(std::optional<uint16_t> tci = std::nullopt) {
  Bytes f = eth(MacAddr::broadcast(), kPeerMac, 0x0806, tci);
  append(f, arp(1, kPeerMac, kPeerIp, MacAddr{}, kOurIp));
  return f;
}

class EthTest : public StackTest {};

TEST_F(EthTest, UntaggedAndPriorityTaggedAreVlanZero) {
  rx(tcp_frame());
  rx(tcp_frame(0xe000));  // PCP 7, VID 0
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 2u);
  MbufPtr a(d[0].mbuf);
  MbufPtr b(d[1].mbuf);
  EXPECT_EQ(a->ol_flags & RTE_MBUF_F_RX_VLAN, 0u);
  // The tag is recorded as if the port had stripped it.
  EXPECT_NE(b->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED, 0u);
  EXPECT_EQ(b->vlan_tci, 0xe000);
  EXPECT_EQ(b->l2_len, 18u);
  EXPECT_EQ(to_bytes(a.get()), to_bytes(b.get()));
}

TEST_F(EthTest, TaggedFramesOnOurVlan) {
  NetConfig c = default_config();
  c.vlan_id = 42;
  rebuild(c);
  rx(tcp_frame(42));
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(d[0].mbuf->vlan_tci & 0xfff, 42);

  rx(arp_request(42));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  Bytes want = eth(kPeerMac, kOurMac, 0x0806, 42);
  append(want, arp(2, kOurMac, kOurIp, kPeerMac, kPeerIp));
  EXPECT_EQ(out[0], want);

  rx(tcp_frame());    // untagged: not our VLAN
  rx(tcp_frame(43));  // another VLAN
  EXPECT_EQ(drops(DropReason::kVlanMismatch), 2u);
}

TEST_F(EthTest, PortStrippedTagIsHonoured) {
  NetConfig c = default_config();
  c.vlan_id = 7;
  rebuild(c);
  rte_mbuf* m = make_mbuf(arp_request());
  m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
  m->vlan_tci = 7;
  rx_mbuf(m);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(get16(out[0], 12), 0x8100);
  EXPECT_EQ(get16(out[0], 14), 7);

  // A second tag in the data on top of a stripped one: QinQ, refused.
  m = make_mbuf(tcp_frame(7));
  m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
  m->vlan_tci = 7;
  rx_mbuf(m);
  EXPECT_EQ(drops(DropReason::kVlanStacked), 1u);
}

TEST_F(EthTest, StackedTagsAreDropped) {
  Bytes f = eth(kOurMac, kPeerMac, 0x8100, 0);
  append(f, Bytes({0x00, 0x05, 0x08, 0x00}));
  append(f, ipv4(kPeerIp, kOurIp, 6, Bytes(20, 0)));
  rx(f);
  rx(tcp_frame(std::nullopt, kOurMac));
  Bytes qinq = eth(kOurMac, kPeerMac, 0x88a8);
  append(qinq, Bytes(40, 0));
  rx(qinq);
  EXPECT_EQ(drops(DropReason::kVlanStacked), 2u);
  std::vector<L4Packet> d = deliveries();
  EXPECT_EQ(d.size(), 1u);
  for (L4Packet& p : d) {
    rte_pktmbuf_free(p.mbuf);
  }
}

TEST_F(EthTest, FramesNotForUs) {
  rx(Bytes(13, 0));
  EXPECT_EQ(drops(DropReason::kEthTruncated), 1u);
  Bytes tag_cut = eth(kOurMac, kPeerMac, 0x8100);
  append(tag_cut, Bytes({0, 1, 8}));
  rx(tag_cut);
  EXPECT_EQ(drops(DropReason::kEthTruncated), 2u);
  rx(tcp_frame(std::nullopt, MacAddr{{0x02, 0, 0, 0, 0, 0x77}}));
  EXPECT_EQ(drops(DropReason::kEthNotForUs), 1u);
  Bytes mcast_src = eth(kOurMac, MacAddr{{0x01, 0, 0x5e, 0, 0, 1}}, 0x0800);
  append(mcast_src, ipv4(kPeerIp, kOurIp, 6, Bytes(20, 0)));
  rx(mcast_src);
  EXPECT_EQ(drops(DropReason::kEthBadSource), 1u);
  Bytes lldp = eth(kOurMac, kPeerMac, 0x88cc);
  append(lldp, Bytes(46, 0));
  rx(lldp);
  EXPECT_EQ(drops(DropReason::kEthUnknownType), 1u);
  rx(tcp_frame(), {10});
  EXPECT_EQ(drops(DropReason::kHeaderNotInFirstSegment), 1u);
  EXPECT_TRUE(tx().empty());
  EXPECT_TRUE(deliveries().empty());
  EXPECT_EQ(stack_->stats().rx_packets, 6u);
}

TEST_F(EthTest, BurstOfMixedFrames) {
  std::vector<rte_mbuf*> burst;
  for (int i = 0; i < 32; ++i) {
    switch (i % 4) {
      case 0:
        burst.push_back(make_mbuf(tcp_frame()));
        break;
      case 1:
        burst.push_back(make_mbuf(arp_request()));
        break;
      case 2: {
        Bytes f = eth(kOurMac, kPeerMac, 0x0800);
        append(f, ipv4(kPeerIp, kOurIp, 1, icmp_echo(8, 1, i, {1})));
        burst.push_back(make_mbuf(f));
        break;
      }
      default:
        burst.push_back(make_mbuf(Bytes(20, 0xff)));
        break;
    }
  }
  EXPECT_EQ(stack_->rx(burst.data(), 32, now_), 32);
  EXPECT_EQ(tx().size(), 16u);
  std::vector<L4Packet> d = deliveries();
  EXPECT_EQ(d.size(), 8u);
  for (L4Packet& p : d) {
    rte_pktmbuf_free(p.mbuf);
  }
  EXPECT_EQ(stack_->stats().rx_packets, 32u);
  EXPECT_EQ(stack_->stats().total_drops(), 8u);
}

TEST_F(EthTest, BoundedQueuesDropWhenFull) {
  NetConfig c = default_config();
  c.tx_queue_size = 2;
  c.delivery_queue_size = 2;
  rebuild(c);
  for (int i = 0; i < 3; ++i) {
    rx(arp_request());
    rx(tcp_frame());
  }
  EXPECT_EQ(drops(DropReason::kTxQueueFull), 1u);
  EXPECT_EQ(drops(DropReason::kDeliveryQueueFull), 1u);
  EXPECT_EQ(tx().size(), 2u);
  // Undelivered segments are freed by the stack's destructor.
}

TEST(NetConfigTest, ValidateRejectsBadConfigs) {
  NetConfig c;
  EXPECT_FALSE(c.validate().empty());  // zero MAC
  c.mac = kOurMac;
  EXPECT_TRUE(c.validate().empty());
  c.vlan_id = 4095;
  EXPECT_FALSE(c.validate().empty());
  c.vlan_id = 0;
  c.ipv4 = {Ipv4Interface{Ipv4Addr::of(224, 0, 0, 1), 24}};
  EXPECT_FALSE(c.validate().empty());
  c.ipv4 = {Ipv4Interface{kOurIp, 33}};
  EXPECT_FALSE(c.validate().empty());
  // Addresses the stack refuses as a peer's source are no address of ours.
  for (const Ipv4Addr a :
       {Ipv4Addr::of(0, 1, 2, 3), Ipv4Addr::of(240, 0, 0, 1),
        Ipv4Addr::of(255, 255, 255, 255), Ipv4Addr::of(127, 0, 0, 1)}) {
    c.ipv4 = {Ipv4Interface{a, 24}};
    EXPECT_FALSE(c.validate().empty()) << a.v;
  }
  c.ipv4.clear();
  c.ipv6 = {Ipv6Interface{
      Ipv6Addr{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1}}, 64}};
  EXPECT_FALSE(c.validate().empty());  // IPv4-mapped
  c.ipv6.clear();
  c.mtu = 1000;  // IPv6 link-local is on by default
  EXPECT_FALSE(c.validate().empty());
  c.ipv6_link_local = false;
  EXPECT_TRUE(c.validate().empty());
  c.arp_cache_size = 0;
  EXPECT_FALSE(c.validate().empty());
  std::string error;
  EXPECT_EQ(NetStack::create(c, test_pool(), &error), nullptr);
  EXPECT_FALSE(error.empty());
  c.arp_cache_size = 1;
  EXPECT_EQ(NetStack::create(c, nullptr, &error), nullptr);
  EXPECT_EQ(error, "no mempool");
}

TEST_F(EthTest, StackIsCacheAligned) {
  EXPECT_EQ(alignof(NetStack) % RTE_CACHE_LINE_SIZE, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(stack_.get()) % RTE_CACHE_LINE_SIZE,
            0u);
}

}  // namespace
}  // namespace dptls::net::testing
