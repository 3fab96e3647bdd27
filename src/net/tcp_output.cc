// Segment output: building headers and options, payload by reference
// (indirect mbufs attached to the send queue; a payload of at most
// kCopyPayloadMax bytes, or any that fits when the checksum is summed in
// software, is copied behind the header instead), the send
// loop with sender SWS avoidance (RFC 9293 3.8.6.2.1), receive window
// advertisement (3.8.6.2.2), and loss recovery output: NewReno (RFC 6582)
// and SACK-based (RFC 6675 section 5 NextSeg()).
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "dptls/net/checksum.h"
#include "dptls/net/tcp.h"
#include "dptls/net/tcp_seq.h"
#include "dptls/util/bytes.h"
#include "net/tcp_internal.h"

namespace dptls::net {

uint32_t TcpStack::flight_size(const TcpConn& c) const {
  return c.snd_max - c.snd_una;
}

uint16_t TcpStack::advertise_window(TcpConn& c, bool syn) {
  const uint32_t space = rcv_space(c);
  if (syn) {
    // RFC 7323 2.2: the window in a SYN is never scaled.
    const uint32_t w = std::min<uint32_t>(space, 65535);
    c.rcv_adv = c.rcv_nxt + w;
    return static_cast<uint16_t>(w);
  }
  const uint32_t cur = seq_gt(c.rcv_adv, c.rcv_nxt) ? c.rcv_adv - c.rcv_nxt : 0;
  // Receiver SWS avoidance: move the right edge only by
  // min(RCV.BUFF / 2, Eff.snd.MSS) or more; never shrink it.
  uint32_t wnd = cur;
  if (space > cur &&
      space - cur >= std::min<uint32_t>(cfg_.rcv_buf / 2, c.rcv_mss)) {
    wnd = space;
  }
  const uint8_t ws = c.rcv_wscale;
  uint32_t scaled = wnd >> ws;
  if ((uint64_t{scaled} << ws) < cur) {
    scaled = static_cast<uint32_t>((uint64_t{cur} + (1u << ws) - 1) >> ws);
  }
  scaled = std::min<uint32_t>(scaled, 65535);
  const uint32_t edge = c.rcv_nxt + (scaled << ws);
  if (seq_gt(edge, c.rcv_adv)) {
    c.rcv_adv = edge;
  }
  return static_cast<uint16_t>(scaled);
}

void TcpStack::fill_ts(const TcpConn& c, TcpOptionsOut* o) const {
  if (c.has(kFlagTs)) {
    o->ts = true;
    o->tsval = now_ms_;
    o->tsecr = c.ts_recent;
  }
}

void TcpStack::fill_sack(const TcpConn& c, TcpOptionsOut* o,
                         uint16_t room) const {
  if (!c.has(kFlagSack) || c.ooo.empty() || room < 12) {
    return;
  }
  const uint8_t max_blocks =
      static_cast<uint8_t>(std::min<uint16_t>(4, (room - 4) / 8));
  // RFC 2018 section 4: the block with the most recent segment first.
  const uint8_t first = c.ooo.most_recent();
  const auto add = [&](uint8_t i) {
    const OooQueue::Range& r = c.ooo.range(i);
    o->sack[o->n_sack++] = SackBlock{r.seq, r.seq + r.data.len};
  };
  if (first < c.ooo.size()) {
    add(first);
  }
  for (uint8_t i = 0; i < c.ooo.size() && o->n_sack < max_blocks; ++i) {
    if (i != first) {
      add(i);
    }
  }
}

rte_mbuf* TcpStack::build_segment(const FlowKey& key, uint32_t seq,
                                  uint32_t ack, uint8_t flags, uint16_t window,
                                  const TcpOptionsOut& opts) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    ++stats_.mbuf_alloc_failed;
    return nullptr;
  }
  const uint16_t hlen =
      static_cast<uint16_t>(kTcpHeaderLen + tcp_options_len(opts));
  char* p = rte_pktmbuf_append(m, hlen);
  if (p == nullptr || rte_pktmbuf_headroom(m) < kOutputHeadroom) {
    rte_pktmbuf_free(m);
    ++stats_.mbuf_alloc_failed;
    return nullptr;
  }
  ByteWriter w(reinterpret_cast<uint8_t*>(p), hlen);
  w.u16(key.local_port);
  w.u16(key.remote_port);
  w.u32(seq);
  w.u32(ack);
  w.u8(static_cast<uint8_t>((hlen / 4) << 4));
  w.u8(flags);
  w.u16(window);
  w.u16(0);  // checksum, filled by transmit()
  w.u16(0);  // urgent pointer
  write_tcp_options(w, opts);
  if (!w.ok() || w.size() != hlen) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  return m;
}

