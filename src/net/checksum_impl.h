// The implementations behind checksum_sum(), for the tests: each one
// against the reference, whichever the host would pick.
#pragma once

#include <cstdint>
#include <span>

namespace dptls::net {

enum class ChecksumImpl : uint8_t {
  kScalar,  // 32-bit words, any host
  kSse2,    // x86-64 baseline
  kAvx2,    // picked when the CPU has it (and not AVX-512BW)
  kAvx512,  // AVX-512F + BW: picked when the CPU has them
};

/// Whether this host (CPU and build) can run `impl`.
bool checksum_impl_available(ChecksumImpl impl);

/// checksum_sum() with the given implementation; `impl` must be available.
uint32_t checksum_sum_with(ChecksumImpl impl, std::span<const uint8_t> data,
                           uint32_t sum = 0);

/// checksum_copy() with the given implementation (kAvx512 copies with the
/// AVX2 loop); `impl` must be available.
uint32_t checksum_copy_with(ChecksumImpl impl, uint8_t* dst,
                            std::span<const uint8_t> src, uint32_t sum = 0);

}  // namespace dptls::net
