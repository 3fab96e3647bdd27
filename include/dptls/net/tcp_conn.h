// One TCP connection's state (RFC 9293 section 3.3.1 "Transmission Control
// Block"), kept in a fixed pool and named by slot. The 4-tuple lives in the
// flow table, the buffers are mbuf chains outside this struct; what is here
// stays under 512 bytes (static_assert below) so a worker can hold a
// million idle connections in about 600 MB.
#pragma once

#include <cstdint>

#include "dptls/net/tcp_congestion.h"
#include "dptls/net/tcp_reassembly.h"
#include "dptls/net/tcp_rto.h"
#include "dptls/net/tcp_sack.h"

struct rte_mbuf;

namespace dptls::net {

// X(enumerator, printable name, bit). RFC 9293 section 3.3.2 states as bit
// flags so a set of states is one mask (Seastar's in_state()).
#define DPTLS_TCP_STATES(X)          \
  X(kClosed, "CLOSED", 0)            \
  X(kListen, "LISTEN", 1)            \
  X(kSynSent, "SYN-SENT", 2)         \
  X(kSynReceived, "SYN-RECEIVED", 3) \
  X(kEstablished, "ESTABLISHED", 4)  \
  X(kFinWait1, "FIN-WAIT-1", 5)      \
  X(kFinWait2, "FIN-WAIT-2", 6)      \
  X(kCloseWait, "CLOSE-WAIT", 7)     \
  X(kClosing, "CLOSING", 8)          \
  X(kLastAck, "LAST-ACK", 9)         \
  X(kTimeWait, "TIME-WAIT", 10)

enum class TcpState : uint16_t {
#define DPTLS_TCP_STATE_ENUM(name, str, bit) name = 1u << (bit),
  DPTLS_TCP_STATES(DPTLS_TCP_STATE_ENUM)
#undef DPTLS_TCP_STATE_ENUM
};

constexpr TcpState operator|(TcpState a, TcpState b) {
  return static_cast<TcpState>(static_cast<uint16_t>(a) |
                               static_cast<uint16_t>(b));
}

/// "ESTABLISHED", ...; "unknown" for anything else.
const char* tcp_state_name(TcpState s);

/// Why a connection ended, reported with kClosed / kReset events.
#define DPTLS_TCP_CLOSE_REASONS(X)                        \
  X(kNone, "none")                                        \
  X(kNormal, "normal")        /* FIN handshake done */    \
  X(kPeerReset, "peer_reset") /* RST received */          \
  X(kRefused, "refused")      /* RST answering our SYN */ \
  X(kTimeout, "timeout")      /* retransmissions or keep-alive gave up */

enum class TcpCloseReason : uint8_t {
#define DPTLS_TCP_CLOSE_ENUM(name, str) name,
  DPTLS_TCP_CLOSE_REASONS(DPTLS_TCP_CLOSE_ENUM)
#undef DPTLS_TCP_CLOSE_ENUM
};

/// "timeout", ...; "unknown" for anything else.
const char* tcp_close_reason_name(TcpCloseReason r);

/// Connection flags (TcpConn::flags).
enum ConnFlag : uint32_t {
  kFlagPassive = 1u << 0,        // made by a listener
  kFlagAppAttached = 1u << 1,    // the layer above holds the handle
  kFlagTs = 1u << 2,             // timestamps negotiated (RFC 7323)
  kFlagSack = 1u << 3,           // SACK negotiated (RFC 2018)
  kFlagWscale = 1u << 4,         // window scaling negotiated
  kFlagFinQueued = 1u << 5,      // shutdown(write): FIN after the data
  kFlagFinRcvd = 1u << 6,        // the peer's FIN is in sequence
  kFlagInReady = 1u << 7,        // on the event list
  kFlagInOutput = 1u << 8,       // on the output list
  kFlagRxPaused = 1u << 9,       // unread(): hold data until consumed()
  kFlagWantWritable = 1u << 10,  // send() was refused for space
  kFlagAppClosed = 1u << 11,     // close(): incoming data is discarded
  kFlagRecovery = 1u << 12,      // in fast recovery
  kFlagAckNow = 1u << 13,        // an ACK must go out at the next flush
  kFlagTiming = 1u << 14,        // an RTT measurement is running (no TS)
  kFlagPersist = 1u << 15,       // the retransmit timer is the persist timer
  kFlagRescueDone = 1u << 16,    // RFC 6675 rescue retransmission used
  kFlagOooFin = 1u << 17,        // a FIN is held beyond a hole (ooo_fin_seq)
  kFlagSynAcked = 1u << 18,      // our SYN has been acknowledged
  kFlagWndUpdate = 1u << 19,     // window reopened: tell the peer
  kFlagKeepalive = 1u << 20,     // keep-alive enabled on this connection
  kFlagZombie = 1u << 21,        // freed while still on a list
  kFlagNoDf = 1u << 22,          // IPv4 path below 552 bytes: DF cleared
  kFlagSrcCounted = 1u << 23,    // counted in the per-source table
};

/// Pending events (TcpConn::events).
enum EventBit : uint16_t {
  kEvOpen = 1u << 0,  // connected or accepted
  kEvWritable = 1u << 1,
  kEvPeerClosed = 1u << 2,
  kEvClosed = 1u << 3,
  kEvReset = 1u << 4,
};

/// The transmission control block.
struct TcpConn {
  // Identity and intrusive lists.
  uint32_t generation = 1;
  uint32_t ready_next = 0;
  uint32_t output_next = 0;
  TcpState state = TcpState::kClosed;
  uint16_t events = 0;
  uint32_t flags = 0;
  uint16_t listener = 0xffff;
  uint16_t smss = 536;     // payload bytes of a full segment we send
  uint16_t rcv_mss = 536;  // payload bytes of a full segment we receive
  uint8_t snd_wscale = 0;  // shift applied to the peer's windows
  uint8_t rcv_wscale = 0;  // shift the peer applies to ours
  uint8_t dupacks = 0;
  uint8_t retries = 0;       // consecutive timer expiries
  uint8_t segs_unacked = 0;  // full segments received since our last ACK
  TcpCloseReason close_reason = TcpCloseReason::kNone;
  CcAlgo cc_algo = CcAlgo::kCubic;
  uint64_t user = 0;

