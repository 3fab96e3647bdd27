// IPv6 (RFC 8200), Neighbor Discovery (RFC 4861) and ICMPv6 echo
// (RFC 4443) through the stack: exact advertisements, resolution for
// output, extension-header handling and every malformed case by reason.
#include <gtest/gtest.h>

#include "dptls/net/checksum.h"
#include "dptls/net/stack.h"
#include "net_test_support.h"

namespace dptls::net::testing {
namespace {

constexpr uint32_t kSolicited = 0x40000000;
constexpr uint32_t kOverride = 0x20000000;

Bytes frame6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next,
             const Bytes& payload, uint8_t hop = 64,
             const MacAddr& eth_dst = kOurMac) {
  Bytes f = eth(eth_dst, kPeerMac, 0x86dd);
  append(f, ipv6(src, dst, next, payload, hop));
  return f;
}

Bytes ns_frame(const Ipv6Addr& src, const Ipv6Addr& dst, const Ipv6Addr& target,
               std::optional<MacAddr> slla, uint8_t hop = 255,
               uint8_t code = 0) {
  return frame6(src, dst, 58, icmp6(src, dst, 135, code, ns_body(target, slla)),
                hop, dst.is_multicast() ? multicast_mac(dst) : kOurMac);
}

Bytes echo_body(uint16_t id, uint16_t seq, const Bytes& data) {
  Bytes b;
  put16(b, id);
  put16(b, seq);
  append(b, data);
  return b;
}

class Ipv6Test : public StackTest {
 protected:
  static Ipv6Addr our_ll() { return Ipv6Addr::link_local_from_mac(kOurMac); }
  static Ipv6Addr peer_ll() { return Ipv6Addr::link_local_from_mac(kPeerMac); }
  // The NA the stack must send for `target` to `dst` (RFC 4861 4.4).
  static Bytes expected_na(const Ipv6Addr& target, const Ipv6Addr& dst,
                           const MacAddr& eth_dst, uint32_t flags) {
    Bytes f = eth(eth_dst, kOurMac, 0x86dd);
    append(f, ipv6(target, dst, 58,
                   icmp6(target, dst, 136, 0, na_body(flags, target, kOurMac)),
                   255));
    return f;
  }
  rte_mbuf* segment6() { return make_mbuf(Bytes(20, 0x66)); }
  // The echo reply (RFC 4443 4.2) the stack must send to peer_ip6()'s
  // request to our_ip6() carrying `body`.
  static Bytes expected_echo_reply(const Bytes& body) {
    Bytes f = eth(kPeerMac, kOurMac, 0x86dd);
    append(f, ipv6(our_ip6(), peer_ip6(), 58,
                   icmp6(our_ip6(), peer_ip6(), 129, 0, body), 64));
    return f;
  }
};

TEST_F(Ipv6Test, LinkLocalAddressFromMac) {
  // RFC 4291 appendix A: 02:00:00:00:00:02 -> fe80::ff:fe00:2.
  const Ipv6Addr want = ip6({0xfe80, 0, 0, 0, 0x0000, 0x00ff, 0xfe00, 0x0002});
  EXPECT_EQ(our_ll(), want);
  EXPECT_TRUE(stack_->is_local(want));
  EXPECT_TRUE(stack_->is_local(our_ip6()));
}

TEST_F(Ipv6Test, SolicitationGetsExactAdvertisement) {
  rx(ns_frame(peer_ip6(), Ipv6Addr::solicited_node(our_ip6()), our_ip6(),
              kPeerMac));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_na(our_ip6(), peer_ip6(), kPeerMac,
                                kSolicited | kOverride));
  // Independent checksum check over the pseudo-header.
  const Bytes icmp(out[0].begin() + 54, out[0].end());
  EXPECT_EQ(ref_fold_complement(
                ref_sum(icmp, ref_pseudo6(our_ip6(), peer_ip6(), 58, 32))),
            0);
  EXPECT_EQ(stack_->stats().ndp_ns_rx, 1u);
  EXPECT_EQ(stack_->stats().ndp_na_tx, 1u);
  const NeighborEntry* e = stack_->nd_table().find(NeighborKey::of(peer_ip6()));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->mac, kPeerMac);
  EXPECT_EQ(e->state, NeighborState::kStale);  // RFC 4861 7.2.3
}

