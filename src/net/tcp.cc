// TcpStack construction, connection slots and handles, event and output
// lists, the clock, and the calls of the layer above (RFC 9293 section
// 3.10.1 - 3.10.6: OPEN, SEND, CLOSE, ABORT).
#include "dptls/net/tcp.h"

#include <rte_mbuf.h>

#include <algorithm>

#include "dptls/net/tcp_seq.h"
#include "net/tcp_internal.h"

namespace dptls::net {

const char* tcp_state_name(TcpState s) {
  switch (s) {
#define DPTLS_TCP_STATE_NAME(name, str, bit) \
  case TcpState::name:                       \
    return str;
    DPTLS_TCP_STATES(DPTLS_TCP_STATE_NAME)
#undef DPTLS_TCP_STATE_NAME
  }
  return "unknown";
}

const char* tcp_close_reason_name(TcpCloseReason r) {
  switch (r) {
#define DPTLS_TCP_CLOSE_NAME(name, str) \
  case TcpCloseReason::name:            \
    return str;
    DPTLS_TCP_CLOSE_REASONS(DPTLS_TCP_CLOSE_NAME)
#undef DPTLS_TCP_CLOSE_NAME
  }
  return "unknown";
}

const char* tcp_result_name(TcpResult r) {
  switch (r) {
#define DPTLS_TCP_RESULT_NAME(name, str) \
  case TcpResult::name:                  \
    return str;
    DPTLS_TCP_RESULTS(DPTLS_TCP_RESULT_NAME)
#undef DPTLS_TCP_RESULT_NAME
  }
  return "unknown";
}

const char* tcp_event_name(TcpEventType t) {
  switch (t) {
#define DPTLS_TCP_EVENT_NAME(name, str) \
  case TcpEventType::name:              \
    return str;
    DPTLS_TCP_EVENTS(DPTLS_TCP_EVENT_NAME)
#undef DPTLS_TCP_EVENT_NAME
  }
  return "unknown";
}

std::string TcpConfig::validate() const {
  if (max_connections == 0 || max_connections > FlowTable::kMaxCapacity) {
    return "max_connections must be in [1, 2^22]";
  }
  if (max_listeners == 0) {
    return "max_listeners must be non-zero";
  }
  if (clock_hz == 0) {
    return "clock_hz must be non-zero";
  }
  if (rcv_buf < 4096 || rcv_buf > (1u << 30) || snd_buf < 4096 ||
      snd_buf > (1u << 30)) {
    return "rcv_buf and snd_buf must be in [4096, 2^30]";
  }
  if (rto_min_ms == 0 || rto_min_ms > rto_max_ms || rto_initial_ms == 0) {
    return "need 0 < rto_min_ms <= rto_max_ms and rto_initial_ms > 0";
  }
  if (delack_ms == 0 || delack_ms >= 500) {
    return "delack_ms must be in [1, 499] (RFC 9293 3.8.6.3)";
  }
  if (msl_ms == 0 || fin_wait2_ms == 0) {
    return "msl_ms and fin_wait2_ms must be non-zero";
  }
  if (keepalive && (keepalive_idle_ms == 0 || keepalive_interval_ms == 0)) {
    return "keep-alive intervals must be non-zero";
  }
  if (ephemeral_lo == 0 || ephemeral_lo > ephemeral_hi) {
    return "need 0 < ephemeral_lo <= ephemeral_hi";
  }
  if (wheel_slots == 0 || wheel_slots > (1u << 20)) {
    return "wheel_slots must be in [1, 2^20]";
  }
  if (rss.is_toeplitz() && worker_id >= rss.workers()) {
    return "worker_id is not one of the RSS workers";
  }
  return {};
}

std::unique_ptr<TcpStack> TcpStack::create(const TcpConfig& config,
                                           NetStack* net, rte_mempool* pool,
                                           std::string* error) {
  std::string why = config.validate();
  if (why.empty() && (net == nullptr || pool == nullptr)) {
    why = "need a NetStack and a mempool";
  }
  if (!why.empty()) {
    if (error != nullptr) {
      *error = why;
    }
    return nullptr;
  }
  return std::unique_ptr<TcpStack>(new TcpStack(config, net, pool));
}

TcpStack::TcpStack(const TcpConfig& config, NetStack* net, rte_mempool* pool)
    : cfg_(config),
      net_(net),
      pool_(pool),
      isn_key_(SipKey::from_seed(config.seed, 1)),
      cookie_key_(SipKey::from_seed(config.seed, 2)),
      ready_head_(kNoSlot),
      ready_tail_(kNoSlot),
      output_head_(kNoSlot),
      output_tail_(kNoSlot),
      conns_(config.max_connections),
      listeners_(config.max_listeners),
      flows_(config.max_connections, SipKey::from_seed(config.seed, 3).k0),
      sources_(
          config.max_connections_per_source != 0 ? config.max_connections : 0,
          SipKey::from_seed(config.seed, 4).k0),
      wheel_(config.max_connections, config.wheel_slots, 0) {
  tso_max_ = net->tx_offloads().tso_max_payload;
  tso_max_mbufs_ = net->tx_offloads().tso_max_mbufs;
  rto_params_.min_ms = config.rto_min_ms;
  rto_params_.max_ms = config.rto_max_ms;
  rto_params_.initial_ms = config.rto_initial_ms;
  free_slots_.reserve(config.max_connections);
  for (uint32_t i = config.max_connections; i > 0; --i) {
    free_slots_.push_back(i - 1);
  }
  for (TcpConn& c : conns_) {
    c.ready_next = kNoSlot;
    c.output_next = kNoSlot;
  }
  challenge_credit_ = uint64_t{config.challenge_acks_per_sec} * 1000;
}

TcpStack::~TcpStack() {
  for (TcpConn& c : conns_) {
    rte_pktmbuf_free(c.sq_head);
    c.sq_head = nullptr;
    c.rq.clear();
    c.ooo.clear();
  }
}

size_t TcpStack::bytes_per_connection(const TcpStack& s) {
  return sizeof(TcpConn) + s.flows_.bytes_per_slot() +
         s.sources_.bytes() / s.conns_.size() + 3 * sizeof(uint32_t) +
         sizeof(uint64_t);  // wheel links + expiry
}

// --- Clock and timers -----------------------------------------------------

void TcpStack::update_clock(uint64_t now) {
  // Every call of a poll loop passes the loop's one TSC reading: the
  // 128-bit divide below runs once per loop, not once per call.
  if (now <= now_ticks_) {
    return;  // time never runs backwards here
  }
  now_ticks_ = now;
  now_us_ = static_cast<uint64_t>(static_cast<unsigned __int128>(now) *
                                  1'000'000 / cfg_.clock_hz);
  now_ms64_ = now_us_ / 1000;
  now_ms_ = static_cast<uint32_t>(now_ms64_);
}

void TcpStack::rearm_timer(TcpConn& c) {
  const uint32_t slot = slot_of(c);
  int64_t best = INT64_MAX;
  for (uint32_t t : {c.t_rexmit, c.t_delack, c.t_keepalive, c.t_linger}) {
    if (t != 0) {
      best = std::min<int64_t>(best, static_cast<int32_t>(t - now_ms_));
    }
  }
  // The wheel entry may fire early, never late: on_timer() acts on what
  // is due then and re-arms for the rest. So it is moved only to an
  // earlier tick, and left in place when every timer stops; a request-
  // response connection, whose retransmission and delayed-ACK timers are
  // set and cleared by every segment, then costs one wheel update per
  // expiry instead of one or two per segment.
  if (best == INT64_MAX) {
    return;
  }
  const uint64_t expiry =
      now_ms64_ + static_cast<uint64_t>(std::max<int64_t>(best, 0));
  if (!wheel_.scheduled(slot) || wheel_.expiry(slot) > expiry) {
    wheel_.schedule(slot, expiry);
  }
}

void TcpStack::timers(uint64_t now) {
  update_clock(now);
  wheel_.advance(now_ms64_, [this](uint32_t slot) { on_timer(slot); });
  flush_output();
}

// --- Slots and handles ----------------------------------------------------

ConnHandle TcpStack::handle_of(uint32_t slot) const {
  return ConnHandle::of(cfg_.worker_id, slot, conns_[slot].generation);
}

TcpConn* TcpStack::lookup(ConnHandle h, TcpResult* why) {
  *why = TcpResult::kOk;
  if (h.worker() != cfg_.worker_id) {
    *why = TcpResult::kWrongWorker;
    return nullptr;
  }
  if (h.slot() >= conns_.size() || !h.valid()) {
    *why = TcpResult::kStaleHandle;
    ++stats_.stale_handle_calls;
    return nullptr;
  }
  TcpConn& c = conns_[h.slot()];
  if ((c.generation & 0xffffffu) != h.generation() || c.has(kFlagZombie) ||
      (c.state == TcpState::kClosed && c.events == 0)) {
    *why = TcpResult::kStaleHandle;
    ++stats_.stale_handle_calls;
    return nullptr;
  }
  return &c;
}

const TcpConn* TcpStack::lookup(ConnHandle h) const {
  if (h.worker() != cfg_.worker_id || h.slot() >= conns_.size() || !h.valid()) {
    return nullptr;
  }
  const TcpConn& c = conns_[h.slot()];
  if ((c.generation & 0xffffffu) != h.generation() || c.has(kFlagZombie) ||
      (c.state == TcpState::kClosed && c.events == 0)) {
    return nullptr;
  }
  return &c;
}

TcpConn* TcpStack::alloc_conn(const FlowKey& key) {
  if (free_slots_.empty()) {
    return nullptr;
  }
  const uint32_t slot = free_slots_.back();
  if (!flows_.insert(key, slot)) {
    return nullptr;
  }
  free_slots_.pop_back();
  TcpConn& c = conns_[slot];
  init_conn_common(c);
  return &c;
}

TcpConn* TcpStack::alloc_passive(Segment& s) {
  const uint32_t limit = cfg_.max_connections_per_source;
  const SourceKey src = SourceKey::of(s.key);
  if (limit != 0 && !sources_.acquire(src, limit)) {
    drop_seg(s, DropReason::kTcpSourceLimit);
    return nullptr;
  }
  TcpConn* c = alloc_conn(s.key);
  if (c == nullptr) {
    if (limit != 0) {
      sources_.release(src);
    }
    drop_seg(s, DropReason::kTcpConnLimit);
    return nullptr;
  }
  if (limit != 0) {
    c->set(kFlagSrcCounted);
  }
  return c;
}

void TcpStack::unlink_flow(TcpConn& c) {
  const uint32_t slot = slot_of(c);
  if (c.has(kFlagSrcCounted) && flows_.in_use(slot)) {
    sources_.release(SourceKey::of(flows_.key(slot)));
    c.clear(kFlagSrcCounted);
  }
  flows_.erase(slot);
}

void TcpStack::init_conn_common(TcpConn& c) {
  const uint32_t gen = c.generation;
  c = TcpConn{};
  c.generation = gen;
  c.ready_next = kNoSlot;
  c.output_next = kNoSlot;
  c.cc_algo = cfg_.cc;
  c.rto.init(rto_params_);
  c.last_rx_ms = now_ms_;
  c.rcv_mss = mss_for(flows_.key(slot_of(c)).family);
  c.smss = c.rcv_mss;
  if (cfg_.window_scale) {
    // RFC 7323 2.3: the smallest shift that lets rcv_buf be advertised.
    while (c.rcv_wscale < 14 && (cfg_.rcv_buf >> c.rcv_wscale) > 65535) {
      ++c.rcv_wscale;
    }
  }
  if (cfg_.keepalive) {
    c.set(kFlagKeepalive);
  }
}

void TcpStack::set_state(TcpConn& c, TcpState s) {
  if (c.state == TcpState::kSynReceived && c.has(kFlagPassive) &&
      c.listener < listeners_.size() &&
      listeners_[c.listener].syn_received > 0) {
    --listeners_[c.listener].syn_received;
  }
  if (s == TcpState::kSynReceived && c.has(kFlagPassive) &&
      c.listener < listeners_.size()) {
    ++listeners_[c.listener].syn_received;
  }
  c.state = s;
}

void TcpStack::free_conn(TcpConn& c) {
  const uint32_t slot = slot_of(c);
  set_state(c, TcpState::kClosed);
  unlink_flow(c);
  wheel_.cancel(slot);
  rte_pktmbuf_free(c.sq_head);
  c.sq_head = c.sq_tail = c.sq_cursor = nullptr;
  c.rq.clear();
  c.ooo.clear();
  c.events = 0;
  c.generation = (c.generation + 1) & 0xffffffu;
  if (c.generation == 0) {
    c.generation = 1;
  }
  ++stats_.closed;
  if (c.has(kFlagInReady) || c.has(kFlagInOutput)) {
    // Still linked on a list: released when it is popped from them.
    c.flags = kFlagZombie | (c.flags & (kFlagInReady | kFlagInOutput));
    return;
  }
  c.flags = 0;
  free_slots_.push_back(slot);
}

void TcpStack::release_if_zombie(TcpConn& c) {
  if (c.has(kFlagZombie) && !c.has(kFlagInReady) && !c.has(kFlagInOutput)) {
    c.flags = 0;
    free_slots_.push_back(slot_of(c));
  }
}

void TcpStack::enter_closed(TcpConn& c, TcpCloseReason reason, bool reset) {
  const bool app_knows = c.has(kFlagAppAttached) || (c.events & kEvOpen) != 0;
  if (!app_knows) {
    free_conn(c);
    return;
  }
  set_state(c, TcpState::kClosed);
  unlink_flow(c);
  wheel_.cancel(slot_of(c));
  c.t_rexmit = c.t_delack = c.t_keepalive = c.t_linger = 0;
  rte_pktmbuf_free(c.sq_head);
  c.sq_head = c.sq_tail = c.sq_cursor = nullptr;
  c.sq_bytes = 0;
  if (!c.ooo.empty()) {
    count_drop(DropReason::kTcpConnectionReset);
    c.ooo.clear();
  }
  if (reset && !c.rq.empty()) {
    count_drop(DropReason::kTcpConnectionReset);
    c.rq.clear();
  }
  c.close_reason = reason;
  c.events = static_cast<uint16_t>((c.events & ~kEvWritable) |
                                   (reset ? kEvReset : kEvClosed));
  mark_ready(c);
}

void TcpStack::enter_time_wait(TcpConn& c) {
  set_state(c, TcpState::kTimeWait);
  c.t_rexmit = c.t_delack = c.t_keepalive = 0;
  c.clear(kFlagPersist | kFlagRecovery);
  c.t_linger = deadline(2 * cfg_.msl_ms);
  rte_pktmbuf_free(c.sq_head);
  c.sq_head = c.sq_tail = c.sq_cursor = nullptr;
  c.sq_bytes = 0;
  c.ooo.clear();
  if (c.has(kFlagAppAttached) || (c.events & kEvOpen) != 0) {
    c.close_reason = TcpCloseReason::kNormal;
    c.events |= kEvClosed;
    mark_ready(c);
  }
  rearm_timer(c);
}

uint32_t TcpStack::rcv_space(const TcpConn& c) const {
  const uint64_t used = uint64_t{c.rq.len} + c.rcv_user;
  return used >= cfg_.rcv_buf ? 0 : static_cast<uint32_t>(cfg_.rcv_buf - used);
}

// --- Lists ----------------------------------------------------------------

void TcpStack::mark_ready(TcpConn& c) {
  if (c.has(kFlagInReady) || c.has(kFlagZombie)) {
    return;
  }
  c.set(kFlagInReady);
  const uint32_t slot = slot_of(c);
  c.ready_next = kNoSlot;
  if (ready_tail_ == kNoSlot) {
    ready_head_ = slot;
  } else {
    conns_[ready_tail_].ready_next = slot;
  }
  ready_tail_ = slot;
}

void TcpStack::mark_output(TcpConn& c) {
  if (c.has(kFlagInOutput) || c.has(kFlagZombie)) {
    return;
  }
  c.set(kFlagInOutput);
  const uint32_t slot = slot_of(c);
  c.output_next = kNoSlot;
  if (output_tail_ == kNoSlot) {
    output_head_ = slot;
  } else {
    conns_[output_tail_].output_next = slot;
  }
  output_tail_ = slot;
}

void TcpStack::flush_output() {
  // Detach the list so connections re-queued by output() (backpressure)
  // wait for the next flush instead of spinning here.
  uint32_t slot = output_head_;
  output_head_ = output_tail_ = kNoSlot;
  while (slot != kNoSlot) {
    TcpConn& c = conns_[slot];
    const uint32_t next = c.output_next;
    c.output_next = kNoSlot;
    c.clear(kFlagInOutput);
    if (c.has(kFlagZombie)) {
      release_if_zombie(c);
    } else {
      output(c);
    }
    slot = next;
  }
}

uint16_t TcpStack::poll_events(TcpEvent* out, uint16_t n) {
  uint16_t k = 0;
  while (k < n && ready_head_ != kNoSlot) {
    const uint32_t slot = ready_head_;
    TcpConn& c = conns_[slot];
    const ConnHandle h = handle_of(slot);
    bool done = true;
    if (!c.has(kFlagZombie)) {
      // Order: open, data, writable, peer closed, terminal.
      if ((c.events & kEvOpen) != 0 && k < n) {
        out[k++] = TcpEvent{c.has(kFlagPassive) ? TcpEventType::kAccepted
                                                : TcpEventType::kConnected,
                            TcpCloseReason::kNone,
                            h,
                            c.user,
                            nullptr,
                            0};
        c.events &= static_cast<uint16_t>(~kEvOpen);
        c.set(kFlagAppAttached);
      }
      const bool deliver = !c.rq.empty() && !c.has(kFlagRxPaused) &&
                           c.has(kFlagAppAttached) && !c.has(kFlagAppClosed) &&
                           (c.events & kEvOpen) == 0;
      if (deliver) {
        if (k < n) {
          const uint32_t len = c.rq.len;
          rte_mbuf* m = c.rq.take();
          c.rcv_user += len;
          out[k++] = TcpEvent{
              TcpEventType::kData, TcpCloseReason::kNone, h, c.user, m, len};
        } else {
          done = false;
        }
      }
      const bool data_left = !c.rq.empty();
      if ((c.events & kEvWritable) != 0) {
        if (k < n) {
          out[k++] = TcpEvent{TcpEventType::kWritable,
                              TcpCloseReason::kNone,
                              h,
                              c.user,
                              nullptr,
                              0};
          c.events &= static_cast<uint16_t>(~kEvWritable);
        } else {
          done = false;
        }
      }
      if ((c.events & kEvPeerClosed) != 0 && !data_left) {
        if (k < n) {
          out[k++] = TcpEvent{TcpEventType::kPeerClosed,
                              TcpCloseReason::kNone,
                              h,
                              c.user,
                              nullptr,
                              0};
          c.events &= static_cast<uint16_t>(~kEvPeerClosed);
        } else {
          done = false;
        }
      }
      const uint16_t terminal = c.events & (kEvClosed | kEvReset);
      if (terminal != 0 && !data_left && (c.events & kEvPeerClosed) == 0) {
        if (k < n) {
          out[k++] =
              TcpEvent{(terminal & kEvReset) != 0 ? TcpEventType::kReset
                                                  : TcpEventType::kClosed,
                       c.close_reason,
                       h,
                       c.user,
                       nullptr,
                       0};
          c.events = 0;
          c.clear(kFlagAppAttached);
          if (c.state != TcpState::kClosed) {
            // TIME-WAIT lives on without the layer above: its handle goes
            // stale now, as kClosed promises.
            c.generation = (c.generation + 1) & 0xffffffu;
            c.generation += c.generation == 0 ? 1 : 0;
          }
        } else {
          done = false;
        }
      }
    }
    if (!done) {
      break;  // out of room: this connection stays first
    }
    ready_head_ = c.ready_next;
    if (ready_head_ == kNoSlot) {
      ready_tail_ = kNoSlot;
    }
    c.ready_next = kNoSlot;
    c.clear(kFlagInReady);
    if (c.has(kFlagZombie)) {
      release_if_zombie(c);
    } else if (c.state == TcpState::kClosed && c.events == 0) {
      free_conn(c);  // its terminal event went out
    }
  }
  return k;
}

// --- Helpers --------------------------------------------------------------

void TcpStack::drop(rte_mbuf* m, DropReason r) {
  count_drop(r);
  rte_pktmbuf_free(m);
}

int TcpStack::find_listener(const FlowKey& key) const {
  int wildcard = -1;
  for (size_t i = 0; i < listeners_.size(); ++i) {
    const Listener& l = listeners_[i];
    if (!l.used || l.spec.port != key.local_port ||
        l.spec.family != key.family) {
      continue;
    }
    const bool any = key.family == L3Family::kIpv4
                         ? l.spec.addr4.is_zero()
                         : l.spec.addr6.is_unspecified();
    const bool exact = key.family == L3Family::kIpv4
                           ? l.spec.addr4 == key.local4()
                           : l.spec.addr6 == key.local6();
    if (exact) {
      return static_cast<int>(i);
    }
    if (any) {
      wildcard = static_cast<int>(i);
    }
  }
  return wildcard;
}

bool TcpStack::take_challenge_token() {
  // RFC 5961 section 7: a stack-wide limit on challenge ACKs, as a token
  // bucket of one second's worth refilled every millisecond.
  const uint64_t cap = uint64_t{cfg_.challenge_acks_per_sec} * 1000;
  if (now_ms64_ > challenge_last_ms_) {
    challenge_credit_ =
        std::min(cap, challenge_credit_ + (now_ms64_ - challenge_last_ms_) *
                                              cfg_.challenge_acks_per_sec);
    challenge_last_ms_ = now_ms64_;
  }
  if (challenge_credit_ < 1000) {
    ++stats_.challenge_acks_limited;
    return false;
  }
  challenge_credit_ -= 1000;
  ++stats_.challenge_acks;
  return true;
}

uint32_t TcpStack::deadline(uint32_t ms) const {
  const uint32_t t = now_ms_ + ms;
  return t == 0 ? 1 : t;
}

uint16_t TcpStack::mss_for(L3Family f) const {
  const uint16_t ip = f == L3Family::kIpv4 ? 20 : 40;
  return static_cast<uint16_t>(net_->mtu() - ip - kTcpHeaderLen);
}

// --- Calls from the layer above -------------------------------------------

TcpResult TcpStack::listen(const TcpListen& l) {
  if (l.port == 0) {
    return TcpResult::kInvalidArgument;
  }
  int free_idx = -1;
  for (size_t i = 0; i < listeners_.size(); ++i) {
    const Listener& e = listeners_[i];
    if (!e.used) {
      if (free_idx < 0) {
        free_idx = static_cast<int>(i);
      }
      continue;
    }
    if (e.spec.family == l.family && e.spec.port == l.port &&
        e.spec.addr4 == l.addr4 && e.spec.addr6 == l.addr6) {
      return TcpResult::kAddressInUse;
    }
  }
  if (free_idx < 0) {
    return TcpResult::kNoResources;
  }
  listeners_[free_idx] = Listener{l, 0, true};
  return TcpResult::kOk;
}

TcpResult TcpStack::connect(const TcpConnect& req, uint64_t now,
                            ConnHandle* out) {
  update_clock(now);
  const bool v4 = req.family == L3Family::kIpv4;
  if (req.remote_port == 0 ||
      (v4 ? (req.remote4.is_zero() || !net_->is_local(req.local4))
          : (req.remote6.is_unspecified() || !net_->is_local(req.local6)))) {
    return TcpResult::kInvalidArgument;
  }
  const auto key_for = [&](uint16_t port) {
    return v4 ? FlowKey::v4(req.local4, port, req.remote4, req.remote_port)
              : FlowKey::v6(req.local6, port, req.remote6, req.remote_port);
  };
  FlowKey key;
  if (req.local_port != 0) {
    key = key_for(req.local_port);
    if (flows_.find(key) != FlowTable::kNone) {
      return TcpResult::kAddressInUse;
    }
  } else {
    // RFC 6056 3.3.3 (double-hash port selection, simplified): a keyed
    // offset per destination plus a counter, then the first port that is
    // free and that RSS steers back to this worker.
    const uint32_t range = uint32_t{cfg_.ephemeral_hi} - cfg_.ephemeral_lo + 1;
    const uint32_t offset = flow_hash(key_for(0), isn_key_.k1) + port_cursor_++;
    bool found = false;
    for (uint32_t i = 0; i < range && !found; ++i) {
      const uint16_t port =
          static_cast<uint16_t>(cfg_.ephemeral_lo + (offset + i) % range);
      key = key_for(port);
      found = flows_.find(key) == FlowTable::kNone &&
              cfg_.rss.worker_for(key) == cfg_.worker_id;
    }
    if (!found) {
      return TcpResult::kNoResources;
    }
  }
  TcpConn* c = alloc_conn(key);
  if (c == nullptr) {
    return TcpResult::kNoResources;
  }
  // RFC 9293 3.10.1 OPEN in CLOSED, active: ISS, send SYN, SYN-SENT.
  c->iss = tcp_isn(isn_key_, key, now_us_);
  c->snd_una = c->iss;
  c->snd_nxt = c->iss;
  c->snd_max = c->iss;
  c->sq_start = c->iss + 1;
  c->recover = c->iss;
  c->user = req.user;
  c->set(kFlagAppAttached);
  set_state(*c, TcpState::kSynSent);
  send_syn(*c);
  c->t_rexmit = deadline(c->rto.current_ms(rto_params_));
  rearm_timer(*c);
  ++stats_.active_opens;
  *out = handle_of(slot_of(*c));
  return TcpResult::kOk;
}

TcpResult TcpStack::send(ConnHandle h, rte_mbuf* m, uint64_t now) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  update_clock(now);
  if (!c->in_state(TcpState::kSynSent | TcpState::kSynReceived |
                   TcpState::kEstablished | TcpState::kCloseWait) ||
      c->has(kFlagFinQueued)) {
    return TcpResult::kInvalidState;
  }
  if (m == nullptr) {
    return TcpResult::kInvalidArgument;
  }
  if (uint64_t{c->sq_bytes} + m->pkt_len > cfg_.snd_buf) {
    c->set(kFlagWantWritable);
    return TcpResult::kWouldBlock;
  }
  m = chain_drop_empty(m);
  if (m == nullptr) {
    return TcpResult::kOk;
  }
  const uint32_t len = m->pkt_len;
  if (c->sq_tail == nullptr) {
    c->sq_head = m;
    c->sq_head_off = 0;
  } else {
    c->sq_tail->next = m;
  }
  c->sq_tail = rte_pktmbuf_lastseg(m);
  c->sq_bytes += len;
  if (c->in_state(TcpState::kEstablished | TcpState::kCloseWait)) {
    mark_output(*c);
    flush_output();
  }
  return TcpResult::kOk;
}

