// The retransmission timer of RFC 6298: smoothed RTT and variance from
// samples (section 2), clamped to a configurable minimum (RFC 6298 says 1 s;
// datacenter stacks use 200 ms, our default) and maximum (section 2.5),
// doubled on each expiry (section 5.5) and reset by the next valid sample.
// Karn's rule (section 3) is the caller's: never sample a retransmitted
// segment unless timestamps disambiguate it (RFC 7323 section 4).
#pragma once

#include <algorithm>
#include <cstdint>

namespace dptls::net {

/// Clamps and clock granularity for RtoEstimator.
struct RtoParams {
  uint32_t min_ms = 200;
  uint32_t max_ms = 60'000;
  uint32_t initial_ms = 1'000;      // RFC 6298 2.1
  uint32_t granularity_us = 1'000;  // G: the timer wheel's tick
  /// Most doublings before the connection is given up (the caller counts).
  uint8_t max_backoff = 15;
};

/// Per-connection RTT state: 13 bytes.
struct RtoEstimator {
  uint32_t srtt_us = 0;
  uint32_t rttvar_us = 0;
  uint32_t base_ms = 0;  // RTO before backoff
  uint8_t backoff = 0;   // expiries since the last valid sample

  /// RFC 6298 2.1: no sample yet, RTO = initial.
  void init(const RtoParams& p) {
    srtt_us = 0;
    rttvar_us = 0;
    base_ms = p.initial_ms;
    backoff = 0;
  }
  bool has_sample() const { return srtt_us != 0 || rttvar_us != 0; }

  /// Takes a measurement R (microseconds; 0 is treated as 1 us so a sample
  /// on a fast link still counts as one). RFC 6298 2.2 for the first, 2.3
  /// after; then RTO = SRTT + max(G, 4 * RTTVAR), clamped (2.4, 2.5), and
  /// the backoff is cleared (5.7 ends with the next sample).
  void sample(uint32_t r_us, const RtoParams& p) {
    r_us = std::max<uint32_t>(r_us, 1);
    if (!has_sample()) {
      srtt_us = r_us;
      rttvar_us = r_us / 2;
    } else {
      // RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, beta = 1/4
      // SRTT <- (1 - alpha) * SRTT + alpha * R', alpha = 1/8
      const uint32_t err = srtt_us > r_us ? srtt_us - r_us : r_us - srtt_us;
      rttvar_us = rttvar_us - rttvar_us / 4 + err / 4;
      srtt_us = srtt_us - srtt_us / 8 + r_us / 8;
      if (srtt_us == 0) {
        srtt_us = 1;
      }
    }
    const uint64_t rto_us =
        uint64_t{srtt_us} +
        std::max<uint64_t>(p.granularity_us, uint64_t{rttvar_us} * 4);
    const uint64_t ms = (rto_us + 999) / 1000;
    base_ms =
        static_cast<uint32_t>(std::clamp<uint64_t>(ms, p.min_ms, p.max_ms));
    backoff = 0;
  }

  /// RFC 6298 5.5: back off the timer (RTO <- RTO * 2, capped at max).
  void back_off() {
    if (backoff < 31) {
      ++backoff;
    }
  }

  /// The timeout to arm now: base << backoff, capped at max (2.5).
  uint32_t current_ms(const RtoParams& p) const {
    const uint64_t v = uint64_t{base_ms} << std::min<uint8_t>(backoff, 31);
    return static_cast<uint32_t>(std::min<uint64_t>(v, p.max_ms));
  }
};

}  // namespace dptls::net
