// TCP-lite: one worker's TCP (RFC 9293) over DPDK mbufs, sans-IO.
//
// The worker feeds it the segments NetStack delivers and the time, polls
// its events, and calls it to send; TCP transmits through the NetStack's
// output_ipv4/6 (never ethdev):
//
//   k = net.poll_deliveries(segs, kBurst);
//   tcp.rx(segs, k, now);                       // consumes every mbuf
//   tcp.timers(now);
//   n = tcp.poll_events(ev, kBurst);            // data chains now yours
//   ... tcp.send(h, chain, now) / consumed(h, bytes, now) / close(h, now)
//   t = net.drain_tx(out, kBurst); tx_burst(...)
//
// Implemented: passive and active open, the RFC 9293 state machine with
// RFC 5961 challenge ACKs, TIME-WAIT, RFC 6528 ISNs, MSS / window scale /
// timestamps (RTT and PAWS, RFC 7323) / SACK (RFC 2018), delayed ACKs,
// in-order delivery with tailroom coalescing, a bounded out-of-order queue,
// RFC 6298 RTO, NewReno (RFC 6582) and SACK (RFC 6675) loss recovery, CUBIC
// (RFC 9438) or NewReno congestion control, zero-window probes, keep-alive,
// SYN cookies, RSS-aware source ports for active opens, and path MTU
// discovery from ICMP too-big reports (RFC 1191, RFC 8201, checked as
// RFC 5927 asks; the path MTU is kept per connection, as its MSS).
//
// Connections are slots of a fixed pool named by ConnHandle; a stale handle
// is refused. After create() nothing allocates from the heap, throws, locks
// or makes a syscall: every table is sized by TcpConfig and exhaustion is
// refused and counted. Mbufs come from the pool given to create(). One
// instance per worker; not thread-safe.
#pragma once

#include <rte_common.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dptls/net/rss_hash.h"
#include "dptls/net/stack.h"
#include "dptls/net/tcp_conn.h"
#include "dptls/net/tcp_flow_table.h"
#include "dptls/net/tcp_header.h"
#include "dptls/net/tcp_source_limit.h"
#include "dptls/net/tcp_stats.h"
#include "dptls/net/tcp_syn_cookie.h"
#include "dptls/net/tcp_timer_wheel.h"

struct rte_mbuf;
struct rte_mempool;

namespace dptls::net {

/// A connection as named across threads: {worker, slot, generation} packed
/// in 64 bits (16 + 24 + 24). Generation 0 never names a connection, so the
/// zero handle is "none". A handle whose generation is not the slot's
/// current one is stale and every call with it is refused.
struct ConnHandle {
  uint64_t v = 0;

