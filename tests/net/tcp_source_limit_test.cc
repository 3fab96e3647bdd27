// The per-source connection limit (TcpConfig::max_connections_per_source):
// the SourceTable on its own (counts, backward-shift deletion under churn)
// and the stack fed hand-made segments from several IPv4 sources and IPv6
// /64s: the SYN beyond the limit and a SYN-cookie ACK beyond it are dropped
// silently under tcp_source_limit, and every way a connection ends (RST,
// SYN-RECEIVED timeout, close through TIME-WAIT, abort) gives its place
// back.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>
#include <vector>

#include "dptls/net/tcp.h"
#include "dptls/net/tcp_source_limit.h"
#include "net_test_support.h"
#include "tcp_test_support.h"

namespace dptls::net::testing {
namespace {

// --- SourceTable -------------------------------------------------------------

SourceKey v4_source(uint32_t addr) {
  return SourceKey::of(FlowKey::v4(kOurIp, 80, Ipv4Addr{addr}, 1));
}

TEST(SourceTableTest, CountsUpToTheLimitAndForgetsAtZero) {
  SourceTable t(8, 1);
  const SourceKey a = v4_source(1);
  const SourceKey b = v4_source(2);
  EXPECT_TRUE(t.acquire(a, 2));
  EXPECT_TRUE(t.acquire(a, 2));
  EXPECT_FALSE(t.acquire(a, 2)) << "at the limit";
  EXPECT_EQ(t.count(a), 2u);
  EXPECT_TRUE(t.acquire(b, 2));
  EXPECT_EQ(t.sources(), 2u);
  EXPECT_EQ(t.connections(), 3u);
  EXPECT_TRUE(t.release(a));
  EXPECT_EQ(t.count(a), 1u);
  EXPECT_TRUE(t.release(a));
  EXPECT_EQ(t.count(a), 0u);
  EXPECT_FALSE(t.release(a)) << "no entry left to release";
  EXPECT_EQ(t.sources(), 1u);
  EXPECT_EQ(t.connections(), 1u);
  EXPECT_EQ(t.count(b), 1u);
}

TEST(SourceTableTest, NeverCountsMoreThanItsCapacity) {
  SourceTable t(4, 1);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(t.acquire(v4_source(i), 10));
  }
  EXPECT_FALSE(t.acquire(v4_source(9), 10));
  EXPECT_FALSE(t.acquire(v4_source(0), 10));
  EXPECT_EQ(t.connections(), 4u);
}

TEST(SourceTableTest, Ipv6SourcesAreSlash64AndDistinctFromIpv4) {
  const Ipv6Addr a = ip6({0x2001, 0xdb8, 0, 5, 0, 0, 0, 1});
  const Ipv6Addr b = ip6({0x2001, 0xdb8, 0, 5, 0xffff, 1, 2, 3});
  const Ipv6Addr c = ip6({0x2001, 0xdb8, 0, 6, 0, 0, 0, 1});
  const auto key6 = [](const Ipv6Addr& x) {
    return SourceKey::of(FlowKey::v6(our_ip6(), 443, x, 5000));
  };
  EXPECT_EQ(key6(a), key6(b));
  EXPECT_FALSE(key6(a) == key6(c));
  // ::/64 and IPv4 0.0.0.0 stay apart.
  EXPECT_FALSE(key6(Ipv6Addr{}) == v4_source(0));
  EXPECT_EQ(v4_source(7), v4_source(7));
}

// Many sources churned through a small table (load up to 0.5, so clusters
// form and backward shifts run), checked against a map after every step:
// no count leaks, no entry is lost by a shift, and the table ends empty.
TEST(SourceTableTest, ChurnAgainstAReferenceEndsEmpty) {
  for (const uint64_t seed : {1ull, 2ull, 0xdeadbeefull}) {
    SCOPED_TRACE(seed);
    constexpr uint32_t kCap = 64;
    constexpr uint32_t kLimit = 3;
    SourceTable t(kCap, seed);
    std::map<uint32_t, uint32_t> ref;
    uint32_t total = 0;
    std::mt19937 rng(static_cast<uint32_t>(seed));
    for (int step = 0; step < 200'000; ++step) {
      const uint32_t addr = rng() % 97;  // more sources than fit at once
      const bool add = (rng() % 2) == 0;
      const SourceKey k = v4_source(addr);
      if (add) {
        const bool want =
            ref[addr] < kLimit && total < kCap;  // mirrors acquire()
        ASSERT_EQ(t.acquire(k, kLimit), want) << step;
        if (want) {
          ++ref[addr];
          ++total;
        }
      } else {
        const bool want = ref[addr] > 0;
        ASSERT_EQ(t.release(k), want) << step;
        if (want) {
          --ref[addr];
          --total;
        }
      }
      if (ref[addr] == 0) {
        ref.erase(addr);
      }
      ASSERT_EQ(t.connections(), total) << step;
      ASSERT_EQ(t.sources(), ref.size()) << step;
      if (step % 64 == 0) {
        for (uint32_t a = 0; a < 97; ++a) {
          const auto it = ref.find(a);
          ASSERT_EQ(t.count(v4_source(a)), it == ref.end() ? 0 : it->second)
              << "step " << step << " source " << a;
        }
      }
    }
    for (const auto& [addr, n] : ref) {
      for (uint32_t i = 0; i < n; ++i) {
        ASSERT_TRUE(t.release(v4_source(addr)));
      }
    }
    EXPECT_EQ(t.sources(), 0u);
    EXPECT_EQ(t.connections(), 0u);
    EXPECT_LT(t.max_probe(), t.buckets());
  }
}

// --- The stack ---------------------------------------------------------------

class TcpSourceLimitTest : public RawTcpTest {
 protected:
  void rebuild_with_limit(uint32_t limit, uint32_t syn_backlog = 1024) {
    TcpConfig c = default_tcp_config();
    c.max_connections_per_source = limit;
    c.syn_backlog = syn_backlog;
    c.syn_retries = 2;
    rebuild(c);
    ASSERT_EQ(tcp_->listen(TcpListen{.port = 80}), TcpResult::kOk);
  }
  void inject4(Ipv4Addr src, const Seg& s) {
    Bytes f = eth(kOurMac, kPeerMac, 0x0800);
    append(f, ipv4(src, kOurIp, 6, tcp_bytes(src, kOurIp, s)));
    inject_frame(f);
  }
  void inject6(const Ipv6Addr& src, const Seg& s) {
    Bytes t = tcp_bytes(kPeerIp, kOurIp, s);
    t[16] = t[17] = 0;
    const uint16_t c = ref_fold_complement(ref_sum(
        t, ref_pseudo6(src, our_ip6(), 6, static_cast<uint32_t>(t.size()))));
    t[16] = static_cast<uint8_t>(c >> 8);
    t[17] = static_cast<uint8_t>(c);
    Bytes f = eth(kOurMac, kPeerMac, 0x86dd);
    append(f, ipv6(src, our_ip6(), 6, t));
    inject_frame(f);
  }
  static Seg syn(uint16_t sport, uint32_t isn = 1000) {
    return Seg{.sport = sport,
               .dport = 80,
               .seq = isn,
               .flags = kTcpSyn,
               .win = 65535};
  }
  // Runs the timers every 100 ms for `ms` (SYN-RECEIVED backs off and
  // gives up within 7 s at syn_retries = 2).
  void settle_ms(uint64_t ms) {
    for (uint64_t t = 0; t < ms; t += 100) {
      advance_ms(100);
    }
  }
  uint32_t count4(Ipv4Addr src) const {
    return tcp_->source_connections(FlowKey::v4(kOurIp, 80, src, 1));
  }
  uint32_t count6(const Ipv6Addr& src) const {
    return tcp_->source_connections(FlowKey::v6(our_ip6(), 80, src, 1));
  }
  // SYN-ACKs sent since the last call, to peer port `dport`.
  size_t syn_acks_to(uint16_t dport) {
    size_t n = 0;
    for (const Seg& s : sent()) {
      n += s.dport == dport && s.flags == (kTcpSyn | kTcpAck) ? 1 : 0;
    }
    return n;
  }
};

TEST_F(TcpSourceLimitTest, SynBeyondTheLimitIsDroppedUntilOneCloses) {
  rebuild_with_limit(3);
  for (uint16_t port = 1; port <= 3; ++port) {
    inject4(kPeerIp, syn(port));
  }
  EXPECT_EQ(tcp_->connections(), 3u);
  EXPECT_EQ(count4(kPeerIp), 3u);
  sent();
  inject4(kPeerIp, syn(4));
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 1u);
  EXPECT_EQ(tcp_->connections(), 3u);
  EXPECT_EQ(syn_acks_to(4), 0u) << "dropped silently: no SYN-ACK";
  EXPECT_TRUE(sent().empty()) << "and no RST";
  // Another host is not affected.
  const Ipv4Addr other = Ipv4Addr::of(198, 18, 0, 7);
  inject4(other, syn(4));
  EXPECT_EQ(tcp_->connections(), 4u);
  EXPECT_EQ(count4(other), 1u);
  // A RST ends port 1's SYN-RECEIVED connection; its place is free again.
  inject4(kPeerIp, Seg{.sport = 1, .dport = 80, .seq = 1001, .flags = kTcpRst});
  EXPECT_EQ(count4(kPeerIp), 2u);
  inject4(kPeerIp, syn(4));
  EXPECT_EQ(count4(kPeerIp), 3u);
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 1u);
  EXPECT_EQ(tcp_->connections(), 4u);
  EXPECT_EQ(tcp_->sources(), 2u);
  // The SYN-RECEIVED ones give up (2 retries) and every count goes.
  settle_ms(10'000);
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_EQ(tcp_->sources(), 0u);
  EXPECT_EQ(count4(kPeerIp), 0u);
}

