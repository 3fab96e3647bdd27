// Connection timers: retransmission (RFC 6298 section 5, RFC 5681 3.1),
// SYN retransmission, persist (RFC 9293 3.8.6.1), delayed ACK (3.8.6.3),
// keep-alive (3.8.4), TIME-WAIT (3.10.7.4) and orphaned FIN-WAIT-2.
#include <rte_mbuf.h>

#include <algorithm>

#include "dptls/net/tcp.h"
#include "dptls/net/tcp_seq.h"
#include "net/tcp_internal.h"

namespace dptls::net {
namespace {

bool due(uint32_t deadline, uint32_t now) {
  return deadline != 0 && static_cast<int32_t>(deadline - now) <= 0;
}

}  // namespace

void TcpStack::on_timer(uint32_t slot) {
  TcpConn& c = conns_[slot];
  const uint32_t gen = c.generation;
  const auto gone = [&] {
    return c.generation != gen || c.state == TcpState::kClosed ||
           c.has(kFlagZombie);
  };
  if (due(c.t_linger, now_ms_)) {
    c.t_linger = 0;
    if (c.in_state(TcpState::kTimeWait)) {
      free_conn(c);  // 2 MSL are over
      return;
    }
    if (c.in_state(TcpState::kFinWait2)) {
      enter_closed(c, TcpCloseReason::kTimeout, false);
      ++stats_.timeouts;
      return;
    }
  }
  if (due(c.t_delack, now_ms_)) {
    c.t_delack = 0;
    ++stats_.delayed_acks;
    send_ack(c);
  }
  if (due(c.t_rexmit, now_ms_)) {
    c.t_rexmit = 0;
    if (c.has(kFlagPersist)) {
      on_persist_timeout(c);
    } else {
      on_rexmit_timeout(c);
    }
    if (gone()) {
      return;
    }
  }
  if (due(c.t_keepalive, now_ms_)) {
    c.t_keepalive = 0;
    on_keepalive_timeout(c);
    if (gone()) {
      return;
    }
  }
  rearm_timer(c);
}

void TcpStack::on_rexmit_timeout(TcpConn& c) {
  if (c.in_state(TcpState::kSynSent | TcpState::kSynReceived)) {
    if (++c.retries > cfg_.syn_retries) {
      ++stats_.timeouts;
      if (c.in_state(TcpState::kSynReceived) && c.has(kFlagPassive)) {
        free_conn(c);
      } else {
        enter_closed(c, TcpCloseReason::kTimeout, true);
      }
      return;
    }
    // RFC 6298 5.5 and 5.7: back off; the first data RTO after the
    // handshake restarts from max(3 s ...) in RFC 6298; we keep the
    // configured initial RTO.
    c.rto.back_off();
    ++stats_.retransmits;
    send_syn(c);
    c.t_rexmit = deadline(c.rto.current_ms(rto_params_));
    return;
  }
  if (c.snd_una == c.snd_max) {
    return;  // nothing outstanding
  }
  // RFC 9293 3.8.3 R2: give up after max_retries expiries.
  if (++c.retries > cfg_.max_retries) {
    ++stats_.timeouts;
    send_control(c, kTcpRst, c.snd_nxt);
    ++stats_.rst_tx;
    enter_closed(c, TcpCloseReason::kTimeout, true);
    return;
  }
  ++stats_.rto_expirations;
  // RFC 5681 3.1 eq. 4 (only for the first expiry of this data) and
  // cwnd = loss window; RFC 6298 5.5 back off.
  cc_on_rto(c.cc_algo, c.cc, flight_size(c), c.smss, c.rto.backoff == 0);
  c.rto.back_off();
  // Leave recovery; RFC 6582 4.1: no fast retransmit for this window.
  c.clear(kFlagRecovery | kFlagTiming);
  c.recover = c.snd_max;
  c.dupacks = 0;
  // RFC 6675 5.1 (with its erratum 1610): SACK information may be kept
  // across a timeout when reneging is guarded against. We keep it for the
  // first timeout (go-back-N skips what the peer holds) and drop it on a
  // repeated one, as RFC 2018 section 8 asks, in case the peer reneged.
  if (c.rto.backoff > 1) {
    c.sack.clear();
  }
  // RFC 6298 5.4: retransmit the earliest unacknowledged segment (and go
  // back N from there).
  const uint32_t data_end = c.sq_start + c.sq_bytes;
  const uint32_t len = std::min<uint32_t>(
      c.smss, seq_gt(data_end, c.snd_una) ? data_end - c.snd_una : 0);
  const bool fin = c.has(kFlagFinQueued) && c.snd_una + len == data_end;
  send_data(c, c.snd_una, len, true);
  c.snd_nxt = c.snd_una + len + (fin ? 1 : 0);
  c.high_rxt = c.snd_nxt;
  // RFC 6298 5.6: restart the timer with the backed-off value.
  c.t_rexmit = deadline(c.rto.current_ms(rto_params_));
}

void TcpStack::on_persist_timeout(TcpConn& c) {
  const uint32_t data_end = c.sq_start + c.sq_bytes;
  if (!seq_lt(c.snd_nxt, data_end) || c.snd_una != c.snd_max) {
    c.clear(kFlagPersist);
    mark_output(c);
    return;
  }
  if (c.snd_wnd != 0) {
    // RFC 9293 3.8.6.2.1 (4), the override timeout: the window is open but
    // less than sender SWS avoidance waits for. Send what fits.
    c.clear(kFlagPersist);
    const uint32_t len =
        std::min({uint32_t{c.smss}, c.snd_wnd, data_end - c.snd_nxt});
    const bool fin = c.has(kFlagFinQueued) && c.snd_nxt + len == data_end;
    if (send_data(c, c.snd_nxt, len, false)) {
      c.snd_nxt += len + (fin ? 1 : 0);
      start_rexmit(c);
    } else {
      mark_output(c);
    }
    return;
  }
  // A zero-window probe: a segment below the window (SEG.SEQ = SND.UNA -
  // 1, no data) that the receiver must answer with an ACK carrying its
  // current window (the form Linux uses; RFC 9293 3.8.6.1 allows probing
  // with one byte instead).
  ++stats_.zero_window_probes;
  send_control(c, kTcpAck, c.snd_una - 1);
  c.rto.back_off();
  c.t_rexmit = deadline(c.rto.current_ms(rto_params_));
}

void TcpStack::on_keepalive_timeout(TcpConn& c) {
  if (!c.in_state(TcpState::kEstablished | TcpState::kCloseWait)) {
    return;
  }
  const uint32_t idle = now_ms_ - c.last_rx_ms;
  if (c.snd_una != c.snd_max ||
      (c.retries == 0 && idle < cfg_.keepalive_idle_ms)) {
    // Data in flight (the retransmission timer watches the peer) or the
    // peer spoke recently: look again later.
    c.t_keepalive =
        deadline(c.snd_una != c.snd_max ? cfg_.keepalive_idle_ms
                                        : cfg_.keepalive_idle_ms - idle);
    return;
  }
  if (c.retries >= cfg_.keepalive_probes) {
    ++stats_.timeouts;
    enter_closed(c, TcpCloseReason::kTimeout, true);
    return;
  }
  ++c.retries;
  ++stats_.keepalive_probes;
  // RFC 9293 3.8.4: SEG.SEQ = SND.NXT - 1, no data, elicits an ACK.
  send_control(c, kTcpAck, c.snd_una - 1);
  c.t_keepalive = deadline(cfg_.keepalive_interval_ms);
}

}  // namespace dptls::net
