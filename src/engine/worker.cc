#include "engine/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_random.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "dptls/app/echo.h"
#include "dptls/app/http.h"
#include "dptls/tls/cipher_suite.h"

namespace dptls::engine {

namespace {

constexpr uint16_t kBurst = 32;
constexpr uint32_t kNone = UINT32_MAX;
// Sealed records held before they are handed to TCP in one go.
constexpr size_t kMaxSealed = 1024;
// Responses taken from one ring per loop, so one busy handshake thread
// cannot starve the packets.
constexpr int kResponsesPerLoop = 64;
// A record is sized for the dynamic policy's small records; write_space()
// reserves one record's overhead per this many plaintext bytes.
constexpr size_t kSpaceRecordEstimate = 1024;

// write_space() below this asks TCP for a kWritable event.
constexpr size_t kWakeSpace = size_t{16} * 1024;

// Room write_space() keeps free in TCP's send buffer for the control
// records the worker sends outside the application's accounting: a
// KeyUpdate (27 bytes) and an alert (24). Without it a KeyUpdate the peer
// asked for mid-transfer took room already promised to a data record,
// which TCP then refused (tcp_send_refused): the connection was reset
// after a record under the new key had been skipped.
constexpr size_t kControlReserve = 2 * (tls::RecordEngine::kSealOverhead + 5);

// While the engine drains, how long a connection whose handshake has just
// ended may take to send its first request before it counts as idle (and
// is closed with close_notify): without it, clients that connected right
// before SIGTERM were closed before they could ask anything.
constexpr uint64_t kDrainGraceMs = 1000;

// Record buffer pressure (architecture.md, "Record buffer pressure"): the
// pool is under pressure once fewer than 1/kPressureLowDiv of its buffers
// are free, and leaves it when more than 1/kPressureHighDiv are.
constexpr uint32_t kPressureLowDiv = 4;
constexpr uint32_t kPressureHighDiv = 2;
// Under pressure, the record buffers a session may hold in TCP (sent, not
// yet acknowledged) before it gets no more: a fair share, so that new
// sessions and handshake completions still find buffers. Four full
// records are 64 KB in flight, enough for a LAN-speed download.
constexpr uint32_t kPressureShare = 4;
// Progress over timeouts.send_stall_ms below one full record of newly
// acknowledged data counts as a stall: a reader that acknowledges a byte
// at a time still stalls.
constexpr uint64_t kStallProgressBytes = 16384;
// Payload bytes a record buffer holds at most (for the estimate of the
// buffers a stalled session frees).
constexpr uint64_t kRecordBufferBytes = 16384 + 256;
// Sessions reset for pressure per sweep (every 100 ms), at most.
constexpr size_t kMaxPressureResets = 64;

enum class Phase : uint8_t { kFree, kHandshake, kOpen, kClosing };

}  // namespace

// One connection's session: its TLS state, the application's slot and the
// worker's bookkeeping. Indexed by the TCP handle's slot.
struct Worker::Session final : app::AppConn {
  Worker::Impl* w = nullptr;
  net::ConnHandle h{};
  uint32_t slot = 0;
  uint16_t listener = 0;
  Phase phase = Phase::kFree;
  bool hs_inflight = false;   // a batch is at the handshake thread
  bool in_dirty = false;      // on the list to collect records from
  bool in_consume = false;    // on the list to report consumed bytes
  bool in_tx = false;         // on the list to finish records / shut down
  bool in_retry = false;      // waits for room in a handshake ring
  bool app_open = false;      // on_open called, on_close not yet
  bool shutdown_req = false;  // the app asked for close_notify
  mutable bool want_writable = false;  // a kWritable event was asked for
  bool abort_pending = false;  // abort asked for while records were open
  bool heard_from = false;     // data arrived since the handshake
  bool in_buf_wait = false;    // waits for a record buffer (buf_wait)
  uint8_t buf_next = 0;        // next slot of buf_end
  uint32_t consume_bytes = 0;
  // A piece TCP had already counted consumed (bytes that came back from
  // the handshake thread after the client's Finished) left the record
  // buffer: delivery, paused when the buffer was full, must resume.
  bool resume_rx = false;
  uint32_t live_prev = kNone;
  uint32_t live_next = kNone;
  uint64_t deadline = 0;   // TSC: handshake deadline or idle expiry
  uint64_t opened_at = 0;  // TSC: when the keys arrived
  // Bytes handed to TCP since the connection opened (handshake, records,
  // alerts): TCP's unacknowledged count subtracted gives the bytes
  // acknowledged, and with buf_end the record buffers TCP still holds.
  uint64_t sent_total = 0;
  // sent_total after each of the last kPressureShare record buffers.
  uint64_t buf_end[kPressureShare] = {};
  // The stall window (pressure): acknowledged bytes at its start, and when
  // it started (TSC).
  uint64_t progress_mark = 0;
  uint64_t progress_at = 0;
  // The session's open record buffer: data_len bytes of records already
  // queued for sealing, then (rec_open) the record write() is filling,
  // its plaintext at data_len + kRecordHeaderLen.
  rte_mbuf* rec_m = nullptr;
  bool rec_open = false;
  uint32_t rec_len = 0;
  uint32_t rec_cap = 0;
  // Wire bytes of this round's records not yet handed to TCP.
  uint32_t round_wire = 0;
  uint8_t alpn_len = 0;
  uint8_t sni_len = 0;
  uint8_t id_len = 0;
  char alpn_buf[32] = {};
  char sni_buf[128] = {};
  char id_buf[128] = {};
  tls::RecordConn rec;

  size_t write_space() const override;
  size_t write(std::span<const uint8_t> bytes) override;
  void shutdown() override;
  void abort() override;
  std::string_view alpn() const override { return {alpn_buf, alpn_len}; }
  std::string_view server_name() const override { return {sni_buf, sni_len}; }
  std::string_view peer_identity() const override { return {id_buf, id_len}; }
  void zero_app_state() { std::memset(state_, 0, sizeof(state_)); }
};

struct Worker::Impl final : tls::RecordSink, net::StraySink {
  explicit Impl(const WorkerSetup& s) : setup(s) {}

  const WorkerSetup& setup;
  const config::Config& cfg() const { return *setup.config; }

  std::unique_ptr<net::NetStack> net;
  std::unique_ptr<net::TcpStack> tcp;
  std::unique_ptr<crypto::AeadBackend> backend;
  std::unique_ptr<tls::RecordEngine> engine;
  std::unique_ptr<net::FaultInjector> fault_rx;
  std::unique_ptr<net::FaultInjector> fault_tx;
  bool port_offloads = false;  // the stack leaves checksums/TSO to the port
  std::vector<std::unique_ptr<app::Application>> apps;  // per listener
  std::vector<Session> sessions;
  uint32_t live_head = kNone;
  uint32_t live = 0;
  uint32_t in_handshake = 0;
  std::vector<uint32_t> dirty, consume, tx, retry, deferred_aborts;
  // kClosed notices a full request ring deferred (capacity reserved).
  struct OwedClose {
    net::ConnHandle h;
    uint16_t listener;
  };
  std::vector<OwedClose> closed_owed;
  // Sessions that wait for a record buffer (the pool was empty, or they
  // had their share under pressure): retried every timer tick, not by a
  // kWritable event, which TCP would raise at once (their queue is not
  // full) and so spin the loop.
  std::vector<uint32_t> buf_wait;
  // Record buffer pressure.
  bool pressure = false;
  uint32_t record_low = 0;   // free buffers below this: pressure
  uint32_t record_high = 0;  // free buffers above this: no pressure
  uint64_t send_stall = 0;   // TSC ticks: timeouts.send_stall_ms
  struct StallCandidate {
    uint32_t slot;
    uint32_t held;      // record buffers TCP holds for it (estimate)
    uint32_t unacked;   // bytes
    uint64_t progress;  // bytes acknowledged in its stall window
  };
  std::vector<StallCandidate> stalled;  // sweep() scratch, reserved
  // Sessions that want a kWritable event; asked of TCP once the round's
  // records are in its queue (else the event would fire at once, forever).
  std::vector<uint32_t> wake;
  // Inside RecordEngine::open_flush: a session cannot end (its records
  // are still being delivered); aborts wait for the flush to return.
  bool in_open_flush = false;
  struct Sealed {
    net::ConnHandle h;
    rte_mbuf* m;
  };
  std::vector<Sealed> sealed;
  WorkerCounters c;