TEST_F(Ipv6Test, LinkLocalSolicitationUnicastWithoutOption) {
  // A unicast NS may omit the source link-layer option: answer to the
  // frame's source MAC, learn nothing.
  rx(ns_frame(peer_ll(), our_ll(), our_ll(), std::nullopt));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0],
            expected_na(our_ll(), peer_ll(), kPeerMac, kSolicited | kOverride));
  EXPECT_EQ(stack_->nd_table().size(), 0u);
}

TEST_F(Ipv6Test, DuplicateAddressDetectionIsAnsweredToAllNodes) {
  rx(ns_frame(Ipv6Addr{}, Ipv6Addr::solicited_node(our_ip6()), our_ip6(),
              std::nullopt));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_na(our_ip6(), Ipv6Addr::all_nodes(),
                                MacAddr{{0x33, 0x33, 0, 0, 0, 1}}, kOverride));
}

TEST_F(Ipv6Test, SolicitationInTwoSegmentsIsDropped) {
  rx(ns_frame(peer_ip6(), Ipv6Addr::solicited_node(our_ip6()), our_ip6(),
              kPeerMac),
     {70});
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(DropReason::kHeaderNotInFirstSegment), 1u);
}

struct Malformed6 {
  const char* name;
  Bytes frame;
  DropReason reason;
};

Bytes ext(uint8_t next, const Bytes& body) {
  // An extension header: next header, length in 8-octet units beyond the
  // first 8, then `body` (which must make the total a multiple of 8).
  Bytes b = {next, static_cast<uint8_t>((body.size() + 2) / 8 - 1)};
  append(b, body);
  return b;
}

Bytes echo_with_ext(uint8_t first, const Bytes& headers) {
  Bytes payload = headers;
  append(payload, icmp6(peer_ip6(), our_ip6(), 128, 0, echo_body(1, 1, {})));
  return frame6(peer_ip6(), our_ip6(), first, payload);
}

