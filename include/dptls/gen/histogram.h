// A fixed latency histogram for the load generator: log-linear buckets
// (32 per power of two, so a percentile is within about 3% of the true
// value), nothing allocated after construction, values in nanoseconds up
// to 2^40 (about 18 minutes; larger ones land in the last bucket).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace dptls::gen {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 5;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 32
  static constexpr unsigned kMaxBits = 40;
  static constexpr size_t kBuckets = (kMaxBits - kSubBits + 1) * kSub;

  static constexpr size_t bucket_of(uint64_t v) {
    if (v < 2 * kSub) {
      return static_cast<size_t>(v);
    }
    const unsigned msb = 63 - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - kSubBits;
    const size_t i =
        (shift + 1) * kSub + static_cast<size_t>((v >> shift) - kSub);
    return i < kBuckets ? i : kBuckets - 1;
  }
  // The smallest value of bucket i.
  static constexpr uint64_t lower_bound(size_t i) {
    if (i < 2 * kSub) {
      return i;
    }
    const size_t shift = i / kSub - 1;
    return (kSub + i % kSub) << shift;
  }

  void record(uint64_t ns) {
    ++counts_[bucket_of(ns)];
    ++total_;
    if (ns > max_) {
      max_ = ns;
    }
    sum_ += ns;
  }
  void merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) {
      counts_[i] += o.counts_[i];
    }
    total_ += o.total_;
    sum_ += o.sum_;
    if (o.max_ > max_) {
      max_ = o.max_;
    }
  }
  // The value at quantile q (0..1): the middle of the bucket holding it;
  // 0 when empty.
  uint64_t quantile(double q) const {
    if (total_ == 0) {
      return 0;
    }
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) {
      rank = total_ - 1;
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) {
        const uint64_t lo = lower_bound(i);
        const uint64_t hi = i + 1 < kBuckets ? lower_bound(i + 1) : lo + 1;
        const uint64_t mid = lo + (hi - lo) / 2;
        return mid < max_ ? mid : max_;
      }
    }
    return max_;
  }
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  uint64_t mean() const { return total_ == 0 ? 0 : sum_ / total_; }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace dptls::gen
