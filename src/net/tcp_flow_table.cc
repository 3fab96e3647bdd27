// The TCP flow table (see tcp_flow_table.h).
#include "dptls/net/tcp_flow_table.h"

#include <cstring>

#include "net/hash_mix.h"

namespace dptls::net {
namespace {

uint32_t next_pow2(uint64_t v) {
  uint64_t n = 1;
  while (n < v) {
    n <<= 1;
  }
  return static_cast<uint32_t>(n);
}

}  // namespace

FlowKey FlowKey::v4(Ipv4Addr local_addr, uint16_t lport, Ipv4Addr remote_addr,
                    uint16_t rport) {
  FlowKey k;
  k.local[10] = 0xff;
  k.local[11] = 0xff;
  k.remote[10] = 0xff;
  k.remote[11] = 0xff;
  for (int i = 0; i < 4; ++i) {
    k.local[12 + i] = static_cast<uint8_t>(local_addr.v >> (24 - 8 * i));
    k.remote[12 + i] = static_cast<uint8_t>(remote_addr.v >> (24 - 8 * i));
  }
  k.local_port = lport;
  k.remote_port = rport;
  k.family = L3Family::kIpv4;
  return k;
}

FlowKey FlowKey::v6(const Ipv6Addr& local_addr, uint16_t lport,
                    const Ipv6Addr& remote_addr, uint16_t rport) {
  FlowKey k;
  k.local = local_addr.b;
  k.remote = remote_addr.b;
  k.local_port = lport;
  k.remote_port = rport;
  k.family = L3Family::kIpv6;
  return k;
}

Ipv4Addr FlowKey::local4() const {
  return Ipv4Addr::of(local[12], local[13], local[14], local[15]);
}

Ipv4Addr FlowKey::remote4() const {
  return Ipv4Addr::of(remote[12], remote[13], remote[14], remote[15]);
}

uint32_t flow_hash(const FlowKey& key, uint64_t seed) {
  uint64_t w[5];
  static_assert(sizeof(w) == sizeof(FlowKey));
  std::memcpy(w, &key, sizeof(w));
  using hash::kP0, hash::kP1, hash::mix;
  uint64_t h = mix(w[0] ^ kP0 ^ seed, w[1] ^ kP1);
  h = mix(h ^ w[2] ^ kP0, w[3] ^ seed);
  h = mix(h ^ w[4] ^ kP1, seed ^ kP0);
  return hash::fold32(h);
}

FlowTable::FlowTable(uint32_t capacity, uint64_t seed)
    : buckets_(
          next_pow2(uint64_t{capacity} * 2 < 2 ? 2 : uint64_t{capacity} * 2)),
      keys_(capacity),
      bucket_of_(capacity, kNone),
      mask_(static_cast<uint32_t>(buckets_.size() - 1)),
      seed_(seed) {}

uint32_t FlowTable::tag_of(const FlowKey& key) const {
  const uint32_t h = flow_hash(key, seed_);
  return h == 0 ? 1 : h;
}

uint32_t FlowTable::find(const FlowKey& key) const {
  const uint32_t tag = tag_of(key);
  for (uint32_t i = tag & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
    const Bucket& b = buckets_[i];
    if (b.tag == 0) {
      return kNone;
    }
    if (b.tag == tag && keys_[b.slot] == key) {
      return b.slot;
    }
  }
  return kNone;
}

bool FlowTable::insert(const FlowKey& key, uint32_t slot) {
  if (slot >= keys_.size() || bucket_of_[slot] != kNone) {
    return false;
  }
  const uint32_t tag = tag_of(key);
  for (uint32_t i = tag & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
    Bucket& b = buckets_[i];
    if (b.tag == 0) {
      b.tag = tag;
      b.slot = slot;
      keys_[slot] = key;
      bucket_of_[slot] = i;
      ++size_;
      if (n > max_probe_) {
        max_probe_ = n;
      }
      return true;
    }
    if (b.tag == tag && keys_[b.slot] == key) {
      return false;
    }
  }
  return false;  // unreachable at load <= 0.5
}

bool FlowTable::erase(uint32_t slot) {
  if (slot >= keys_.size() || bucket_of_[slot] == kNone) {
    return false;
  }
  uint32_t hole = bucket_of_[slot];
  bucket_of_[slot] = kNone;
  --size_;
  // Backward-shift deletion (Knuth 6.4 algorithm R): move later members of
  // the cluster into the hole when their home is not between hole and them.
  uint32_t i = hole;
  for (;;) {
    i = (i + 1) & mask_;
    Bucket& b = buckets_[i];
    if (b.tag == 0) {
      break;
    }
    const uint32_t home = b.tag & mask_;
    // Distance from home to i and from home to the hole, cyclically.
    const uint32_t dist_i = (i - home) & mask_;
    const uint32_t dist_hole = (hole - home) & mask_;
    if (dist_hole <= dist_i) {
      buckets_[hole] = b;
      bucket_of_[b.slot] = hole;
      hole = i;
    }
  }
  buckets_[hole] = Bucket{};
  return true;
}

size_t FlowTable::bytes_per_slot() const {
  return sizeof(FlowKey) + sizeof(uint32_t) +
         sizeof(Bucket) * buckets_.size() / keys_.size();
}

}  // namespace dptls::net
