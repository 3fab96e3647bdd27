// ARP (RFC 826) through the stack: the responder's exact bytes, cache
// learning rules, and resolution for output with its queue limit,
// retransmission, rate limit, expiry and probing.
#include <gtest/gtest.h>

#include "dptls/net/stack.h"
#include "net_test_support.h"

namespace dptls::net::testing {
namespace {

class ArpTest : public StackTest {
 protected:
  Bytes arp_frame(uint16_t op, const MacAddr& eth_dst, const MacAddr& sha,
                  Ipv4Addr spa, const MacAddr& tha, Ipv4Addr tpa) {
    Bytes f = eth(eth_dst, sha, 0x0806);
    append(f, arp(op, sha, spa, tha, tpa));
    return f;
  }
  Bytes request_for_us() {
    Bytes f = arp_frame(1, MacAddr::broadcast(), kPeerMac, kPeerIp, MacAddr{},
                        kOurIp);
    f.resize(60, 0);  // minimum Ethernet frame with padding
    return f;
  }
  // An upper-layer segment for output_ipv4 (a fake 20-byte TCP header).
  static rte_mbuf* segment(uint8_t tag) {
    Bytes tcp(20, tag);
    return make_mbuf(tcp);
  }
  OutputResult send_to(Ipv4Addr dst, uint8_t tag = 0x11) {
    return stack_->output_ipv4(segment(tag), {.src = kOurIp, .dst = dst}, now_);
  }
  static Bytes expected_request(Ipv4Addr target,
                                const MacAddr& to = MacAddr::broadcast()) {
    Bytes f = eth(to, kOurMac, 0x0806);
    append(f, arp(1, kOurMac, kOurIp, MacAddr{}, target));
    return f;
  }
};

TEST_F(ArpTest, RequestForUsGetsExactReply) {
  rx(request_for_us());
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  Bytes want = eth(kPeerMac, kOurMac, 0x0806);
  append(want, arp(2, kOurMac, kOurIp, kPeerMac, kPeerIp));
  EXPECT_EQ(out[0], want);
  EXPECT_EQ(stack_->stats().arp_requests_rx, 1u);
  EXPECT_EQ(stack_->stats().arp_replies_tx, 1u);
  EXPECT_EQ(stack_->stats().total_drops(), 0u);
  // RFC 826: the requester was learned (Stale: unconfirmed).
  const NeighborEntry* e = stack_->arp_table().find(NeighborKey::of(kPeerIp));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->mac, kPeerMac);
  EXPECT_EQ(e->state, NeighborState::kStale);
}

TEST_F(ArpTest, RequestSpanningSegmentsIsDropped) {
  // The ARP body starts in the first segment and ends in the second.
  rx(request_for_us(), {20});
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(DropReason::kHeaderNotInFirstSegment), 1u);
}

TEST_F(ArpTest, RequestWithChainedPaddingIsAnswered) {
  // Headers in the first segment, padding in a second: fine, and the reply
  // does not carry the extra segment.
  rx(request_for_us(), {42});
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].size(), 42u);
}

TEST_F(ArpTest, RequestForOthersIsNotAnsweredNorLearned) {
  rx(arp_frame(1, MacAddr::broadcast(), kPeerMac, kPeerIp, MacAddr{},
               Ipv4Addr::of(198, 18, 0, 77)));
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(DropReason::kArpNotForUs), 1u);
  EXPECT_EQ(stack_->arp_table().find(NeighborKey::of(kPeerIp)), nullptr);
}

