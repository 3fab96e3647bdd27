// The neighbour cache on its own, with a recording sink: learning, expiry,
// resolution, the per-entry queue limit, retransmission and giving up,
// probing of stale entries, table-full behaviour, and the open-addressing
// index against a model under random inserts and removals.
#include "dptls/net/neighbor.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "net_test_support.h"

namespace dptls::net::testing {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

struct Solicit {
  NeighborKey key;
  bool unicast;
  MacAddr mac;
};

class RecordingSink : public NeighborSink {
 public:
  ~RecordingSink() override {
    for (rte_mbuf* m : released) {
      rte_pktmbuf_free(m);
    }
  }
  bool solicit(const NeighborKey& key, const MacAddr* unicast,
               const rte_mbuf* /*hint*/) override {
    if (refuse) {
      return false;
    }
    solicits.push_back(
        {key, unicast != nullptr, unicast != nullptr ? *unicast : MacAddr{}});
    return true;
  }
  void release(rte_mbuf* m, const MacAddr& mac) override {
    released.push_back(m);
    released_to.push_back(mac);
  }
  void drop_unresolved(rte_mbuf* m) override {
    ++dropped;
    rte_pktmbuf_free(m);
  }

  bool refuse = false;
  std::vector<Solicit> solicits;
  std::vector<rte_mbuf*> released;
  std::vector<MacAddr> released_to;
  int dropped = 0;
};

class NeighborTest : public LeakCheckedTest {
 protected:
  NeighborTest() : table_(config()) {}
  ~NeighborTest() override { table_.clear(sink_); }

  static NeighborConfig config() {
    NeighborConfig c;
    c.capacity = 8;
    c.queue_len = 3;
    c.reachable_ticks = 30 * kSec;
    c.stale_ticks = 60 * kSec;
    c.retrans_ticks = 1 * kSec;
    c.max_probes = 3;
    return c;
  }
  static rte_mbuf* pkt() { return make_mbuf(Bytes(60, 0xab)); }
  static NeighborKey key(uint8_t last) {
    return NeighborKey::of(Ipv4Addr::of(198, 18, 0, last));
  }
  // Parks `per_key` packets for each of key(first)..key(last) in `t`.
  void park(NeighborTable& t, uint8_t first, uint8_t last, int per_key = 1) {
    MacAddr mac;
    for (int i = first; i <= last; ++i) {
      for (int n = 0; n < per_key; ++n) {
        ASSERT_EQ(
            t.resolve(key(static_cast<uint8_t>(i)), pkt(), now_, sink_, &mac),
            ResolveResult::kQueued);
      }
    }
  }

  RecordingSink sink_;
  NeighborTable table_;
  uint64_t now_ = 100 * kSec;
};

TEST_F(NeighborTest, KeysOfBothFamilies) {
  const NeighborKey k4 = NeighborKey::of(kPeerIp);
  EXPECT_TRUE(k4.is_ipv4());
  EXPECT_EQ(k4.ipv4(), kPeerIp);
  const NeighborKey k6 = NeighborKey::of(peer_ip6());
  EXPECT_FALSE(k6.is_ipv4());
  EXPECT_EQ(k6.ipv6(), peer_ip6());
  EXPECT_NE(k4, k6);
}

TEST_F(NeighborTest, ResolveUnknownParksAndSolicits) {
  MacAddr mac;
  rte_mbuf* m = pkt();
  EXPECT_EQ(table_.resolve(key(1), m, now_, sink_, &mac),
            ResolveResult::kQueued);
  ASSERT_EQ(sink_.solicits.size(), 1u);
  EXPECT_FALSE(sink_.solicits[0].unicast);
  const NeighborEntry* e = table_.find(key(1));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighborState::kIncomplete);
  EXPECT_EQ(e->queued, 1);

  // The answer releases the parked packet to the learned MAC.
  EXPECT_TRUE(
      table_.learn(key(1), &kPeerMac, {.solicited = true}, now_, sink_));
  ASSERT_EQ(sink_.released.size(), 1u);
  EXPECT_EQ(sink_.released[0], m);
  EXPECT_EQ(sink_.released_to[0], kPeerMac);
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kReachable);
  EXPECT_EQ(table_.resolve(key(1), nullptr, now_, sink_, &mac),
            ResolveResult::kResolved);
  EXPECT_EQ(mac, kPeerMac);
}