std::vector<Malformed6> malformed6_cases() {
  const Ipv6Addr sol = Ipv6Addr::solicited_node(our_ip6());
  const Ipv6Addr other = ip6({0x2001, 0x0db8, 0, 0, 0, 0, 0, 9});
  std::vector<Malformed6> v;
  Bytes f = frame6(peer_ip6(), our_ip6(), 6, Bytes(20, 0));
  f[14] = 0x40;
  v.push_back({"BadVersion", f, DropReason::kIpv6BadVersion});
  v.push_back({"Truncated", Bytes(f.begin(), f.begin() + 14 + 39),
               DropReason::kIpv6Truncated});
  f = frame6(peer_ip6(), our_ip6(), 6, Bytes(20, 0));
  f[14 + 5] = 21;
  v.push_back({"PayloadLengthBeyondFrame", f,
               DropReason::kIpv6PayloadLengthExceedsFrame});
  v.push_back({"MulticastSource",
               frame6(Ipv6Addr::all_nodes(), our_ip6(), 6, Bytes(20, 0)),
               DropReason::kIpv6BadSource});
  // One of our own addresses as the source is spoofed: not delivered, not
  // learned from (an NS would teach a foreign MAC for our own address).
  v.push_back({"OwnSource", frame6(our_ip6(), our_ip6(), 6, Bytes(20, 0)),
               DropReason::kIpv6BadSource});
  v.push_back({"NsFromOwnSource", ns_frame(our_ip6(), sol, our_ip6(), kPeerMac),
               DropReason::kIpv6BadSource});
  // RFC 4291 2.5.2: the unspecified source is for a node with no address
  // yet (DAD, RFC 4862 5.4); TCP from it would be answered to "::".
  v.push_back({"TcpFromUnspecified",
               frame6(Ipv6Addr{}, our_ip6(), 6, Bytes(20, 0)),
               DropReason::kIpv6BadSource});
  // Only a DAD probe (a Neighbor Solicitation) may come from "::": an echo
  // request, advertisement or too-big report from it is refused.
  v.push_back(
      {"EchoFromUnspecified",
       frame6(Ipv6Addr{}, our_ip6(), 58,
              icmp6(Ipv6Addr{}, our_ip6(), 128, 0, echo_body(1, 1, {}))),
       DropReason::kIpv6BadSource});
  v.push_back({"NaFromUnspecified",
               frame6(Ipv6Addr{}, Ipv6Addr::all_nodes(), 58,
                      icmp6(Ipv6Addr{}, Ipv6Addr::all_nodes(), 136, 0,
                            na_body(kOverride, peer_ip6(), kPeerMac)),
                      255, multicast_mac(Ipv6Addr::all_nodes())),
               DropReason::kIpv6BadSource});
  Bytes ptb;
  put32(ptb, 1280);
  append(ptb, ipv6(our_ip6(), peer_ip6(), 6, tcp_quote(443, 50000, 1)));
  v.push_back({"TooBigFromUnspecified",
               frame6(Ipv6Addr{}, our_ip6(), 58,
                      icmp6(Ipv6Addr{}, our_ip6(), 2, 0, ptb)),
               DropReason::kIpv6BadSource});
  // RFC 4291 2.5.5.2: ::ffff:0:0/96 is for a node's own API; Linux drops
  // it as a source on the wire.
  const Ipv6Addr mapped{
      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1}};
  v.push_back({"TcpFromV4Mapped", frame6(mapped, our_ip6(), 6, Bytes(20, 0)),
               DropReason::kIpv6BadSource});
  v.push_back({"EchoFromV4Mapped",
               frame6(mapped, our_ip6(), 58,
                      icmp6(mapped, our_ip6(), 128, 0, echo_body(1, 1, {}))),
               DropReason::kIpv6BadSource});
  v.push_back({"NotForUs", frame6(peer_ip6(), other, 6, Bytes(20, 0)),
               DropReason::kIpv6NotForUs});
  v.push_back(
      {"OtherSolicitedNodeGroup",
       frame6(peer_ip6(), Ipv6Addr::solicited_node(other), 58, Bytes(24, 0),
              255, multicast_mac(Ipv6Addr::solicited_node(other))),
       DropReason::kIpv6NotForUs});
  v.push_back({"TcpToAllNodes",
               frame6(peer_ip6(), Ipv6Addr::all_nodes(), 6, Bytes(20, 0), 64,
                      multicast_mac(Ipv6Addr::all_nodes())),
               DropReason::kIpv6NotForUs});
  v.push_back({"Udp", frame6(peer_ip6(), our_ip6(), 17, Bytes(8, 0)),
               DropReason::kIpv6UnsupportedProtocol});
  v.push_back({"NoNextHeader", frame6(peer_ip6(), our_ip6(), 59, {}),
               DropReason::kIpv6NoNextHeader});
  // Extension headers (RFC 8200 section 4).
  v.push_back({"UnknownOptionDiscard",
               echo_with_ext(60, ext(58, {0x5e, 4, 0, 0, 0, 0})),
               DropReason::kIpv6UnknownOption});
  v.push_back({"UnknownOptionIcmp",
               echo_with_ext(60, ext(58, {0xc2, 4, 0, 0, 0, 0})),
               DropReason::kIpv6UnknownOption});
  v.push_back({"OptionOverrun", echo_with_ext(0, ext(58, {1, 9, 0, 0, 0, 0})),
               DropReason::kIpv6BadExtensionHeader});
  Bytes dest_then_hbh = ext(0, {1, 4, 0, 0, 0, 0});
  append(dest_then_hbh, ext(58, {1, 4, 0, 0, 0, 0}));
  v.push_back({"HopByHopNotFirst", echo_with_ext(60, dest_then_hbh),
               DropReason::kIpv6BadExtensionHeader});
  v.push_back({"RoutingSegmentsLeft",
               echo_with_ext(43, ext(58, {0, 1, 0, 0, 0, 0})),
               DropReason::kIpv6RoutingHeader});
  v.push_back({"Fragment", echo_with_ext(44, Bytes({58, 0, 0, 1, 0, 0, 0, 7})),
               DropReason::kIpv6Fragment});
  Bytes many;
  for (int i = 0; i < 9; ++i) {
    append(many, ext(i == 8 ? 58 : 60, {1, 4, 0, 0, 0, 0}));
  }
  v.push_back({"TooManyHeaders", echo_with_ext(60, many),
               DropReason::kIpv6TooManyExtensionHeaders});
  v.push_back({"HeaderBeyondPayload",
               frame6(peer_ip6(), our_ip6(), 60, Bytes({58, 3, 1, 4, 0, 0})),
               DropReason::kIpv6BadExtensionHeader});
  // ICMPv6 and ND (RFC 4443 2.3, RFC 4861 7.1.1).
  Bytes bad_sum = ns_frame(peer_ip6(), sol, our_ip6(), kPeerMac);
  bad_sum.back() ^= 1;
  v.push_back({"Icmp6BadChecksum", bad_sum, DropReason::kIcmp6BadChecksum});
  v.push_back({"Icmp6Short",
               frame6(peer_ip6(), our_ip6(), 58, Bytes({128, 0, 0})),
               DropReason::kIcmp6Truncated});
  v.push_back({"RouterSolicitation",
               frame6(peer_ip6(), our_ip6(), 58,
                      icmp6(peer_ip6(), our_ip6(), 133, 0, Bytes(4, 0)), 255),
               DropReason::kIcmp6UnhandledType});
  v.push_back({"NsHopLimit", ns_frame(peer_ip6(), sol, our_ip6(), kPeerMac, 64),
               DropReason::kNdpBadHopLimit});
  v.push_back({"NsCode", ns_frame(peer_ip6(), sol, our_ip6(), kPeerMac, 255, 1),
               DropReason::kNdpBadCode});
  v.push_back(
      {"NsMulticastTarget",
       ns_frame(peer_ip6(), our_ip6(), Ipv6Addr::all_nodes(), std::nullopt),
       DropReason::kNdpMalformed});
  Bytes zero_opt = ns_body(our_ip6(), std::nullopt);
  append(zero_opt, Bytes({1, 0, 0, 0, 0, 0, 0, 0}));
  v.push_back({"NsZeroLengthOption",
               frame6(peer_ip6(), our_ip6(), 58,
                      icmp6(peer_ip6(), our_ip6(), 135, 0, zero_opt), 255),
               DropReason::kNdpMalformed});
  v.push_back({"NsShort",
               frame6(peer_ip6(), our_ip6(), 58,
                      icmp6(peer_ip6(), our_ip6(), 135, 0, Bytes(16, 0)), 255),
               DropReason::kNdpMalformed});
  v.push_back({"DadWithSourceOption",
               ns_frame(Ipv6Addr{}, sol, our_ip6(), kPeerMac),
               DropReason::kNdpMalformed});
  v.push_back({"NsNotOurTarget",
               ns_frame(peer_ip6(), our_ip6(), other, kPeerMac),
               DropReason::kNdpNotOurTarget});
  v.push_back({"NaSolicitedToMulticast",
               frame6(peer_ip6(), Ipv6Addr::all_nodes(), 58,
                      icmp6(peer_ip6(), Ipv6Addr::all_nodes(), 136, 0,
                            na_body(kSolicited, peer_ip6(), kPeerMac)),
                      255, multicast_mac(Ipv6Addr::all_nodes())),
               DropReason::kNdpMalformed});
  return v;
}