  static constexpr ConnHandle of(uint16_t worker, uint32_t slot,
                                 uint32_t generation) {
    return ConnHandle{(uint64_t{worker} << 48) |
                      (uint64_t{slot & 0xffffffu} << 24) |
                      (generation & 0xffffffu)};
  }
  constexpr uint16_t worker() const { return static_cast<uint16_t>(v >> 48); }
  constexpr uint32_t slot() const {
    return static_cast<uint32_t>(v >> 24) & 0xffffffu;
  }
  constexpr uint32_t generation() const {
    return static_cast<uint32_t>(v) & 0xffffffu;
  }
  constexpr bool valid() const { return generation() != 0; }
  friend constexpr bool operator==(ConnHandle, ConnHandle) = default;
};

// X(enumerator, printable name).
#define DPTLS_TCP_RESULTS(X)                                              \
  X(kOk, "ok")                                                            \
  X(kStaleHandle, "stale_handle")   /* not a live connection */           \
  X(kWrongWorker, "wrong_worker")   /* handle of another worker */        \
  X(kInvalidState, "invalid_state") /* not allowed in this state */       \
  X(kWouldBlock, "would_block")     /* send queue full; kWritable */      \
  X(kNoResources, "no_resources")   /* slots, ports or mbufs exhausted */ \
  X(kInvalidArgument, "invalid_argument")                                 \
  X(kAddressInUse, "address_in_use")

enum class TcpResult : uint8_t {
#define DPTLS_TCP_RESULT_ENUM(name, str) name,
  DPTLS_TCP_RESULTS(DPTLS_TCP_RESULT_ENUM)
#undef DPTLS_TCP_RESULT_ENUM
};

/// "ok", "stale_handle", ...; "unknown" otherwise.
const char* tcp_result_name(TcpResult r);

// X(enumerator, printable name).
#define DPTLS_TCP_EVENTS(X)                                          \
  X(kConnected, "connected")    /* active open established */        \
  X(kAccepted, "accepted")      /* passive open established */       \
  X(kData, "data")              /* in-order bytes; chain is yours */ \
  X(kWritable, "writable")      /* send() has room again */          \
  X(kPeerClosed, "peer_closed") /* FIN: no more data will come */    \
  X(kClosed, "closed")          /* done; the handle is now stale */  \
  X(kReset, "reset")            /* aborted; the handle is stale */

enum class TcpEventType : uint8_t {
#define DPTLS_TCP_EVENT_ENUM(name, str) name,
  DPTLS_TCP_EVENTS(DPTLS_TCP_EVENT_ENUM)
#undef DPTLS_TCP_EVENT_ENUM
};

/// "connected", ...; "unknown" otherwise.
const char* tcp_event_name(TcpEventType t);

/// One event from poll_events().
struct TcpEvent {
  TcpEventType type = TcpEventType::kData;
  TcpCloseReason reason = TcpCloseReason::kNone;  // kClosed / kReset
  ConnHandle conn{};
  /// The connection's user value (set by connect() / set_user()); for
  /// kAccepted, the listener's.
  uint64_t user = 0;
  /// kData: the bytes, a well-formed chain now owned by the receiver of the
  /// event (free it, or give the unused tail back with unread()).
  rte_mbuf* data = nullptr;
  uint32_t len = 0;
};

/// Everything a TcpStack is built from.
struct TcpConfig {
  /// This worker's index (in handles and for RSS).
  uint16_t worker_id = 0;
  /// Connection slots (every state but LISTEN), at most 2^22.
  uint32_t max_connections = 65'536;
  /// Listening sockets.
  uint16_t max_listeners = 16;
  /// Ticks per second of `now` (as NetConfig::clock_hz).
  uint64_t clock_hz = 1'000'000'000;
  /// Seed of the ISN, cookie and flow-hash keys (RFC 6528: secret, random
  /// at start-up in production; fixed in tests for reproducibility).
  uint64_t seed = 0;

  /// Receive buffer per connection: the window is rcv_buf minus the bytes
  /// held or handed up and not yet consumed().
  uint32_t rcv_buf = 256 * 1024;
  /// Send queue limit per connection (bytes queued and not yet ACKed).
  uint32_t snd_buf = 256 * 1024;
  /// Options offered and accepted.
  bool timestamps = true;
  bool sack = true;
  bool window_scale = true;
  CcAlgo cc = CcAlgo::kCubic;
  /// Initial window in segments (0: RFC 6928's min(10, ...)).
  uint32_t initial_cwnd_segments = 0;
  /// RFC 5681 4.1: after sending nothing for longer than the RTO, new
  /// data starts from the restart window (cwnd halved per RTO idle, down
  /// to the initial window), as Linux's tcp_slow_start_after_idle.
  bool slow_start_after_idle = true;

  /// RFC 6298 timer bounds.
  uint32_t rto_min_ms = 200;
  uint32_t rto_max_ms = 60'000;
  uint32_t rto_initial_ms = 1'000;
  /// Retransmissions of one segment before the connection is reset (R2 of
  /// RFC 9293 3.8.3), and of a SYN.
  uint8_t max_retries = 12;
  uint8_t syn_retries = 6;
  /// Delayed ACK timeout (RFC 9293 3.8.6.3: under 0.5 s).
  uint32_t delack_ms = 40;
  /// Maximum segment lifetime; TIME-WAIT lasts 2 MSL.
  uint32_t msl_ms = 30'000;
  /// How long an orphaned FIN-WAIT-2 waits for the peer's FIN.
  uint32_t fin_wait2_ms = 60'000;
  /// Keep-alive (RFC 9293 3.8.4), off unless enabled.
  bool keepalive = false;
  uint32_t keepalive_idle_ms = 7'200'000;
  uint32_t keepalive_interval_ms = 75'000;
  uint8_t keepalive_probes = 9;

