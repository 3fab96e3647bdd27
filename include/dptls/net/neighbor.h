// The neighbour cache shared by ARP (RFC 826, RFC 1122 section 2.3.2) and
// IPv6 Neighbor Discovery (RFC 4861 section 7.3): protocol address -> MAC,
// with the reachability state machine of RFC 4861 section 7.3.2 applied to
// both, and a bounded queue of packets per unresolved entry
// (RFC 1122 2.3.2.2, RFC 4861 7.2.2).
//
// The table is sans-IO: it never builds or sends a frame. It tells its
// NeighborSink when to send a request and which parked packets to release or
// drop. All memory is allocated by the constructor; nothing after that
// allocates, throws, locks or makes a syscall.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dptls/net/addr.h"

struct rte_mbuf;

namespace dptls::net {

/// A protocol address as a cache key: IPv6 as is, IPv4 as the IPv4-mapped
/// IPv6 address ::ffff:a.b.c.d (RFC 4291 section 2.5.5.2), so one table type
/// serves both families.
struct NeighborKey {
  std::array<uint8_t, 16> b{};

  static NeighborKey of(Ipv4Addr a);
  static NeighborKey of(const Ipv6Addr& a);
  /// The IPv4 address of a key made by of(Ipv4Addr).
  Ipv4Addr ipv4() const;
  /// The IPv6 address of a key made by of(const Ipv6Addr&).
  Ipv6Addr ipv6() const;
  /// True for a key made by of(Ipv4Addr).
  bool is_ipv4() const;
  friend bool operator==(const NeighborKey&, const NeighborKey&) = default;
};

/// RFC 4861 section 7.3.2 states (DELAY is folded into PROBE: with no
/// upper-layer reachability hints yet, a stale entry is probed on first use).
enum class NeighborState : uint8_t {
  kIncomplete,  // request sent, no MAC yet; packets are parked
  kReachable,   // confirmed within the reachable time
  kStale,       // MAC known but unconfirmed; usable, probed on use
  kProbe,       // in use while unicast probes are outstanding
};

/// Printable name of a state ("incomplete", "reachable", ...).
const char* neighbor_state_name(NeighborState s);

/// One cache entry. Readable by callers through find(); changed only by the
/// table.
struct NeighborEntry {
  NeighborKey key;
  MacAddr mac;
  NeighborState state = NeighborState::kIncomplete;
  /// Requests sent in the current Incomplete or Probe round.
  uint8_t probes = 0;
  /// Packets parked (Incomplete only).
  uint16_t queued = 0;
  /// Reachable: when it turns Stale. Stale: when an unused entry is
  /// removed. Incomplete, Probe: when the next request (or the give-up) is
  /// due.
  uint64_t deadline = 0;
  bool in_use = false;
};

/// Sizes and timers, in the caller's clock ticks.
struct NeighborConfig {
  /// Entries; the table never holds more.
  uint32_t capacity = 256;
  /// Packets parked per unresolved entry; more are refused (RFC 1122
  /// 2.3.2.2 asks for at least one).
  uint16_t queue_len = 4;
  /// REACHABLE_TIME (RFC 4861 section 10: 30 s).
  uint64_t reachable_ticks = 30'000'000'000;
  /// How long an unused Stale entry stays before it is removed.
  uint64_t stale_ticks = 60'000'000'000;
  /// RETRANS_TIMER (RFC 4861 section 10: 1 s); also the per-destination
  /// request rate limit of RFC 1122 2.3.2.1 (one per second).
  uint64_t retrans_ticks = 1'000'000'000;
  /// MAX_MULTICAST_SOLICIT / MAX_UNICAST_SOLICIT (RFC 4861 section 10: 3).
  uint8_t max_probes = 3;
  /// Entries that may be Incomplete at once (RFC 6583 section 7); resolving
  /// a new key beyond that is refused (kIncompleteLimit), so spoofed on-link
  /// sources cannot hold the whole table. 0: a quarter of `capacity`, at
  /// least 1; capacity or more: no limit. `gateway` is exempt.
  uint32_t max_incomplete = 0;
  /// The off-link next hop: never refused an entry. When the table is full
  /// it takes the place of a Stale entry, else of an Incomplete one (whose
  /// parked packets are dropped through the sink), else of any other. The
  /// all-zero key (::, never a neighbour) means none.
  NeighborKey gateway{};
};

/// What the table asks of its owner. Called only from inside resolve(),
/// learn() and tick(); slow path, so a virtual call is fine.
class NeighborSink {
 public:
  virtual ~NeighborSink() = default;
  /// Send a request for `key`: broadcast/multicast when `unicast` is null,
  /// else a unicast probe to *unicast. `hint` is the packet that triggered
  /// the resolution if any (borrowed, e.g. to pick the source address), else
  /// null. Return false when it was not sent (rate limit, no mbuf); the
  /// table retries on a later tick without counting a probe.
  virtual bool solicit(const NeighborKey& key, const MacAddr* unicast,
                       const rte_mbuf* hint) = 0;
  /// A parked packet can go now to `mac`. Consumes `m`.
  virtual void release(rte_mbuf* m, const MacAddr& mac) = 0;
  /// Resolution failed; drop a parked packet. Consumes `m`.
  virtual void drop_unresolved(rte_mbuf* m) = 0;
};

/// How an incoming packet may update the cache (RFC 826 "Packet
/// Reception"; RFC 4861 sections 7.2.3 and 7.2.5).
struct LearnInfo {
  /// Create an entry if none exists (we were the target), else only update.
  bool create = false;
  /// The packet confirms reachability (ARP reply, solicited NA).
  bool solicited = false;
  /// A different MAC replaces the cached one (ARP; NA with the O flag).
  bool override_mac = true;
};

/// Result of resolve().
enum class ResolveResult : uint8_t {
  kResolved,         // *mac is set; the packet was not touched
  kQueued,           // the packet was parked (consumed)
  kQueueFull,        // the entry's queue is full; the packet was not touched
  kTableFull,        // no entry free; the packet was not touched
  kIncompleteLimit,  // max_incomplete entries are resolving already; no
                     // entry was made and the packet was not touched
};

/// A fixed-size neighbour cache: open addressing with linear probing over an
/// index of twice the capacity, entries in a slab that never moves.
class NeighborTable {
 public:
  /// Allocates every entry and queue slot. `config.capacity` and
  /// `config.queue_len` must be at least 1.
  explicit NeighborTable(const NeighborConfig& config);
  ~NeighborTable();
  NeighborTable(const NeighborTable&) = delete;
  NeighborTable& operator=(const NeighborTable&) = delete;

