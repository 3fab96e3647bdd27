#include "dptls/gen/generator.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_random.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/engine/eal_args.h"
#include "dptls/engine/port_mtu.h"
#include "dptls/gen/response.h"
#include "dptls/net/port_offloads.h"
#include "dptls/net/stack.h"
#include "dptls/net/tcp.h"
#include "dptls/tls/handshake/client.h"
#include "dptls/tls/record.h"
#include "dptls/tls/record_engine.h"

namespace dptls::gen {

std::string_view mode_name(Mode m) {
  switch (m) {
    case Mode::kBulk:
      return "bulk";
    case Mode::kRr:
      return "rr";
    case Mode::kConn:
      return "conn";
  }
  return "unknown";
}

std::string_view gen_error_name(GenError e) {
  switch (e) {
#define DPTLS_X(en, name) \
  case GenError::en:      \
    return name;
    DPTLS_GEN_ERRORS(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

uint32_t gen_mbufs(const GenOptions& o) {
  // The RX ring, plus each connection's receive window in mbufs of about
  // one segment (bulk fills its 256 KiB window; rr and conn responses are
  // small), plus slack for requests, alerts and headers.
  const uint64_t per_conn = o.mode == Mode::kBulk ? 200 : 24;
  const uint64_t n = 8192 + uint64_t{o.connections} * per_conn;
  return static_cast<uint32_t>(std::min<uint64_t>(n, 131'072));
}

std::vector<std::string> plan_gen_eal(const GenOptions& o, bool have_hugepages,
                                      unsigned cpu, long pid, uint32_t mbufs) {
  std::vector<std::string> a = {"dptls-gen"};
  a.push_back("--lcores=0@" + std::to_string(cpu));
  a.push_back("--file-prefix=dptls-gen-" + std::to_string(pid));
  bool huge = false;
  switch (o.hugepages) {
    case Hugepages::kOn:
      huge = true;
      break;
    case Hugepages::kOff:
      huge = false;
      break;
    case Hugepages::kAuto:
      huge = have_hugepages;
      break;
  }
  if (huge) {
    a.emplace_back("--in-memory");
  } else {
    // 2 KiB data room + headers per mbuf, rounded up; plus room for the
    // PMD's own allocations.
    const uint64_t mb = 128 + uint64_t{mbufs} * 3 / 1024;
    a.insert(a.end(), {"--no-huge", "--no-shconf", "-m", std::to_string(mb)});
  }
  if (o.port_device.rfind("net_", 0) == 0) {
    a.push_back("--vdev=" + o.port_device);
    a.emplace_back("--no-pci");
  } else {
    a.emplace_back("-a");
    a.push_back(o.port_device);
  }
  a.emplace_back("--no-telemetry");
  a.emplace_back("--log-level=lib.eal:warning");
  return a;
}

namespace {

constexpr uint16_t kBurst = 32;
constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;

enum class Phase : uint8_t { kIdle, kConnecting, kHandshake, kOpen };

// What to do with a connection once the open batch has been delivered.
enum class Pending : uint8_t { kNone, kResponseDone, kFail, kPeerClose };

struct Conn {
  uint32_t index = 0;
  Phase phase = Phase::kIdle;
  Pending pending = Pending::kNone;
  GenError pending_error = GenError::kReset;
  bool in_dirty = false;
  bool in_consume = false;
  bool in_pending = false;
  bool request_out = false;  // a request is outstanding
  net::ConnHandle h{};
  uint32_t consume_bytes = 0;
  uint64_t started = 0;     // TSC: connect() or request sent
  uint64_t deadline = 0;    // TSC: connect / handshake / response timeout
  uint64_t connect_at = 0;  // TSC: when an idle connection may reconnect
  std::unique_ptr<tls::ClientHandshake> hs;
  tls::RecordConn rec;
  ResponseReader reader;
};

struct Generator final : tls::RecordSink {
  Generator(const GenOptions& o, GenResults* r) : opt(o), res(r) {}

  const GenOptions& opt;
  GenResults* res;
  uint16_t port = 0;
  rte_mempool* pool = nullptr;
  net::TxOffloads tx_offloads;  // what the port does for the stack
  std::unique_ptr<net::NetStack> net;
  std::unique_ptr<net::TcpStack> tcp;
  std::unique_ptr<crypto::AeadBackend> backend;
  std::unique_ptr<tls::RecordEngine> engine;
  std::shared_ptr<const tls::ClientContext> ctx;
  std::vector<Conn> conns;
  std::vector<uint32_t> dirty, consume, pending;
  struct Sealed {
    uint32_t conn;
    net::ConnHandle h;
    rte_mbuf* m;
  };
  std::vector<Sealed> sealed;
  std::vector<uint8_t> hs_out;
  std::string request;
  uint64_t hz = 1;
  uint64_t now = 0;
  uint64_t connect_timeout = 0, response_timeout = 0;
  bool measuring = true;
  // Inside RecordEngine::open_flush: a connection must not be reset (its
  // records are still being delivered); failures wait in `pending`.
  bool in_open_flush = false;
  bool stopping = false;
  uint32_t open = 0;  // connections in kOpen
  uint32_t idle = 0;  // connections in kIdle (to connect)
  // Counters (only while measuring).
  uint64_t requests = 0, rx_bytes = 0, handshakes = 0, connects = 0;
  std::array<uint64_t, kGenErrorCount> errors{};

  // ---- helpers ----
  void error(GenError e) {
    if (measuring) {
      ++errors[static_cast<size_t>(e)];
    }
  }
  uint64_t ns_of(uint64_t ticks) const {
    return static_cast<uint64_t>(static_cast<unsigned __int128>(ticks) *
                                 1'000'000'000u / hz);
  }
  Conn* conn_of(const net::TcpEvent& e) {
    if (e.user >= conns.size()) {
      return nullptr;
    }
    Conn& c = conns[e.user];
    return c.phase != Phase::kIdle && c.h == e.conn ? &c : nullptr;
  }
  static void mark(std::vector<uint32_t>& list, bool& flag, uint32_t i) {
    if (!flag) {
      flag = true;
      list.push_back(i);
    }
  }

  static void release(void* ctx_ptr, void* owner) {
    auto* self = static_cast<Generator*>(ctx_ptr);
    auto* m = static_cast<rte_mbuf*>(owner);
    const uint32_t tag = m->hash.usr;
    if (tag != 0 && tag - 1 < self->conns.size()) {
      Conn& c = self->conns[tag - 1];
      if (c.phase == Phase::kOpen) {
        c.consume_bytes += m->data_len;
        mark(self->consume, c.in_consume, c.index);
      }
    }
    rte_pktmbuf_free_seg(m);
  }

  // Sends `bytes` (handshake flights, alerts) as plain mbuf chains.
  bool send_bytes(Conn& c, std::span<const uint8_t> bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m == nullptr) {
        return false;
      }
      const size_t take =
          std::min<size_t>(bytes.size() - off, rte_pktmbuf_tailroom(m));
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), bytes.data() + off, take);
      m->data_len = static_cast<uint16_t>(take);
      m->pkt_len = static_cast<uint32_t>(take);
      if (tcp->send(c.h, m, now) != net::TcpResult::kOk) {
        rte_pktmbuf_free(m);
        return false;
      }
      off += take;
    }
    return true;
  }

  // ---- connection lifetime ----
  void start_connect(Conn& c) {
    net::TcpConnect tc;
    tc.family = net::L3Family::kIpv4;
    tc.local4 = net::Ipv4Addr{opt.local_ip};
    tc.remote4 = net::Ipv4Addr{opt.target_ip};
    tc.remote_port = opt.target_port;
    tc.user = c.index;
    net::ConnHandle h;
    const net::TcpResult r = tcp->connect(tc, now, &h);
    if (r != net::TcpResult::kOk) {
      error(GenError::kNoResources);
      c.connect_at = now + hz / 100;  // try again in 10 ms
      return;
    }
    c.h = h;
    c.phase = Phase::kConnecting;
    --idle;
    c.started = now;
    c.deadline = now + connect_timeout;
    c.request_out = false;
    c.pending = Pending::kNone;
    c.consume_bytes = 0;
    c.rec.user = &c;
  }

  // Forgets the connection (TCP goes on closing it, or was told to abort);
  // it reconnects after `delay` ticks unless the run is stopping.
  void release_conn(Conn& c, uint64_t delay) {
    if (c.phase == Phase::kOpen) {
      --open;
    }
    if (c.phase != Phase::kIdle) {
      ++idle;
    }
    c.phase = Phase::kIdle;
    c.h = {};
    c.hs.reset();
    c.rec.reset(&Generator::release, this);
    c.request_out = false;
    c.connect_at = now + delay;
  }

  void abort_conn(Conn& c) {
    const net::ConnHandle h = c.h;
    release_conn(c, hz / 1000);
    tcp->abort(h, now);
  }

  // close_notify, then FIN.
  void close_conn(Conn& c) {
    flush_sealed();
    if (c.phase == Phase::kOpen && c.rec.established() && !c.rec.tx_closed()) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m != nullptr) {
        const size_t len = engine->write_alert(c.rec, tls::Alert::kCloseNotify,
                                               rte_pktmbuf_mtod(m, uint8_t*),
                                               rte_pktmbuf_tailroom(m));
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = static_cast<uint32_t>(len);
        if (len == 0 || tcp->send(c.h, m, now) != net::TcpResult::kOk) {
          rte_pktmbuf_free(m);
        }
      }
    }
    const net::ConnHandle h = c.h;
    release_conn(c, 0);
    tcp->close(h, now);
  }

  void fail_conn(Conn& c, GenError e) {
    error(e);
    abort_conn(c);
  }

  // ---- requests ----
  void send_request(Conn& c) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      fail_conn(c, GenError::kNoResources);
      return;
    }
    uint8_t* buf = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(buf + tls::kRecordHeaderLen, request.data(), request.size());
    const size_t len =
        engine->queue_seal(c.rec, tls::ContentType::kApplicationData, buf,
                           request.size(), rte_pktmbuf_tailroom(m));
    if (len == 0) {
      rte_pktmbuf_free(m);
      fail_conn(c, GenError::kRecordError);
      return;
    }
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    sealed.push_back(Sealed{c.index, c.h, m});
    c.request_out = true;
    c.started = now;
    c.deadline = now + response_timeout;
    c.reader.reset();
  }