TEST_F(TcpSourceLimitTest, OffByDefault) {
  TcpConfig c = default_tcp_config();
  EXPECT_EQ(c.max_connections_per_source, 0u);
  rebuild(c);
  const size_t off = TcpStack::bytes_per_connection(*tcp_);
  c.max_connections_per_source = 8;
  rebuild(c);
  EXPECT_EQ(TcpStack::bytes_per_connection(*tcp_), off + 48)
      << "2 buckets of 24 bytes per slot, only when on";
  c.max_connections_per_source = 0;
  rebuild(c);
  tcp_->listen(TcpListen{.port = 80});
  for (uint16_t port = 1; port <= 40; ++port) {
    inject4(kPeerIp, syn(port));
  }
  EXPECT_EQ(tcp_->connections(), 40u);
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 0u);
  EXPECT_EQ(tcp_->sources(), 0u);
}

TEST_F(TcpSourceLimitTest, EstablishedAndTimeWaitCountUntilFreed) {
  rebuild_with_limit(1);
  const ConnHandle h = accept_one(opt_mss(1460));  // kPeerIp:40000
  ASSERT_TRUE(h.valid());
  EXPECT_EQ(count4(kPeerIp), 1u);
  inject4(kPeerIp, syn(2));
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 1u);
  // We close first: FIN-WAIT-1, -2, then TIME-WAIT, which still counts.
  ASSERT_EQ(tcp_->close(h, now_), TcpResult::kOk);
  sent();
  const auto peer = [&](uint32_t off, uint8_t flags) {
    return Seg{.sport = 40000,
               .dport = 80,
               .seq = peer_isn_ + 1 + off,
               .ack = our_isn_ + 2,
               .flags = flags,
               .win = 65535};
  };
  inject(peer(0, kTcpAck));
  inject(peer(0, kTcpAck | kTcpFin));
  events();
  EXPECT_EQ(tcp_->connections(), 1u) << "TIME-WAIT";
  EXPECT_EQ(count4(kPeerIp), 1u);
  inject4(kPeerIp, syn(3));
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 2u);
  advance_ms(60'001);  // 2 MSL
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_EQ(count4(kPeerIp), 0u);
  inject4(kPeerIp, syn(3));
  EXPECT_EQ(count4(kPeerIp), 1u);
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 2u);
}

