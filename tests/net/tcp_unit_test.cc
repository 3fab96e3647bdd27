// Unit tests of the TCP building blocks: sequence arithmetic across the
// wrap, RTO arithmetic (RFC 6298), congestion control (RFC 5681, RFC 9438),
// the SACK scoreboard (RFC 6675), out-of-order reassembly with overlaps,
// SYN cookies, SipHash, ISNs, Toeplitz RSS, the flow table, the timer
// wheel, handles and the per-connection size budget.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <set>
#include <string>

#include "dptls/net/fault_injector.h"
#include "dptls/net/rss_hash.h"
#include "dptls/net/tcp.h"
#include "dptls/net/tcp_congestion.h"
#include "dptls/net/tcp_flow_table.h"
#include "dptls/net/tcp_reassembly.h"
#include "dptls/net/tcp_rto.h"
#include "dptls/net/tcp_sack.h"
#include "dptls/net/tcp_seq.h"
#include "dptls/net/tcp_syn_cookie.h"
#include "dptls/net/tcp_timer_wheel.h"
#include "tcp_test_support.h"

namespace dptls::net::testing {
namespace {

// --- Sequence numbers (RFC 9293 3.4) ---------------------------------------

TEST(TcpSeqTest, ComparisonsAcrossTheWrap) {
  EXPECT_TRUE(seq_lt(0xfffffff0u, 0x10u));
  EXPECT_TRUE(seq_gt(0x10u, 0xfffffff0u));
  EXPECT_TRUE(seq_le(5u, 5u));
  EXPECT_TRUE(seq_ge(5u, 5u));
  EXPECT_FALSE(seq_lt(5u, 5u));
  EXPECT_EQ(seq_max(0xffffffffu, 1u), 1u);
  EXPECT_EQ(seq_min(0xffffffffu, 1u), 0xffffffffu);
  EXPECT_TRUE(seq_in(0u, 0xffffff00u, 0x100u));
  EXPECT_TRUE(seq_in(0xffffff00u, 0xffffff00u, 0x100u));
  EXPECT_FALSE(seq_in(0x100u, 0xffffff00u, 0x100u));
  EXPECT_FALSE(seq_in(7u, 7u, 7u));  // empty range
  // Half the space apart is the limit of the ordering.
  EXPECT_TRUE(seq_lt(0u, 0x7fffffffu));
  EXPECT_TRUE(seq_gt(0u, 0x80000001u));
}

// --- RTO (RFC 6298) --------------------------------------------------------

TEST(TcpRtoTest, FirstAndLaterSamplesFollowTheFormulas) {
  RtoParams p;
  p.min_ms = 200;
  RtoEstimator r;
  r.init(p);
  EXPECT_EQ(r.current_ms(p), 1000u);  // 2.1: initial 1 s
  r.sample(100'000, p);               // R = 100 ms
  EXPECT_EQ(r.srtt_us, 100'000u);     // 2.2: SRTT = R
  EXPECT_EQ(r.rttvar_us, 50'000u);    //      RTTVAR = R/2
  EXPECT_EQ(r.current_ms(p), 300u);   //      RTO = SRTT + 4 RTTVAR
  r.sample(200'000, p);               // 2.3
  EXPECT_EQ(r.rttvar_us, 50'000u - 12'500 + 25'000);  // 3/4 V + 1/4 |S-R|
  EXPECT_EQ(r.srtt_us, 100'000u - 12'500 + 25'000);   // 7/8 S + 1/8 R
  EXPECT_EQ(r.current_ms(p), (112'500u + 4 * 62'500u + 999) / 1000);
}

TEST(TcpRtoTest, MinimumMaximumBackoffAndReset) {
  RtoParams p;
  p.min_ms = 200;
  p.max_ms = 60'000;
  RtoEstimator r;
  r.init(p);
  r.sample(1'000, p);  // 1 ms RTT: clamped up to the minimum (2.4)
  EXPECT_EQ(r.current_ms(p), 200u);
  r.back_off();  // 5.5
  EXPECT_EQ(r.current_ms(p), 400u);
  r.back_off();
  EXPECT_EQ(r.current_ms(p), 800u);
  for (int i = 0; i < 40; ++i) {
    r.back_off();
  }
  EXPECT_EQ(r.current_ms(p), 60'000u);  // 2.5: capped
  r.sample(1'000, p);                   // a new sample clears the backoff
  EXPECT_EQ(r.current_ms(p), 200u);
  p.min_ms = 1;  // granularity G = 1 ms still applies: RTO >= SRTT + G
  r.init(p);
  r.sample(0, p);
  EXPECT_GE(r.current_ms(p), 1u);
}

// --- Congestion control ----------------------------------------------------

TEST(TcpCcTest, SlowStartCongestionAvoidanceAndLoss) {
  CcState s;
  cc_init(s, 1000, 0);
  EXPECT_EQ(s.cwnd, 10'000u);  // RFC 6928: 10 segments for SMSS 1000
  EXPECT_EQ(s.ssthresh, 0xffffffffu);
  cc_on_ack(CcAlgo::kNewReno, s, 5000, 1000, 0, 0);
  EXPECT_EQ(s.cwnd, 12'000u);  // RFC 3465: at most 2 SMSS per ACK
  cc_on_loss(CcAlgo::kNewReno, s, 12'000, 1000);
  EXPECT_EQ(s.ssthresh, 6000u);  // FlightSize / 2
  EXPECT_EQ(s.cwnd, 6000u);
  // Congestion avoidance: one SMSS per window of ACKed bytes.
  cc_on_ack(CcAlgo::kNewReno, s, 3000, 1000, 0, 0);
  EXPECT_EQ(s.cwnd, 6000u);
  cc_on_ack(CcAlgo::kNewReno, s, 3000, 1000, 0, 0);
  EXPECT_EQ(s.cwnd, 7000u);
  cc_on_rto(CcAlgo::kNewReno, s, 7000, 1000, true);
  EXPECT_EQ(s.cwnd, 1000u);  // loss window
  EXPECT_EQ(s.ssthresh, 3500u);
  cc_on_rto(CcAlgo::kNewReno, s, 1000, 1000, false);
  EXPECT_EQ(s.ssthresh, 3500u);  // not reduced again for the same data
  cc_on_loss(CcAlgo::kNewReno, s, 1000, 1000);
  EXPECT_EQ(s.ssthresh, 2000u);  // floor of 2 SMSS
}

TEST(TcpCcTest, CubicReducesByBetaAndGrowsBackThroughWmax) {
  CcState s;
  cc_init(s, 1000, 0);
  s.cwnd = 100'000;
  s.ssthresh = 50'000;
  cc_on_loss(CcAlgo::kCubic, s, 100'000, 1000);
  EXPECT_EQ(s.cwnd, 70'000u);  // beta_cubic = 0.7
  EXPECT_FLOAT_EQ(s.w_max, 100.0f);
  // Feed ACKs for 10 s of 10 ms rounds: the window passes W_max (K is
  // cbrt(100 * 0.3 / 0.4) = 4.2 s) and grows convex beyond it.
  uint32_t now = 1000;
  for (int round = 0; round < 1000; ++round) {
    now += 10;
    cc_on_ack(CcAlgo::kCubic, s, s.cwnd, 1000, now, 10'000);
  }
  EXPECT_NEAR(s.k, 4.217f, 0.01f);
  EXPECT_GT(s.cwnd, 100'000u);
  // W_cubic(K) = W_max (RFC 9438 eq. 1).
  EXPECT_FLOAT_EQ(cubic_window(s, s.k), s.w_max);
  // Fast convergence: a loss below the previous W_max lowers it further.
  const float before = static_cast<float>(s.cwnd) / 1000.0f;
  s.w_max = before * 2;
  cc_on_loss(CcAlgo::kCubic, s, s.cwnd, 1000);
  EXPECT_FLOAT_EQ(s.w_max, before * (1.0f + kCubicBeta) / 2.0f);
  EXPECT_STREQ(cc_algo_name(CcAlgo::kCubic), "cubic");
  EXPECT_STREQ(cc_algo_name(CcAlgo::kNewReno), "newreno");
}

TEST(TcpCcTest, WindowNeverWrapsOnALongLosslessTransfer) {
  // Slow start without a loss never ends (ssthresh is "infinite"), and each
  // ACK adds up to 2 SMSS (RFC 3465): after 4 GiB ACKed a 32-bit cwnd
  // wrapped to a few segments. CUBIC's congestion avoidance grows it by up
  // to half the ACKed bytes. Either way an ACK must never shrink it.
  for (const CcAlgo algo : {CcAlgo::kNewReno, CcAlgo::kCubic}) {
    SCOPED_TRACE(cc_algo_name(algo));
    CcState s;
    cc_init(s, 1460, 0);
    if (algo == CcAlgo::kCubic) {
      s.ssthresh = 100 * 1460;  // congestion avoidance from 100 segments on
    }
    uint32_t now = 1000;
    for (uint64_t acked = 0; acked < (uint64_t{12} << 30); acked += 2920) {
      const uint32_t before = s.cwnd;
      cc_on_ack(algo, s, 2920, 1460, ++now, 10'000);
      ASSERT_GE(s.cwnd, before) << "after " << acked << " bytes ACKed";
    }
  }
}

TEST(TcpCcTest, RestartWindowAfterIdle) {
  // RFC 5681 4.1 with Linux's decay: nothing before one RTO of idle time;
  // then ssthresh keeps 3/4 of the window and cwnd halves per RTO idle,
  // down to the restart window min(IW, cwnd).
  CcState s;
  cc_init(s, 1000, 0);
  s.cwnd = 100'000;
  s.ssthresh = 40'000;
  s.epoch_ms = 123;
  EXPECT_FALSE(cc_after_idle(s, 1000, 0, 200, 200));
  EXPECT_EQ(s.cwnd, 100'000u);
  EXPECT_EQ(s.epoch_ms, 123u);
  EXPECT_TRUE(cc_after_idle(s, 1000, 0, 250, 200));
  EXPECT_EQ(s.cwnd, 50'000u);
  EXPECT_EQ(s.ssthresh, 75'000u);
  EXPECT_EQ(s.epoch_ms, 0u);  // CUBIC starts a new epoch
  s.cwnd = 100'000;
  EXPECT_TRUE(cc_after_idle(s, 1000, 0, 1000, 200));
  EXPECT_EQ(s.cwnd, 10'000u);  // 4 halvings stop at the initial window
  EXPECT_EQ(s.ssthresh, 75'000u);
  // A window already below the initial one is kept.
  s.cwnd = 4000;
  EXPECT_FALSE(cc_after_idle(s, 1000, 0, 60'000, 200));
  EXPECT_EQ(s.cwnd, 4000u);
  // A configured initial window is the floor.
  s.cwnd = 100'000;
  EXPECT_TRUE(cc_after_idle(s, 1000, 4, 60'000, 200));
  EXPECT_EQ(s.cwnd, 4000u);
}

// --- SACK scoreboard (RFC 6675) --------------------------------------------

TEST(TcpSackTest, MergesClipsAndAdvances) {
  SackScoreboard b;
  const uint32_t una = 0xfffff000u;  // across the wrap
  const uint32_t max = una + 20'000;
  EXPECT_TRUE(b.add(una + 3000, una + 4000, una, max));
  EXPECT_TRUE(b.add(una + 1000, una + 2000, una, max));
  EXPECT_TRUE(b.add(una + 2000, una + 2500, una, max));  // touches: merged
  ASSERT_EQ(b.size(), 2);
  EXPECT_EQ(b.range(0).start, una + 1000);
  EXPECT_EQ(b.range(0).end, una + 2500);
  EXPECT_FALSE(b.add(una + 1200, una + 1300, una, max));  // known
  EXPECT_FALSE(b.add(una - 500, una, una, max));  // below SND.UNA (D-SACK)
  EXPECT_FALSE(b.add(una + 5000, una + 4000, una, max));     // inverted
  EXPECT_TRUE(b.add(una + 19'000, una + 30'000, una, max));  // clipped
  EXPECT_EQ(b.range(2).end, max);
  EXPECT_EQ(b.sacked_bytes(), 1500u + 1000u + 1000u);
  EXPECT_TRUE(b.is_sacked(una + 3500));
  EXPECT_FALSE(b.is_sacked(una + 2500));
  b.advance(una + 3500);
  ASSERT_EQ(b.size(), 2);
  EXPECT_EQ(b.range(0).start, una + 3500);
  EXPECT_EQ(b.highest(una), max);
}

TEST(TcpSackTest, IsLostPipeAndNextSeg) {
  // 10 segments of 1000 outstanding; segments 1 and 4 lost, 2,3 and 5-9
  // SACKed (RFC 6675 example shape).
  SackScoreboard b;
  const uint32_t una = 1000;
  const uint32_t max = una + 10'000;
  b.add(una + 1000, una + 3000, una, max);    // 2 and 3
  b.add(una + 4000, una + 10'000, una, max);  // 5 .. 9 (wait: 4 missing)
  // DupThresh = 3: more than 2 SMSS SACKed above seg 0 and above seg 3.
  const uint32_t lost = b.lost_boundary(una, 1000);
  EXPECT_EQ(lost, una + 4000);
  SeqRange r;
  ASSERT_TRUE(b.next_lost(una, lost, &r));
  EXPECT_EQ(r.start, una);
  EXPECT_EQ(r.end, una + 1000);
  ASSERT_TRUE(b.next_lost(una + 1000, lost, &r));
  EXPECT_EQ(r.start, una + 3000);
  EXPECT_EQ(r.end, una + 4000);
  EXPECT_FALSE(b.next_lost(una + 4000, lost, &r));
  // pipe: unSACKed = 2000, all lost, nothing retransmitted -> 0.
  EXPECT_EQ(b.pipe(una, max, una, lost), 0u);
  // After retransmitting the first hole it counts once.
  EXPECT_EQ(b.pipe(una, max, una + 1000, lost), 1000u);
  // Only one small SACK: nothing is lost yet, everything is in the pipe.
  SackScoreboard c;
  c.add(una + 9000, una + 10'000, una, max);
  EXPECT_EQ(c.lost_boundary(una, 1000), una);
  EXPECT_EQ(c.pipe(una, max, una, una), 9000u);
}

TEST(TcpSackTest, FullBoardForgetsTheHighest) {
  SackScoreboard b;
  for (uint32_t i = 0; i < SackScoreboard::kMaxRanges; ++i) {
    EXPECT_TRUE(b.add(1000 * (2 * i + 1), 1000 * (2 * i + 2), 0, 100'000));
  }
  EXPECT_FALSE(b.add(90'000, 91'000, 0, 100'000));  // beyond all: ignored
  EXPECT_TRUE(b.add(100, 200, 0, 100'000));  // below: the highest is dropped
  EXPECT_EQ(b.size(), SackScoreboard::kMaxRanges);
  EXPECT_EQ(b.range(0).start, 100u);
}

// --- Reassembly ------------------------------------------------------------

class ReassemblyTest : public TcpLeakCheckedTest {
 protected:
  // A chain holding bytes [from, from + len) of a numbered stream.
  static rte_mbuf* bytes_at(uint32_t from, uint32_t len,
                            std::vector<size_t> segs = {}) {
    Bytes b(len);
    for (uint32_t i = 0; i < len; ++i) {
      b[i] = static_cast<uint8_t>((from + i) * 7);
    }
    return make_mbuf(b, std::move(segs));
  }
  static void expect_stream(rte_mbuf* m, uint32_t from, uint32_t len) {
    const Bytes b = to_bytes(m);
    ASSERT_EQ(b.size(), len);
    ASSERT_EQ(m->pkt_len, len);
    for (uint32_t i = 0; i < len; ++i) {
      ASSERT_EQ(b[i], static_cast<uint8_t>((from + i) * 7)) << i;
    }
  }
};

TEST_F(ReassemblyTest, OverlapsAreTrimmedDuplicatesRefused) {
  OooQueue q;
  uint32_t added = 0;
  const uint32_t base = 0xfffffe00u;  // the stream crosses the wrap
  EXPECT_EQ(q.insert(base + 100, bytes_at(100, 100), &added),
            OooResult::kQueued);
  EXPECT_EQ(added, 100u);
  EXPECT_EQ(q.insert(base + 300, bytes_at(300, 100), &added),
            OooResult::kQueued);
  // Entirely inside [100, 200): a duplicate.
  EXPECT_EQ(q.insert(base + 120, bytes_at(120, 50), &added),
            OooResult::kDuplicate);
  // Overlaps both ranges' edges: [150, 350) -> trimmed to [200, 300) and
  // merged into one range [100, 400).
  EXPECT_EQ(q.insert(base + 150, bytes_at(150, 200, {30, 100}), &added),
            OooResult::kQueued);
  EXPECT_EQ(added, 100u);
  ASSERT_EQ(q.size(), 1);
  EXPECT_EQ(q.range(0).seq, base + 100);
  EXPECT_EQ(q.range(0).data.len, 300u);
  expect_stream(q.range(0).data.head, 100, 300);  // the bytes, not just sizes
  // Overlapping only the range's end: [350, 420) -> [400, 420) appended.
  EXPECT_EQ(q.insert(base + 350, bytes_at(350, 70), &added),
            OooResult::kQueued);
  EXPECT_EQ(added, 20u);
  expect_stream(q.range(0).data.head, 100, 320);
  // Covers the whole range and more: replaces it.
  EXPECT_EQ(q.insert(base + 50, bytes_at(50, 400), &added), OooResult::kQueued);
  ASSERT_EQ(q.size(), 1);
  EXPECT_EQ(q.bytes(), 400u);
  expect_stream(q.range(0).data.head, 50, 400);
  uint32_t len = 0;
  EXPECT_EQ(q.pop(base + 49, &len), nullptr);
  rte_mbuf* m = q.pop(base + 50, &len);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(len, 400u);
  expect_stream(m, 50, 400);
  rte_pktmbuf_free(m);
  EXPECT_TRUE(q.empty());
}

TEST_F(ReassemblyTest, BoundedRangesAndSackOrder) {
  OooQueue q;
  uint32_t added = 0;
  for (uint32_t i = 0; i < OooQueue::kMaxRanges; ++i) {
    EXPECT_EQ(q.insert(1000 * (i + 1), bytes_at(0, 10), &added),
              OooResult::kQueued);
  }
  EXPECT_EQ(q.insert(9000, bytes_at(0, 10), &added), OooResult::kFull);
  // Adjacent data still merges when full.
  EXPECT_EQ(q.insert(1010, bytes_at(0, 10), &added), OooResult::kQueued);
  EXPECT_EQ(q.range(0).data.len, 20u);
  EXPECT_EQ(q.most_recent(), 0);
  EXPECT_EQ(q.insert(3010, bytes_at(0, 5), &added), OooResult::kQueued);
  EXPECT_EQ(q.most_recent(), 2);
  q.clear();
}

TEST_F(ReassemblyTest, ChainCoalescesSmallPayloadsIntoTailroom) {
  MbufChain c;
  bool copied = false;
  ASSERT_TRUE(c.append_coalesce(bytes_at(0, 100), &copied));
  EXPECT_FALSE(copied);
  ASSERT_TRUE(c.append_coalesce(bytes_at(100, 50, {20}), &copied));
  EXPECT_TRUE(copied);  // two segments copied into the first's tailroom
  EXPECT_EQ(c.head->nb_segs, 1);
  // Too big for the tailroom: linked.
  ASSERT_TRUE(c.append_coalesce(bytes_at(150, 2000), &copied));
  EXPECT_FALSE(copied);
  EXPECT_EQ(c.head->nb_segs, 2);
  // A shared tail (refcnt 2) is never written.
  rte_mbuf_refcnt_update(c.tail, 1);
  ASSERT_TRUE(c.append_coalesce(bytes_at(2150, 10), &copied));
  EXPECT_FALSE(copied);
  rte_mbuf_refcnt_update(c.tail->next == nullptr ? c.head->next : c.head->next,
                         -1);
  rte_mbuf* m = c.take();
  expect_stream(m, 0, 2160);
  m = chain_trim_front(m, 1000);
  expect_stream(m, 1000, 1160);
  chain_trim_back(m, 500);
  expect_stream(m, 1000, 500);
  rte_pktmbuf_free(m);
  EXPECT_EQ(chain_trim_front(bytes_at(0, 10), 10), nullptr);
}

// --- Keyed hashing, ISNs, cookies ------------------------------------------

TEST(TcpCookieTest, SipHashReferenceVector) {
  // The SipHash-2-4 paper's test vector: key 00..0f, message 00..0e.
  SipKey k;
  k.k0 = 0x0706050403020100ull;
  k.k1 = 0x0f0e0d0c0b0a0908ull;
  Bytes msg(15);
  for (size_t i = 0; i < msg.size(); ++i) {
    msg[i] = static_cast<uint8_t>(i);
  }
  EXPECT_EQ(siphash24(k, msg), 0xa129ca6149be45e5ull);
  EXPECT_EQ(siphash24(k, {}), 0x726fdb47dd0e0e31ull);
}

TEST(TcpCookieTest, IsnAdvancesWithTimeAndDependsOnTheTuple) {
  const SipKey k = SipKey::from_seed(1, 1);
  const FlowKey a = FlowKey::v4(kOurIp, 80, kPeerIp, 40000);
  const FlowKey b = FlowKey::v4(kOurIp, 80, kPeerIp, 40001);
  // RFC 6528: M advances every 4 us.
  EXPECT_EQ(tcp_isn(k, a, 4000) - tcp_isn(k, a, 0), 1000u);
  EXPECT_NE(tcp_isn(k, a, 0), tcp_isn(k, b, 0));
  EXPECT_NE(tcp_isn(k, a, 0), tcp_isn(SipKey::from_seed(2, 1), a, 0));
}

TEST(TcpCookieTest, EncodeDecodeRoundTripAndRejections) {
  const SipKey k = SipKey::from_seed(7, 2);
  const FlowKey f = FlowKey::v4(kOurIp, 443, kPeerIp, 50000);
  for (uint8_t idx = 0; idx < 8; ++idx) {
    const uint32_t cookie = syn_cookie_make(k, f, 12345, 100, idx);
    uint8_t got = 0xff;
    for (uint32_t age = 0; age <= kCookieMaxAge; ++age) {
      EXPECT_TRUE(syn_cookie_check(k, f, 12345, cookie, 100 + age, &got));
      EXPECT_EQ(got, idx);
    }
    EXPECT_FALSE(syn_cookie_check(k, f, 12345, cookie, 100 + kCookieMaxAge + 1,
                                  &got));                            // too old
    EXPECT_FALSE(syn_cookie_check(k, f, 12346, cookie, 100, &got));  // ISN
    EXPECT_FALSE(syn_cookie_check(k, FlowKey::v4(kOurIp, 443, kPeerIp, 50001),
                                  12345, cookie, 100,
                                  &got));  // tuple
    EXPECT_FALSE(syn_cookie_check(k, f, 12345, cookie ^ (1u << 24), 100,
                                  &got));  // tampered MSS index
    EXPECT_FALSE(syn_cookie_check(SipKey::from_seed(8, 2), f, 12345, cookie,
                                  100, &got));  // other secret
  }
  EXPECT_EQ(cookie_mss_index(1460), 5);
  EXPECT_EQ(cookie_mss_index(1459), 4);
  EXPECT_EQ(cookie_mss_index(100), 0);
  EXPECT_EQ(cookie_mss_index(9000), 7);
}

TEST(TcpCookieTest, TimestampBitsRoundTripAndStayBehindTheClock) {
  for (uint8_t ws = 0; ws <= 14; ++ws) {
    for (bool sack : {false, true}) {
      CookieTsBits b{.wscale_ok = true, .wscale = ws, .sack_ok = sack};
      const uint32_t now = 123'456'789;
      const uint32_t ts = cookie_ts_encode(now, b);
      EXPECT_LT(ts, now);  // later TSvals (the clock) are never smaller
      const CookieTsBits d = cookie_ts_decode(ts);
      EXPECT_TRUE(d.wscale_ok);
      EXPECT_EQ(d.wscale, ws);
      EXPECT_EQ(d.sack_ok, sack);
    }
  }
  const CookieTsBits none = cookie_ts_decode(
      cookie_ts_encode(5000, CookieTsBits{.wscale_ok = false}));
  EXPECT_FALSE(none.wscale_ok);
}

// --- RSS -------------------------------------------------------------------

TEST(RssHashTest, ToeplitzMatchesTheMicrosoftVerificationSuite) {
  // "Verifying the RSS Hash Calculation" (Microsoft): the default key and
  // 66.9.149.187:2794 -> 161.142.100.80:1766 hashes to 0x51ccc178.
  const uint8_t key[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
                           0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
                           0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
                           0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
                           0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  const RssHash h = RssHash::toeplitz(key, 4);
  // Our side is the destination of the received packet.
  const FlowKey k = FlowKey::v4(Ipv4Addr::of(161, 142, 100, 80), 1766,
                                Ipv4Addr::of(66, 9, 149, 187), 2794);
  EXPECT_EQ(h.hash(k), 0x51ccc178u);
  EXPECT_EQ(h.worker_for(k), (0x51ccc178u & 127) % 4);
  const FlowKey k2 = FlowKey::v4(Ipv4Addr::of(65, 69, 140, 83), 4739,
                                 Ipv4Addr::of(199, 92, 111, 2), 14230);
  EXPECT_EQ(h.hash(k2), 0xc626b0eau);
  EXPECT_EQ(RssHash::single_worker().worker_for(k), 0);
  EXPECT_FALSE(RssHash::toeplitz({key, 10}, 4).is_toeplitz());
}

// --- Flow table, timer wheel, handles --------------------------------------

TEST(FlowTableTest, InsertFindEraseWithBackwardShift) {
  FlowTable t(1000, 99);
  std::vector<FlowKey> keys;
  for (uint32_t i = 0; i < 1000; ++i) {
    keys.push_back(i % 2 == 0
                       ? FlowKey::v4(kOurIp, 443, Ipv4Addr{0xc6120000u + i},
                                     static_cast<uint16_t>(1024 + i))
                       : FlowKey::v6(our_ip6(), 443, peer_ip6(),
                                     static_cast<uint16_t>(1024 + i)));
    ASSERT_TRUE(t.insert(keys.back(), i));
  }
  EXPECT_FALSE(t.insert(keys[5], 5));  // slot in use
  EXPECT_EQ(t.size(), 1000u);
  EXPECT_GE(t.buckets(), 2000u);
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(t.find(keys[i]), i);
  }
  // Erase every third entry; everything else must stay findable (the
  // backward shift keeps probe chains intact without tombstones).
  for (uint32_t i = 0; i < 1000; i += 3) {
    ASSERT_TRUE(t.erase(i));
  }
  EXPECT_FALSE(t.erase(0));
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(t.find(keys[i]), i % 3 == 0 ? FlowTable::kNone : i) << i;
  }
  EXPECT_EQ(t.find(FlowKey::v4(kOurIp, 1, kPeerIp, 1)), FlowTable::kNone);
}

TEST(FlowTableTest, SizedForAMillionConnections) {
  FlowTable t(1u << 20, 5);
  EXPECT_EQ(t.capacity(), 1u << 20);
  EXPECT_EQ(t.buckets(), 2u << 20);
  for (uint32_t i = 0; i < (1u << 20); i += 97) {
    ASSERT_TRUE(t.insert(
        FlowKey::v4(kOurIp, 443, Ipv4Addr{i}, static_cast<uint16_t>(i)), i));
  }
  EXPECT_LT(t.max_probe(), 64u);
}

TEST(TimerWheelTest, FiresInOrderAcrossRotations) {
  TimerWheel w(16, 8, 100);  // 8 slots: rotations every 8 ticks
  w.schedule(1, 103);
  w.schedule(2, 120);  // beyond one rotation
  w.schedule(3, 50);   // in the past: fires at the next advance
  w.schedule(4, 105);
  w.cancel(4);
  std::vector<uint32_t> fired;
  const auto f = [&](uint32_t id) { fired.push_back(id); };
  EXPECT_EQ(w.advance(104, f), 2u);
  EXPECT_EQ(fired, (std::vector<uint32_t>{3, 1}));
  EXPECT_EQ(w.advance(119, f), 0u);  // 2 sits in slot 0 but is not due
  EXPECT_EQ(w.advance(120, f), 1u);
  EXPECT_FALSE(w.scheduled(2));
  // A long jump visits every slot once.
  w.schedule(5, 200);
  w.schedule(6, 5000);
  EXPECT_EQ(w.advance(10'000, f), 2u);
  EXPECT_EQ(w.size(), 0u);
  // A callback may reschedule its own timer.
  w.schedule(7, 10'001);
  int n = 0;
  w.advance(10'005, [&](uint32_t id) {
    if (++n < 3) {
      w.schedule(id, w.now() + 1);
    }
  });
  EXPECT_EQ(n, 3);
}

TEST(TcpHandleTest, PacksWorkerSlotGeneration) {
  const ConnHandle h = ConnHandle::of(3, 0x12345, 0xabcdef);
  EXPECT_EQ(h.worker(), 3);
  EXPECT_EQ(h.slot(), 0x12345u);
  EXPECT_EQ(h.generation(), 0xabcdefu);
  EXPECT_TRUE(h.valid());
  EXPECT_FALSE(ConnHandle{}.valid());
  EXPECT_NE(h, ConnHandle::of(3, 0x12345, 0xabcdee));
}

TEST(TcpSizeTest, IdleConnectionStateFitsTheBudget) {
  static_assert(sizeof(TcpConn) <= 512);
  init_dpdk_once();
  NetConfig n;
  n.mac = kOurMac;
  n.ipv4 = {Ipv4Interface{kOurIp, 24}};
  std::string err;
  auto net = NetStack::create(n, tcp_pool(), &err);
  TcpConfig c;
  c.max_connections = 1u << 20;
  auto tcp = TcpStack::create(c, net.get(), tcp_pool(), &err);
  ASSERT_NE(tcp, nullptr) << err;
  const size_t per = TcpStack::bytes_per_connection(*tcp);
  std::printf(
      "TcpConn %zu bytes; with flow table and timer %zu bytes per "
      "connection (1M connections: %zu MB)\n",
      sizeof(TcpConn), per, per * (1u << 20) >> 20);
  EXPECT_LE(sizeof(TcpConn), 512u);
}

TEST(TcpNamesTest, EveryEnumHasAUniqueName) {
  std::set<std::string> s;
#define CHECK_STATE(name, str, bit) \
  EXPECT_TRUE(s.insert(tcp_state_name(TcpState::name)).second);
  DPTLS_TCP_STATES(CHECK_STATE)
#undef CHECK_STATE
  EXPECT_STREQ(tcp_state_name(TcpState::kTimeWait), "TIME-WAIT");
  EXPECT_STREQ(tcp_event_name(TcpEventType::kPeerClosed), "peer_closed");
  EXPECT_STREQ(tcp_result_name(TcpResult::kStaleHandle), "stale_handle");
  EXPECT_STREQ(tcp_close_reason_name(TcpCloseReason::kRefused), "refused");
  EXPECT_STREQ(drop_reason_name(DropReason::kTcpPaws), "tcp_paws");
}

// --- Fault injector --------------------------------------------------------

TEST_F(ReassemblyTest, FaultInjectorIsSeededAndCountsEverything) {
  const auto run = [](uint64_t seed) {
    FaultConfig f;
    f.drop = 0.2;
    f.duplicate = 0.2;
    f.reorder = 0.2;
    f.reorder_ticks = 50;
    f.corrupt = 0.2;
    f.corrupt_skip = 10;
    f.seed = seed;
    FaultInjector inj(f, tcp_pool());
    std::vector<Bytes> out;
    for (uint32_t t = 0; t < 200; ++t) {
      Bytes b(64, static_cast<uint8_t>(t));
      rte_mbuf* m = make_mbuf(b);
      inj.push(&m, 1, t);
      rte_mbuf* got[8];
      uint16_t n = inj.pull(got, 8, t);
      for (uint16_t i = 0; i < n; ++i) {
        out.push_back(to_bytes(got[i]));
        rte_pktmbuf_free(got[i]);
      }
    }
    rte_mbuf* got[8];
    uint16_t n = 0;
    while ((n = inj.pull(got, 8, UINT64_MAX)) > 0) {
      for (uint16_t i = 0; i < n; ++i) {
        out.push_back(to_bytes(got[i]));
        rte_pktmbuf_free(got[i]);
      }
    }
    const FaultStats& s = inj.stats();
    EXPECT_EQ(s.frames_in, 200u);
    EXPECT_EQ(s.frames_out, s.frames_in - s.dropped + s.duplicated);
    EXPECT_GT(s.dropped, 20u);
    EXPECT_GT(s.duplicated, 20u);
    EXPECT_GT(s.reordered, 20u);
    EXPECT_GT(s.corrupted, 20u);
    return out;
  };
  const std::vector<Bytes> a = run(11);
  EXPECT_EQ(a, run(11));  // same seed, same faults
  EXPECT_NE(a, run(12));
  // Reordered: some frame comes out after a later one; corrupted frames
  // differ from every original in exactly one bit past the first 10 bytes.
  bool reordered = false;
  size_t corrupted = 0;
  for (size_t i = 1; i < a.size(); ++i) {
    reordered |= a[i][0] < a[i - 1][0];
  }
  for (const Bytes& b : a) {
    int bits = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      bits += __builtin_popcount(b[i] ^ b[0]);
      if (b[i] != b[0]) {
        EXPECT_GE(i, 10u);
      }
    }
    if (bits == 1) {
      ++corrupted;
    }
  }
  EXPECT_TRUE(reordered);
  EXPECT_GT(corrupted, 10u);
}

}  // namespace
}  // namespace dptls::net::testing
