// The keyed hash steps the TCP tables share (the flow table's flow_hash,
// the per-source table): wyhash's mixing step and its two primes. The
// tables key them with a per-process random seed, so a peer cannot aim
// collisions at one bucket chain.
#pragma once

#include <cstdint>

namespace dptls::net::hash {

inline constexpr uint64_t kP0 = 0xa0761d6478bd642full;
inline constexpr uint64_t kP1 = 0xe7037ed1a0b428dbull;

// 64x64 -> 128-bit multiply, the halves folded together.
constexpr uint64_t mix(uint64_t a, uint64_t b) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

// A 64-bit hash folded to the 32 bits the tables store.
constexpr uint32_t fold32(uint64_t h) {
  return static_cast<uint32_t>(h ^ (h >> 32));
}

}  // namespace dptls::net::hash
