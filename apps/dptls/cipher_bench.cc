#include "cipher_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace dptls::app {

namespace {

using Clock = std::chrono::steady_clock;

double mops_of(uint64_t ops, int64_t ns) {
  return ns > 0 ? static_cast<double>(ops) * 1e3 / static_cast<double>(ns)
                : 0.0;
}

// Linear interpolation between the closest ranks of sorted `v`.
double percentile(const std::vector<double>& v, double p) {
  if (v.empty()) {
    return 0.0;
  }
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// Accumulates run() timings of one direction, and the rate of every window
// of at least `window_ns`. Never allocates in add(): the windows beyond the
// reserved capacity are merged into the running one.
class RateSeries {
 public:
  RateSeries(int64_t window_ns, size_t capacity) : window_ns_(window_ns) {
    rates_.reserve(capacity);
  }

  void add(uint64_t ops, int64_t ns) noexcept {
    total_ops_ += ops;
    total_ns_ += ns;
    window_ops_ += ops;
    window_ns_sum_ += ns;
    if (window_ns_sum_ >= window_ns_ && rates_.size() < rates_.capacity()) {
      close_window();
    }
  }

  DirStats finish(size_t record_size) {
    // A trailing partial window counts if it is at least half a window, or
    // if it is all there is.
    if (window_ops_ > 0 &&
        (rates_.empty() || 2 * window_ns_sum_ >= window_ns_)) {
      close_window();
    }
    std::sort(rates_.begin(), rates_.end());
    DirStats stats;
    stats.ops = total_ops_;
    stats.bytes = total_ops_ * record_size;
    stats.seconds = static_cast<double>(total_ns_) * 1e-9;
    stats.mops = mops_of(total_ops_, total_ns_);
    stats.gbps = total_ns_ > 0 ? static_cast<double>(stats.bytes) /
                                     static_cast<double>(total_ns_)
                               : 0.0;
    stats.median_mops = percentile(rates_, 0.5);
    stats.p10_mops = percentile(rates_, 0.1);
    stats.p90_mops = percentile(rates_, 0.9);
    stats.samples = rates_.size();
    return stats;
  }

 private:
  void close_window() noexcept {
    rates_.push_back(mops_of(window_ops_, window_ns_sum_));
    window_ops_ = 0;
    window_ns_sum_ = 0;
  }

  int64_t window_ns_;
  std::vector<double> rates_;
  uint64_t total_ops_ = 0;
  int64_t total_ns_ = 0;
  uint64_t window_ops_ = 0;
  int64_t window_ns_sum_ = 0;
};

int64_t to_ns(double seconds) { return std::llround(seconds * 1e9); }

// Cycles `workload` until `seconds` of wall time have passed (at least once).
bool run_for(AeadWorkload& workload, double seconds, RateSeries& seal,
             RateSeries& open, CycleFailure* failure) noexcept {
  const Clock::time_point deadline =
      Clock::now() + std::chrono::nanoseconds(to_ns(seconds));
  const uint64_t batch = workload.shape().batch;
  CycleTimes times;
  do {
    if (!workload.cycle(&times, failure)) {
      return false;
    }
    seal.add(batch, times.seal_ns);
    open.add(batch, times.open_ns);
  } while (Clock::now() < deadline);
  return true;
}

bool warm_up(AeadWorkload& workload, double seconds, std::string* error) {
  RateSeries ignored_seal(1, 0);
  RateSeries ignored_open(1, 0);
  CycleFailure failure;
  if (!run_for(workload, seconds, ignored_seal, ignored_open, &failure)) {
    *error = "during warm-up: " + describe_failure(failure);
    return false;
  }
  return true;
}

}  // namespace

double DirStats::median_gbps(size_t record_size) const {
  return median_mops * static_cast<double>(record_size) * 1e-3;
}

double DirStats::p10_gbps(size_t record_size) const {
  return p10_mops * static_cast<double>(record_size) * 1e-3;
}

double DirStats::p90_gbps(size_t record_size) const {
  return p90_mops * static_cast<double>(record_size) * 1e-3;
}

bool measure(AeadWorkload& workload, const MeasureOptions& options,
             CellStats* stats, std::string* error) {
  if (!workload.self_check(error) ||
      !warm_up(workload, options.warmup_s, error)) {
    return false;
  }
  const int64_t window_ns = std::max<int64_t>(1, to_ns(options.window_s));
  // Each window holds at least window_ns of one direction's run() time, so
  // the measured span cannot fill more than this many (one cycle overshoots).
  const size_t capacity =
      static_cast<size_t>(to_ns(options.duration_s) / window_ns) + 2;
  RateSeries seal(window_ns, capacity);
  RateSeries open(window_ns, capacity);
  CycleFailure failure;
  if (!run_for(workload, options.duration_s, seal, open, &failure)) {
    *error = describe_failure(failure);
    return false;
  }
  if (!workload.intact()) {
    *error = "the plaintext did not survive the seal/open cycles";
    return false;
  }
  const size_t size = workload.shape().record_size;
  stats->seal = seal.finish(size);
  stats->open = open.finish(size);
  return true;
}

}  // namespace dptls::app
