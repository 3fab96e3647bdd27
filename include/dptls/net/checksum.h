// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
// complement sum of 16-bit big-endian words. Used by the IPv4 header
// (RFC 791 section 3.1), ICMP (RFC 792), ICMPv6 (RFC 4443 section 2.3) and,
// later, TCP (RFC 9293 section 3.1), over flat bytes or mbuf chains.
//
// A "sum" here is a partial one's complement sum folded to 16 bits and held
// in a uint32_t; sums of disjoint pieces combine with checksum_add(). The
// value to put on the wire is checksum_finish(sum); a received header or
// message is intact when checksum_finish() of the sum over all of it,
// checksum field included, is 0.
#pragma once

#include <cstdint>
#include <span>

#include "dptls/net/addr.h"

struct rte_mbuf;

namespace dptls::net {

/// One's complement sum of `data` as big-endian 16-bit words (a trailing odd
/// byte is padded with a zero, RFC 1071 section 4.1), added to `sum`.
uint32_t checksum_sum(std::span<const uint8_t> data, uint32_t sum = 0);

/// Copies `src` to `dst` (which must not overlap it) and returns
/// checksum_sum(src, sum): one pass over the bytes where the CPU has AVX2,
/// for a payload that is copied behind its header anyway.
uint32_t checksum_copy(uint8_t* dst, std::span<const uint8_t> src,
                       uint32_t sum = 0);

/// One's complement addition of two partial sums.
constexpr uint32_t checksum_add(uint32_t a, uint32_t b) {
  uint32_t s = a + b;
  s = (s & 0xffff) + (s >> 16);
  return (s & 0xffff) + (s >> 16);
}

/// The sum of a piece that starts at an odd offset of the summed range,
/// from the piece's own sum: its bytes are the other halves of their words
/// (RFC 1071 section 2 (B)).
constexpr uint32_t checksum_shift_odd(uint32_t sum) {
  return ((sum & 0xff) << 8) | ((sum >> 8) & 0xff);
}

/// The checksum field value for a partial sum: its 16-bit complement.
constexpr uint16_t checksum_finish(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

/// Sums `len` bytes of the chain `m` starting `offset` bytes into the packet
/// (offsets count from the first segment's data start, across segments of
/// any length, odd ones included). Borrows `m`. Returns false, leaving *sum
/// untouched, when offset + len exceeds the packet.
bool checksum_mbuf(const rte_mbuf* m, uint32_t offset, uint32_t len,
                   uint32_t* sum);

/// Sum of the IPv4 pseudo-header (RFC 793 section 3.1, RFC 768) for an
/// upper-layer message of `l4_len` bytes.
uint32_t ipv4_pseudo_sum(Ipv4Addr src, Ipv4Addr dst, uint8_t protocol,
                         uint16_t l4_len);

/// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1) for an upper-layer
/// message of `l4_len` bytes.
uint32_t ipv6_pseudo_sum(const Ipv6Addr& src, const Ipv6Addr& dst,
                         uint8_t next_header, uint32_t l4_len);

/// Computes and stores an upper-layer checksum: zeroes the 16-bit field at
/// `field_offset` (relative to `l4_offset`, which must lie in the first
/// segment with the field), sums `l4_len` bytes from `l4_offset` across the
/// chain plus `pseudo_sum`, and writes the result. Borrows `m` and writes to
/// it. Returns false and writes nothing when the ranges do not fit.
bool write_l4_checksum(rte_mbuf* m, uint32_t l4_offset, uint32_t l4_len,
                       uint32_t field_offset, uint32_t pseudo_sum);

/// write_l4_checksum() for a message whose bytes from `known_from` (even,
/// at most `l4_len`) to its end are already summed (`known_sum`, as
/// checksum_sum() or checksum_copy() gave it): only the bytes before them
/// are read.
bool write_l4_checksum_known(rte_mbuf* m, uint32_t l4_offset, uint32_t l4_len,
                             uint32_t field_offset, uint32_t pseudo_sum,
                             uint32_t known_from, uint32_t known_sum);

/// Verifies an upper-layer checksum over `l4_len` bytes at `l4_offset` of
/// the chain, with `pseudo_sum` (0 for ICMPv4, which has none). Borrows `m`.
/// False when the sum is wrong or the range exceeds the packet.
bool verify_l4_checksum(const rte_mbuf* m, uint32_t l4_offset, uint32_t l4_len,
                        uint32_t pseudo_sum);

}  // namespace dptls::net