  /// SYN-RECEIVED connections per listener; beyond it SYN cookies answer
  /// (or, without cookies, SYNs are dropped).
  uint32_t syn_backlog = 1024;
  bool syn_cookies = true;
  /// Passive connections one source (an IPv4 address, an IPv6 /64) may
  /// hold on this stack, counted from the SYN (or cookie ACK) that creates
  /// one until it leaves the flow table (TIME-WAIT included); a SYN or
  /// cookie ACK beyond it is dropped silently (kTcpSourceLimit). 0: off.
  uint32_t max_connections_per_source = 0;
  /// RFC 5961 section 7: challenge ACKs per second, stack-wide.
  uint32_t challenge_acks_per_sec = 1000;

  /// Local ports for active opens, [lo, hi].
  uint16_t ephemeral_lo = 32768;
  uint16_t ephemeral_hi = 60999;
  /// How received packets are steered to workers (for active opens).
  RssHash rss = RssHash::single_worker();

  /// Timer wheel: slots of 1 ms.
  uint32_t wheel_slots = 4096;

  /// Empty when usable, else what is wrong.
  std::string validate() const;
};

/// A listening endpoint.
struct TcpListen {
  L3Family family = L3Family::kIpv4;
  Ipv4Addr addr4{};  // zero: any of ours
  Ipv6Addr addr6{};  // unspecified: any of ours
  uint16_t port = 0;
  /// Reported with kAccepted.
  uint64_t user = 0;
};

/// An active open.
struct TcpConnect {
  L3Family family = L3Family::kIpv4;
  Ipv4Addr local4{};  // required: one of the NetStack's addresses
  Ipv6Addr local6{};
  Ipv4Addr remote4{};
  Ipv6Addr remote6{};
  uint16_t remote_port = 0;
  uint16_t local_port = 0;  // 0: choose one that RSS steers back to us
  uint64_t user = 0;
};

/// A received segment that matches no connection of the stack that got it,
/// on its way to another worker's stack (see StraySink).
struct StraySegment {
  L4Packet pkt;      // as poll_deliveries() gave it; owns pkt.mbuf
  uint8_t hops = 0;  // stacks that have looked for its connection so far
};

/// Where a stack hands segments that match none of its connections when
/// several workers share a port: the port's steering can put a flow's
/// segment on another worker's queue (net_af_packet rolls a busy flow over
/// to another socket when the first one's ring is nearly full; a port
/// that does not take our RSS key may steer the answers to our own
/// connects elsewhere). The worker passes it to the next worker (TcpStack::
/// rx_strays); the last one to look answers it as a stack with no
/// connection would (RST), so nothing is reset that another worker holds.
class StraySink {
 public:
  /// Takes `s` (and its mbuf) for the next worker. False when it cannot
  /// (its ring is full): the stack then answers the segment itself.
  virtual bool forward_stray(const StraySegment& s) = 0;

 protected:
  ~StraySink() = default;
};

/// A snapshot of a connection, for tests and introspection.
struct TcpConnInfo {
  TcpState state = TcpState::kClosed;
  FlowKey key;
  uint32_t flags = 0;
  uint32_t snd_una = 0, snd_nxt = 0, snd_max = 0, snd_wnd = 0;
  uint32_t rcv_nxt = 0, rcv_wnd = 0;
  uint32_t iss = 0, irs = 0;
  uint16_t smss = 0;
  uint8_t snd_wscale = 0, rcv_wscale = 0;
  uint32_t cwnd = 0, ssthresh = 0;
  uint32_t srtt_us = 0, rto_ms = 0;
  uint32_t sq_bytes = 0, rq_bytes = 0, rcv_user = 0;
  uint8_t ooo_ranges = 0;
  uint8_t sack_ranges = 0;
};

class alignas(RTE_CACHE_LINE_SIZE) TcpStack {
 public:
  /// A segment's payload of up to this many bytes is copied into the
  /// header's mbuf (one mbuf per frame). A longer one is copied too when
  /// the TCP checksum is summed in software (the copy sums it on the way,
  /// checksum_copy()) and it fits behind the header; otherwise it
  /// references the send queue through indirect mbufs, never copied.
  static constexpr uint32_t kCopyPayloadMax = 1024;

