#include "dptls/net/checksum.h"

#include <rte_mbuf.h>

#include <bit>
#include <cstring>

#include "dptls/util/bytes.h"
#include "net/mbuf_util.h"

namespace dptls::net {
namespace {

constexpr uint32_t fold16(uint64_t acc) {
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint32_t>(acc);
}

constexpr uint32_t swap16(uint32_t s) {
  return ((s & 0xff) << 8) | ((s >> 8) & 0xff);
}

}  // namespace

uint32_t checksum_sum(std::span<const uint8_t> data, uint32_t sum) {
  // RFC 1071 section 2 (B): the sum is byte-order independent, so add
  // native 32-bit words into a 64-bit accumulator (no carry is lost below
  // 2^34 bytes) and swap the folded result once on a little-endian host.
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  while (n >= 16) {
    uint32_t w[4];
    std::memcpy(w, p, sizeof(w));
    acc += uint64_t{w[0]} + w[1] + w[2] + w[3];
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, sizeof(w));
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, sizeof(w));
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    // The odd byte is the high-order byte of a zero-padded big-endian word;
    // in native order that is the byte at the lower address.
    uint16_t w = 0;
    std::memcpy(&w, p, 1);
    acc += w;
  }
  uint32_t folded = fold16(acc);
  if constexpr (std::endian::native == std::endian::little) {
    folded = swap16(folded);
  }
  return checksum_add(sum, folded);
}

bool checksum_mbuf(const rte_mbuf* m, uint32_t offset, uint32_t len,
                   uint32_t* sum) {
  if (offset > m->pkt_len || len > m->pkt_len - offset) {
    return false;
  }
  uint32_t total = 0;
  uint32_t done = 0;
  for (const rte_mbuf* seg = m; seg != nullptr && done < len; seg = seg->next) {
    const uint32_t seg_len = seg->data_len;
    if (offset >= seg_len) {
      offset -= seg_len;
      continue;
    }
    const uint32_t take = std::min(seg_len - offset, len - done);
    const std::span<const uint8_t> chunk(
        rte_pktmbuf_mtod_offset(seg, const uint8_t*, offset), take);
    uint32_t s = checksum_sum(chunk);
    // A chunk that starts at an odd position of the summed range has its
    // bytes in the other halves of their words (RFC 1071 section 2 (B)).
    if ((done & 1) != 0) {
      s = swap16(s);
    }
    total = checksum_add(total, s);
    done += take;
    offset = 0;
  }
  if (done != len) {
    return false;  // pkt_len disagreed with the chain
  }
  *sum = checksum_add(*sum, total);
  return true;
}

uint32_t ipv4_pseudo_sum(Ipv4Addr src, Ipv4Addr dst, uint8_t protocol,
                         uint16_t l4_len) {
  uint64_t acc = (src.v >> 16) + (src.v & 0xffff) + (dst.v >> 16) +
                 (dst.v & 0xffff) + protocol + l4_len;
  return fold16(acc);
}

uint32_t ipv6_pseudo_sum(const Ipv6Addr& src, const Ipv6Addr& dst,
                         uint8_t next_header, uint32_t l4_len) {
  uint32_t s = checksum_sum(src.b);
  s = checksum_sum(dst.b, s);
  const uint64_t acc =
      uint64_t{s} + (l4_len >> 16) + (l4_len & 0xffff) + next_header;
  return fold16(acc);
}

bool write_l4_checksum(rte_mbuf* m, uint32_t l4_offset, uint32_t l4_len,
                       uint32_t field_offset, uint32_t pseudo_sum) {
  if (field_offset > l4_len || l4_len - field_offset < 2 ||
      l4_offset > m->pkt_len || l4_len > m->pkt_len - l4_offset ||
      l4_offset + field_offset + 2 > m->data_len) {
    return false;
  }
  const std::span<uint8_t> field =
      first_segment_mut(m).subspan(l4_offset + field_offset, 2);
  ByteWriter zero(field);
  zero.u16(0);
  uint32_t sum = pseudo_sum;
  if (!checksum_mbuf(m, l4_offset, l4_len, &sum)) {
    return false;
  }
  ByteWriter w(field);
  return w.u16(checksum_finish(sum));
}

bool verify_l4_checksum(const rte_mbuf* m, uint32_t l4_offset, uint32_t l4_len,
                        uint32_t pseudo_sum) {
  uint32_t sum = pseudo_sum;
  return checksum_mbuf(m, l4_offset, l4_len, &sum) && checksum_finish(sum) == 0;
}

}  // namespace dptls::net
