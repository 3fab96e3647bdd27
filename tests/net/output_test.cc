// The downward seam for TCP: output_ipv4 builds the IPv4 and Ethernet
// headers, picks the next hop and refuses what it cannot send, counted.
#include <gtest/gtest.h>

#include "dptls/net/checksum.h"
#include "dptls/net/stack.h"
#include "net_test_support.h"

namespace dptls::net::testing {
namespace {

class OutputTest : public StackTest {
 protected:
  // Resolves kPeerIp (request, reply: Reachable) and drains what that sent.
  void learn_peer() {
    ASSERT_EQ(stack_->output_ipv4(make_mbuf(Bytes(20, 0)),
                                  {.src = kOurIp, .dst = kPeerIp}, now_),
              OutputResult::kParked);
    Bytes f = eth(kOurMac, kPeerMac, 0x0806);
    append(f, arp(2, kPeerMac, kPeerIp, kOurMac, kOurIp));
    rx(f);
    ASSERT_EQ(tx().size(), 2u);  // the request and the released packet
  }
};

TEST_F(OutputTest, Ipv4HeaderFieldsAndChecksums) {
  learn_peer();
  // A TCP segment whose checksum the "TCP layer" fills with the helpers.
  rte_mbuf* m = make_mbuf(Bytes(20, 0));
  ASSERT_TRUE(
      write_l4_checksum(m, 0, 20, 16, ipv4_pseudo_sum(kOurIp, kPeerIp, 6, 20)));
  EXPECT_EQ(
      stack_->output_ipv4(
          m, {.src = kOurIp, .dst = kPeerIp, .tos = 0x10, .ttl = 7}, now_),
      OutputResult::kQueued);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  const Bytes& f = out[0];
  ASSERT_EQ(f.size(), 54u);
  EXPECT_EQ(Bytes(f.begin(), f.begin() + 14), eth(kPeerMac, kOurMac, 0x0800));
  const Bytes ip(f.begin() + 14, f.begin() + 34);
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(ip[1], 0x10);
  EXPECT_EQ(get16(ip, 2), 40);
  EXPECT_EQ(get16(ip, 6), 0x4000);  // DF
  EXPECT_EQ(ip[8], 7);
  EXPECT_EQ(ip[9], 6);
  EXPECT_EQ(ref_checksum(ip), 0);
  const Bytes tcp(f.begin() + 34, f.end());
  EXPECT_EQ(
      ref_fold_complement(ref_sum(tcp, ref_pseudo4(kOurIp, kPeerIp, 6, 20))),
      0);
}

TEST_F(OutputTest, OffLinkGoesToGatewayOrIsUnroutable) {
  const Ipv4Addr far = Ipv4Addr::of(198, 19, 5, 5);
  EXPECT_EQ(stack_->output_ipv4(make_mbuf(Bytes(20, 0)),
                                {.src = kOurIp, .dst = far}, now_),
            OutputResult::kDropped);
  EXPECT_EQ(drops(DropReason::kNoRoute), 1u);

  NetConfig c = default_config();
  c.ipv4_gateway = kPeerIp;
  rebuild(c);
  learn_peer();
  EXPECT_EQ(stack_->output_ipv4(make_mbuf(Bytes(20, 0)),
                                {.src = kOurIp, .dst = far}, now_),
            OutputResult::kQueued);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Bytes(out[0].begin(), out[0].begin() + 6), mac_bytes(kPeerMac));
  EXPECT_EQ(Bytes(out[0].begin() + 30, out[0].begin() + 34),
            Bytes({198, 19, 5, 5}));
}

TEST_F(OutputTest, TooLargeAndNoHeadroom) {
  EXPECT_EQ(stack_->output_ipv4(make_mbuf(Bytes(1481, 0)),
                                {.src = kOurIp, .dst = kPeerIp}, now_),
            OutputResult::kDropped);
  EXPECT_EQ(drops(DropReason::kOutputTooLarge), 1u);

  rte_mbuf* m = make_mbuf(Bytes(20, 0));
  rte_pktmbuf_prepend(m, rte_pktmbuf_headroom(m) - 10);
  rte_pktmbuf_trim(m, rte_pktmbuf_data_len(m) - 20);
  ASSERT_LT(rte_pktmbuf_headroom(m), 20);
  EXPECT_EQ(stack_->output_ipv4(m, {.src = kOurIp, .dst = kPeerIp}, now_),
            OutputResult::kDropped);
  EXPECT_EQ(drops(DropReason::kNoHeadroom), 1u);
}

TEST_F(OutputTest, BroadcastAndMulticastAreMapped) {
  EXPECT_EQ(
      stack_->output_ipv4(
          make_mbuf(Bytes(8, 0)),
          {.src = kOurIp, .dst = Ipv4Addr::of(198, 18, 0, 255), .protocol = 17},
          now_),
      OutputResult::kQueued);
  EXPECT_EQ(
      stack_->output_ipv4(
          make_mbuf(Bytes(8, 0)),
          {.src = kOurIp, .dst = Ipv4Addr::of(239, 1, 2, 3), .protocol = 17},
          now_),
      OutputResult::kQueued);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Bytes(out[0].begin(), out[0].begin() + 6),
            mac_bytes(MacAddr::broadcast()));
  EXPECT_EQ(Bytes(out[1].begin(), out[1].begin() + 6),
            Bytes({0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}));
  EXPECT_EQ(stack_->arp_table().size(), 0u);
}

TEST_F(OutputTest, ChainedSegmentIsSentWhole) {
  learn_peer();
  Bytes payload(3000);
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<uint8_t>(i);
  }
  NetConfig c = default_config();
  c.mtu = 9000;
  rebuild(c);
  learn_peer();
  EXPECT_EQ(stack_->output_ipv4(make_mbuf(payload, {100, 1400}),
                                {.src = kOurIp, .dst = kPeerIp}, now_),
            OutputResult::kQueued);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Bytes(out[0].begin() + 34, out[0].end()), payload);
}

TEST_F(OutputTest, DestructorFreesParkedPackets) {
  stack_->output_ipv4(make_mbuf(Bytes(20, 0)), {.src = kOurIp, .dst = kPeerIp},
                      now_);
  stack_->output_ipv6(make_mbuf(Bytes(20, 0)),
                      {.src = our_ip6(), .dst = peer_ip6()}, now_);
  EXPECT_GT(mbufs_in_use(), 0u);
  // Nothing drained: the requests and the parked packets are all freed when
  // the stack goes (the leak check in the fixture verifies it).
}

}  // namespace
}  // namespace dptls::net::testing
