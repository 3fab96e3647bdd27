// The RFC 9293 state machine driven segment by segment by a test peer that
// builds its own segments (tcp_test_support.cc): every transition, RST and
// SYN handling per RFC 5961, PAWS, TIME-WAIT, delayed ACKs, SACK, zero
// window and persist, retransmission, SYN cookies, limits, malformed
// headers (each dropped with its reason), handles and RSS port choice.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <set>

#include "dptls/net/tcp.h"
#include "dptls/net/tcp_seq.h"
#include "tcp_test_support.h"

namespace dptls::net::testing {
namespace {

class TcpStateTest : public RawTcpTest {
 protected:
  // An established connection with a 4096-byte receive buffer that the
  // peer has filled (nobody consumes): the segments we sent so far, the
  // last of which advertises the closed window.
  std::vector<Seg> established_with_full_window(ConnHandle* h) {
    TcpConfig c = default_tcp_config();
    c.rcv_buf = 4096;
    rebuild(c);
    *h = established();
    for (uint32_t off = 0; off < 4096; off += 1024) {
      inject(peer(off, kTcpAck, Bytes(1024, 'z')));
    }
    return sent();
  }

  // An active open answered by a SYN-ACK whose TSecr is our SYN's TSval
  // moved by `tsecr_shift` ms: the connection is established and the
  // echo gives no RTT sample (the RTO stays at its initial 1 s or below).
  void expect_no_rtt_sample_from_syn_ack_tsecr(int64_t tsecr_shift) {
    Seg syn;
    const ConnHandle h = connect_one(&syn);
    ASSERT_TRUE(syn.ts.has_value());
    Bytes opts = opt_mss(1460);
    append(opts,
           opt_ts(777, static_cast<uint32_t>(syn.ts->first + tsecr_shift)));
    inject(Seg{.sport = 80,
               .dport = syn.sport,
               .seq = 7000,
               .ack = syn.seq + 1,
               .flags = kTcpSyn | kTcpAck,
               .win = 65535,
               .options = opts});
    sent();
    events();
    const TcpConnInfo i = info(h);
    EXPECT_EQ(i.state, TcpState::kEstablished);
    EXPECT_LE(i.rto_ms, 1000u) << "RTO from an RTT of " << i.srtt_us << " us";
  }

  // A segment from the peer of the accepted connection, `off` bytes into
  // its stream, acknowledging `ack` (default: our SYN).
  Seg peer(uint32_t off, uint8_t flags, Bytes payload = {},
           std::optional<uint32_t> ack = std::nullopt) {
    return Seg{.sport = 40000,
               .dport = 80,
               .seq = peer_isn_ + 1 + off,
               .ack = ack.value_or(our_isn_ + 1),
               .flags = flags,
               .win = 65535,
               .payload = std::move(payload)};
  }
  ConnHandle established() { return accept_one(opt_mss(1460)); }
  TcpState state(ConnHandle h) {
    TcpConnInfo i;
    return tcp_->info(h, &i) ? i.state : TcpState::kClosed;
  }
  TcpConnInfo info(ConnHandle h) {
    TcpConnInfo i;
    EXPECT_TRUE(tcp_->info(h, &i));
    return i;
  }
  static bool has(const std::vector<TcpEvent>& ev, TcpEventType t) {
    for (const TcpEvent& e : ev) {
      if (e.type == t) {
        return true;
      }
    }
    return false;
  }
  // Sends `n` bytes from our side.
  void send_bytes(ConnHandle h, uint32_t n, uint32_t from = 0) {
    ASSERT_EQ(tcp_->send(h, pattern_chain(tcp_pool(), 5, from, n), now_),
              TcpResult::kOk);
  }
  // Completes a passive open (as accept_one(), port 40000 to 80) whose ISS,
  // ours, is `iss`, the handshake's ACK offering `win`. Our ISS is
  // now_us / 4 + F(4-tuple) (RFC 6528): one SYN (then reset) gives F, and
  // the clock moves on to the moment the ISS is `iss`.
  ConnHandle accept_with_our_isn(uint32_t iss, const Bytes& syn_options,
                                 uint16_t win) {
    tcp_->listen(TcpListen{.port = 80, .user = 7});
    Seg syn{.sport = 40000,
            .dport = 80,
            .seq = peer_isn_,
            .flags = kTcpSyn,
            .win = 65535,
            .options = syn_options};
    inject(syn);
    std::vector<Seg> out = sent();
    if (out.size() != 1) {
      ADD_FAILURE() << "no SYN-ACK";
      return {};
    }
    inject(Seg{
        .sport = 40000, .dport = 80, .seq = peer_isn_ + 1, .flags = kTcpRst});
    EXPECT_EQ(tcp_->connections(), 0u);
    const uint64_t k = now_ / 4000;  // now_us / 4 with a ns clock
    const uint32_t f = out[0].seq - static_cast<uint32_t>(k);
    now_ =
        (k + static_cast<uint32_t>(iss - f - static_cast<uint32_t>(k))) * 4000;
    // Hours may have passed: the peer's address again.
    Bytes arp_reply = eth(kOurMac, kPeerMac, 0x0806);
    append(arp_reply, arp(2, kPeerMac, kPeerIp, kOurMac, kOurIp));
    rte_mbuf* m = make_mbuf(arp_reply);
    net_->rx(&m, 1, now_);
    inject(syn);
    out = sent();
    if (out.size() != 1 || out[0].seq != iss) {
      ADD_FAILURE() << "no SYN-ACK with ISS " << iss;
      return {};
    }
    our_isn_ = iss;
    inject(Seg{.sport = 40000,
               .dport = 80,
               .seq = peer_isn_ + 1,
               .ack = our_isn_ + 1,
               .flags = kTcpAck,
               .win = win});
    for (const TcpEvent& e : events()) {
      if (e.type == TcpEventType::kAccepted) {
        return e.conn;
      }
    }
    ADD_FAILURE() << "no kAccepted";
    return {};
  }
};

// --- Opening ---------------------------------------------------------------

TEST_F(TcpStateTest, PassiveOpenNegotiatesEveryOption) {
  tcp_->listen(TcpListen{.port = 80, .user = 7});
  Bytes opts = opt_mss(1400);
  append(opts, opt_wscale(7));
  append(opts, opt_sack_ok());
  append(opts, opt_ts(5000, 0));
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = peer_isn_,
             .flags = kTcpSyn,
             .win = 65535,
             .options = opts});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  const Seg& sa = out[0];
  EXPECT_EQ(sa.flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(sa.ack, peer_isn_ + 1);
  EXPECT_EQ(sa.mss, 1460);
  EXPECT_EQ(sa.wscale, 1);  // 64 KB buffer needs a shift of 1
  EXPECT_TRUE(sa.sack_ok);
  ASSERT_TRUE(sa.ts.has_value());
  EXPECT_EQ(sa.ts->second, 5000u);  // TSecr echoes the SYN's TSval
  EXPECT_EQ(tcp_->connections(), 1u);
  our_isn_ = sa.seq;
  Seg ack = peer(0, kTcpAck);
  ack.options = opt_ts(5001, sa.ts->first);
  inject(ack);
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kAccepted);
  EXPECT_EQ(ev[0].user, 7u);
  const TcpConnInfo i = info(ev[0].conn);
  EXPECT_EQ(i.state, TcpState::kEstablished);
  EXPECT_EQ(i.smss, 1400 - 12);  // TS option in every segment
  EXPECT_EQ(i.snd_wscale, 7);
  EXPECT_EQ(i.snd_wnd, 65535u << 7);
  EXPECT_EQ(i.flags & (kFlagTs | kFlagSack | kFlagWscale),
            kFlagTs | kFlagSack | kFlagWscale);
  EXPECT_EQ(tcp_->stats().established, 1u);
}

TEST_F(TcpStateTest, PassiveOpenWithoutOptionsUsesDefaults) {
  const ConnHandle h = accept_one();
  const TcpConnInfo i = info(h);
  EXPECT_EQ(i.smss, 536);  // RFC 9293 3.7.1 default
  EXPECT_EQ(i.rcv_wscale, 0);
  EXPECT_EQ(i.flags & (kFlagTs | kFlagSack | kFlagWscale), 0u);
}

TEST_F(TcpStateTest, SynReceivedRetransmitsThenForgets) {
  TcpConfig c = default_tcp_config();
  c.syn_retries = 2;
  rebuild(c);
  tcp_->listen(TcpListen{.port = 80});
  inject(Seg{.sport = 40000, .dport = 80, .seq = 1, .flags = kTcpSyn});
  ASSERT_EQ(sent().size(), 1u);
  inject(Seg{.sport = 40000, .dport = 80, .seq = 1, .flags = kTcpSyn});
  ASSERT_EQ(sent().size(), 1u) << "duplicate SYN: SYN-ACK again";
  advance_ms(1000);  // initial RTO
  ASSERT_EQ(sent().size(), 1u);
  advance_ms(1000);
  EXPECT_EQ(sent().size(), 0u) << "backed off to 2 s";
  advance_ms(1000);
  ASSERT_EQ(sent().size(), 1u);
  advance_ms(4000);
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_TRUE(events().empty());
}

TEST_F(TcpStateTest, SynAckSentAgainForADuplicateSynIsNotTimed) {
  // Karn (RFC 6298 3): no RTT sample from a retransmitted segment. A
  // duplicate SYN makes us send the SYN-ACK again; the ACK that follows
  // may answer the first one. Here the path's RTT is 300 ms: the first
  // SYN-ACK's ACK comes back right after the second SYN-ACK went out.
  // Timing the second gave an RTT of ~0 and the 200 ms minimum RTO, below
  // the real RTT (no timestamps, so nothing else tells them apart).
  tcp_->listen(TcpListen{.port = 80});
  const Seg syn{.sport = 40000,
                .dport = 80,
                .seq = peer_isn_,
                .flags = kTcpSyn,
                .win = 65535,
                .options = opt_mss(1460)};
  inject(syn);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  our_isn_ = out[0].seq;
  advance_ms(300);
  inject(syn);  // the peer's SYN retransmission crossed our SYN-ACK
  ASSERT_EQ(sent().size(), 1u);
  inject(peer(0, kTcpAck));
  std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].type, TcpEventType::kAccepted);
  EXPECT_GE(info(ev[0].conn).rto_ms, 300u)
      << "RTT " << info(ev[0].conn).srtt_us << " us";
}

