// IPv4 input (RFC 791, RFC 1122 3.2.1) and ICMP echo (RFC 792): every
// malformed datagram is dropped under its own reason, good ones are
// delivered with their L3 facts, and echo requests are answered with
// checksums verified by the test's own implementation.
#include <gtest/gtest.h>

#include "dptls/net/checksum.h"
#include "dptls/net/stack.h"
#include "net_test_support.h"

namespace dptls::net::testing {
namespace {

Bytes tcp_segment(size_t payload = 8) {
  Bytes seg(20 + payload);
  for (size_t i = 0; i < seg.size(); ++i) {
    seg[i] = static_cast<uint8_t>(i + 1);
  }
  return seg;
}

Bytes frame4(const Bytes& ip_packet) {
  Bytes f = eth(kOurMac, kPeerMac, 0x0800);
  append(f, ip_packet);
  return f;
}

class Ipv4Test : public StackTest {};

TEST_F(Ipv4Test, TcpIsDeliveredWithL3Info) {
  Ipv4Opts o;
  o.tos = 0x02;  // ECT(0)
  o.ttl = 0;     // RFC 1122 3.2.1.7: fine for us
  const Bytes seg = tcp_segment(0);
  Bytes f = frame4(ipv4(kPeerIp, kOurIp, 6, seg, o));
  ASSERT_EQ(f.size(), 54u);
  f.resize(60, 0xee);  // Ethernet padding to the minimum frame
  rx(f);
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(d[0].family, L3Family::kIpv4);
  EXPECT_EQ(d[0].protocol, 6);
  EXPECT_EQ(d[0].ttl, 0);
  EXPECT_EQ(d[0].tos, 0x02);
  EXPECT_EQ(d[0].src4, kPeerIp);
  EXPECT_EQ(d[0].dst4, kOurIp);
  // Data starts at the TCP header; the padding is gone.
  EXPECT_EQ(to_bytes(d[0].mbuf), seg);
  EXPECT_EQ(d[0].mbuf->l2_len, 14u);
  EXPECT_EQ(d[0].mbuf->l3_len, 20u);
  EXPECT_EQ(checksum_finish(d[0].pseudo_sum),
            ref_fold_complement(ref_pseudo4(kPeerIp, kOurIp, 6, 20)));
  EXPECT_EQ(stack_->stats().delivered_tcp4, 1u);
  EXPECT_EQ(stack_->stats().total_drops(), 0u);
}

TEST_F(Ipv4Test, OptionsAreSkipped) {
  Ipv4Opts o;
  o.options = {0x01, 0x01, 0x01, 0x00};  // NOP NOP NOP EOL
  const Bytes seg = tcp_segment();
  rx(frame4(ipv4(kPeerIp, kOurIp, 6, seg, o)));
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(to_bytes(d[0].mbuf), seg);
  EXPECT_EQ(d[0].mbuf->l3_len, 24u);
}

TEST_F(Ipv4Test, MultiSegmentPayloadIsDeliveredWhole) {
  const Bytes seg = tcp_segment(3000);
  rx(frame4(ipv4(kPeerIp, kOurIp, 6, seg)), {100, 1000, 1});
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(to_bytes(d[0].mbuf), seg);
  EXPECT_EQ(d[0].mbuf->nb_segs, 4);
}

TEST_F(Ipv4Test, PaddingInItsOwnSegmentIsFreed) {
  const Bytes seg = tcp_segment(2);
  Bytes f = frame4(ipv4(kPeerIp, kOurIp, 6, seg));
  const size_t real = f.size();
  f.resize(real + 30, 0);
  rx(f, {real});
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(d[0].mbuf->nb_segs, 1);
  EXPECT_EQ(to_bytes(d[0].mbuf), seg);
}

TEST_F(Ipv4Test, HardwareChecksumVerdictIsTrusted) {
  Ipv4Opts bad;
  bad.corrupt_checksum = true;
  rte_mbuf* m = make_mbuf(frame4(ipv4(kPeerIp, kOurIp, 6, tcp_segment(), bad)));
  m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  rx_mbuf(m);
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);

