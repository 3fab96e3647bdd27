#include "dptls/net/checksum.h"

#include <rte_mbuf.h>

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "dptls/util/bytes.h"
#include "net/checksum_impl.h"
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

#if defined(__x86_64__)
// Vector sums of native 16-bit words, for the whole 32-byte blocks of
// [p, p + n): each 16-bit word is widened into a 32-bit lane and the lanes
// are added; every so many blocks (before a lane could overflow) the lanes
// are added into the 64-bit result. The scalar loop below does the tail.
// One load, two unpacks and two adds per 16 (SSE2) or 32 (AVX2) bytes,
// against one add per 4 bytes for the scalar loop: the software TCP
// checksum of every segment sent and received (no port offload) runs here.

// Blocks per flush: each lane gains at most 0xffff per block.
constexpr size_t kFlushBlocks = 32768;

uint64_t sum_lanes_sse2(__m128i a) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i wide =
      _mm_add_epi64(_mm_unpacklo_epi32(a, zero), _mm_unpackhi_epi32(a, zero));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(wide)) +
         static_cast<uint64_t>(
             _mm_cvtsi128_si64(_mm_unpackhi_epi64(wide, wide)));
}

uint64_t sum_blocks_sse2(const uint8_t* p, size_t blocks) {
  const __m128i zero = _mm_setzero_si128();
  uint64_t total = 0;
  while (blocks > 0) {
    size_t k = std::min(blocks, kFlushBlocks);
    blocks -= k;
    __m128i a0 = zero, a1 = zero;
    for (; k > 0; --k, p += 32) {
      const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i v1 =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
      a0 = _mm_add_epi32(a0, _mm_unpacklo_epi16(v0, zero));
      a1 = _mm_add_epi32(a1, _mm_unpackhi_epi16(v0, zero));
      a0 = _mm_add_epi32(a0, _mm_unpacklo_epi16(v1, zero));
      a1 = _mm_add_epi32(a1, _mm_unpackhi_epi16(v1, zero));
    }
    total += sum_lanes_sse2(a0) + sum_lanes_sse2(a1);
  }
  return total;
}

__attribute__((target("avx2"))) uint64_t sum_blocks_avx2(const uint8_t* p,
                                                         size_t blocks) {
  const __m256i zero = _mm256_setzero_si256();
  uint64_t total = 0;
  while (blocks > 0) {
    size_t k = std::min(blocks, kFlushBlocks);
    blocks -= k;
    // Each 32-bit lane's low and high 16-bit words, widened with an AND
    // and a shift (any ALU port) rather than two unpacks (one shuffle
    // port, the loop's bottleneck).
    const __m256i low_words = _mm256_set1_epi32(0xffff);
    __m256i a0 = zero, a1 = zero;
    for (; k > 0; --k, p += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      a0 = _mm256_add_epi32(a0, _mm256_and_si256(v, low_words));
      a1 = _mm256_add_epi32(a1, _mm256_srli_epi32(v, 16));
    }
    const __m256i a =
        _mm256_add_epi64(_mm256_add_epi64(_mm256_unpacklo_epi32(a0, zero),
                                          _mm256_unpackhi_epi32(a0, zero)),
                         _mm256_add_epi64(_mm256_unpacklo_epi32(a1, zero),
                                          _mm256_unpackhi_epi32(a1, zero)));
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(a),
                                    _mm256_extracti128_si256(a, 1));
    total += static_cast<uint64_t>(_mm_cvtsi128_si64(h)) +
             static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(h, h)));
  }
  return total;
}

const bool kHaveAvx2 = []() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();
#endif

}  // namespace

bool checksum_impl_available(ChecksumImpl impl) {
#if defined(__x86_64__)
  // SSE2 is part of x86-64; AVX2 is asked of the CPU at start-up.
  return impl != ChecksumImpl::kAvx2 || kHaveAvx2;
#else
  return impl == ChecksumImpl::kScalar;
#endif
}

uint32_t checksum_sum(std::span<const uint8_t> data, uint32_t sum) {
#if defined(__x86_64__)
  return checksum_sum_with(
      kHaveAvx2 ? ChecksumImpl::kAvx2 : ChecksumImpl::kSse2, data, sum);
#else
  return checksum_sum_with(ChecksumImpl::kScalar, data, sum);
#endif
}

uint32_t checksum_sum_with(ChecksumImpl impl, std::span<const uint8_t> data,
                           uint32_t sum) {
  // RFC 1071 section 2 (B): the sum is byte-order independent, so add
  // native 16- and 32-bit words into a 64-bit accumulator (no carry is
  // lost below 2^34 bytes) and swap the folded result once on a
  // little-endian host.
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
#if defined(__x86_64__)
  if (n >= 32 && impl != ChecksumImpl::kScalar) {
    const size_t blocks = n / 32;
    acc = impl == ChecksumImpl::kAvx2 ? sum_blocks_avx2(p, blocks)
                                      : sum_blocks_sse2(p, blocks);
    p += blocks * 32;
    n -= blocks * 32;
  }
#else
  (void)impl;
#endif
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