TEST_F(TcpStateTest, SynReceivedBadAckGetsRstAndRstReturnsToListen) {
  tcp_->listen(TcpListen{.port = 80});
  inject(Seg{.sport = 40000, .dport = 80, .seq = 1, .flags = kTcpSyn});
  our_isn_ = sent().at(0).seq;
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = 2,
             .ack = our_isn_ + 5,
             .flags = kTcpAck,
             .win = 1000});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(out[0].seq, our_isn_ + 5);  // <SEQ=SEG.ACK><CTL=RST>
  EXPECT_EQ(drops(DropReason::kTcpSynReceivedBadAck), 1u);
  inject(Seg{.sport = 40000, .dport = 80, .seq = 2, .flags = kTcpRst});
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_TRUE(events().empty());
}

TEST_F(TcpStateTest, ActiveOpenEstablishes) {
  Seg syn;
  const ConnHandle h = connect_one(&syn);
  EXPECT_EQ(syn.flags, kTcpSyn);
  EXPECT_EQ(syn.dport, 80);
  EXPECT_EQ(syn.mss, 1460);
  EXPECT_TRUE(syn.sack_ok);
  EXPECT_TRUE(syn.ts.has_value());
  EXPECT_EQ(state(h), TcpState::kSynSent);
  Bytes opts = opt_mss(1000);
  append(opts, opt_wscale(2));
  inject(Seg{.sport = 80,
             .dport = syn.sport,
             .seq = 7000,
             .ack = syn.seq + 1,
             .flags = kTcpSyn | kTcpAck,
             .win = 5000,
             .options = opts});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpAck);
  EXPECT_EQ(out[0].ack, 7001u);
  EXPECT_EQ(out[0].seq, syn.seq + 1);
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kConnected);
  EXPECT_EQ(ev[0].user, 9u);
  const TcpConnInfo i = info(h);
  EXPECT_EQ(i.state, TcpState::kEstablished);
  EXPECT_EQ(i.smss, 1000);
  EXPECT_EQ(i.snd_wnd, 5000u);  // a SYN's window is never scaled
  EXPECT_EQ(i.snd_wscale, 2);
}

TEST_F(TcpStateTest, ActiveOpenWindowFollowsThePeersIsn) {
  // Our SYN's window is offered before the peer's ISN is known. Whatever
  // the ISN, the ACK of the SYN-ACK offers the receive buffer and data
  // inside it is taken: an ISN near 2^31 once left the window's edge where
  // the SYN put it (RCV.WND 0 for good: every segment dropped, a stall),
  // one in the half below 2^31 let the window grow past the buffer.
  for (const uint32_t isn :
       {7000u, 0x7fffff00u, 0x80000064u, 0x8000fff0u, 0xffff0000u}) {
    SCOPED_TRACE(isn);
    Seg syn;
    const ConnHandle h = connect_one(&syn);
    ASSERT_TRUE(syn.wscale.has_value());
    Bytes opts = opt_mss(1460);
    append(opts, opt_wscale(2));
    inject(Seg{.sport = 80,
               .dport = syn.sport,
               .seq = isn,
               .ack = syn.seq + 1,
               .flags = kTcpSyn | kTcpAck,
               .win = 65535,
               .options = opts});
    std::vector<Seg> out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].flags, kTcpAck);
    EXPECT_EQ(uint32_t{out[0].win} << *syn.wscale, 64u * 1024);
    EXPECT_EQ(info(h).rcv_wnd, 64u * 1024);
    std::vector<TcpEvent> ev = events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].type, TcpEventType::kConnected);
    data_.clear();
    inject(Seg{.sport = 80,
               .dport = syn.sport,
               .seq = isn + 1,
               .ack = syn.seq + 1,
               .flags = kTcpAck | kTcpPsh,
               .win = 65535,
               .payload = Bytes(1000, 0x5a)});
    ev = events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].type, TcpEventType::kData);
    EXPECT_EQ(data_, Bytes(1000, 0x5a));
    EXPECT_EQ(info(h).rcv_nxt, isn + 1001);
    EXPECT_EQ(drops(DropReason::kTcpOutOfWindow), 0u);
    sent();
  }
}

TEST_F(TcpStateTest, ActiveOpenRefusedTimedOutOrBadAck) {
  Seg syn;
  ConnHandle h = connect_one(&syn);
  // An unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST> and changes nothing.
  inject(Seg{.sport = 80,
             .dport = syn.sport,
             .seq = 1,
             .ack = syn.seq + 9,
             .flags = kTcpAck});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(out[0].seq, syn.seq + 9);
  EXPECT_EQ(drops(DropReason::kTcpSynSentBadAck), 1u);
  // A RST without ACK is ignored (RFC 5961 3.2 in SYN-SENT).
  inject(Seg{.sport = 80, .dport = syn.sport, .seq = 1, .flags = kTcpRst});
  EXPECT_EQ(state(h), TcpState::kSynSent);
  // RST,ACK acknowledging the SYN: refused.
  inject(Seg{.sport = 80,
             .dport = syn.sport,
             .seq = 0,
             .ack = syn.seq + 1,
             .flags = kTcpRst | kTcpAck});
  std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].reason, TcpCloseReason::kRefused);
  EXPECT_EQ(tcp_->send(h, nullptr, now_), TcpResult::kStaleHandle);
  // No answer at all: SYN retransmissions, then a timeout.
  TcpConfig c = default_tcp_config();
  c.syn_retries = 1;
  rebuild(c);
  h = connect_one(&syn);
  advance_ms(1000);
  ASSERT_EQ(sent().size(), 1u);
  advance_ms(2000);
  ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reason, TcpCloseReason::kTimeout);
  EXPECT_EQ(tcp_->connections(), 0u);
}

TEST_F(TcpStateTest, ActiveOpenTakesNoRttSampleFromAFutureTimestampEcho) {
  // RFC 7323 4.1: the RTT is now - TSecr, where TSecr echoes a TSval we
  // sent. A SYN-ACK echoing a TSval we never sent (ahead of our clock:
  // from a confused peer or middlebox) must not become a sample; the
  // difference wraps to about 2^32 ms and the RTO went to its maximum.
  expect_no_rtt_sample_from_syn_ack_tsecr(100'000);
}

TEST_F(TcpStateTest, ActiveOpenTakesNoRttSampleFromAnHoursOldTimestampEcho) {
  // As below for data: now - TSecr of over 71 minutes overflowed the
  // microsecond product in SYN-SENT too.
  expect_no_rtt_sample_from_syn_ack_tsecr(-5'000'000);
}

TEST_F(TcpStateTest, SimultaneousOpen) {
  Seg syn;
  const ConnHandle h = connect_one(&syn);
  inject(Seg{.sport = 80,
             .dport = syn.sport,
             .seq = 500,
             .flags = kTcpSyn,
             .win = 8000});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(out[0].seq, syn.seq);
  EXPECT_EQ(state(h), TcpState::kSynReceived);
  inject(Seg{.sport = 80,
             .dport = syn.sport,
             .seq = 501,
             .ack = syn.seq + 1,
             .flags = kTcpAck,
             .win = 8000});
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kConnected);
  EXPECT_EQ(state(h), TcpState::kEstablished);
}

// --- Data ------------------------------------------------------------------

TEST_F(TcpStateTest, DelayedAckEverySecondSegmentOrTimer) {
  const ConnHandle h = established();
  inject(peer(0, kTcpAck, Bytes(100, 'a')));
  EXPECT_TRUE(sent().empty()) << "first segment: ACK delayed";
  advance_ms(39);
  EXPECT_TRUE(sent().empty());
  advance_ms(1);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, peer_isn_ + 101);
  inject(peer(100, kTcpAck, Bytes(100, 'b')));
  inject(peer(200, kTcpAck, Bytes(100, 'c')));
  out = sent();
  ASSERT_EQ(out.size(), 1u) << "second segment: ACK at once";
  EXPECT_EQ(out[0].ack, peer_isn_ + 301);
  events();
  EXPECT_EQ(data_.size(), 300u);
  EXPECT_EQ(data_[150], 'b');
  // Small segments were coalesced into one buffer.
  EXPECT_GE(tcp_->stats().rx_coalesced, 1u);
  EXPECT_EQ(info(h).rcv_user, 300u);  // handed up, not consumed yet
  tcp_->consumed(h, 300, now_);
  EXPECT_EQ(info(h).rcv_user, 0u);
}