  /// The MAC to send a packet for `key` to, or parks `m` (non-null). May call
  /// sink.solicit() (with `m` as hint). On kQueued `m` is consumed; on every
  /// other result the caller still owns it.
  ResolveResult resolve(const NeighborKey& key, rte_mbuf* m, uint64_t now,
                        NeighborSink& sink, MacAddr* mac);

  /// Records that `key` is at `mac` (null: the packet carried no link-layer
  /// address, as an NA may). Releases parked packets through sink.release()
  /// when an Incomplete entry resolves. Returns false when nothing changed
  /// because no entry existed (and `info.create` was false or the table was
  /// full).
  bool learn(const NeighborKey& key, const MacAddr* mac, LearnInfo info,
             uint64_t now, NeighborSink& sink);

  /// Runs the timers due at `now`: retransmits requests, ages entries,
  /// gives up on resolutions (dropping their packets through the sink).
  /// Cheap when nothing is due.
  void tick(uint64_t now, NeighborSink& sink);

  /// Drops every parked packet through sink.drop_unresolved() and empties
  /// the table.
  void clear(NeighborSink& sink);

  /// The entry for `key`, or null. The pointer is valid until the next
  /// non-const call.
  const NeighborEntry* find(const NeighborKey& key) const;

  size_t size() const { return size_; }
  size_t capacity() const { return entries_.size(); }
  uint16_t queue_len() const { return config_.queue_len; }
  /// Entries now Incomplete.
  size_t incomplete() const { return incomplete_; }
  /// The limit on incomplete() for keys other than the gateway.
  uint32_t max_incomplete() const { return config_.max_incomplete; }
  /// Entries removed by age, failed resolution or to make room since
  /// construction.
  uint64_t expired() const { return expired_; }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;

  uint32_t slot_of(const NeighborKey& key) const;
  uint32_t find_index(const NeighborKey& key) const;
  NeighborEntry* insert(const NeighborKey& key, NeighborSink& sink);
  bool reclaim_one();
  bool evict_for_gateway(NeighborSink& sink);
  void remove(uint32_t index);
  void drop_queue(NeighborEntry& e, NeighborSink& sink);
  void release_queue(NeighborEntry& e, NeighborSink& sink);
  void send_request(NeighborEntry& e, uint64_t now, NeighborSink& sink,
                    const rte_mbuf* hint);
  void arm(uint64_t deadline) {
    if (deadline < next_due_) {
      next_due_ = deadline;
    }
  }
  rte_mbuf** queue_of(uint32_t index) {
    return &queues_[static_cast<size_t>(index) * config_.queue_len];
  }

  NeighborConfig config_;
  std::vector<NeighborEntry> entries_;
  std::vector<uint32_t> free_;     // free entry indices (a stack)
  std::vector<uint32_t> index_;    // hash slots -> entry index or kEmpty
  std::vector<rte_mbuf*> queues_;  // capacity * queue_len parked packets
  uint32_t index_mask_ = 0;
  size_t size_ = 0;
  size_t incomplete_ = 0;
  uint64_t next_due_ = UINT64_MAX;
  uint64_t expired_ = 0;
};

}  // namespace dptls::net