TEST_F(NeighborTest, QueueLimitPerEntry) {
  MacAddr mac;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(table_.resolve(key(1), pkt(), now_, sink_, &mac),
              ResolveResult::kQueued);
  }
  MbufPtr extra(pkt());
  EXPECT_EQ(table_.resolve(key(1), extra.get(), now_, sink_, &mac),
            ResolveResult::kQueueFull);
  // Only the first packet solicited (one request per destination per
  // retransmission interval, RFC 1122 2.3.2.1).
  EXPECT_EQ(sink_.solicits.size(), 1u);
  EXPECT_EQ(table_.find(key(1))->queued, 3);
}

TEST_F(NeighborTest, RetransmitsThenGivesUpAndDropsParked) {
  MacAddr mac;
  table_.resolve(key(1), pkt(), now_, sink_, &mac);
  table_.resolve(key(1), pkt(), now_, sink_, &mac);
  table_.tick(now_ + kSec / 2, sink_);
  EXPECT_EQ(sink_.solicits.size(), 1u);  // not yet due
  table_.tick(now_ + kSec, sink_);
  EXPECT_EQ(sink_.solicits.size(), 2u);
  table_.tick(now_ + 2 * kSec, sink_);
  EXPECT_EQ(sink_.solicits.size(), 3u);
  EXPECT_EQ(sink_.dropped, 0);
  table_.tick(now_ + 3 * kSec, sink_);
  EXPECT_EQ(sink_.solicits.size(), 3u);  // max_probes reached
  EXPECT_EQ(sink_.dropped, 2);
  EXPECT_EQ(table_.find(key(1)), nullptr);
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(table_.expired(), 1u);
}

TEST_F(NeighborTest, RefusedSolicitIsRetriedWithoutCountingAProbe) {
  MacAddr mac;
  sink_.refuse = true;
  table_.resolve(key(1), pkt(), now_, sink_, &mac);
  EXPECT_EQ(table_.find(key(1))->probes, 0);
  sink_.refuse = false;
  table_.tick(now_ + 1, sink_);
  EXPECT_EQ(sink_.solicits.size(), 1u);
  EXPECT_EQ(table_.find(key(1))->probes, 1);
}

TEST_F(NeighborTest, LearnFromRequestIsStaleAndUpdateOnlyNeedsEntry) {
  // RFC 826: without create, an unknown sender is not added.
  EXPECT_FALSE(table_.learn(key(1), &kPeerMac, {.create = false}, now_, sink_));
  EXPECT_EQ(table_.find(key(1)), nullptr);
  EXPECT_TRUE(table_.learn(key(1), &kPeerMac, {.create = true}, now_, sink_));
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kStale);
  EXPECT_EQ(table_.find(key(1))->mac, kPeerMac);
}

TEST_F(NeighborTest, ReachableExpiresToStaleThenIsForgotten) {
  table_.learn(key(1), &kPeerMac, {.create = true, .solicited = true}, now_,
               sink_);
  table_.tick(now_ + 30 * kSec - 1, sink_);
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kReachable);
  table_.tick(now_ + 30 * kSec, sink_);
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kStale);
  table_.tick(now_ + 90 * kSec, sink_);
  EXPECT_EQ(table_.find(key(1)), nullptr);
  EXPECT_EQ(table_.expired(), 1u);
  EXPECT_TRUE(sink_.solicits.empty());
}

TEST_F(NeighborTest, StaleInUseIsProbedByUnicastAndConfirmed) {
  table_.learn(key(1), &kPeerMac, {.create = true}, now_, sink_);
  MacAddr mac;
  MbufPtr m(pkt());
  EXPECT_EQ(table_.resolve(key(1), m.get(), now_, sink_, &mac),
            ResolveResult::kResolved);
  EXPECT_EQ(mac, kPeerMac);
  ASSERT_EQ(sink_.solicits.size(), 1u);
  EXPECT_TRUE(sink_.solicits[0].unicast);
  EXPECT_EQ(sink_.solicits[0].mac, kPeerMac);
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kProbe);
  // Still usable while probing; no extra probe per packet.
  EXPECT_EQ(table_.resolve(key(1), m.get(), now_, sink_, &mac),
            ResolveResult::kResolved);
  EXPECT_EQ(sink_.solicits.size(), 1u);
  table_.learn(key(1), &kPeerMac, {.solicited = true}, now_, sink_);
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kReachable);
}

