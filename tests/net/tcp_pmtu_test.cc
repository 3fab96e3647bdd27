// Path MTU discovery for TCP: ICMP "fragmentation needed" (RFC 1191) and
// ICMPv6 Packet Too Big (RFC 8201) lower a connection's MSS and what is in
// flight goes again in segments that fit, with no congestion response;
// reports that do not quote a segment in flight (RFC 5927), name no
// connection, or report no smaller MTU are ignored and counted. One stack
// driven by hand-made frames, and two stacks across a link whose "router"
// drops what is too big and answers with the ICMP error, as Linux does.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "tcp_test_support.h"

namespace dptls::net::testing {
namespace {

constexpr Ipv4Addr kRouterIp = Ipv4Addr::of(198, 18, 0, 254);

// What a router quotes of a TCP datagram from `src` to `dst`: the IP header
// (with the datagram's total length) and the first 8 TCP bytes.
Bytes quote4(Ipv4Addr src, Ipv4Addr dst, uint16_t sport, uint16_t dport,
             uint32_t seq, uint16_t total_len) {
  Ipv4Opts o;
  o.total_len = total_len;
  return ipv4(src, dst, 6, tcp_quote(sport, dport, seq), o);
}

class PmtuRawTest : public RawTcpTest {
 protected:
  // A "fragmentation needed" from the router about a segment of ours.
  void inject_frag_needed(uint16_t mtu, uint32_t seq, uint16_t total_len,
                          uint16_t local_port = 80) {
    Bytes f = eth(kOurMac, kPeerMac, 0x0800);
    append(f, ipv4(kRouterIp, kOurIp, 1,
                   icmp_frag_needed(mtu, quote4(kOurIp, kPeerIp, local_port,
                                                40000, seq, total_len))));
    inject_frame(f);
  }
  // An established passive connection (peer MSS 1460, no timestamps) with
  // `bytes` of stream 1 sent in full-size segments; returns them.
  std::vector<Seg> open_and_send(uint32_t bytes) {
    h_ = accept_one(opt_mss(1460));
    EXPECT_TRUE(h_.valid());
    EXPECT_EQ(tcp_->send(h_, pattern_chain(tcp_pool(), 1, 0, bytes), now_),
              TcpResult::kOk);
    std::vector<Seg> out = sent();
    for (const Seg& s : out) {
      EXPECT_EQ(s.payload.size(),
                std::min<size_t>(1460, our_isn_ + 1 + bytes - s.seq));
    }
    return out;
  }
  TcpConnInfo info() const {
    TcpConnInfo i;
    EXPECT_TRUE(tcp_->info(h_, &i));
    return i;
  }
  // The report changed nothing: same MSS, nothing sent, counted under `r`.
  void expect_ignored(DropReason r, const TcpConnInfo& before) {
    EXPECT_EQ(drops(r), 1u) << drop_reason_name(r);
    EXPECT_EQ(tcp_->stats().pmtu_updates, 0u);
    EXPECT_EQ(info().smss, before.smss);
    EXPECT_EQ(info().snd_nxt, before.snd_nxt);
    EXPECT_TRUE(sent().empty());
  }

  ConnHandle h_;
};

TEST_F(PmtuRawTest, FragNeededShrinksSegmentsAndResendsWithoutCwndCut) {
  constexpr uint32_t kBytes = 3 * 1460;
  const std::vector<Seg> first = open_and_send(kBytes);
  ASSERT_EQ(first.size(), 3u);
  const TcpConnInfo before = info();
  EXPECT_EQ(before.smss, 1460);

  // A router with a 1000-byte next hop drops the second segment.
  inject_frag_needed(1000, first[1].seq, 1500);
  EXPECT_EQ(net_->stats().icmp_too_big_rx, 1u);
  EXPECT_EQ(tcp_->stats().pmtu_updates, 1u);
  const TcpConnInfo after = info();
  EXPECT_EQ(after.smss, 1000 - 20 - 20);
  // Not a congestion event: cwnd and ssthresh as they were.
  EXPECT_EQ(after.cwnd, before.cwnd);
  EXPECT_EQ(after.ssthresh, before.ssthresh);

  // Everything in flight goes again at once, from SND.UNA, in segments
  // that fit the 1000-byte path.
  const std::vector<Seg> again = sent();
  ASSERT_FALSE(again.empty());
  Bytes payload;
  uint32_t next = our_isn_ + 1;
  for (const Seg& s : again) {
    EXPECT_LE(20 + 20 + s.options.size() + s.payload.size(), 1000u);
    EXPECT_EQ(s.seq, next);
    next += static_cast<uint32_t>(s.payload.size());
    append(payload, s.payload);
  }
  ASSERT_EQ(payload.size(), kBytes);
  for (uint32_t i = 0; i < kBytes; ++i) {
    ASSERT_EQ(payload[i], pattern_byte(1, i)) << "byte " << i;
  }
  EXPECT_EQ(tcp_->stats().retransmits, again.size());
  EXPECT_EQ(tcp_->stats().rto_expirations, 0u);

  // The peer takes it all; later data uses the new size too.
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = peer_isn_ + 1,
             .ack = next,
             .flags = kTcpAck,
             .win = 65535});
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(info().cwnd, before.cwnd + 2 * 960);  // slow start as usual
  ASSERT_EQ(tcp_->send(h_, pattern_chain(tcp_pool(), 1, kBytes, 4000), now_),
            TcpResult::kOk);
  for (const Seg& s : sent()) {
    EXPECT_LE(s.payload.size(), 960u);
  }
  EXPECT_EQ(tcp_->abort(h_, now_), TcpResult::kOk);
  sent();
}