class Ipv6MalformedTest : public StackTest,
                          public ::testing::WithParamInterface<Malformed6> {};

TEST_P(Ipv6MalformedTest, DroppedWithReason) {
  const Malformed6& c = GetParam();
  rx(c.frame);
  EXPECT_TRUE(tx().empty());
  EXPECT_TRUE(deliveries().empty());
  EXPECT_EQ(drops(c.reason), 1u) << drop_reason_name(c.reason);
  EXPECT_EQ(stack_->stats().total_drops(), 1u);
}

INSTANTIATE_TEST_SUITE_P(AllReasons, Ipv6MalformedTest,
                         ::testing::ValuesIn(malformed6_cases()),
                         [](const ::testing::TestParamInfo<Malformed6>& i) {
                           return i.param.name;
                         });

TEST_F(Ipv6Test, SkippableExtensionHeadersAreSkipped) {
  // Hop-by-Hop with PadN and Router Alert, Destination Options with an
  // unknown skippable option, a routing header with no segments left.
  Bytes headers = ext(60, {1, 0, 5, 2, 0, 0});  // PadN(0), Router Alert
  append(headers, ext(43, {0x1e, 4, 0, 0, 0, 0}));
  append(headers, ext(58, {0, 0, 0, 0, 0, 0}));  // type 0, segments left 0
  rx(echo_with_ext(0, headers));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(stack_->stats().icmp6_echo_replies_tx, 1u);
  // The reply carries no extension headers.
  EXPECT_EQ(out[0][14 + 6], 58);
}