TEST_F(TcpStateTest, SmallSegmentsAreCoalescedIntoFewPieces) {
  // The record engine's RxStream holds 32 pieces; a 16 KB record must not
  // need more. 200 segments of 100 bytes arriving before the layer above
  // polls come up as a handful of buffers.
  established();
  for (uint32_t i = 0; i < 200; ++i) {
    inject(peer(i * 100, kTcpAck, Bytes(100, static_cast<uint8_t>(i))));
  }
  TcpEvent ev[4];
  ASSERT_EQ(tcp_->poll_events(ev, 4), 1u);
  ASSERT_EQ(ev[0].type, TcpEventType::kData);
  EXPECT_EQ(ev[0].len, 20'000u);
  EXPECT_LE(ev[0].data->nb_segs, 12) << "pieces for 20 KB";
  const Bytes got = to_bytes(ev[0].data);
  for (uint32_t i = 0; i < 200; ++i) {
    ASSERT_EQ(got[i * 100 + 99], static_cast<uint8_t>(i));
  }
  rte_pktmbuf_free(ev[0].data);
  EXPECT_GE(tcp_->stats().rx_coalesced, 180u);
  sent();
}

TEST_F(TcpStateTest, PayloadsThatFitAreCopied) {
  const ConnHandle h = established();
  // A payload small enough to copy behind the header, queued in three
  // pieces, then one just over the limit.
  constexpr uint32_t kSmall = TcpStack::kCopyPayloadMax;
  ASSERT_EQ(tcp_->send(h, pattern_chain(tcp_pool(), 5, 0, kSmall, 400), now_),
            TcpResult::kOk);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].nb_segs, 1) << "copied: header and payload in one mbuf";
  ASSERT_EQ(out[0].payload.size(), kSmall);
  for (uint32_t i = 0; i < kSmall; ++i) {
    ASSERT_EQ(out[0].payload[i], pattern_byte(5, i)) << i;
  }
  // Its retransmission is copied again, from the send queue.
  std::vector<Seg> again;
  for (int ms = 0; ms < 5000 && again.empty(); ms += 10) {
    advance_ms(10);
    again = sent();
  }
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq, out[0].seq);
  EXPECT_EQ(again[0].nb_segs, 1);
  EXPECT_EQ(again[0].payload, out[0].payload);
  EXPECT_EQ(tcp_->stats().retransmits, 1u);
  // Over the limit, with the checksum summed in software (this stack's
  // port has no offload): copied too, and summed as it is copied. The
  // pieces are 333 bytes, so some start at odd offsets of the payload;
  // the frame's checksum is checked by the test's own parser (a wrong one
  // and sent() has no segment).
  inject(peer(0, kTcpAck, {}, our_isn_ + 1 + kSmall));
  ASSERT_EQ(
      tcp_->send(h, pattern_chain(tcp_pool(), 5, kSmall, 1400, 333), now_),
      TcpResult::kOk);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].nb_segs, 1) << "copied and summed: one mbuf";
  ASSERT_EQ(out[0].payload.size(), 1400u);
  for (uint32_t i = 0; i < 1400; ++i) {
    ASSERT_EQ(out[0].payload[i], pattern_byte(5, kSmall + i)) << i;
  }
}

// A payload that does not fit behind the header in one mbuf (a 9000-byte
// MTU, the pool's 2 KB buffers) is referenced, never copied, and its
// checksum summed across the chain.
TEST_F(TcpStateTest, PayloadsTooLargeToCopyAreReferenced) {
  NetConfig nc = raw_net_config();
  nc.mtu = 9000;
  std::string error;
  tcp_.reset();
  net_ = NetStack::create(nc, tcp_pool(), &error);
  ASSERT_NE(net_, nullptr) << error;
  rebuild(default_tcp_config());
  Bytes f = eth(kOurMac, kPeerMac, 0x0806);
  append(f, arp(2, kPeerMac, kPeerIp, kOurMac, kOurIp));
  rte_mbuf* m = make_mbuf(f);
  net_->rx(&m, 1, now_);
  const ConnHandle h = accept_one(opt_mss(8960));
  ASSERT_EQ(tcp_->send(h, pattern_chain(tcp_pool(), 5, 0, 4001, 1001), now_),
            TcpResult::kOk);
  const std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_GE(out[0].nb_segs, 2) << "referenced: the payload in its own mbufs";
  ASSERT_EQ(out[0].payload.size(), 4001u);
  for (uint32_t i = 0; i < 4001; ++i) {
    ASSERT_EQ(out[0].payload[i], pattern_byte(5, i)) << i;
  }
}

TEST_F(TcpStateTest, OutOfOrderIsSackedReassembledAndDuplicatesCounted) {
  accept_one([] {
    Bytes o = opt_mss(1460);
    append(o, opt_sack_ok());
    return o;
  }());
  inject(peer(200, kTcpAck, Bytes(100, 'c')));
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u) << "out of order: immediate duplicate ACK";
  EXPECT_EQ(out[0].ack, peer_isn_ + 1);
  ASSERT_EQ(out[0].sack.size(), 1u);
  EXPECT_EQ(out[0].sack[0].first, peer_isn_ + 201);
  EXPECT_EQ(out[0].sack[0].second, peer_isn_ + 301);
  inject(peer(400, kTcpAck, Bytes(50, 'e')));
  out = sent();
  ASSERT_EQ(out.at(0).sack.size(), 2u);
  EXPECT_EQ(out[0].sack[0].first, peer_isn_ + 401) << "most recent first";
  inject(peer(200, kTcpAck, Bytes(100, 'c')));  // duplicate
  EXPECT_EQ(drops(DropReason::kTcpDuplicate), 1u);
  sent();
  // Overlapping the hole and the queued range: [50, 250).
  Bytes fill(200);
  for (size_t i = 0; i < fill.size(); ++i) {
    fill[i] = i < 50 ? 'a' : (i < 150 ? 'b' : 'c');
  }
  inject(peer(0, kTcpAck, Bytes(50, 'a')));
  inject(peer(0, kTcpAck, fill));
  out = sent();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().ack, peer_isn_ + 301);
  events();
  ASSERT_EQ(data_.size(), 300u);
  EXPECT_EQ(data_[0], 'a');
  EXPECT_EQ(data_[120], 'b');
  EXPECT_EQ(data_[299], 'c');
}

TEST_F(TcpStateTest, OutOfWindowPawsAndUnsentAcks) {
  accept_one([] {
    Bytes o = opt_mss(1460);
    append(o, opt_ts(100, 0));
    return o;
  }());
  // Far beyond the window: ACK, drop.
  inject(peer(1'000'000, kTcpAck, Bytes(10, 'x')));
  EXPECT_EQ(sent().size(), 1u);
  EXPECT_EQ(drops(DropReason::kTcpOutOfWindow), 1u);
  // Timestamps: a newer one is remembered, an older one is PAWS-rejected.
  Seg s = peer(0, kTcpAck, Bytes(10, 'a'));
  s.options = opt_ts(200, 0);
  inject(s);
  Seg old = peer(10, kTcpAck, Bytes(10, 'b'));
  old.options = opt_ts(150, 0);
  inject(old);
  EXPECT_EQ(drops(DropReason::kTcpPaws), 1u);
  // ACK of something never sent: ACK back, drop (RFC 5961 5.2).
  Seg bad = peer(10, kTcpAck, {}, our_isn_ + 1000);
  bad.options = opt_ts(300, 0);
  inject(bad);
  EXPECT_EQ(drops(DropReason::kTcpAckUnacceptable), 1u);
  events();
  EXPECT_EQ(data_, Bytes(10, 'a'));
}

TEST_F(TcpStateTest, ZeroWindowAndWindowUpdate) {
  ConnHandle h;
  // 4096 bytes fill the window; nobody consumes.
  std::vector<Seg> out = established_with_full_window(&h);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().win, 0) << "window closed";
  // More data is beyond the (zero) window; it is ACKed, not taken.
  inject(peer(4096, kTcpAck, Bytes(100, 'q')));
  EXPECT_EQ(drops(DropReason::kTcpOutOfWindow), 1u);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, peer_isn_ + 1 + 4096);
  events();
  EXPECT_EQ(data_.size(), 4096u);
  tcp_->consumed(h, 4096, now_);
  out = sent();
  ASSERT_EQ(out.size(), 1u) << "window update";
  EXPECT_EQ(out[0].win, 4096);
  EXPECT_EQ(tcp_->stats().window_updates, 1u);
}

TEST_F(TcpStateTest, BareFinIntoAZeroWindowIsAcked) {
  // RFC 9293 3.10.7.4: a FIN occupies a sequence number (SEG.LEN = 1), so
  // with RCV.WND = 0 it is not acceptable, but "If an incoming segment is
  // not acceptable, an acknowledgment should be sent in reply". Without
  // that ACK the peer hears nothing until its own retransmission timer.
  ConnHandle h;
  std::vector<Seg> out = established_with_full_window(&h);
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back().win, 0) << "window closed";
  inject(peer(4096, kTcpAck | kTcpFin));
  out = sent();
  ASSERT_EQ(out.size(), 1u) << "the FIN is answered";
  EXPECT_EQ(out[0].ack, peer_isn_ + 1 + 4096) << "but not taken";
  EXPECT_EQ(out[0].win, 0);
  EXPECT_EQ(state(h), TcpState::kEstablished);
  // Once the window opens, the FIN sent again is taken.
  events();
  tcp_->consumed(h, 4096, now_);
  sent();
  inject(peer(4096, kTcpAck | kTcpFin));
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, peer_isn_ + 1 + 4097);
  EXPECT_EQ(state(h), TcpState::kCloseWait);
}

TEST_F(TcpStateTest, PersistProbesAZeroWindow) {
  const ConnHandle h = established();
  inject(peer(0, kTcpAck));  // no news
  Seg zero = peer(0, kTcpAck);
  zero.win = 0;
  inject(zero);
  send_bytes(h, 500);
  EXPECT_TRUE(sent().empty()) << "nothing goes into a zero window";
  advance_ms(1000);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, our_isn_) << "probe: SND.UNA - 1, no data";
  EXPECT_TRUE(out[0].payload.empty());
  EXPECT_EQ(tcp_->stats().zero_window_probes, 1u);
  advance_ms(2000);  // backed off
  EXPECT_EQ(sent().size(), 1u);
  inject(peer(0, kTcpAck));  // window opens
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload.size(), 500u);
}