TEST_F(ArpTest, MalformedArpIsDroppedByReason) {
  Bytes f = request_for_us();
  f[14] = 0x01;  // hardware type 0x0101
  rx(f);
  EXPECT_EQ(drops(DropReason::kArpUnsupportedFormat), 1u);

  f = request_for_us();
  f[14 + 7] = 9;  // opcode 9
  rx(f);
  EXPECT_EQ(drops(DropReason::kArpBadOpcode), 1u);

  rx(arp_frame(1, MacAddr::broadcast(), kPeerMac, kOurIp, MacAddr{},
               kOurIp));  // someone claims our address
  EXPECT_EQ(drops(DropReason::kArpBadSender), 1u);

  rx(arp_frame(1, MacAddr::broadcast(), kPeerMac, Ipv4Addr::of(198, 18, 0, 255),
               MacAddr{}, kOurIp));
  EXPECT_EQ(drops(DropReason::kArpBadSender), 2u);

  // Every sender IPv4 refuses as a source (RFC 1122 3.2.1.3, RFC 1812
  // 5.3.7), 0.0.0.0 itself aside (a probe): never answered nor learned.
  for (const Ipv4Addr spa :
       {Ipv4Addr::of(0, 1, 2, 3), Ipv4Addr::of(240, 0, 0, 1),
        Ipv4Addr::of(255, 255, 255, 255), Ipv4Addr::of(127, 0, 0, 1),
        Ipv4Addr::of(224, 0, 0, 1)}) {
    rx(arp_frame(1, MacAddr::broadcast(), kPeerMac, spa, MacAddr{}, kOurIp));
    EXPECT_EQ(stack_->arp_table().find(NeighborKey::of(spa)), nullptr) << spa.v;
  }
  EXPECT_EQ(drops(DropReason::kArpBadSender), 7u);

  Bytes shortf = request_for_us();
  shortf.resize(14 + 27);
  rx(shortf);
  EXPECT_EQ(drops(DropReason::kArpTruncated), 1u);
  EXPECT_TRUE(tx().empty());
}

TEST_F(ArpTest, ProbeIsAnsweredButNotLearned) {
  // RFC 5227 ARP probe: sender address 0.0.0.0.
  rx(arp_frame(1, MacAddr::broadcast(), kPeerMac, Ipv4Addr{}, MacAddr{},
               kOurIp));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  Bytes want = eth(kPeerMac, kOurMac, 0x0806);
  append(want, arp(2, kOurMac, kOurIp, kPeerMac, Ipv4Addr{}));
  EXPECT_EQ(out[0], want);
  EXPECT_EQ(stack_->arp_table().size(), 0u);
}

TEST_F(ArpTest, ResolveQueuesSendsRequestAndReleasesOnReply) {
  EXPECT_EQ(send_to(kPeerIp, 0x11), OutputResult::kParked);
  EXPECT_EQ(send_to(kPeerIp, 0x22), OutputResult::kParked);
  std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_request(kPeerIp));

  rx(arp_frame(2, kOurMac, kPeerMac, kPeerIp, kOurMac, kOurIp));
  out = tx();
  ASSERT_EQ(out.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    // Ethernet to the learned MAC, IPv4 header, then the segment in order.
    EXPECT_EQ(Bytes(out[i].begin(), out[i].begin() + 6), mac_bytes(kPeerMac));
    EXPECT_EQ(get16(out[i], 12), 0x0800);
    EXPECT_EQ(out[i].size(), 14u + 20u + 20u);
    EXPECT_EQ(out[i].back(), i == 0 ? 0x11 : 0x22);
    const Bytes ip(out[i].begin() + 14, out[i].begin() + 34);
    EXPECT_EQ(ref_checksum(ip), 0);
  }
  EXPECT_EQ(stack_->stats().neighbor_released, 2u);
  EXPECT_EQ(stack_->stats().rx_absorbed, 1u);
  EXPECT_EQ(stack_->arp_table().find(NeighborKey::of(kPeerIp))->state,
            NeighborState::kReachable);
  // Resolved now: straight to the transmit queue.
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kQueued);
  EXPECT_EQ(tx().size(), 1u);
}

TEST_F(ArpTest, QueueLimitDropsAndCounts) {
  // neighbor_queue_len defaults to 4.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(send_to(kPeerIp), OutputResult::kParked);
  }
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kDropped);
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kDropped);
  EXPECT_EQ(drops(DropReason::kNeighborQueueFull), 2u);
  EXPECT_EQ(tx().size(), 1u);  // one request
}