TEST_F(Ipv6Test, EchoRequestGetsExactReply) {
  const Bytes body = echo_body(0x1234, 9, {'p', 'i', 'n', 'g', 0});
  rx(frame6(peer_ip6(), our_ip6(), 58,
            icmp6(peer_ip6(), our_ip6(), 128, 0, body)));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_echo_reply(body));
}

TEST_F(Ipv6Test, MultiSegmentEcho) {
  Bytes data(3001);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>(i * 13);
  }
  const Bytes body = echo_body(7, 8, data);
  rx(frame6(peer_ip6(), our_ip6(), 58,
            icmp6(peer_ip6(), our_ip6(), 128, 0, body)),
     {14 + 40 + 9, 1001, 3});
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  const Bytes icmp(out[0].begin() + 54, out[0].end());
  EXPECT_EQ(ref_fold_complement(
                ref_sum(icmp, ref_pseudo6(our_ip6(), peer_ip6(), 58,
                                          static_cast<uint32_t>(icmp.size())))),
            0);
  EXPECT_EQ(icmp, icmp6(our_ip6(), peer_ip6(), 129, 0, body));
}

TEST_F(Ipv6Test, EchoToAllNodesIsAnsweredFromLinkLocal) {
  const Bytes body = echo_body(1, 2, {3});
  rx(frame6(peer_ll(), Ipv6Addr::all_nodes(), 58,
            icmp6(peer_ll(), Ipv6Addr::all_nodes(), 128, 0, body), 1,
            multicast_mac(Ipv6Addr::all_nodes())));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  Bytes want = eth(kPeerMac, kOurMac, 0x86dd);
  append(want, ipv6(our_ll(), peer_ll(), 58,
                    icmp6(our_ll(), peer_ll(), 129, 0, body), 64));
  EXPECT_EQ(out[0], want);
}