bool TcpStack::transmit(const FlowKey& key, rte_mbuf* m, bool dont_fragment,
                        std::optional<uint32_t> payload_sum) {
  const uint32_t len = m->pkt_len;
  const bool port_checksum = net_->tx_offloads().tcp_checksum;
  // DPDK's convention for a port-computed checksum: the field holds the
  // pseudo-header sum (not complemented); for TSO without the length,
  // which differs per segment.
  const uint32_t sum_len = (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0 ? 0 : len;
  const uint32_t ps =
      key.family == L3Family::kIpv4
          ? ipv4_pseudo_sum(key.local4(), key.remote4(), 6,
                            static_cast<uint16_t>(sum_len))
          : ipv6_pseudo_sum(key.local6(), key.remote6(), 6, sum_len);
  if (port_checksum) {
    uint8_t* field = rte_pktmbuf_mtod_offset(m, uint8_t*, 16);
    const uint16_t folded = static_cast<uint16_t>(~checksum_finish(ps));
    field[0] = static_cast<uint8_t>(folded >> 8);
    field[1] = static_cast<uint8_t>(folded);
    // The TCP header's length from its data offset (a small payload may
    // follow it in the same mbuf, attach_payload).
    m->l4_len = static_cast<uint16_t>(
        (rte_pktmbuf_mtod_offset(m, const uint8_t*, 12)[0] >> 4) * 4);
    m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
  } else if (payload_sum.has_value()) {
    // The payload was summed as it was copied: only the header is read.
    const uint32_t hlen =
        (rte_pktmbuf_mtod_offset(m, const uint8_t*, 12)[0] >> 4) * 4u;
    write_l4_checksum_known(m, 0, len, 16, ps, hlen, *payload_sum);
  } else {
    write_l4_checksum(m, 0, len, 16, ps);
  }
  const OutputResult r =
      key.family == L3Family::kIpv4
          ? net_->output_ipv4(m,
                              Ipv4Output{.src = key.local4(),
                                         .dst = key.remote4(),
                                         .dont_fragment = dont_fragment},
                              now_ticks_)
          : net_->output_ipv6(
                m, Ipv6Output{.src = key.local6(), .dst = key.remote6()},
                now_ticks_);
  ++stats_.segs_tx;
  return r != OutputResult::kDropped;
}

bool TcpStack::send_control(TcpConn& c, uint8_t flags, uint32_t seq) {
  const FlowKey& key = flows_.key(slot_of(c));
  TcpOptionsOut o;
  uint16_t window = 0;
  uint32_t ack = 0;
  if ((flags & kTcpRst) == 0) {
    fill_ts(c, &o);
    fill_sack(c, &o, static_cast<uint16_t>(40 - tcp_options_len(o)));
    window = advertise_window(c, false);
    ack = c.rcv_nxt;
    flags |= kTcpAck;
  }
  rte_mbuf* m = build_segment(key, seq, ack, flags, window, o);
  if (m == nullptr) {
    return false;
  }
  if ((flags & kTcpAck) != 0) {
    c.last_ack_sent = c.rcv_nxt;
    c.segs_unacked = 0;
    c.t_delack = 0;
    c.clear(kFlagAckNow | kFlagWndUpdate);
    if (flags == kTcpAck) {
      ++stats_.pure_acks_tx;
    }
  }
  return transmit(key, m);
}

bool TcpStack::send_syn(TcpConn& c) {
  const FlowKey& key = flows_.key(slot_of(c));
  const bool syn_ack = c.in_state(TcpState::kSynReceived);
  TcpOptionsOut o;
  o.mss = c.rcv_mss;
  if (syn_ack) {
    o.wscale = static_cast<int8_t>(c.has(kFlagWscale) ? c.rcv_wscale : -1);
    o.sack_permitted = c.has(kFlagSack);
    if (c.has(kFlagTs)) {
      fill_ts(c, &o);
    }
  } else {
    o.wscale = static_cast<int8_t>(cfg_.window_scale ? c.rcv_wscale : -1);
    o.sack_permitted = cfg_.sack;
    if (cfg_.timestamps) {
      o.ts = true;
      o.tsval = now_ms_;
      o.tsecr = 0;
    }
  }
  const uint16_t window = advertise_window(c, true);
  rte_mbuf* m = build_segment(
      key, c.iss, syn_ack ? c.rcv_nxt : 0,
      static_cast<uint8_t>(kTcpSyn | (syn_ack ? kTcpAck : 0)), window, o);
  if (m == nullptr) {
    return false;
  }
  c.snd_nxt = c.iss + 1;
  c.snd_max = seq_max(c.snd_max, c.iss + 1);
  if (c.retries == 0) {
    c.set(kFlagTiming);
    c.rtt_seq = c.iss;
    c.rtt_start_ms = now_ms_;
  } else {
    c.clear(kFlagTiming);  // Karn: never time a retransmitted SYN
  }
  if (syn_ack) {
    c.last_ack_sent = c.rcv_nxt;
  }
  return transmit(key, m);
}

void TcpStack::send_rst_for(const Segment& s) {
  // RFC 9293 3.10.7.1: "If the ACK bit is off, sequence number zero is
  // used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; if the ACK bit is on,
  // <SEQ=SEG.ACK><CTL=RST>".
  const TcpHeader& h = s.h;
  rte_mbuf* m =
      h.has(kTcpAck)
          ? build_segment(s.key, h.ack, 0, kTcpRst, 0, TcpOptionsOut{})
          : build_segment(s.key, 0, h.seq + h.seg_len(), kTcpRst | kTcpAck, 0,
                          TcpOptionsOut{});
  if (m != nullptr && transmit(s.key, m)) {
    ++stats_.rst_tx;
  }
}

void TcpStack::send_cookie_syn_ack(const Segment& s, uint32_t cookie,
                                   uint32_t tsval, uint16_t mss, bool wscale) {
  const TcpHeader& h = s.h;
  TcpOptionsOut o;
  o.mss = mss;
  if (tsval != 0) {
    o.ts = true;
    o.tsval = tsval;
    o.tsecr = h.opts.tsval;
    o.sack_permitted = cfg_.sack && h.opts.sack_permitted;
    if (wscale) {
      uint8_t ws = 0;
      while (ws < 14 && (cfg_.rcv_buf >> ws) > 65535) {
        ++ws;
      }
      o.wscale = static_cast<int8_t>(ws);
    }
  }
  const uint16_t window =
      static_cast<uint16_t>(std::min<uint32_t>(cfg_.rcv_buf, 65535));
  rte_mbuf* m =
      build_segment(s.key, cookie, h.seq + 1, kTcpSyn | kTcpAck, window, o);
  if (m != nullptr) {
    transmit(s.key, m);
  }
}

rte_mbuf* TcpStack::send_queue_at(const TcpConn& c, uint32_t seq,
                                  uint32_t* seg_seq) const {
  // Start from the cursor when it is at or before `seq`, else the head
  // (whose first byte, acknowledged or not, is sq_start - sq_head_off).
  rte_mbuf* seg = c.sq_head;
  *seg_seq = c.sq_start - c.sq_head_off;
  if (c.sq_cursor != nullptr && seq_ge(seq, c.sq_cursor_seq)) {
    seg = c.sq_cursor;
    *seg_seq = c.sq_cursor_seq;
  }
  while (seg != nullptr && seq_ge(seq, *seg_seq + seg->data_len)) {
    *seg_seq += seg->data_len;
    seg = seg->next;
  }
  return seg;
}

bool TcpStack::attach_payload(TcpConn& c, rte_mbuf* hdr, uint32_t seq,
                              uint32_t len, std::optional<uint32_t>* sum) {
  uint32_t seg_seq = 0;
  rte_mbuf* seg = send_queue_at(c, seq, &seg_seq);
  c.sq_cursor = seg;
  c.sq_cursor_seq = seg_seq;
  // A small payload is copied behind the header: cheaper than an mbuf per
  // piece (allocation, two atomic reference count updates, a chain the
  // port walks), and one contiguous frame for the port. So is a larger one
  // whose checksum software sums anyway: checksum_copy() sums it in the
  // same pass, where summing the referenced bytes would read them again.
  if ((len <= kCopyPayloadMax || sum != nullptr) &&
      rte_pktmbuf_tailroom(hdr) >= len) {
    auto* dst = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(hdr, len));
    uint32_t total = 0;
    uint32_t copied = 0;
    while (len > 0 && seg != nullptr) {
      const uint32_t off = seq - seg_seq;
      const uint32_t take = std::min<uint32_t>(seg->data_len - off, len);
      const auto* src = rte_pktmbuf_mtod_offset(seg, const uint8_t*, off);
      if (sum != nullptr) {
        const uint32_t s = checksum_copy(dst, {src, take});
        total =
            checksum_add(total, (copied & 1) != 0 ? checksum_shift_odd(s) : s);
      } else {
        std::memcpy(dst, src, take);
      }
      dst += take;
      copied += take;
      seq += take;
      len -= take;
      seg_seq += seg->data_len;
      seg = seg->next;
    }
    if (sum != nullptr) {
      *sum = total;
    }
    return len == 0;
  }
  while (len > 0 && seg != nullptr) {
    const uint32_t off = seq - seg_seq;
    const uint32_t take = std::min<uint32_t>(seg->data_len - off, len);
    rte_mbuf* mi = rte_pktmbuf_alloc(pool_);
    if (mi == nullptr) {
      ++stats_.mbuf_alloc_failed;
      return false;
    }
    // By reference: the clone shares the queued buffer (refcnt), so a
    // retransmission costs an mbuf header, never a copy.
    rte_pktmbuf_attach(mi, seg);
    mi->data_off = static_cast<uint16_t>(mi->data_off + off);
    mi->data_len = static_cast<uint16_t>(take);
    mi->pkt_len = take;
    if (rte_pktmbuf_chain(hdr, mi) != 0) {
      rte_pktmbuf_free(mi);
      return false;
    }
    seq += take;
    len -= take;
    if (take == seg->data_len - off) {
      seg_seq += seg->data_len;
      seg = seg->next;
    }
  }
  return len == 0;
}

