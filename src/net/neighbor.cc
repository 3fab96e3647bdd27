#include "dptls/net/neighbor.h"

#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

namespace dptls::net {
namespace {

// ::ffff:0:0/96, the IPv4-mapped prefix (RFC 4291 section 2.5.5.2).
constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0,    0,    0, 0,
                                                     0, 0, 0xff, 0xff, 0, 0};

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

NeighborKey NeighborKey::of(Ipv4Addr a) {
  NeighborKey k;
  std::memcpy(k.b.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  k.b[12] = static_cast<uint8_t>(a.v >> 24);
  k.b[13] = static_cast<uint8_t>(a.v >> 16);
  k.b[14] = static_cast<uint8_t>(a.v >> 8);
  k.b[15] = static_cast<uint8_t>(a.v);
  return k;
}

NeighborKey NeighborKey::of(const Ipv6Addr& a) { return NeighborKey{a.b}; }

Ipv4Addr NeighborKey::ipv4() const {
  return Ipv4Addr::of(b[12], b[13], b[14], b[15]);
}

Ipv6Addr NeighborKey::ipv6() const { return Ipv6Addr{b}; }

bool NeighborKey::is_ipv4() const {
  return std::memcmp(b.data(), kV4MappedPrefix.data(),
                     kV4MappedPrefix.size()) == 0;
}

const char* neighbor_state_name(NeighborState s) {
  switch (s) {
    case NeighborState::kIncomplete:
      return "incomplete";
    case NeighborState::kReachable:
      return "reachable";
    case NeighborState::kStale:
      return "stale";
    case NeighborState::kProbe:
      return "probe";
  }
  return "unknown";
}

NeighborTable::NeighborTable(const NeighborConfig& config) : config_(config) {
  if (config_.capacity == 0) {
    config_.capacity = 1;
  }
  if (config_.queue_len == 0) {
    config_.queue_len = 1;
  }
  if (config_.max_incomplete == 0) {
    config_.max_incomplete = std::max<uint32_t>(1, config_.capacity / 4);
  }
  entries_.resize(config_.capacity);
  free_.reserve(config_.capacity);
  for (uint32_t i = config_.capacity; i > 0; --i) {
    free_.push_back(i - 1);
  }
  // At most half the slots are used, so probe sequences stay short.
  uint32_t slots = 1;
  while (slots < 2 * config_.capacity) {
    slots <<= 1;
  }
  index_.assign(slots, kEmpty);
  index_mask_ = slots - 1;
  queues_.assign(static_cast<size_t>(config_.capacity) * config_.queue_len,
                 nullptr);
}

NeighborTable::~NeighborTable() {
  // Parked packets must have been dropped through clear(); free any left so
  // a forgotten clear() does not leak mbufs.
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    NeighborEntry& e = entries_[i];
    for (uint16_t q = 0; e.in_use && q < e.queued; ++q) {
      rte_pktmbuf_free(queue_of(i)[q]);
    }
  }
}

uint32_t NeighborTable::slot_of(const NeighborKey& key) const {
  // Two 64-bit multiplicative mixes; the keys are not adversarial enough to
  // need SipHash (a worker's neighbours are on its own link).
  const uint64_t h = load64(key.b.data()) * 0x9e3779b97f4a7c15ULL ^
                     load64(key.b.data() + 8) * 0xc2b2ae3d27d4eb4fULL;
  return static_cast<uint32_t>((h ^ (h >> 29)) >> 16) & index_mask_;
}

uint32_t NeighborTable::find_index(const NeighborKey& key) const {
  for (uint32_t s = slot_of(key);; s = (s + 1) & index_mask_) {
    const uint32_t i = index_[s];
    if (i == kEmpty) {
      return kEmpty;
    }
    if (entries_[i].key == key) {
      return i;
    }
  }
}

const NeighborEntry* NeighborTable::find(const NeighborKey& key) const {
  const uint32_t i = find_index(key);
  return i == kEmpty ? nullptr : &entries_[i];
}

NeighborEntry* NeighborTable::insert(const NeighborKey& key,
                                     NeighborSink& sink) {
  if (free_.empty() && !reclaim_one() &&
      (key != config_.gateway || !evict_for_gateway(sink))) {
    return nullptr;
  }
  const uint32_t i = free_.back();
  free_.pop_back();
  uint32_t s = slot_of(key);
  while (index_[s] != kEmpty) {
    s = (s + 1) & index_mask_;
  }
  index_[s] = i;
  NeighborEntry& e = entries_[i];
  e = NeighborEntry{};
  e.key = key;
  e.in_use = true;
  ++size_;
  return &e;
}

bool NeighborTable::reclaim_one() {
  // Only a Stale entry may make room: it is unconfirmed and holds no
  // packets, so forgetting it costs at most one more resolution.
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].in_use && entries_[i].state == NeighborState::kStale) {
      remove(i);
      ++expired_;
      return true;
    }
  }
  return false;
}