TEST_F(ArpTest, RetransmitsEverySecondThenGivesUp) {
  send_to(kPeerIp);
  send_to(kPeerIp);
  EXPECT_EQ(tx().size(), 1u);
  advance_ms(500);
  EXPECT_TRUE(tx().empty());
  advance_ms(500);
  EXPECT_EQ(tx().size(), 1u);
  advance_ms(1000);
  EXPECT_EQ(tx().size(), 1u);
  advance_ms(1000);
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(DropReason::kNeighborUnresolved), 2u);
  EXPECT_EQ(stack_->arp_table().size(), 0u);
  EXPECT_EQ(stack_->stats().arp_requests_tx, 3u);
  EXPECT_EQ(stack_->stats().neighbor_expired, 1u);
}

TEST_F(ArpTest, RequestsAreRateLimited) {
  NetConfig c = default_config();
  c.requests_per_sec = 2;
  c.request_burst = 2;
  rebuild(c);
  for (uint8_t i = 10; i < 15; ++i) {
    send_to(Ipv4Addr::of(198, 18, 0, i));
  }
  EXPECT_EQ(tx().size(), 2u);
  EXPECT_EQ(stack_->stats().requests_rate_limited, 3u);
  // Half a second refills one token: the oldest waiting entry gets it.
  advance_ms(500);
  EXPECT_EQ(tx().size(), 1u);
}

TEST_F(ArpTest, ExpiredEntryIsProbedByUnicastAndForgottenWhenSilent) {
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kParked);
  rx(arp_frame(2, kOurMac, kPeerMac, kPeerIp, kOurMac, kOurIp));
  EXPECT_EQ(tx().size(), 2u);  // the request and the released packet
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kQueued);
  EXPECT_EQ(tx().size(), 1u);
  advance_ms(30'000);  // reachable time
  EXPECT_EQ(stack_->arp_table().find(NeighborKey::of(kPeerIp))->state,
            NeighborState::kStale);
  // Used while Stale: sent at once, plus a unicast probe (RFC 1122
  // 2.3.2.1, RFC 4861 7.3.3).
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kQueued);
  std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], expected_request(kPeerIp, kPeerMac));
  EXPECT_EQ(get16(out[1], 12), 0x0800);
  for (int i = 0; i < 3; ++i) {
    advance_ms(1000);
  }
  EXPECT_EQ(tx().size(), 2u);  // probes 2 and 3
  EXPECT_EQ(stack_->arp_table().find(NeighborKey::of(kPeerIp)), nullptr);
  // Next use starts over with a broadcast request.
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kParked);
  out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_request(kPeerIp));
}