TEST_F(TcpStateTest, SmallWindowWithNothingInFlightIsNotLeftForever) {
  // Everything is ACKed and the peer's window is down to 700 bytes, less
  // than a segment: sender SWS avoidance (RFC 9293 3.8.6.2.1) holds the
  // data back. Its rule (4), the override timeout, and the persist timer
  // (3.8.6.1) exist so that a lost window update cannot stall the
  // connection: something must go out without any news from the peer.
  const ConnHandle h = established();
  Seg small = peer(0, kTcpAck);
  small.win = 700;
  inject(small);
  send_bytes(h, 5000);
  EXPECT_TRUE(sent().empty()) << "no 700-byte segment at once";
  std::vector<Seg> out;
  for (int ms = 0; ms < 10'000 && out.empty(); ms += 100) {
    advance_ms(100);
    out = sent();
  }
  ASSERT_FALSE(out.empty()) << "nothing sent in 10 s: the window update "
                               "the peer sent was lost, and we wait forever";
  // The peer's answer carries its open window: the rest flows.
  uint32_t acked = our_isn_ + 1;
  uint32_t bytes = 0;
  for (const Seg& s : out) {
    EXPECT_LE(s.payload.size(), 700u) << "inside the window";
    bytes += static_cast<uint32_t>(s.payload.size());
    acked = seq_max(acked, s.seq + static_cast<uint32_t>(s.payload.size()));
  }
  inject(peer(0, kTcpAck, {}, acked));
  for (const Seg& s : sent()) {
    bytes += static_cast<uint32_t>(s.payload.size());
  }
  EXPECT_EQ(bytes, 5000u);
}

TEST_F(TcpStateTest, AnOldAckDoesNotUpdateTheWindow) {
  // RFC 9293 3.10.7.4: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window
  // should be updated"; an ACK below SND.UNA is a duplicate to ignore, even
  // when its SEG.SEQ is past SND.WL1.
  const ConnHandle h = established();
  send_bytes(h, 1000);
  ASSERT_EQ(sent().size(), 1u);
  inject(peer(0, kTcpAck, {}, our_isn_ + 1001));  // WL1 = peer + 1
  inject(peer(0, kTcpAck, Bytes(10, 'd'), our_isn_ + 1001));
  sent();
  events();
  ASSERT_EQ(info(h).snd_una, our_isn_ + 1001);
  // An old ACK (below SND.UNA, within MAX.SND.WND of it, so acceptable)
  // with a newer SEG.SEQ and a zero window.
  Seg old = peer(10, kTcpAck, {}, our_isn_ + 1);
  old.win = 0;
  inject(old);
  EXPECT_EQ(info(h).snd_wnd, 65535u) << "window taken from an old ACK";
  send_bytes(h, 500, 1000);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u) << "data held back by a window from an old ACK";
  EXPECT_EQ(out[0].payload.size(), 500u);
}

TEST_F(TcpStateTest, TimestampEchoHoursOldGivesNoRttSample) {
  // RFC 7323 4.1: RTT = now - TSecr. A TSecr over 71 minutes old (still
  // "not ahead" of our clock in 32-bit sequence terms) overflowed the
  // microsecond product and fed a bogus sample of minutes: RTO went to its
  // maximum. Such an echo is no RTT of this connection: it is ignored.
  const ConnHandle h = accept_one([] {
    Bytes o = opt_mss(1460);
    append(o, opt_ts(100, 0));
    return o;
  }());
  const uint32_t rto_before = info(h).rto_ms;
  send_bytes(h, 1000);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].ts.has_value());
  Seg a = peer(0, kTcpAck, {}, our_isn_ + 1001);
  a.options = opt_ts(200, out[0].ts->first - 5'000'000);
  inject(a);
  const TcpConnInfo i = info(h);
  EXPECT_EQ(i.snd_una, our_isn_ + 1001);
  EXPECT_EQ(i.rto_ms, rto_before)
      << "RTO from an RTT of " << i.srtt_us << " us";
}

TEST_F(TcpStateTest, RetransmissionTimeoutBacksOffAndResets) {
  TcpConfig c = default_tcp_config();
  c.max_retries = 3;
  rebuild(c);
  const ConnHandle h = established();
  send_bytes(h, 1000);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  const Bytes first = out[0].payload;
  // The handshake gave an RTT sample (~0 ms): RTO is the 200 ms minimum.
  advance_ms(200);
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, our_isn_ + 1);
  EXPECT_EQ(out[0].payload, first) << "retransmitted by reference, same bytes";
  advance_ms(399);
  EXPECT_TRUE(sent().empty()) << "backed off to 400 ms";
  advance_ms(1);
  EXPECT_EQ(sent().size(), 1u);
  advance_ms(800);
  EXPECT_EQ(sent().size(), 1u);
  advance_ms(1600);  // the fourth expiry gives up with a RST
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags & kTcpRst, kTcpRst);
  const std::vector<TcpEvent> ev = events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().type, TcpEventType::kReset);
  EXPECT_EQ(ev.back().reason, TcpCloseReason::kTimeout);
}

TEST_F(TcpStateTest, PureAckAfterATimeoutCarriesSndMax) {
  // RFC 9293 forms an ACK as <SEQ=SND.NXT>, but a timeout rewinds SND.NXT
  // to SND.UNA. When the timeout came from lost ACKs, the peer's RCV.NXT
  // is already SND.MAX, and its acceptability test (RCV.NXT =< SEG.SEQ for
  // a zero-length segment) would drop an ACK at SND.NXT, acknowledgment
  // and window update with it. Pure ACKs carry SND.MAX, as the BSD stacks
  // do; it is never beyond the peer's window (our probes send no byte
  // past it).
  const ConnHandle h = established();
  send_bytes(h, 3000);
  ASSERT_FALSE(sent().empty());
  advance_ms(200);  // RTO: the first segment again, SND.NXT rewound
  ASSERT_EQ(sent().size(), 1u);
  ASSERT_NE(info(h).snd_nxt, info(h).snd_max);
  inject(peer(0, kTcpAck, Bytes(10, 'p')));
  inject(peer(10, kTcpAck, Bytes(10, 'q')));  // the second is ACKed at once
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].payload.empty());
  EXPECT_EQ(out[0].seq, our_isn_ + 1 + 3000) << "SND.MAX";
  EXPECT_EQ(out[0].ack, peer_isn_ + 1 + 20);
  // Why not SND.NXT: as a receiver, this stack too drops a zero-length
  // segment below RCV.NXT, even one whose ACK is new.
  inject(peer(0, kTcpAck, {}, our_isn_ + 1 + 3000));
  EXPECT_EQ(drops(DropReason::kTcpOutOfWindow), 1u);
  EXPECT_EQ(info(h).snd_una, our_isn_ + 1) << "its ACK was not used";
  EXPECT_EQ(sent().size(), 1u) << "answered with an ACK";
  events();
}

TEST_F(TcpStateTest, FastRetransmitOnThreeDupAcksAndOnSack) {
  for (bool sack : {false, true}) {
    rebuild(default_tcp_config());
    Bytes o = opt_mss(1000);
    if (sack) {
      append(o, opt_sack_ok());
    }
    const ConnHandle h = accept_one(o);
    send_bytes(h, 8000);
    std::vector<Seg> out = sent();
    ASSERT_EQ(out.size(), 8u);
    if (sack) {
      // One ACK with SACK of segments 2-4: IsLost(segment 1).
      Seg a = peer(0, kTcpAck);
      a.options = opt_sack({{our_isn_ + 1001, our_isn_ + 4001}});
      inject(a);
    } else {
      for (int i = 0; i < 3; ++i) {
        inject(peer(0, kTcpAck));
      }
    }
    out = sent();
    ASSERT_GE(out.size(), 1u) << "sack=" << sack;
    EXPECT_EQ(out[0].seq, our_isn_ + 1);
    EXPECT_EQ(out[0].payload.size(), 1000u);
    // With SACK, RFC 6675 rule 4 may add one rescue retransmission.
    EXPECT_GE(tcp_->stats().fast_retransmits, 1u);
    EXPECT_LE(tcp_->stats().fast_retransmits, sack ? 2u : 1u);
    EXPECT_TRUE(info(h).flags & kFlagRecovery);
    inject(peer(0, kTcpAck, {}, our_isn_ + 8001));  // full ACK
    EXPECT_FALSE(info(h).flags & kFlagRecovery);
    sent();
    events();
  }
}

TEST_F(TcpStateTest, SackRecoveryStaysInsideThePeersWindow) {
  // RFC 6675 5 (C): in recovery, NextSeg() rule 2 sends new data only as far
  // as the receiver's window allows, and the rescue retransmission (rule 4)
  // re-sends the highest *outstanding* unSACKed segment. 12000 bytes queued,
  // a 10500-byte window: 10 segments go (cwnd), segment 1 is lost, 2-9 are
  // SACKed. Nothing sent may end past SND.UNA + 10500. The last ISS puts
  // the window's end 500 bytes before the wrap and the queue's end 1000
  // after it.
  Bytes o = opt_mss(1000);
  append(o, opt_sack_ok());
  for (const uint32_t iss : {0x10000000u, 0x7fffd000u, 0u - 11001u}) {
    SCOPED_TRACE(iss);
    rebuild(default_tcp_config());
    const ConnHandle h = accept_with_our_isn(iss, o, 10500);
    const uint32_t una = iss + 1;
    const uint32_t wnd_end = una + 10500;
    send_bytes(h, 12000);
    std::vector<Seg> out = sent();
    ASSERT_EQ(out.size(), 10u);
    Seg a = peer(0, kTcpAck);
    a.win = 10500;
    a.options = opt_sack({{una + 1000, una + 9000}});
    inject(a);
    out = sent();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out[0].seq, una) << "fast retransmit of segment 1";
    bool rule2 = false;
    for (const Seg& s : out) {
      const uint32_t end = s.seq + static_cast<uint32_t>(s.payload.size());
      EXPECT_TRUE(seq_le(end, wnd_end))
          << "sent [" << s.seq - una << ", " << end - una
          << ") past the window's end 10500";
      if (s.seq == una + 10000) {
        rule2 = true;
        EXPECT_EQ(s.payload.size(), 500u) << "what the window allows";
      }
    }
    EXPECT_TRUE(rule2) << "rule 2: new data up to the window's end";
    EXPECT_TRUE(info(h).flags & kFlagRecovery);
    events();
  }
}

