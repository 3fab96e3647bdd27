// RFC 9293 section 3.10.7 SEGMENT ARRIVES, with RFC 5961 (blind in-window
// attacks), RFC 7323 (timestamps, PAWS), RFC 2018 / RFC 6675 (SACK),
// RFC 5681 / RFC 6582 (duplicate ACKs, NewReno), RFC 4987 (SYN cookies)
// and ICMP too-big reports (RFC 1191, RFC 8201, checked per RFC 5927).
#include <rte_mbuf.h>

#include <algorithm>

#include "dptls/net/tcp.h"
#include "dptls/net/tcp_seq.h"
#include "dptls/util/bytes.h"
#include "net/tcp_internal.h"
#include "net/wire.h"

namespace dptls::net {

uint16_t TcpStack::rx(L4Packet* pkts, uint16_t n, uint64_t now) {
  update_clock(now);
  for (uint16_t i = 0; i < n; ++i) {
    rx_one(pkts[i], 0);
  }
  flush_output();
  return n;
}

uint16_t TcpStack::rx_strays(StraySegment* segs, uint16_t n, uint64_t now) {
  update_clock(now);
  for (uint16_t i = 0; i < n; ++i) {
    rx_one(segs[i].pkt, segs[i].hops);
  }
  flush_output();
  return n;
}

// A segment that matches no connection here goes to the next worker while
// some worker has not looked yet, unless it is a SYN (a new connection
// opens where its SYN lands).
bool TcpStack::forward_stray(const L4Packet& p, bool syn, uint8_t hops) {
  if (stray_sink_ == nullptr || hops + 1 >= stray_max_hops_ || syn) {
    return false;
  }
  if (!stray_sink_->forward_stray(
          StraySegment{p, static_cast<uint8_t>(hops + 1)})) {
    return false;
  }
  ++stats_.strays_forwarded;
  return true;
}

void TcpStack::rx_one(const L4Packet& p, uint8_t hops) {
  ++stats_.segs_rx;
  Segment s;
  s.m = p.mbuf;
  if (p.mtu != 0 &&
      (p.protocol == wire::kProtoIcmp || p.protocol == wire::kProtoIcmp6)) {
    return rx_too_big(p, hops);
  }
  if (p.protocol != 6) {
    return drop(s.m, DropReason::kIpv4UnsupportedProtocol);
  }
  // RFC 9293 3.1: the checksum covers the pseudo-header, header and data;
  // checked first so a damaged header is counted as damage.
  if (s.m->pkt_len < kTcpHeaderLen) {
    return drop(s.m, DropReason::kTcpTruncated);
  }
  if (!l4_checksum_ok(p)) {
    return drop(s.m, DropReason::kTcpBadChecksum);
  }
  if (auto bad = parse_tcp_segment(s.m, &s.h)) {
    return drop(s.m, *bad);
  }
  s.key = p.family == L3Family::kIpv4
              ? FlowKey::v4(p.dst4, s.h.dst_port, p.src4, s.h.src_port)
              : FlowKey::v6(p.dst6, s.h.dst_port, p.src6, s.h.src_port);
  s.seq = s.h.seq;
  s.payload = s.h.payload_len;
  s.fin = s.h.has(kTcpFin);

  const uint32_t slot = flows_.find(s.key);
  if (slot == FlowTable::kNone) {
    if (forward_stray(p, s.h.has(kTcpSyn) && !s.h.has(kTcpAck), hops)) {
      return;  // the mbuf went with it
    }
    const int l = find_listener(s.key);
    if (l >= 0) {
      rx_listen(s, l);
    } else {
      rx_no_connection(s);
    }
  } else {
    TcpConn& c = conns_[slot];
    if (c.in_state(TcpState::kTimeWait) && s.h.has(kTcpSyn) &&
        !s.h.has(kTcpAck)) {
      // RFC 9293 3.10.7.4 note / RFC 6191: a new SYN may reopen a
      // TIME-WAIT pair when it is beyond the old incarnation (its timestamp
      // is newer, or without timestamps its sequence number is).
      const int l = find_listener(s.key);
      const bool newer = c.has(kFlagTs) && s.h.opts.has_ts
                             ? seq_gt(s.h.opts.tsval, c.ts_recent)
                             : seq_gt(s.h.seq, c.rcv_nxt);
      if (l >= 0 && newer) {
        free_conn(c);
        ++stats_.time_wait_reused;
        rx_listen(s, l);
        if (s.m != nullptr) {
          ++stats_.segs_absorbed;
          rte_pktmbuf_free(s.m);
        }
        return;
      }
    }
    if (c.in_state(TcpState::kSynSent)) {
      rx_syn_sent(c, s);
    } else {
      rx_synchronized(c, s);
    }
    if (!c.has(kFlagZombie) && c.state != TcpState::kClosed) {
      rearm_timer(c);
    }
  }
  if (s.m != nullptr) {
    ++stats_.segs_absorbed;
    rte_pktmbuf_free(s.m);
  }
}

// An ICMP "fragmentation needed" (RFC 1191) or Packet Too Big (RFC 8201)
// about one of our segments, as NetStack::rx_frag_needed /
// rx_packet_too_big hand it up: p.mbuf starts at the quoted TCP header.
void TcpStack::rx_too_big(const L4Packet& p, uint8_t hops) {
  rte_mbuf* m = p.mbuf;
  const bool v4 = p.family == L3Family::kIpv4;
  ByteReader r(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len);
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint32_t seq = 0;
  r.u16(&local_port);
  r.u16(&remote_port);
  r.u32(&seq);
  // Our datagram was quoted: its source is us.
  const FlowKey key = v4 ? FlowKey::v4(p.src4, local_port, p.dst4, remote_port)
                         : FlowKey::v6(p.src6, local_port, p.dst6, remote_port);
  const uint32_t slot = flows_.find(key);
  if (slot == FlowTable::kNone) {
    // The report's RSS hash is the router's, not the flow's: another
    // worker may hold the connection.
    if (forward_stray(p, false, hops)) {
      ++stats_.pmtu_reports_forwarded;
      return;
    }
    return drop(m, DropReason::kTcpPmtuNoConnection);
  }
  TcpConn& c = conns_[slot];
  // RFC 5927 sections 4.1 and 7.3: only a report quoting a segment in
  // flight, SND.UNA <= SEG.SEQ < SND.NXT (snd_max here: SND.NXT of RFC
  // 9293, which go-back-N never pulls back), is believed. A blind attacker
  // would have to guess it; before the handshake completes nothing large
  // has been sent.
  if (!c.in_state(TcpState::kEstablished | TcpState::kCloseWait |
                  TcpState::kFinWait1 | TcpState::kClosing |
                  TcpState::kLastAck) ||
      !seq_in(seq, c.snd_una, c.snd_max)) {
    return drop(m, DropReason::kTcpPmtuOutOfWindow);
  }
  // RFC 1191 section 3 says never below 68 bytes; like Linux (min_pmtu)
  // we stop at 552, so a forged report that slipped through cannot make us
  // send tiny segments (RFC 5927 section 7.2), and, as Linux does, send
  // 552-byte datagrams without DF from then on so the routers before a
  // narrower link fragment them. IPv6 reports are at least 1280 (NetStack
  // discards smaller ones, RFC 8201 section 4).
  const uint32_t l3 = v4 ? 20 : 40;
  const uint32_t overhead =
      l3 + kTcpHeaderLen + (c.has(kFlagTs) ? kTcpTsOptionLen : 0);
  const uint32_t mtu = v4 ? std::max<uint32_t>(p.mtu, kMinPmtu4) : p.mtu;
  const bool clear_df = v4 && p.mtu < kMinPmtu4 && !c.has(kFlagNoDf);
  // Only ever lower: the MSS stays within what the peer advertised and
  // what our interface carries; a report of an MTU our segments already
  // fit is stale or forged.
  if (mtu >= c.smss + overhead && !clear_df) {
    return drop(m, DropReason::kTcpPmtuNotSmaller);
  }
  c.smss = static_cast<uint16_t>(std::min<uint32_t>(c.smss, mtu - overhead));
  if (clear_df) {
    c.set(kFlagNoDf);
  }
  ++stats_.pmtu_updates;
  ++stats_.segs_absorbed;
  rte_pktmbuf_free(m);
  // As Linux's tcp_simple_retransmit: what is in flight went out in
  // segments too big for the path and is lost; send it again at once in
  // segments of the new size (the send queue is cut at output time), going
  // back to SND.UNA (output() skips SACKed ranges). Not a congestion
  // signal: cwnd and ssthresh stay. A SACK recovery in progress ends (its
  // cwnd is already ssthresh); NewReno's keeps going back N in output().
  // As after a timeout (RFC 6582 4.1), the duplicate ACKs the resent
  // window may draw start no fast retransmit.
  if (seq_lt(c.snd_una, c.snd_max)) {
    if (c.has(kFlagSack)) {
      c.clear(kFlagRecovery);
    }
    c.clear(kFlagTiming);  // Karn: no RTT sample from what is sent again
    c.snd_nxt = c.snd_una;
    c.recover = c.snd_max;
    c.dupacks = 0;
    mark_output(c);
  }
}

void TcpStack::drop_seg(Segment& s, DropReason r) {
  drop(s.m, r);
  s.m = nullptr;
}

// RFC 9293 3.10.7.1: CLOSED (no connection). Every segment but a RST is
// answered with a RST.
void TcpStack::rx_no_connection(Segment& s) {
  if (!s.h.has(kTcpRst)) {
    send_rst_for(s);
  }
  drop_seg(s, DropReason::kTcpNoConnection);
}

// RFC 9293 3.10.7.2: LISTEN.
void TcpStack::rx_listen(Segment& s, int li) {
  const TcpHeader& h = s.h;
  if (h.has(kTcpRst)) {
    return drop_seg(s, DropReason::kTcpListenBadSegment);  // "ignored"
  }
  if (h.has(kTcpAck)) {
    // The third segment of a handshake we answered with a cookie, or a
    // stray ACK: "<SEQ=SEG.ACK><CTL=RST>".
    if (!h.has(kTcpSyn) && cookies_sent_ && rx_syn_cookie_ack(s, li)) {
      return;
    }
    send_rst_for(s);
    return drop_seg(s, cookies_sent_ && !h.has(kTcpSyn)
                           ? DropReason::kTcpBadSynCookie
                           : DropReason::kTcpListenBadSegment);
  }
  if (!h.has(kTcpSyn)) {
    return drop_seg(s, DropReason::kTcpListenBadSegment);
  }
  Listener& l = listeners_[li];
  if (l.syn_received >= cfg_.syn_backlog) {
    // A source at its limit gets no cookie either: its ACK would be
    // refused (alloc_passive checks again, the count may have changed).
    const uint32_t limit = cfg_.max_connections_per_source;
    if (limit != 0 && sources_.count(SourceKey::of(s.key)) >= limit) {
      return drop_seg(s, DropReason::kTcpSourceLimit);
    }
    if (!cfg_.syn_cookies) {
      return drop_seg(s, DropReason::kTcpSynBacklogFull);
    }
    // RFC 4987 3.6: answer statelessly; the ISN carries the MSS and the
    // timestamp carries window scale and SACK.
    const uint32_t counter = static_cast<uint32_t>(now_ms64_ / kCookieTickMs);
    const uint16_t peer_mss =
        h.opts.has_mss ? h.opts.mss
                       : (s.key.family == L3Family::kIpv4 ? 536 : 1220);
    const uint8_t idx =
        cookie_mss_index(std::min(peer_mss, mss_for(s.key.family)));
    const uint32_t cookie =
        syn_cookie_make(cookie_key_, s.key, h.seq, counter, idx);
    CookieTsBits bits;
    bits.wscale_ok = cfg_.window_scale && h.opts.has_wscale;
    bits.wscale = std::min<uint8_t>(h.opts.wscale, 14);
    bits.sack_ok = cfg_.sack && h.opts.sack_permitted;
    const bool ts = cfg_.timestamps && h.opts.has_ts;
    send_cookie_syn_ack(s, cookie, ts ? cookie_ts_encode(now_ms_, bits) : 0,
                        mss_for(s.key.family), bits.wscale_ok && ts);
    cookies_sent_ = true;
    last_cookie_counter_ = counter;
    ++stats_.syn_cookies_sent;
    return;
  }
  TcpConn* c = alloc_passive(s);
  if (c == nullptr) {
    return;  // dropped and counted
  }
  // "Set RCV.NXT to SEG.SEQ+1, IRS is set to SEG.SEQ ... ISS should be
  // selected and a SYN segment sent ... SND.NXT is set to ISS+1 and SND.UNA
  // to ISS. The connection state should be changed to SYN-RECEIVED."
  c->set(kFlagPassive);
  c->listener = static_cast<uint16_t>(li);
  c->user = l.spec.user;
  c->irs = h.seq;
  c->rcv_nxt = h.seq + 1;
  c->iss = tcp_isn(isn_key_, s.key, now_us_);
  c->snd_una = c->iss;
  c->snd_nxt = c->iss;
  c->snd_max = c->iss;
  c->sq_start = c->iss + 1;
  c->recover = c->iss;
  negotiate_syn_options(*c, h);
  c->snd_wnd = h.window;  // never scaled in a SYN (RFC 7323 2.2)
  c->snd_wl1 = h.seq;
  c->max_snd_wnd = c->snd_wnd;
  set_state(*c, TcpState::kSynReceived);
  if (h.payload_len > 0) {
    ++stats_.syn_data_ignored;  // not ACKed: the peer sends it again
  }
  send_syn(*c);
  c->t_rexmit = deadline(c->rto.current_ms(rto_params_));
  rearm_timer(*c);
  ++stats_.passive_opens;
}

bool TcpStack::rx_syn_cookie_ack(Segment& s, int li) {
  const TcpHeader& h = s.h;
  const uint32_t counter = static_cast<uint32_t>(now_ms64_ / kCookieTickMs);
  if (counter - last_cookie_counter_ > kCookieMaxAge) {
    cookies_sent_ = false;  // no cookie out there is still valid
    return false;
  }
  uint8_t idx = 0;
  if (!syn_cookie_check(cookie_key_, s.key, h.seq - 1, h.ack - 1, counter,
                        &idx)) {
    return false;
  }
  TcpConn* c = alloc_passive(s);
  if (c == nullptr) {
    return true;  // dropped and counted
  }
  c->set(kFlagPassive);
  c->listener = static_cast<uint16_t>(li);
  c->user = listeners_[li].spec.user;
  c->iss = h.ack - 1;
  c->irs = h.seq - 1;
  c->rcv_nxt = h.seq;
  c->last_ack_sent = c->rcv_nxt;  // what our cookie SYN-ACK acknowledged
  c->snd_una = h.ack - 1;
  c->snd_nxt = h.ack;
  c->snd_max = h.ack;
  c->sq_start = h.ack;
  c->recover = c->iss;
  // Rebuild what the SYN negotiated from the cookie and our echoed TSval.
  const uint16_t peer_mss = kCookieMssTable[idx];
  c->rcv_wscale = 0;
  if (cfg_.timestamps && h.opts.has_ts && h.opts.tsecr != 0) {
    const CookieTsBits bits = cookie_ts_decode(h.opts.tsecr);
    c->set(kFlagTs);
    c->ts_recent = h.opts.tsval;
    c->ts_recent_ms = now_ms_;
    if (bits.wscale_ok && cfg_.window_scale) {
      c->set(kFlagWscale);
      c->snd_wscale = bits.wscale;
      while (c->rcv_wscale < 14 && (cfg_.rcv_buf >> c->rcv_wscale) > 65535) {
        ++c->rcv_wscale;
      }
    }
    if (bits.sack_ok && cfg_.sack) {
      c->set(kFlagSack);
    }
  }
  c->smss = static_cast<uint16_t>(std::min(peer_mss, mss_for(s.key.family)) -
                                  (c->has(kFlagTs) ? kTcpTsOptionLen : 0));
  // Our cookie SYN-ACK advertised min(rcv_buf, 65535) unscaled.
  c->rcv_adv = c->rcv_nxt + std::min<uint32_t>(cfg_.rcv_buf, 65535);
  c->snd_wnd = uint32_t{h.window} << c->snd_wscale;
  c->snd_wl1 = h.seq;
  c->snd_wl2 = h.ack;
  c->max_snd_wnd = c->snd_wnd;
  c->set(kFlagSynAcked);
  c->snd_una = h.ack;
  ++stats_.syn_cookies_ok;
  ++stats_.passive_opens;
  on_established(*c);
  // The ACK may carry data (and even a FIN): process it as ESTABLISHED.
  rx_synchronized(*c, s);
  if (!c->has(kFlagZombie) && c->state != TcpState::kClosed) {
    rearm_timer(*c);
  }
  if (s.m != nullptr) {
    ++stats_.segs_absorbed;
    rte_pktmbuf_free(s.m);
    s.m = nullptr;
  }
  return true;
}

void TcpStack::negotiate_syn_options(TcpConn& c, const TcpHeader& h) {
  const L3Family fam = flows_.key(slot_of(c)).family;
  // RFC 9293 3.7.1: without the option, 536 (IPv4) or 1220 (IPv6).
  const uint16_t peer_mss = h.opts.has_mss
                                ? std::max<uint16_t>(h.opts.mss, 64)
                                : (fam == L3Family::kIpv4 ? 536 : 1220);
  // RFC 7323 2.3: window scale only when both SYNs carry it; shifts above
  // 14 are taken as 14.
  if (cfg_.window_scale && h.opts.has_wscale) {
    c.set(kFlagWscale);
    c.snd_wscale = std::min<uint8_t>(h.opts.wscale, 14);
  } else {
    c.snd_wscale = 0;
    c.rcv_wscale = 0;
  }
  if (cfg_.sack && h.opts.sack_permitted) {
    c.set(kFlagSack);
  }
  if (cfg_.timestamps && h.opts.has_ts) {
    c.set(kFlagTs);
    c.ts_recent = h.opts.tsval;
    c.ts_recent_ms = now_ms_;
  }
  // RFC 9293 3.7.1 / RFC 6691: payload per segment is the MSS less the
  // options every segment carries.
  c.smss = static_cast<uint16_t>(std::min(peer_mss, mss_for(fam)) -
                                 (c.has(kFlagTs) ? kTcpTsOptionLen : 0));
}

void TcpStack::on_established(TcpConn& c) {
  set_state(c, TcpState::kEstablished);
  ++stats_.established;
  cc_init(c.cc, c.smss, cfg_.initial_cwnd_segments);
  c.events |= kEvOpen;
  mark_ready(c);
  c.retries = 0;
  if (c.has(kFlagKeepalive)) {
    c.t_keepalive = deadline(cfg_.keepalive_idle_ms);
  }
  if (c.has(kFlagFinQueued)) {
    set_state(c, TcpState::kFinWait1);  // CLOSE was called in SYN-RECEIVED
  }
  mark_output(c);
}

// RFC 9293 3.10.7.3: SYN-SENT.
void TcpStack::rx_syn_sent(TcpConn& c, Segment& s) {
  const TcpHeader& h = s.h;
  // "first check the ACK bit": unacceptable when SEG.ACK =< ISS or
  // SEG.ACK > SND.NXT.
  if (h.has(kTcpAck) && (seq_le(h.ack, c.iss) || seq_gt(h.ack, c.snd_max))) {
    if (!h.has(kTcpRst)) {
      send_rst_for(s);
    }
    return drop_seg(s, DropReason::kTcpSynSentBadAck);
  }
  // "second check the RST bit": with an acceptable ACK (RFC 5961 3.2 allows
  // no more), the connection is refused.
  if (h.has(kTcpRst)) {
    if (!h.has(kTcpAck)) {
      return drop_seg(s, DropReason::kTcpRstOutOfWindow);
    }
    ++stats_.rst_rx;
    enter_closed(c, TcpCloseReason::kRefused, true);
    return;
  }
  // "fourth check the SYN bit".
  if (!h.has(kTcpSyn)) {
    return drop_seg(s, DropReason::kTcpSynSentNoSyn);
  }
  // Our SYN offered its window before the peer's sequence space was known
  // (advertise_window() set RCV.ADV that far past RCV.NXT = 0): re-base the
  // edge on IRS + 1. Left alone, it is compared in sequence space with
  // numbers based on the IRS. For an IRS about 2^31 past it the edge never
  // moves: RCV.WND stays 0 while our ACKs offer the whole buffer, so every
  // data segment is dropped as out of window and the connection stalls
  // (about one in 2^32 / RCV.BUFF, 1 in 16,384 with 256 KB). For an IRS in
  // the 2^31 before it, RCV.WND is taken as up to 2^31, far more than the
  // buffer.
  const uint32_t syn_wnd = c.rcv_adv - c.rcv_nxt;
  c.irs = h.seq;
  c.rcv_nxt = h.seq + 1;
  c.rcv_adv = c.rcv_nxt + syn_wnd;
  negotiate_syn_options(c, h);
  c.snd_wnd = h.window;  // unscaled in a SYN (RFC 7323 2.2)
  c.snd_wl1 = h.seq;
  c.snd_wl2 = h.ack;
  c.max_snd_wnd = c.snd_wnd;
  if (h.payload_len > 0) {
    ++stats_.syn_data_ignored;
  }
  if (h.has(kTcpAck)) {
    // "If SND.UNA > ISS (our SYN has been ACKed), change the connection
    // state to ESTABLISHED, form an ACK segment ... and send it."
    c.snd_una = h.ack;
    c.set(kFlagSynAcked);
    // As in rx_ack(): only a TSecr that can echo a TSval of ours.
    if (c.has(kFlagTs) &&
        ts_rtt_usable(now_ms_, h.opts.tsecr, rto_params_.max_ms)) {
      c.rto.sample((now_ms_ - h.opts.tsecr) * 1000, rto_params_);
      ++stats_.rtt_samples;
    } else if (c.has(kFlagTiming)) {
      c.rto.sample((now_ms_ - c.rtt_start_ms) * 1000, rto_params_);
      ++stats_.rtt_samples;
    }
    c.clear(kFlagTiming);
    c.t_rexmit = 0;
    c.retries = 0;
    on_established(c);
    ack_now(c);
    return;
  }
  // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment".
  set_state(c, TcpState::kSynReceived);
  send_syn(c);
}

// RFC 9293 3.10.7.4: SYN-RECEIVED and every synchronized state.
void TcpStack::rx_synchronized(TcpConn& c, Segment& s) {
  const TcpHeader& h = s.h;
  c.last_rx_ms = now_ms_;

  // RFC 7323 5.3 R1 (PAWS): a segment whose timestamp is older than
  // TS.Recent is a duplicate from an earlier wrap: ACK it and drop it.
  if (c.has(kFlagTs) && h.opts.has_ts && !h.has(kTcpRst) &&
      seq_lt(h.opts.tsval, c.ts_recent) &&
      now_ms_ - c.ts_recent_ms < kPawsIdleMs) {
    send_ack(c);
    return drop_seg(s, DropReason::kTcpPaws);
  }
  // A retransmitted SYN in SYN-RECEIVED: our SYN,ACK was lost. The one
  // sent again is a retransmission (send_syn() times it only because no
  // timer expired): Karn, RFC 6298 3, forbids timing it.
  if (c.in_state(TcpState::kSynReceived) && h.has(kTcpSyn) && !h.has(kTcpAck) &&
      h.seq == c.irs) {
    send_syn(c);
    c.clear(kFlagTiming);
    return;
  }

  // As Linux's tcp_reset_check: once the peer's FIN is in, a peer that
  // closed its socket answers our data with a RST whose sequence number
  // is the ACK field of that data, RCV.NXT - 1 when we sent it before our
  // ACK of the FIN (curl after a download, answering our close_notify).
  // Taken as an exact match; else it is out of window and the connection
  // lingers until our retransmission timeout draws another RST.
  const bool rst_after_fin =
      h.has(kTcpRst) && h.seq == c.rcv_nxt - 1 &&
      c.in_state(TcpState::kCloseWait | TcpState::kLastAck |
                 TcpState::kClosing);
  // "first check sequence number": the four cases of the acceptability
  // test, against the window we advertised.
  const uint32_t rcv_wnd =
      seq_gt(c.rcv_adv, c.rcv_nxt) ? c.rcv_adv - c.rcv_nxt : 0;
  const uint32_t seg_len = h.seg_len();
  bool acceptable;
  if (rst_after_fin) {
    acceptable = true;
  } else if (seg_len == 0) {
    // Zero-length segments are also taken at the right edge itself
    // (SEG.SEQ = RCV.NXT + RCV.WND): a sender that filled our window
    // stamps its ACKs there. Linux's tcp_sequence() is as lenient.
    acceptable = rcv_wnd == 0
                     ? h.seq == c.rcv_nxt
                     : seq_in(h.seq, c.rcv_nxt, c.rcv_nxt + rcv_wnd + 1);
  } else {
    acceptable = rcv_wnd != 0 &&
                 (seq_in(h.seq, c.rcv_nxt, c.rcv_nxt + rcv_wnd) ||
                  seq_in(h.seq + seg_len - 1, c.rcv_nxt, c.rcv_nxt + rcv_wnd));
  }
  bool keep_text = true;
  if (!acceptable) {
    // "If the RCV.WND is zero, no segments will be acceptable, but special
    // allowance should be made to accept valid ACKs, URGs, and RSTs."
    if (rcv_wnd == 0 && h.seq == c.rcv_nxt) {
      keep_text = false;
    } else {
      if (!h.has(kTcpRst)) {
        // "<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"; a FIN retransmitted in
        // TIME-WAIT also restarts the 2 MSL timeout.
        if (c.in_state(TcpState::kTimeWait) && h.has(kTcpFin)) {
          c.t_linger = deadline(2 * cfg_.msl_ms);
        }
        send_ack(c);
      }
      return drop_seg(s, DropReason::kTcpOutOfWindow);
    }
  }
  // RFC 7323 4.3 / 5.3 R3: remember the timestamp of a segment that covers
  // the last ACK we sent.
  if (c.has(kFlagTs) && h.opts.has_ts && seq_ge(h.opts.tsval, c.ts_recent) &&
      seq_le(h.seq, c.last_ack_sent)) {
    c.ts_recent = h.opts.tsval;
    c.ts_recent_ms = now_ms_;
  }

  // "second check the RST bit" (RFC 5961 3.2): exact match resets, in
  // window gets a challenge ACK.
  if (h.has(kTcpRst)) {
    if (h.seq != c.rcv_nxt && !rst_after_fin) {
      if (take_challenge_token()) {
        send_ack(c);
      }
      return drop_seg(s, DropReason::kTcpRstChallenged);
    }
    if (c.in_state(TcpState::kTimeWait)) {
      // RFC 1337: TIME-WAIT assassination; ignore RSTs in TIME-WAIT.
      return drop_seg(s, DropReason::kTcpRstInTimeWait);
    }
    ++stats_.rst_rx;
    if (c.in_state(TcpState::kSynReceived) && c.has(kFlagPassive)) {
      // "If this connection was initiated with a passive OPEN, then return
      // this connection to the LISTEN state": forget it.
      free_conn(c);
      return;
    }
    enter_closed(c,
                 c.in_state(TcpState::kSynReceived)
                     ? TcpCloseReason::kRefused
                     : TcpCloseReason::kPeerReset,
                 true);
    return;
  }
  // "fourth, check the SYN bit" (RFC 5961 4.2): any SYN in a synchronized
  // state gets a challenge ACK and is dropped.
  if (h.has(kTcpSyn)) {
    if (take_challenge_token()) {
      send_ack(c);
    }
    return drop_seg(s, DropReason::kTcpSynChallenged);
  }
  // "fifth check the ACK field": "if the ACK bit is off drop the segment".
  if (!h.has(kTcpAck)) {
    return drop_seg(s, DropReason::kTcpNoAck);
  }
  if (c.in_state(TcpState::kSynReceived)) {
    // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state";
    // otherwise "<SEQ=SEG.ACK><CTL=RST>".
    if (!(seq_lt(c.snd_una, h.ack) && seq_le(h.ack, c.snd_max))) {
      send_rst_for(s);
      return drop_seg(s, DropReason::kTcpSynReceivedBadAck);
    }
    c.snd_wnd = uint32_t{h.window} << c.snd_wscale;
    c.snd_wl1 = h.seq;
    c.snd_wl2 = h.ack;
    c.max_snd_wnd = std::max(c.max_snd_wnd, c.snd_wnd);
    on_established(c);
  }
  if (!rx_ack(c, s)) {
    return;
  }
  if (c.has(kFlagKeepalive) && c.snd_una == c.snd_max) {
    c.retries = 0;  // the peer answered: keep-alive probing starts over
    c.t_keepalive = deadline(cfg_.keepalive_idle_ms);
  }
  // "sixth, check the URG bit": urgent data is delivered inline (RFC 6093).
  // "seventh, process the segment text".
  if (s.payload > 0 && keep_text) {
    rx_data(c, s);
  } else if (s.payload > 0) {
    // Text against a zero window: its ACK was used, its bytes are not.
    ack_now(c);
    return drop_seg(s, DropReason::kTcpOutOfWindow);
  }
  if (c.state == TcpState::kClosed || c.has(kFlagZombie)) {
    return;
  }
  // "eighth, check the FIN bit": a FIN counts once everything before it
  // has arrived; one beyond a hole is remembered.
  if (s.fin && keep_text) {
    const uint32_t fin_seq = s.h.seq + s.h.payload_len;
    if (fin_seq == c.rcv_nxt && !c.has(kFlagFinRcvd)) {
      rx_fin(c);
    } else if (seq_gt(fin_seq, c.rcv_nxt)) {
      c.set(kFlagOooFin);
      c.ooo_fin_seq = fin_seq;
      ack_now(c);
    } else {
      ack_now(c);  // a retransmitted FIN
    }
  } else if (s.fin) {
    // A FIN into a zero window (SEG.LEN = 1 > RCV.WND = 0) is not
    // acceptable: "an acknowledgment should be sent in reply". The peer
    // sends it again once the window opens.
    ack_now(c);
  }
}

bool TcpStack::rx_ack(TcpConn& c, Segment& s) {
  const TcpHeader& h = s.h;
  const uint32_t ack = h.ack;
  // RFC 5961 5.2: acceptable when SND.UNA - MAX.SND.WND =< SEG.ACK =<
  // SND.NXT; anything else is discarded with an ACK sent back.
  if (seq_gt(ack, c.snd_max)) {
    send_ack(c);
    drop_seg(s, DropReason::kTcpAckUnacceptable);
    return false;
  }
  if (seq_lt(ack, c.snd_una - c.max_snd_wnd)) {
    if (take_challenge_token()) {
      send_ack(c);
    }
    drop_seg(s, DropReason::kTcpAckUnacceptable);
    return false;
  }
  const uint32_t wnd = uint32_t{h.window} << c.snd_wscale;
  bool sack_changed = false;
  if (c.has(kFlagSack) && h.opts.n_sack > 0) {
    for (uint8_t i = 0; i < h.opts.n_sack; ++i) {
      sack_changed |= c.sack.add(h.opts.sack[i].start, h.opts.sack[i].end,
                                 seq_max(ack, c.snd_una), c.snd_max);
    }
  }
  if (seq_gt(ack, c.snd_una)) {
    uint32_t acked = ack - c.snd_una;
    // RTT (RFC 7323 4.1 with timestamps; else RFC 6298 3 with Karn).
    if (c.has(kFlagTs) && h.opts.has_ts &&
        ts_rtt_usable(now_ms_, h.opts.tsecr, rto_params_.max_ms)) {
      c.rto.sample((now_ms_ - h.opts.tsecr) * 1000, rto_params_);
      ++stats_.rtt_samples;
    } else if (c.has(kFlagTiming) && seq_gt(ack, c.rtt_seq)) {
      c.rto.sample((now_ms_ - c.rtt_start_ms) * 1000, rto_params_);
      ++stats_.rtt_samples;
      c.clear(kFlagTiming);
    }
    if (!c.has(kFlagSynAcked)) {
      c.set(kFlagSynAcked);
      --acked;  // the SYN's sequence number
    }
    const uint32_t data_acked =
        seq_gt(ack, c.sq_start) ? std::min(ack - c.sq_start, c.sq_bytes) : 0;
    free_acked(c, data_acked);
    c.snd_una = ack;
    if (seq_lt(c.snd_nxt, c.snd_una)) {
      c.snd_nxt = c.snd_una;
    }
    if (seq_lt(c.high_rxt, c.snd_una)) {
      c.high_rxt = c.snd_una;
    }
    c.sack.advance(c.snd_una);
    c.retries = 0;
    c.dupacks = 0;
    if (c.has(kFlagRecovery)) {
      if (seq_ge(ack, c.recover)) {
        // Full ACK: leave recovery. RFC 6582 3.2 step 3 (NewReno);
        // RFC 6675 ends with cwnd = ssthresh.
        c.clear(kFlagRecovery);
        c.cc.cwnd =
            c.has(kFlagSack)
                ? c.cc.ssthresh
                : std::min(c.cc.ssthresh,
                           std::max(flight_size(c), uint32_t{c.smss}) + c.smss);
      } else {
        ++stats_.partial_acks;
        if (!c.has(kFlagSack)) {
          // RFC 6582 3.2 step 4: retransmit the first unacknowledged
          // segment, deflate by the amount ACKed, add back one SMSS.
          const uint32_t data_end = c.sq_start + c.sq_bytes;
          const uint32_t len = std::min<uint32_t>(c.smss, data_end - c.snd_una);
          send_data(c, c.snd_una, len, true);
          ++stats_.fast_retransmits;
          c.cc.cwnd -= std::min(acked, c.cc.cwnd);
          if (acked >= c.smss) {
            c.cc.cwnd += c.smss;
          }
          c.cc.cwnd = std::max<uint32_t>(c.cc.cwnd, c.smss);
        }
      }
    } else {
      cc_on_ack(c.cc_algo, c.cc, acked, c.smss, now_ms_, c.rto.srtt_us);
    }
    // RFC 6298 5.2 / 5.3: stop the timer when all is ACKed, else restart.
    c.clear(kFlagPersist);
    c.t_rexmit =
        c.snd_una == c.snd_max ? 0 : deadline(c.rto.current_ms(rto_params_));
    if (c.has(kFlagWantWritable) && c.sq_bytes <= cfg_.snd_buf / 2) {
      c.clear(kFlagWantWritable);
      c.events |= kEvWritable;
      mark_ready(c);
    }
    mark_output(c);
  } else if (ack == c.snd_una && c.snd_max != c.snd_una &&
             ((s.payload == 0 && !h.has(kTcpSyn) && !h.has(kTcpFin) &&
               wnd == c.snd_wnd) ||
              sack_changed)) {
    // RFC 5681 section 2 DUPLICATE ACKNOWLEDGMENT, or RFC 6675 section 2
    // "DupAck": any segment whose SACK blocks name new data (so ACKs that
    // ride on data count in a two-way transfer).
    ++stats_.dupacks_rx;
    if (c.dupacks < 255) {
      ++c.dupacks;
    }
    if (c.has(kFlagRecovery)) {
      if (!c.has(kFlagSack)) {
        c.cc.cwnd += c.smss;  // RFC 6582 3.2 step 3: inflate
      }
      mark_output(c);
    } else {
      // RFC 6675 5 (a): DupThresh dupACKs, or IsLost(HighACK + 1). RFC 6582
      // 4.1: not again for losses of the window before the last recovery.
      const bool lost = c.dupacks >= 3 ||
                        (c.has(kFlagSack) &&
                         c.sack.lost_boundary(c.snd_una, c.smss) != c.snd_una);
      if (lost && seq_gt(c.snd_una, c.recover)) {
        enter_recovery(c);
      }
    }
  } else if (sack_changed && c.has(kFlagRecovery)) {
    mark_output(c);
  }
  // RFC 6675 5 (C): recovery also starts whenever IsLost(HighACK + 1),
  // including on a cumulative ACK that leaves a reported hole behind.
  if (!c.has(kFlagRecovery) && c.has(kFlagSack) && c.snd_una != c.snd_max &&
      c.sack.lost_boundary(c.snd_una, c.smss) != c.snd_una &&
      seq_gt(c.snd_una, c.recover)) {
    enter_recovery(c);
  }
  // Window update, only "If SND.UNA =< SEG.ACK =< SND.NXT" (SND.UNA has
  // already moved up to an ACK above it; an older ACK is a duplicate whose
  // window is stale): "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and
  // SND.WL2 =< SEG.ACK), set SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, and
  // SND.WL2 <- SEG.ACK."
  if (seq_ge(ack, c.snd_una) &&
      (seq_lt(c.snd_wl1, h.seq) ||
       (c.snd_wl1 == h.seq && seq_le(c.snd_wl2, ack)))) {
    const uint32_t old = c.snd_wnd;
    c.snd_wnd = wnd;
    c.snd_wl1 = h.seq;
    c.snd_wl2 = ack;
    c.max_snd_wnd = std::max(c.max_snd_wnd, wnd);
    if (wnd > old) {
      if (c.has(kFlagPersist)) {
        c.clear(kFlagPersist);
        c.t_rexmit = 0;
        c.rto.backoff = 0;
      }
      mark_output(c);
    }
  }
  // Per-state ACK processing: has our FIN been acknowledged?
  const bool fin_acked =
      c.has(kFlagFinQueued) && c.sq_bytes == 0 && c.snd_una == c.sq_start + 1;
  if (fin_acked) {
    if (c.in_state(TcpState::kFinWait1)) {
      set_state(c, TcpState::kFinWait2);
      c.t_rexmit = 0;
      if (c.has(kFlagAppClosed)) {
        c.t_linger = deadline(cfg_.fin_wait2_ms);
      }
    } else if (c.in_state(TcpState::kClosing)) {
      enter_time_wait(c);
    } else if (c.in_state(TcpState::kLastAck)) {
      enter_closed(c, TcpCloseReason::kNormal, false);
      if (s.m != nullptr) {
        ++stats_.segs_absorbed;
        rte_pktmbuf_free(s.m);
        s.m = nullptr;
      }
      return false;
    }
  }
  return true;
}

void TcpStack::free_acked(TcpConn& c, uint32_t bytes) {
  c.sq_start += bytes;
  c.sq_bytes -= bytes;
  while (bytes > 0 && c.sq_head != nullptr) {
    rte_mbuf* seg = c.sq_head;
    const uint32_t left = seg->data_len - c.sq_head_off;
    if (bytes < left) {
      c.sq_head_off += bytes;
      return;
    }
    bytes -= left;
    c.sq_head = seg->next;
    c.sq_head_off = 0;
    if (c.sq_cursor == seg) {
      c.sq_cursor = nullptr;
    }
    seg->next = nullptr;
    rte_pktmbuf_free_seg(seg);
  }
  // Empty segments at the head hold no bytes: release them too.
  while (c.sq_head != nullptr && c.sq_head->data_len == 0) {
    rte_mbuf* seg = c.sq_head;
    c.sq_head = seg->next;
    if (c.sq_cursor == seg) {
      c.sq_cursor = nullptr;
    }
    seg->next = nullptr;
    rte_pktmbuf_free_seg(seg);
  }
  if (c.sq_head == nullptr) {
    c.sq_tail = nullptr;
    c.sq_cursor = nullptr;
    c.sq_head_off = 0;
  }
}

// "seventh, process the segment text" for ESTABLISHED, FIN-WAIT-1 and
// FIN-WAIT-2: in order to the receive queue, beyond a hole to the
// out-of-order queue.
void TcpStack::rx_data(TcpConn& c, Segment& s) {
  if (!c.in_state(TcpState::kEstablished | TcpState::kFinWait1 |
                  TcpState::kFinWait2) ||
      c.has(kFlagFinRcvd)) {
    // "This should not occur, since a FIN has been received": ignore.
    return drop_seg(s, DropReason::kTcpDataAfterFin);
  }
  rte_mbuf* m = s.m;
  s.m = nullptr;
  rte_pktmbuf_adj(m, s.h.header_len);
  m = chain_drop_empty(m);
  uint32_t seq = s.h.seq;
  uint32_t len = s.payload;
  if (m == nullptr || m->pkt_len != len) {
    rte_pktmbuf_free(m);
    count_drop(DropReason::kTcpTruncated);
    return;
  }
  // Trim what we already have (the front) and what lies beyond the window
  // we advertised (the back); a FIN past the window goes with it.
  if (seq_lt(seq, c.rcv_nxt)) {
    const uint32_t cut = c.rcv_nxt - seq;
    if (cut >= len) {
      rte_pktmbuf_free(m);
      count_drop(DropReason::kTcpDuplicate);
      ack_now(c);
      return;
    }
    m = chain_trim_front(m, cut);
    seq = c.rcv_nxt;
    len -= cut;
  }
  const uint32_t right = seq_gt(c.rcv_adv, c.rcv_nxt) ? c.rcv_adv : c.rcv_nxt;
  if (seq_gt(seq + len, right)) {
    if (!seq_lt(seq, right)) {
      rte_pktmbuf_free(m);
      count_drop(DropReason::kTcpOutOfWindow);
      ack_now(c);
      return;
    }
    len = right - seq;
    chain_trim_back(m, len);
    s.fin = false;
  }
  if (c.has(kFlagAppClosed)) {
    // close() was called: nobody reads. ACK in-order bytes and free them,
    // and with them the out-of-order ranges they reach (queued before
    // close(): already SACKed) and a FIN held behind the hole.
    rte_pktmbuf_free(m);
    count_drop(DropReason::kTcpDataAfterClose);
    ack_now(c);
    if (seq == c.rcv_nxt) {
      c.rcv_nxt += len;
      uint32_t more = 0;
      while (!c.ooo.empty() && seq_le(c.ooo.first_seq(), c.rcv_nxt)) {
        const uint32_t first = c.ooo.first_seq();
        rte_pktmbuf_free(c.ooo.pop(first, &more));
        c.rcv_nxt = seq_max(c.rcv_nxt, first + more);
      }
      if (c.has(kFlagOooFin) && c.rcv_nxt == c.ooo_fin_seq) {
        rx_fin(c);
      }
    }
    return;
  }
  if (seq != c.rcv_nxt) {
    uint32_t added = 0;
    switch (c.ooo.insert(seq, m, &added)) {
      case OooResult::kQueued:
        ++stats_.segs_queued;
        ++stats_.ooo_segments;
        break;
      case OooResult::kDuplicate:
        count_drop(DropReason::kTcpDuplicate);
        break;
      case OooResult::kFull:
        count_drop(DropReason::kTcpOooQueueFull);
        break;
    }
    // RFC 5681 4.2: an out-of-order segment is ACKed at once (a duplicate
    // ACK carrying SACK blocks).
    ack_now(c);
    return;
  }
  const bool had_hole = !c.ooo.empty();
  if (had_hole && seq_lt(c.ooo.first_seq(), seq + len)) {
    len = c.ooo.first_seq() - seq;  // the rest is already queued
    chain_trim_back(m, len);
  }
  bool copied = false;
  if (!c.rq.append_coalesce(m, &copied)) {
    rte_pktmbuf_free(m);
    count_drop(DropReason::kTcpChainTooLong);
    ack_now(c);
    return;
  }
  ++stats_.segs_queued;
  if (copied) {
    ++stats_.rx_coalesced;
  }
  c.rcv_nxt += len;
  stats_.data_bytes_rx += len;
  uint32_t more = 0;
  while (rte_mbuf* next = c.ooo.pop(c.rcv_nxt, &more)) {
    if (!c.rq.append(next)) {
      uint32_t ignored = 0;
      c.ooo.insert(c.rcv_nxt, next, &ignored);  // back where it was
      break;
    }
    c.rcv_nxt += more;
    stats_.data_bytes_rx += more;
  }
  if (!c.has(kFlagRxPaused)) {
    mark_ready(c);
  }
  if (c.has(kFlagOooFin) && c.rcv_nxt == c.ooo_fin_seq) {
    rx_fin(c);
  }
  // RFC 9293 3.8.6.3 / RFC 5681 4.2: ACK at least every second full-sized
  // segment, at once when a hole was filled, else within delack_ms.
  if (had_hole || ++c.segs_unacked >= 2) {
    ack_now(c);
  } else if (c.t_delack == 0) {
    c.t_delack = deadline(cfg_.delack_ms);
  }
}

// "eighth, check the FIN bit".
void TcpStack::rx_fin(TcpConn& c) {
  c.rcv_nxt += 1;
  c.set(kFlagFinRcvd);
  c.clear(kFlagOooFin);
  c.events |= kEvPeerClosed;
  mark_ready(c);
  ack_now(c);
  if (c.in_state(TcpState::kSynReceived | TcpState::kEstablished)) {
    set_state(c, TcpState::kCloseWait);
  } else if (c.in_state(TcpState::kFinWait1)) {
    const bool fin_acked = c.sq_bytes == 0 && c.snd_una == c.sq_start + 1;
    if (fin_acked) {
      enter_time_wait(c);
    } else {
      set_state(c, TcpState::kClosing);
    }
  } else if (c.in_state(TcpState::kFinWait2)) {
    enter_time_wait(c);
  }
}

}  // namespace dptls::net