  uint64_t now = 0;  // TSC of this loop
  // now in ns, for the record size policy: converted when a record is
  // started, at most once a loop (the conversion showed in profiles).
  uint64_t ns_cache = 0;
  uint64_t ns_cache_at = 0;  // the TSC ns_cache was converted from
  uint64_t now_ns() {
    if (ns_cache_at != now) {
      ns_cache = static_cast<uint64_t>(static_cast<double>(now) * ns_per_tick);
      ns_cache_at = now;
    }
    return ns_cache;
  }
  uint64_t hz = 1;
  double ns_per_tick = 1;  // a multiply, not a 128-bit divide
  // The applications' wall clock (Application::on_clock): the engine's,
  // which the control plane keeps in step with the system clock, else (no
  // engine, as in tests) one set from the wall clock read at start-up.
  const WallClock* wall_clock = nullptr;
  std::unique_ptr<WallClock> own_wall_clock;
  uint64_t clock_seconds = 0;  // what the applications were last told
  // Tells the applications the wall clock's second at TSC `t`, if it changed
  // (or `always`).
  void tell_clock(uint64_t t, bool always) {
    const uint64_t seconds = wall_clock->now_ns(t) / 1'000'000'000;
    if (seconds == clock_seconds && !always) {
      return;
    }
    clock_seconds = seconds;
    for (const std::unique_ptr<app::Application>& a : apps) {
      a->on_clock(seconds);
    }
  }
  // Burst arrays, built once: their elements have member initialisers, and
  // constructing them on the stack every loop showed up in profiles.
  net::TcpEvent events[kBurst];
  net::L4Packet l4[kBurst];
  uint64_t hs_timeout = 0;    // TSC ticks
  uint64_t idle_timeout = 0;  // TSC ticks
  uint64_t drain_grace = 0;   // TSC ticks: kDrainGraceMs
  bool draining = false;
  uint64_t busy = 0, idle = 0;
  uint64_t window_busy = 0, window_idle = 0, busy_ppm = 0;

  // ---- helpers ----
  Session* session_of(net::ConnHandle h) {
    if (h.slot() >= sessions.size()) {
      return nullptr;
    }
    Session& s = sessions[h.slot()];
    return s.phase != Phase::kFree && s.h == h ? &s : nullptr;
  }
  static void mark(std::vector<uint32_t>& list, bool& flag, uint32_t slot) {
    if (!flag) {
      flag = true;
      list.push_back(slot);
    }
  }
  void mark_dirty(Session& s) { mark(dirty, s.in_dirty, s.slot); }
  void mark_tx(Session& s) { mark(tx, s.in_tx, s.slot); }
  SpscRing<HsRequest>& request_ring(net::ConnHandle h) {
    return *setup.requests[h.slot() % setup.requests.size()];
  }

  rte_mbuf* alloc_packet() {
    rte_mbuf* m = rte_pktmbuf_alloc(setup.pool);
    if (m == nullptr) {
      ++c.packet_pool_empty;
    }
    return m;
  }

  // An mbuf's tag in the record buffer (hash.usr): its session's slot + 1,
  // with kTagPreConsumed when TCP already counted its bytes consumed.
  static constexpr uint32_t kTagPreConsumed = 0x80000000u;

  // The RxStream's release callback: frees one segment; bytes that came
  // from TCP are reported consumed, and a pre-consumed piece resumes
  // delivery (after the flush, per session): TCP pauses delivery when the
  // buffer is full (push_data's unread) until told of consumption, and a
  // buffer full of pieces the handshake thread gave back would otherwise
  // never tell it.
  static void release(void* ctx, void* owner) {
    auto* self = static_cast<Impl*>(ctx);
    auto* m = static_cast<rte_mbuf*>(owner);
    const uint32_t tag = m->hash.usr;
    const uint32_t index = (tag & ~kTagPreConsumed) - 1;
    if (tag != 0 && index < self->sessions.size()) {
      Session& s = self->sessions[index];
      if (s.phase != Phase::kFree) {
        if ((tag & kTagPreConsumed) != 0) {
          s.resume_rx = true;
        } else {
          s.consume_bytes += m->data_len;
        }
        mark(self->consume, s.in_consume, s.slot);
      }
    }
    rte_pktmbuf_free_seg(m);
  }

  // ---- session lifetime ----
  void link_live(Session& s) {
    s.live_prev = kNone;
    s.live_next = live_head;
    if (live_head != kNone) {
      sessions[live_head].live_prev = s.slot;
    }
    live_head = s.slot;
    ++live;
  }
  void unlink_live(Session& s) {
    if (s.live_prev != kNone) {
      sessions[s.live_prev].live_next = s.live_next;
    } else {
      live_head = s.live_next;
    }
    if (s.live_next != kNone) {
      sessions[s.live_next].live_prev = s.live_prev;
    }
    --live;
  }

  void on_accepted(const net::TcpEvent& e) {
    const uint16_t listener = static_cast<uint16_t>(e.user);
    if (draining) {
      ++c.refused_draining;
      tcp->abort(e.conn, now);
      return;
    }
    if (in_handshake >= cfg().limits.handshake_queue) {
      ++c.refused_handshake_queue;
      tcp->abort(e.conn, now);
      return;
    }
    Session& s = sessions[e.conn.slot()];
    s.h = e.conn;
    s.listener = listener;
    s.phase = Phase::kHandshake;
    s.hs_inflight = false;
    s.app_open = false;
    s.shutdown_req = false;
    s.want_writable = false;
    s.abort_pending = false;
    s.heard_from = false;
    s.consume_bytes = 0;
    s.resume_rx = false;
    s.sent_total = 0;
    std::fill(std::begin(s.buf_end), std::end(s.buf_end), 0);
    s.buf_next = 0;
    s.progress_mark = 0;
    s.progress_at = now;
    s.round_wire = 0;
    s.alpn_len = s.sni_len = s.id_len = 0;
    s.deadline = now + hs_timeout;
    s.rec.user = &s;
    ++in_handshake;
    link_live(s);
    ++c.connections_accepted;
  }

  // Tells the handshake thread a connection is gone, so its state goes
  // now and not at the thread's sweep (while it lives it counts against
  // the thread's state limit). A full ring defers the notice to
  // send_owed_closes(); only when that list is full too is it lost (the
  // sweep then removes the state).
  bool try_send_hs_closed(net::ConnHandle h, uint16_t listener) {
    HsRequest* r = request_ring(h).claim();
    if (r == nullptr) {
      return false;
    }
    r->conn = h;
    r->listener = listener;
    r->kind = HsRequestKind::kClosed;
    r->end = true;
    r->len = 0;
    request_ring(h).publish();
    ++c.handshake_requests;
    return true;
  }

  void send_hs_closed(Session& s) {
    if (try_send_hs_closed(s.h, s.listener)) {
      return;
    }
    ++c.handshake_ring_full;
    if (closed_owed.size() < closed_owed.capacity()) {
      closed_owed.push_back(OwedClose{s.h, s.listener});
      ++c.handshake_closed_deferred;
    } else {
      ++c.handshake_closed_lost;
    }
  }

  void send_owed_closes() {
    size_t kept = 0;
    for (const OwedClose& o : closed_owed) {
      if (!try_send_hs_closed(o.h, o.listener)) {
        closed_owed[kept++] = o;
      }
    }
    closed_owed.resize(kept);
  }

  void end_session(Session& s) {
    if (s.phase == Phase::kHandshake) {
      --in_handshake;
      send_hs_closed(s);
    }
    if (s.app_open) {
      s.app_open = false;
      apps[s.listener]->on_close(s);
    }
    if (s.rec_m != nullptr) {
      // Records queued from this buffer are sealed in place: seal them
      // (under the keys reset() is about to wipe) before it is freed.
      if (s.rec_m->data_len != 0) {
        engine->seal_flush();
      }
      rte_pktmbuf_free(s.rec_m);
      s.rec_m = nullptr;
      s.rec_open = false;
    }
    s.phase = Phase::kFree;
    s.rec.reset(&Impl::release, this);
    unlink_live(s);
    s.h = {};
    ++c.connections_closed;
  }

  // Resets the connection now; its session ends at once (abort() raises no
  // event).
  void abort_session(Session& s) {
    if (in_open_flush) {
      if (!s.abort_pending) {
        s.abort_pending = true;
        deferred_aborts.push_back(s.slot);
      }
      return;
    }
    const net::ConnHandle h = s.h;
    end_session(s);
    tcp->abort(h, now);
  }

  // Closes the session's TCP connection after its last record (FIN after
  // the queued data). A peer that never takes that data (a window kept at
  // zero, or too small) would hold the session and its record buffers for
  // as long as it answers our probes: sweep() resets it once it has been
  // closing for the idle timeout.
  void enter_closing(Session& s) {
    s.phase = Phase::kClosing;
    s.deadline = now + idle_timeout;
    tcp->close(s.h, now);
  }

  // ---- handshake hand-off ----

  // At most this much of one delivery goes to the handshake thread at a
  // time: what it gives back after the client's Finished (kPostFinished)
  // must fit the record buffer (RxStream::kMaxChunks pieces of up to
  // kHsChunk bytes), and a delivery can be much larger (a lost segment's
  // retransmission releases everything queued behind it). TCP keeps the
  // rest and delivers it again once the answer has come.
  static constexpr uint32_t kHsForwardMax = 16 * kHsChunk;
  static_assert(kHsForwardMax / kHsChunk <= tls::RxStream::kMaxChunks);