TEST_F(ArpTest, UnusedEntryExpires) {
  rx(request_for_us());
  tx();
  EXPECT_EQ(stack_->arp_table().size(), 1u);
  advance_ms(59'999);
  EXPECT_EQ(stack_->arp_table().size(), 1u);
  advance_ms(1);
  EXPECT_EQ(stack_->arp_table().size(), 0u);
}

TEST_F(ArpTest, GratuitousArpUpdatesKnownEntry) {
  rx(arp_frame(2, kOurMac, kPeerMac, kPeerIp, kOurMac, kOurIp));
  const MacAddr moved{{0x02, 0, 0, 0, 0, 0x42}};
  // Gratuitous request: sender == target, broadcast.
  rx(arp_frame(1, MacAddr::broadcast(), moved, kPeerIp, MacAddr{}, kPeerIp));
  EXPECT_EQ(stack_->arp_table().find(NeighborKey::of(kPeerIp))->mac, moved);
  EXPECT_TRUE(tx().empty());
}

TEST_F(ArpTest, TableSizeIsConfigurable) {
  NetConfig c = default_config();
  c.arp_cache_size = 2;
  c.neighbor_max_incomplete = 3;  // no limit below the table's
  rebuild(c);
  EXPECT_EQ(stack_->arp_table().capacity(), 2u);
  send_to(Ipv4Addr::of(198, 18, 0, 10));
  send_to(Ipv4Addr::of(198, 18, 0, 11));
  EXPECT_EQ(send_to(Ipv4Addr::of(198, 18, 0, 12)), OutputResult::kDropped);
  EXPECT_EQ(drops(DropReason::kNeighborTableFull), 1u);
  tx();
}

TEST_F(ArpTest, UnsolicitedRepliesCannotPinTheTable) {
  // ARP replies we never asked for (no entry was resolving) from spoofed
  // senders: learned as Stale (unconfirmed), so they cannot hold every
  // entry against the resolutions we need.
  NetConfig c = default_config();
  c.arp_cache_size = 2;
  rebuild(c);
  for (uint8_t host : {uint8_t{50}, uint8_t{51}}) {
    const MacAddr spoofed{{0x02, 0, 0, 0, 0, host}};
    rx(arp_frame(2, kOurMac, spoofed, Ipv4Addr::of(198, 18, 0, host), kOurMac,
                 kOurIp));
    const NeighborEntry* e = stack_->arp_table().find(
        NeighborKey::of(Ipv4Addr::of(198, 18, 0, host)));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->state, NeighborState::kStale);
    // Nor does a second one: only an answer to our own request confirms.
    rx(arp_frame(2, kOurMac, spoofed, Ipv4Addr::of(198, 18, 0, host), kOurMac,
                 kOurIp));
    EXPECT_EQ(e->state, NeighborState::kStale);
  }
  EXPECT_EQ(stack_->arp_table().size(), 2u);
  EXPECT_EQ(send_to(kPeerIp), OutputResult::kParked);
  EXPECT_EQ(drops(DropReason::kNeighborTableFull), 0u);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_request(kPeerIp));
}

TEST_F(ArpTest, SpoofedSourcesCannotStopOffLinkTraffic) {
  // SYN-ACKs to spoofed sources inside our prefix (198.18.0.0/24): each
  // would start a resolution nobody answers. At most a quarter of the cache
  // may resolve at once; the rest are dropped and counted, and the gateway
  // still gets an entry even with the table full.
  const Ipv4Addr gateway = Ipv4Addr::of(198, 18, 0, 254);
  const MacAddr gateway_mac{{0x02, 0, 0, 0, 0, 0xfe}};
  NetConfig c = default_config();
  c.arp_cache_size = 8;
  c.ipv4_gateway = gateway;
  rebuild(c);
  // Six neighbours resolved and confirmed (Reachable: not reclaimable).
  for (uint8_t host = 50; host < 56; ++host) {
    const MacAddr mac{{0x02, 0, 0, 0, 1, host}};
    const Ipv4Addr ip = Ipv4Addr::of(198, 18, 0, host);
    ASSERT_EQ(send_to(ip), OutputResult::kParked);
    rx(arp_frame(2, kOurMac, mac, ip, kOurMac, kOurIp));
    ASSERT_EQ(stack_->arp_table().find(NeighborKey::of(ip))->state,
              NeighborState::kReachable);
  }
  tx();
  for (uint8_t host = 10; host < 40; ++host) {
    send_to(Ipv4Addr::of(198, 18, 0, host));
  }
  EXPECT_EQ(stack_->arp_table().incomplete(), 2u);
  EXPECT_EQ(drops(DropReason::kNeighborIncompleteLimit), 28u);
  EXPECT_EQ(drops(DropReason::kNeighborTableFull), 0u);
  tx();
  ASSERT_EQ(stack_->arp_table().size(), 8u);
  // Off-link: resolves the gateway, which displaces a spoofed resolution
  // (its parked packet is dropped once, as unresolved).
  EXPECT_EQ(send_to(Ipv4Addr::of(203, 0, 113, 9), 0x77), OutputResult::kParked);
  EXPECT_EQ(drops(DropReason::kNeighborUnresolved), 1u);
  std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_request(gateway));
  rx(arp_frame(2, kOurMac, gateway_mac, gateway, kOurMac, kOurIp));
  out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Bytes(out[0].begin(), out[0].begin() + 6),
            Bytes(gateway_mac.b.begin(), gateway_mac.b.end()));
  EXPECT_EQ(get16(out[0], 12), 0x0800);
  EXPECT_EQ(drops(DropReason::kNeighborUnresolved), 1u);
}