  /// Builds a stack, allocating every table. `net` carries the output and
  /// must outlive it; `pool` supplies header and indirect mbufs. Returns
  /// null and sets *error when the configuration is invalid.
  static std::unique_ptr<TcpStack> create(const TcpConfig& config,
                                          NetStack* net, rte_mempool* pool,
                                          std::string* error);
  /// Frees every mbuf the connections hold.
  ~TcpStack();
  TcpStack(const TcpStack&) = delete;
  TcpStack& operator=(const TcpStack&) = delete;

  /// Opens a listener. kAddressInUse when the same one exists,
  /// kNoResources past max_listeners, kInvalidArgument for port 0.
  TcpResult listen(const TcpListen& l);

  /// Starts an active open (RFC 9293 3.10.1): a SYN goes out now; a
  /// kConnected (or kReset with kRefused / kTimeout) event follows. On kOk
  /// *out names the connection. kNoResources when no slot or no suitable
  /// local port is free; kAddressInUse for a given port in use.
  TcpResult connect(const TcpConnect& c, uint64_t now, ConnHandle* out);

  /// Processes segments from NetStack::poll_deliveries. Consumes every
  /// pkts[i].mbuf: payload is queued, the rest freed, each drop counted
  /// under one reason. Returns n. ACKs owed are sent at the end. ICMP
  /// too-big reports (L4Packet::mtu) lower their connection's MSS and send
  /// what is in flight again in segments that fit.
  uint16_t rx(L4Packet* pkts, uint16_t n, uint64_t now);

  /// Segments another worker's stack forwarded (StraySink): processed as
  /// rx() would, except that one that still matches no connection is
  /// forwarded again until `max_hops` stacks have looked. A SYN without
  /// ACK is never forwarded: it opens a connection where it lands.
  uint16_t rx_strays(StraySegment* segs, uint16_t n, uint64_t now);
  /// Installs the sink (nullptr: none, the default) and how many stacks
  /// may look at a segment in all (the number of workers).
  void set_stray_sink(StraySink* sink, uint8_t max_hops) {
    stray_sink_ = sink;
    stray_max_hops_ = max_hops;
  }

  /// Runs the timers due at `now` (retransmission, delayed ACK, persist,
  /// keep-alive, TIME-WAIT). Call every millisecond or so.
  void timers(uint64_t now);

  /// Moves up to `n` events to `out`, oldest connection first. kData
  /// events hand their chain to the caller. After kClosed or kReset the
  /// handle is stale. Returns how many.
  uint16_t poll_events(TcpEvent* out, uint16_t n);

  /// Queues chain `m` for sending. Consumes `m` on kOk; on any other result
  /// the caller keeps it (kWouldBlock: the queue lacks room for all of it,
  /// a kWritable event follows). Allowed from SYN-SENT to CLOSE-WAIT until
  /// shutdown_write().
  TcpResult send(ConnHandle h, rte_mbuf* m, uint64_t now);
  /// Bytes send() would accept now.
  uint32_t send_space(ConnHandle h) const;
  /// Asks for a kWritable event once the send queue has drained to half of
  /// snd_buf (at once if it already has): for a sender that found
  /// send_space() short and wrote less than it wanted.
  TcpResult want_writable(ConnHandle h);
  /// Sends FIN after the queued data (RFC 9293 3.10.4 CLOSE, half close):
  /// reading goes on.
  TcpResult shutdown_write(ConnHandle h, uint64_t now);
  /// shutdown_write() and stop reading: later data is ACKed and freed. The
  /// handle stays valid until kClosed / kReset.
  TcpResult close(ConnHandle h, uint64_t now);
  /// Sends RST (RFC 9293 3.10.5 ABORT) and frees the connection now; no
  /// event follows and the handle is stale at once.
  TcpResult abort(ConnHandle h, uint64_t now);
  /// The layer above is done with `bytes` of what kData handed it: the
  /// window reopens (a window update goes out when it grew enough).
  TcpResult consumed(ConnHandle h, uint32_t bytes, uint64_t now);
  /// Gives back the unused tail `m` of a kData chain (in order, the bytes
  /// just after those kept). Consumes `m` on kOk. Delivery pauses (the
  /// window closes as data arrives) until the next consumed().
  TcpResult unread(ConnHandle h, rte_mbuf* m);
  /// Sets the value events of this connection report.
  TcpResult set_user(ConnHandle h, uint64_t user);
  /// Fills *out for a live handle.
  bool info(ConnHandle h, TcpConnInfo* out) const;

