// Software RSS: rte_softrss (Toeplitz) plus a redirection table.
#include "dptls/net/rss_hash.h"

#include <rte_thash.h>

#include <algorithm>

namespace dptls::net {
namespace {

uint32_t be32(const std::array<uint8_t, 16>& a, size_t at) {
  return (uint32_t{a[at]} << 24) | (uint32_t{a[at + 1]} << 16) |
         (uint32_t{a[at + 2]} << 8) | uint32_t{a[at + 3]};
}

}  // namespace

RssHash RssHash::toeplitz(std::span<const uint8_t> key, uint16_t workers,
                          uint16_t reta_size) {
  RssHash h;
  if (key.size() < 40 || key.size() > kMaxKeyLen || workers == 0 ||
      reta_size == 0 || reta_size > kMaxReta ||
      (reta_size & (reta_size - 1)) != 0) {
    return h;
  }
  h.toeplitz_ = true;
  h.workers_ = workers;
  h.reta_size_ = reta_size;
  std::copy(key.begin(), key.end(), h.key_.begin());
  for (uint16_t i = 0; i < reta_size; ++i) {
    h.reta_[i] = static_cast<uint16_t>(i % workers);
  }
  return h;
}

uint32_t RssHash::hash(const FlowKey& k) const {
  if (!toeplitz_) {
    return 0;
  }
  // The input a NIC hashes for TCP: source address, destination address,
  // source port, destination port, each big-endian; rte_softrss takes it
  // as host-order 32-bit words.
  uint32_t tuple[9];
  uint32_t n = 0;
  if (k.family == L3Family::kIpv4) {
    tuple[n++] = be32(k.remote, 12);
    tuple[n++] = be32(k.local, 12);
  } else {
    for (size_t i = 0; i < 16; i += 4) {
      tuple[n++] = be32(k.remote, i);
    }
    for (size_t i = 0; i < 16; i += 4) {
      tuple[n++] = be32(k.local, i);
    }
  }
  tuple[n++] = (uint32_t{k.remote_port} << 16) | k.local_port;
  return rte_softrss(tuple, n, key_.data());
}

uint16_t RssHash::worker_for(const FlowKey& k) const {
  if (!toeplitz_) {
    return 0;
  }
  // NICs index the table with the hash's low bits.
  return reta_[hash(k) & (reta_size_ - 1u)];
}

}  // namespace dptls::net