// Several workers: a reply to one worker's request may reach another, which
// copies it over (NetStack::learn_from): learned, never answered.
class SharedNeighborTest : public ArpTest {};

TEST_F(SharedNeighborTest, ASharedReplyReleasesParkedPacketsWithoutAnAnswer) {
  EXPECT_EQ(send_to(kPeerIp, 0x33), OutputResult::kParked);
  ASSERT_EQ(tx().size(), 1u);  // our request
  const Bytes reply = arp_frame(2, kOurMac, kPeerMac, kPeerIp, kOurMac, kOurIp);
  rte_mbuf* m = make_mbuf(reply);
  ASSERT_TRUE(NetStack::is_neighbor_frame(m));
  stack_->learn_from(m, now_);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u) << "only the parked packet leaves";
  EXPECT_EQ(out[0].back(), 0x33);
  EXPECT_EQ(stack_->stats().neighbor_shared_rx, 1u);
  EXPECT_EQ(stack_->arp_table().find(NeighborKey::of(kPeerIp))->state,
            NeighborState::kReachable);
}

TEST_F(SharedNeighborTest, ASharedRequestTeachesTheSenderButIsNotAnswered) {
  stack_->learn_from(make_mbuf(request_for_us()), now_);
  EXPECT_TRUE(tx().empty()) << "the worker that received it answers";
  EXPECT_EQ(stack_->stats().arp_replies_tx, 0u);
  const NeighborEntry* e = stack_->arp_table().find(NeighborKey::of(kPeerIp));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->mac, kPeerMac);
}

TEST_F(SharedNeighborTest, OnlyArpAndNeighborDiscoveryAreShared) {
  Bytes ip4 = eth(kOurMac, kPeerMac, 0x0800);
  ip4.resize(60, 0);
  rte_mbuf* m = make_mbuf(ip4);
  EXPECT_FALSE(NetStack::is_neighbor_frame(m));
  // learn_from() refuses it (counted), whatever it carries.
  stack_->learn_from(m, now_);
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(stack_->stats().drop(DropReason::kEthUnknownType), 1u);
  EXPECT_EQ(stack_->stats().neighbor_shared_rx, 0u);
  // A tagged ARP frame is one; an IPv6 frame carrying ICMPv6 type 135/136
  // is one, an echo request (128) is not.
  Bytes tagged = eth(MacAddr::broadcast(), kPeerMac, 0x8100);
  append(tagged, Bytes{0x00, 0x07, 0x08, 0x06});
  append(tagged, arp(1, kPeerMac, kPeerIp, MacAddr{}, kOurIp));
  rte_mbuf* t = make_mbuf(tagged);
  EXPECT_TRUE(NetStack::is_neighbor_frame(t));
  rte_pktmbuf_free(t);
  for (uint8_t type : {uint8_t{135}, uint8_t{136}, uint8_t{128}}) {
    Bytes f = eth(kOurMac, kPeerMac, 0x86dd);
    Bytes ip6(40, 0);
    ip6[0] = 0x60;
    ip6[6] = 58;
    append(f, ip6);
    append(f, Bytes{type, 0, 0, 0, 0, 0, 0, 0});
    rte_mbuf* x = make_mbuf(f);
    EXPECT_EQ(NetStack::is_neighbor_frame(x), type != 128) << int{type};
    rte_pktmbuf_free(x);
  }
}

}  // namespace
}  // namespace dptls::net::testing