TEST_F(NeighborTest, UnansweredProbesRemoveTheEntry) {
  table_.learn(key(1), &kPeerMac, {.create = true}, now_, sink_);
  MacAddr mac;
  MbufPtr m(pkt());
  table_.resolve(key(1), m.get(), now_, sink_, &mac);
  for (int i = 1; i <= 3; ++i) {
    table_.tick(now_ + i * kSec, sink_);
  }
  EXPECT_EQ(sink_.solicits.size(), 3u);
  EXPECT_EQ(table_.find(key(1)), nullptr);
}

TEST_F(NeighborTest, NonOverrideAdvertDoesNotReplaceMac) {
  const MacAddr other{{0x02, 0, 0, 0, 0, 0x99}};
  table_.learn(key(1), &kPeerMac, {.create = true, .solicited = true}, now_,
               sink_);
  table_.learn(key(1), &other, {.solicited = true, .override_mac = false}, now_,
               sink_);
  EXPECT_EQ(table_.find(key(1))->mac, kPeerMac);
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kStale);
  table_.learn(key(1), &other, {.solicited = false, .override_mac = true}, now_,
               sink_);
  EXPECT_EQ(table_.find(key(1))->mac, other);
}

TEST_F(NeighborTest, IncompleteNeedsALinkLayerAddress) {
  MacAddr mac;
  table_.resolve(key(1), pkt(), now_, sink_, &mac);
  EXPECT_FALSE(table_.learn(key(1), nullptr, {.solicited = true}, now_, sink_));
  EXPECT_EQ(table_.find(key(1))->state, NeighborState::kIncomplete);
}

TEST_F(NeighborTest, FullTableReclaimsStaleButNotIncomplete) {
  // No limit on Incomplete entries here, so they can fill the table.
  NeighborConfig c = config();
  c.max_incomplete = c.capacity + 1;
  NeighborTable t(c);
  park(t, 1, 8);
  MacAddr mac;
  MbufPtr m(pkt());
  EXPECT_EQ(t.resolve(key(9), m.get(), now_, sink_, &mac),
            ResolveResult::kTableFull);
  EXPECT_FALSE(t.learn(key(9), &kPeerMac, {.create = true}, now_, sink_));
  // Resolving one to Stale makes it reclaimable.
  t.learn(key(3), &kPeerMac, {.create = true}, now_, sink_);
  EXPECT_TRUE(t.learn(key(9), &kPeerMac, {.create = true}, now_, sink_));
  EXPECT_EQ(t.find(key(3)), nullptr);
  EXPECT_NE(t.find(key(9)), nullptr);
  EXPECT_EQ(t.size(), 8u);
  t.clear(sink_);
}

TEST_F(NeighborTest, SpoofedFloodTakesAtMostTheIncompleteLimit) {
  // RFC 6583 section 7: resolutions for addresses nobody answers (spoofed
  // on-link sources) hold at most a quarter of the table (8 / 4 = 2).
  ASSERT_EQ(table_.max_incomplete(), 2u);
  MacAddr mac;
  int refused = 0;
  for (uint8_t i = 10; i < 40; ++i) {
    MbufPtr m(pkt());
    const ResolveResult r = table_.resolve(key(i), m.get(), now_, sink_, &mac);
    if (r == ResolveResult::kQueued) {
      (void)m.release();
    } else {
      ASSERT_EQ(r, ResolveResult::kIncompleteLimit);
      ++refused;
    }
  }
  EXPECT_EQ(refused, 28);
  EXPECT_EQ(table_.size(), 2u);
  EXPECT_EQ(table_.incomplete(), 2u);
  EXPECT_EQ(table_.find(key(12)), nullptr);  // refused: no entry made
  // A legitimate neighbour that talks to us still gets an entry at once.
  EXPECT_TRUE(table_.learn(key(1), &kPeerMac, {.create = true}, now_, sink_));
  // The spoofed resolutions give up after max_probes requests, and a new
  // resolution gets an entry again.
  for (int s = 1; s <= 3; ++s) {
    table_.tick(now_ + s * kSec, sink_);
  }
  EXPECT_EQ(table_.incomplete(), 0u);
  EXPECT_EQ(sink_.dropped, 2);
  EXPECT_EQ(table_.resolve(key(2), pkt(), now_ + 3 * kSec, sink_, &mac),
            ResolveResult::kQueued);
  EXPECT_EQ(table_.incomplete(), 1u);
  EXPECT_TRUE(
      table_.learn(key(2), &kPeerMac, {.solicited = true}, now_, sink_));
  EXPECT_EQ(table_.incomplete(), 0u);
  EXPECT_EQ(sink_.released.size(), 1u);
}