  const TcpStats& stats() const { return stats_; }
  /// Connections in any state (TIME-WAIT included), listeners excluded.
  size_t connections() const { return flows_.size(); }
  /// Passive connections counted against `flow`'s source (its remote IPv4
  /// address or IPv6 /64); 0 when max_connections_per_source is off.
  uint32_t source_connections(const FlowKey& flow) const {
    return sources_.count(SourceKey::of(flow));
  }
  /// Sources holding at least one counted connection.
  size_t sources() const { return sources_.sources(); }
  uint16_t worker() const { return cfg_.worker_id; }
  /// Bytes of per-connection memory: the TCB, its flow-table share, its
  /// per-source-table share (48 bytes, only when the limit is on) and its
  /// timer.
  static size_t bytes_per_connection(const TcpStack& s);

 private:
  struct Listener {
    TcpListen spec;
    uint32_t syn_received = 0;  // current SYN-RECEIVED children
    bool used = false;
  };
  struct Segment;  // a received segment being processed (tcp_input.cc)

  TcpStack(const TcpConfig& config, NetStack* net, rte_mempool* pool);

  // tcp.cc: slots, handles, lists, time, API helpers.
  TcpConn* lookup(ConnHandle h, TcpResult* why);
  const TcpConn* lookup(ConnHandle h) const;
  ConnHandle handle_of(uint32_t slot) const;
  uint32_t slot_of(const TcpConn& c) const {
    return static_cast<uint32_t>(&c - conns_.data());
  }
  TcpConn* alloc_conn(const FlowKey& key);
  // alloc_conn() for a passive open, counted against its source. Null when
  // the source is at its limit or no slot is free; the segment is then
  // dropped and counted.
  TcpConn* alloc_passive(Segment& s);
  // Takes the connection out of the flow table and uncounts its source.
  void unlink_flow(TcpConn& c);
  void free_conn(TcpConn& c);
  void release_if_zombie(TcpConn& c);
  uint32_t deadline(uint32_t ms) const;
  void ack_now(TcpConn& c) {
    c.set(kFlagAckNow);
    mark_output(c);
  }
  void set_state(TcpConn& c, TcpState s);
  void mark_ready(TcpConn& c);
  void mark_output(TcpConn& c);
  void flush_output();
  void update_clock(uint64_t now);
  void rearm_timer(TcpConn& c);
  void count_drop(DropReason r) { ++stats_.drops[static_cast<size_t>(r)]; }
  void drop(rte_mbuf* m, DropReason r);
  int find_listener(const FlowKey& key) const;
  bool take_challenge_token();
  void init_conn_common(TcpConn& c);
  void enter_closed(TcpConn& c, TcpCloseReason reason, bool reset);
  void enter_time_wait(TcpConn& c);
  uint32_t rcv_space(const TcpConn& c) const;

  // tcp_input.cc: RFC 9293 3.10.7 SEGMENT ARRIVES.
  void rx_one(const L4Packet& p, uint8_t hops);
  bool forward_stray(const L4Packet& p, bool syn, uint8_t hops);
  void rx_too_big(const L4Packet& p, uint8_t hops);
  void drop_seg(Segment& s, DropReason r);
  void rx_no_connection(Segment& s);
  void rx_listen(Segment& s, int listener);
  bool rx_syn_cookie_ack(Segment& s, int listener);
  void rx_syn_sent(TcpConn& c, Segment& s);
  void rx_synchronized(TcpConn& c, Segment& s);
  bool rx_ack(TcpConn& c, Segment& s);
  void rx_data(TcpConn& c, Segment& s);
  void rx_fin(TcpConn& c);
  void negotiate_syn_options(TcpConn& c, const TcpHeader& h);
  void free_acked(TcpConn& c, uint32_t bytes);
  void on_established(TcpConn& c);

