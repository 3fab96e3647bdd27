// Per-source connection counts for one worker's TCP stack: how many
// connections each client host holds, so one host cannot take the whole
// connection table (what nginx's limit_conn and HAProxy's stick tables give
// operators).
//
// A source is an IPv4 address, or an IPv6 /64 prefix (RFC 4291 2.5.1: one
// host, or one site's LAN, owns a /64, and can pick any address in it).
// Open addressing with linear probing and backward-shift deletion (no
// tombstones), keyed by a seeded hash so remote peers cannot aim at one
// cluster. Sized once at creation: at most one entry per counted
// connection, so `capacity` connections never overfill it (load <= 0.5).
// Nothing allocates after construction; not thread-safe (one per worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dptls/net/tcp_flow_table.h"

namespace dptls::net {

/// A connection's source host: the remote IPv4 address, or the remote IPv6
/// address's /64 prefix. {hi, lo}: IPv4 is {0, 2^32 | addr}; IPv6 is
/// {prefix, 0}; lo differs, so the families never collide.
struct SourceKey {
  uint64_t hi = 0;
  uint64_t lo = 0;

  /// The source of `flow` (its remote side).
  static SourceKey of(const FlowKey& flow);
  friend bool operator==(const SourceKey&, const SourceKey&) = default;
};

class SourceTable {
 public:
  /// Largest capacity accepted (as FlowTable::kMaxCapacity).
  static constexpr uint32_t kMaxCapacity = FlowTable::kMaxCapacity;

  /// Room for `capacity` counted connections (at most that many distinct
  /// sources); the bucket array is the next power of two >= 2 * capacity.
  SourceTable(uint32_t capacity, uint64_t seed);

  /// Counts one more connection of `src` when it holds fewer than `limit`;
  /// false (nothing changed) when it is at the limit, or when the table
  /// already counts `capacity` connections.
  bool acquire(const SourceKey& src, uint32_t limit);
  /// Counts one connection of `src` fewer; the entry goes when it reaches
  /// zero. False (nothing changed) when `src` has no entry.
  bool release(const SourceKey& src);
  /// Connections counted for `src` (0 when it has no entry).
  uint32_t count(const SourceKey& src) const;

  /// Sources with at least one connection.
  size_t sources() const { return sources_; }
  /// Connections counted over every source.
  size_t connections() const { return connections_; }
  size_t buckets() const { return buckets_.size(); }
  /// Bytes of the bucket array (24 per bucket).
  size_t bytes() const { return buckets_.size() * sizeof(Bucket); }
  /// Longest probe sequence seen by acquire (a health metric).
  uint32_t max_probe() const { return max_probe_; }

 private:
  struct Bucket {
    SourceKey key;
    uint32_t hash = 0;
    uint32_t count = 0;  // 0: empty
  };
  uint32_t hash_of(const SourceKey& src) const;
  /// The bucket holding `src`, or the empty bucket ending its probe.
  uint32_t probe(const SourceKey& src, uint32_t hash, uint32_t* steps) const;

  std::vector<Bucket> buckets_;
  uint32_t mask_ = 0;
  uint32_t capacity_ = 0;
  uint64_t seed_ = 0;
  size_t sources_ = 0;
  size_t connections_ = 0;
  uint32_t max_probe_ = 0;
};

}  // namespace dptls::net