TEST_F(Ipv6Test, AtomicFragmentIsProcessedWhole) {
  // RFC 8200 4.5, RFC 6946: a Fragment header with offset 0 and M clear
  // carries a whole packet, processed as if reassembled; only real
  // fragments are dropped.
  const Bytes body = echo_body(3, 4, {5, 6});
  Bytes payload = {58, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};  // offset 0, M 0
  append(payload, icmp6(peer_ip6(), our_ip6(), 128, 0, body));
  rx(frame6(peer_ip6(), our_ip6(), 44, payload));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], expected_echo_reply(body));
  EXPECT_EQ(stack_->stats().total_drops(), 0u);

  const Bytes seg(20, 0x5a);
  payload = {6, 0, 0, 0, 0, 0, 0, 1};
  append(payload, seg);
  rx(frame6(peer_ip6(), our_ip6(), 44, payload));
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(d[0].mbuf->l3_len, 48u);
  EXPECT_EQ(to_bytes(d[0].mbuf), seg);
  EXPECT_EQ(checksum_finish(d[0].pseudo_sum),
            ref_fold_complement(ref_pseudo6(peer_ip6(), our_ip6(), 6, 20)));

  // A later fragment (offset 8, M clear) is still dropped.
  payload = {6, 0, 0, 0x40, 0, 0, 0, 1};
  append(payload, seg);
  rx(frame6(peer_ip6(), our_ip6(), 44, payload));
  EXPECT_TRUE(deliveries().empty());
  EXPECT_EQ(drops(DropReason::kIpv6Fragment), 1u);

  // RFC 6980 5: Neighbor Discovery in an atomic fragment is ignored.
  payload = {58, 0, 0, 0, 0, 0, 0, 2};
  append(payload,
         icmp6(peer_ip6(), our_ip6(), 135, 0, ns_body(our_ip6(), kPeerMac)));
  rx(frame6(peer_ip6(), our_ip6(), 44, payload, 255));
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(DropReason::kIpv6Fragment), 2u);
  EXPECT_EQ(stack_->nd_table().size(), 0u);
}

TEST_F(Ipv6Test, TcpIsDeliveredAfterExtensionHeaders) {
  Bytes payload = ext(6, {1, 4, 0, 0, 0, 0});
  const Bytes seg(24, 0x77);
  append(payload, seg);
  Bytes f = eth(kOurMac, kPeerMac, 0x86dd);
  Bytes ip = ipv6(peer_ip6(), our_ip6(), 60, payload);
  ip[1] = 0xa0 | 0x0c;  // traffic class 0x0a, flow label 0xc0000 | ...
  ip[2] = 0x12;
  ip[3] = 0x34;
  append(f, ip);
  rx(f);
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(d[0].family, L3Family::kIpv6);
  EXPECT_EQ(d[0].src6, peer_ip6());
  EXPECT_EQ(d[0].dst6, our_ip6());
  EXPECT_EQ(d[0].tos, 0x0a);
  EXPECT_EQ(d[0].flow_label, 0xc1234u);
  EXPECT_EQ(d[0].mbuf->l3_len, 48u);
  EXPECT_EQ(to_bytes(d[0].mbuf), seg);
  EXPECT_EQ(checksum_finish(d[0].pseudo_sum),
            ref_fold_complement(ref_pseudo6(peer_ip6(), our_ip6(), 6, 24)));
  EXPECT_EQ(stack_->stats().delivered_tcp6, 1u);
}

TEST_F(Ipv6Test, OutputResolvesWithSolicitation) {
  EXPECT_EQ(stack_->output_ipv6(segment6(),
                                {.src = our_ip6(), .dst = peer_ip6()}, now_),
            OutputResult::kParked);
  std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  const Ipv6Addr sol = Ipv6Addr::solicited_node(peer_ip6());
  Bytes want = eth(multicast_mac(sol), kOurMac, 0x86dd);
  append(want, ipv6(our_ip6(), sol, 58,
                    icmp6(our_ip6(), sol, 135, 0, ns_body(peer_ip6(), kOurMac)),
                    255));
  EXPECT_EQ(out[0], want);

  // The solicited advertisement releases the parked packet.
  rx(frame6(peer_ip6(), our_ip6(), 58,
            icmp6(peer_ip6(), our_ip6(), 136, 0,
                  na_body(kSolicited | kOverride, peer_ip6(), kPeerMac)),
            255));
  out = tx();
  ASSERT_EQ(out.size(), 1u);
  Bytes sent = eth(kPeerMac, kOurMac, 0x86dd);
  append(sent, ipv6(our_ip6(), peer_ip6(), 6, Bytes(20, 0x66), 64));
  EXPECT_EQ(out[0], sent);
  EXPECT_EQ(stack_->nd_table().find(NeighborKey::of(peer_ip6()))->state,
            NeighborState::kReachable);
  EXPECT_EQ(stack_->stats().rx_absorbed, 1u);
}