  // Gives all of `chain` after its first `share` bytes (whole segments;
  // at least one is kept) back to TCP. False when TCP refuses (the chain
  // is freed).
  bool keep_forward_share(Session& s, rte_mbuf* chain, uint32_t share) {
    if (chain->pkt_len <= share) {
      return true;
    }
    rte_mbuf* last = chain;
    uint32_t kept = chain->data_len;
    uint16_t segs = 1;
    while (last->next != nullptr && kept + last->next->data_len <= share) {
      last = last->next;
      kept += last->data_len;
      ++segs;
    }
    rte_mbuf* rest = last->next;
    if (rest == nullptr) {
      return true;
    }
    last->next = nullptr;
    rest->pkt_len = chain->pkt_len - kept;
    rest->nb_segs = static_cast<uint16_t>(chain->nb_segs - segs);
    chain->pkt_len = kept;
    chain->nb_segs = segs;
    if (tcp->unread(s.h, rest) != net::TcpResult::kOk) {
      rte_pktmbuf_free(rest);
      rte_pktmbuf_free(chain);
      return false;
    }
    return true;
  }

  void forward_handshake(Session& s, rte_mbuf* chain) {
    SpscRing<HsRequest>& ring = request_ring(s.h);
    // No more than the ring can ever hold, either (handshake_queue may be
    // set as low as 1 slot).
    const auto share = static_cast<uint32_t>(
        std::min<size_t>(kHsForwardMax, ring.capacity() * kHsChunk));
    if (!s.hs_inflight && !keep_forward_share(s, chain, share)) {
      abort_session(s);
      return;
    }
    const uint32_t len = chain->pkt_len;
    const size_t chunks = (len + kHsChunk - 1) / kHsChunk;
    if (s.hs_inflight || ring.free_slots() < chunks) {
      // Keep the bytes in TCP (its window closes) until the answer comes
      // or the ring has room.
      if (!s.hs_inflight) {
        ++c.handshake_ring_full;
        mark(retry, s.in_retry, s.slot);
      }
      if (tcp->unread(s.h, chain) != net::TcpResult::kOk) {
        rte_pktmbuf_free(chain);
        abort_session(s);
      }
      return;
    }
    const rte_mbuf* seg = chain;
    uint32_t seg_off = 0;
    for (size_t i = 0; i < chunks; ++i) {
      HsRequest* r = ring.claim();
      r->conn = s.h;
      r->listener = s.listener;
      r->kind = HsRequestKind::kData;
      r->end = i + 1 == chunks;
      uint16_t n = 0;
      while (n < kHsChunk && seg != nullptr) {
        const uint32_t take =
            std::min<uint32_t>(kHsChunk - n, seg->data_len - seg_off);
        std::memcpy(r->data + n,
                    rte_pktmbuf_mtod_offset(seg, const uint8_t*, seg_off),
                    take);
        n = static_cast<uint16_t>(n + take);
        seg_off += take;
        if (seg_off == seg->data_len) {
          seg = seg->next;
          seg_off = 0;
        }
      }
      r->len = n;
      ring.publish();
      ++c.handshake_requests;
    }
    rte_pktmbuf_free(chain);
    tcp->consumed(s.h, len, now);
    s.hs_inflight = true;
  }