  void flush_sealed() {
    if (sealed.empty()) {
      return;
    }
    engine->seal_flush();
    for (const Sealed& s : sealed) {
      Conn& c = conns[s.conn];
      if (c.phase != Phase::kOpen || c.h != s.h) {
        rte_pktmbuf_free(s.m);
        continue;
      }
      if (tcp->send(c.h, s.m, now) != net::TcpResult::kOk) {
        rte_pktmbuf_free(s.m);
        if (in_open_flush) {
          set_pending(c, Pending::kFail, GenError::kNoResources);
        } else {
          fail_conn(c, GenError::kNoResources);
        }
      }
    }
    sealed.clear();
  }

  // ---- TCP events ----
  void on_connected(Conn& c) {
    if (measuring) {
      ++connects;
    }
    c.phase = Phase::kHandshake;
    c.deadline = now + connect_timeout;
    c.hs = std::make_unique<tls::ClientHandshake>(ctx, *backend);
    hs_out.clear();
    const tls::FeedResult r = c.hs->start(&hs_out);
    if (r.state == tls::HandshakeState::kFailed || !send_bytes(c, hs_out)) {
      fail_conn(c, GenError::kHandshakeFailed);
    }
  }

  // Copies bytes that arrived with the server's Finished into the record
  // stream (tag 0: TCP already counted them consumed).
  bool push_copy(Conn& c, std::span<const uint8_t> bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m == nullptr) {
        return false;
      }
      const size_t take =
          std::min<size_t>(bytes.size() - off, rte_pktmbuf_tailroom(m));
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), bytes.data() + off, take);
      m->data_len = static_cast<uint16_t>(take);
      m->pkt_len = static_cast<uint32_t>(take);
      m->hash.usr = 0;
      if (!c.rec.rx.push(tls::RxChunk{rte_pktmbuf_mtod(m, uint8_t*),
                                      static_cast<uint32_t>(take), m})) {
        rte_pktmbuf_free(m);
        return false;
      }
      off += take;
    }
    return true;
  }

  void on_handshake_data(Conn& c, rte_mbuf* chain) {
    rte_mbuf* m = chain;
    uint32_t fed = 0;
    hs_out.clear();
    tls::FeedResult r;
    while (m != nullptr && r.state == tls::HandshakeState::kNeedMore) {
      r = c.hs->feed({rte_pktmbuf_mtod(m, const uint8_t*), m->data_len},
                     &hs_out);
      fed += m->data_len;
      rte_mbuf* next = m->next;
      rte_pktmbuf_free_seg(m);
      m = next;
    }
    const bool sent = hs_out.empty() || send_bytes(c, hs_out);
    tcp->consumed(c.h, fed, now);
    if (r.state == tls::HandshakeState::kFailed || !sent) {
      if (m != nullptr) {
        rte_pktmbuf_free(m);
      }
      if (r.state == tls::HandshakeState::kFailed) {
        error(r.alert_from_peer ? GenError::kHandshakeAlert
                                : GenError::kHandshakeFailed);
        // The alert is queued: close rather than reset.
        const net::ConnHandle h = c.h;
        release_conn(c, hz / 1000);
        tcp->close(h, now);
      } else {
        fail_conn(c, GenError::kNoResources);
      }
      return;
    }
    if (r.state != tls::HandshakeState::kDone) {
      return;  // every segment was fed
    }
    tls::HandshakeResult hr;
    c.hs->take_result(&hr);
    const bool installed =
        engine->install(c.rec, hr.suite, hr.rx(), hr.tx(),
                        hr.peer_record_size_limit, hr.own_record_size_limit);
    hr.wipe();
    c.hs.reset();
    if (!installed) {
      if (m != nullptr) {
        rte_pktmbuf_free(m);
      }
      fail_conn(c, GenError::kHandshakeFailed);
      return;
    }
    c.phase = Phase::kOpen;
    ++open;
    if (measuring) {
      ++handshakes;
      res->handshake_latency.record(ns_of(now - c.started));
    }
    if (!push_copy(c, hr.post_finished)) {
      if (m != nullptr) {
        rte_pktmbuf_free(m);
      }
      fail_conn(c, GenError::kNoResources);
      return;
    }
    if (m != nullptr) {
      push_data(c, m);
      if (c.phase != Phase::kOpen) {
        return;
      }
    }
    mark(dirty, c.in_dirty, c.index);
    if (!stopping) {
      send_request(c);
    }
  }

  void push_data(Conn& c, rte_mbuf* chain) {
    const auto tag = static_cast<uint32_t>(c.index + 1);
    rte_mbuf* m = chain;
    while (m != nullptr) {
      rte_mbuf* next = m->next;
      if (c.rec.rx.full()) {
        uint32_t nbytes = 0;
        uint16_t segs = 0;
        for (rte_mbuf* p = m; p != nullptr; p = p->next) {
          nbytes += p->data_len;
          ++segs;
        }
        m->pkt_len = nbytes;
        m->nb_segs = segs;
        if (tcp->unread(c.h, m) != net::TcpResult::kOk) {
          rte_pktmbuf_free(m);
          fail_conn(c, GenError::kNoResources);
          return;
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
        c.rec.rx.push(
            tls::RxChunk{rte_pktmbuf_mtod(m, uint8_t*), m->data_len, m});
      }
      m = next;
    }
    mark(dirty, c.in_dirty, c.index);
  }

  void poll_tcp_events() {
    net::TcpEvent ev[kBurst];
    uint16_t n = 0;
    for (int round = 0; round < 8 && (n = tcp->poll_events(ev, kBurst)) != 0;
         ++round) {
      for (uint16_t i = 0; i < n; ++i) {
        const net::TcpEvent& e = ev[i];
        Conn* c = conn_of(e);
        switch (e.type) {
          case net::TcpEventType::kConnected:
            if (c == nullptr || c->phase != Phase::kConnecting) {
              tcp->abort(e.conn, now);
            } else {
              on_connected(*c);
            }
            break;
          case net::TcpEventType::kAccepted:
            tcp->abort(e.conn, now);
            break;
          case net::TcpEventType::kData:
            if (c == nullptr) {
              rte_pktmbuf_free(e.data);
            } else if (c->phase == Phase::kHandshake) {
              c->deadline = now + connect_timeout;
              on_handshake_data(*c, e.data);
            } else if (c->phase == Phase::kOpen) {
              c->deadline = now + response_timeout;
              push_data(*c, e.data);
            } else {
              tcp->consumed(c->h, e.data->pkt_len, now);
              rte_pktmbuf_free(e.data);
            }
            break;
          case net::TcpEventType::kWritable:
            break;
          case net::TcpEventType::kPeerClosed:
            if (c != nullptr) {
              if (!stopping) {
                error(GenError::kPeerClosed);
              }
              const net::ConnHandle h = c->h;
              release_conn(*c, hz / 1000);
              tcp->close(h, now);
            }
            break;
          case net::TcpEventType::kClosed:
          case net::TcpEventType::kReset:
            if (c != nullptr) {
              if (!stopping) {
                error(c->phase == Phase::kConnecting ? GenError::kConnectFailed
                                                     : GenError::kReset);
              }
              // A refused connect is retried after 10 ms, not at once.
              release_conn(
                  *c, c->phase == Phase::kConnecting ? hz / 100 : hz / 1000);
            }
            break;
        }
      }
    }
  }

  // ---- records ----
  void open_records() {
    for (size_t i = 0; i < dirty.size(); ++i) {
      Conn& c = conns[dirty[i]];
      c.in_dirty = false;
      if (c.phase != Phase::kOpen || !c.rec.established() ||
          c.rec.rx_closed() || c.rec.rx.uncut() == 0) {
        continue;
      }
      for (;;) {
        const size_t added = engine->collect(c.rec);
        if (engine->open_batch_full()) {
          open_flush();
          continue;
        }
        if (added == 0 && c.rec.rx.full()) {
          fail_conn(c, GenError::kRecordError);
        }
        break;
      }
    }
    dirty.clear();
    if (engine->open_batch_size() != 0) {
      open_flush();
    }
    for (uint32_t i : consume) {
      Conn& c = conns[i];
      c.in_consume = false;
      if (c.phase == Phase::kOpen && c.consume_bytes != 0) {
        tcp->consumed(c.h, c.consume_bytes, now);
      }
      c.consume_bytes = 0;
    }
    consume.clear();
    for (uint32_t i : pending) {
      Conn& c = conns[i];
      c.in_pending = false;
      const Pending p = c.pending;
      c.pending = Pending::kNone;
      if (c.phase != Phase::kOpen) {
        continue;
      }
      switch (p) {
        case Pending::kNone:
          break;
        case Pending::kFail:
          fail_conn(c, c.pending_error);
          break;
        case Pending::kPeerClose:
          if (!stopping) {
            error(GenError::kPeerClosed);
          }
          close_conn(c);
          break;
        case Pending::kResponseDone:
          if (opt.mode == Mode::kConn || stopping || c.reader.close()) {
            close_conn(c);
          } else {
            send_request(c);
          }
          break;
      }
    }
    pending.clear();
  }

  void open_flush() {
    in_open_flush = true;
    engine->open_flush(*this, &Generator::release, this);
    in_open_flush = false;
  }

  void set_pending(Conn& c, Pending p, GenError e = GenError::kReset) {
    if (c.pending == Pending::kFail) {
      return;  // the first failure wins
    }
    c.pending = p;
    c.pending_error = e;
    mark(pending, c.in_pending, c.index);
  }

  // RecordSink.
  void on_data(tls::RecordConn& rc,
               std::span<const crypto::IoSegment> data) override {
    Conn& c = *static_cast<Conn*>(rc.user);
    if (c.phase != Phase::kOpen || c.pending == Pending::kFail) {
      return;
    }
    for (const crypto::IoSegment& seg : data) {
      if (!c.request_out) {
        if (seg.len != 0) {
          set_pending(c, Pending::kFail, GenError::kBadResponse);
          return;
        }
        continue;
      }
      const uint64_t before = c.reader.bytes();
      const ResponseError err = c.reader.feed(seg.data, seg.len);
      if (measuring) {
        rx_bytes += c.reader.bytes() - before;
      }
      if (err != ResponseError::kNone) {
        set_pending(c, Pending::kFail,
                    err == ResponseError::kBadBody ? GenError::kBadBody
                    : err == ResponseError::kBadStatus
                        ? GenError::kBadStatus
                        : GenError::kBadResponse);
        return;
      }
      if (c.reader.done()) {
        c.request_out = false;
        if (measuring) {
          ++requests;
          res->latency.record(ns_of(now - c.started));
        }
        set_pending(c, Pending::kResponseDone);
      }
    }
  }
  void on_post_handshake(tls::RecordConn& /*conn*/,
                         std::span<const uint8_t> /*message*/) override {
    // NewSessionTickets: the generator does not resume sessions.
  }
  void on_key_update(tls::RecordConn& rc, bool respond) override {
    Conn& c = *static_cast<Conn*>(rc.user);
    if (!respond || c.phase != Phase::kOpen) {
      return;
    }
    flush_sealed();
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      set_pending(c, Pending::kFail, GenError::kNoResources);
      return;
    }
    const size_t len = engine->write_key_update(
        c.rec, rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m), false);
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    if (len == 0 || tcp->send(c.h, m, now) != net::TcpResult::kOk) {
      rte_pktmbuf_free(m);
      set_pending(c, Pending::kFail, GenError::kRecordError);
    }
  }
  void on_close_notify(tls::RecordConn& rc) override {
    Conn& c = *static_cast<Conn*>(rc.user);
    set_pending(c, Pending::kPeerClose);
  }
  void on_error(tls::RecordConn& rc, tls::Alert /*alert*/,
                bool from_peer) override {
    Conn& c = *static_cast<Conn*>(rc.user);
    set_pending(c, Pending::kFail,
                from_peer ? GenError::kAlert : GenError::kRecordError);
  }

  // Every 100 ms: timeouts.
  void sweep() {
    for (Conn& c : conns) {
      if (c.phase == Phase::kIdle || now < c.deadline) {
        continue;
      }
      if (c.phase == Phase::kOpen && !c.request_out) {
        continue;  // between requests (only while stopping)
      }
      fail_conn(c, c.phase == Phase::kConnecting  ? GenError::kConnectTimeout
                   : c.phase == Phase::kHandshake ? GenError::kHandshakeTimeout
                                                  : GenError::kResponseTimeout);
    }
  }

  bool init(std::string* err);
  // The port's offload checks (rte_eth_tx_prepare) when the stack left it
  // work: drops what it refuses, returns how many of txq[0..n) remain.
  uint16_t prepare(rte_mbuf** txq, uint16_t n);
  void run();
};