TEST_F(TcpSourceLimitTest, PeerCloseResetAndAbortGiveThePlaceBack) {
  rebuild_with_limit(1);
  // The peer closes: CLOSE-WAIT, LAST-ACK, freed on the last ACK.
  ConnHandle h = accept_one(opt_mss(1460));
  ASSERT_TRUE(h.valid());
  const auto peer = [&](uint32_t off, uint8_t flags, uint32_t ack_off) {
    return Seg{.sport = 40000,
               .dport = 80,
               .seq = peer_isn_ + 1 + off,
               .ack = our_isn_ + 1 + ack_off,
               .flags = flags,
               .win = 65535};
  };
  inject(peer(0, kTcpAck | kTcpFin, 0));
  ASSERT_EQ(tcp_->close(h, now_), TcpResult::kOk);
  EXPECT_EQ(count4(kPeerIp), 1u) << "LAST-ACK still counts";
  inject(peer(1, kTcpAck, 1));
  events();
  sent();
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_EQ(count4(kPeerIp), 0u);
  // A RST in ESTABLISHED.
  peer_isn_ = 5000;
  h = accept_one(opt_mss(1460));
  ASSERT_TRUE(h.valid());
  EXPECT_EQ(count4(kPeerIp), 1u);
  inject(peer(0, kTcpRst, 0));
  events();
  sent();
  EXPECT_EQ(count4(kPeerIp), 0u);
  // abort() from our side.
  peer_isn_ = 9000;
  h = accept_one(opt_mss(1460));
  ASSERT_TRUE(h.valid());
  EXPECT_EQ(count4(kPeerIp), 1u);
  ASSERT_EQ(tcp_->abort(h, now_), TcpResult::kOk);
  EXPECT_EQ(count4(kPeerIp), 0u);
  EXPECT_EQ(tcp_->sources(), 0u);
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 0u);
}