TEST_F(Ipv6Test, LinkLocalOutputSolicitsFromLinkLocal) {
  stack_->output_ipv6(segment6(), {.src = our_ll(), .dst = peer_ll()}, now_);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  // IPv6 source of the NS (RFC 4861 7.2.2: the prompting packet's).
  Ipv6Addr src;
  std::copy(out[0].begin() + 22, out[0].begin() + 38, src.b.begin());
  EXPECT_EQ(src, our_ll());
}

TEST_F(Ipv6Test, UnsolicitedAdvertDoesNotCreateEntries) {
  rx(frame6(peer_ip6(), Ipv6Addr::all_nodes(), 58,
            icmp6(peer_ip6(), Ipv6Addr::all_nodes(), 136, 0,
                  na_body(kOverride, peer_ip6(), kPeerMac)),
            255, multicast_mac(Ipv6Addr::all_nodes())));
  EXPECT_EQ(stack_->nd_table().size(), 0u);
  EXPECT_EQ(stack_->stats().rx_absorbed, 1u);
}

TEST_F(Ipv6Test, OffLinkNeedsAGateway) {
  const Ipv6Addr far = ip6({0x2001, 0x0db9, 0, 0, 0, 0, 0, 1});
  EXPECT_EQ(
      stack_->output_ipv6(segment6(), {.src = our_ip6(), .dst = far}, now_),
      OutputResult::kDropped);
  EXPECT_EQ(drops(DropReason::kNoRoute), 1u);
  NetConfig c = default_config();
  c.ipv6_gateway = peer_ll();
  rebuild(c);
  EXPECT_EQ(
      stack_->output_ipv6(segment6(), {.src = our_ip6(), .dst = far}, now_),
      OutputResult::kParked);
  EXPECT_NE(stack_->nd_table().find(NeighborKey::of(peer_ll())), nullptr);
  tx();
}

TEST_F(Ipv6Test, SpoofedOnLinkSourcesCannotStopOffLinkTraffic) {
  // SYN-ACKs to spoofed sources inside our /64: at most a quarter of the ND
  // cache resolves at once (8 / 4 = 2); the gateway is exempt and resolves.
  NetConfig c = default_config();
  c.nd_cache_size = 8;
  c.ipv6_gateway = peer_ll();
  rebuild(c);
  for (uint16_t host = 0x100; host < 0x120; ++host) {
    const Ipv6Addr spoofed = ip6({0x2001, 0x0db8, 0, 0, 0, 0, 0, host});
    stack_->output_ipv6(segment6(), {.src = our_ip6(), .dst = spoofed}, now_);
  }
  EXPECT_EQ(stack_->nd_table().size(), 2u);
  EXPECT_EQ(drops(DropReason::kNeighborIncompleteLimit), 30u);
  EXPECT_EQ(tx().size(), 2u);  // two solicitations
  const Ipv6Addr far = ip6({0x2001, 0x0db9, 0, 0, 0, 0, 0, 1});
  EXPECT_EQ(
      stack_->output_ipv6(segment6(), {.src = our_ip6(), .dst = far}, now_),
      OutputResult::kParked);
  EXPECT_EQ(tx().size(), 1u);  // the gateway's solicitation
  rx(frame6(peer_ll(), our_ip6(), 58,
            icmp6(peer_ll(), our_ip6(), 136, 0,
                  na_body(kSolicited | kOverride, peer_ll(), kPeerMac)),
            255));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  Bytes sent = eth(kPeerMac, kOurMac, 0x86dd);
  append(sent, ipv6(our_ip6(), far, 6, Bytes(20, 0x66), 64));
  EXPECT_EQ(out[0], sent);
}