TEST_F(TcpStateTest, SackRecoveryRetransmitsOnlyTheHole) {
  // RFC 6675 NextSeg() rule 1: the first lost, unSACKed range, at most one
  // SMSS. SACKed [1000, 5000) and [5500, 9000) leave a 500-byte hole at
  // 5000 that counts as lost; its retransmission must not run on into the
  // SACKed bytes after it. The second ISS puts the hole's end before the
  // wrap and the queue's end after it.
  Bytes o = opt_mss(1000);
  append(o, opt_sack_ok());
  for (const uint32_t iss : {0x10000000u, 0u - 11001u}) {
    SCOPED_TRACE(iss);
    rebuild(default_tcp_config());
    const ConnHandle h = accept_with_our_isn(iss, o, 65535);
    const uint32_t una = iss + 1;
    send_bytes(h, 12000);
    ASSERT_EQ(sent().size(), 10u);
    Seg a = peer(0, kTcpAck);
    a.options = opt_sack({{una + 1000, una + 5000}, {una + 5500, una + 9000}});
    inject(a);
    bool hole = false;
    for (const Seg& s : sent()) {
      if (s.seq == una + 5000) {
        hole = true;
        EXPECT_EQ(s.payload.size(), 500u) << "the hole, not SACKed bytes";
      }
    }
    EXPECT_TRUE(hole) << "the hole at 5000 is retransmitted";
    EXPECT_TRUE(info(h).flags & kFlagRecovery);
    events();
  }
}

// --- Sequence numbers at the wrap ------------------------------------------

TEST_F(TcpStateTest, OurIsnAtTheWrapSendsRetransmitsAndCloses) {
  // Our sequence numbers cross 2^32 (or 2^31) in the data: segmenting,
  // the cumulative ACK freeing the send queue, an RTO retransmission from
  // the queue, and the FIN's ACK (SND.UNA = end of data + 1).
  for (const uint32_t iss : {0xffffffffu, 0xfffffc00u, 0x7fffffffu, 0u}) {
    SCOPED_TRACE(iss);
    rebuild(default_tcp_config());
    const ConnHandle h = accept_with_our_isn(iss, opt_mss(1000), 65535);
    send_bytes(h, 3000);
    std::vector<Seg> out = sent();
    ASSERT_EQ(out.size(), 3u);
    for (uint32_t i = 0; i < 3; ++i) {
      EXPECT_EQ(out[i].seq, iss + 1 + 1000 * i);
      ASSERT_EQ(out[i].payload.size(), 1000u);
      EXPECT_EQ(out[i].payload[999], pattern_byte(5, 1000 * i + 999));
    }
    inject(peer(0, kTcpAck, {}, iss + 1001));
    EXPECT_EQ(info(h).sq_bytes, 2000u);
    out.clear();
    for (int ms = 0; ms < 2000 && out.empty(); ms += 10) {
      advance_ms(10);
      out = sent();
    }
    ASSERT_FALSE(out.empty()) << "RTO";
    EXPECT_EQ(out[0].seq, iss + 1001);
    ASSERT_EQ(out[0].payload.size(), 1000u);
    EXPECT_EQ(out[0].payload[0], pattern_byte(5, 1000));
    inject(peer(0, kTcpAck, {}, iss + 3001));
    EXPECT_EQ(info(h).snd_una, iss + 3001);
    EXPECT_EQ(info(h).sq_bytes, 0u);
    sent();
    ASSERT_EQ(tcp_->shutdown_write(h, now_), TcpResult::kOk);
    out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].flags, kTcpAck | kTcpFin);
    EXPECT_EQ(out[0].seq, iss + 3001);
    inject(peer(0, kTcpAck | kTcpFin, {}, iss + 3002));
    EXPECT_EQ(state(h), TcpState::kTimeWait);
    events();
    sent();
  }
}

TEST_F(TcpStateTest, PeerIsnAtTheWrapReassemblesAndCloses) {
  // The peer's sequence numbers cross 2^32 (or 2^31) inside out-of-order
  // data: SACK blocks, reassembly and the FIN's place.
  for (const uint32_t isn : {0xffffffffu, 0xffffff00u, 0x7fffff80u}) {
    SCOPED_TRACE(isn);
    rebuild(default_tcp_config());
    peer_isn_ = isn;
    const ConnHandle h = accept_one([] {
      Bytes o = opt_mss(1460);
      append(o, opt_sack_ok());
      return o;
    }());
    inject(peer(300, kTcpAck, Bytes(100, 'd')));
    inject(peer(100, kTcpAck, Bytes(200, 'b')));
    std::vector<Seg> out = sent();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().ack, isn + 1);
    ASSERT_EQ(out.back().sack.size(), 1u) << "merged into one range";
    EXPECT_EQ(out.back().sack[0].first, isn + 101);
    EXPECT_EQ(out.back().sack[0].second, isn + 401);
    inject(peer(0, kTcpAck, Bytes(100, 'a')));
    out = sent();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().ack, isn + 401);
    EXPECT_TRUE(out.back().sack.empty());
    inject(peer(400, kTcpAck | kTcpFin));
    out = sent();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().ack, isn + 402);
    EXPECT_EQ(state(h), TcpState::kCloseWait);
    data_.clear();
    events();
    ASSERT_EQ(data_.size(), 400u);
    EXPECT_EQ(data_[0], 'a');
    EXPECT_EQ(data_[150], 'b');
    EXPECT_EQ(data_[399], 'd');
  }
}

// --- Closing ---------------------------------------------------------------

TEST_F(TcpStateTest, PassiveCloseThroughLastAck) {
  const ConnHandle h = established();
  inject(peer(0, kTcpAck | kTcpFin, Bytes(5, 'x')));
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, peer_isn_ + 7);  // data and FIN
  EXPECT_EQ(state(h), TcpState::kCloseWait);
  std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, TcpEventType::kData);
  EXPECT_EQ(ev[1].type, TcpEventType::kPeerClosed);
  send_bytes(h, 10);  // CLOSE-WAIT may still send
  EXPECT_EQ(tcp_->close(h, now_), TcpResult::kOk);
  out = sent();
  ASSERT_GE(out.size(), 1u);
  EXPECT_TRUE(out.back().flags & kTcpFin);
  EXPECT_EQ(state(h), TcpState::kLastAck);
  inject(peer(6, kTcpAck, {}, our_isn_ + 12));
  ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kClosed);
  EXPECT_EQ(ev[0].reason, TcpCloseReason::kNormal);
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_EQ(tcp_->send(h, nullptr, now_), TcpResult::kStaleHandle);
}

TEST_F(TcpStateTest, ActiveCloseThroughTimeWait) {
  const ConnHandle h = established();
  ASSERT_EQ(tcp_->shutdown_write(h, now_), TcpResult::kOk);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpAck | kTcpFin);
  EXPECT_EQ(state(h), TcpState::kFinWait1);
  inject(peer(0, kTcpAck, {}, our_isn_ + 2));
  EXPECT_EQ(state(h), TcpState::kFinWait2);
  inject(peer(0, kTcpAck, Bytes(3, 'r'), our_isn_ + 2));  // still reads
  inject(peer(3, kTcpAck | kTcpFin, {}, our_isn_ + 2));
  out = sent();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().ack, peer_isn_ + 5);
  EXPECT_EQ(state(h), TcpState::kTimeWait);
  std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].type, TcpEventType::kData);
  EXPECT_EQ(ev[1].type, TcpEventType::kPeerClosed);
  EXPECT_EQ(ev[2].type, TcpEventType::kClosed);
  EXPECT_EQ(tcp_->connections(), 1u) << "TIME-WAIT keeps the pair";
  EXPECT_EQ(tcp_->send(h, nullptr, now_), TcpResult::kStaleHandle)
      << "after kClosed the handle is stale";
  // A retransmitted FIN is ACKed again and restarts 2 MSL.
  advance_ms(50'000);
  inject(peer(3, kTcpAck | kTcpFin, {}, our_isn_ + 2));
  EXPECT_EQ(sent().size(), 1u);
  advance_ms(50'000);
  EXPECT_EQ(tcp_->connections(), 1u);
  // A RST does not end TIME-WAIT (RFC 1337).
  inject(peer(4, kTcpRst));
  EXPECT_EQ(drops(DropReason::kTcpRstInTimeWait), 1u);
  advance_ms(10'001);
  EXPECT_EQ(tcp_->connections(), 0u);
}

TEST_F(TcpStateTest, SimultaneousCloseThroughClosing) {
  const ConnHandle h = established();
  tcp_->shutdown_write(h, now_);
  sent();
  inject(peer(0, kTcpAck | kTcpFin, {}, our_isn_ + 1));  // FIN, ours not ACKed
  EXPECT_EQ(state(h), TcpState::kClosing);
  inject(peer(1, kTcpAck, {}, our_isn_ + 2));
  EXPECT_EQ(state(h), TcpState::kTimeWait);
  // FIN-WAIT-1 straight to TIME-WAIT with FIN and ACK together.
  sent();
  events();
  rebuild(default_tcp_config());
  const ConnHandle h2 = established();
  tcp_->shutdown_write(h2, now_);
  inject(peer(0, kTcpAck | kTcpFin, {}, our_isn_ + 2));
  EXPECT_EQ(state(h2), TcpState::kTimeWait);
  sent();
  events();
}

TEST_F(TcpStateTest, TimeWaitReopenedByNewerSyn) {
  const ConnHandle h = established();
  tcp_->shutdown_write(h, now_);
  inject(peer(0, kTcpAck | kTcpFin, {}, our_isn_ + 2));
  ASSERT_EQ(state(h), TcpState::kTimeWait);
  sent();
  events();
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = peer_isn_ + 100000,
             .flags = kTcpSyn,
             .win = 1000});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(tcp_->stats().time_wait_reused, 1u);
  EXPECT_EQ(tcp_->send(h, nullptr, now_), TcpResult::kStaleHandle);
}