  // A packet mbuf holding a copy of `len` bytes (len <= kHsChunk fits).
  rte_mbuf* copy_to_mbuf(const uint8_t* data, uint16_t len) {
    rte_mbuf* m = alloc_packet();
    if (m == nullptr) {
      return nullptr;
    }
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len));
    if (p == nullptr) {
      rte_pktmbuf_free(m);
      return nullptr;
    }
    std::memcpy(p, data, len);
    return m;
  }

  // Bytes the handshake thread wants sent.
  bool send_bytes(Session& s, const uint8_t* data, uint16_t len) {
    rte_mbuf* m = copy_to_mbuf(data, len);
    if (m == nullptr) {
      return false;
    }
    const uint32_t len_sent = m->pkt_len;
    if (tcp->send(s.h, m, now) != net::TcpResult::kOk) {
      rte_pktmbuf_free(m);
      return false;
    }
    count_sent(s, len_sent, false);
    return true;
  }

  // Raw record bytes after the client's Finished: fed to the record engine
  // before anything TCP delivers later.
  bool push_post_finished(Session& s, const uint8_t* data, uint16_t len) {
    rte_mbuf* m = copy_to_mbuf(data, len);
    if (m == nullptr) {
      return false;
    }
    // Already reported consumed to TCP (forward_handshake).
    m->hash.usr = static_cast<uint32_t>(s.slot + 1) | kTagPreConsumed;
    if (!s.rec.rx.push(tls::RxChunk{rte_pktmbuf_mtod(m, uint8_t*), len, m})) {
      rte_pktmbuf_free(m);
      return false;
    }
    return true;
  }

  void install(Session& s, HsKeys& k) {
    const tls::DirectionSecret rx{{k.client_secret, k.secret_len},
                                  k.client_next_seq};
    const tls::DirectionSecret txs{{k.server_secret, k.secret_len},
                                   k.server_next_seq};
    const bool ok =
        engine->install(s.rec, static_cast<tls::CipherSuite>(k.suite), rx, txs,
                        k.peer_record_size_limit, k.own_record_size_limit);
    if (ok) {
      s.alpn_len = std::min<uint8_t>(k.alpn_len, sizeof(s.alpn_buf));
      std::memcpy(s.alpn_buf, k.alpn, s.alpn_len);
      s.sni_len = std::min<uint8_t>(k.sni_len, sizeof(s.sni_buf));
      std::memcpy(s.sni_buf, k.sni, s.sni_len);
      s.id_len = static_cast<uint8_t>(
          std::min<size_t>(k.identity_len, sizeof(s.id_buf)));
      std::memcpy(s.id_buf, k.identity, s.id_len);
    }
    k.wipe();  // secrets and metadata: the slot goes back to the ring
    --in_handshake;
    s.hs_inflight = false;
    if (!ok) {
      ++c.install_failures;
      s.phase = Phase::kClosing;  // not counted in in_handshake any more
      abort_session(s);
      return;
    }
    s.phase = Phase::kOpen;
    s.deadline = now + idle_timeout;
    s.opened_at = now;
    ++c.handshakes_completed;
    s.zero_app_state();
    s.app_open = true;
    apps[s.listener]->on_open(s);
    if (s.phase == Phase::kOpen) {
      mark_dirty(s);
      tcp->consumed(s.h, 0, now);  // resume delivery
    }
  }

  void poll_responses() {
    for (SpscRing<HsResponse>* ring : setup.responses) {
      for (int i = 0; i < kResponsesPerLoop; ++i) {
        HsResponse* r = ring->peek();
        if (r == nullptr) {
          break;
        }
        ++c.handshake_responses;
        Session* s = session_of(r->conn);
        if (s == nullptr || s->phase != Phase::kHandshake) {
          ++c.handshake_stale_responses;
          if (r->kind == HsResponseKind::kDone) {
            r->keys.wipe();
          }
          ring->pop();
          continue;
        }
        switch (r->kind) {
          case HsResponseKind::kSend:
            if (!send_bytes(*s, r->data, r->len)) {
              abort_session(*s);
            }
            break;
          case HsResponseKind::kPostFinished:
            if (!push_post_finished(*s, r->data, r->len)) {
              abort_session(*s);
            }
            break;
          case HsResponseKind::kNeedMore:
            s->hs_inflight = false;
            tcp->consumed(s->h, 0, now);  // resume delivery
            break;
          case HsResponseKind::kDone:
            install(*s, r->keys);
            break;
          case HsResponseKind::kFailed:
            ++c.handshakes_failed;
            --in_handshake;
            s->hs_inflight = false;
            // The alert went out with the kSend before; the handshake
            // thread dropped its state.
            enter_closing(*s);
            break;
        }
        ring->pop();
      }
    }
  }

  // Hands frames to the port: the port's offload checks first when the
  // stack left it work (rte_eth_tx_prepare), then one burst. Frees and
  // counts what it refused; false when its queue was full.
  bool send_frames(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n) {
    if (port_offloads) {
      for (uint16_t ok; (ok = rte_eth_tx_prepare(port, queue, pkts, n)) < n;) {
        // pkts[ok] is malformed for the port: drop it, check the rest.
        rte_pktmbuf_free(pkts[ok]);
        ++c.tx_prepare_failed;
        std::copy(pkts + ok + 1, pkts + n, pkts + ok);
        --n;
      }
    }
    const uint16_t sent = rte_eth_tx_burst(port, queue, pkts, n);
    for (uint16_t i = sent; i < n; ++i) {
      rte_pktmbuf_free(pkts[i]);
    }
    c.tx_dropped += n - sent;
    return sent == n;
  }

  // Copies every ARP/ND frame of a received burst to the other workers,
  // whose stacks learn from it (NetStack::learn_from).
  void share_neighbor_frames(rte_mbuf* const* pkts, uint16_t n) {
    for (uint16_t i = 0; i < n; ++i) {
      if (!net::NetStack::is_neighbor_frame(pkts[i])) {
        continue;
      }
      for (rte_ring* peer : setup.neighbors_out) {
        rte_mbuf* copy = rte_pktmbuf_copy(pkts[i], setup.pool, 0, UINT32_MAX);
        if (copy == nullptr || rte_ring_enqueue(peer, copy) != 0) {
          rte_pktmbuf_free(copy);
          ++c.neighbor_share_failed;
          continue;
        }
        ++c.neighbor_frames_shared;
      }
    }
  }

  // net::StraySink: a segment none of our connections match, for the next
  // worker.
  bool forward_stray(const net::StraySegment& seg) override {
    net::StraySegment copy = seg;  // the ring's API takes a mutable pointer
    if (rte_ring_sp_enqueue_elem(setup.strays_next, &copy, sizeof(copy)) != 0) {
      ++c.stray_ring_full;
      return false;
    }
    return true;
  }

  // Segments the previous worker found no connection for.
  void take_strays(uint64_t t) {
    net::StraySegment segs[16];
    const unsigned k = rte_ring_sc_dequeue_burst_elem(
        setup.strays_in, segs, sizeof(segs[0]), 16, nullptr);
    if (k != 0) {
      tcp->rx_strays(segs, static_cast<uint16_t>(k), t);
    }
  }

  // Learns from the ARP/ND frames the other workers received.
  void learn_shared_neighbors(uint64_t t) {
    rte_mbuf* frames[16];
    const unsigned k = rte_ring_dequeue_burst(
        setup.neighbors_in, reinterpret_cast<void**>(frames), 16, nullptr);
    for (unsigned i = 0; i < k; ++i) {
      net->learn_from(frames[i], t);
    }
  }

  void run_retries() {
    for (uint32_t slot : retry) {
      Session& s = sessions[slot];
      s.in_retry = false;
      if (s.phase == Phase::kHandshake && !s.hs_inflight) {
        tcp->consumed(s.h, 0, now);  // deliver the held bytes again
      }
    }
    retry.clear();
  }

  // ---- received data on an open session ----
  void push_data(Session& s, rte_mbuf* chain) {
    const auto tag = static_cast<uint32_t>(s.slot + 1);
    rte_mbuf* m = chain;
    while (m != nullptr) {
      rte_mbuf* next = m->next;
      if (s.rec.rx.full()) {
        // Give the rest back: TCP holds it until bytes are consumed.
        uint32_t bytes = 0;
        uint16_t segs = 0;
        for (rte_mbuf* p = m; p != nullptr; p = p->next) {
          bytes += p->data_len;
          ++segs;
        }
        m->pkt_len = bytes;
        m->nb_segs = segs;
        if (tcp->unread(s.h, m) != net::TcpResult::kOk) {
          rte_pktmbuf_free(m);
          abort_session(s);
        }
        break;
      }
      m->next = nullptr;
      m->nb_segs = 1;
      m->pkt_len = m->data_len;
      if (m->data_len == 0) {
        rte_pktmbuf_free_seg(m);
      } else {
        m->hash.usr = tag;
        s.rec.rx.push(
            tls::RxChunk{rte_pktmbuf_mtod(m, uint8_t*), m->data_len, m});
      }
      m = next;
    }
    if (s.phase == Phase::kOpen) {
      mark_dirty(s);
    }
  }

  void on_data_event(const net::TcpEvent& e) {
    Session* s = session_of(e.conn);
    if (s == nullptr) {
      rte_pktmbuf_free(e.data);
      return;
    }
    switch (s->phase) {
      case Phase::kHandshake:
        forward_handshake(*s, e.data);
        break;
      case Phase::kOpen:
        s->deadline = now + idle_timeout;
        s->heard_from = true;
        push_data(*s, e.data);
        break;
      default:
        tcp->consumed(s->h, e.data->pkt_len, now);
        rte_pktmbuf_free(e.data);
        break;
    }
  }

  void on_peer_closed_event(Session& s) {
    if (s.phase == Phase::kHandshake) {
      abort_session(s);
      return;
    }
    if (s.phase == Phase::kOpen && !s.rec.rx_closed() && s.app_open) {
      // A FIN without close_notify: a truncation (RFC 8446 6.1); the
      // application may still answer what it has.
      apps[s.listener]->on_peer_closed(s);
    }
    if (s.phase == Phase::kOpen) {
      mark_tx(s);
    } else if (s.phase == Phase::kClosing) {
      tcp->close(s.h, now);
    }
  }

  void poll_tcp_events() {
    net::TcpEvent* ev = events;
    // Bounded, so that a stream of events cannot starve the port.
    uint16_t n = 0;
    for (int round = 0; round < 8 && (n = tcp->poll_events(ev, kBurst)) != 0;
         ++round) {
      for (uint16_t i = 0; i < n; ++i) {
        const net::TcpEvent& e = ev[i];
        switch (e.type) {
          case net::TcpEventType::kAccepted:
            on_accepted(e);
            break;
          case net::TcpEventType::kConnected:
            tcp->abort(e.conn, now);  // no active opens yet
            break;
          case net::TcpEventType::kData:
            on_data_event(e);
            break;
          case net::TcpEventType::kWritable:
            if (Session* s = session_of(e.conn);
                s != nullptr && s->phase == Phase::kOpen && s->app_open) {
              s->want_writable = false;
              mark_dirty(*s);
              apps[s->listener]->on_writable(*s);
            }
            break;
          case net::TcpEventType::kPeerClosed:
            if (Session* s = session_of(e.conn); s != nullptr) {
              on_peer_closed_event(*s);
            }
            break;
          case net::TcpEventType::kClosed:
          case net::TcpEventType::kReset:
            if (Session* s = session_of(e.conn); s != nullptr) {
              end_session(*s);
            }
            break;
        }
      }
    }
  }

  // ---- records ----
  void open_records() {
    for (size_t i = 0; i < dirty.size(); ++i) {
      Session& s = sessions[dirty[i]];
      s.in_dirty = false;
      if (s.phase != Phase::kOpen || !s.rec.established() ||
          s.rec.rx_closed() || s.rec.rx.uncut() == 0) {
        continue;
      }
      if (!apps[s.listener]->wants_data(s, s.rec.rx.uncut())) {
        // Woken again when its send queue drains.
        if (!s.want_writable) {
          s.want_writable = true;
          wake.push_back(s.slot);
        }
        continue;
      }
      for (;;) {
        const size_t added = engine->collect(s.rec);
        if (engine->open_batch_full()) {
          open_flush();
          continue;
        }
        if (added == 0 && s.rec.rx.full()) {
          // 32 pieces and not one whole record: only a peer that sends
          // tiny segments slowly does this.
          ++c.rx_stream_stuck;
          abort_session(s);
        }
        break;
      }
    }
    dirty.clear();
    if (engine->open_batch_size() != 0) {
      open_flush();
    }
    for (uint32_t slot : consume) {
      Session& s = sessions[slot];
      s.in_consume = false;
      if (s.phase != Phase::kFree && (s.consume_bytes != 0 || s.resume_rx)) {
        tcp->consumed(s.h, s.consume_bytes, now);
      }
      s.consume_bytes = 0;
      s.resume_rx = false;
    }
    consume.clear();
  }

  // Opens the batch; sessions whose abort was asked for meanwhile end
  // after it.
  void open_flush() {
    in_open_flush = true;
    engine->open_flush(*this, &Impl::release, this);
    in_open_flush = false;
    for (uint32_t slot : deferred_aborts) {
      Session& s = sessions[slot];
      if (s.abort_pending && s.phase != Phase::kFree) {
        s.abort_pending = false;
        abort_session(s);
      }
    }
    deferred_aborts.clear();
  }

  // RecordSink.
  void on_data(tls::RecordConn& conn,
               std::span<const crypto::IoSegment> data) override {
    Session& s = *static_cast<Session*>(conn.user);
    if (!s.app_open || s.phase != Phase::kOpen) {
      return;
    }
    for (const crypto::IoSegment& seg : data) {
      c.app_bytes_rx += seg.len;
    }
    apps[s.listener]->on_data(s, data);
  }
  void on_post_handshake(tls::RecordConn& conn,
                         std::span<const uint8_t> /*message*/) override {
    // We never send a post-handshake CertificateRequest, so a client has
    // nothing else to say here (RFC 8446 4.6).
    Session& s = *static_cast<Session*>(conn.user);
    fail_with_alert(s, tls::Alert::kUnexpectedMessage);
  }
  void on_key_update(tls::RecordConn& conn, bool respond) override {
    Session& s = *static_cast<Session*>(conn.user);
    if (respond) {
      send_key_update(s);
    }
  }
  void on_close_notify(tls::RecordConn& conn) override {
    Session& s = *static_cast<Session*>(conn.user);
    if (s.app_open && s.phase == Phase::kOpen) {
      apps[s.listener]->on_peer_closed(s);
    }
    mark_tx(s);
  }
  void on_error(tls::RecordConn& conn, tls::Alert alert,
                bool from_peer) override {
    Session& s = *static_cast<Session*>(conn.user);
    if (from_peer) {
      ++c.peer_alerts;
      enter_closing(s);
      return;
    }
    ++c.record_errors;
    fail_with_alert(s, alert);
  }

  // Sends an alert after everything already written and closes.
  void fail_with_alert(Session& s, tls::Alert alert) {
    if (s.phase != Phase::kOpen) {
      return;
    }
    finish_and_flush(s);
    send_control_record(s, [&](uint8_t* buf, size_t cap) {
      return engine->write_alert(s.rec, alert, buf, cap);
    });
    enter_closing(s);
  }

  void send_key_update(Session& s) {
    finish_and_flush(s);
    // seal_record() sends the update it finds owed before sealing the
    // open record: then it has gone already, and a second is not needed.
    if (s.phase != Phase::kOpen || !engine->needs_key_update(s.rec)) {
      return;
    }
    send_control_record(s, [&](uint8_t* buf, size_t cap) {
      return engine->write_key_update(s.rec, buf, cap, false);
    });
  }

  template <typename Write>
  void send_control_record(Session& s, Write&& write) {
    rte_mbuf* m = alloc_packet();
    if (m == nullptr) {
      abort_session(s);
      return;
    }
    const size_t len =
        write(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m));
    if (len == 0) {
      rte_pktmbuf_free(m);
      return;
    }
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    if (tcp->send(s.h, m, now) != net::TcpResult::kOk) {
      rte_pktmbuf_free(m);
      ++c.tcp_send_refused;
      abort_session(s);
      return;
    }
    count_sent(s, static_cast<uint32_t>(len), false);
  }

  // ---- record buffer accounting and pressure ----
  // Bytes handed to TCP and not yet acknowledged (TCP's send queue).
  uint32_t unacked(const Session& s) const {
    const uint32_t space = tcp->send_space(s.h);
    const uint32_t queued =
        space >= setup.tcp.snd_buf ? 0 : setup.tcp.snd_buf - space;
    return static_cast<uint32_t>(std::min<uint64_t>(queued, s.sent_total));
  }
  // Of the session's last kPressureShare record buffers, those TCP still
  // holds (a buffer is freed once all its bytes are acknowledged).
  static uint32_t held_buffers(const Session& s, uint32_t unacked_bytes) {
    const uint64_t acked = s.sent_total - unacked_bytes;
    uint32_t n = 0;
    for (const uint64_t end : s.buf_end) {
      n += end > acked ? 1 : 0;
    }
    return n;
  }
  // `len` bytes went to TCP (`record_buffer`: one record buffer's).
  void count_sent(Session& s, uint32_t len, bool record_buffer) {
    s.sent_total += len;
    if (!record_buffer) {
      return;
    }
    if (unacked(s) == len) {
      // Nothing was in flight before: its stall window starts now.
      s.progress_mark = s.sent_total - len;
      s.progress_at = now;
    }
    s.buf_end[s.buf_next] = s.sent_total;
    s.buf_next = static_cast<uint8_t>((s.buf_next + 1) % kPressureShare);
  }
  // Enters or leaves pressure by the pool's free count (hysteresis).
  void update_pressure() {
    const unsigned free_bufs = rte_mempool_avail_count(setup.record_pool);
    if (!pressure && free_bufs < record_low) {
      pressure = true;
      ++c.pressure_entered;
    } else if (pressure && free_bufs > record_high) {
      pressure = false;
    }
  }
  // Record buffers the session may still take under pressure (its share
  // minus what TCP holds for it); kPressureShare without pressure.
  uint32_t buffers_allowed(const Session& s) const {
    if (!pressure) {
      return kPressureShare;
    }
    const uint32_t held = held_buffers(s, unacked(s));
    return held >= kPressureShare ? 0 : kPressureShare - held;
  }
  // The session found no record buffer, or had its share: it waits on
  // buf_wait (retried each timer tick) rather than for a kWritable event.
  void wait_for_buffer(Session& s) {
    s.want_writable = true;
    if (!s.in_buf_wait) {
      s.in_buf_wait = true;
      buf_wait.push_back(s.slot);
    }
  }
  // Every timer tick: the waiting sessions that may now take a buffer are
  // told they can write. Sessions that fail again go back on the list.
  void retry_buffer_waits() {
    const size_t n = buf_wait.size();
    const bool any_free = rte_mempool_avail_count(setup.record_pool) != 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i) {
      Session& s = sessions[buf_wait[i]];
      if (s.phase != Phase::kOpen || !s.app_open) {
        s.in_buf_wait = false;
        continue;
      }
      if (!any_free || buffers_allowed(s) == 0) {
        buf_wait[kept++] = s.slot;
        continue;
      }
      s.in_buf_wait = false;
      s.want_writable = false;
      mark_dirty(s);
      apps[s.listener]->on_writable(s);
    }
    // Those on_writable() put back are behind the first n.
    buf_wait.erase(buf_wait.begin() + static_cast<ptrdiff_t>(kept),
                   buf_wait.begin() + static_cast<ptrdiff_t>(n));
  }

  // Under pressure (from sweep()): sessions that hold record buffers and
  // whose peer acknowledged less than kStallProgressBytes over
  // send_stall_ms are reset, those holding the most (then with the least
  // progress) first, until the buffers they free would lift the pool
  // above its high watermark; at most kMaxPressureResets a sweep.
  void reclaim_stalled() {
    stalled.clear();
    for (uint32_t slot = live_head; slot != kNone;) {
      Session& s = sessions[slot];
      slot = s.live_next;
      if (s.phase != Phase::kOpen && s.phase != Phase::kClosing) {
        continue;
      }
      const uint32_t u = unacked(s);
      const uint64_t acked = s.sent_total - u;
      if (u == 0 || acked - s.progress_mark >= kStallProgressBytes) {
        s.progress_mark = acked;
        s.progress_at = now;
        continue;
      }
      const uint32_t held = std::max<uint32_t>(
          held_buffers(s, u),
          static_cast<uint32_t>((u + kRecordBufferBytes - 1) /
                                kRecordBufferBytes));
      if (now - s.progress_at >= send_stall && held_buffers(s, u) != 0) {
        stalled.push_back(
            StallCandidate{s.slot, held, u, acked - s.progress_mark});
      }
    }
    if (stalled.empty()) {
      return;
    }
    std::sort(stalled.begin(), stalled.end(),
              [](const StallCandidate& a, const StallCandidate& b) {
                if (a.held != b.held) {
                  return a.held > b.held;
                }
                if (a.progress != b.progress) {
                  return a.progress < b.progress;
                }
                return a.unacked > b.unacked;
              });
    uint64_t free_bufs = rte_mempool_avail_count(setup.record_pool);
    size_t resets = 0;
    for (const StallCandidate& k : stalled) {
      if (free_bufs > record_high || resets == kMaxPressureResets) {
        break;
      }
      ++c.pressure_resets;
      ++resets;
      free_bufs += k.held;
      abort_session(sessions[k.slot]);
    }
  }

  // ---- sending ----
  // *share_bound (if given) says whether the session's share of record
  // buffers under pressure, not TCP's queue, set the limit: its wait is
  // then for buffers (buf_wait), not for a kWritable event.
  size_t write_space(const Session& s, bool* share_bound = nullptr) const {
    if (share_bound != nullptr) {
      *share_bound = false;
    }
    if (s.phase != Phase::kOpen || s.shutdown_req || s.rec.tx_closed()) {
      return 0;
    }
    const uint32_t space = tcp->send_space(s.h);
    if (space <=
        s.round_wire + tls::RecordEngine::kSealOverhead + kControlReserve) {
      return 0;
    }
    size_t avail = space - s.round_wire - kControlReserve;
    if (pressure) {
      // Its share's worth of full records, less what the open buffer
      // already took (round_wire).
      const size_t share = size_t{buffers_allowed(s)} * kRecordBufferBytes;
      if (share <= s.round_wire + tls::RecordEngine::kSealOverhead) {
        if (share_bound != nullptr) {
          *share_bound = true;
        }
        return 0;
      }
      if (share - s.round_wire < avail) {
        avail = share - s.round_wire;
        if (share_bound != nullptr) {
          *share_bound = true;
        }
      }
    }
    const size_t reserve =
        (avail / kSpaceRecordEstimate + 1) * tls::RecordEngine::kSealOverhead;
    return avail > reserve ? avail - reserve : 0;
  }

  // Starts a record where the policy's next size fits: behind the records
  // already in the session's open buffer, else in a new buffer. So the
  // small records at the start of a burst share 17 KB buffers (each took
  // one before: about 60 buffers per stalled download, now about 20) and
  // full-size records get one each.
  bool start_record(Session& s) {
    const size_t want = engine->next_record_size(s.rec, now_ns());
    if (s.rec_m != nullptr && (rte_pktmbuf_tailroom(s.rec_m) <
                                   want + tls::RecordEngine::kSealOverhead ||
                               engine->needs_key_update(s.rec))) {
      // A KeyUpdate goes out before the next record: this buffer's
      // records, sealed under the old key, go first.
      close_buffer(s);
      if (s.phase != Phase::kOpen) {
        return false;
      }
    }
    if (s.rec_m == nullptr) {
      rte_mbuf* m = rte_pktmbuf_alloc(setup.record_pool);
      if (m == nullptr) {
        ++c.record_pool_empty;
        if (!pressure) {
          pressure = true;
          ++c.pressure_entered;
        }
        return false;
      }
      s.rec_m = m;
    }
    const size_t room = rte_pktmbuf_tailroom(s.rec_m);
    s.rec_open = true;
    s.rec_len = 0;
    s.rec_cap = static_cast<uint32_t>(
        std::min(want, room - tls::RecordEngine::kSealOverhead));
    s.round_wire += tls::RecordEngine::kSealOverhead;
    mark_tx(s);
    return true;
  }

  // Where write() puts the open record's next plaintext byte.
  static uint8_t* record_tail(const Session& s) {
    return rte_pktmbuf_mtod_offset(
        s.rec_m, uint8_t*,
        s.rec_m->data_len + tls::kRecordHeaderLen + s.rec_len);
  }

  // Queues the open record for sealing; its buffer stays open for more.
  void seal_record(Session& s) {
    if (!s.rec_open) {
      return;
    }
    s.rec_open = false;
    if (engine->needs_key_update(s.rec)) {
      // Owed since the record started (start_record() sends one owed
      // before): the update must follow the buffer's earlier records
      // and precede this one, so this one moves to a buffer of its own.
      rte_mbuf* m = s.rec_m;
      if (m->data_len != 0) {
        rte_mbuf* fresh = rte_pktmbuf_alloc(setup.record_pool);
        if (fresh == nullptr) {
          ++c.record_pool_empty;
          abort_session(s);
          return;
        }
        std::memcpy(
            rte_pktmbuf_mtod_offset(fresh, uint8_t*, tls::kRecordHeaderLen),
            rte_pktmbuf_mtod_offset(m, const uint8_t*,
                                    m->data_len + tls::kRecordHeaderLen),
            s.rec_len);
        m->pkt_len = m->data_len;
        sealed.push_back(Sealed{s.h, m});
        m = fresh;
      }
      s.rec_m = nullptr;
      flush_sealed();
      send_key_update(s);
      if (s.phase != Phase::kOpen) {
        rte_pktmbuf_free(m);
        return;
      }
      s.rec_m = m;
    }
    rte_mbuf* m = s.rec_m;
    const size_t len =
        engine->queue_seal(s.rec, tls::ContentType::kApplicationData,
                           rte_pktmbuf_mtod_offset(m, uint8_t*, m->data_len),
                           s.rec_len, rte_pktmbuf_tailroom(m));
    if (len == 0) {
      s.round_wire = 0;
      abort_session(s);
      return;
    }
    m->data_len = static_cast<uint16_t>(m->data_len + len);
    m->pkt_len = m->data_len;
  }

  // Seals the open record, if any, and queues the session's buffer to be
  // handed to TCP after the batch's AEAD call.
  void close_buffer(Session& s) {
    seal_record(s);
    rte_mbuf* m = s.rec_m;
    if (m == nullptr) {
      return;
    }
    s.rec_m = nullptr;
    if (m->data_len == 0) {
      rte_pktmbuf_free(m);
      return;
    }
    sealed.push_back(Sealed{s.h, m});
    if (sealed.size() == kMaxSealed) {
      flush_sealed();
    }
  }

  // Seals every queued record (one AEAD call) and hands them to TCP in
  // the order they were written.
  void flush_sealed() {
    if (sealed.empty()) {
      return;
    }
    engine->seal_flush();
    for (const Sealed& r : sealed) {
      Session* s = session_of(r.h);
      if (s == nullptr) {
        rte_pktmbuf_free(r.m);
        continue;
      }
      const uint32_t len = r.m->pkt_len;
      s->round_wire -= std::min<uint32_t>(s->round_wire, len);
      if (tcp->send(s->h, r.m, now) != net::TcpResult::kOk) {
        rte_pktmbuf_free(r.m);
        ++c.tcp_send_refused;
        abort_session(*s);
        continue;
      }
      count_sent(*s, len, true);
    }
    sealed.clear();
  }

  void finish_and_flush(Session& s) {
    close_buffer(s);
    flush_sealed();
  }

  size_t write(Session& s, std::span<const uint8_t> bytes) {
    bool share_bound = false;
    const size_t n = std::min(bytes.size(), write_space(s, &share_bound));
    size_t off = 0;
    bool no_buffer = false;
    while (off < n) {
      if (!s.rec_open && !start_record(s)) {
        if (s.phase != Phase::kOpen) {
          return off;  // handing the full buffer to TCP ended it
        }
        no_buffer = true;
        break;
      }
      const size_t take = std::min<size_t>(n - off, s.rec_cap - s.rec_len);
      std::memcpy(record_tail(s), bytes.data() + off, take);
      s.rec_len += static_cast<uint32_t>(take);
      s.round_wire += static_cast<uint32_t>(take);
      off += take;
      if (s.rec_len == s.rec_cap) {
        seal_record(s);
        if (s.phase != Phase::kOpen) {
          return off;
        }
      }
    }
    if (off < bytes.size() && (no_buffer || share_bound)) {
      if (!s.in_buf_wait && !no_buffer) {
        ++c.pressure_throttled;
      }
      wait_for_buffer(s);
    } else if (off < bytes.size() && !s.want_writable) {
      s.want_writable = true;
      wake.push_back(s.slot);
    }
    c.app_bytes_tx += off;
    if (off != 0) {
      // Only progress counts: a write refused for want of room must not
      // keep a stalled session from its idle timeout.
      s.deadline = now + idle_timeout;
    }
    return off;
  }

  void do_shutdown(Session& s) {
    finish_and_flush(s);
    if (s.phase != Phase::kOpen) {
      return;
    }
    send_control_record(s, [&](uint8_t* buf, size_t cap) {
      return engine->write_alert(s.rec, tls::Alert::kCloseNotify, buf, cap);
    });
    if (s.phase != Phase::kOpen) {
      return;
    }
    ++c.close_notify_sent;
    enter_closing(s);
  }

  // The end of a round: every record written is sealed in one batch and
  // handed to TCP; shutdowns follow their data.
  void flush_round() {
    for (uint32_t slot : tx) {
      Session& s = sessions[slot];
      if (s.phase == Phase::kOpen) {
        close_buffer(s);
      }
    }
    flush_sealed();
    for (uint32_t slot : tx) {
      Session& s = sessions[slot];
      s.in_tx = false;
      if (s.phase == Phase::kOpen && s.shutdown_req) {
        do_shutdown(s);
      }
    }
    tx.clear();
    for (uint32_t slot : wake) {
      Session& s = sessions[slot];
      // One that went on buf_wait since waits for a buffer: TCP would
      // raise kWritable at once (its queue is short) and the next attempt
      // would find none again.
      if (s.phase == Phase::kOpen && s.want_writable && !s.in_buf_wait) {
        tcp->want_writable(s.h);
      }
    }
    wake.clear();
  }

  // Every 100 ms: handshake, idle and closing timeouts, and the drain.
  void sweep() {
    for (uint32_t slot = live_head; slot != kNone;) {
      Session& s = sessions[slot];
      slot = s.live_next;
      if (s.phase == Phase::kHandshake && now >= s.deadline) {
        ++c.handshake_timeouts;
        abort_session(s);
      } else if (s.phase == Phase::kClosing && now >= s.deadline) {
        ++c.closing_timeouts;
        abort_session(s);
      } else if (s.phase == Phase::kOpen && !s.shutdown_req) {
        if (now >= s.deadline) {
          ++c.idle_timeouts;
          s.shutdown_req = true;
          mark_tx(s);
        } else if (draining && apps[s.listener]->idle(s) &&
                   (s.heard_from || now - s.opened_at >= drain_grace)) {
          // A connection whose handshake just ended has not sent its
          // first request yet: it gets drain_grace to do so.
          s.shutdown_req = true;
          mark_tx(s);
        }
      }
    }
    if (pressure) {
      reclaim_stalled();
    }
  }
};