TEST_F(PmtuRawTest, ReportQuotingASequenceNumberOutsideTheWindowIsIgnored) {
  const std::vector<Seg> first = open_and_send(3 * 1460);
  ASSERT_EQ(first.size(), 3u);
  const TcpConnInfo before = info();
  // SND.NXT itself (nothing sent there yet) and an already-ACKed number.
  inject_frag_needed(1000, before.snd_nxt, 1500);
  expect_ignored(DropReason::kTcpPmtuOutOfWindow, before);
  inject_frag_needed(1000, our_isn_, 1500);
  EXPECT_EQ(drops(DropReason::kTcpPmtuOutOfWindow), 2u);
  EXPECT_EQ(info().smss, 1460);
  EXPECT_EQ(tcp_->abort(h_, now_), TcpResult::kOk);
  sent();
}

TEST_F(PmtuRawTest, ReportForAnUnknownConnectionIsIgnored) {
  const std::vector<Seg> first = open_and_send(2 * 1460);
  const TcpConnInfo before = info();
  inject_frag_needed(1000, first[0].seq, 1500, /*local_port=*/81);
  expect_ignored(DropReason::kTcpPmtuNoConnection, before);
  EXPECT_EQ(tcp_->abort(h_, now_), TcpResult::kOk);
  sent();
}

TEST_F(PmtuRawTest, ReportOfAnMtuNoSmallerThanOursIsIgnored) {
  const std::vector<Seg> first = open_and_send(2 * 1460);
  const TcpConnInfo before = info();
  inject_frag_needed(1500, first[0].seq, 1500);
  expect_ignored(DropReason::kTcpPmtuNotSmaller, before);
  inject_frag_needed(9000, first[0].seq, 1500);
  EXPECT_EQ(drops(DropReason::kTcpPmtuNotSmaller), 2u);
  EXPECT_EQ(info().smss, 1460);
  EXPECT_EQ(tcp_->abort(h_, now_), TcpResult::kOk);
  sent();
}

TEST_F(PmtuRawTest, MtuZeroUsesThePlateauBelowTheQuotedLength) {
  const std::vector<Seg> first = open_and_send(2 * 1460);
  // RFC 1191 section 7: 1500 -> 1492.
  inject_frag_needed(0, first[0].seq, 1500);
  EXPECT_EQ(tcp_->stats().pmtu_updates, 1u);
  EXPECT_EQ(info().smss, 1492 - 40);
  for (const Seg& s : sent()) {
    EXPECT_LE(s.payload.size(), 1452u);
  }
  // 1492 -> 1006, then 1006 -> 508, which is below the 552 floor.
  inject_frag_needed(0, first[0].seq, 1492);
  EXPECT_EQ(info().smss, 1006 - 40);
  sent();
  inject_frag_needed(0, first[0].seq, 1006);
  EXPECT_EQ(info().smss, 552 - 40);
  EXPECT_EQ(tcp_->stats().pmtu_updates, 3u);
  for (const Seg& s : sent()) {
    EXPECT_LE(s.payload.size(), 512u);
  }
  EXPECT_EQ(tcp_->abort(h_, now_), TcpResult::kOk);
  sent();
}