// RFC 8201: a Packet Too Big quoting one of our TCP packets goes up to TCP
// with the quoted addresses, the MTU and the quoted TCP bytes.
Bytes packet_too_big(uint32_t mtu, const Bytes& quoted_packet) {
  const Ipv6Addr router = ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe});
  Bytes body;
  put32(body, mtu);
  append(body, quoted_packet);
  return frame6(router, our_ip6(), 58, icmp6(router, our_ip6(), 2, 0, body));
}

TEST_F(Ipv6Test, PacketTooBigAboutOurTcpGoesUp) {
  const Bytes tcp8 = tcp_quote(443, 50000, 0x01020304);
  Bytes tcp = tcp8;
  append(tcp, Bytes(1100, 0xab));  // as much as fits in 1280, RFC 4443 3.2
  rx(packet_too_big(1280, ipv6(our_ip6(), peer_ip6(), 6, tcp)));
  rx(packet_too_big(70000, ipv6(our_ip6(), peer_ip6(), 6, tcp8)));
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 2u);
  for (const L4Packet& p : d) {
    MbufPtr m(p.mbuf);
    EXPECT_EQ(p.family, L3Family::kIpv6);
    EXPECT_EQ(p.protocol, 58);
    EXPECT_EQ(p.src6, our_ip6());
    EXPECT_EQ(p.dst6, peer_ip6());
    const Bytes got = to_bytes(p.mbuf);
    ASSERT_GE(got.size(), 8u);
    EXPECT_EQ(Bytes(got.begin(), got.begin() + 8), tcp8);
  }
  EXPECT_EQ(d[0].mtu, 1280);
  EXPECT_EQ(d[1].mtu, 65535);  // a jumbogram path is at most 64 KB for us
  EXPECT_EQ(stack_->stats().icmp_too_big_rx, 2u);
  EXPECT_EQ(stack_->stats().delivered_tcp6, 0u);
}

TEST_F(Ipv6Test, PacketTooBigBelow1280OrNotAboutOurTcpIsDropped) {
  const Bytes tcp8 = tcp_quote(443, 50000, 0x01020304);
  // RFC 8201 section 4: "must discard it".
  rx(packet_too_big(1279, ipv6(our_ip6(), peer_ip6(), 6, tcp8)));
  EXPECT_EQ(drops(DropReason::kIcmp6TooBigBelowMinMtu), 1u);
  // Not our packet (RFC 5927 4.1), not TCP, or fewer than 8 TCP bytes.
  rx(packet_too_big(1280, ipv6(peer_ip6(), our_ip6(), 6, tcp8)));
  rx(packet_too_big(1280, ipv6(our_ip6(), peer_ip6(), 17, tcp8)));
  rx(packet_too_big(1280, ipv6(our_ip6(), peer_ip6(), 6,
                               Bytes(tcp8.begin(), tcp8.begin() + 4))));
  EXPECT_EQ(drops(DropReason::kIcmp6BadQuote), 3u);
  EXPECT_TRUE(deliveries().empty());
  EXPECT_EQ(stack_->stats().icmp_too_big_rx, 0u);
}

TEST_F(Ipv6Test, MulticastOutputNeedsNoResolution) {
  EXPECT_EQ(
      stack_->output_ipv6(
          segment6(),
          {.src = our_ll(), .dst = Ipv6Addr::all_nodes(), .next_header = 17},
          now_),
      OutputResult::kQueued);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Bytes(out[0].begin(), out[0].begin() + 6),
            Bytes({0x33, 0x33, 0, 0, 0, 1}));
}

}  // namespace
}  // namespace dptls::net::testing