TEST_F(TcpSourceLimitTest, Ipv6SourcesShareTheirSlash64) {
  rebuild_with_limit(2);
  ASSERT_EQ(tcp_->listen(TcpListen{.family = L3Family::kIpv6, .port = 80}),
            TcpResult::kOk);
  const Ipv6Addr a = ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xa});
  const Ipv6Addr b = ip6({0x2001, 0xdb8, 0, 0, 0x1234, 0, 0, 0xb});
  const Ipv6Addr c = ip6({0x2001, 0xdb8, 0, 0, 0xffff, 0, 0, 0xc});
  const Ipv6Addr other = ip6({0x2001, 0xdb8, 0, 1, 0, 0, 0, 0xa});
  inject6(a, syn(1));
  inject6(b, syn(1));
  EXPECT_EQ(count6(a), 2u) << "a and b are one /64";
  EXPECT_EQ(tcp_->connections(), 2u);
  inject6(c, syn(1));
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 1u) << "c too";
  EXPECT_EQ(tcp_->connections(), 2u);
  inject6(other, syn(1));
  inject6(other, syn(2));
  EXPECT_EQ(tcp_->connections(), 4u) << "another /64 has its own count";
  EXPECT_EQ(count6(other), 2u);
  EXPECT_EQ(tcp_->sources(), 2u);
  // An IPv4 peer is counted apart.
  inject4(kPeerIp, syn(1));
  EXPECT_EQ(tcp_->connections(), 5u);
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 1u);
  settle_ms(10'000);
  EXPECT_EQ(tcp_->sources(), 0u);
}