// RFC 1191 section 3's floor is 68; like Linux we stop at 552 (RFC 5927
// 7.2: a forged report must not make us send tiny segments) and, as Linux
// does, send those 552-byte datagrams without DF so that the routers in
// front of a narrower link can fragment them.
TEST_F(PmtuRawTest, ReportBelow552ClampsTo552AndClearsDf) {
  const std::vector<Seg> first = open_and_send(2 * 1460);
  ASSERT_EQ(first.size(), 2u);
  const auto drain = [&] {
    std::vector<Bytes> frames;
    rte_mbuf* m = nullptr;
    while (net_->drain_tx(&m, 1) == 1) {
      frames.push_back(to_bytes(m));
      rte_pktmbuf_free(m);
    }
    return frames;
  };
  inject_frag_needed(296, first[1].seq, 1500);
  EXPECT_EQ(tcp_->stats().pmtu_updates, 1u);
  EXPECT_EQ(info().smss, 552 - 40);
  const std::vector<Bytes> again = drain();
  ASSERT_EQ(again.size(), 6u);  // 2920 bytes in 512-byte segments
  for (const Bytes& f : again) {
    EXPECT_LE(f.size() - 14, 552u);
    EXPECT_EQ(get16(f, 14 + 6) & 0x4000, 0) << "DF still set";
  }
  // Nothing takes it lower: 68 is clamped to 552 too.
  inject_frag_needed(68, first[1].seq, 552);
  EXPECT_EQ(drops(DropReason::kTcpPmtuNotSmaller), 1u);
  EXPECT_EQ(info().smss, 512);
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tcp_->abort(h_, now_), TcpResult::kOk);
  sent();
}

// --- Two stacks and a router ------------------------------------------------

constexpr uint8_t kRouterMacByte = 0x0b;  // the frames come from side 1's MAC

// Side 0 sends `kBytes` to side 1 through a router whose next hop carries
// `path_mtu`: it drops bigger IP datagrams from side 0 and answers each with
// a "fragmentation needed" (IPv4) or Packet Too Big (IPv6) quoting it.
class PmtuPairTest : public TcpLeakCheckedTest {
 protected:
  static constexpr uint32_t kBytes = 300 * 1024;
  static constexpr uint64_t kLatencyNs = 1'000'000;

  struct Router {
    uint16_t path_mtu = 0;
    // The first `bogus_reports` reports say `bogus_mtu` instead.
    uint32_t bogus_mtu = 0;
    uint64_t bogus_reports = 0;
    uint64_t too_big = 0;  // datagrams dropped
    // Dropped after side 0 had a (believable) report to act on.
    uint64_t too_big_after_report = 0;
    uint64_t reports = 0;
    uint64_t first_report_ns = 0;  // when the first real one was sent
  };