  m = make_mbuf(frame4(ipv4(kPeerIp, kOurIp, 6, tcp_segment())));
  m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
  rx_mbuf(m);
  EXPECT_EQ(drops(DropReason::kIpv4BadChecksum), 1u);
}

TEST_F(Ipv4Test, L4ChecksumHelperUsesPseudoHeader) {
  Bytes seg = tcp_segment(11);
  seg[16] = 0;
  seg[17] = 0;
  const uint16_t c = ref_fold_complement(ref_sum(
      seg, ref_pseudo4(kPeerIp, kOurIp, 6, static_cast<uint16_t>(seg.size()))));
  seg[16] = static_cast<uint8_t>(c >> 8);
  seg[17] = static_cast<uint8_t>(c);
  rx(frame4(ipv4(kPeerIp, kOurIp, 6, seg)), {40});
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_TRUE(l4_checksum_ok(d[0]));
  rte_pktmbuf_mtod(rte_pktmbuf_lastseg(d[0].mbuf), uint8_t*)[0] ^= 1;
  EXPECT_FALSE(l4_checksum_ok(d[0]));
  d[0].mbuf->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  EXPECT_TRUE(l4_checksum_ok(d[0]));
}

struct Malformed {
  const char* name;
  Bytes frame;
  DropReason reason;
  std::vector<size_t> segments = {};
};

std::vector<Malformed> malformed_cases() {
  const Bytes seg = tcp_segment();
  std::vector<Malformed> v;
  auto with = [&](const char* name, const Ipv4Opts& o, DropReason r) {
    v.push_back({name, frame4(ipv4(kPeerIp, kOurIp, 6, seg, o)), r});
  };
  Ipv4Opts o;
  o.version_ihl = 0x65;
  with("BadVersion", o, DropReason::kIpv4BadVersion);
  o = {};
  o.version_ihl = 0x44;
  with("ShortIhl", o, DropReason::kIpv4BadIhl);
  o = {};
  o.version_ihl = 0x4f;  // 60-byte header in a 48-byte datagram
  with("IhlBeyondPacket", o, DropReason::kIpv4Truncated);
  o = {};
  o.total_len = 19;
  with("TotalLengthBelowHeader", o, DropReason::kIpv4BadTotalLength);
  o = {};
  o.total_len = 49;
  with("TotalLengthBeyondFrame", o, DropReason::kIpv4TotalLengthExceedsFrame);
  o = {};
  o.corrupt_checksum = true;
  with("BadChecksum", o, DropReason::kIpv4BadChecksum);
  o = {};
  o.frag = 0x2000;  // MF
  with("FirstFragment", o, DropReason::kIpv4Fragment);
  o = {};
  o.frag = 0x0010;  // offset 128
  with("LaterFragment", o, DropReason::kIpv4Fragment);

  v.push_back(
      {"Truncated", frame4(Bytes(19, 0x45)), DropReason::kIpv4Truncated});
  v.push_back({"HeaderAcrossSegments",
               frame4(ipv4(kPeerIp, kOurIp, 6, seg)),
               DropReason::kHeaderNotInFirstSegment,
               {30}});
  // RFC 1122 3.2.1.3 / RFC 1812 5.3.7 (Linux's martians): multicast, a
  // directed broadcast, loopback, "this network" 0.0.0.0/8, class E
  // 240.0.0.0/4 and the limited broadcast are never a source on the wire.
  const struct {
    const char* name;
    Ipv4Addr src;
  } bad_sources[] = {
      {"MulticastSource", Ipv4Addr::of(224, 0, 0, 1)},
      {"BroadcastSource", Ipv4Addr::of(198, 18, 0, 255)},
      {"LoopbackSource", Ipv4Addr::of(127, 0, 0, 1)},
      {"ZeroSource", Ipv4Addr{}},
      {"ThisNetworkSource", Ipv4Addr::of(0, 1, 2, 3)},
      {"ClassESource", Ipv4Addr::of(240, 0, 0, 1)},
      {"LimitedBroadcastSource", Ipv4Addr::of(255, 255, 255, 255)},
  };
  for (const auto& b : bad_sources) {
    v.push_back({b.name, frame4(ipv4(b.src, kOurIp, 6, seg)),
                 DropReason::kIpv4BadSource});
  }
  v.push_back({"EchoFromClassE",
               frame4(ipv4(Ipv4Addr::of(254, 1, 2, 3), kOurIp, 1,
                           icmp_echo(8, 1, 1, {}))),
               DropReason::kIpv4BadSource});
  // A datagram from the wire that claims one of our addresses as its
  // source is spoofed (a "land" attack): never delivered, never answered.
  v.push_back({"OwnSource", frame4(ipv4(kOurIp, kOurIp, 6, seg)),
               DropReason::kIpv4BadSource});
  v.push_back({"EchoFromOwnSource",
               frame4(ipv4(kOurIp, kOurIp, 1, icmp_echo(8, 1, 1, {}))),
               DropReason::kIpv4BadSource});
  v.push_back({"NotForUs",
               frame4(ipv4(kPeerIp, Ipv4Addr::of(198, 18, 0, 9), 6, seg)),
               DropReason::kIpv4NotForUs});
  v.push_back({"TcpToBroadcast",
               frame4(ipv4(kPeerIp, Ipv4Addr::of(198, 18, 0, 255), 6, seg)),
               DropReason::kIpv4NotForUs});
  // RFC 1122 3.3.6: a datagram received in a link-layer broadcast must be
  // addressed to an IP broadcast or multicast address.
  Bytes to_all = eth(MacAddr::broadcast(), kPeerMac, 0x0800);
  append(to_all, ipv4(kPeerIp, kOurIp, 6, seg));
  v.push_back({"UnicastInLinkBroadcast", to_all, DropReason::kIpv4NotForUs});
  to_all = eth(MacAddr::broadcast(), kPeerMac, 0x0800);
  append(to_all, ipv4(kPeerIp, kOurIp, 1, icmp_echo(8, 1, 1, {})));
  v.push_back({"EchoInLinkBroadcast", to_all, DropReason::kIpv4NotForUs});
  v.push_back({"Udp", frame4(ipv4(kPeerIp, kOurIp, 17, seg)),
               DropReason::kIpv4UnsupportedProtocol});
  return v;
}

class Ipv4MalformedTest : public StackTest,
                          public ::testing::WithParamInterface<Malformed> {};

TEST_P(Ipv4MalformedTest, DroppedWithReason) {
  const Malformed& c = GetParam();
  rx(c.frame, c.segments);
  EXPECT_TRUE(deliveries().empty());
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(c.reason), 1u) << drop_reason_name(c.reason);
  EXPECT_EQ(stack_->stats().total_drops(), 1u);
}