size_t Worker::Session::write_space() const {
  bool share_bound = false;
  const size_t space = w->write_space(*this, &share_bound);
  // An application that finds little room waits for on_writable().
  if (space < kWakeSpace && !want_writable && phase == Phase::kOpen) {
    if (share_bound) {
      // Room in TCP but not in its share of record buffers: the wait is
      // for buffers, not for TCP.
      ++w->c.pressure_throttled;
      w->wait_for_buffer(w->sessions[slot]);
    } else {
      want_writable = true;
      w->wake.push_back(slot);
    }
  }
  return space;
}
size_t Worker::Session::write(std::span<const uint8_t> bytes) {
  if (phase != Phase::kOpen || shutdown_req) {
    return 0;
  }
  return w->write(*this, bytes);
}
void Worker::Session::shutdown() {
  if (phase == Phase::kOpen && !shutdown_req) {
    shutdown_req = true;
    w->mark_tx(*this);
  }
}
void Worker::Session::abort() {
  if (phase != Phase::kFree) {
    w->abort_session(*this);
  }
}

Worker::Worker(const WorkerSetup& setup) : setup_(setup) {}
Worker::~Worker() {
  if (impl_ != nullptr) {
    for (Session& s : impl_->sessions) {
      if (s.rec_m != nullptr) {
        rte_pktmbuf_free(s.rec_m);
      }
      s.rec.reset(&Impl::release, impl_.get());
    }
    for (auto& r : impl_->sealed) {
      rte_pktmbuf_free(r.m);
    }
  }
}