  // tcp_output.cc
  void output(TcpConn& c);
  void restart_after_idle(TcpConn& c);
  void output_recovery(TcpConn& c);
  bool send_data(TcpConn& c, uint32_t seq, uint32_t len, bool retransmit);
  bool send_control(TcpConn& c, uint8_t flags, uint32_t seq);
  /// A pure ACK carries SEG.SEQ = SND.MAX, as BSD's tcp_output does: after
  /// a timeout SND.NXT is pulled back (go-back-N) and an ACK stamped with
  /// it would fall below the peer's RCV.NXT, be unacceptable and be
  /// answered with an ACK of its own, each way, forever.
  void send_ack(TcpConn& c) { send_control(c, kTcpAck, c.snd_max); }
  bool send_syn(TcpConn& c);
  void send_rst_for(const Segment& s);
  void send_cookie_syn_ack(const Segment& s, uint32_t cookie, uint32_t tsval,
                           uint16_t mss, bool wscale);
  rte_mbuf* build_segment(const FlowKey& key, uint32_t seq, uint32_t ack,
                          uint8_t flags, uint16_t window,
                          const TcpOptionsOut& opts);
  // `payload_sum`: the payload's checksum sum when attach_payload() summed
  // it as it copied it (then only the header is read for the checksum).
  bool transmit(const FlowKey& key, rte_mbuf* m, bool dont_fragment = true,
                std::optional<uint32_t> payload_sum = std::nullopt);
  uint16_t advertise_window(TcpConn& c, bool syn);
  void fill_ts(const TcpConn& c, TcpOptionsOut* o) const;
  void fill_sack(const TcpConn& c, TcpOptionsOut* o, uint16_t room) const;
  // Appends `len` queued bytes from `seq` to the header mbuf `hdr`; with
  // `sum` non-null (software checksum) a payload that fits behind the
  // header is copied and summed, the sum left in *sum.
  bool attach_payload(TcpConn& c, rte_mbuf* hdr, uint32_t seq, uint32_t len,
                      std::optional<uint32_t>* sum);
  // The send-queue mbuf holding byte `seq` (null past the end), and in
  // *seg_seq the sequence number of its first byte.
  rte_mbuf* send_queue_at(const TcpConn& c, uint32_t seq,
                          uint32_t* seg_seq) const;
  // How many of the `len` queued bytes from `seq` fit in `pieces` mbufs
  // referencing the send queue.
  uint32_t bytes_in_pieces(const TcpConn& c, uint32_t seq, uint32_t len,
                           uint32_t pieces) const;
  void enter_recovery(TcpConn& c);
  uint32_t flight_size(const TcpConn& c) const;
  uint16_t mss_for(L3Family f) const;

  // tcp_timers.cc
  void on_timer(uint32_t slot);
  void on_rexmit_timeout(TcpConn& c);
  void on_persist_timeout(TcpConn& c);
  void on_keepalive_timeout(TcpConn& c);
  void start_rexmit(TcpConn& c);

  TcpConfig cfg_;
  NetStack* net_;
  // Largest TSO send and its mbuf limit (NetConfig::tx_offloads; 0: none).
  uint32_t tso_max_ = 0;
  uint16_t tso_max_mbufs_ = 0;
  rte_mempool* pool_;
  RtoParams rto_params_;
  SipKey isn_key_;
  SipKey cookie_key_;
  uint64_t now_ticks_ = 0;
  uint64_t now_us_ = 0;
  uint64_t now_ms64_ = 0;
  uint32_t now_ms_ = 0;
  uint64_t challenge_credit_ = 0;  // in ms * per-second units
  uint64_t challenge_last_ms_ = 0;
  uint32_t last_cookie_counter_ = 0;
  bool cookies_sent_ = false;
  uint8_t stray_max_hops_ = 0;
  StraySink* stray_sink_ = nullptr;
  uint32_t port_cursor_ = 0;
  uint32_t ready_head_ = 0;
  uint32_t ready_tail_ = 0;
  uint32_t output_head_ = 0;
  uint32_t output_tail_ = 0;

  std::vector<TcpConn> conns_;
  std::vector<uint32_t> free_slots_;
  std::vector<Listener> listeners_;
  FlowTable flows_;
  // Passive connections per source; buckets only when the limit is on.
  SourceTable sources_;
  TimerWheel wheel_;
  TcpStats stats_;
};

}  // namespace dptls::net