TEST_F(NeighborTest, GatewayDisplacesAnIncompleteEntryInAFullTable) {
  NeighborConfig c = config();
  c.max_incomplete = c.capacity + 1;  // let spoofed resolutions fill the table
  c.gateway = key(200);
  NeighborTable t(c);
  park(t, 1, 8, 2);
  ASSERT_EQ(t.size(), 8u);
  MacAddr mac;
  MbufPtr other(pkt());
  EXPECT_EQ(t.resolve(key(9), other.get(), now_, sink_, &mac),
            ResolveResult::kTableFull);
  // The gateway takes the first Incomplete entry's place; that entry's two
  // parked packets are dropped through the sink, once each.
  sink_.solicits.clear();
  EXPECT_EQ(t.resolve(key(200), pkt(), now_, sink_, &mac),
            ResolveResult::kQueued);
  EXPECT_EQ(sink_.dropped, 2);
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.expired(), 1u);
  ASSERT_EQ(sink_.solicits.size(), 1u);
  EXPECT_EQ(sink_.solicits[0].key, key(200));
  EXPECT_TRUE(t.learn(key(200), &kPeerMac, {.solicited = true}, now_, sink_));
  ASSERT_EQ(sink_.released.size(), 1u);
  EXPECT_EQ(sink_.released_to[0], kPeerMac);
  EXPECT_EQ(t.resolve(key(200), other.get(), now_, sink_, &mac),
            ResolveResult::kResolved);
  EXPECT_EQ(mac, kPeerMac);
  t.clear(sink_);
  EXPECT_EQ(sink_.dropped, 2 + 7 * 2);
}

TEST_F(NeighborTest, GatewayIsExemptFromTheIncompleteLimit) {
  NeighborConfig c = config();
  c.gateway = key(200);
  NeighborTable t(c);
  park(t, 1, 2);
  MacAddr mac;
  MbufPtr m(pkt());
  EXPECT_EQ(t.resolve(key(3), m.get(), now_, sink_, &mac),
            ResolveResult::kIncompleteLimit);
  EXPECT_EQ(t.resolve(key(200), pkt(), now_, sink_, &mac),
            ResolveResult::kQueued);
  EXPECT_EQ(t.incomplete(), 3u);
  t.clear(sink_);
  EXPECT_EQ(t.incomplete(), 0u);
}

TEST_F(NeighborTest, IndexMatchesModelUnderChurn) {
  // Stale entries age out at their own times, so removals hit the middle of
  // probe runs and exercise the backward-shift deletion.
  NeighborConfig c = config();
  c.capacity = 256;
  c.stale_ticks = 40;
  NeighborTable t(c);
  std::map<uint32_t, uint64_t> model;  // address -> deadline
  std::mt19937 rng(7);
  uint64_t now = 0;
  for (int step = 0; step < 20000; ++step) {
    ++now;
    const uint32_t a = rng() % 200;
    const NeighborKey k = NeighborKey::of(Ipv4Addr{0xc6120000u + a});
    if (rng() % 4 != 0) {
      ASSERT_TRUE(t.learn(k, &kPeerMac, {.create = true}, now, sink_));
      model.emplace(a, now + c.stale_ticks);
    } else {
      t.tick(now, sink_);
      std::erase_if(model, [&](const auto& kv) { return kv.second <= now; });
    }
    ASSERT_EQ(t.size(), model.size()) << "step " << step;
    for (uint32_t b = 0; b < 200; ++b) {
      const bool present =
          t.find(NeighborKey::of(Ipv4Addr{0xc6120000u + b})) != nullptr;
      ASSERT_EQ(present, model.count(b) == 1) << "step " << step << " " << b;
    }
  }
}

TEST_F(NeighborTest, StateNames) {
  EXPECT_STREQ(neighbor_state_name(NeighborState::kIncomplete), "incomplete");
  EXPECT_STREQ(neighbor_state_name(NeighborState::kProbe), "probe");
}

}  // namespace
}  // namespace dptls::net::testing
