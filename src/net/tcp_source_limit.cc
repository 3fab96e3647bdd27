// Per-source connection counts (see tcp_source_limit.h).
#include "dptls/net/tcp_source_limit.h"

#include <bit>

#include "net/hash_mix.h"

namespace dptls::net {
namespace {

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

}  // namespace

SourceKey SourceKey::of(const FlowKey& flow) {
  if (flow.family == L3Family::kIpv4) {
    return SourceKey{0, (uint64_t{1} << 32) | flow.remote4().v};
  }
  return SourceKey{load_be64(flow.remote.data()), 0};
}

static_assert(sizeof(SourceKey) == 16);

SourceTable::SourceTable(uint32_t capacity, uint64_t seed)
    : buckets_(std::bit_ceil(uint64_t{capacity < 1 ? 1 : capacity} * 2)),
      mask_(static_cast<uint32_t>(buckets_.size() - 1)),
      capacity_(capacity),
      seed_(seed) {}

uint32_t SourceTable::hash_of(const SourceKey& src) const {
  using hash::kP0, hash::kP1, hash::mix;
  return hash::fold32(
      mix(mix(src.hi ^ seed_ ^ kP0, src.lo ^ kP1), seed_ ^ kP1));
}

uint32_t SourceTable::probe(const SourceKey& src, uint32_t hash,
                            uint32_t* steps) const {
  uint32_t i = hash & mask_;
  uint32_t n = 0;
  // Load <= 0.5 guarantees an empty bucket ends every probe.
  while (buckets_[i].count != 0 &&
         !(buckets_[i].hash == hash && buckets_[i].key == src)) {
    i = (i + 1) & mask_;
    ++n;
  }
  *steps = n;
  return i;
}

bool SourceTable::acquire(const SourceKey& src, uint32_t limit) {
  const uint32_t hash = hash_of(src);
  uint32_t steps = 0;
  Bucket& b = buckets_[probe(src, hash, &steps)];
  if (b.count >= limit || connections_ >= capacity_) {
    return false;
  }
  if (b.count == 0) {
    b.key = src;
    b.hash = hash;
    ++sources_;
    if (steps > max_probe_) {
      max_probe_ = steps;
    }
  }
  ++b.count;
  ++connections_;
  return true;
}

bool SourceTable::release(const SourceKey& src) {
  uint32_t steps = 0;
  uint32_t hole = probe(src, hash_of(src), &steps);
  Bucket& b = buckets_[hole];
  if (b.count == 0) {
    return false;
  }
  --connections_;
  if (--b.count != 0) {
    return true;
  }
  --sources_;
  // Backward-shift deletion (Knuth 6.4 algorithm R), as FlowTable::erase:
  // move later members of the cluster into the hole when their home is not
  // between the hole and them.
  for (uint32_t i = (hole + 1) & mask_; buckets_[i].count != 0;
       i = (i + 1) & mask_) {
    const uint32_t home = buckets_[i].hash & mask_;
    if (((hole - home) & mask_) <= ((i - home) & mask_)) {
      buckets_[hole] = buckets_[i];
      hole = i;
    }
  }
  buckets_[hole] = Bucket{};
  return true;
}

uint32_t SourceTable::count(const SourceKey& src) const {
  uint32_t steps = 0;
  return buckets_[probe(src, hash_of(src), &steps)].count;
}

}  // namespace dptls::net