  void run(bool v6, Router* router, const std::array<TxOffloads, 2>& off = {},
           bool sack = true) {
    TcpConfig ca = pair_config(0);
    TcpConfig cb = pair_config(1);
    ca.sack = sack;
    FaultConfig clean;
    clean.latency_ticks = kLatencyNs;
    TcpPair pair(ca, cb, clean, clean, 1500, off);
    const Ipv4Addr router4 = Ipv4Addr::of(198, 18, 1, 254);
    Ipv6Addr router6 = pair.side[0].ip6;
    router6.b[15] = 0xfe;
    const MacAddr mac0 = pair.side[0].net->mac();
    MacAddr mac1 = mac0;
    mac1.b[5] = kRouterMacByte;
    pair.router = [&](int from, std::vector<rte_mbuf*>* wire,
                      std::vector<rte_mbuf*>* back) {
      if (from != 0) {
        return;
      }
      size_t kept = 0;
      for (rte_mbuf* m : *wire) {
        const Bytes f = to_bytes(m);
        const uint16_t type = get16(f, 12);
        const size_t ip_len = type == 0x0800   ? get16(f, 16)
                              : type == 0x86dd ? 40u + get16(f, 18)
                                               : 0;
        if (ip_len <= router->path_mtu) {
          (*wire)[kept++] = m;
          continue;
        }
        ++router->too_big;
        // The report reaches side 0 one link latency later; what side 0
        // sends from the step after that knows the new size.
        if (router->first_report_ns != 0 &&
            pair.now > router->first_report_ns + kLatencyNs) {
          ++router->too_big_after_report;
        }
        rte_pktmbuf_free(m);
        const bool bogus = router->reports < router->bogus_reports;
        ++router->reports;
        if (!bogus && router->first_report_ns == 0) {
          router->first_report_ns = pair.now;
        }
        const uint32_t mtu = bogus ? router->bogus_mtu : router->path_mtu;
        Bytes icmp;
        if (type == 0x0800) {
          // RFC 1812 4.3.2.3: as much of the datagram as fits in 576 bytes;
          // the header and 8 bytes are enough.
          const Bytes quote(f.begin() + 14, f.begin() + 14 + 28);
          icmp = eth(mac0, mac1, 0x0800);
          append(icmp,
                 ipv4(router4, pair.side[0].ip, 1,
                      icmp_frag_needed(static_cast<uint16_t>(mtu), quote)));
        } else {
          // RFC 4443 3.2: as much of the packet as fits in 1280 bytes.
          Bytes body;
          put32(body, mtu);
          body.insert(body.end(), f.begin() + 14,
                      f.begin() + 14 + std::min<size_t>(ip_len, 1232));
          icmp = eth(mac0, mac1, 0x86dd);
          append(icmp, ipv6(router6, pair.side[0].ip6, 58,
                            icmp6(router6, pair.side[0].ip6, 2, 0, body)));
        }
        back->push_back(make_mbuf(icmp));
      }
      wire->resize(kept);
    };

    ConnHandle h0;
    ConnHandle h1;
    uint64_t received = 0;
    uint64_t mismatches = 0;
    bool peer_closed1 = false;
    const auto handler = [&](int side, const TcpEvent& e) {
      switch (e.type) {
        case TcpEventType::kConnected:
          h0 = e.conn;
          break;
        case TcpEventType::kAccepted:
          h1 = e.conn;
          break;
        case TcpEventType::kData:
          for (const rte_mbuf* s = e.data; s != nullptr; s = s->next) {
            const uint8_t* p = rte_pktmbuf_mtod(s, const uint8_t*);
            for (uint16_t i = 0; i < s->data_len; ++i, ++received) {
              mismatches += p[i] != pattern_byte(7, received) ? 1 : 0;
            }
          }
          pair.side[side].tcp->consumed(e.conn, e.len, pair.now);
          rte_pktmbuf_free(e.data);
          break;
        case TcpEventType::kPeerClosed:
          peer_closed1 = peer_closed1 || side == 1;
          break;
        default:
          break;
      }
    };
    ASSERT_EQ(
        pair.side[1].tcp->listen(TcpListen{
            .family = v6 ? L3Family::kIpv6 : L3Family::kIpv4, .port = 443}),
        TcpResult::kOk);
    ConnHandle h;
    ASSERT_EQ(pair.side[0].tcp->connect(
                  TcpConnect{.family = v6 ? L3Family::kIpv6 : L3Family::kIpv4,
                             .local4 = pair.side[0].ip,
                             .local6 = pair.side[0].ip6,
                             .remote4 = pair.side[1].ip,
                             .remote6 = pair.side[1].ip6,
                             .remote_port = 443},
                  pair.now, &h),
              TcpResult::kOk);
    ASSERT_TRUE(pair.run_until([&] { return h0.valid() && h1.valid(); },
                               1'000'000'000, handler));
    TcpConnInfo i0;
    ASSERT_TRUE(pair.side[0].tcp->info(h0, &i0));
    smss_before = i0.smss;
    ssthresh_before = i0.ssthresh;
    uint64_t sent = 0;
    bool fin = false;
    const uint64_t t0 = pair.now;
    EXPECT_TRUE(pair.run_until(
        [&] {
          while (!fin && sent < kBytes) {
            const uint32_t n = static_cast<uint32_t>(
                std::min<uint64_t>(16 * 1024, kBytes - sent));
            if (pair.side[0].tcp->send_space(h0) < n) {
              break;
            }
            EXPECT_EQ(pair.side[0].tcp->send(
                          h0, pattern_chain(tcp_pool(), 7, sent, n), pair.now),
                      TcpResult::kOk);
            sent += n;
          }
          if (sent == kBytes && !fin) {
            fin = true;
            pair.side[0].tcp->shutdown_write(h0, pair.now);
          }
          return received == kBytes && peer_closed1;
        },
        60'000'000'000, handler));
    elapsed_ms = (pair.now - t0) / 1'000'000;
    EXPECT_EQ(received, kBytes);
    EXPECT_EQ(mismatches, 0u);
    ASSERT_TRUE(pair.side[0].tcp->info(h0, &i0));
    smss_after = i0.smss;
    ssthresh_after = i0.ssthresh;
    stats0 = pair.side[0].tcp->stats();
    net0 = pair.side[0].net->stats();
    std::printf(
        "[%s path %u] %llu too big (%llu after the report), %llu reports, "
        "%llu MSS updates, MSS %u -> %u, %llu retransmits, %llu TSO sends, "
        "%llu ms\n",
        v6 ? "ipv6" : "ipv4", router->path_mtu,
        static_cast<unsigned long long>(router->too_big),
        static_cast<unsigned long long>(router->too_big_after_report),
        static_cast<unsigned long long>(router->reports),
        static_cast<unsigned long long>(stats0.pmtu_updates), smss_before,
        smss_after, static_cast<unsigned long long>(stats0.retransmits),
        static_cast<unsigned long long>(stats0.tso_sends),
        static_cast<unsigned long long>(elapsed_ms));
    EXPECT_EQ(pair.bad_offload_frames, 0u);
    pair.flush_link();
  }

  // Side 0 acted on the first believable report at once: later segments
  // fit, what was in flight went again without waiting for a timeout, and
  // nothing counted as congestion (no recovery, ssthresh as it was).
  // `discarded` reports never reached TCP.
  void expect_resent_at_once(const Router& r, uint16_t expected_smss,
                             uint64_t discarded = 0) {
    EXPECT_EQ(smss_after, expected_smss);
    EXPECT_EQ(net0.icmp_too_big_rx, r.reports - discarded);
    EXPECT_GE(stats0.pmtu_updates, 1u);
    // Reports about segments sent before the first one arrived find the
    // MSS already lowered.
    EXPECT_EQ(stats0.pmtu_updates +
                  stats0.drop(DropReason::kTcpPmtuNotSmaller) +
                  stats0.drop(DropReason::kTcpPmtuOutOfWindow),
              r.reports - discarded);
    // Only the initial window (10 segments) was too big.
    EXPECT_EQ(r.too_big_after_report, 0u);
    EXPECT_LE(r.too_big, 10u);
    EXPECT_EQ(stats0.rto_expirations, 0u);
    EXPECT_EQ(stats0.sack_recoveries + stats0.newreno_recoveries, 0u);
    EXPECT_EQ(ssthresh_after, ssthresh_before);
    EXPECT_LT(elapsed_ms, 1000u);
  }

  uint16_t smss_before = 0;
  uint16_t smss_after = 0;
  uint32_t ssthresh_before = 0;
  uint32_t ssthresh_after = 0;
  uint64_t elapsed_ms = 0;
  TcpStats stats0;
  NetStats net0;
};

TEST_F(PmtuPairTest, Ipv4FragNeededThroughARouter) {
  Router r{.path_mtu = 1400};
  run(false, &r);
  // Timestamps: 1500 - 20 - 20 - 12, then 1400 - 52.
  EXPECT_EQ(smss_before, 1448);
  expect_resent_at_once(r, 1400 - 52);
}

TEST_F(PmtuPairTest, Ipv4FragNeededWithTsoCutsAtTheNewSize) {
  const TxOffloads tso{
      .ipv4_checksum = true, .tcp_checksum = true, .tso_max_payload = 65000};
  Router r{.path_mtu = 1300};
  run(false, &r, {tso, tso});
  EXPECT_GT(stats0.tso_sends, 0u);
  expect_resent_at_once(r, 1300 - 52);
}

TEST_F(PmtuPairTest, Ipv4FragNeededWithoutSack) {
  Router r{.path_mtu = 1400};
  run(false, &r, {}, /*sack=*/false);
  expect_resent_at_once(r, 1400 - 52);
}

TEST_F(PmtuPairTest, Ipv6PacketTooBigThroughARouter) {
  Router r{.path_mtu = 1280};
  run(true, &r);
  EXPECT_EQ(smss_before, 1500 - 40 - 20 - 12);
  expect_resent_at_once(r, 1280 - 72);
}

// RFC 8201 section 4: a Packet Too Big reporting less than 1280 is
// discarded (the path MTU estimate never goes below 1280): the first three
// reports say 1000 and change nothing; the next ones, 1280, are acted on.
TEST_F(PmtuPairTest, Ipv6PacketTooBigBelow1280IsDiscarded) {
  Router r{.path_mtu = 1280, .bogus_mtu = 1000, .bogus_reports = 3};
  run(true, &r);
  EXPECT_GT(r.reports, 3u);
  EXPECT_EQ(net0.drop(DropReason::kIcmp6TooBigBelowMinMtu), 3u);
  expect_resent_at_once(r, 1280 - 72, /*discarded=*/3);
}

}  // namespace
}  // namespace dptls::net::testing