TEST_F(TcpSourceLimitTest, SynCookiePathRespectsTheLimit) {
  rebuild_with_limit(1, /*syn_backlog=*/0);
  // Two SYNs get cookies while the source holds nothing.
  inject4(kPeerIp, syn(1, 1000));
  inject4(kPeerIp, syn(2, 2000));
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(tcp_->stats().syn_cookies_sent, 2u);
  EXPECT_EQ(tcp_->connections(), 0u);
  const auto ack_of = [](const Seg& syn_ack, uint32_t isn) {
    return Seg{.sport = syn_ack.dport,
               .dport = 80,
               .seq = isn + 1,
               .ack = syn_ack.seq + 1,
               .flags = kTcpAck,
               .win = 65535};
  };
  // The first ACK makes the connection; the second would exceed the limit.
  inject4(kPeerIp, ack_of(out[0], out[0].dport == 1 ? 1000 : 2000));
  EXPECT_EQ(tcp_->stats().syn_cookies_ok, 1u);
  EXPECT_EQ(count4(kPeerIp), 1u);
  inject4(kPeerIp, ack_of(out[1], out[1].dport == 1 ? 1000 : 2000));
  EXPECT_EQ(tcp_->stats().syn_cookies_ok, 1u);
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 1u);
  EXPECT_EQ(drops(DropReason::kTcpBadSynCookie), 0u);
  EXPECT_EQ(tcp_->connections(), 1u);
  EXPECT_TRUE(sent().empty()) << "dropped silently";
  // At the limit, a SYN gets no cookie either.
  inject4(kPeerIp, syn(3, 3000));
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), 2u);
  EXPECT_EQ(tcp_->stats().syn_cookies_sent, 2u);
  EXPECT_TRUE(sent().empty());
  events();
}

// Many sources through the stack: each opens up to the limit, some are
// reset, the rest time out; nothing is left counted at the end.
TEST_F(TcpSourceLimitTest, ChurnThroughTheStackLeavesTheTableEmpty) {
  rebuild_with_limit(2);
  std::mt19937 rng(7);
  uint64_t refused = 0;
  for (int round = 0; round < 20; ++round) {
    std::map<std::pair<uint32_t, uint16_t>, uint32_t> open;  // -> isn
    for (int i = 0; i < 60; ++i) {
      const Ipv4Addr src = Ipv4Addr::of(198, 18, 0, 10 + rng() % 20);
      const uint16_t port = static_cast<uint16_t>(1 + rng() % 4);
      const uint32_t isn = rng();
      const uint64_t before = drops(DropReason::kTcpSourceLimit);
      if (open.count({src.v, port}) != 0) {
        continue;  // that pair is in SYN-RECEIVED already
      }
      const bool full = count4(src) >= 2;
      inject4(src, syn(port, isn));
      if (full) {
        ++refused;
        ASSERT_EQ(drops(DropReason::kTcpSourceLimit), before + 1);
      } else {
        open[{src.v, port}] = isn;
      }
      ASSERT_LE(count4(src), 2u);
    }
    // Reset about half of them.
    for (const auto& [k, isn] : open) {
      if (rng() % 2 == 0) {
        inject4(Ipv4Addr{k.first}, Seg{.sport = k.second,
                                       .dport = 80,
                                       .seq = isn + 1,
                                       .flags = kTcpRst});
      }
    }
    settle_ms(10'000);  // the rest give up
    sent();
    ASSERT_EQ(tcp_->connections(), 0u) << round;
    ASSERT_EQ(tcp_->sources(), 0u) << round;
  }
  EXPECT_EQ(drops(DropReason::kTcpSourceLimit), refused);
  EXPECT_GT(refused, 0u);
}

}  // namespace
}  // namespace dptls::net::testing