std::unique_ptr<Worker> Worker::create(const WorkerSetup& setup,
                                       std::string* error) {
  std::unique_ptr<Worker> w(new Worker(setup));
  if (!w->init(error)) {
    return nullptr;
  }
  return w;
}

bool Worker::init(std::string* error) {
  impl_ = std::make_unique<Impl>(setup_);
  Impl& I = *impl_;
  const config::Config& cfg = *setup_.config;
  I.hz = rte_get_tsc_hz();
  I.ns_per_tick = 1e9 / static_cast<double>(I.hz);
  I.hs_timeout = I.hz * cfg.timeouts.handshake_ms / 1000;
  I.idle_timeout = I.hz * cfg.timeouts.idle_ms / 1000;
  I.send_stall = I.hz * cfg.timeouts.send_stall_ms / 1000;
  if (setup_.record_pool != nullptr) {
    I.record_low = setup_.record_pool->size / kPressureLowDiv;
    I.record_high = setup_.record_pool->size / kPressureHighDiv;
  }
  I.drain_grace = I.hz * kDrainGraceMs / 1000;
  I.wall_clock = setup_.wall_clock;
  if (I.wall_clock == nullptr) {
    I.own_wall_clock = std::make_unique<WallClock>(I.ns_per_tick);
    I.own_wall_clock->publish(system_clock_ns(), rte_rdtsc());
    I.wall_clock = I.own_wall_clock.get();
  }
  I.net = net::NetStack::create(setup_.net, setup_.pool, error);
  I.port_offloads = setup_.net.tx_offloads.ipv4_checksum ||
                    setup_.net.tx_offloads.tcp_checksum;
  if (I.net == nullptr) {
    return false;
  }
  I.tcp = net::TcpStack::create(setup_.tcp, I.net.get(), setup_.pool, error);
  if (I.tcp == nullptr) {
    return false;
  }
  if (setup_.strays_next != nullptr && setup_.workers > 1) {
    I.tcp->set_stray_sink(
        &I, static_cast<uint8_t>(std::min<uint16_t>(setup_.workers, 255)));
  }
  I.backend = crypto::make_backend(crypto::BackendKind::kIpsecMb, {}, error);
  if (I.backend == nullptr) {
    I.backend = crypto::make_backend(crypto::BackendKind::kOpenSsl, {}, error);
    if (I.backend == nullptr) {
      return false;
    }
  }
  I.engine =
      std::make_unique<tls::RecordEngine>(*I.backend, tls::RecordConfig{});
  if (cfg.fault.enabled()) {
    net::FaultConfig f;
    f.drop = cfg.fault.drop;
    f.duplicate = cfg.fault.duplicate;
    f.reorder = cfg.fault.reorder;
    f.corrupt = cfg.fault.corrupt;
    f.reorder_ticks = I.hz / 1000;  // 1 ms
    f.corrupt_skip = 14;
    f.seed = cfg.fault.seed * 2 + uint64_t{setup_.index} * 1000;
    I.fault_rx = std::make_unique<net::FaultInjector>(f, setup_.pool);
    f.seed += 1;
    I.fault_tx = std::make_unique<net::FaultInjector>(f, setup_.pool);
  }
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::ListenerSection& l = cfg.listeners[i];
    if (l.app == config::AppKind::kEcho) {
      I.apps.push_back(std::make_unique<app::EchoApp>());
    } else if (l.app == config::AppKind::kHttp) {
      app::HttpConfig hc;
      hc.body_bytes = l.http_body_bytes;
      I.apps.push_back(std::make_unique<app::HttpApp>(hc));
    } else {
      *error = "listener " + l.address.text +
               ": the proxy application is not implemented yet";
      return false;
    }
    net::TcpListen tl;
    tl.family = l.address.v6 ? net::L3Family::kIpv6 : net::L3Family::kIpv4;
    if (l.address.v6) {
      std::memcpy(tl.addr6.b.data(), l.address.bytes, 16);
    } else {
      tl.addr4 = net::Ipv4Addr::of(l.address.bytes[0], l.address.bytes[1],
                                   l.address.bytes[2], l.address.bytes[3]);
    }
    tl.port = l.address.port;
    tl.user = i;
    const net::TcpResult r = I.tcp->listen(tl);
    if (r != net::TcpResult::kOk) {
      *error = "listener " + l.address.text + ": " + net::tcp_result_name(r);
      return false;
    }
  }
  I.tell_clock(rte_rdtsc(), true);
  heartbeat_.store(rte_rdtsc(), std::memory_order_relaxed);
  const size_t n = setup_.tcp.max_connections;
  I.sessions = std::vector<Session>(n);
  for (size_t i = 0; i < n; ++i) {
    I.sessions[i].w = &I;
    I.sessions[i].slot = static_cast<uint32_t>(i);
  }
  I.dirty.reserve(n);
  I.consume.reserve(n);
  I.tx.reserve(n);
  I.retry.reserve(n);
  I.closed_owed.reserve(n);
  I.deferred_aborts.reserve(n);
  I.wake.reserve(n);
  I.buf_wait.reserve(n);
  I.stalled.reserve(n);
  I.sealed.reserve(kMaxSealed);

  // The metric names, in the order publish() writes their values.
  const std::string w = "worker=\"" + std::to_string(setup_.index) + "\"";
  auto add = [&](std::string name, const std::string& labels, std::string help,
                 bool gauge = false) {
    names_.push_back(
        MetricSample{std::move(name), w + labels, std::move(help), gauge});
  };
  I.net->stats().for_each([&](std::string_view name, uint64_t) {
    add("dptls_net_events_total", ",event=\"" + std::string(name) + "\"",
        "Network stack (L2/L3) events and drops by reason.");
  });
  I.tcp->stats().for_each([&](std::string_view name, uint64_t) {
    add("dptls_tcp_events_total", ",event=\"" + std::string(name) + "\"",
        "TCP events and drops by reason.");
  });