TEST_F(TcpStateTest, AbortSendsRstAndFreesAtOnce) {
  const ConnHandle h = established();
  send_bytes(h, 100);
  sent();
  EXPECT_EQ(tcp_->abort(h, now_), TcpResult::kOk);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(out[0].seq, our_isn_ + 101);
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(tcp_->abort(h, now_), TcpResult::kStaleHandle);
  EXPECT_EQ(tcp_->abort(ConnHandle::of(1, h.slot(), h.generation()), now_),
            TcpResult::kWrongWorker);
  EXPECT_EQ(tcp_->consumed(h, 1, now_), TcpResult::kStaleHandle);
  EXPECT_GE(tcp_->stats().stale_handle_calls, 2u);
}

// --- RST and SYN in synchronized states (RFC 5961) -------------------------

TEST_F(TcpStateTest, RstIsExactInWindowOrOutside) {
  ConnHandle h = established();
  inject(peer(10, kTcpRst));  // in window, not exact: challenge ACK
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpAck);
  EXPECT_EQ(out[0].ack, peer_isn_ + 1);
  EXPECT_EQ(drops(DropReason::kTcpRstChallenged), 1u);
  inject(peer(1'000'000, kTcpRst));  // outside: silently dropped
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(drops(DropReason::kTcpOutOfWindow), 1u);
  EXPECT_EQ(state(h), TcpState::kEstablished);
  inject(peer(0, kTcpRst));  // exact
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].reason, TcpCloseReason::kPeerReset);
  EXPECT_EQ(tcp_->connections(), 0u);
}

// As Linux (tcp_reset_check): after the peer's FIN, a RST at RCV.NXT - 1
// is what a peer that closed its socket sends in answer to data we sent
// before our ACK of its FIN; it resets. Before the FIN it is out of window.
TEST_F(TcpStateTest, RstOneBelowRcvNxtAfterThePeersFinResets) {
  const ConnHandle h = established();
  inject(peer(UINT32_MAX, kTcpRst));  // RCV.NXT - 1 in ESTABLISHED
  EXPECT_EQ(drops(DropReason::kTcpOutOfWindow), 1u);
  EXPECT_EQ(state(h), TcpState::kEstablished);
  inject(peer(0, kTcpAck | kTcpFin));
  sent();
  events();
  EXPECT_EQ(state(h), TcpState::kCloseWait);
  send_bytes(h, 10);  // our close_notify, say, stamped ACK = RCV.NXT - 1
  sent();
  inject(peer(0, kTcpRst));  // the FIN's own sequence number
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].reason, TcpCloseReason::kPeerReset);
  EXPECT_EQ(tcp_->connections(), 0u);
  EXPECT_EQ(drops(DropReason::kTcpOutOfWindow), 1u);
}

TEST_F(TcpStateTest, SynInSynchronizedStateGetsChallengeAck) {
  const ConnHandle h = established();
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = peer_isn_ + 50,
             .flags = kTcpSyn,
             .win = 100});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpAck);
  EXPECT_EQ(drops(DropReason::kTcpSynChallenged), 1u);
  EXPECT_EQ(state(h), TcpState::kEstablished);
}

TEST_F(TcpStateTest, ChallengeAcksAreRateLimited) {
  TcpConfig c = default_tcp_config();
  c.challenge_acks_per_sec = 2;
  rebuild(c);
  established();
  for (int i = 0; i < 5; ++i) {
    inject(peer(10 + i, kTcpRst));
  }
  EXPECT_EQ(sent().size(), 2u);
  EXPECT_EQ(tcp_->stats().challenge_acks_limited, 3u);
  advance_ms(1000);
  inject(peer(20, kTcpRst));
  EXPECT_EQ(sent().size(), 1u);
}

TEST_F(TcpStateTest, ResetInEveryState) {
  struct Case {
    const char* name;
    std::function<void(ConnHandle)> reach;
    TcpState expect;
    bool resets;
  };
  const std::vector<Case> cases = {
      {"ESTABLISHED", [](ConnHandle) {}, TcpState::kEstablished, true},
      {"FIN-WAIT-1", [&](ConnHandle h) { tcp_->shutdown_write(h, now_); },
       TcpState::kFinWait1, true},
      {"FIN-WAIT-2",
       [&](ConnHandle h) {
         tcp_->shutdown_write(h, now_);
         inject(peer(0, kTcpAck, {}, our_isn_ + 2));
       },
       TcpState::kFinWait2, true},
      {"CLOSE-WAIT", [&](ConnHandle) { inject(peer(0, kTcpAck | kTcpFin)); },
       TcpState::kCloseWait, true},
      {"CLOSING",
       [&](ConnHandle h) {
         tcp_->shutdown_write(h, now_);
         inject(peer(0, kTcpAck | kTcpFin));
       },
       TcpState::kClosing, true},
      {"LAST-ACK",
       [&](ConnHandle h) {
         inject(peer(0, kTcpAck | kTcpFin));
         tcp_->close(h, now_);
       },
       TcpState::kLastAck, true},
      {"TIME-WAIT",
       [&](ConnHandle h) {
         tcp_->shutdown_write(h, now_);
         inject(peer(0, kTcpAck | kTcpFin, {}, our_isn_ + 2));
       },
       TcpState::kTimeWait, false},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    rebuild(default_tcp_config());
    const ConnHandle h = established();
    k.reach(h);
    ASSERT_EQ(state(h), k.expect);
    sent();
    events();
    const bool fin_in =
        k.expect == TcpState::kCloseWait || k.expect == TcpState::kClosing ||
        k.expect == TcpState::kLastAck || k.expect == TcpState::kTimeWait;
    inject(peer(fin_in ? 1 : 0, kTcpRst));
    if (k.resets) {
      EXPECT_EQ(tcp_->connections(), 0u);
      const std::vector<TcpEvent> ev = events();
      ASSERT_EQ(ev.size(), 1u);
      EXPECT_EQ(ev[0].type, TcpEventType::kReset);
    } else {
      EXPECT_EQ(tcp_->connections(), 1u);
    }
    sent();
  }
}

TEST_F(TcpStateTest, CloseInEveryState) {
  // close() from each state ends with exactly one kClosed (or kReset).
  Seg syn;
  ConnHandle h = connect_one(&syn);
  EXPECT_EQ(tcp_->close(h, now_), TcpResult::kOk);  // SYN-SENT: just goes
  std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kClosed);
  EXPECT_EQ(tcp_->connections(), 0u);
  sent();

  h = established();
  EXPECT_EQ(tcp_->close(h, now_), TcpResult::kOk);
  EXPECT_EQ(state(h), TcpState::kFinWait1);
  inject(peer(0, kTcpAck, {}, our_isn_ + 2));
  EXPECT_EQ(state(h), TcpState::kFinWait2);
  // Data after close() is ACKed and discarded.
  inject(peer(0, kTcpAck, Bytes(7, 'd'), our_isn_ + 2));
  EXPECT_EQ(drops(DropReason::kTcpDataAfterClose), 1u);
  // An orphaned FIN-WAIT-2 times out.
  advance_ms(60'001);
  ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kClosed);
  EXPECT_EQ(tcp_->connections(), 0u);
  sent();
}

TEST_F(TcpStateTest, AfterCloseTheOutOfOrderQueueIsAckedWithTheHole) {
  // Data after close() is ACKed and discarded. [200, 300) and the peer's
  // FIN came before close(), beyond a hole; when [0, 200) fills the hole,
  // the ACK covers the queued range and the FIN too (as it would without
  // close()). Left behind, the range was SACKed but never ACKed (reneged)
  // and the FIN waited for the peer's retransmission timeouts.
  const ConnHandle h = accept_one([] {
    Bytes o = opt_mss(1460);
    append(o, opt_sack_ok());
    return o;
  }());
  inject(peer(200, kTcpAck | kTcpFin, Bytes(100, 'b')));
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].sack.size(), 1u);
  EXPECT_EQ(tcp_->close(h, now_), TcpResult::kOk);
  EXPECT_EQ(state(h), TcpState::kFinWait1);
  sent();
  inject(peer(0, kTcpAck, Bytes(200, 'a'), our_isn_ + 2));
  out = sent();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().ack, peer_isn_ + 302) << "data, queued range and FIN";
  EXPECT_TRUE(out.back().sack.empty());
  EXPECT_EQ(state(h), TcpState::kTimeWait);
  events();
}

// --- No connection, listeners, cookies, limits -----------------------------

TEST_F(TcpStateTest, ClosedPortsAnswerWithRst) {
  inject(Seg{.sport = 1234, .dport = 81, .seq = 77, .flags = kTcpSyn});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst | kTcpAck);
  EXPECT_EQ(out[0].seq, 0u);
  EXPECT_EQ(out[0].ack, 78u);
  inject(Seg{.sport = 1234,
             .dport = 81,
             .seq = 77,
             .ack = 999,
             .flags = kTcpAck,
             .payload = Bytes(3, 1)});
  out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(out[0].seq, 999u);
  inject(Seg{.sport = 1234, .dport = 81, .seq = 77, .flags = kTcpRst});
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(drops(DropReason::kTcpNoConnection), 3u);
  EXPECT_EQ(tcp_->stats().rst_tx, 2u);
}