uint32_t TcpStack::bytes_in_pieces(const TcpConn& c, uint32_t seq, uint32_t len,
                                   uint32_t pieces) const {
  uint32_t seg_seq = 0;
  const rte_mbuf* seg = send_queue_at(c, seq, &seg_seq);
  uint32_t fit = 0;
  for (; seg != nullptr && pieces > 0 && fit < len; --pieces) {
    fit += seg_seq + seg->data_len - (seq + fit);
    seg_seq += seg->data_len;
    seg = seg->next;
  }
  return std::min(fit, len);
}

bool TcpStack::send_data(TcpConn& c, uint32_t seq, uint32_t len,
                         bool retransmit) {
  const FlowKey& key = flows_.key(slot_of(c));
  const uint32_t data_end = c.sq_start + c.sq_bytes;
  const bool fin = c.has(kFlagFinQueued) && seq + len == data_end;
  uint8_t flags = kTcpAck;
  if (fin) {
    flags |= kTcpFin;
  }
  if (len > 0 && seq + len == data_end) {
    flags |= kTcpPsh;
  }
  TcpOptionsOut o;
  fill_ts(c, &o);
  // SACK blocks only where they fit inside the segment budget.
  const uint32_t spare = c.smss > len ? c.smss - len : 0;
  fill_sack(c, &o,
            static_cast<uint16_t>(
                std::min<uint32_t>(spare, 40u - tcp_options_len(o))));
  const uint16_t window = advertise_window(c, false);
  rte_mbuf* m = build_segment(key, seq, c.rcv_nxt, flags, window, o);
  if (m == nullptr) {
    return false;
  }
  // Software checksum (the port has no offload, so no TSO either): a
  // payload too long for the plain copy may be summed as it is copied
  // instead of referenced. A short one keeps the plain copy and is summed
  // with its header in one pass (through the copying sum, small requests
  // measured no better).
  std::optional<uint32_t> payload_sum;
  const bool software_sum = !net_->tx_offloads().tcp_checksum &&
                            len > kCopyPayloadMax && len <= c.smss;
  if (len > 0 &&
      !attach_payload(c, m, seq, len, software_sum ? &payload_sum : nullptr)) {
    rte_pktmbuf_free(m);
    return false;
  }
  c.last_ack_sent = c.rcv_nxt;
  c.segs_unacked = 0;
  c.t_delack = 0;
  c.clear(kFlagAckNow | kFlagWndUpdate);
  c.snd_max = seq_max(c.snd_max, seq + len + (fin ? 1 : 0));
  if (len > c.smss) {
    // One send the port cuts into segments of smss payload bytes, each
    // with this header (options included; no SACK blocks fit, see above).
    m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
    m->tso_segsz = c.smss;
    ++stats_.tso_sends;
  }
  if (len > 0) {
    stats_.data_segs_tx += (len + c.smss - 1) / c.smss;
    stats_.data_bytes_tx += len;
    c.last_data_tx_ms = now_ms_;
  }
  if (retransmit) {
    ++stats_.retransmits;
  }
  return transmit(key, m, !c.has(kFlagNoDf), payload_sum);
}