bool NeighborTable::evict_for_gateway(NeighborSink& sink) {
  // Called with no Stale entry left. The gateway carries every off-link
  // packet, so it displaces an Incomplete entry (a resolution that may be
  // spoofed), else a confirmed one, which costs that neighbour one more
  // resolution.
  uint32_t victim = kEmpty;
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    const NeighborEntry& e = entries_[i];
    if (!e.in_use || e.key == config_.gateway) {
      continue;
    }
    victim = i;
    if (e.state == NeighborState::kIncomplete) {
      break;
    }
  }
  if (victim == kEmpty) {
    return false;
  }
  drop_queue(entries_[victim], sink);
  remove(victim);
  ++expired_;
  return true;
}

void NeighborTable::remove(uint32_t index) {
  uint32_t s = slot_of(entries_[index].key);
  while (index_[s] != index) {
    s = (s + 1) & index_mask_;
  }
  // Backward-shift deletion: pull later members of the probe run into the
  // hole so lookups never need tombstones.
  uint32_t hole = s;
  for (uint32_t next = (hole + 1) & index_mask_; index_[next] != kEmpty;
       next = (next + 1) & index_mask_) {
    const uint32_t home = slot_of(entries_[index_[next]].key);
    // Move `next` into the hole unless its home lies cyclically in
    // (hole, next].
    const bool home_after_hole =
        ((next - home) & index_mask_) < ((next - hole) & index_mask_);
    if (!home_after_hole) {
      index_[hole] = index_[next];
      hole = next;
    }
  }
  index_[hole] = kEmpty;
  if (entries_[index].state == NeighborState::kIncomplete) {
    --incomplete_;
  }
  entries_[index].in_use = false;
  entries_[index].queued = 0;
  free_.push_back(index);
  --size_;
}

void NeighborTable::drop_queue(NeighborEntry& e, NeighborSink& sink) {
  rte_mbuf** queue = queue_of(static_cast<uint32_t>(&e - entries_.data()));
  const uint16_t n = e.queued;
  e.queued = 0;
  for (uint16_t q = 0; q < n; ++q) {
    sink.drop_unresolved(queue[q]);
    queue[q] = nullptr;
  }
}

void NeighborTable::release_queue(NeighborEntry& e, NeighborSink& sink) {
  rte_mbuf** queue = queue_of(static_cast<uint32_t>(&e - entries_.data()));
  const uint16_t n = e.queued;
  e.queued = 0;
  const MacAddr mac = e.mac;
  for (uint16_t q = 0; q < n; ++q) {
    rte_mbuf* m = queue[q];
    queue[q] = nullptr;
    sink.release(m, mac);
  }
}

void NeighborTable::send_request(NeighborEntry& e, uint64_t now,
                                 NeighborSink& sink, const rte_mbuf* hint) {
  const bool unicast = e.state == NeighborState::kProbe;
  const MacAddr mac = e.mac;
  if (sink.solicit(e.key, unicast ? &mac : nullptr, hint)) {
    ++e.probes;
    e.deadline = now + config_.retrans_ticks;
  } else {
    // Not sent: try again on the next tick, without counting a probe.
    e.deadline = now;
  }
  arm(e.deadline);
}

ResolveResult NeighborTable::resolve(const NeighborKey& key, rte_mbuf* m,
                                     uint64_t now, NeighborSink& sink,
                                     MacAddr* mac) {
  const uint32_t i = find_index(key);
  if (i == kEmpty) {
    // RFC 4861 7.2.2 / RFC 1122 2.3.2.2: create an Incomplete entry, park
    // the packet, solicit. RFC 6583 section 7: only so many at once.
    if (incomplete_ >= config_.max_incomplete && key != config_.gateway) {
      return ResolveResult::kIncompleteLimit;
    }
    NeighborEntry* e = insert(key, sink);
    if (e == nullptr) {
      return ResolveResult::kTableFull;
    }
    e->state = NeighborState::kIncomplete;
    ++incomplete_;
    queue_of(static_cast<uint32_t>(e - entries_.data()))[0] = m;
    e->queued = 1;
    send_request(*e, now, sink, m);
    return ResolveResult::kQueued;
  }
  NeighborEntry& e = entries_[i];
  switch (e.state) {
    case NeighborState::kIncomplete:
      if (e.queued >= config_.queue_len) {
        return ResolveResult::kQueueFull;
      }
      queue_of(i)[e.queued++] = m;
      return ResolveResult::kQueued;
    case NeighborState::kReachable:
      if (now < e.deadline) {
        break;
      }
      // Reachable time ran out unnoticed: Stale now (RFC 4861 7.3.3), and
      // in use, so probe.
      [[fallthrough]];
    case NeighborState::kStale:
      // RFC 4861 7.3.3: a Stale entry that carries traffic is probed with
      // unicast solicitations (the DELAY state is skipped).
      e.state = NeighborState::kProbe;
      e.probes = 0;
      send_request(e, now, sink, m);
      break;
    case NeighborState::kProbe:
      break;
  }
  *mac = e.mac;
  return ResolveResult::kResolved;
}