#define DPTLS_X(name)                                    \
  add("dptls_tls_records_total", ",event=\"" #name "\"", \
      "TLS record layer events on the worker.");
  DPTLS_RECORD_COUNTERS(DPTLS_X)
#undef DPTLS_X
#define DPTLS_X(name, help) \
  add("dptls_worker_events_total", ",event=\"" #name "\"", help);
  DPTLS_WORKER_COUNTERS(DPTLS_X)
#undef DPTLS_X
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const std::string l = ",listener=\"" + cfg.listeners[i].address.text + "\"";
    add("dptls_app_requests_total", l,
        "Requests answered (http) or records echoed (echo).");
    add("dptls_app_bytes_written_total", l,
        "Plaintext bytes the application wrote.");
#define DPTLS_X(e, name)                                    \
  add("dptls_app_errors_total", l + ",reason=\"" name "\"", \
      "Connections an application ended, by reason.");
    DPTLS_APP_ERRORS(DPTLS_X)
#undef DPTLS_X
  }
  if (I.fault_rx != nullptr) {
#define DPTLS_X(name)                                                \
  add("dptls_fault_events_total", ",dir=\"rx\",event=\"" #name "\"", \
      "Fault injector actions (tests).");                            \
  add("dptls_fault_events_total", ",dir=\"tx\",event=\"" #name "\"", \
      "Fault injector actions (tests).");
    DPTLS_FAULT_COUNTERS(DPTLS_X)
#undef DPTLS_X
  }
  add("dptls_sessions", "", "Sessions (handshaking or open) on the worker.",
      true);
  add("dptls_sessions_handshaking", "", "Sessions waiting for a handshake.",
      true);
  for (const char* pool : {"packet", "record"}) {
    add("dptls_worker_pool_mbufs", std::string(",pool=\"") + pool + "\"",
        "Buffers in the worker's pool (packet: frames and handshake bytes; "
        "record: sealed records).",
        true);
    add("dptls_worker_pool_mbufs_in_use", std::string(",pool=\"") + pool + "\"",
        "Buffers of the worker's pool in use (held by sessions, queues or "
        "the port).",
        true);
  }
  add("dptls_worker_record_pressure", "",
      "1 while the record pool is under pressure (fewer than a quarter of "
      "its buffers free, until more than half are).",
      true);
  add("dptls_worker_busy_cycles_total", "",
      "TSC cycles of polls that found work.");
  add("dptls_worker_idle_cycles_total", "", "TSC cycles of empty polls.");
  add("dptls_worker_busy_ratio", "",
      "Share of the last second's polling time spent on work.", true);
  names_.back().scale = 1e-6;  // published in parts per million
  values_ = std::make_unique<std::atomic<uint64_t>[]>(names_.size());
  return true;
}