TcpResult TcpStack::want_writable(ConnHandle h) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  if (c->sq_bytes <= cfg_.snd_buf / 2) {
    c->events |= kEvWritable;
    mark_ready(*c);
  } else {
    c->set(kFlagWantWritable);
  }
  return TcpResult::kOk;
}

uint32_t TcpStack::send_space(ConnHandle h) const {
  const TcpConn* c = lookup(h);
  if (c == nullptr || c->sq_bytes >= cfg_.snd_buf) {
    return 0;
  }
  return cfg_.snd_buf - c->sq_bytes;
}

TcpResult TcpStack::shutdown_write(ConnHandle h, uint64_t now) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  update_clock(now);
  if (c->has(kFlagFinQueued)) {
    return TcpResult::kOk;
  }
  // RFC 9293 3.10.4 CLOSE.
  if (c->in_state(TcpState::kSynSent)) {
    enter_closed(*c, TcpCloseReason::kNormal, false);
    return TcpResult::kOk;
  }
  if (!c->in_state(TcpState::kSynReceived | TcpState::kEstablished |
                   TcpState::kCloseWait)) {
    return TcpResult::kInvalidState;
  }
  c->set(kFlagFinQueued);
  if (c->in_state(TcpState::kEstablished)) {
    set_state(*c, TcpState::kFinWait1);
  } else if (c->in_state(TcpState::kCloseWait)) {
    set_state(*c, TcpState::kLastAck);
  }
  // SYN-RECEIVED: the FIN goes once ESTABLISHED (on_established).
  mark_output(*c);
  flush_output();
  return TcpResult::kOk;
}