void TcpStack::start_rexmit(TcpConn& c) {
  if (c.t_rexmit == 0 || c.has(kFlagPersist)) {
    c.clear(kFlagPersist);
    c.t_rexmit = deadline(c.rto.current_ms(rto_params_));
  }
}

void TcpStack::enter_recovery(TcpConn& c) {
  // RFC 6675 section 5 step (4) / RFC 6582 3.2 step 2: RecoveryPoint =
  // HighData, ssthresh and cwnd reduced, the first segment retransmitted.
  c.recover = c.snd_max;
  cc_on_loss(c.cc_algo, c.cc, flight_size(c), c.smss);
  c.set(kFlagRecovery);
  c.clear(kFlagRescueDone | kFlagTiming);
  const uint32_t data_end = c.sq_start + c.sq_bytes;
  const uint32_t len = std::min<uint32_t>(
      c.smss, seq_gt(data_end, c.snd_una) ? data_end - c.snd_una : 0);
  send_data(c, c.snd_una, len, true);
  ++stats_.fast_retransmits;
  c.high_rxt = c.snd_una + len;
  if (c.has(kFlagSack)) {
    ++stats_.sack_recoveries;
  } else {
    ++stats_.newreno_recoveries;
    c.cc.cwnd = c.cc.ssthresh + 3u * c.smss;  // RFC 5681 3.2 step 4
  }
  start_rexmit(c);
  mark_output(c);
}

