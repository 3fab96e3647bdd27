// Congestion control: NewReno (RFC 5681 with RFC 3465 byte counting) and
// CUBIC (RFC 9438), as plain functions over a small per-connection state so
// a connection carries no vtable and the algorithms can be unit-tested with
// a fake clock. Loss recovery itself (fast retransmit, NewReno partial ACKs,
// the SACK pipe) lives in the connection; these only size the window.
#pragma once

#include <cstdint>

namespace dptls::net {

// X(enumerator, printable name).
#define DPTLS_TCP_CC_ALGOS(X) \
  X(kNewReno, "newreno")      \
  X(kCubic, "cubic")

/// The congestion controller of a connection.
enum class CcAlgo : uint8_t {
#define DPTLS_TCP_CC_ENUM(name, str) name,
  DPTLS_TCP_CC_ALGOS(DPTLS_TCP_CC_ENUM)
#undef DPTLS_TCP_CC_ENUM
};

/// "newreno", "cubic"; "unknown" otherwise.
const char* cc_algo_name(CcAlgo a);

/// Window state, in bytes (CUBIC's own variables in segments, as RFC 9438
/// writes them). 32 bytes.
struct CcState {
  uint32_t cwnd = 0;
  uint32_t ssthresh = 0;
  uint32_t bytes_acked = 0;  // RFC 3465 congestion-avoidance accumulator
  uint32_t epoch_ms = 0;     // CUBIC t=0 (0: no epoch yet)
  float w_max = 0;           // CUBIC W_max (segments)
  float k = 0;               // CUBIC K (seconds)
  float w_est = 0;           // CUBIC Reno-friendly estimate (segments)
  float cwnd_epoch = 0;      // cwnd at the epoch's start (segments)
};

/// The largest cwnd kept. The largest send window (65535 << 14, RFC 7323)
/// is below it, so a larger one would never be used; without the cap a
/// long loss-free slow start (ssthresh "infinite", up to 2 SMSS per ACK)
/// wrapped the 32-bit window after 4 GiB.
inline constexpr uint32_t kCwndMax = 1u << 30;

// RFC 9438 section 4 constants.
inline constexpr float kCubicC = 0.4f;
inline constexpr float kCubicBeta = 0.7f;

/// Initial window (RFC 6928: min(10 * SMSS, max(2 * SMSS, 14600)), or
/// `iw_segments` * SMSS when given) and an "infinite" ssthresh (RFC 5681).
void cc_init(CcState& s, uint32_t smss, uint32_t iw_segments);

/// A new cumulative ACK of `acked` bytes outside recovery: slow start below
/// ssthresh (at most 2 SMSS per ACK, RFC 3465 L=2), else the algorithm's
/// congestion avoidance. `srtt_us` is CUBIC's RTT for the W(t+RTT) target.
void cc_on_ack(CcAlgo algo, CcState& s, uint32_t acked, uint32_t smss,
               uint32_t now_ms, uint32_t srtt_us);

/// A loss detected by duplicate ACKs or SACK (entering fast recovery):
/// sets ssthresh (NewReno: max(FlightSize / 2, 2 SMSS), RFC 5681 eq. 4;
/// CUBIC: cwnd * beta with fast convergence, RFC 9438 4.6 and 4.7) and
/// cwnd = ssthresh. The caller inflates cwnd for NewReno if it wants.
void cc_on_loss(CcAlgo algo, CcState& s, uint32_t flight, uint32_t smss);

/// A retransmission timeout (RFC 5681 eq. 4 and section 3.1; RFC 9438
/// 4.8): ssthresh as for a loss when `first` (not for repeated timeouts of
/// the same data), cwnd = 1 SMSS, CUBIC epoch reset.
void cc_on_rto(CcAlgo algo, CcState& s, uint32_t flight, uint32_t smss,
               bool first);

/// Sending resumes after `idle_ms` without any (RFC 5681 4.1, with RFC
/// 7661's decay as Linux does it): when the idle time exceeds `rto_ms`,
/// ssthresh is raised to at least 3/4 of cwnd, then cwnd is halved for
/// every RTO of idle time, down to the restart window min(IW, cwnd); the
/// CUBIC epoch restarts. Returns true when cwnd was reduced.
bool cc_after_idle(CcState& s, uint32_t smss, uint32_t iw_segments,
                   uint32_t idle_ms, uint32_t rto_ms);

/// CUBIC's window function W_cubic(t) in segments (RFC 9438 eq. 1), t in
/// seconds since the epoch; exposed for tests.
float cubic_window(const CcState& s, float t);

}  // namespace dptls::net
