// Measures the throughput of one AEAD workload: alternating timed seal and
// open run() calls until a time budget is spent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "aead_workload.h"

namespace dptls::app {

struct MeasureOptions {
  double duration_s = 1.0;  // measured time per cell, wall clock
  double warmup_s = 0.1;    // untimed cycles before measuring
  // Rates are sampled over windows of at least this much run() time; the
  // median and percentiles are taken over the windows.
  double window_s = 1e-3;
};

// The outcome for one direction (seal or open) of one cell.
struct DirStats {
  uint64_t ops = 0;
  uint64_t bytes = 0;  // record payload
  double seconds = 0;  // total time inside run()
  double mops = 0;     // ops / seconds / 1e6
  double gbps = 0;     // bytes / seconds / 1e9
  double median_mops = 0;
  double p10_mops = 0;
  double p90_mops = 0;
  size_t samples = 0;  // windows behind the median and percentiles

  // The per-window rates scaled to GB/s for `record_size`-byte records.
  double median_gbps(size_t record_size) const;
  double p10_gbps(size_t record_size) const;
  double p90_gbps(size_t record_size) const;
};

struct CellStats {
  DirStats seal;
  DirStats open;
};

// Self-checks `workload`, warms it up, then measures it. Returns false and
// sets *error if any op failed or the plaintext did not survive.
bool measure(AeadWorkload& workload, const MeasureOptions& options,
             CellStats* stats, std::string* error);

}  // namespace dptls::app