TcpResult TcpStack::close(ConnHandle h, uint64_t now) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  update_clock(now);
  c->set(kFlagAppClosed);
  c->clear(kFlagRxPaused);
  c->rq.clear();
  c->rcv_user = 0;
  if (c->in_state(TcpState::kFinWait2)) {
    c->t_linger = deadline(cfg_.fin_wait2_ms);
    rearm_timer(*c);
  }
  if (c->in_state(TcpState::kClosed | TcpState::kFinWait1 |
                  TcpState::kFinWait2 | TcpState::kClosing |
                  TcpState::kLastAck | TcpState::kTimeWait)) {
    return TcpResult::kOk;
  }
  return shutdown_write(h, now);
}

TcpResult TcpStack::abort(ConnHandle h, uint64_t now) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  update_clock(now);
  // RFC 9293 3.10.5 ABORT: in synchronized states send <SEQ=SND.NXT>
  // <CTL=RST>; in every state the TCB goes.
  if (c->in_state(TcpState::kSynReceived | TcpState::kEstablished |
                  TcpState::kFinWait1 | TcpState::kFinWait2 |
                  TcpState::kCloseWait)) {
    send_control(*c, kTcpRst, c->snd_nxt);
    ++stats_.rst_tx;
  }
  free_conn(*c);
  return TcpResult::kOk;
}

