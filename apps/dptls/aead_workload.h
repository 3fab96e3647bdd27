// A batch of AEAD records laid out the way the record engine sees them, for
// benchmarks: one key per op (one connection per op), records either
// contiguous or spread over separately placed mbuf-like segment buffers.
//
// Shared by `dptls bench cipher` and the Google Benchmark binary so both
// measure the same thing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"

namespace dptls::app {

// Largest buffer footprint create() accepts, so a bad combination of options
// fails with a message instead of exhausting memory.
inline constexpr size_t kMaxWorkloadBytes = size_t{4} << 30;

// Segment buffers model DPDK mbufs: a 128-byte headroom, a 2048-byte data
// room, and the TLS payload starting after Ethernet + IPv4 + TCP (with
// timestamps) headers, so it is not cache-line aligned.
inline constexpr size_t kMbufHeadroom = 128;
inline constexpr size_t kMbufDataRoom = 2048;
inline constexpr size_t kWireHeaderLen = 14 + 20 + 32;

struct WorkloadShape {
  size_t batch = 32;        // ops per run() call, each with its own key
  size_t record_size = 0;   // payload bytes per record
  size_t segment_size = 0;  // 0: one contiguous buffer per record
  size_t aad_len = 5;       // TLS 1.3 record header
  // Ops handed to each run() call; 0 means the whole batch in one call.
  // Smaller values show the per-call overhead that batching saves.
  size_t ops_per_call = 0;
};

// Time spent inside the two run() calls of one cycle.
struct CycleTimes {
  int64_t seal_ns = 0;
  int64_t open_ns = 0;
};

// The first op of a cycle that did not end kOk.
struct CycleFailure {
  crypto::AeadDir dir = crypto::AeadDir::kSeal;
  size_t op_index = 0;
  crypto::AeadStatus status = crypto::AeadStatus::kNotRun;
};

std::string describe_failure(const CycleFailure& failure);

class AeadWorkload {
 public:
  // Buffer bytes a workload of this shape allocates.
  static size_t footprint(const WorkloadShape& shape);

  // Allocates and fills the buffers with random plaintext and initialises one
  // random key per op with `backend`, which must outlive the workload.
  // Returns nullptr and sets *error on failure.
  static std::unique_ptr<AeadWorkload> create(crypto::AeadBackend& backend,
                                              crypto::AeadAlg alg,
                                              const WorkloadShape& shape,
                                              std::string* error);

  AeadWorkload(const AeadWorkload&) = delete;
  AeadWorkload& operator=(const AeadWorkload&) = delete;
  ~AeadWorkload();

  // Seals the batch, then opens it using the tags just produced, which
  // restores the plaintext; each with one run() call (or one per
  // `ops_per_call` ops). Times the run() calls of each direction. Returns
  // false and fills *failure if any op did not end kOk. Does not allocate.
  bool cycle(CycleTimes* times, CycleFailure* failure) noexcept;

  // Runs one cycle and checks that sealing changed the bytes and opening
  // restored them. Returns false and sets *error otherwise.
  bool self_check(std::string* error);

  // True if the buffers hold the plaintext they were created with.
  bool intact() const;

  const WorkloadShape& shape() const { return shape_; }
  crypto::AeadAlg alg() const { return alg_; }
  // Payload bytes processed by one run() call.
  uint64_t batch_bytes() const {
    return uint64_t{shape_.batch} * shape_.record_size;
  }

 private:
  struct ArenaFree {
    void operator()(uint8_t* p) const noexcept;
  };

  // Where the records live. Contiguous records use one slot each; segmented
  // records use one slot per segment.
  struct Layout {
    size_t segs_per_record = 0;
    size_t slot_size = 0;    // bytes, a multiple of 64
    size_t data_offset = 0;  // of the payload inside a slot
    size_t slots = 0;
    size_t arena_size = 0;
  };

  static Layout plan(const WorkloadShape& shape);

  AeadWorkload(crypto::AeadBackend& backend, crypto::AeadAlg alg,
               const WorkloadShape& shape);
  bool allocate(std::string* error);
  void layout_segments();
  bool init_keys(std::string* error);
  void build_ops();
  bool run_timed(std::span<crypto::AeadOp> ops, int64_t* ns,
                 CycleFailure* failure) noexcept;
  size_t run_calls(std::span<crypto::AeadOp> ops) noexcept;
  uint64_t checksum() const;

  crypto::AeadBackend& backend_;
  crypto::AeadAlg alg_;
  WorkloadShape shape_;
  Layout layout_;
  std::unique_ptr<uint8_t, ArenaFree> arena_;
  std::unique_ptr<crypto::AeadKey[]> keys_;
  std::vector<crypto::IoSegment> segs_;
  std::vector<uint8_t> nonces_;
  std::vector<uint8_t> aads_;
  std::vector<uint8_t> tags_;
  std::vector<crypto::AeadOp> seal_ops_;
  std::vector<crypto::AeadOp> open_ops_;
  uint64_t plaintext_sum_ = 0;
};

}  // namespace dptls::app
