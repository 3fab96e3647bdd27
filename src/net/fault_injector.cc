// Seeded frame impairment (see fault_injector.h).
#include "dptls/net/fault_injector.h"

#include <rte_mbuf.h>

#include <algorithm>

#include "net/mbuf_util.h"

namespace dptls::net {
namespace {

uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// Min-heap on (release, order): stable for equal release times.
bool later(const auto& a, const auto& b) {
  return a.release != b.release ? a.release > b.release : a.order > b.order;
}

}  // namespace

FaultInjector::FaultInjector(const FaultConfig& config, rte_mempool* pool)
    : cfg_(config), pool_(pool) {
  uint64_t s = config.seed;
  for (uint64_t& r : rng_) {
    r = splitmix64(&s);
  }
  heap_.reserve(config.capacity);
}

FaultInjector::~FaultInjector() {
  for (const Held& h : heap_) {
    rte_pktmbuf_free(h.m);
  }
}

void FaultInjector::reconfigure(const FaultConfig& config) {
  const uint32_t cap = cfg_.capacity;
  cfg_ = config;
  cfg_.capacity = cap;  // the heap was sized once
}

uint64_t FaultInjector::next_u64() {
  // xoshiro256** (Blackman and Vigna).
  const uint64_t result = rotl(rng_[1] * 5, 7) * 9;
  const uint64_t t = rng_[1] << 17;
  rng_[2] ^= rng_[0];
  rng_[3] ^= rng_[1];
  rng_[1] ^= rng_[2];
  rng_[0] ^= rng_[3];
  rng_[2] ^= t;
  rng_[3] = rotl(rng_[3], 45);
  return result;
}

double FaultInjector::uniform() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

void FaultInjector::hold(rte_mbuf* m, uint64_t release) {
  if (heap_.size() >= cfg_.capacity) {
    ++stats_.overflow;
    rte_pktmbuf_free(m);
    return;
  }
  heap_.push_back(Held{release, order_++, m});
  std::push_heap(heap_.begin(), heap_.end(),
                 [](const Held& a, const Held& b) { return later(a, b); });
}

rte_mbuf* FaultInjector::corrupt(rte_mbuf* m) {
  if (m->pkt_len <= cfg_.corrupt_skip) {
    return m;
  }
  // Flip one bit of the frame; a frame whose buffer others share is copied
  // first so they keep their bytes.
  if (!writable(m) || m->nb_segs != 1 || RTE_MBUF_HAS_EXTBUF(m)) {
    rte_mbuf* copy = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
    rte_pktmbuf_free(m);
    if (copy == nullptr) {
      return nullptr;
    }
    m = copy;
  }
  const uint32_t at =
      cfg_.corrupt_skip +
      static_cast<uint32_t>(next_u64() % (m->pkt_len - cfg_.corrupt_skip));
  const uint8_t bit = static_cast<uint8_t>(1u << (next_u64() % 8));
  rte_mbuf* seg = m;
  uint32_t off = at;
  while (off >= seg->data_len) {
    off -= seg->data_len;
    seg = seg->next;
  }
  *rte_pktmbuf_mtod_offset(seg, uint8_t*, off) ^= bit;
  return m;
}

void FaultInjector::push(rte_mbuf** pkts, uint16_t n, uint64_t now) {
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    ++stats_.frames_in;
    if (uniform() < cfg_.drop) {
      ++stats_.dropped;
      rte_pktmbuf_free(m);
      continue;
    }
    if (uniform() < cfg_.duplicate) {
      rte_mbuf* dup = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
      if (dup != nullptr) {
        ++stats_.duplicated;
        hold(dup, now + cfg_.latency_ticks);
      }
    }
    if (uniform() < cfg_.corrupt) {
      m = corrupt(m);
      if (m == nullptr) {
        continue;
      }
      ++stats_.corrupted;
    }
    uint64_t release = now + cfg_.latency_ticks;
    if (uniform() < cfg_.reorder) {
      ++stats_.reordered;
      release += cfg_.reorder_ticks;
    }
    if (uniform() < cfg_.delay) {
      ++stats_.delayed;
      release +=
          cfg_.delay_ticks == 0 ? 0 : next_u64() % (cfg_.delay_ticks + 1);
    }
    hold(m, release);
  }
}

uint16_t FaultInjector::pull(rte_mbuf** out, uint16_t n, uint64_t now) {
  uint16_t k = 0;
  const auto cmp = [](const Held& a, const Held& b) { return later(a, b); };
  while (k < n && !heap_.empty() && heap_.front().release <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), cmp);
    out[k++] = heap_.back().m;
    heap_.pop_back();
    ++stats_.frames_out;
  }
  return k;
}

uint64_t FaultInjector::next_release() const {
  return heap_.empty() ? UINT64_MAX : heap_.front().release;
}

}  // namespace dptls::net