TcpResult TcpStack::consumed(ConnHandle h, uint32_t bytes, uint64_t now) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  update_clock(now);
  const uint32_t before = rcv_space(*c);
  c->rcv_user -= std::min(bytes, c->rcv_user);
  if (c->has(kFlagRxPaused)) {
    c->clear(kFlagRxPaused);
    if (!c->rq.empty() || c->events != 0) {
      mark_ready(*c);
    }
  }
  // RFC 1122 4.2.3.3 / RFC 9293 3.8.6.2.2: tell the peer when the window
  // opened by a useful amount (at least 2 segments or half the buffer
  // after having been nearly closed).
  const uint32_t after = rcv_space(*c);
  const uint32_t adv =
      seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
  if (c->in_state(TcpState::kEstablished | TcpState::kFinWait1 |
                  TcpState::kFinWait2) &&
      after > before && after > adv &&
      after - adv >= std::min<uint32_t>(cfg_.rcv_buf / 2, 2u * c->rcv_mss)) {
    c->set(kFlagAckNow | kFlagWndUpdate);
    ++stats_.window_updates;
    mark_output(*c);
    flush_output();
  }
  return TcpResult::kOk;
}

TcpResult TcpStack::unread(ConnHandle h, rte_mbuf* m) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  if (m == nullptr) {
    return TcpResult::kInvalidArgument;
  }
  const uint32_t len = m->pkt_len;
  if (!c->rq.prepend(m)) {
    return TcpResult::kNoResources;
  }
  c->rcv_user -= std::min(len, c->rcv_user);
  c->set(kFlagRxPaused);
  return TcpResult::kOk;
}

