// The per-worker TCP flow table: 4-tuple (IPv4 or IPv6) -> connection slot,
// open addressing with linear probing and backward-shift deletion (no
// tombstones, so probe lengths never degrade), sized once at creation for
// up to 2^22 connections. The table owns the keys (indexed by slot), so a
// connection's own state need not repeat its 40-byte key.
//
// Nothing allocates after construction; not thread-safe (one per worker).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dptls/net/addr.h"
#include "dptls/net/stack.h"

namespace dptls::net {

/// A connection's 4-tuple from our side. IPv4 addresses are stored as
/// IPv4-mapped IPv6 (::ffff:a.b.c.d) so both families share one layout.
struct FlowKey {
  std::array<uint8_t, 16> local{};
  std::array<uint8_t, 16> remote{};
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  L3Family family = L3Family::kIpv4;
  uint8_t pad[3]{};

  static FlowKey v4(Ipv4Addr local, uint16_t local_port, Ipv4Addr remote,
                    uint16_t remote_port);
  static FlowKey v6(const Ipv6Addr& local, uint16_t local_port,
                    const Ipv6Addr& remote, uint16_t remote_port);
  Ipv4Addr local4() const;
  Ipv4Addr remote4() const;
  Ipv6Addr local6() const { return Ipv6Addr{local}; }
  Ipv6Addr remote6() const { return Ipv6Addr{remote}; }
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};
static_assert(sizeof(FlowKey) == 40);

/// Keyed hash of a flow key (a multiply-mix over 64-bit words with a
/// per-table random seed, so remote peers cannot aim at one chain).
uint32_t flow_hash(const FlowKey& key, uint64_t seed);

class FlowTable {
 public:
  /// No entry.
  static constexpr uint32_t kNone = 0xffffffffu;
  /// Largest capacity accepted by the constructor.
  static constexpr uint32_t kMaxCapacity = 1u << 22;

  /// Room for `capacity` entries whose values are slots in [0, capacity);
  /// the bucket array is the next power of two >= 2 * capacity (load <= 0.5).
  FlowTable(uint32_t capacity, uint64_t seed);

  /// The slot stored for `key`, or kNone.
  uint32_t find(const FlowKey& key) const;
  /// Stores key -> slot. False (nothing stored) when the key is present, the
  /// slot is out of range or already in use.
  bool insert(const FlowKey& key, uint32_t slot);
  /// Removes the entry of `slot` (whose key the table holds). False when the
  /// slot holds no entry.
  bool erase(uint32_t slot);
  /// The key stored for `slot` (meaningful only while it is in use).
  const FlowKey& key(uint32_t slot) const { return keys_[slot]; }
  bool in_use(uint32_t slot) const { return bucket_of_[slot] != kNone; }

  size_t size() const { return size_; }
  uint32_t capacity() const { return static_cast<uint32_t>(keys_.size()); }
  size_t buckets() const { return buckets_.size(); }
  /// Longest probe sequence seen by insert (a health metric).
  uint32_t max_probe() const { return max_probe_; }
  /// Bytes of memory per slot (keys, buckets, back-pointers).
  size_t bytes_per_slot() const;

 private:
  struct Bucket {
    uint32_t tag = 0;  // the hash, never 0 when occupied
    uint32_t slot = kNone;
  };
  uint32_t tag_of(const FlowKey& key) const;

  std::vector<Bucket> buckets_;
  std::vector<FlowKey> keys_;
  std::vector<uint32_t> bucket_of_;  // slot -> bucket index, or kNone
  uint32_t mask_ = 0;
  uint64_t seed_ = 0;
  size_t size_ = 0;
  uint32_t max_probe_ = 0;
};

}  // namespace dptls::net
