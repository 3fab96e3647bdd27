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

#if defined(__x86_64__)
// Vector sums of native 16-bit words, for the whole 32-byte blocks of
// [p, p + n) (AVX-512: all of it): each 16-bit word is widened into a
// 32-bit lane, or pairs of them summed into one, and the lanes are added;
// every so many blocks (before a lane could overflow) the lanes are added
// into the 64-bit result. The scalar loop below does the tail. One load,
// two unpacks and two adds per 16 bytes (SSE2), one load, an xor, a madd
// and an add per 32 (AVX2) or 64 (AVX-512) bytes, against one add per 4
// bytes for the scalar loop: the software TCP checksum of every segment
// sent and received (no port offload) runs here. Below kVectorMin bytes
// the scalar loop is as quick or quicker (the vector set-up and the
// reduction of the lanes cost about what they save): bench_tcp's
// BM_ChecksumSumWith.
constexpr size_t kVectorMin = 128;

// Blocks per flush: each lane gains at most 0xffff per block.
constexpr size_t kFlushBlocks = 32768;

// Blocks (vectors) per flush for the sign-flip and vpmaddwd loops: a lane
// gains one madd result, in [-0x10000, 0xfffe], per block (the sum of the
// two accumulators' lanes too), so 16384 blocks keep it within +-2^30.
constexpr size_t kFlushMaddBlocks = 16384;

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

// AVX2: the sign-flip and vpmaddwd sum of the AVX-512 path below (which
// explains it), 32 bytes a load, two blocks an iteration into two
// accumulators: three instructions per 32 bytes (xor, madd, add) where
// widening with an AND and a shift, as this did before, needs four, 30 %
// quicker on 1,200 bytes. Every block adds 16 * 0x8000 = 2^19 of bias.
//
// With kCopy, each 32-byte block is also stored at `dst` (copy_sum_blocks):
// the payload copied behind a segment's header is summed while it passes
// through the registers, so the software checksum does not read it again.
template <bool kCopy>
[[gnu::always_inline]] __attribute__((target("avx2"))) inline __m256i
madd_block(uint8_t* dst, const uint8_t* p, size_t at, __m256i sign,
           __m256i ones) {
  const __m256i v =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + at));
  if constexpr (kCopy) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + at), v);
  }
  return _mm256_madd_epi16(_mm256_xor_si256(v, sign), ones);
}

template <bool kCopy>
__attribute__((target("avx2"))) uint64_t sum_blocks_avx2_impl(uint8_t* dst,
                                                              const uint8_t* p,
                                                              size_t blocks) {
  const __m256i sign = _mm256_set1_epi16(static_cast<int16_t>(0x8000));
  const __m256i ones = _mm256_set1_epi16(1);
  const size_t all = blocks;
  int64_t total = 0;
  while (blocks > 0) {
    size_t k = std::min(blocks, kFlushMaddBlocks);
    blocks -= k;
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    for (; k >= 2; k -= 2, p += 64, dst += kCopy ? 64 : 0) {
      a0 = _mm256_add_epi32(a0, madd_block<kCopy>(dst, p, 0, sign, ones));
      a1 = _mm256_add_epi32(a1, madd_block<kCopy>(dst, p, 32, sign, ones));
    }
    if (k == 1) {
      a0 = _mm256_add_epi32(a0, madd_block<kCopy>(dst, p, 0, sign, ones));
      p += 32;
      dst += kCopy ? 32 : 0;
    }
    const __m256i a = _mm256_add_epi32(a0, a1);
    const __m256i w =
        _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a)),
                         _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a, 1)));
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(w),
                                    _mm256_extracti128_si256(w, 1));
    total += _mm_cvtsi128_si64(h) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(h, h));
  }
  return static_cast<uint64_t>(total) + (uint64_t{all} << 19);
}

__attribute__((target("avx2"))) uint64_t sum_blocks_avx2(const uint8_t* p,
                                                         size_t blocks) {
  return sum_blocks_avx2_impl<false>(nullptr, p, blocks);
}

