// TCP sequence-number arithmetic modulo 2^32 (RFC 9293 section 3.4): a is
// "less than" b when the signed 32-bit distance from b to a is negative, so
// comparisons stay right across the wrap from 0xffffffff to 0 as long as the
// two numbers are less than 2^31 apart (which the windows guarantee).
#pragma once

#include <cstdint>

namespace dptls::net {

/// a < b in sequence space.
constexpr bool seq_lt(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) < 0;
}
/// a <= b in sequence space.
constexpr bool seq_le(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) <= 0;
}
/// a > b in sequence space.
constexpr bool seq_gt(uint32_t a, uint32_t b) { return seq_lt(b, a); }
/// a >= b in sequence space.
constexpr bool seq_ge(uint32_t a, uint32_t b) { return seq_le(b, a); }
/// The later of a and b.
constexpr uint32_t seq_max(uint32_t a, uint32_t b) {
  return seq_lt(a, b) ? b : a;
}
/// The earlier of a and b.
constexpr uint32_t seq_min(uint32_t a, uint32_t b) {
  return seq_lt(a, b) ? a : b;
}
/// lo <= s < hi in sequence space (an empty range when lo == hi).
constexpr bool seq_in(uint32_t s, uint32_t lo, uint32_t hi) {
  return seq_le(lo, s) && seq_lt(s, hi);
}

// Wrap-checked examples (also unit-tested).
static_assert(seq_lt(0xfffffff0u, 0x10u));
static_assert(seq_gt(0x10u, 0xfffffff0u));
static_assert(seq_in(0u, 0xffffff00u, 0x100u));

}  // namespace dptls::net