uint16_t Generator::prepare(rte_mbuf** txq, uint16_t n) {
  if (!tx_offloads.ipv4_checksum && !tx_offloads.tcp_checksum) {
    return n;
  }
  for (uint16_t ok; (ok = rte_eth_tx_prepare(port, 0, txq, n)) < n;) {
    // txq[ok] is malformed for the port: drop it and check the rest.
    rte_pktmbuf_free(txq[ok]);
    std::copy(txq + ok + 1, txq + n, txq + ok);
    --n;
  }
  return n;
}

bool Generator::init(std::string* err) {
  hz = rte_get_tsc_hz();
  connect_timeout =
      static_cast<uint64_t>(opt.connect_timeout_s * static_cast<double>(hz));
  response_timeout =
      static_cast<uint64_t>(opt.response_timeout_s * static_cast<double>(hz));
  net::NetConfig nc;
  rte_ether_addr mac;
  rte_eth_macaddr_get(port, &mac);
  std::memcpy(nc.mac.b.data(), mac.addr_bytes, 6);
  nc.mtu = res->mtu;  // what the port carries (start_port)
  nc.tx_offloads = tx_offloads;
  nc.clock_hz = hz;
  nc.ipv4.push_back({net::Ipv4Addr{opt.local_ip}, opt.prefix_len});
  nc.ipv4_gateway = net::Ipv4Addr{opt.gateway};
  nc.ipv6_link_local = false;
  // Every connection's SYN may wait for the one ARP resolution.
  nc.neighbor_queue_len =
      static_cast<uint16_t>(std::clamp<uint32_t>(opt.connections + 4, 4, 4096));
  nc.tx_queue_size = 4096;
  nc.delivery_queue_size = 2048;
  net = net::NetStack::create(nc, pool, err);
  if (net == nullptr) {
    return false;
  }
  net::TcpConfig tc;
  tc.worker_id = 0;
  // TIME-WAIT (2 MSL) is short here: in conn mode the generator closes
  // first, thousands of times a second.
  tc.msl_ms = 500;
  const uint32_t slots = opt.mode == Mode::kConn
                             ? std::max<uint32_t>(65'536, opt.connections * 4)
                             : std::max<uint32_t>(1024, opt.connections * 4);
  tc.max_connections = slots;
  tc.clock_hz = hz;
  tc.seed = rte_rand();
  tc.ephemeral_lo = 10'000;
  tc.ephemeral_hi = 65'000;
  tcp = net::TcpStack::create(tc, net.get(), pool, err);
  if (tcp == nullptr) {
    return false;
  }
  backend = crypto::make_backend(crypto::BackendKind::kIpsecMb, {}, err);
  if (backend == nullptr) {
    backend = crypto::make_backend(crypto::BackendKind::kOpenSsl, {}, err);
    if (backend == nullptr) {
      return false;
    }
  }
  engine = std::make_unique<tls::RecordEngine>(*backend, tls::RecordConfig{});
  tls::ClientConfig cc;
  cc.server_name = opt.server_name;
  cc.verify_peer = opt.verify;
  cc.trust_pem = opt.ca_pem;
  cc.alpn_protocols = opt.alpn;
  ctx = tls::ClientContext::create(cc, err);
  if (ctx == nullptr) {
    return false;
  }
  conns = std::vector<Conn>(opt.connections);
  for (uint32_t i = 0; i < opt.connections; ++i) {
    conns[i].index = i;
    conns[i].reader.set_check_body(opt.check_body);
  }
  dirty.reserve(opt.connections);
  consume.reserve(opt.connections);
  pending.reserve(opt.connections);
  sealed.reserve(opt.connections + 8);
  hs_out.reserve(16384);
  char ip[16];
  const uint32_t t = opt.target_ip;
  std::snprintf(ip, sizeof(ip), "%u.%u.%u.%u", t >> 24, (t >> 16) & 255,
                (t >> 8) & 255, t & 255);
  request = "GET " + opt.path + " HTTP/1.1\r\nHost: " +
            (opt.server_name.empty() ? std::string(ip) : opt.server_name) +
            "\r\nUser-Agent: dptls-gen\r\n\r\n";
  if (request.size() + tls::RecordEngine::kSealOverhead > 1800) {
    *err = "the request is too long (path or server name)";
    return false;
  }
  return true;
}

void Generator::run() {
  rte_mbuf* pkts[kBurst];
  rte_mbuf* txq[kBurst];
  uint16_t tx_off = 0, tx_left = 0;
  net::L4Packet segs[kBurst];
  const uint64_t tick_every = hz / 1000;
  const uint64_t sweep_every = hz / 10;
  const uint64_t start = rte_rdtsc();
  const uint64_t end =
      start + static_cast<uint64_t>(opt.duration_s * static_cast<double>(hz));
  // After the end: up to 1 s for responses in flight (rr, conn) and the
  // closes, then 500 ms for the last RSTs, FINs and ACKs.
  uint64_t stop_at = 0, linger_until = 0;
  uint64_t last_tick = start, last_sweep = start, last_progress = start;
  uint64_t prev_requests = 0, prev_bytes = 0, prev_handshakes = 0;
  uint64_t busy = 0, idle_cycles = 0;
  idle = static_cast<uint32_t>(conns.size());
  for (Conn& c : conns) {
    c.connect_at = start;
  }
  for (;;) {
    const uint64_t t0 = rte_rdtsc();
    now = t0;
    bool worked = false;
    const uint16_t n = rte_eth_rx_burst(port, 0, pkts, kBurst);
    if (n != 0) {
      worked = true;
      net->rx(pkts, n, t0);
    }
    for (uint16_t k; (k = net->poll_deliveries(segs, kBurst)) != 0;) {
      tcp->rx(segs, k, t0);
    }
    if (t0 - last_tick >= tick_every) {
      net->tick(t0);
      tcp->timers(t0);
      last_tick = t0;
    }
    poll_tcp_events();
    if (!dirty.empty()) {
      worked = true;
      open_records();
    }
    if (!sealed.empty()) {
      worked = true;
      flush_sealed();
    }
    if (!stopping && idle != 0) {
      for (Conn& c : conns) {
        if (c.phase == Phase::kIdle && t0 >= c.connect_at) {
          worked = true;
          start_connect(c);
        }
      }
    }
    if (t0 - last_sweep >= sweep_every) {
      sweep();
      last_sweep = t0;
    }
    // Frames the TX ring refused wait for the next loop (a dropped RST or
    // FIN is never sent again).
    if (tx_left != 0) {
      worked = true;
      const uint16_t sent = rte_eth_tx_burst(port, 0, txq + tx_off, tx_left);
      tx_off = static_cast<uint16_t>(tx_off + sent);
      tx_left = static_cast<uint16_t>(tx_left - sent);
    }
    while (tx_left == 0) {
      const uint16_t t = net->drain_tx(txq, kBurst);
      if (t == 0) {
        break;
      }
      worked = true;
      const uint16_t ready = prepare(txq, t);
      const uint16_t sent = rte_eth_tx_burst(port, 0, txq, ready);
      tx_off = sent;
      tx_left = static_cast<uint16_t>(ready - sent);
    }
    const uint64_t t1 = rte_rdtsc();
    if (measuring) {
      (worked ? busy : idle_cycles) += t1 - t0;
    }
    if (measuring && t1 - last_progress >= hz) {
      if (opt.progress) {
        GenProgress p;
        p.elapsed_s = static_cast<double>(t1 - start) / static_cast<double>(hz);
        p.interval_s =
            static_cast<double>(t1 - last_progress) / static_cast<double>(hz);
        p.requests = requests - prev_requests;
        p.bytes = rx_bytes - prev_bytes;
        p.handshakes = handshakes - prev_handshakes;
        uint64_t e = 0;
        for (uint64_t v : errors) {
          e += v;
        }
        p.errors = e;
        p.open = open;
        opt.progress(p);
      }
      prev_requests = requests;
      prev_bytes = rx_bytes;
      prev_handshakes = handshakes;
      last_progress = t1;
    }
    if (measuring && t1 >= end) {
      measuring = false;
      stopping = true;
      res->seconds = static_cast<double>(t1 - start) / static_cast<double>(hz);
      stop_at = t1 + hz;
      for (Conn& c : conns) {
        if (c.phase == Phase::kConnecting || c.phase == Phase::kHandshake ||
            (c.phase == Phase::kOpen && c.request_out &&
             opt.mode == Mode::kBulk)) {
          abort_conn(c);
        } else if (c.phase == Phase::kOpen && !c.request_out) {
          close_conn(c);
        }
      }
    }
    if (stopping && linger_until == 0) {
      if (idle == conns.size() || t1 >= stop_at) {
        for (Conn& c : conns) {
          if (c.phase != Phase::kIdle) {
            abort_conn(c);
          }
        }
        linger_until = t1 + hz / 2;
      }
    }
    if (linger_until != 0 && t1 >= linger_until) {
      break;
    }
  }
  for (uint16_t i = 0; i < tx_left; ++i) {
    rte_pktmbuf_free(txq[tx_off + i]);
  }
  res->requests = requests;
  res->bytes = rx_bytes;
  res->handshakes = handshakes;
  res->connects = connects;
  res->errors = errors;
  res->busy_cycles = busy;
  res->idle_cycles = idle_cycles;
  res->tsc_hz = hz;
}

unsigned first_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (unsigned i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) {
        return i;
      }
    }
  }
  return 0;
}