void Worker::publish() {
  Impl& I = *impl_;
  size_t i = 0;
  auto put = [&](uint64_t v) {
    values_[i++].store(v, std::memory_order_relaxed);
  };
  I.net->stats().for_each([&](std::string_view, uint64_t v) { put(v); });
  I.tcp->stats().for_each([&](std::string_view, uint64_t v) { put(v); });
  const tls::RecordStats& rs = I.engine->stats();
#define DPTLS_X(name) put(rs.name);
  DPTLS_RECORD_COUNTERS(DPTLS_X)
#undef DPTLS_X
#define DPTLS_X(name, help) put(I.c.name);
  DPTLS_WORKER_COUNTERS(DPTLS_X)
#undef DPTLS_X
  for (const auto& a : I.apps) {
    put(a->stats().requests);
    put(a->stats().responses_bytes);
    for (uint64_t e : a->stats().errors) {
      put(e);
    }
  }
  if (I.fault_rx != nullptr) {
    const net::FaultStats& rx = I.fault_rx->stats();
    const net::FaultStats& tx = I.fault_tx->stats();
#define DPTLS_X(name) \
  put(rx.name);       \
  put(tx.name);
    DPTLS_FAULT_COUNTERS(DPTLS_X)
#undef DPTLS_X
  }
  put(I.live);
  put(I.in_handshake);
  // The count walks the per-lcore caches: a few hundred loads every
  // publish interval, never on the packet path.
  for (rte_mempool* pool : {setup_.pool, setup_.record_pool}) {
    put(pool == nullptr ? 0 : pool->size);
    put(pool == nullptr ? 0 : rte_mempool_in_use_count(pool));
  }
  put(I.pressure ? 1 : 0);
  put(I.busy);
  put(I.idle);
  put(I.busy_ppm);
  live_pub_.store(I.live, std::memory_order_relaxed);
}

void Worker::run(const std::atomic<bool>& stop,
                 const std::atomic<bool>& drain) {
  Impl& I = *impl_;
  rte_mbuf* pkts[kBurst];
  net::L4Packet* segs = I.l4;
  const uint64_t tick_every = I.hz / 1000;    // timers: 1 ms
  const uint64_t sweep_every = I.hz / 10;     // timeouts: 100 ms
  const uint64_t publish_every = I.hz / 100;  // metrics: 10 ms
  const uint64_t window_every = I.hz;         // busy ratio: 1 s
  uint64_t last_tick = rte_rdtsc(), last_sweep = last_tick,
           last_publish = last_tick, last_window = last_tick;
  heartbeat_.store(last_tick, std::memory_order_relaxed);
  const uint16_t port = setup_.port, queue = setup_.queue;
  // One TSC read per loop (it can cost 100 cycles in a VM): a loop's time
  // runs from its own start to the next loop's, and is counted at the top
  // of the next loop as busy or idle by what the loop did.
  uint64_t prev_t0 = last_tick;
  bool prev_worked = false;
  // fault.worker_stall_ms (tests): worker 0 stops polling once, busy as a
  // worker stuck in a loop would be. stall_ticks 0: none (left).
  const config::FaultSection& fault = setup_.config->fault;
  uint64_t stall_ticks =
      setup_.index == 0 ? I.hz * fault.worker_stall_ms / 1000 : 0;
  const uint64_t stall_at =
      last_tick + I.hz * fault.worker_stall_after_ms / 1000;
  while (!stop.load(std::memory_order_relaxed)) {
    const uint64_t t0 = rte_rdtsc();
    (prev_worked ? I.busy : I.idle) += t0 - prev_t0;
    prev_t0 = t0;
    if (t0 - last_window >= window_every) {
      const uint64_t b = I.busy - I.window_busy, d = I.idle - I.window_idle;
      I.busy_ppm = b + d == 0 ? 0 : b * 1'000'000 / (b + d);
      I.window_busy = I.busy;
      I.window_idle = I.idle;
      last_window = t0;
    }
    if (t0 - last_publish >= publish_every) {
      publish();
      last_publish = t0;
    }
    I.now = t0;
    bool worked = false;
    uint16_t n = rte_eth_rx_burst(port, queue, pkts, kBurst);
    if (I.fault_rx != nullptr) {
      if (n != 0) {
        I.fault_rx->push(pkts, n, t0);
      }
      n = I.fault_rx->pull(pkts, kBurst, t0);
    }
    if (n != 0) {
      worked = true;
      if (!setup_.neighbors_out.empty()) {
        I.share_neighbor_frames(pkts, n);
      }
      I.net->rx(pkts, n, t0);
    }
    if (setup_.neighbors_in != nullptr &&
        !rte_ring_empty(setup_.neighbors_in)) {
      worked = true;
      I.learn_shared_neighbors(t0);
    }
    if (setup_.strays_in != nullptr && !rte_ring_empty(setup_.strays_in)) {
      worked = true;
      I.take_strays(t0);
    }
    for (uint16_t k; (k = I.net->poll_deliveries(segs, kBurst)) != 0;) {
      I.tcp->rx(segs, k, t0);
    }
    bool ticked = false;
    if (t0 - last_tick >= tick_every) {
      I.net->tick(t0);
      I.tcp->timers(t0);
      I.tell_clock(t0, false);
      if (setup_.record_pool != nullptr) {
        I.update_pressure();
      }
      if (!I.buf_wait.empty()) {
        I.retry_buffer_waits();
      }
      if (stall_ticks != 0 && t0 >= stall_at) {
        while (rte_rdtsc() - t0 < stall_ticks) {
          rte_pause();
        }
        stall_ticks = 0;
      }
      heartbeat_.store(t0, std::memory_order_relaxed);
      last_tick = t0;
      ticked = true;
    }
    if (!I.retry.empty()) {
      I.run_retries();
    }
    if (!I.closed_owed.empty()) {
      I.send_owed_closes();
    }
    // Only a session in its handshake waits for a response; stale ones
    // (for sessions that ended) are taken at the timer tick.
    if (I.in_handshake != 0 || ticked) {
      I.poll_responses();
    }
    I.poll_tcp_events();
    if (!I.dirty.empty()) {
      worked = true;
      I.open_records();
    }
    if (!I.tx.empty() || !I.wake.empty()) {
      worked = true;
      I.flush_round();
    }
    if (t0 - last_sweep >= sweep_every) {
      I.draining = drain.load(std::memory_order_relaxed);
      I.sweep();
      if (!I.tx.empty()) {
        I.flush_round();
      }
      last_sweep = t0;
    }
    for (uint16_t t; (t = I.net->drain_tx(pkts, kBurst)) != 0;) {
      worked = true;
      if (I.fault_tx != nullptr) {
        I.fault_tx->push(pkts, t, t0);
        t = I.fault_tx->pull(pkts, kBurst, t0);
        if (t == 0) {
          continue;
        }
      }
      if (!I.send_frames(port, queue, pkts, t)) {
        break;  // the queue is full: the rest next loop
      }
    }
    if (I.fault_tx != nullptr) {
      // Frames held back (reorder, delay) leave when their time comes.
      for (uint16_t t; (t = I.fault_tx->pull(pkts, kBurst, t0)) != 0;) {
        I.send_frames(port, queue, pkts, t);
      }
    }
    prev_worked = worked;
  }
  (prev_worked ? I.busy : I.idle) += rte_rdtsc() - prev_t0;
  publish();
}

}  // namespace dptls::engine