__attribute__((target("avx2"))) uint64_t copy_sum_blocks_avx2(uint8_t* dst,
                                                              const uint8_t* p,
                                                              size_t blocks) {
  return sum_blocks_avx2_impl<true>(dst, p, blocks);
}

// AVX-512BW: the whole of [p, p + n), 64 bytes a load, the last
// partial block by a masked load that reads no byte past the end and
// zero-fills the rest (a lone odd byte becomes the low-address byte of a
// zero-padded word, as in the scalar loop). Each 16-bit word w has its
// sign bit flipped, which makes it the signed word w - 0x8000, and
// vpmaddwd against ones adds each pair of those into a signed 32-bit lane:
// three instructions per 64 bytes (xor, madd, add) where the AND/shift
// widening needs four. Every vector adds 32 * 0x8000 = 2^20 of bias in
// total (zero-filled words included), added back at the end, so the result
// is the exact sum of the words. A lane gains a value in [-0x10000, 0xfffe]
// per vector; it is flushed every kFlushMaddBlocks vectors (plus the
// partial one), well inside 2^31 / 0x10000 = 32768.

// The masked forms (full mask, zero source) because GCC 12's unmasked
// widen/extract intrinsics trip -Wmaybe-uninitialized on their undefined
// source operand.
__attribute__((target("avx512f,avx512bw"))) int64_t sum_lanes_avx512(
    __m512i a) {
  const __mmask8 all = 0xff;
  const __m512i wide =
      _mm512_add_epi64(_mm512_maskz_cvtepi32_epi64(
                           all, _mm512_maskz_extracti64x4_epi64(all, a, 0)),
                       _mm512_maskz_cvtepi32_epi64(
                           all, _mm512_maskz_extracti64x4_epi64(all, a, 1)));
  const __m256i q =
      _mm256_add_epi64(_mm512_maskz_extracti64x4_epi64(all, wide, 0),
                       _mm512_maskz_extracti64x4_epi64(all, wide, 1));
  const __m128i h =
      _mm_add_epi64(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_cvtsi128_si64(h) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(h, h));
}

__attribute__((target("avx512f,avx512bw"))) uint64_t sum_avx512(
    const uint8_t* p, size_t n) {
  const __m512i sign = _mm512_set1_epi16(static_cast<int16_t>(0x8000));
  const __m512i ones = _mm512_set1_epi16(1);
  const size_t vectors = (n + 63) / 64;
  size_t blocks = n / 64;
  int64_t total = 0;
  // Two accumulators, so consecutive adds do not wait for each other; the
  // lanes are reduced once per kFlushMaddBlocks blocks and once at the end
  // (the last period also takes the partial block: one vector more).
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
  while (blocks > 0) {
    size_t k = std::min(blocks, kFlushMaddBlocks);
    blocks -= k;
    for (; k >= 2; k -= 2, p += 128) {
      const __m512i v0 = _mm512_loadu_si512(p);
      const __m512i v1 = _mm512_loadu_si512(p + 64);
      a0 = _mm512_add_epi32(
          a0, _mm512_madd_epi16(_mm512_xor_si512(v0, sign), ones));
      a1 = _mm512_add_epi32(
          a1, _mm512_madd_epi16(_mm512_xor_si512(v1, sign), ones));
    }
    if (k == 1) {
      const __m512i v = _mm512_loadu_si512(p);
      a0 = _mm512_add_epi32(a0,
                            _mm512_madd_epi16(_mm512_xor_si512(v, sign), ones));
      p += 64;
    }
    if (blocks > 0) {
      total += sum_lanes_avx512(_mm512_add_epi32(a0, a1));
      a0 = _mm512_setzero_si512();
      a1 = _mm512_setzero_si512();
    }
  }
  const size_t rest = n % 64;
  if (rest != 0) {
    const __mmask64 m = ~uint64_t{0} >> (64 - rest);
    const __m512i v = _mm512_maskz_loadu_epi8(m, p);
    a1 = _mm512_add_epi32(a1,
                          _mm512_madd_epi16(_mm512_xor_si512(v, sign), ones));
  }
  total += sum_lanes_avx512(_mm512_add_epi32(a0, a1));
  return static_cast<uint64_t>(total) + (uint64_t{vectors} << 20);
}