void TcpStack::output_recovery(TcpConn& c) {
  const uint32_t data_end = c.sq_start + c.sq_bytes;
  for (int guard = 0; guard < 256; ++guard) {
    if (net_->tx_space() < kTxReserve) {
      ++stats_.tx_backpressure;
      mark_output(c);
      return;
    }
    const uint32_t lost = c.sack.lost_boundary(c.snd_una, c.smss);
    const uint32_t pipe = c.sack.pipe(c.snd_una, c.snd_max, c.high_rxt, lost);
    // RFC 6675 5 (C): while cwnd - pipe >= 1 SMSS, NextSeg().
    if (c.cc.cwnd < pipe + c.smss) {
      break;
    }
    SeqRange hole;
    if (c.sack.next_lost(seq_max(c.high_rxt, c.snd_una), lost, &hole)) {
      // Rule 1: the first lost, unSACKed, not yet retransmitted range.
      const uint32_t len =
          std::min<uint32_t>(c.smss, seq_min(hole.end, data_end) - hole.start);
      if (len == 0) {
        break;
      }
      if (!send_data(c, hole.start, len, true)) {
        break;
      }
      ++stats_.fast_retransmits;
      c.high_rxt = hole.start + len;
      continue;
    }
    // Rule 2: new data the receiver's window allows.
    const uint32_t wnd_end = c.snd_una + c.snd_wnd;
    if (seq_lt(c.snd_nxt, data_end) && seq_lt(c.snd_nxt, wnd_end)) {
      const uint32_t len =
          std::min<uint32_t>(c.smss, seq_min(data_end, wnd_end) - c.snd_nxt);
      const bool fin = c.has(kFlagFinQueued) && c.snd_nxt + len == data_end;
      if (!send_data(c, c.snd_nxt, len, false)) {
        break;
      }
      c.snd_nxt += len + (fin ? 1 : 0);
      continue;
    }
    // Rule 4 (rescue retransmission): once per recovery, the highest
    // outstanding unSACKed segment, so a lost tail is not left to the RTO.
    // Outstanding means sent: it ends at SND.MAX (less a FIN), not at the
    // end of the queue, whose unsent tail may lie past the peer's window.
    const uint32_t sent_end = seq_min(c.snd_max, data_end);
    if (!c.has(kFlagRescueDone) && seq_lt(c.high_rxt, c.snd_max) &&
        seq_gt(sent_end, c.snd_una)) {
      c.set(kFlagRescueDone);
      const uint32_t end = sent_end;
      const uint32_t start =
          seq_max(seq_max(c.high_rxt, c.snd_una),
                  end - std::min<uint32_t>(c.smss, end - c.snd_una));
      if (seq_lt(start, end) && !c.sack.is_sacked(end - 1)) {
        send_data(c, start, end - start, true);
        ++stats_.fast_retransmits;
      }
    }
    break;
  }
}