TcpResult TcpStack::set_user(ConnHandle h, uint64_t user) {
  TcpResult why;
  TcpConn* c = lookup(h, &why);
  if (c == nullptr) {
    return why;
  }
  c->user = user;
  return TcpResult::kOk;
}

bool TcpStack::info(ConnHandle h, TcpConnInfo* out) const {
  const TcpConn* c = lookup(h);
  if (c == nullptr) {
    return false;
  }
  TcpConnInfo i;
  i.state = c->state;
  i.key = flows_.key(h.slot());
  i.flags = c->flags;
  i.snd_una = c->snd_una;
  i.snd_nxt = c->snd_nxt;
  i.snd_max = c->snd_max;
  i.snd_wnd = c->snd_wnd;
  i.rcv_nxt = c->rcv_nxt;
  i.rcv_wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
  i.iss = c->iss;
  i.irs = c->irs;
  i.smss = c->smss;
  i.snd_wscale = c->snd_wscale;
  i.rcv_wscale = c->rcv_wscale;
  i.cwnd = c->cc.cwnd;
  i.ssthresh = c->cc.ssthresh;
  i.srtt_us = c->rto.srtt_us;
  i.rto_ms = c->rto.current_ms(rto_params_);
  i.sq_bytes = c->sq_bytes;
  i.rq_bytes = c->rq.len;
  i.rcv_user = c->rcv_user;
  i.ooo_ranges = c->ooo.size();
  i.sack_ranges = c->sack.size();
  *out = i;
  return true;
}

}  // namespace dptls::net
