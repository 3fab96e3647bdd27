// Congestion controllers: NewReno (RFC 5681, RFC 3465) and CUBIC
// (RFC 9438).
#include "dptls/net/tcp_congestion.h"

#include <algorithm>
#include <cmath>

namespace dptls::net {

const char* cc_algo_name(CcAlgo a) {
  switch (a) {
#define DPTLS_TCP_CC_NAME(name, str) \
  case CcAlgo::name:                 \
    return str;
    DPTLS_TCP_CC_ALGOS(DPTLS_TCP_CC_NAME)
#undef DPTLS_TCP_CC_NAME
  }
  return "unknown";
}

namespace {

// RFC 6928's initial window, or the configured number of segments.
uint32_t initial_window(uint32_t smss, uint32_t iw_segments) {
  return iw_segments != 0
             ? iw_segments * smss
             : std::min(10 * smss, std::max(2 * smss, uint32_t{14600}));
}

}  // namespace

void cc_init(CcState& s, uint32_t smss, uint32_t iw_segments) {
  s = CcState{};
  s.cwnd = initial_window(smss, iw_segments);
  s.ssthresh = 0xffffffffu;
}

bool cc_after_idle(CcState& s, uint32_t smss, uint32_t iw_segments,
                   uint32_t idle_ms, uint32_t rto_ms) {
  rto_ms = std::max<uint32_t>(rto_ms, 1);
  if (idle_ms <= rto_ms) {
    return false;
  }
  const uint32_t restart = std::min(initial_window(smss, iw_segments), s.cwnd);
  // Slow start takes it back to at least 3/4 of the window it had.
  s.ssthresh = std::max(s.ssthresh, s.cwnd / 4 * 3);
  uint32_t cwnd = s.cwnd;
  for (uint32_t left = idle_ms - rto_ms; left > 0 && cwnd > restart;) {
    cwnd /= 2;
    left = left > rto_ms ? left - rto_ms : 0;
  }
  cwnd = std::max(cwnd, restart);
  const bool reduced = cwnd < s.cwnd;
  s.cwnd = cwnd;
  s.epoch_ms = 0;
  s.bytes_acked = 0;
  return reduced;
}

float cubic_window(const CcState& s, float t) {
  const float d = t - s.k;
  return kCubicC * d * d * d + s.w_max;
}

void cc_on_ack(CcAlgo algo, CcState& s, uint32_t acked, uint32_t smss,
               uint32_t now_ms, uint32_t srtt_us) {
  if (acked == 0 || smss == 0) {
    return;
  }
  if (s.cwnd < s.ssthresh) {
    // RFC 5681 3.1 slow start with RFC 3465 byte counting, L = 2 SMSS.
    s.cwnd = std::min(kCwndMax, s.cwnd + std::min(acked, 2 * smss));
    return;
  }
  if (algo == CcAlgo::kNewReno) {
    // RFC 5681 3.1 eq. 3 via RFC 3465 2.1: one SMSS per cwnd of ACKed bytes.
    s.bytes_acked += acked;
    if (s.bytes_acked >= s.cwnd) {
      s.bytes_acked -= s.cwnd;
      s.cwnd = std::min(kCwndMax, s.cwnd + smss);
    }
    return;
  }
  // CUBIC congestion avoidance (RFC 9438 section 4.2 - 4.4).
  const float seg = static_cast<float>(smss);
  const float cwnd_seg = static_cast<float>(s.cwnd) / seg;
  if (s.epoch_ms == 0) {
    s.epoch_ms = now_ms == 0 ? 1 : now_ms;
    s.cwnd_epoch = cwnd_seg;
    s.w_est = cwnd_seg;
    if (s.w_max <= cwnd_seg) {
      s.w_max = cwnd_seg;
      s.k = 0;
    } else {
      // RFC 9438 eq. 2: K = cubic_root((W_max - cwnd_epoch) / C).
      s.k = std::cbrt((s.w_max - cwnd_seg) / kCubicC);
    }
  }
  const int32_t dt = static_cast<int32_t>(now_ms - s.epoch_ms);
  const float t = static_cast<float>(dt < 0 ? 0 : dt) / 1000.0f;
  const float rtt = static_cast<float>(srtt_us) / 1e6f;
  // Target W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd] (section 4.2).
  const float target =
      std::clamp(cubic_window(s, t + rtt), cwnd_seg, 1.5f * cwnd_seg);
  // Reno-friendly region (section 4.3): alpha_cubic until W_est reaches
  // W_max, then 1.
  const float alpha = s.w_est >= s.w_max
                          ? 1.0f
                          : 3.0f * (1.0f - kCubicBeta) / (1.0f + kCubicBeta);
  s.w_est += alpha * (static_cast<float>(acked) / seg) / cwnd_seg;
  if (cubic_window(s, t) < s.w_est) {
    const float w = std::min(s.w_est * seg, static_cast<float>(kCwndMax));
    if (w > static_cast<float>(s.cwnd)) {
      s.cwnd = static_cast<uint32_t>(w);
    }
    return;
  }
  // Concave and convex regions (4.4, 4.5): (target - cwnd) / cwnd per SMSS.
  const float inc = (target - cwnd_seg) / cwnd_seg * static_cast<float>(acked);
  s.bytes_acked += static_cast<uint32_t>(inc);
  if (s.bytes_acked >= 1) {
    s.cwnd = std::min(kCwndMax, s.cwnd + s.bytes_acked);
    s.bytes_acked = 0;
  }
}

namespace {

void cubic_reduce(CcState& s, uint32_t smss) {
  const float cwnd_seg = static_cast<float>(s.cwnd) / static_cast<float>(smss);
  // Fast convergence (RFC 9438 4.7).
  s.w_max =
      cwnd_seg < s.w_max ? cwnd_seg * (1.0f + kCubicBeta) / 2.0f : cwnd_seg;
  s.ssthresh = std::max(
      static_cast<uint32_t>(static_cast<float>(s.cwnd) * kCubicBeta), 2 * smss);
  s.epoch_ms = 0;
  s.bytes_acked = 0;
}

}  // namespace

void cc_on_loss(CcAlgo algo, CcState& s, uint32_t flight, uint32_t smss) {
  if (algo == CcAlgo::kCubic) {
    cubic_reduce(s, smss);
  } else {
    s.ssthresh = std::max(flight / 2, 2 * smss);
    s.bytes_acked = 0;
  }
  s.cwnd = s.ssthresh;
}

void cc_on_rto(CcAlgo algo, CcState& s, uint32_t flight, uint32_t smss,
               bool first) {
  if (first) {
    if (algo == CcAlgo::kCubic) {
      cubic_reduce(s, smss);
    } else {
      s.ssthresh = std::max(flight / 2, 2 * smss);
    }
  }
  s.cwnd = smss;
  s.epoch_ms = 0;
  s.bytes_acked = 0;
}

}  // namespace dptls::net