INSTANTIATE_TEST_SUITE_P(AllReasons, Ipv4MalformedTest,
                         ::testing::ValuesIn(malformed_cases()),
                         [](const ::testing::TestParamInfo<Malformed>& i) {
                           return i.param.name;
                         });

// ICMP echo (RFC 792).

class IcmpTest : public StackTest {
 protected:
  // Checks an echo reply against the request's id/seq/data, with the IPv4
  // and ICMP checksums recomputed independently.
  void expect_reply(const Bytes& out, uint16_t id, uint16_t seq,
                    const Bytes& data) {
    ASSERT_GE(out.size(), 14u + 20u + 8u);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 14),
              eth(kPeerMac, kOurMac, 0x0800));
    const Bytes ip(out.begin() + 14, out.begin() + 34);
    EXPECT_EQ(ip[0], 0x45);
    EXPECT_EQ(get16(ip, 2), 20 + 8 + data.size());
    EXPECT_EQ(ip[8], 64);  // TTL
    EXPECT_EQ(ip[9], 1);   // ICMP
    EXPECT_EQ(ref_checksum(ip), 0) << "IPv4 header checksum";
    EXPECT_EQ(Bytes(ip.begin() + 12, ip.begin() + 16), Bytes({198, 18, 0, 2}));
    EXPECT_EQ(Bytes(ip.begin() + 16, ip.begin() + 20), Bytes({198, 18, 0, 1}));
    const Bytes icmp(out.begin() + 34, out.end());
    EXPECT_EQ(ref_checksum(icmp), 0) << "ICMP checksum";
    // Compare to a reply built from scratch by the test's own builder.
    EXPECT_EQ(icmp, icmp_echo(0, id, seq, data));
  }
};

TEST_F(IcmpTest, EchoRequestGetsReply) {
  const Bytes data = {'d', 'p', 't', 'l', 's', 0, 1, 2, 3};
  rx(frame4(ipv4(kPeerIp, kOurIp, 1, icmp_echo(8, 0x4242, 7, data))));
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  expect_reply(out[0], 0x4242, 7, data);
  EXPECT_EQ(stack_->stats().icmp_echo_replies_tx, 1u);
}