TEST_F(TcpStateTest, SynCookiesWhenTheBacklogIsFull) {
  TcpConfig c = default_tcp_config();
  c.syn_backlog = 0;
  rebuild(c);
  tcp_->listen(TcpListen{.port = 80, .user = 3});
  Bytes o = opt_mss(1400);
  append(o, opt_wscale(5));
  append(o, opt_sack_ok());
  append(o, opt_ts(1111, 0));
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = peer_isn_,
             .flags = kTcpSyn,
             .win = 1000,
             .options = o});
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(tcp_->connections(), 0u) << "no state kept";
  EXPECT_EQ(tcp_->stats().syn_cookies_sent, 1u);
  ASSERT_TRUE(out[0].ts.has_value());
  our_isn_ = out[0].seq;
  // A forged ACK is refused.
  Seg forged = peer(0, kTcpAck, {}, our_isn_ + 2);
  forged.options = opt_ts(1112, out[0].ts->first);
  inject(forged);
  EXPECT_EQ(drops(DropReason::kTcpBadSynCookie), 1u);
  EXPECT_EQ(sent().at(0).flags, kTcpRst);
  // The real one, with data, makes the connection.
  Seg ack = peer(0, kTcpAck, Bytes(4, 'k'));
  ack.options = opt_ts(1112, out[0].ts->first);
  inject(ack);
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, TcpEventType::kAccepted);
  EXPECT_EQ(ev[0].user, 3u);
  EXPECT_EQ(data_, Bytes(4, 'k'));
  const TcpConnInfo i = info(ev[0].conn);
  EXPECT_EQ(i.smss, 1400 - 12);  // the cookie's MSS table entry
  EXPECT_EQ(i.snd_wscale, 5);    // carried in our TSval
  EXPECT_TRUE(i.flags & kFlagSack);
  EXPECT_EQ(tcp_->stats().syn_cookies_ok, 1u);
}

TEST_F(TcpStateTest, SynCookieConnectionUpdatesTsRecentAsOthersDo) {
  // RFC 7323 4.3: TS.Recent takes a segment's TSval only when SEG.SEQ =<
  // Last.ACK.sent, so a segment that overtook an earlier one cannot get
  // that one dropped by PAWS. A connection made from a cookie left
  // Last.ACK.sent at 0, not the RCV.NXT its SYN-ACK acknowledged; for the
  // half of peer ISNs where SEG.SEQ =< 0 in sequence space, [200, 300)
  // arriving before [100, 200) set TS.Recent, and [100, 200) was dropped.
  TcpConfig c = default_tcp_config();
  c.syn_backlog = 0;
  for (const uint32_t isn : {1000u, 0x90000000u}) {
    SCOPED_TRACE(isn);
    rebuild(c);
    peer_isn_ = isn;
    tcp_->listen(TcpListen{.port = 80});
    Bytes o = opt_mss(1460);
    append(o, opt_ts(1111, 0));
    inject(Seg{.sport = 40000,
               .dport = 80,
               .seq = peer_isn_,
               .flags = kTcpSyn,
               .win = 65535,
               .options = o});
    std::vector<Seg> out = sent();
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(out[0].ts.has_value());
    our_isn_ = out[0].seq;
    const uint32_t ecr = out[0].ts->first;
    Seg first = peer(0, kTcpAck, Bytes(100, 'a'));
    first.options = opt_ts(1112, ecr);
    inject(first);
    ASSERT_EQ(tcp_->stats().syn_cookies_ok, 1u);
    Seg third = peer(200, kTcpAck, Bytes(100, 'c'));
    third.options = opt_ts(1114, ecr);
    inject(third);
    Seg second = peer(100, kTcpAck, Bytes(100, 'b'));
    second.options = opt_ts(1113, ecr);
    inject(second);
    EXPECT_EQ(drops(DropReason::kTcpPaws), 0u);
    out = sent();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back().ack, peer_isn_ + 301);
    data_.clear();
    events();
    EXPECT_EQ(data_.size(), 300u);
  }
}

TEST_F(TcpStateTest, ConnectionLimitAndListenerErrors) {
  TcpConfig c = default_tcp_config();
  c.max_connections = 1;
  c.syn_cookies = false;
  rebuild(c);
  EXPECT_EQ(tcp_->listen(TcpListen{.port = 0}), TcpResult::kInvalidArgument);
  EXPECT_EQ(tcp_->listen(TcpListen{.port = 80}), TcpResult::kOk);
  EXPECT_EQ(tcp_->listen(TcpListen{.port = 80}), TcpResult::kAddressInUse);
  inject(Seg{.sport = 1, .dport = 80, .seq = 1, .flags = kTcpSyn});
  inject(Seg{.sport = 2, .dport = 80, .seq = 1, .flags = kTcpSyn});
  EXPECT_EQ(drops(DropReason::kTcpConnLimit), 1u);
  EXPECT_EQ(sent().size(), 1u);
  ConnHandle h;
  EXPECT_EQ(
      tcp_->connect(
          TcpConnect{.local4 = kOurIp, .remote4 = kPeerIp, .remote_port = 80},
          now_, &h),
      TcpResult::kNoResources);
  EXPECT_EQ(
      tcp_->connect(
          TcpConnect{.local4 = kPeerIp, .remote4 = kOurIp, .remote_port = 80},
          now_, &h),
      TcpResult::kInvalidArgument)
      << "local address not ours";
  std::string err;
  c.max_connections = 0;
  EXPECT_EQ(TcpStack::create(c, net_.get(), tcp_pool(), &err), nullptr);
  EXPECT_FALSE(err.empty());
}

TEST_F(TcpStateTest, ActiveOpenPicksAPortRssSteersBack) {
  const uint8_t key[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
                           0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
                           0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
                           0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
                           0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  TcpConfig c = default_tcp_config();
  c.rss = RssHash::toeplitz(key, 4);
  c.worker_id = 2;
  rebuild(c);
  std::set<uint16_t> ports;
  for (int i = 0; i < 20; ++i) {
    ConnHandle h;
    ASSERT_EQ(tcp_->connect(
                  TcpConnect{
                      .local4 = kOurIp, .remote4 = kPeerIp, .remote_port = 443},
                  now_, &h),
              TcpResult::kOk);
    EXPECT_EQ(h.worker(), 2);
    TcpConnInfo info_out;
    ASSERT_TRUE(tcp_->info(h, &info_out));
    EXPECT_EQ(c.rss.worker_for(info_out.key), 2);
    ports.insert(info_out.key.local_port);
  }
  EXPECT_EQ(ports.size(), 20u);
  sent();
}

TEST_F(TcpStateTest, KeepAliveProbesThenGivesUp) {
  TcpConfig c = default_tcp_config();
  c.keepalive = true;
  c.keepalive_idle_ms = 1000;
  c.keepalive_interval_ms = 100;
  c.keepalive_probes = 2;
  rebuild(c);
  established();
  advance_ms(1000);
  std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, our_isn_);  // SND.NXT - 1
  inject(peer(0, kTcpAck));         // the answer resets the count
  advance_ms(1000);
  EXPECT_EQ(sent().size(), 1u);
  advance_ms(100);
  EXPECT_EQ(sent().size(), 1u);
  advance_ms(100);
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kReset);
  EXPECT_EQ(ev[0].reason, TcpCloseReason::kTimeout);
  EXPECT_EQ(tcp_->stats().keepalive_probes, 3u);
}

TEST_F(TcpStateTest, UnreadPausesDeliveryUntilConsumed) {
  const ConnHandle h = established();
  inject(peer(0, kTcpAck, Bytes(100, 'a')));
  TcpEvent ev[4];
  ASSERT_EQ(tcp_->poll_events(ev, 4), 1u);
  ASSERT_EQ(ev[0].type, TcpEventType::kData);
  // Keep 40 bytes, give 60 back.
  rte_mbuf* rest = rte_pktmbuf_copy(ev[0].data, tcp_pool(), 40, 60);
  rte_pktmbuf_free(ev[0].data);
  ASSERT_EQ(tcp_->unread(h, rest), TcpResult::kOk);
  inject(peer(100, kTcpAck, Bytes(10, 'b')));
  EXPECT_EQ(tcp_->poll_events(ev, 4), 0u) << "paused";
  EXPECT_EQ(info(h).rq_bytes, 70u);
  tcp_->consumed(h, 40, now_);
  ASSERT_EQ(tcp_->poll_events(ev, 4), 1u);
  EXPECT_EQ(ev[0].len, 70u);
  const Bytes got = to_bytes(ev[0].data);
  EXPECT_EQ(got[0], 'a');
  EXPECT_EQ(got[69], 'b');
  rte_pktmbuf_free(ev[0].data);
  sent();
}

TEST_F(TcpStateTest, SendRefusesWhenFullThenSignalsWritable) {
  TcpConfig c = default_tcp_config();
  c.snd_buf = 8192;
  rebuild(c);
  const ConnHandle h = established();
  send_bytes(h, 8000);
  rte_mbuf* m = pattern_chain(tcp_pool(), 5, 8000, 1000);
  EXPECT_EQ(tcp_->send(h, m, now_), TcpResult::kWouldBlock);
  rte_pktmbuf_free(m);
  EXPECT_EQ(tcp_->send_space(h), 192u);
  inject(peer(0, kTcpAck, {}, our_isn_ + 1 + 536 * 10));
  const std::vector<TcpEvent> ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, TcpEventType::kWritable);
  sent();
}

// --- Malformed headers -----------------------------------------------------