// Configures and starts the port; *plan gets its offloads, *mtu the MTU it
// has (`wanted` unless it refused; then results->warnings says so).
bool start_port(uint16_t port, rte_mempool* pool, uint16_t wanted,
                bool offloads, net::PortOffloadPlan* plan, uint16_t* mtu,
                GenResults* results, std::string* error) {
  rte_eth_dev_info info;
  if (rte_eth_dev_info_get(port, &info) != 0) {
    *error = "cannot read the port's capabilities";
    return false;
  }
  *plan = net::plan_port_offloads(
      info.rx_offload_capa, info.tx_offload_capa, info.tx_desc_lim.nb_seg_max,
      net::OffloadWish{.checksums = offloads}, info.driver_name);
  // Frames longer than one mbuf arrive as chains, when the port can.
  const uint32_t rx_room = engine::mbuf_rx_room(pool);
  plan->rx |= engine::rx_scatter_offload(wanted, rx_room, info.rx_offload_capa,
                                         info.max_mtu, info.max_rx_pktlen);
  rte_eth_conf conf{};
  conf.rxmode.offloads = plan->rx;
  conf.txmode.offloads = plan->tx;
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0) {
    *error = "rte_eth_dev_configure failed";
    return false;
  }
  engine::PortMtu settled =
      engine::apply_port_mtu(port, info, wanted, rx_room, plan->rx);
  if (!settled.warning.empty()) {
    results->warnings.push_back("port: " + std::move(settled.warning));
  }
  if (!settled.error.empty()) {
    *error = "port: " + std::move(settled.error);
    return false;
  }
  *mtu = settled.mtu;
  const int socket = rte_eth_dev_socket_id(port);
  if (rte_eth_rx_queue_setup(port, 0, kRxDesc, static_cast<unsigned>(socket),
                             nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, kTxDesc, static_cast<unsigned>(socket),
                             nullptr) != 0) {
    *error = "queue set-up failed";
    return false;
  }
  if (rte_eth_dev_start(port) != 0) {
    *error = "rte_eth_dev_start failed";
    return false;
  }
  return true;
}

}  // namespace