TEST_F(IcmpTest, MultiSegmentEchoWithOptionsAndPadding) {
  Bytes data(2000);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>(i * 7);
  }
  Ipv4Opts o;
  o.options = {0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00};
  Bytes f = frame4(ipv4(kPeerIp, kOurIp, 1, icmp_echo(8, 1, 2, data), o));
  f.resize(f.size() + 5, 0);
  // Headers in the first segment; data split at odd offsets.
  rx(f, {14 + 28 + 8 + 3, 999, 1});
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  expect_reply(out[0], 1, 2, data);  // options dropped, padding trimmed
}

TEST_F(IcmpTest, BadIcmpChecksumIsDropped) {
  Bytes icmp = icmp_echo(8, 1, 1, {1, 2, 3});
  icmp.back() ^= 0xff;
  rx(frame4(ipv4(kPeerIp, kOurIp, 1, icmp)));
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(DropReason::kIcmpBadChecksum), 1u);
}

TEST_F(IcmpTest, ShortAndOtherTypes) {
  rx(frame4(ipv4(kPeerIp, kOurIp, 1, Bytes{8, 0, 0xf7, 0xff})));
  EXPECT_EQ(drops(DropReason::kIcmpTruncated), 1u);
  rx(frame4(ipv4(kPeerIp, kOurIp, 1, icmp_echo(0, 1, 1, {}))));  // a reply
  EXPECT_EQ(drops(DropReason::kIcmpUnhandledType), 1u);
  EXPECT_TRUE(tx().empty());
}

// RFC 1191: a "fragmentation needed" quoting one of our TCP datagrams goes
// up to TCP with the quoted addresses, the MTU, and the quoted TCP bytes.
TEST_F(IcmpTest, FragNeededAboutOurTcpGoesUp) {
  const Ipv4Addr router = Ipv4Addr::of(198, 18, 0, 254);
  const Bytes tcp8 = tcp_quote(80, 40000, 4096);
  Ipv4Opts o;
  o.total_len = 1500;
  const Bytes quote = ipv4(kOurIp, kPeerIp, 6, tcp8, o);
  rx(frame4(ipv4(router, kOurIp, 1, icmp_frag_needed(1400, quote))));
  // A router that predates the MTU field says 0: the plateau below the
  // quoted length (RFC 1191 sections 5 and 7).
  rx(frame4(ipv4(router, kOurIp, 1, icmp_frag_needed(0, quote))));
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 2u);
  for (const L4Packet& p : d) {
    MbufPtr m(p.mbuf);
    EXPECT_EQ(p.family, L3Family::kIpv4);
    EXPECT_EQ(p.protocol, 1);
    EXPECT_EQ(p.src4, kOurIp);
    EXPECT_EQ(p.dst4, kPeerIp);
    EXPECT_EQ(to_bytes(p.mbuf), tcp8);
  }
  EXPECT_EQ(d[0].mtu, 1400);
  EXPECT_EQ(d[1].mtu, 1492);
  EXPECT_EQ(stack_->stats().icmp_too_big_rx, 2u);
  EXPECT_EQ(stack_->stats().delivered_tcp4, 0u);
  EXPECT_TRUE(tx().empty());
}

TEST_F(IcmpTest, FragNeededNotAboutOurTcpIsDropped) {
  const Ipv4Addr router = Ipv4Addr::of(198, 18, 0, 254);
  const Bytes tcp8 = tcp_quote(80, 40000, 4096);
  // Quoting a datagram we did not send (RFC 5927 4.1), or UDP.
  rx(frame4(ipv4(router, kOurIp, 1,
                 icmp_frag_needed(1400, ipv4(kPeerIp, kOurIp, 6, tcp8)))));
  rx(frame4(ipv4(router, kOurIp, 1,
                 icmp_frag_needed(1400, ipv4(kOurIp, kPeerIp, 17, tcp8)))));
  // Fewer than 8 bytes of TCP quoted.
  rx(frame4(ipv4(
      router, kOurIp, 1,
      icmp_frag_needed(1400, ipv4(kOurIp, kPeerIp, 6,
                                  Bytes(tcp8.begin(), tcp8.begin() + 4))))));
  EXPECT_EQ(drops(DropReason::kIcmpBadQuote), 3u);
  // Other unreachable codes are not ours to act on.
  Bytes port_unreachable = {0, 0, 0, 0};
  append(port_unreachable, ipv4(kOurIp, kPeerIp, 6, tcp8));
  rx(frame4(ipv4(router, kOurIp, 1, icmp4(3, 3, port_unreachable))));
  EXPECT_EQ(drops(DropReason::kIcmpUnhandledType), 1u);
  EXPECT_TRUE(deliveries().empty());
  EXPECT_EQ(stack_->stats().icmp_too_big_rx, 0u);
}