// RFC 5681 4.1: new data after an idle time longer than the RTO starts
// from the restart window, not from a cwnd the path may no longer carry.
// Once per idle period: the check restarts its clock.
void TcpStack::restart_after_idle(TcpConn& c) {
  if (!cfg_.slow_start_after_idle || c.snd_una != c.snd_max ||
      c.last_data_tx_ms == 0 || !seq_lt(c.snd_nxt, c.sq_start + c.sq_bytes)) {
    return;
  }
  const uint32_t idle = now_ms_ - c.last_data_tx_ms;
  if (cc_after_idle(c.cc, c.smss, cfg_.initial_cwnd_segments, idle,
                    c.rto.current_ms(rto_params_))) {
    ++stats_.cwnd_restarts;
  }
  if (idle > c.rto.current_ms(rto_params_)) {
    c.last_data_tx_ms = now_ms_;
  }
}

void TcpStack::output(TcpConn& c) {
  if (c.in_state(TcpState::kSynSent | TcpState::kSynReceived |
                 TcpState::kClosed)) {
    return;
  }
  if (!c.in_state(TcpState::kEstablished | TcpState::kCloseWait |
                  TcpState::kFinWait1 | TcpState::kClosing |
                  TcpState::kLastAck)) {
    // FIN-WAIT-2 and TIME-WAIT only ever ACK.
    if (c.has(kFlagAckNow)) {
      send_ack(c);
    }
    rearm_timer(c);
    return;
  }
  const uint64_t sent_before = stats_.segs_tx;
  restart_after_idle(c);
  if (c.has(kFlagRecovery) && c.has(kFlagSack)) {
    output_recovery(c);
  } else {
    for (int guard = 0; guard < 1024; ++guard) {
      const uint32_t data_end = c.sq_start + c.sq_bytes;
      const uint32_t wnd = std::min(c.cc.cwnd, c.snd_wnd);
      const uint32_t wnd_end = c.snd_una + wnd;
      if (seq_lt(c.snd_nxt, data_end)) {
        if (net_->tx_space() < kTxReserve) {
          ++stats_.tx_backpressure;
          mark_output(c);
          break;
        }
        const bool resend = seq_lt(c.snd_nxt, c.snd_max);
        if (resend && c.sack.size() > 0) {
          // Going back N after a timeout: skip what the peer SACKed.
          bool skipped = false;
          for (uint8_t i = 0; i < c.sack.size(); ++i) {
            const SeqRange& r = c.sack.range(i);
            if (seq_in(c.snd_nxt, r.start, r.end)) {
              c.snd_nxt = seq_min(r.end, c.snd_max);
              skipped = true;
            }
          }
          if (skipped) {
            continue;
          }
        }
        uint32_t avail = data_end - c.snd_nxt;
        if (resend) {
          for (uint8_t i = 0; i < c.sack.size(); ++i) {
            const SeqRange& r = c.sack.range(i);
            if (seq_gt(r.start, c.snd_nxt) &&
                seq_lt(r.start, c.snd_nxt + avail)) {
              avail = r.start - c.snd_nxt;  // stop at the next SACKed range
            }
          }
        }
        const uint32_t usable =
            seq_gt(wnd_end, c.snd_nxt) ? wnd_end - c.snd_nxt : 0;
        // New data goes out in TSO sends of whole segments when the port
        // cuts them; what is sent again goes one segment at a time.
        const uint32_t most =
            (tso_max_ != 0 && !resend) ? tso_max_ / c.smss * c.smss : c.smss;
        uint32_t len =
            std::min<uint32_t>(std::min<uint32_t>(most, avail), usable);
        if (len > c.smss && tso_max_mbufs_ != 0) {
          // The header takes one of the port's mbufs per send.
          const uint32_t fit =
              bytes_in_pieces(c, c.snd_nxt, len, tso_max_mbufs_ - 1u);
          if (fit < len) {
            // Whole segments that fit; at least one plain segment.
            len = std::max<uint32_t>(fit / c.smss * c.smss, c.smss);
          }
        }
        // Sender SWS avoidance (RFC 9293 3.8.6.2.1) with Nagle off: a full
        // segment, all that is queued, or half the largest window seen.
        if (len == 0 || (len < c.smss && len < avail &&
                         len < c.max_snd_wnd / 2 && !resend)) {
          break;
        }
        const bool rexmit = resend;
        const bool fin = c.has(kFlagFinQueued) && c.snd_nxt + len == data_end;
        if (!c.has(kFlagTs) && !c.has(kFlagTiming) && !rexmit) {
          c.set(kFlagTiming);  // RFC 6298 3: time one segment per RTT
          c.rtt_seq = c.snd_nxt;
          c.rtt_start_ms = now_ms_;
        }
        if (!send_data(c, c.snd_nxt, len, rexmit)) {
          mark_output(c);
          break;
        }
        c.snd_nxt += len + (fin ? 1 : 0);
        start_rexmit(c);
        continue;
      }
      if (c.has(kFlagFinQueued) && c.snd_nxt == data_end) {
        // The FIN alone (all data already sent).
        if (!send_data(c, data_end, 0, seq_lt(c.snd_nxt, c.snd_max))) {
          mark_output(c);
          break;
        }
        c.snd_nxt = data_end + 1;
        start_rexmit(c);
      }
      break;
    }
  }
  if (stats_.segs_tx == sent_before && c.has(kFlagAckNow)) {
    send_ack(c);
  }
  // RFC 9293 3.8.6.1: data waiting behind a zero window, nothing in
  // flight: the persist timer probes it. The same timer is the override
  // timeout of sender SWS avoidance (3.8.6.2.1 (4)) when the window is
  // open but smaller than what SWS avoidance waits for: with nothing in
  // flight, a lost window update would otherwise stall the connection.
  const uint32_t data_end = c.sq_start + c.sq_bytes;
  if (seq_lt(c.snd_nxt, data_end) && c.snd_una == c.snd_max &&
      (c.t_rexmit == 0 || !c.has(kFlagPersist))) {
    c.set(kFlagPersist);
    c.t_rexmit = deadline(c.rto.current_ms(rto_params_));
  }
  rearm_timer(c);
}

}  // namespace dptls::net
