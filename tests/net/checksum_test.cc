// The Internet checksum helpers against an independent reference
// implementation (net_test_support.cc), over flat bytes and mbuf chains
// split at every kind of boundary.
#include "dptls/net/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <random>
#include <span>
#include <vector>

#include "net/checksum_impl.h"
#include "net_test_support.h"

namespace dptls::net::testing {
namespace {

class ChecksumTest : public LeakCheckedTest {};

TEST_F(ChecksumTest, Rfc1071Example) {
  // RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
  const Bytes b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(checksum_sum(b), 0xddf2u);
  EXPECT_EQ(checksum_finish(checksum_sum(b)), static_cast<uint16_t>(~0xddf2));
}

TEST_F(ChecksumTest, MatchesReferenceForEveryLength) {
  std::mt19937 rng(1);
  for (size_t len = 0; len < 300; ++len) {
    Bytes b(len);
    for (uint8_t& x : b) {
      x = static_cast<uint8_t>(rng());
    }
    EXPECT_EQ(checksum_finish(checksum_sum(b)), ref_checksum(b)) << len;
  }
}

constexpr ChecksumImpl kImpls[] = {ChecksumImpl::kScalar, ChecksumImpl::kSse2,
                                   ChecksumImpl::kAvx2, ChecksumImpl::kAvx512};

// Every implementation the host can run, at every start alignment within a
// 64-byte vector and every length around the vector blocks (and every
// length up to 700, past the widest implementation's 128-byte loop step
// and masked tail), against the reference: random bytes, all 0xff (every
// lane at its largest), all zero and words at the signed boundary (0x8000,
// 0x7fff; the AVX-512 path sums sign-flipped words as signed).
TEST_F(ChecksumTest, EveryImplementationMatchesReference) {
  std::mt19937 rng(7);
  constexpr size_t kMaxLen = 3100;
  Bytes random(kMaxLen + 64);
  for (uint8_t& x : random) {
    x = static_cast<uint8_t>(rng());
  }
  Bytes boundary(kMaxLen + 64);
  for (size_t i = 0; i < boundary.size(); ++i) {
    const uint8_t pattern[] = {0x80, 0x00, 0x7f, 0xff, 0x00, 0x80, 0xff, 0x7f};
    boundary[i] = pattern[i % sizeof(pattern)];
  }
  const Bytes patterns[] = {random, Bytes(kMaxLen + 64, 0xff),
                            Bytes(kMaxLen + 64, 0x00), boundary};
  std::vector<ChecksumImpl> impls;
  for (ChecksumImpl impl : kImpls) {
    if (checksum_impl_available(impl)) {
      impls.push_back(impl);
    }
  }
  ASSERT_GE(impls.size(), 1u);
  for (size_t pat = 0; pat < std::size(patterns); ++pat) {
    for (size_t align = 0; align < 64; ++align) {
      for (size_t len = 0; len < kMaxLen; len += (len < 700 ? 1 : 13)) {
        const std::span<const uint8_t> d(patterns[pat].data() + align, len);
        const uint16_t want = ref_checksum(Bytes(d.begin(), d.end()));
        for (ChecksumImpl impl : impls) {
          ASSERT_EQ(checksum_finish(checksum_sum_with(impl, d)), want)
              << "impl " << static_cast<int>(impl) << " pattern " << pat
              << " align " << align << " len " << len;
          // A non-zero starting sum is added in.
          ASSERT_EQ(checksum_sum_with(impl, d, 0x1234),
                    checksum_add(checksum_sum_with(impl, d), 0x1234));
        }
      }
    }
  }
}

// checksum_copy_with(), every implementation the host can run: the bytes
// land at `dst` (at every source and destination alignment within a
// vector, every length around the blocks) and nothing around them is
// written; the sum equals the scalar sum of the source, with a starting
// sum added in.
TEST_F(ChecksumTest, CopyAndSumMatchesSumAndCopies) {
  std::mt19937 rng(11);
  constexpr size_t kMaxLen = 1600;
  constexpr uint8_t kGuard = 0xa5;
  Bytes src(kMaxLen + 64);
  for (uint8_t& x : src) {
    x = static_cast<uint8_t>(rng());
  }
  Bytes dst(kMaxLen + 3 * size_t{64});
  size_t checked = 0;
  for (ChecksumImpl impl : kImpls) {
    if (!checksum_impl_available(impl)) {
      continue;
    }
    for (size_t align = 0; align < 64; align += 7) {
      for (size_t dst_align = 0; dst_align < 64; dst_align += 13) {
        for (size_t len = 0; len < kMaxLen; len += (len < 300 ? 1 : 29)) {
          const std::span<const uint8_t> from(src.data() + align, len);
          std::fill(dst.begin(), dst.end(), kGuard);
          uint8_t* to = dst.data() + 64 + dst_align;
          const uint32_t want =
              checksum_sum_with(ChecksumImpl::kScalar, from, 0x1234);
          ASSERT_EQ(checksum_copy_with(impl, to, from, 0x1234), want)
              << "impl " << static_cast<int>(impl) << " align " << align
              << " len " << len;
          ASSERT_TRUE(std::equal(from.begin(), from.end(), to))
              << "impl " << static_cast<int>(impl) << " len " << len;
          ASSERT_TRUE(std::all_of(dst.begin(), dst.begin() + 64 + dst_align,
                                  [](uint8_t b) { return b == kGuard; }));
          ASSERT_TRUE(std::all_of(
              dst.begin() + static_cast<std::ptrdiff_t>(64 + dst_align + len),
              dst.end(), [](uint8_t b) { return b == kGuard; }))
              << "written past the end, len " << len;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 0u);
  // The dispatching entry point agrees with the scalar sum too.
  Bytes out(kMaxLen);
  EXPECT_EQ(
      checksum_copy(out.data(), std::span(src).first(kMaxLen)),
      checksum_sum_with(ChecksumImpl::kScalar, std::span(src).first(kMaxLen)));
  EXPECT_TRUE(std::equal(out.begin(), out.end(), src.begin()));
}

// Words near 0xffff (and, for the signed AVX-512 lanes, zero words, which
// push them down hardest) in lanes that must be flushed before they
// overflow: 4 MiB is more than one flush period of every vector loop (and
// more than the 32768 64-byte vectors a signed lane could take). The
// reference here is the scalar loop (a 64-bit accumulator), checked
// against the independent reference in 32 KiB pieces (which its 32-bit sum
// can hold).
TEST_F(ChecksumTest, LongHighWordsDoNotOverflowLanes) {
  const Bytes ones(size_t{4} << 20, 0xff);
  const Bytes zeros(size_t{4} << 20, 0x00);
  std::mt19937 rng(9);
  Bytes high(size_t{4} << 20);
  for (uint8_t& x : high) {
    x = static_cast<uint8_t>(0xf0 | (rng() & 0x0f));
  }
  uint32_t pieces = 0;
  for (size_t off = 0; off < high.size(); off += 32768) {
    const Bytes piece(high.begin() + static_cast<std::ptrdiff_t>(off),
                      high.begin() + static_cast<std::ptrdiff_t>(off + 32768));
    pieces = checksum_add(pieces,
                          static_cast<uint16_t>(~ref_checksum(piece) & 0xffff));
  }
  ASSERT_EQ(checksum_sum_with(ChecksumImpl::kScalar, high), pieces);
  // Off the vector alignment, with a partial last block.
  const std::span<const uint8_t> odd(high.data() + 3, high.size() - 40);
  const uint32_t odd_sum = checksum_sum_with(ChecksumImpl::kScalar, odd);
  for (ChecksumImpl impl : kImpls) {
    if (checksum_impl_available(impl)) {
      // Every word is 0xffff, which folds to 0xffff (one's complement -0).
      EXPECT_EQ(checksum_sum_with(impl, ones), 0xffffu)
          << static_cast<int>(impl);
      EXPECT_EQ(checksum_sum_with(impl, zeros), 0u) << static_cast<int>(impl);
      EXPECT_EQ(checksum_sum_with(impl, high), pieces)
          << static_cast<int>(impl);
      EXPECT_EQ(checksum_sum_with(impl, odd), odd_sum)
          << static_cast<int>(impl);
      // The copying loop flushes its lanes as the summing one does.
      Bytes copy(high.size());
      EXPECT_EQ(checksum_copy_with(impl, copy.data(), high), pieces)
          << static_cast<int>(impl);
      EXPECT_EQ(copy, high);
    }
  }
}

TEST_F(ChecksumTest, AllOnesAndZeros) {
  EXPECT_EQ(checksum_finish(checksum_sum(Bytes(64, 0xff))),
            ref_checksum(Bytes(64, 0xff)));
  EXPECT_EQ(checksum_finish(checksum_sum(Bytes(65, 0xff))),
            ref_checksum(Bytes(65, 0xff)));
  EXPECT_EQ(checksum_finish(checksum_sum(Bytes(10, 0))), 0xffff);
}

TEST_F(ChecksumTest, ChainSplitsAnywhere) {
  std::mt19937 rng(2);
  for (int iter = 0; iter < 200; ++iter) {
    const size_t len = 1 + rng() % 3000;
    Bytes b(len);
    for (uint8_t& x : b) {
      x = static_cast<uint8_t>(rng());
    }
    std::vector<size_t> segs;
    size_t used = 0;
    while (used < len && segs.size() < 12) {
      const size_t s = std::min<size_t>(rng() % 400, len - used);
      segs.push_back(s);
      used += s;
    }
    MbufPtr m(make_mbuf(b, segs));
    const uint32_t off = static_cast<uint32_t>(rng() % len);
    const uint32_t n = static_cast<uint32_t>(rng() % (len - off + 1));
    uint32_t sum = 0;
    ASSERT_TRUE(checksum_mbuf(m.get(), off, n, &sum));
    const Bytes slice(b.begin() + off, b.begin() + off + n);
    EXPECT_EQ(checksum_finish(sum), ref_checksum(slice))
        << "len " << len << " off " << off << " n " << n;
  }
}

TEST_F(ChecksumTest, ChainOddSegmentsOfOneByte) {
  Bytes b(33);
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = static_cast<uint8_t>(i * 37 + 1);
  }
  MbufPtr m(make_mbuf(b, {1, 1, 3, 0, 5, 1, 7}));
  uint32_t sum = 0;
  ASSERT_TRUE(checksum_mbuf(m.get(), 0, 33, &sum));
  EXPECT_EQ(checksum_finish(sum), ref_checksum(b));
}

TEST_F(ChecksumTest, MbufRangeOutOfBounds) {
  MbufPtr m(make_mbuf(Bytes(10, 1), {4}));
  uint32_t sum = 7;
  EXPECT_FALSE(checksum_mbuf(m.get(), 0, 11, &sum));
  EXPECT_FALSE(checksum_mbuf(m.get(), 11, 0, &sum));
  EXPECT_FALSE(checksum_mbuf(m.get(), 5, 6, &sum));
  EXPECT_EQ(sum, 7u);
  EXPECT_TRUE(checksum_mbuf(m.get(), 10, 0, &sum));
}

TEST_F(ChecksumTest, PseudoHeaders) {
  const Ipv4Addr a = Ipv4Addr::of(198, 18, 0, 1);
  const Ipv4Addr b = Ipv4Addr::of(198, 18, 0, 2);
  EXPECT_EQ(checksum_finish(ipv4_pseudo_sum(a, b, 6, 1234)),
            ref_fold_complement(ref_pseudo4(a, b, 6, 1234)));
  const Ipv6Addr c = our_ip6();
  const Ipv6Addr d = Ipv6Addr::link_local_from_mac(kPeerMac);
  EXPECT_EQ(checksum_finish(ipv6_pseudo_sum(c, d, 58, 70000)),
            ref_fold_complement(ref_pseudo6(c, d, 58, 70000)));
}

TEST_F(ChecksumTest, WriteAndVerifyL4OverChain) {
  // A TCP-like segment: 20-byte header with the checksum at 16, 1500 bytes
  // of payload spread over three segments.
  Bytes seg(1520);
  for (size_t i = 0; i < seg.size(); ++i) {
    seg[i] = static_cast<uint8_t>(i ^ 0x5a);
  }
  MbufPtr m(make_mbuf(seg, {41, 999}));
  const uint32_t pseudo = ipv4_pseudo_sum(kPeerIp, kOurIp, 6, 1520);
  ASSERT_TRUE(write_l4_checksum(m.get(), 0, 1520, 16, pseudo));
  EXPECT_TRUE(verify_l4_checksum(m.get(), 0, 1520, pseudo));
  // Independent check: the reference sum over pseudo-header + segment with
  // the written checksum folds to zero.
  const Bytes out = to_bytes(m.get());
  EXPECT_EQ(
      ref_fold_complement(ref_sum(out, ref_pseudo4(kPeerIp, kOurIp, 6, 1520))),
      0);
  // A flipped bit anywhere breaks it.
  rte_mbuf* last = rte_pktmbuf_lastseg(m.get());
  rte_pktmbuf_mtod(last, uint8_t*)[3] ^= 0x10;
  EXPECT_FALSE(verify_l4_checksum(m.get(), 0, 1520, pseudo));
}

TEST_F(ChecksumTest, WriteRefusesFieldOutsideFirstSegment) {
  MbufPtr m(make_mbuf(Bytes(40, 0), {10}));
  EXPECT_FALSE(write_l4_checksum(m.get(), 0, 40, 16, 0));
  EXPECT_FALSE(write_l4_checksum(m.get(), 0, 41, 2, 0));
  EXPECT_FALSE(write_l4_checksum(m.get(), 0, 8, 7, 0));
  EXPECT_TRUE(write_l4_checksum(m.get(), 0, 40, 2, 0));
}

}  // namespace
}  // namespace dptls::net::testing
