// Shared helpers for the AEAD tests: hex, random data, scattered message
// buffers and backend fixtures.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dptls/crypto/aead.h"

namespace dptls::crypto {

// Let gtest print the enums by name ("auth-failed", not "<01>").
void PrintTo(AeadStatus status, std::ostream* os);
void PrintTo(AeadAlg alg, std::ostream* os);
void PrintTo(BackendKind kind, std::ostream* os);
void PrintTo(CpuPath path, std::ostream* os);

}  // namespace dptls::crypto

namespace dptls::crypto::testing {

using Bytes = std::vector<uint8_t>;

// Every status, every CPU path (the header has lists only for algorithms and
// backends).
inline constexpr AeadStatus kAllStatuses[] = {
#define DPTLS_X(e, name) AeadStatus::e,
    DPTLS_AEAD_STATUSES(DPTLS_X)
#undef DPTLS_X
};
inline constexpr CpuPath kAllCpuPaths[] = {
#define DPTLS_X(e, name) CpuPath::e,
    DPTLS_CPU_PATHS(DPTLS_X)
#undef DPTLS_X
};

// Decodes lower- or upper-case hex. Returns false on odd length or a non-hex
// character.
bool HexDecode(std::string_view hex, Bytes* out);
std::string HexEncode(std::span<const uint8_t> bytes);

Bytes RandomBytes(std::mt19937_64& rng, size_t len);
// Uniform in [lo, hi].
size_t RandomSize(std::mt19937_64& rng, size_t lo, size_t hi);

// Segment-length layouts for a message of `total` bytes. Each sums to total.
std::vector<size_t> SingleSegment(size_t total);
// Only 1-byte segments, with empty ones at the start, in the middle and at
// the end.
std::vector<size_t> OneByteSegments(size_t total);
// A random mix of empty, 1-byte, short and long segments.
std::vector<size_t> RandomSegments(size_t total, std::mt19937_64& rng);

// A message laid out in separate segments with random guard gaps between
// them (so a backend that treats the segments as one contiguous buffer, or
// writes past a segment, is caught), random misalignment, and some empty
// segments whose data pointer is null.
class ScatteredMessage {
 public:
  ScatteredMessage(std::span<const uint8_t> content,
                   const std::vector<size_t>& lengths, std::mt19937_64& rng);
  ScatteredMessage(ScatteredMessage&&) = default;
  ScatteredMessage& operator=(ScatteredMessage&&) = default;
  ScatteredMessage(const ScatteredMessage&) = delete;
  ScatteredMessage& operator=(const ScatteredMessage&) = delete;

  std::span<const IoSegment> segs() const { return segs_; }
  size_t size() const { return total_; }
  // The segments' bytes, concatenated.
  Bytes Gather() const;
  // True when every byte of every segment is zero.
  bool AllSegmentBytesZero() const;
  // True when no byte outside the segments changed.
  bool GuardsIntact() const;
  // Describes the layout, for failure messages.
  std::string Layout() const;

 private:
  static constexpr uint8_t kGuard = 0xA5;
  Bytes backing_;
  std::vector<IoSegment> segs_;
  std::vector<std::pair<size_t, size_t>> guards_;  // offset, length
  size_t total_ = 0;
};

// Builds an op; `segs`, `nonce`, `aad`, `tag` are borrowed.
AeadOp MakeOp(const AeadKey& key, AeadDir dir, std::span<const uint8_t> nonce,
              std::span<const uint8_t> aad, std::span<const IoSegment> segs,
              uint8_t* tag);

// Creates a backend or records a fatal failure (use with
// ASSERT_NO_FATAL_FAILURE or check the result).
std::unique_ptr<AeadBackend> MakeBackendOrFail(BackendKind kind,
                                               CpuPath path = CpuPath::kAuto);

// gtest parameter names ("ipsec_mb", "aes_128_gcm", ...).
std::string SanitizedName(std::string_view name);
std::string BackendParamName(const ::testing::TestParamInfo<BackendKind>& info);
std::string AlgParamName(const ::testing::TestParamInfo<AeadAlg>& info);

// A test fixture with one backend of the parameter's kind.
class BackendTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override;
  std::unique_ptr<AeadBackend> backend_;
};

// Result of sealing or opening a whole message once.
struct OneShot {
  AeadStatus status = AeadStatus::kNotRun;
  Bytes data;  // gathered segment bytes afterwards
  Bytes tag;   // tag buffer afterwards
  bool guards_intact = false;
  bool all_zero = false;  // every segment byte zero afterwards
};

// Seals or opens `input` laid out by `lengths`, with `tag_in` as the tag
// buffer's initial contents (kAeadTagLen bytes).
OneShot RunScattered(AeadBackend& backend, const AeadKey& key, AeadDir dir,
                     std::span<const uint8_t> nonce,
                     std::span<const uint8_t> aad,
                     std::span<const uint8_t> input,
                     const std::vector<size_t>& lengths,
                     std::span<const uint8_t> tag_in, std::mt19937_64& rng);

// The directory holding the test vectors: $DPTLS_VECTORS, else the source
// tree path compiled in.
std::filesystem::path VectorsDir();

}  // namespace dptls::crypto::testing