  // Send sequence space (RFC 9293 3.3.1).
  uint32_t iss = 0;
  uint32_t snd_una = 0;
  uint32_t snd_nxt = 0;
  uint32_t snd_max = 0;  // highest sequence number sent + 1
  uint32_t snd_wnd = 0;
  uint32_t snd_wl1 = 0;
  uint32_t snd_wl2 = 0;
  uint32_t max_snd_wnd = 0;
  uint32_t recover = 0;   // RFC 6582 / RFC 6675 RecoveryPoint
  uint32_t high_rxt = 0;  // RFC 6675 HighRxt
  // Send queue: segments linked by ->next, bytes [sq_start, + sq_bytes).
  rte_mbuf* sq_head = nullptr;
  rte_mbuf* sq_tail = nullptr;
  rte_mbuf* sq_cursor = nullptr;  // a segment at or before snd_nxt's
  uint32_t sq_start = 0;          // sequence number of the queue's first byte
  uint32_t sq_bytes = 0;
  uint32_t sq_head_off = 0;    // bytes of sq_head already acknowledged
  uint32_t sq_cursor_seq = 0;  // sequence number of sq_cursor's first byte

  // Receive sequence space.
  uint32_t irs = 0;
  uint32_t rcv_nxt = 0;
  uint32_t rcv_adv = 0;   // right edge of the window we advertised
  uint32_t rcv_user = 0;  // handed up and not yet consumed
  uint32_t ooo_fin_seq = 0;
  MbufChain rq;  // in order, not yet handed up

  // Timestamps (RFC 7323 section 4.3) and RTT timing without them.
  uint32_t ts_recent = 0;
  uint32_t ts_recent_ms = 0;
  uint32_t last_ack_sent = 0;  // RCV.NXT of our last ACK (RFC 7323 4.3)
  uint32_t rtt_seq = 0;
  uint32_t rtt_start_ms = 0;
  RtoEstimator rto;
  CcState cc;

  // Timer deadlines in stack milliseconds; 0 when off.
  uint32_t t_rexmit = 0;  // RTO, SYN retransmission or persist
  uint32_t t_delack = 0;
  uint32_t t_keepalive = 0;
  uint32_t t_linger = 0;  // TIME-WAIT or FIN-WAIT-2 timeout
  uint32_t last_rx_ms = 0;
  uint32_t last_data_tx_ms = 0;  // last payload sent (0: none yet)

  SackScoreboard sack;
  OooQueue ooo;

  bool in_state(TcpState s) const {
    return (static_cast<uint16_t>(state) & static_cast<uint16_t>(s)) != 0;
  }
  bool has(uint32_t f) const { return (flags & f) != 0; }
  void set(uint32_t f) { flags |= f; }
  void clear(uint32_t f) { flags &= ~f; }
};

// The brief's budget: an idle established connection's state, buffers
// excluded, in at most 512 bytes.
static_assert(sizeof(TcpConn) <= 512, "TcpConn grew past 512 bytes");

}  // namespace dptls::net