bool NeighborTable::learn(const NeighborKey& key, const MacAddr* mac,
                          LearnInfo info, uint64_t now, NeighborSink& sink) {
  uint32_t i = find_index(key);
  if (i == kEmpty) {
    if (!info.create || mac == nullptr) {
      return false;
    }
    NeighborEntry* e = insert(key, sink);
    if (e == nullptr) {
      return false;
    }
    e->mac = *mac;
    // RFC 4861 7.2.3: an entry created from a solicitation is Stale; a
    // solicited answer confirms reachability.
    e->state =
        info.solicited ? NeighborState::kReachable : NeighborState::kStale;
    e->deadline =
        now + (info.solicited ? config_.reachable_ticks : config_.stale_ticks);
    arm(e->deadline);
    return true;
  }
  NeighborEntry& e = entries_[i];
  if (e.state == NeighborState::kIncomplete) {
    // RFC 4861 7.2.5: an advertisement without a link-layer address cannot
    // complete resolution.
    if (mac == nullptr) {
      return false;
    }
    e.mac = *mac;
    e.probes = 0;
    --incomplete_;
    e.state =
        info.solicited ? NeighborState::kReachable : NeighborState::kStale;
    e.deadline =
        now + (info.solicited ? config_.reachable_ticks : config_.stale_ticks);
    arm(e.deadline);
    release_queue(e, sink);
    return true;
  }
  const bool changed = mac != nullptr && *mac != e.mac;
  if (changed && !info.override_mac) {
    // RFC 4861 7.2.5: a non-override advertisement with a different
    // address does not update it, but casts doubt on the cached one.
    if (e.state == NeighborState::kReachable) {
      e.state = NeighborState::kStale;
      e.deadline = now + config_.stale_ticks;
      arm(e.deadline);
    }
    return true;
  }
  if (changed) {
    e.mac = *mac;
  }
  if (info.solicited) {
    e.state = NeighborState::kReachable;
    e.probes = 0;
    e.deadline = now + config_.reachable_ticks;
    arm(e.deadline);
  } else if (changed) {
    e.state = NeighborState::kStale;
    e.probes = 0;
    e.deadline = now + config_.stale_ticks;
    arm(e.deadline);
  }
  return true;
}

void NeighborTable::tick(uint64_t now, NeighborSink& sink) {
  if (now < next_due_) {
    return;
  }
  next_due_ = UINT64_MAX;
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    NeighborEntry& e = entries_[i];
    if (!e.in_use) {
      continue;
    }
    if (now < e.deadline) {
      arm(e.deadline);
      continue;
    }
    switch (e.state) {
      case NeighborState::kIncomplete:
        if (e.probes >= config_.max_probes) {
          // RFC 4861 7.2.2 / RFC 1122 2.3.2.1: give up; the parked
          // packets are lost (an ICMP unreachable would go to ourselves).
          drop_queue(e, sink);
          remove(i);
          ++expired_;
        } else {
          send_request(e, now, sink, e.queued > 0 ? queue_of(i)[0] : nullptr);
        }
        break;
      case NeighborState::kReachable:
        e.state = NeighborState::kStale;
        e.deadline = now + config_.stale_ticks;
        arm(e.deadline);
        break;
      case NeighborState::kStale:
        // Unused for stale_ticks: forget it.
        remove(i);
        ++expired_;
        break;
      case NeighborState::kProbe:
        if (e.probes >= config_.max_probes) {
          // RFC 4861 7.3.3: no answer to MAX_UNICAST_SOLICIT probes.
          remove(i);
          ++expired_;
        } else {
          send_request(e, now, sink, nullptr);
        }
        break;
    }
  }
}

void NeighborTable::clear(NeighborSink& sink) {
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].in_use) {
      drop_queue(entries_[i], sink);
      remove(i);
    }
  }
  next_due_ = UINT64_MAX;
}

}  // namespace dptls::net