const bool kHaveAvx2 = []() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();

const bool kHaveAvx512 = []() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0 &&
         __builtin_cpu_supports("avx512f") != 0 &&
         __builtin_cpu_supports("avx512bw") != 0;
}();
#endif

}  // namespace

bool checksum_impl_available(ChecksumImpl impl) {
#if defined(__x86_64__)
  // SSE2 is part of x86-64; AVX2 and AVX-512 are asked of the CPU at
  // start-up.
  switch (impl) {
    case ChecksumImpl::kAvx2:
      return kHaveAvx2;
    case ChecksumImpl::kAvx512:
      return kHaveAvx512;
    case ChecksumImpl::kScalar:
    case ChecksumImpl::kSse2:
      return true;
  }
  return false;
#else
  return impl == ChecksumImpl::kScalar;
#endif
}

namespace {

// The scalar loop: native 32-bit words (then a 16-bit one and a lone odd
// byte) of [p, p + n) into a 64-bit accumulator.
uint64_t sum_scalar(const uint8_t* p, size_t n) {
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
  return acc;
}

// Copies fewer than 32 bytes with two overlapping moves of the largest
// width that fits: GCC turns a variable-length memcpy into `rep movsq`,
// whose start-up cost is more than a segment's whole 8-byte tail.
void copy_short(uint8_t* dst, const uint8_t* src, size_t n) {
  const auto two = [&](auto word) {
    std::memcpy(&word, src, sizeof(word));
    auto last = word;
    std::memcpy(&last, src + n - sizeof(word), sizeof(word));
    std::memcpy(dst, &word, sizeof(word));
    std::memcpy(dst + n - sizeof(word), &last, sizeof(word));
  };
  struct Bytes16 {
    uint64_t lo, hi;
  };
  if (n >= 16) {
    two(Bytes16{});
  } else if (n >= 8) {
    two(uint64_t{});
  } else if (n >= 4) {
    two(uint32_t{});
  } else if (n > 0) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  }
}

// The folded 16-bit sum of a native-order accumulator, in big-endian word
// order, added to `sum`.
uint32_t finish_native(uint64_t acc, uint32_t sum) {
  uint32_t folded = fold16(acc);
  if constexpr (std::endian::native == std::endian::little) {
    folded = checksum_shift_odd(folded);
  }
  return checksum_add(sum, folded);
}

// checksum_sum_with()'s body, inlined into checksum_sum() too: the call
// cost 0.6 ns of a 20-byte header's 3.8 (bench_tcp BM_ChecksumSum/20).
[[gnu::always_inline]] inline uint32_t sum_with(ChecksumImpl impl,
                                                std::span<const uint8_t> data,
                                                uint32_t sum) {
  // RFC 1071 section 2 (B): the sum is byte-order independent, so add
  // native 16- and 32-bit words into a 64-bit accumulator (no carry is
  // lost below 2^34 bytes) and swap the folded result once on a
  // little-endian host.
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
#if defined(__x86_64__)
  if (n >= kVectorMin && impl == ChecksumImpl::kAvx512) {
    acc = sum_avx512(p, n);  // tail included
    n = 0;
  } else if (n >= kVectorMin && impl != ChecksumImpl::kScalar) {
    const size_t blocks = n / 32;
    acc = impl == ChecksumImpl::kSse2 ? sum_blocks_sse2(p, blocks)
                                      : sum_blocks_avx2(p, blocks);
    p += blocks * 32;
    n -= blocks * 32;
  }
#else
  (void)impl;
#endif
  acc += sum_scalar(p, n);
  return finish_native(acc, sum);
}