bool run_generator(const GenOptions& o, GenResults* results,
                   std::string* error) {
  const uint32_t mbufs = gen_mbufs(o);
  results->mode = o.mode;
  results->connections = o.connections;
  results->eal_args =
      plan_gen_eal(o, engine::hugepages_available(), first_cpu(),
                   static_cast<long>(getpid()), mbufs);
  std::vector<std::string> args = results->eal_args;
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    *error =
        std::string("EAL initialisation failed: ") + rte_strerror(rte_errno);
    return false;
  }
  bool ok = false;
  uint16_t port = RTE_MAX_ETHPORTS;
  rte_mempool* pool = nullptr;
  do {
    const std::string name = o.port_device.substr(0, o.port_device.find(','));
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
      *error = "port '" + name + "' not found";
      port = RTE_MAX_ETHPORTS;
      break;
    }
    pool = rte_pktmbuf_pool_create("gen_mbuf", mbufs, 256, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE,
                                   rte_eth_dev_socket_id(port));
    if (pool == nullptr) {
      *error = "cannot create the mbuf pool (" + std::to_string(mbufs) +
               " mbufs): " + rte_strerror(rte_errno);
      break;
    }
    net::PortOffloadPlan plan;
    uint16_t mtu = 0;
    if (!start_port(port, pool, o.mtu, o.offloads, &plan, &mtu, results,
                    error)) {
      break;
    }
    results->offloads = plan.summary();
    results->mtu = mtu;
    auto g = std::make_unique<Generator>(o, results);
    g->port = port;
    g->tx_offloads = plan.stack;
    g->pool = pool;
    if (!g->init(error)) {
      break;
    }
    g->run();
    // Free what the connections still hold before the pool goes.
    for (Conn& c : g->conns) {
      c.rec.reset(&Generator::release, g.get());
    }
    for (auto& s : g->sealed) {
      rte_pktmbuf_free(s.m);
    }
    g.reset();
    ok = true;
  } while (false);
  if (port != RTE_MAX_ETHPORTS) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
  }
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return ok;
}

}  // namespace dptls::gen