TEST_F(IcmpTest, EchoToBroadcastIsIgnored) {
  Bytes f = eth(MacAddr::broadcast(), kPeerMac, 0x0800);
  append(f, ipv4(kPeerIp, Ipv4Addr::of(255, 255, 255, 255), 1,
                 icmp_echo(8, 1, 1, {})));
  rx(f);
  EXPECT_TRUE(tx().empty());
  EXPECT_EQ(drops(DropReason::kIcmpEchoToBroadcast), 1u);
}

TEST_F(IcmpTest, MbufReferencedTwiceIsRefused) {
  rte_mbuf* m =
      make_mbuf(frame4(ipv4(kPeerIp, kOurIp, 1, icmp_echo(8, 1, 1, {9}))));
  rte_mbuf_refcnt_update(m, 1);  // someone else holds it too
  rx_mbuf(m);
  EXPECT_EQ(drops(DropReason::kMbufNotWritable), 1u);
  EXPECT_EQ(rte_mbuf_refcnt_read(m), 1);
  rte_pktmbuf_free(m);
}

TEST_F(IcmpTest, CloneIsNeverWrittenInPlace) {
  const Bytes frame =
      frame4(ipv4(kPeerIp, kOurIp, 1, icmp_echo(8, 1, 1, {9, 8, 7})));
  MbufPtr original(make_mbuf(frame, {45}));
  rx_mbuf(rte_pktmbuf_clone(original.get(), test_pool()));
  EXPECT_EQ(drops(DropReason::kMbufNotWritable), 1u);
  EXPECT_EQ(to_bytes(original.get()), frame);  // untouched
}

TEST_F(IcmpTest, ClonedArpRequestIsAnsweredFromAFreshMbuf) {
  Bytes frame = eth(MacAddr::broadcast(), kPeerMac, 0x0806);
  append(frame, arp(1, kPeerMac, kPeerIp, MacAddr{}, kOurIp));
  MbufPtr original(make_mbuf(frame));
  rx_mbuf(rte_pktmbuf_clone(original.get(), test_pool()));
  EXPECT_EQ(tx().size(), 1u);
  EXPECT_EQ(to_bytes(original.get()), frame);
}

TEST_F(Ipv4Test, ClonedChainIsDeliveredAndTrimmed) {
  const Bytes seg = tcp_segment(100);
  Bytes frame = frame4(ipv4(kPeerIp, kOurIp, 6, seg));
  const size_t real = frame.size();
  frame.resize(real + 20, 0);
  MbufPtr original(make_mbuf(frame, {60, real - 60}));
  rx_mbuf(rte_pktmbuf_clone(original.get(), test_pool()));
  std::vector<L4Packet> d = deliveries();
  ASSERT_EQ(d.size(), 1u);
  MbufPtr owned(d[0].mbuf);
  EXPECT_EQ(to_bytes(d[0].mbuf), seg);
  EXPECT_EQ(to_bytes(original.get()), frame);
}

TEST_F(IcmpTest, EchoUnderVlanIsAnsweredTagged) {
  NetConfig c = default_config();
  c.vlan_id = 100;
  rebuild(c);
  Bytes f = eth(kOurMac, kPeerMac, 0x0800, 0x2064);  // PCP 1, VID 100
  append(f, ipv4(kPeerIp, kOurIp, 1, icmp_echo(8, 5, 6, {1, 2})));
  rx(f);
  const std::vector<Bytes> out = tx();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Bytes(out[0].begin(), out[0].begin() + 18),
            eth(kPeerMac, kOurMac, 0x0800, 100));
  Bytes untagged(out[0].begin(), out[0].begin() + 12);
  untagged.insert(untagged.end(), out[0].begin() + 16, out[0].end());
  expect_reply(untagged, 5, 6, {1, 2});
}

}  // namespace
}  // namespace dptls::net::testing