// checksum_copy_with()'s body: the vector blocks copied and summed in one
// pass where a vector loop runs, the tail (and short or scalar copies)
// copied and then summed.
[[gnu::always_inline]] inline uint32_t copy_sum_with(
    ChecksumImpl impl, uint8_t* dst, std::span<const uint8_t> src,
    uint32_t sum) {
  const uint8_t* p = src.data();
  size_t n = src.size();
  uint64_t acc = 0;
#if defined(__x86_64__)
  if (n >= kVectorMin &&
      (impl == ChecksumImpl::kAvx2 || impl == ChecksumImpl::kAvx512)) {
    const size_t blocks = n / 32;
    acc = copy_sum_blocks_avx2(dst, p, blocks);
    p += blocks * 32;
    dst += blocks * 32;
    n -= blocks * 32;
  } else if (n >= kVectorMin && impl == ChecksumImpl::kSse2) {
    const size_t blocks = n / 32;
    std::memcpy(dst, p, blocks * 32);
    acc = sum_blocks_sse2(p, blocks);
    p += blocks * 32;
    dst += blocks * 32;
    n -= blocks * 32;
  }
#else
  (void)impl;
#endif
  if (n >= 32) {
    std::memcpy(dst, p, n);  // all of a scalar copy
  } else {
    copy_short(dst, p, n);  // the tail, or all of a short copy
  }
  acc += sum_scalar(p, n);
  return finish_native(acc, sum);
}

}  // namespace

uint32_t checksum_sum(std::span<const uint8_t> data, uint32_t sum) {
#if defined(__x86_64__)
  // AVX2 even where AVX-512 runs: in the engine the 512-bit loop lost what
  // it gained. bench_tcp has it at 14.9 ns against 19.2 for 1,200 bytes,
  // but end to end (bench/engine_gen_memif.sh, Intel Xeon, 2026-11-24)
  // small keep-alive requests cost 4-5 % more worker cycles with it
  // (1,811-1,838 per request against 1,708-1,760 with either AVX2 loop; the
  // generator, on the same code, slowed as much) and bulk moved by 0.01
  // cycle per byte, within the noise. Likely the 512-bit multiply-adds'
  // cost to the core's clock between the vector bursts, which a tight
  // loop does not see. kAvx512 stays for checksum_sum_with (tests,
  // bench_tcp).
  return sum_with(kHaveAvx2 ? ChecksumImpl::kAvx2 : ChecksumImpl::kSse2, data,
                  sum);
#else
  return sum_with(ChecksumImpl::kScalar, data, sum);
#endif
}

uint32_t checksum_sum_with(ChecksumImpl impl, std::span<const uint8_t> data,
                           uint32_t sum) {
  return sum_with(impl, data, sum);
}

uint32_t checksum_copy(uint8_t* dst, std::span<const uint8_t> src,
                       uint32_t sum) {
#if defined(__x86_64__)
  return copy_sum_with(kHaveAvx2 ? ChecksumImpl::kAvx2 : ChecksumImpl::kSse2,
                       dst, src, sum);
#else
  return copy_sum_with(ChecksumImpl::kScalar, dst, src, sum);
#endif
}

uint32_t checksum_copy_with(ChecksumImpl impl, uint8_t* dst,
                            std::span<const uint8_t> src, uint32_t sum) {
  return copy_sum_with(impl, dst, src, sum);
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
      s = checksum_shift_odd(s);
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
  return write_l4_checksum_known(m, l4_offset, l4_len, field_offset, pseudo_sum,
                                 l4_len, 0);
}

bool write_l4_checksum_known(rte_mbuf* m, uint32_t l4_offset, uint32_t l4_len,
                             uint32_t field_offset, uint32_t pseudo_sum,
                             uint32_t known_from, uint32_t known_sum) {
  if (known_from > l4_len || (known_from != l4_len && (known_from & 1) != 0) ||
      known_from < field_offset + 2) {
    return false;
  }
  if (field_offset > l4_len || l4_len - field_offset < 2 ||
      l4_offset > m->pkt_len || l4_len > m->pkt_len - l4_offset ||
      l4_offset + field_offset + 2 > m->data_len) {
    return false;
  }
  const std::span<uint8_t> field =
      first_segment_mut(m).subspan(l4_offset + field_offset, 2);
  ByteWriter zero(field);
  zero.u16(0);
  uint32_t sum = checksum_add(pseudo_sum, known_sum);
  if (!checksum_mbuf(m, l4_offset, known_from, &sum)) {
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