TEST_F(TcpStateTest, MalformedSegmentsAreDroppedWithAReason) {
  established();
  sent();
  const auto expect_drop = [&](const Seg& s, DropReason r) {
    const uint64_t before = drops(r);
    inject(s);
    EXPECT_EQ(drops(r), before + 1) << drop_reason_name(r);
    EXPECT_TRUE(sent().empty()) << drop_reason_name(r);
  };
  Seg s = peer(0, kTcpAck, Bytes(10, 'x'));
  s.bad_checksum = true;
  expect_drop(s, DropReason::kTcpBadChecksum);
  s = peer(0, kTcpAck);
  s.data_offset_words = 4;
  expect_drop(s, DropReason::kTcpBadDataOffset);
  s = peer(0, kTcpAck);
  s.data_offset_words = 15;  // 60 bytes of header in a 20-byte segment
  expect_drop(s, DropReason::kTcpBadDataOffset);
  s = peer(0, kTcpAck);
  s.options = {2, 3, 5, 0};  // MSS with length 3
  expect_drop(s, DropReason::kTcpBadOption);
  s = peer(0, kTcpAck);
  s.options = {8, 0, 0, 0};  // length 0
  expect_drop(s, DropReason::kTcpBadOption);
  s = peer(0, kTcpAck);
  s.options = {1, 1, 8, 12};  // runs past the header
  expect_drop(s, DropReason::kTcpBadOption);
  s = peer(0, kTcpAck);
  s.options = {5, 6, 0, 0, 0, 0, 0, 0};  // SACK not a multiple of 8
  expect_drop(s, DropReason::kTcpBadOption);
  expect_drop(peer(0, kTcpSyn | kTcpFin), DropReason::kTcpBadFlags);
  expect_drop(peer(0, kTcpSyn | kTcpRst), DropReason::kTcpBadFlags);
  expect_drop(peer(0, 0), DropReason::kTcpBadFlags);
  expect_drop(peer(0, kTcpFin | kTcpPsh | kTcpUrg), DropReason::kTcpBadFlags);
  s = peer(0, kTcpAck);
  s.sport = 0;
  expect_drop(s, DropReason::kTcpBadPort);
  // Truncated: a 12-byte "TCP header".
  Bytes frame = eth(kOurMac, kPeerMac, 0x0800);
  append(frame, ipv4(kPeerIp, kOurIp, 6, Bytes(12, 0)));
  rte_mbuf* m = make_mbuf(frame);
  net_->rx(&m, 1, now_);
  L4Packet p[2];
  ASSERT_EQ(net_->poll_deliveries(p, 2), 1u);
  tcp_->rx(p, 1, now_);
  EXPECT_EQ(drops(DropReason::kTcpTruncated), 1u);
  // Every received segment is accounted for exactly once.
  const TcpStats& st = tcp_->stats();
  EXPECT_EQ(st.segs_rx, st.segs_absorbed + st.segs_queued + st.total_drops());
}

// Two workers' stacks on one port (net::StraySink): the fixture's stack
// holds a connection, `other_` is the second worker's. A segment of that
// connection that lands on the other worker is passed on, not reset; one
// no worker knows is answered with RST by the last to look; a SYN opens
// where it lands; a full ring means the segment is answered where it is.
class TcpStrayTest : public TcpStateTest, public StraySink {
 protected:
  TcpStrayTest() {
    std::string error;
    other_net_ = NetStack::create(raw_net_config(), tcp_pool(), &error);
    other_ = TcpStack::create(default_tcp_config(), other_net_.get(),
                              tcp_pool(), &error);
    EXPECT_NE(other_, nullptr) << error;
    Bytes f = eth(kOurMac, kPeerMac, 0x0806);
    append(f, arp(2, kPeerMac, kPeerIp, kOurMac, kOurIp));
    rte_mbuf* m = make_mbuf(f);
    other_net_->rx(&m, 1, now_);
    other_->listen(TcpListen{.port = 80, .user = 7});
    other_->set_stray_sink(this, 2);
    tcp_->set_stray_sink(this, 2);
  }
  ~TcpStrayTest() override {
    for (StraySegment& s : ring_) {
      rte_pktmbuf_free(s.pkt.mbuf);
    }
    other_.reset();
    other_net_.reset();
  }
  bool forward_stray(const StraySegment& s) override {
    if (ring_full_) {
      return false;
    }
    ring_.push_back(s);
    return true;
  }
  // Feeds a segment to the other worker's stack.
  void inject_other(const Seg& s) {
    rte_mbuf* m = make_mbuf(tcp_frame(s));
    other_net_->rx(&m, 1, now_);
    L4Packet p[8];
    for (uint16_t n; (n = other_net_->poll_deliveries(p, 8)) > 0;) {
      other_->rx(p, n, now_);
    }
  }
  // What the other worker's stack sent.
  std::vector<Seg> sent_other() {
    std::vector<Seg> out;
    rte_mbuf* pkts[32];
    for (uint16_t n; (n = other_net_->drain_tx(pkts, 32)) > 0;) {
      for (uint16_t i = 0; i < n; ++i) {
        if (std::optional<Seg> s = parse_frame(to_bytes(pkts[i]))) {
          out.push_back(*s);
        }
        rte_pktmbuf_free(pkts[i]);
      }
    }
    return out;
  }
  // Hands what the ring holds to `to` (the next worker).
  void deliver_ring(TcpStack& to) {
    std::vector<StraySegment> segs;
    segs.swap(ring_);
    to.rx_strays(segs.data(), static_cast<uint16_t>(segs.size()), now_);
  }

  std::unique_ptr<NetStack> other_net_;
  std::unique_ptr<TcpStack> other_;
  std::vector<StraySegment> ring_;
  bool ring_full_ = false;
};

TEST_F(TcpStrayTest, SegmentOfAnotherWorkersConnectionIsPassedOn) {
  const ConnHandle h = established();
  inject_other(peer(0, kTcpAck | kTcpPsh, Bytes(100, 0x5a)));
  EXPECT_TRUE(sent_other().empty());  // no RST from the wrong worker
  ASSERT_EQ(ring_.size(), 1u);
  EXPECT_EQ(ring_[0].hops, 1);
  EXPECT_EQ(other_->stats().strays_forwarded, 1u);
  deliver_ring(*tcp_);
  bool data = false;
  for (const TcpEvent& e : events()) {
    data |= e.type == TcpEventType::kData && e.conn == h;
  }
  EXPECT_TRUE(data);
  EXPECT_EQ(data_, Bytes(100, 0x5a));
  EXPECT_EQ(state(h), TcpState::kEstablished);
  EXPECT_EQ(tcp_->stats().strays_forwarded, 0u);
  // Each stack accounts for every segment it got exactly once; the one
  // that passed it on counts it there.
  for (const TcpStack* t : {tcp_.get(), other_.get()}) {
    const TcpStats& st = t->stats();
    EXPECT_EQ(st.segs_rx, st.segs_absorbed + st.segs_queued + st.total_drops() +
                              st.strays_forwarded);
  }
}

// An ICMP too-big report hashes on the router's address, not the flow's,
// so with several workers it usually lands on one that does not hold the
// connection: it is passed on (counted pmtu_reports_forwarded, and in
// strays_forwarded) and lowers the MSS where the connection lives.
TEST_F(TcpStrayTest, TooBigReportOfAnotherWorkersConnectionIsPassedOn) {
  const ConnHandle h = established();
  send_bytes(h, 2 * 1460);
  const std::vector<Seg> first = sent();
  ASSERT_EQ(first.size(), 2u);
  Bytes f = eth(kOurMac, kPeerMac, 0x0800);
  Ipv4Opts quoted;
  quoted.total_len = 1500;
  append(f, ipv4(Ipv4Addr::of(198, 18, 0, 254), kOurIp, 1,
                 icmp_frag_needed(
                     1280, ipv4(kOurIp, kPeerIp, 6,
                                tcp_quote(80, 40000, first[0].seq), quoted))));
  rte_mbuf* m = make_mbuf(f);
  other_net_->rx(&m, 1, now_);
  L4Packet p[8];
  for (uint16_t n; (n = other_net_->poll_deliveries(p, 8)) > 0;) {
    other_->rx(p, n, now_);
  }
  EXPECT_EQ(other_net_->stats().icmp_too_big_rx, 1u);
  ASSERT_EQ(ring_.size(), 1u);
  EXPECT_EQ(ring_[0].hops, 1);
  EXPECT_EQ(other_->stats().pmtu_reports_forwarded, 1u);
  EXPECT_EQ(other_->stats().strays_forwarded, 1u);
  EXPECT_EQ(other_->stats().pmtu_updates, 0u);
  EXPECT_EQ(other_->stats().total_drops(), 0u);
  deliver_ring(*tcp_);
  EXPECT_EQ(tcp_->stats().pmtu_updates, 1u);
  EXPECT_EQ(tcp_->stats().pmtu_reports_forwarded, 0u);
  EXPECT_EQ(info(h).smss, 1280 - 20 - 20);
  // What was in flight goes again at once, in segments that fit.
  const std::vector<Seg> again = sent();
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again[0].seq, first[0].seq);
  for (const Seg& s : again) {
    EXPECT_LE(s.payload.size(), 1240u);
  }
}

TEST_F(TcpStrayTest, SegmentNoWorkerKnowsIsResetByTheLast) {
  const Seg stray{.sport = 41000,
                  .dport = 80,
                  .seq = 5,
                  .ack = 77,
                  .flags = kTcpAck,
                  .win = 100};
  inject_other(stray);
  EXPECT_TRUE(sent_other().empty());
  ASSERT_EQ(ring_.size(), 1u);
  deliver_ring(*tcp_);  // hops 1 of 2: this stack is the last to look
  EXPECT_TRUE(ring_.empty());
  const std::vector<Seg> out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(out[0].seq, 77u);  // <SEQ=SEG.ACK><CTL=RST>
  EXPECT_EQ(tcp_->stats().strays_forwarded, 0u);
}

TEST_F(TcpStrayTest, SynOpensWhereItLands) {
  inject_other(Seg{
      .sport = 42000, .dport = 80, .seq = 9, .flags = kTcpSyn, .win = 1000});
  EXPECT_TRUE(ring_.empty());
  const std::vector<Seg> out = sent_other();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpSyn | kTcpAck);
}

TEST_F(TcpStrayTest, FullRingMeansAnsweredHere) {
  ring_full_ = true;
  inject_other(
      Seg{.sport = 41000, .dport = 80, .seq = 5, .ack = 77, .flags = kTcpAck});
  const std::vector<Seg> out = sent_other();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, kTcpRst);
  EXPECT_EQ(other_->stats().strays_forwarded, 0u);
}

}  // namespace
}  // namespace dptls::net::testing
