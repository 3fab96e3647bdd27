// The control plane's handshake side (HandshakeService, HandshakeThreads,
// build_server_contexts) driven as a worker drives it: an OpenSSL libssl
// client in memory, its bytes chunked into HsRequests through the real SPSC
// rings to handshake threads running on real threads, the answers collected
// until kDone, then the HsKeys installed in a tls::RecordEngine that
// exchanges application data with the client both ways (including what
// the client sent right after its Finished). Also failures, kClosed,
// timeouts, stale listener indexes, a tiny response ring drained slowly,
// a worker that stops taking its answers next to one that does,
// resumption across threads, mTLS, the key log against libssl's, and two
// workers with two threads. And the rings' wipe when they are destroyed,
// and the ticket key file's permissions (refused unless private, saved
// 0600). And the certificate reload's swap: in one service, and through the
// threads (replace_contexts()).
#include "dptls/engine/handshake_service.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dptls/engine/handshake_threads.h"
#include "dptls/engine/hs_channel.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/handshake/worker_test_support.h"

namespace dptls::engine {
namespace {

using tls::testing::Bytes;
using tls::testing::ClientOptions;
using tls::testing::ClientRead;
using tls::testing::ClientWrite;
using tls::testing::Identity;
using tls::testing::Pattern;
using tls::testing::Pki;
using tls::testing::Ptr;
using tls::testing::TestClient;
using tls::testing::Worker;
using Clock = std::chrono::steady_clock;

// ---- files and configuration ----

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "dptls_hs_XXXXXX";
  char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string ReadFileText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A configuration whose listeners serve the test PKI's ECDSA leaf for
// server.test.
struct TestConfig {
  TestConfig() : dir(MakeTempDir()) {
    const tls::testing::TestPki::Leaf& leaf = Pki().leaves.at("ec");
    WriteFile(dir + "/chain.pem", leaf.chain_pem);
    WriteFile(dir + "/key.pem", leaf.key_pem);
    WriteFile(dir + "/ca.pem", tls::testing::CertPem(Pki().root.cert.get()));
  }
  config::ListenerSection& AddListener(std::vector<std::string> alpn = {}) {
    config::ListenerSection l;
    l.address.text = "0.0.0.0:" + std::to_string(443 + cfg.listeners.size());
    l.alpn = std::move(alpn);
    config::CertificateSection c;
    c.chain_file = dir + "/chain.pem";
    c.key_file = dir + "/key.pem";
    l.certificates.push_back(c);
    cfg.listeners.push_back(l);
    return cfg.listeners.back();
  }
  ServerContexts Build() {
    std::string err;
    ServerContexts ctx = build_server_contexts(cfg, &err);
    EXPECT_EQ(ctx.size(), cfg.listeners.size()) << err;
    return ctx;
  }

  std::string dir;
  config::Config cfg;
};

// True when nothing of a connection is left in `k` once wiped: the traffic
// secrets, and the ALPN, SNI and client identity (a slot is reused by
// other connections) with their lengths.
bool KeysWiped(const HsKeys& k) {
  auto zero = [](const auto& a) {
    return std::all_of(std::begin(a), std::end(a),
                       [](auto b) { return b == 0; });
  };
  return zero(k.client_secret) && zero(k.server_secret) && zero(k.alpn) &&
         zero(k.sni) && zero(k.identity) && k.secret_len == 0 &&
         k.alpn_len == 0 && k.sni_len == 0 && k.identity_len == 0;
}

// ---- the worker's side of the rings ----

// Everything answered to one batch.
struct Answer {
  bool complete = false;
  HsResponseKind last = HsResponseKind::kSend;
  Bytes send;
  Bytes post;
  HsKeys keys{};
  uint8_t alert = 0;
  bool alert_from_peer = false;
  size_t messages = 0;
};

class WorkerSide {
 public:
  WorkerSide(HandshakeThreads& hs, uint16_t worker)
      : hs_(hs), worker_(worker) {}

  // Forwards a batch as kData chunks of at most `chunk` bytes.
  void Send(net::ConnHandle h, uint16_t listener, const Bytes& b,
            size_t chunk = kHsChunk) {
    SpscRing<HsRequest>& ring = hs_.requests(worker_, hs_.thread_for(h));
    size_t off = 0;
    do {
      const size_t n = std::min(chunk, b.size() - off);
      HsRequest* q = Claim(ring);
      q->conn = h;
      q->listener = listener;
      q->kind = HsRequestKind::kData;
      q->len = static_cast<uint16_t>(n);
      std::memcpy(q->data, b.data() + off, n);
      off += n;
      q->end = off == b.size();
      ring.publish();
    } while (off < b.size());
  }

  void Close(net::ConnHandle h) {
    SpscRing<HsRequest>& ring = hs_.requests(worker_, hs_.thread_for(h));
    HsRequest* q = Claim(ring);
    q->conn = h;
    q->kind = HsRequestKind::kClosed;
    q->end = true;
    q->len = 0;
    ring.publish();
  }

  // Takes every response waiting in this worker's rings (at most `max`,
  // sleeping `delay` after each).
  size_t Poll(size_t max = SIZE_MAX,
              std::chrono::microseconds delay = std::chrono::microseconds(0)) {
    size_t n = 0;
    for (size_t t = 0; t < hs_.threads() && n < max; ++t) {
      SpscRing<HsResponse>& ring = hs_.responses(worker_, t);
      while (n < max) {
        HsResponse* r = ring.peek();
        if (r == nullptr) {
          break;
        }
        EXPECT_EQ(r->conn.worker(), worker_);
        EXPECT_EQ(hs_.thread_for(r->conn), t);
        Answer& a = answers_[r->conn.v];
        EXPECT_FALSE(a.complete) << "response after the batch's answer";
        ++a.messages;
        a.last = r->kind;
        switch (r->kind) {
          case HsResponseKind::kSend:
            EXPECT_TRUE(a.post.empty()) << "kSend after kPostFinished";
            a.send.insert(a.send.end(), r->data, r->data + r->len);
            break;
          case HsResponseKind::kPostFinished:
            a.post.insert(a.post.end(), r->data, r->data + r->len);
            break;
          case HsResponseKind::kNeedMore:
            a.complete = true;
            break;
          case HsResponseKind::kDone:
            a.keys = r->keys;
            r->keys.wipe();
            EXPECT_TRUE(KeysWiped(r->keys)) << "HsKeys::wipe left bytes";
            a.complete = true;
            break;
          case HsResponseKind::kFailed:
            a.alert = r->alert;
            a.alert_from_peer = r->alert_from_peer;
            a.complete = true;
            break;
        }
        ring.pop();
        ++n;
        if (delay.count() != 0) {
          std::this_thread::sleep_for(delay);
        }
      }
    }
    return n;
  }

  // Waits for the answer to the last batch of `h`.
  Answer Await(net::ConnHandle h,
               std::chrono::microseconds delay = std::chrono::microseconds(0)) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      auto it = answers_.find(h.v);
      if (it != answers_.end() && it->second.complete) {
        Answer a = it->second;
        answers_.erase(it);
        return a;
      }
      if (Poll(delay.count() != 0 ? 1 : SIZE_MAX, delay) == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
    ADD_FAILURE() << "no answer for connection " << h.v;
    return Answer{};
  }

  bool Pending(net::ConnHandle h) const { return answers_.count(h.v) != 0; }

 private:
  // A worker never blocks on a full request ring: it keeps taking the
  // answers (the handshake thread may be waiting for room in the response
  // ring) until a slot frees.
  HsRequest* Claim(SpscRing<HsRequest>& ring) {
    for (;;) {
      if (HsRequest* q = ring.claim()) {
        return q;
      }
      if (Poll() == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
  }

  HandshakeThreads& hs_;
  uint16_t worker_;
  std::map<uint64_t, Answer> answers_;
};

// The worker's view of a finished handshake.
struct Outcome {
  bool done = false;
  bool failed = false;
  Answer last;  // the kDone / kFailed answer
  Bytes server_wire;
};

// Runs `client` against the handshake threads through `ws` as connection
// `h` on `listener`. `after_finished`, when non-empty, is written by the
// client right after its Finished and goes in the same batch.
Outcome Drive(TestClient& client, WorkerSide& ws, net::ConnHandle h,
              uint16_t listener, const Bytes& after_finished = {},
              size_t chunk = kHsChunk) {
  Outcome o;
  for (int i = 0; i < 16; ++i) {
    Bytes c = client.Step();
    if (client.handshake_done() && !after_finished.empty()) {
      const Bytes app = ClientWrite(client, after_finished);
      c.insert(c.end(), app.begin(), app.end());
    }
    if (c.empty()) {
      break;
    }
    ws.Send(h, listener, c, chunk);
    Answer a = ws.Await(h);
    o.server_wire.insert(o.server_wire.end(), a.send.begin(), a.send.end());
    client.Deliver(a.send);
    if (a.last == HsResponseKind::kDone) {
      o.done = true;
      o.last = a;
      break;
    }
    if (a.last == HsResponseKind::kFailed || !a.complete) {
      o.failed = true;
      o.last = a;
      client.Step();  // let the client read the alert
      break;
    }
  }
  return o;
}

// The HandshakeResult a worker rebuilds from HsKeys for RecordEngine.
tls::HandshakeResult ResultOf(const HsKeys& k) {
  tls::HandshakeResult r;
  r.version = k.version;
  r.suite = static_cast<tls::CipherSuite>(k.suite);
  EXPECT_TRUE(r.client_secret.assign({k.client_secret, k.secret_len}));
  EXPECT_TRUE(r.server_secret.assign({k.server_secret, k.secret_len}));
  r.client_next_seq = k.client_next_seq;
  r.server_next_seq = k.server_next_seq;
  r.peer_record_size_limit = k.peer_record_size_limit;
  r.own_record_size_limit = k.own_record_size_limit;
  return r;
}

// Installs the keys and moves data both ways; `post` is what came in
// kPostFinished and `early` what the client had written after its
// Finished.
void ExchangeData(TestClient& client, const Outcome& o, const Bytes& early,
                  uint8_t seed) {
  ASSERT_TRUE(o.done);
  Worker w;
  tls::HandshakeResult r = ResultOf(o.last.keys);
  ASSERT_TRUE(w.Install(r));
  r.wipe();
  w.Receive(o.last.post);
  EXPECT_EQ(w.data, early);
  w.data.clear();
  const Bytes up = Pattern(5000, seed);
  w.Receive(ClientWrite(client, up));
  EXPECT_EQ(w.data, up);
  // The client reads the tickets first, then our records at the sequence
  // numbers the keys gave.
  const Bytes down = Pattern(20000, static_cast<uint8_t>(seed + 1));
  client.Deliver(w.Send(down));
  EXPECT_EQ(ClientRead(client, down.size()), down);
  EXPECT_FALSE(w.error);
}

ClientOptions DefaultClient() {
  ClientOptions o;
  o.sni = "server.test";
  return o;
}

// `n` clients whose ClientHellos went through `ws` (listener 0, in chunks
// of `chunk` bytes) as connections of `worker` from slot `first_slot` on,
// before any answer is read.
struct Hellos {
  std::vector<std::unique_ptr<TestClient>> clients;
  std::vector<net::ConnHandle> handles;
  size_t largest = 0;  // the longest ClientHello, in bytes
};
Hellos SendHellos(WorkerSide& ws, uint16_t worker, int n, uint32_t first_slot,
                  size_t chunk = kHsChunk) {
  Hellos h;
  for (int i = 0; i < n; ++i) {
    h.clients.push_back(std::make_unique<TestClient>(DefaultClient()));
    h.handles.push_back(
        net::ConnHandle::of(worker, first_slot + static_cast<uint32_t>(i), 1));
    const Bytes hello = h.clients.back()->Step();
    h.largest = std::max(h.largest, hello.size());
    ws.Send(h.handles.back(), 0, hello, chunk);
  }
  return h;
}

class HandshakeThreadsTest : public ::testing::Test {
 protected:
  void Start(size_t workers, size_t threads, size_t ring,
             const std::string& keylog = "", uint64_t timeout_ms = 10000) {
    std::string err;
    ASSERT_TRUE(hs_.start(workers, threads, ring, tc_.Build(), keylog,
                          timeout_ms, &err))
        << err;
  }
  // Waits until `pred` holds on the counters.
  template <typename P>
  bool WaitFor(P pred) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (pred(hs_.counters())) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  TestConfig tc_;
  HandshakeThreads hs_;
};

// ---- the rings ----

// A ring slot that reports, when it is destroyed, whether any of its bytes
// were left non-zero: ~SpscRing must wipe every slot before freeing them.
size_t g_slots_destroyed = 0;
size_t g_slots_unwiped = 0;
template <typename T>
struct WipeProbe {
  T v;
  ~WipeProbe() {
    const auto* p = reinterpret_cast<const volatile uint8_t*>(&v);
    bool dirty = false;
    for (size_t i = 0; i < sizeof(v); ++i) {
      dirty = dirty || p[i] != 0;
    }
    ++g_slots_destroyed;
    g_slots_unwiped += dirty ? 1 : 0;
  }
};

TEST(SpscRingTest, DestroyedResponseRingWipesEverySlot) {
  g_slots_destroyed = 0;
  g_slots_unwiped = 0;
  {
    SpscRing<WipeProbe<HsResponse>> ring(8);
    // kDone (traffic secrets) and kPostFinished (record bytes) alternately,
    // every slot; the consumer takes two without wiping them (as a worker
    // takes kPostFinished), the rest are never consumed (shutdown).
    for (size_t i = 0; i < ring.capacity(); ++i) {
      WipeProbe<HsResponse>* slot = ring.claim();
      ASSERT_NE(slot, nullptr);
      HsResponse& r = slot->v;
      r.conn = net::ConnHandle::of(0, static_cast<uint32_t>(i), 1);
      if (i % 2 == 0) {
        r.kind = HsResponseKind::kDone;
        r.keys = HsKeys{};
        r.keys.secret_len = 48;
        std::memset(r.keys.client_secret, 0x5a, sizeof(r.keys.client_secret));
        std::memset(r.keys.server_secret, 0xa5, sizeof(r.keys.server_secret));
      } else {
        r.kind = HsResponseKind::kPostFinished;
        r.len = kHsChunk;
        std::memset(r.data, 0xc3, kHsChunk);
      }
      ring.publish();
    }
    ASSERT_EQ(ring.claim(), nullptr);
    for (int i = 0; i < 2; ++i) {
      ASSERT_NE(ring.peek(), nullptr);
      ring.pop();
    }
  }
  EXPECT_EQ(g_slots_destroyed, 8u);
  EXPECT_EQ(g_slots_unwiped, 0u) << "slots freed with their bytes";
}

TEST(SpscRingTest, DestroyedRequestRingWipesEverySlot) {
  g_slots_destroyed = 0;
  g_slots_unwiped = 0;
  {
    SpscRing<WipeProbe<HsRequest>> ring(4);
    for (int i = 0; i < 3; ++i) {
      WipeProbe<HsRequest>* slot = ring.claim();
      ASSERT_NE(slot, nullptr);
      slot->v.len = kHsChunk;
      std::memset(slot->v.data, 0x16, kHsChunk);  // a client's bytes
      ring.publish();
    }
  }
  EXPECT_EQ(g_slots_destroyed, 4u);
  EXPECT_EQ(g_slots_unwiped, 0u);
}

// ---- tests ----

TEST_F(HandshakeThreadsTest, FullHandshakeThenDataBothWays) {
  tc_.AddListener({"h2", "http/1.1"});
  Start(1, 1, 64);
  WorkerSide ws(hs_, 0);
  ClientOptions co = DefaultClient();
  co.alpn = {"http/1.1"};
  TestClient client(co);
  const net::ConnHandle h = net::ConnHandle::of(0, 7, 1);
  const Bytes early = Pattern(3000, 42);
  // 300-byte chunks: the service gathers them until `end`.
  Outcome o = Drive(client, ws, h, 0, early, 300);
  ASSERT_TRUE(o.done) << int(o.last.alert);
  EXPECT_TRUE(client.handshake_done());
  const HsKeys& k = o.last.keys;
  EXPECT_EQ(k.version, 0x0304);
  EXPECT_EQ(k.kind, static_cast<uint8_t>(tls::HandshakeKind::kFull));
  EXPECT_EQ(std::string(k.alpn, k.alpn_len), "http/1.1");
  EXPECT_EQ(std::string(k.sni, k.sni_len), "server.test");
  EXPECT_EQ(k.identity_len, 0);
  EXPECT_EQ(k.server_next_seq, 2u);  // two NewSessionTickets
  EXPECT_FALSE(o.last.post.empty());
  ExchangeData(client, o, early, 3);

  EXPECT_TRUE(WaitFor([](const HandshakeCounters& c) {
    return c.completed[static_cast<size_t>(tls::HandshakeKind::kFull)] == 1;
  }));
  const HandshakeCounters c = hs_.counters();
  EXPECT_EQ(c.started, 1u);
  EXPECT_EQ(c.states, 0u);
  EXPECT_GT(c.requests, 2u);
  EXPECT_GT(c.bytes_in, early.size());
  EXPECT_GT(c.bytes_out, 1000u);
  std::string prom;
  hs_.render_prometheus(&prom);
  EXPECT_NE(prom.find("dptls_hs_completed_total{kind=\"full\"} 1\n"),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("dptls_hs_started_total 1\n"), std::string::npos);
  EXPECT_NE(prom.find("# TYPE dptls_hs_states gauge\n"), std::string::npos);
  EXPECT_NE(prom.find("dptls_hs_thread_busy_ratio{thread=\"0\"}"),
            std::string::npos);
  // One full handshake is tens of microseconds of the thread's time: both
  // counters have moved, and the CPU time covers at least the busy rounds'
  // crypto (an ECDSA signature and two X25519 operations).
  const auto value = [&](const std::string& series) {
    const size_t at = prom.find(series + " ");
    return at == std::string::npos
               ? -1.0
               : std::strtod(prom.c_str() + at + series.size() + 1, nullptr);
  };
  EXPECT_GT(value("dptls_hs_thread_busy_seconds_total{thread=\"0\"}"), 0.0)
      << prom;
  EXPECT_GE(value("dptls_hs_thread_cpu_seconds_total{thread=\"0\"}"), 2e-5)
      << prom;
  hs_.stop();
  EXPECT_FALSE(hs_.running());
}

TEST_F(HandshakeThreadsTest, CorruptedClientHelloFails) {
  tc_.AddListener();
  Start(1, 1, 64);
  WorkerSide ws(hs_, 0);
  TestClient client(DefaultClient());
  Bytes ch = client.Step();
  ASSERT_GT(ch.size(), 60u);
  // Break the cipher_suites length (after header 5 + 4, version 2,
  // random 32, session id 1 + 32).
  const size_t off = 5 + 4 + 2 + 32 + 1 + ch[5 + 4 + 2 + 32];
  ch[off] = 0xff;
  ch[off + 1] = 0xff;
  const net::ConnHandle h = net::ConnHandle::of(0, 1, 1);
  ws.Send(h, 0, ch);
  const Answer a = ws.Await(h);
  ASSERT_EQ(a.last, HsResponseKind::kFailed);
  EXPECT_FALSE(a.alert_from_peer);
  EXPECT_TRUE(a.alert == static_cast<uint8_t>(tls::Alert::kDecodeError) ||
              a.alert == static_cast<uint8_t>(tls::Alert::kIllegalParameter))
      << int(a.alert);
  EXPECT_EQ(tls::testing::TrailingPlaintextAlert(a.send), int(a.alert));
  EXPECT_TRUE(WaitFor([&](const HandshakeCounters& c) {
    return c.failed[0][a.alert] == 1 && c.states == 0;
  }));
  std::string prom;
  hs_.counters().render_prometheus(&prom);
  EXPECT_NE(
      prom.find("dptls_hs_failed_total{alert=\"" +
                std::string(tls::alert_name(static_cast<tls::Alert>(a.alert))) +
                "\",from=\"local\"} 1\n"),
      std::string::npos)
      << prom;
}

TEST_F(HandshakeThreadsTest, ClosedMidHandshakeFreesState) {
  tc_.AddListener();
  Start(1, 1, 64);
  WorkerSide ws(hs_, 0);
  TestClient client(DefaultClient());
  const net::ConnHandle h = net::ConnHandle::of(0, 3, 9);
  ws.Send(h, 0, client.Step());
  const Answer a = ws.Await(h);
  ASSERT_EQ(a.last, HsResponseKind::kNeedMore);
  EXPECT_FALSE(a.send.empty());
  EXPECT_EQ(hs_.counters().states, 1u);
  ws.Close(h);
  EXPECT_TRUE(WaitFor([](const HandshakeCounters& c) {
    return c.states == 0 && c.closed == 1;
  }));
  // A second kClosed for it is stale and unanswered.
  ws.Close(h);
  EXPECT_TRUE(WaitFor([](const HandshakeCounters& c) { return c.stale == 1; }));
  EXPECT_EQ(ws.Poll(), 0u);
}

TEST_F(HandshakeThreadsTest, StaleListenerIndexFails) {
  tc_.AddListener();
  Start(1, 1, 64);
  WorkerSide ws(hs_, 0);
  TestClient client(DefaultClient());
  const net::ConnHandle h = net::ConnHandle::of(0, 4, 1);
  const Bytes ch = client.Step();
  ASSERT_GT(ch.size(), 2 * 100u);
  // Several chunks in one batch: one refusal, counted once.
  ws.Send(h, 5, ch, 100);
  const Answer a = ws.Await(h);
  ASSERT_EQ(a.last, HsResponseKind::kFailed);
  EXPECT_EQ(a.alert, static_cast<uint8_t>(tls::Alert::kInternalError));
  EXPECT_EQ(tls::testing::TrailingPlaintextAlert(a.send),
            int(tls::Alert::kInternalError));
  const HandshakeCounters c = hs_.counters();
  EXPECT_EQ(c.bad_listener, 1u);
  EXPECT_EQ(c.failed[0][static_cast<uint8_t>(tls::Alert::kInternalError)], 1u);
  EXPECT_EQ(c.started, 0u);
  EXPECT_EQ(c.states, 0u);
}

TEST_F(HandshakeThreadsTest, TimedOutStatesAreSwept) {
  tc_.AddListener();
  Start(1, 1, 64, "", /*timeout_ms=*/50);
  WorkerSide ws(hs_, 0);
  TestClient client(DefaultClient());
  const net::ConnHandle h = net::ConnHandle::of(0, 2, 1);
  ws.Send(h, 0, client.Step());
  ASSERT_EQ(ws.Await(h).last, HsResponseKind::kNeedMore);
  EXPECT_TRUE(WaitFor([](const HandshakeCounters& c) {
    return c.timed_out == 1 && c.states == 0;
  }));
}

// A service on one listener that times states out after 500 ms of the
// clock *now.
std::unique_ptr<HandshakeService> ClockedService(TestConfig& tc,
                                                 uint64_t* now) {
  tc.AddListener();
  HandshakeServiceOptions opt;
  opt.handshake_timeout_ms = 500;
  opt.clock_ms = [now] { return *now; };
  return std::make_unique<HandshakeService>(tc.Build(), opt);
}

TEST(HandshakeServiceTest, SweepUsesTheTimeout) {
  TestConfig tc;
  uint64_t now = 1000;
  const std::unique_ptr<HandshakeService> service = ClockedService(tc, &now);
  HandshakeService& svc = *service;
  ASSERT_TRUE(svc.ok()) << svc.error();
  TestClient client(DefaultClient());
  const Bytes ch = client.Step();
  auto req = std::make_unique<HsRequest>();
  req->conn = net::ConnHandle::of(0, 1, 1);
  req->len = static_cast<uint16_t>(ch.size());
  std::memcpy(req->data, ch.data(), ch.size());
  req->end = true;
  std::vector<HsResponseKind> kinds;
  ASSERT_TRUE(svc.handle(*req, [&](const HsResponse& r) {
    kinds.push_back(r.kind);
    return true;
  }));
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.back(), HsResponseKind::kNeedMore);
  EXPECT_EQ(svc.states(), 1u);
  now = 1499;
  EXPECT_EQ(svc.sweep(now), 0u);
  EXPECT_EQ(svc.states(), 1u);
  now = 1500;
  EXPECT_EQ(svc.sweep(now), 1u);
  EXPECT_EQ(svc.states(), 0u);
  EXPECT_EQ(svc.counters().timed_out, 1u);
  EXPECT_EQ(svc.counters().states, 0u);
}

TEST(HandshakeServiceTest, RefusingEmitterDropsTheState) {
  TestConfig tc;
  tc.AddListener();
  HandshakeService svc(tc.Build(), {});
  ASSERT_TRUE(svc.ok());
  TestClient client(DefaultClient());
  const Bytes ch = client.Step();
  auto req = std::make_unique<HsRequest>();
  req->conn = net::ConnHandle::of(0, 1, 1);
  req->len = static_cast<uint16_t>(ch.size());
  std::memcpy(req->data, ch.data(), ch.size());
  req->end = true;
  EXPECT_FALSE(svc.handle(*req, [](const HsResponse&) { return false; }));
  EXPECT_EQ(svc.states(), 0u);
}

// Sends `bytes` to `svc` as one batch of `chunk`-byte kData requests for
// `h`, calling `between` after every chunk but the last; returns the kinds
// answered (the last one's alert in *alert, the kSend bytes appended to
// *sent).
std::vector<HsResponseKind> ServiceBatch(
    HandshakeService& svc, net::ConnHandle h, const Bytes& bytes,
    size_t chunk = kHsChunk, uint8_t* alert = nullptr,
    const std::function<void()>& between = {}, Bytes* sent = nullptr) {
  std::vector<HsResponseKind> kinds;
  auto req = std::make_unique<HsRequest>();
  size_t off = 0;
  do {
    const size_t n = std::min(chunk, bytes.size() - off);
    req->conn = h;
    req->kind = HsRequestKind::kData;
    req->len = static_cast<uint16_t>(n);
    std::memcpy(req->data, bytes.data() + off, n);
    off += n;
    req->end = off == bytes.size();
    EXPECT_TRUE(svc.handle(*req, [&](const HsResponse& r) {
      kinds.push_back(r.kind);
      if (alert != nullptr) {
        *alert = r.alert;
      }
      if (sent != nullptr && r.kind == HsResponseKind::kSend) {
        sent->insert(sent->end(), r.data, r.data + r.len);
      }
      return true;
    }));
    if (!req->end && between) {
      between();
    }
  } while (off < bytes.size());
  return kinds;
}

// A batch whose chunks straddle a sweep (the thread takes a bounded number
// of requests per ring and round, then sweeps) is answered as a whole: the
// sweep does not cut it, so its tail never starts a handshake of its own.
TEST(HandshakeServiceTest, SweepLeavesABatchInProgress) {
  TestConfig tc;
  uint64_t now = 1000;
  const std::unique_ptr<HandshakeService> service = ClockedService(tc, &now);
  HandshakeService& svc = *service;
  ASSERT_TRUE(svc.ok()) << svc.error();
  TestClient client(DefaultClient());
  const Bytes ch = client.Step();
  ASSERT_GT(ch.size(), 2 * 100u);
  const auto kinds =
      ServiceBatch(svc, net::ConnHandle::of(0, 1, 1), ch, 100, nullptr, [&] {
        now += 1000;
        svc.sweep(now);
      });
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.back(), HsResponseKind::kNeedMore);
  EXPECT_EQ(svc.counters().started, 1u);
  EXPECT_EQ(svc.counters().timed_out, 0u);
  // Answered and waiting for the client: now it goes.
  EXPECT_EQ(svc.sweep(now), 1u);
  EXPECT_EQ(svc.states(), 0u);
  EXPECT_EQ(svc.counters().timed_out, 1u);
}

TEST(HandshakeServiceTest, StatesBeyondTheLimitAreRefused) {
  TestConfig tc;
  tc.AddListener();
  HandshakeServiceOptions opt;
  opt.max_states = 2;
  HandshakeService svc(tc.Build(), opt);
  ASSERT_TRUE(svc.ok()) << svc.error();
  std::vector<std::unique_ptr<TestClient>> clients;
  for (uint32_t i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<TestClient>(DefaultClient()));
    const auto kinds =
        ServiceBatch(svc, net::ConnHandle::of(0, i, 1), clients[i]->Step());
    ASSERT_FALSE(kinds.empty());
    EXPECT_EQ(kinds.back(), HsResponseKind::kNeedMore);
  }
  EXPECT_EQ(svc.states(), 2u);
  // A third connection, its ClientHello in several chunks: refused once,
  // with a plaintext alert, and no state kept. A state that frees while
  // its batch is coming in does not let the rest of the batch start one.
  TestClient third(DefaultClient());
  const Bytes ch = third.Step();
  ASSERT_GT(ch.size(), 2 * 100u);
  bool closed = false;
  uint8_t alert = 0;
  const auto kinds =
      ServiceBatch(svc, net::ConnHandle::of(0, 2, 1), ch, 100, &alert, [&] {
        if (!closed) {
          closed = true;
          auto req = std::make_unique<HsRequest>();
          req->conn = net::ConnHandle::of(0, 0, 1);
          req->kind = HsRequestKind::kClosed;
          req->end = true;
          EXPECT_TRUE(svc.handle(*req, [](const HsResponse&) { return true; }));
        }
      });
  ASSERT_EQ(kinds.size(), 2u);
  EXPECT_EQ(kinds[0], HsResponseKind::kSend);
  EXPECT_EQ(kinds[1], HsResponseKind::kFailed);
  EXPECT_EQ(alert, static_cast<uint8_t>(tls::Alert::kInternalError));
  EXPECT_EQ(svc.states(), 1u);
  HandshakeCounters c = svc.counters();
  EXPECT_EQ(c.refused, 1u);
  EXPECT_EQ(c.started, 2u);
  EXPECT_EQ(c.failed[0][static_cast<uint8_t>(tls::Alert::kInternalError)], 1u);
  std::string prom;
  c.render_prometheus(&prom);
  EXPECT_NE(prom.find("dptls_hs_refused_total 1\n"), std::string::npos) << prom;
  // With room again, a new connection starts.
  TestClient fourth(DefaultClient());
  const auto ok =
      ServiceBatch(svc, net::ConnHandle::of(0, 3, 1), fourth.Step());
  ASSERT_FALSE(ok.empty());
  EXPECT_EQ(ok.back(), HsResponseKind::kNeedMore);
  EXPECT_EQ(svc.states(), 2u);
  EXPECT_EQ(svc.counters().refused, 1u);
}

// A slot reused under a new generation is another connection: its
// ClientHello starts its own state, and the old generation's kClosed
// (late, as when the worker's ring was full) drops only the old one.
TEST(HandshakeServiceTest, ReusedSlotNeverReachesTheOldState) {
  TestConfig tc;
  tc.AddListener();
  HandshakeService svc(tc.Build(), {});
  ASSERT_TRUE(svc.ok()) << svc.error();
  const net::ConnHandle old_h = net::ConnHandle::of(0, 3, 1);
  const net::ConnHandle new_h = net::ConnHandle::of(0, 3, 2);
  TestClient first(DefaultClient());
  ASSERT_EQ(ServiceBatch(svc, old_h, first.Step()).back(),
            HsResponseKind::kNeedMore);
  TestClient second(DefaultClient());
  ASSERT_EQ(ServiceBatch(svc, new_h, second.Step()).back(),
            HsResponseKind::kNeedMore);
  EXPECT_EQ(svc.states(), 2u);
  auto closed = std::make_unique<HsRequest>();
  closed->conn = old_h;
  closed->kind = HsRequestKind::kClosed;
  closed->end = true;
  EXPECT_TRUE(svc.handle(*closed, [](const HsResponse&) {
    ADD_FAILURE() << "kClosed is never answered";
    return true;
  }));
  EXPECT_EQ(svc.states(), 1u);
  EXPECT_EQ(svc.counters().closed, 1u);
  // The old generation again: stale, the new state untouched.
  EXPECT_TRUE(svc.handle(*closed, [](const HsResponse&) { return true; }));
  EXPECT_EQ(svc.counters().stale, 1u);
  EXPECT_EQ(svc.states(), 1u);
  closed->conn = new_h;
  EXPECT_TRUE(svc.handle(*closed, [](const HsResponse&) { return true; }));
  EXPECT_EQ(svc.states(), 0u);
  EXPECT_EQ(svc.counters().closed, 2u);
}

TEST_F(HandshakeThreadsTest, TinyResponseRingDrainedSlowlyLosesNothing) {
  tc_.AddListener();
  // One slot each way: every answer (kSend chunks, then a final message)
  // is larger than the response ring, so the thread takes a batch when the
  // ring is empty and then waits for the worker between messages.
  Start(1, 1, 1);
  WorkerSide ws(hs_, 0);
  constexpr int kConns = 6;
  // Every ClientHello first, so the answers queue behind the tiny rings.
  Hellos hellos = SendHellos(ws, 0, kConns, 10, 512);
  auto& clients = hellos.clients;
  const auto& handles = hellos.handles;
  for (int i = 0; i < kConns; ++i) {
    const Answer a = ws.Await(handles[i], std::chrono::microseconds(2000));
    ASSERT_EQ(a.last, HsResponseKind::kNeedMore);
    clients[i]->Deliver(a.send);
  }
  EXPECT_GT(hs_.ring_full_waits(0), 0u);
  for (int i = 0; i < kConns; ++i) {
    const Bytes fin = clients[i]->Step();
    ASSERT_TRUE(clients[i]->handshake_done());
    ws.Send(handles[i], 0, fin);
  }
  for (int i = 0; i < kConns; ++i) {
    Outcome o;
    o.last = ws.Await(handles[i], std::chrono::microseconds(500));
    ASSERT_EQ(o.last.last, HsResponseKind::kDone);
    o.done = true;
    clients[i]->Deliver(o.last.send);
    ExchangeData(*clients[i], o, {}, static_cast<uint8_t>(i));
  }
  EXPECT_TRUE(WaitFor([](const HandshakeCounters& c) {
    return c.completed[static_cast<size_t>(tls::HandshakeKind::kFull)] ==
               kConns &&
           c.states == 0;
  }));
}

TEST_F(HandshakeThreadsTest, ResumptionAcrossThreadsWithSharedTicketKeys) {
  tc_.AddListener();
  Start(1, 2, 64);
  WorkerSide ws(hs_, 0);
  // Slots 0 and 1: threads 0 and 1.
  const net::ConnHandle h1 = net::ConnHandle::of(0, 0, 1);
  const net::ConnHandle h2 = net::ConnHandle::of(0, 1, 1);
  ASSERT_NE(hs_.thread_for(h1), hs_.thread_for(h2));
  Ptr<SSL_SESSION> session;
  {
    TestClient client(DefaultClient());
    Outcome o = Drive(client, ws, h1, 0);
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.last.keys.kind,
              static_cast<uint8_t>(tls::HandshakeKind::kFull));
    ExchangeData(client, o, {}, 1);
    session.reset(SSL_get1_session(client.ssl()));
    SSL_set_shutdown(client.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  ASSERT_NE(session, nullptr);
  ClientOptions co = DefaultClient();
  co.session = session.get();
  TestClient client(co);
  Outcome o = Drive(client, ws, h2, 0);
  ASSERT_TRUE(o.done);
  EXPECT_EQ(SSL_session_reused(client.ssl()), 1);
  EXPECT_EQ(o.last.keys.kind, static_cast<uint8_t>(tls::HandshakeKind::kPsk));
  ExchangeData(client, o, {}, 2);
  EXPECT_TRUE(WaitFor([](const HandshakeCounters& c) {
    return c.completed[static_cast<size_t>(tls::HandshakeKind::kPsk)] == 1;
  }));
}

// A TLS client certificate under the test intermediate.
Ptr<X509> ClientCert(EVP_PKEY* key, const std::string& cn) {
  const Identity& issuer = Pki().intermediate;
  Ptr<X509> cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>(cn.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(issuer.cert.get()));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer.cert.get(), x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : std::vector<std::pair<int, std::string>>{
           {NID_basic_constraints, "critical,CA:FALSE"},
           {NID_key_usage, "critical,digitalSignature"},
           {NID_ext_key_usage, "clientAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid,
                                              const_cast<char*>(value.c_str()));
    EXPECT_NE(ext, nullptr);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  EXPECT_GT(X509_sign(x, issuer.key.get(), EVP_sha256()), 0);
  return cert;
}

TEST_F(HandshakeThreadsTest, MutualTlsIdentityReachesKeys) {
  tc_.AddListener();
  config::ListenerSection& l = tc_.AddListener();
  l.client_ca_file = tc_.dir + "/ca.pem";
  Start(1, 1, 64);
  WorkerSide ws(hs_, 0);
  Ptr<EVP_PKEY> key = tls::testing::MakeKey("ec");
  Ptr<X509> cert = ClientCert(key.get(), "alice");
  ClientOptions co = DefaultClient();
  co.client_cert = cert.get();
  co.client_key = key.get();
  co.client_chain = {Pki().intermediate.cert.get()};
  TestClient client(co);
  Outcome o = Drive(client, ws, net::ConnHandle::of(0, 5, 1), 1);
  ASSERT_TRUE(o.done) << int(o.last.alert);
  EXPECT_EQ(o.last.keys.kind,
            static_cast<uint8_t>(tls::HandshakeKind::kFullClientAuth));
  const std::string identity(o.last.keys.identity, o.last.keys.identity_len);
  EXPECT_NE(identity.find("CN=alice"), std::string::npos) << identity;
  ExchangeData(client, o, {}, 9);

  // Without a certificate: certificate_required.
  TestClient anonymous(DefaultClient());
  Outcome bad = Drive(anonymous, ws, net::ConnHandle::of(0, 6, 1), 1);
  ASSERT_TRUE(bad.failed);
  EXPECT_EQ(bad.last.alert,
            static_cast<uint8_t>(tls::Alert::kCertificateRequired));
}

// libssl's key log lines, captured by overriding TestClient's callback.
std::vector<std::string>* g_keylog_lines = nullptr;
void CaptureKeylog(const SSL*, const char* line) {
  if (g_keylog_lines != nullptr) {
    g_keylog_lines->push_back(line);
  }
}

TEST_F(HandshakeThreadsTest, KeylogEqualsLibssl) {
  tc_.AddListener();
  const std::string path = tc_.dir + "/keylog.txt";
  Start(1, 1, 64, path);
  WorkerSide ws(hs_, 0);
  std::set<std::string> expected;
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> lines;
    g_keylog_lines = &lines;
    ClientOptions co = DefaultClient();
    co.ciphersuites =
        i == 0 ? "TLS_AES_128_GCM_SHA256" : "TLS_AES_256_GCM_SHA384";
    TestClient client(co);
    SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(client.ssl()), CaptureKeylog);
    Outcome o = Drive(client, ws, net::ConnHandle::of(0, 20 + i, 1), 0);
    g_keylog_lines = nullptr;
    ASSERT_TRUE(o.done);
    EXPECT_EQ(lines.size(), 5u);
    expected.insert(lines.begin(), lines.end());
  }
  EXPECT_TRUE(
      WaitFor([](const HandshakeCounters& c) { return c.keylog_lines == 10; }));
  std::set<std::string> got;
  std::istringstream in(ReadFileText(path));
  for (std::string line; std::getline(in, line);) {
    got.insert(line);
  }
  EXPECT_EQ(got, expected);
  for (const char* label :
       {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET"}) {
    EXPECT_EQ(std::count_if(got.begin(), got.end(),
                            [&](const std::string& s) {
                              return s.rfind(std::string(label) + " ", 0) == 0;
                            }),
              2)
        << label;
  }
}

TEST_F(HandshakeThreadsTest, TwoWorkersTwoThreads) {
  tc_.AddListener();
  Start(2, 2, 8);
  constexpr int kPerWorker = 4;
  std::vector<std::thread> workers;
  for (uint16_t w = 0; w < 2; ++w) {
    workers.emplace_back([this, w] {
      WorkerSide ws(hs_, w);
      std::vector<std::unique_ptr<TestClient>> clients;
      std::vector<net::ConnHandle> handles;
      for (int i = 0; i < kPerWorker; ++i) {
        clients.push_back(std::make_unique<TestClient>(DefaultClient()));
        handles.push_back(net::ConnHandle::of(w, i, 1));
        ws.Send(handles[i], 0, clients[i]->Step());
      }
      for (int i = 0; i < kPerWorker; ++i) {
        const Answer a = ws.Await(handles[i]);
        ASSERT_EQ(a.last, HsResponseKind::kNeedMore);
        clients[i]->Deliver(a.send);
        const Bytes early = Pattern(100, static_cast<uint8_t>(i));
        Bytes fin = clients[i]->Step();
        ASSERT_TRUE(clients[i]->handshake_done());
        const Bytes app = ClientWrite(*clients[i], early);
        fin.insert(fin.end(), app.begin(), app.end());
        ws.Send(handles[i], 0, fin);
        Outcome o;
        o.last = ws.Await(handles[i]);
        ASSERT_EQ(o.last.last, HsResponseKind::kDone);
        o.done = true;
        clients[i]->Deliver(o.last.send);
        ExchangeData(*clients[i], o, early, static_cast<uint8_t>(w * 16 + i));
      }
    });
  }
  for (std::thread& t : workers) {
    t.join();
  }
  EXPECT_TRUE(WaitFor([](const HandshakeCounters& c) {
    return c.completed[static_cast<size_t>(tls::HandshakeKind::kFull)] ==
               2 * kPerWorker &&
           c.states == 0;
  }));
  hs_.stop();
  EXPECT_GT(hs_.busy_ratio(0) + hs_.busy_ratio(1), 0.0);
}

// One worker that stops taking its answers does not hold up the others:
// the thread answers a worker's batch only while that worker's response
// ring has room for a whole answer, and otherwise leaves its requests
// queued and serves the other workers; once the stuck worker drains, its
// requests are answered.
TEST_F(HandshakeThreadsTest, StuckWorkerDoesNotStopTheOthers) {
  tc_.AddListener();
  Start(2, 1, 16);
  WorkerSide stuck(hs_, 1);
  // More ClientHellos than the answers to them fit in worker 1's response
  // ring (16 slots; each answer is kSend chunks and kNeedMore), all in
  // worker 1's request ring at once.
  constexpr int kStuck = 9;
  const Hellos hellos = SendHellos(stuck, 1, kStuck, 100);
  ASSERT_LE(hellos.largest, kHsChunk) << "one request per ClientHello";
  // The thread has answered worker 1 at least once and has had the time to
  // try the rest.
  ASSERT_TRUE(
      WaitFor([](const HandshakeCounters& c) { return c.responses >= 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));

  // Worker 0 completes a handshake meanwhile.
  WorkerSide ws(hs_, 0);
  TestClient client(DefaultClient());
  Outcome o = Drive(client, ws, net::ConnHandle::of(0, 7, 1), 0);
  ASSERT_TRUE(o.done);
  ExchangeData(client, o, {}, 3);
  EXPECT_EQ(hs_.ring_full_waits(0), 0u) << "the thread never blocked";
  EXPECT_GT(hs_.ring_skips(0), 0u);
  std::string prom;
  hs_.render_prometheus(&prom);
  EXPECT_NE(prom.find("dptls_hs_response_ring_skips_total{thread=\"0\"} "),
            std::string::npos)
      << prom;

  // Worker 1 drains: every ClientHello is answered.
  for (int i = 0; i < kStuck; ++i) {
    const Answer a = stuck.Await(hellos.handles[i]);
    EXPECT_EQ(a.last, HsResponseKind::kNeedMore) << i;
    EXPECT_FALSE(a.send.empty()) << i;
  }
  EXPECT_EQ(hs_.ring_full_waits(0), 0u);
}

// Every tls::HandshakeKind has its completed counter and series (0-RTT
// resumptions included).
TEST(HandshakeCountersTest, EveryHandshakeKindHasACounter) {
  EXPECT_EQ(tls::handshake_kind_name(
                static_cast<tls::HandshakeKind>(kHandshakeKindCount)),
            "unknown");
  HandshakeCounters c;
  c.completed.at(static_cast<size_t>(tls::HandshakeKind::kPskEarlyData)) = 1;
  std::string prom;
  c.render_prometheus(&prom);
  EXPECT_NE(prom.find("dptls_hs_completed_total{kind=\"psk-early-data\"} 1\n"),
            std::string::npos)
      << prom;
}

// ---- certificate reload: the swap ----

// The DER leaf `client` was shown (empty when none).
Bytes PeerLeaf(const TestClient& client) {
  X509* x = SSL_get0_peer_certificate(client.ssl());
  if (x == nullptr) {
    return {};
  }
  unsigned char* der = nullptr;
  const int n = i2d_X509(x, &der);
  Bytes out(der, der + std::max(n, 0));
  OPENSSL_free(der);
  return out;
}

// Listener 0's first leaf in `ctx`.
Bytes LeafOf(const ServerContexts& ctx) {
  return ctx.at(0)->certs().credentials()[0]->chain()[0];
}

// Contexts for tc's configuration with listener 0 serving a fresh ECDSA
// leaf for server.test (as a renewal would), from files of its own.
ServerContexts BuildRenewed(TestConfig& tc) {
  const tls::testing::TestPki::Leaf leaf =
      Pki().MakeLeaf("ec", {"server.test"});
  WriteFile(tc.dir + "/chain2.pem", leaf.chain_pem);
  WriteFile(tc.dir + "/key2.pem", leaf.key_pem);
  tc.cfg.listeners.at(0).certificates.at(0).chain_file = tc.dir + "/chain2.pem";
  tc.cfg.listeners.at(0).certificates.at(0).key_file = tc.dir + "/key2.pem";
  return tc.Build();
}

// One batch of `bytes` for `h` through `svc`; the kSend bytes answered
// and the last kind in *last.
Bytes ServiceRound(HandshakeService& svc, net::ConnHandle h, const Bytes& bytes,
                   HsResponseKind* last) {
  Bytes sent;
  const std::vector<HsResponseKind> kinds =
      ServiceBatch(svc, h, bytes, kHsChunk, nullptr, {}, &sent);
  *last = kinds.empty() ? HsResponseKind::kFailed : kinds.back();
  return sent;
}

// Runs `client`'s flights through `svc` until kDone (true) or anything
// else final (false).
bool ServiceHandshake(HandshakeService& svc, TestClient& client,
                      net::ConnHandle h) {
  for (int i = 0; i < 8; ++i) {
    const Bytes c = client.Step();
    if (c.empty()) {
      return false;
    }
    HsResponseKind last = HsResponseKind::kFailed;
    client.Deliver(ServiceRound(svc, h, c, &last));
    if (last != HsResponseKind::kNeedMore) {
      client.Step();
      return last == HsResponseKind::kDone && client.handshake_done();
    }
  }
  return false;
}

// A reload's swap in one service: a handshake whose ClientHello came
// before it finishes with the certificate it started with; one that starts
// after it gets the new certificate; the old context lives on (held by the
// handshake) until that handshake ends.
TEST(HandshakeServiceTest, SetContextsReachesOnlyNewConnections) {
  TestConfig tc;
  tc.AddListener();
  const ServerContexts old_ctx = tc.Build();
  const ServerContexts new_ctx = BuildRenewed(tc);
  const Bytes old_leaf = LeafOf(old_ctx);
  const Bytes new_leaf = LeafOf(new_ctx);
  ASSERT_NE(old_leaf, new_leaf);
  HandshakeService svc(old_ctx, {});
  ASSERT_TRUE(svc.ok()) << svc.error();

  // Connection 1 sends its ClientHello and gets the server's flight.
  TestClient before(DefaultClient());
  const net::ConnHandle h1 = net::ConnHandle::of(0, 1, 1);
  HsResponseKind last = HsResponseKind::kFailed;
  before.Deliver(ServiceRound(svc, h1, before.Step(), &last));
  ASSERT_EQ(last, HsResponseKind::kNeedMore);

  const std::weak_ptr<const tls::ServerContext> old_weak = old_ctx[0];
  svc.set_contexts(new_ctx);
  EXPECT_EQ(svc.contexts()[0], new_ctx[0]);

  TestClient after(DefaultClient());
  ASSERT_TRUE(ServiceHandshake(svc, after, net::ConnHandle::of(0, 2, 1)));
  EXPECT_TRUE(PeerLeaf(after) == new_leaf) << "not the new certificate";

  ASSERT_TRUE(ServiceHandshake(svc, before, h1));
  EXPECT_TRUE(PeerLeaf(before) == old_leaf) << "not the old certificate";
  EXPECT_EQ(
      svc.counters().completed[static_cast<size_t>(tls::HandshakeKind::kFull)],
      2u);
  EXPECT_FALSE(old_weak.expired());  // this test's own copy still holds it
}

// The same through the handshake threads (two of them, each must take the
// new set) with the key log on: replace_contexts() wraps the new contexts
// with it, and a ClientHello handed over after it returns gets the new
// certificate on either thread while a handshake begun before finishes on
// the old one and then carries data.
TEST_F(HandshakeThreadsTest, ReplacedContextsServeNewConnectionsOnly) {
  tc_.AddListener();
  const std::string keylog = tc_.dir + "/keys.log";
  Start(1, 2, 64, keylog);
  const Bytes old_leaf = LeafOf(tc_.Build());
  WorkerSide ws(hs_, 0);
  TestClient before(DefaultClient());
  const net::ConnHandle h1 = net::ConnHandle::of(0, 1, 1);
  ws.Send(h1, 0, before.Step());
  const Answer flight = ws.Await(h1);
  ASSERT_EQ(flight.last, HsResponseKind::kNeedMore);
  before.Deliver(flight.send);

  const ServerContexts renewed = BuildRenewed(tc_);
  const Bytes new_leaf = LeafOf(renewed);
  ASSERT_NE(old_leaf, new_leaf);
  // Published from a thread of its own, as the engine's control plane
  // does: nothing but replace_contexts() orders it with the handshake
  // threads (the relaxed flag gives ThreadSanitizer no happens-before), so
  // a swap that is not synchronised shows up as a data race there.
  std::string err;
  bool replaced = false;
  std::atomic<bool> published{false};
  std::thread control([&] {
    replaced = hs_.replace_contexts(renewed, &err);
    published.store(true, std::memory_order_relaxed);
  });
  while (!published.load(std::memory_order_relaxed)) {
    std::this_thread::yield();
  }
  EXPECT_EQ(hs_.contexts_generation(), 1u);
  const uint64_t lines_before = hs_.counters().keylog_lines;
  for (uint32_t slot : {2u, 3u}) {  // one connection per thread
    TestClient after(DefaultClient());
    const Outcome o = Drive(after, ws, net::ConnHandle::of(0, slot, 1), 0);
    ASSERT_TRUE(o.done) << int(o.last.alert);
    EXPECT_TRUE(PeerLeaf(after) == new_leaf)
        << "slot " << slot << ": not the new certificate";
  }
  EXPECT_EQ(hs_.contexts_taken(0), 1u);
  EXPECT_EQ(hs_.contexts_taken(1), 1u);
  // The new contexts log their secrets too.
  EXPECT_GT(hs_.counters().keylog_lines, lines_before);
  control.join();
  EXPECT_TRUE(replaced) << err;

  const Outcome o = Drive(before, ws, h1, 0);
  ASSERT_TRUE(o.done) << int(o.last.alert);
  EXPECT_TRUE(PeerLeaf(before) == old_leaf) << "not the old certificate";
  ExchangeData(before, o, {}, 9);
}

TEST(HandshakeThreadsStartTest, ReplaceContextsBeforeStartIsRefused) {
  TestConfig tc;
  tc.AddListener();
  HandshakeThreads hs;
  std::string err;
  EXPECT_FALSE(hs.replace_contexts(tc.Build(), &err));
  EXPECT_NE(err.find("not started"), std::string::npos) << err;
  EXPECT_EQ(hs.contexts_generation(), 0u);
}

// ---- build_server_contexts ----

// Instance A's ticket keys saved to a fresh key file (a key every 1000 ms
// from t0), and instance B's loaded from it (rotating every
// `b_interval_ms`), each with its rotation on the file. b null on failure.
struct SharedKeyFile {
  std::string file;
  uint64_t t0 = 1'700'000'000'000;
  std::shared_ptr<tls::TicketKeys> a, b;
  std::optional<TicketKeyRotation> rot_a, rot_b;
};
SharedKeyFile ShareKeyFile(uint64_t b_interval_ms) {
  SharedKeyFile s;
  s.file = MakeTempDir() + "/tickets.bin";
  std::string err;
  s.a = tls::TicketKeys::generate(s.t0, 1000, &err);
  EXPECT_NE(s.a, nullptr) << err;
  if (s.a != nullptr && s.a->save(s.file, &err)) {
    s.b = tls::TicketKeys::load(s.file, b_interval_ms, &err);
  }
  EXPECT_NE(s.b, nullptr) << err;
  s.rot_a.emplace(s.a, s.file);
  s.rot_b.emplace(s.b, s.file);
  return s;
}

// tickets.rotate_s while running: instance A rotates and saves the key
// file; instance B, sharing the file, takes the new keys on its next tick;
// both keep opening tickets sealed under the previous key.
TEST(TicketKeyRotationTest, RotatesSavesAndAnotherInstanceReloads) {
  SharedKeyFile shared = ShareKeyFile(1000);
  ASSERT_NE(shared.b, nullptr);
  auto& [file, t0, a, b, rot_a, rot_b] = shared;
  std::string err;
  EXPECT_EQ(rot_a->tick(t0 + 500, &err), TicketKeyRotation::Tick::kNothing);
  EXPECT_EQ(rot_b->tick(t0 + 500, &err), TicketKeyRotation::Tick::kNothing);

  const std::vector<uint8_t> contents(40, 0x5a);
  std::vector<uint8_t> old_ticket, new_ticket, out;
  ASSERT_TRUE(a->seal(contents, &old_ticket));
  const auto old_name = a->current_name();
  EXPECT_EQ(rot_a->tick(t0 + 1000, &err), TicketKeyRotation::Tick::kRotated)
      << err;
  EXPECT_NE(a->current_name(), old_name);
  EXPECT_TRUE(a->has_previous());
  ASSERT_TRUE(a->seal(contents, &new_ticket));
  EXPECT_TRUE(a->open(old_ticket, &out)) << "the previous key still opens";
  EXPECT_FALSE(b->open(new_ticket, &out)) << "B has not ticked yet";

  EXPECT_EQ(rot_b->tick(t0 + 1001, &err), TicketKeyRotation::Tick::kReloaded)
      << err;
  EXPECT_EQ(b->current_name(), a->current_name());
  EXPECT_TRUE(b->open(new_ticket, &out));
  EXPECT_EQ(out, contents);
  EXPECT_TRUE(b->open(old_ticket, &out));
  EXPECT_EQ(rot_b->tick(t0 + 1500, &err), TicketKeyRotation::Tick::kNothing);

  // A file that is no longer a key file: reported, the keys kept.
  WriteFile(file, "not a key file");
  EXPECT_EQ(rot_b->tick(t0 + 1600, &err), TicketKeyRotation::Tick::kFailed);
  EXPECT_NE(err.find("tickets.key_file"), std::string::npos) << err;
  EXPECT_TRUE(b->open(new_ticket, &out));
  // The next rotation in B writes a valid file again.
  EXPECT_EQ(rot_b->tick(t0 + 2001, &err), TicketKeyRotation::Tick::kRotated)
      << err;
  auto c = tls::TicketKeys::load(file, 1000, &err);
  ASSERT_NE(c, nullptr) << err;
  EXPECT_EQ(c->current_name(), b->current_name());
}

TEST(TicketKeyRotationTest, WithoutAFileTheKeysRotateInMemory) {
  std::string err;
  auto k = tls::TicketKeys::generate(1000, 60'000, &err);
  ASSERT_NE(k, nullptr) << err;
  TicketKeyRotation rot(k, "");
  EXPECT_EQ(rot.tick(30'000, &err), TicketKeyRotation::Tick::kNothing);
  EXPECT_EQ(rot.tick(61'000, &err), TicketKeyRotation::Tick::kRotated);
  EXPECT_TRUE(k->has_previous());
}

TEST(BuildServerContextsTest, OcspResponseIsCarriedToTheCredential) {
  TestConfig tc;
  config::ListenerSection& l = tc.AddListener();
  const std::vector<uint8_t> ocsp = tls::testing::MakeOcspResponse();
  WriteFile(tc.dir + "/leaf.ocsp", std::string(ocsp.begin(), ocsp.end()));
  l.certificates[0].ocsp_file = tc.dir + "/leaf.ocsp";
  ServerContexts ctx = tc.Build();
  ASSERT_EQ(ctx.size(), 1u);
  // ecdsa_secp256r1_sha256, as a client's signature_algorithms.
  const uint8_t schemes[] = {0x04, 0x03};
  const tls::U16List list{std::span<const uint8_t>(schemes)};
  tls::CredentialChoice choice;
  ASSERT_TRUE(ctx[0]->certs().select("server.test", list, list,
                                     ctx[0]->config().signature_schemes, false,
                                     &choice));
  const std::span<const uint8_t> stapled = choice.credential->ocsp_response();
  EXPECT_EQ(std::vector<uint8_t>(stapled.begin(), stapled.end()), ocsp);

  l.certificates[0].ocsp_file = tc.dir + "/missing.ocsp";
  std::string err;
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("ocsp_response"), std::string::npos) << err;
}

TEST(BuildServerContextsTest, TicketsPskKeReachesEveryListener) {
  TestConfig tc;
  tc.AddListener();
  tc.AddListener();
  ServerContexts off = tc.Build();
  ASSERT_EQ(off.size(), 2u);
  EXPECT_FALSE(off[0]->config().allow_psk_ke);
  tc.cfg.tickets.psk_ke = true;
  ServerContexts on = tc.Build();
  ASSERT_EQ(on.size(), 2u);
  EXPECT_TRUE(on[0]->config().allow_psk_ke);
  EXPECT_TRUE(on[1]->config().allow_psk_ke);
}

TEST(BuildServerContextsTest, ErrorsNameTheListener) {
  TestConfig tc;
  tc.AddListener();
  config::ListenerSection& l = tc.AddListener();
  l.certificates[0].chain_file = tc.dir + "/missing.pem";
  std::string err;
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("listener[1] (0.0.0.0:444): certificate[0]"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("missing.pem"), std::string::npos) << err;

  l.certificates[0].chain_file = tc.dir + "/chain.pem";
  l.certificates[0].key_file = tc.dir + "/chain.pem";  // not a key
  err.clear();
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("listener[1]"), std::string::npos) << err;

  l.certificates[0].key_file = tc.dir + "/key.pem";
  l.tls_versions = {"1.2"};
  err.clear();
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("tls_versions"), std::string::npos) << err;

  l.tls_versions = {"1.3"};
  l.client_ca_file = tc.dir + "/nope.pem";
  err.clear();
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("client_ca"), std::string::npos) << err;

  l.client_ca_file.clear();
  tc.cfg.tickets.key_file = tc.dir + "/tickets.bin";
  WriteFile(tc.cfg.tickets.key_file, "garbage");
  ASSERT_EQ(::chmod(tc.cfg.tickets.key_file.c_str(), 0600), 0);
  err.clear();
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("tickets.key_file"), std::string::npos) << err;
}

// A ticket key file that is a symlink to nothing (a secrets volume not
// mounted yet, a typo in the link) is an error: the engine does not start.
// Treating it as missing would write fresh keys over the link, and the
// instances meant to share their keys would each have their own.
TEST(BuildServerContextsTest, DanglingTicketKeySymlinkIsAnError) {
  TestConfig tc;
  tc.AddListener({});
  tc.cfg.tickets.key_file = tc.dir + "/tickets.bin";
  const std::string target = tc.dir + "/not-mounted/tickets.bin";
  ASSERT_EQ(::symlink(target.c_str(), tc.cfg.tickets.key_file.c_str()), 0);
  std::string err;
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("tickets.key_file"), std::string::npos) << err;
  EXPECT_NE(err.find("No such file"), std::string::npos) << err;
  // The link is still a link, and nothing was written through it.
  struct stat st {};
  ASSERT_EQ(::lstat(tc.cfg.tickets.key_file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_NE(::access(target.c_str(), F_OK), 0);
}

TEST(BuildServerContextsTest, PolicyFromTheConfig) {
  TestConfig tc;
  config::ListenerSection& l = tc.AddListener({"h2"});
  l.cipher_suites = {"TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"};
  l.server_preference = false;
  l.groups = {"secp384r1", "secp256r1"};
  l.client_ca_file = tc.dir + "/ca.pem";
  tc.cfg.tickets.lifetime_s = 1234;
  tc.cfg.tickets.per_handshake = 5;
  tc.cfg.tickets.key_file = tc.dir + "/tickets.bin";  // created
  ServerContexts ctx = tc.Build();
  ASSERT_EQ(ctx.size(), 1u);
  const tls::ServerConfig& c = ctx[0]->config();
  EXPECT_EQ(c.cipher_suites, (std::vector<tls::CipherSuite>{
                                 tls::CipherSuite::kChaCha20Poly1305Sha256,
                                 tls::CipherSuite::kAes128GcmSha256}));
  EXPECT_FALSE(c.server_cipher_preference);
  EXPECT_EQ(c.groups,
            (std::vector<tls::NamedGroup>{tls::NamedGroup::kSecp384r1,
                                          tls::NamedGroup::kSecp256r1}));
  EXPECT_EQ(c.alpn_protocols, std::vector<std::string>{"h2"});
  EXPECT_EQ(c.ticket_lifetime_s, 1234u);
  EXPECT_EQ(c.session_tickets, 5);
  EXPECT_FALSE(c.client_ca_pem.empty());
  EXPECT_TRUE(c.client_cert_required);
  EXPECT_NE(ctx[0]->client_verifier(), nullptr);
  EXPECT_EQ(access(tc.cfg.tickets.key_file.c_str(), R_OK), 0);
  // A second build loads the same keys from the file.
  ServerContexts again = tc.Build();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]->ticket_keys().current_name(),
            ctx[0]->ticket_keys().current_name());
}

TEST(BuildServerContextsTest, ListenersShareTicketKeys) {
  TestConfig tc;
  tc.AddListener();
  tc.AddListener();
  ServerContexts ctx = tc.Build();
  ASSERT_EQ(ctx.size(), 2u);
  EXPECT_EQ(&ctx[0]->ticket_keys(), &ctx[1]->ticket_keys());
}

TEST(HandshakeThreadsStartTest, RefusesBadArguments) {
  TestConfig tc;
  tc.AddListener();
  HandshakeThreads hs;
  std::string err;
  EXPECT_FALSE(hs.start(0, 1, 8, tc.Build(), "", 1000, &err));
  EXPECT_FALSE(err.empty());
  err.clear();
  EXPECT_FALSE(hs.start(1, 1, 8, tc.Build(), tc.dir + "/no/such/dir/keylog",
                        1000, &err));
  EXPECT_NE(err.find("key log"), std::string::npos) << err;
  EXPECT_FALSE(hs.running());
  ASSERT_TRUE(hs.start(1, 1, 8, tc.Build(), "", 1000, &err)) << err;
  EXPECT_FALSE(hs.start(1, 1, 8, tc.Build(), "", 1000, &err));
  hs.stop();
  hs.stop();
}

// ---- the ticket key file's permissions ----

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// A key file saved by TicketKeys with `mode`.
std::string SavedKeyFile(const std::string& dir, mode_t mode) {
  const std::string file = dir + "/tickets.bin";
  std::string err;
  auto k = tls::TicketKeys::generate(1'700'000'000'000, 3'600'000, &err);
  EXPECT_NE(k, nullptr) << err;
  EXPECT_TRUE(k->save(file, &err)) << err;
  EXPECT_EQ(::chmod(file.c_str(), mode), 0);
  return file;
}

TEST(BuildServerContextsTest, TicketKeyFileOpenToOthersIsRefused) {
  TestConfig tc;
  tc.AddListener();
  tc.cfg.tickets.key_file = SavedKeyFile(tc.dir, 0644);
  const std::string& file = tc.cfg.tickets.key_file;
  std::string err;
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("permissions 0644 for '" + file + "' are too open"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("tickets.key_file"), std::string::npos) << err;
  EXPECT_NE(err.find("chmod 600 '" + file + "'"), std::string::npos) << err;
  for (const mode_t open_mode : {0640, 0620, 0604, 0602, 0660}) {
    ASSERT_EQ(::chmod(file.c_str(), open_mode), 0);
    err.clear();
    EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty()) << open_mode;
    EXPECT_NE(err.find("are too open"), std::string::npos) << err;
  }
  for (const mode_t ok_mode : {0600, 0400}) {
    ASSERT_EQ(::chmod(file.c_str(), ok_mode), 0);
    err.clear();
    EXPECT_EQ(build_server_contexts(tc.cfg, &err).size(), 1u)
        << ok_mode << ": " << err;
  }
}

TEST(BuildServerContextsTest, TicketKeyFileMustBeARegularFileOfOurs) {
  TestConfig tc;
  tc.AddListener();
  const std::string file = SavedKeyFile(tc.dir, 0600);
  std::string err;
  // A directory.
  tc.cfg.tickets.key_file = tc.dir + "/keys.d";
  ASSERT_EQ(::mkdir(tc.cfg.tickets.key_file.c_str(), 0700), 0);
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
  // A symbolic link is followed: its target is what is checked.
  tc.cfg.tickets.key_file = tc.dir + "/link.bin";
  ASSERT_EQ(::symlink(file.c_str(), tc.cfg.tickets.key_file.c_str()), 0);
  err.clear();
  EXPECT_EQ(build_server_contexts(tc.cfg, &err).size(), 1u) << err;
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  err.clear();
  EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
  EXPECT_NE(err.find("are too open"), std::string::npos) << err;
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  // Owned by another user (root, which runs the engine, can make one).
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(file.c_str(), 4242, static_cast<gid_t>(-1)), 0);
    err.clear();
    EXPECT_TRUE(build_server_contexts(tc.cfg, &err).empty());
    EXPECT_NE(err.find("owned by uid 4242"), std::string::npos) << err;
    EXPECT_NE(err.find("chown 0 '" + tc.cfg.tickets.key_file + "'"),
              std::string::npos)
        << err;
  }
}

// A key file created by the engine, or rewritten at a rotation, is 0600
// whatever the umask, even over a leftover temporary file that was not.
TEST(TicketKeyRotationTest, SavedKeyFileIsPrivateUnderAnyUmask) {
  TestConfig tc;
  tc.AddListener();
  tc.cfg.tickets.key_file = tc.dir + "/tickets.bin";
  const std::string& file = tc.cfg.tickets.key_file;
  const mode_t old_umask = ::umask(0);
  ASSERT_EQ(tc.Build().size(), 1u);  // creates the file
  EXPECT_EQ(ModeOf(file), 0600u);
  const int fd = ::open((file + ".tmp").c_str(), O_WRONLY | O_CREAT, 0666);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_EQ(ModeOf(file + ".tmp"), 0666u);
  std::string err;
  auto k = tls::TicketKeys::generate(1000, 1000, &err);
  ASSERT_NE(k, nullptr) << err;
  const bool saved = k->save(file, &err);
  ::umask(old_umask);
  ASSERT_TRUE(saved) << err;
  EXPECT_EQ(ModeOf(file), 0600u);
  EXPECT_NE(::access((file + ".tmp").c_str(), F_OK), 0);
}

// A key file that another instance's rotation left readable by others is
// not taken: the tick fails (the engine logs it), the keys in use stay;
// once the file is 0600 again (chmod alone, contents unchanged), the next
// tick takes it.
TEST(TicketKeyRotationTest, ReloadRefusesAFileOpenToOthers) {
  // B's own schedule rotates later: its ticks below only read the file.
  SharedKeyFile shared = ShareKeyFile(10'000);
  ASSERT_NE(shared.b, nullptr);
  auto& [file, t0, a, b, rot_a, rot_b] = shared;
  std::string err;
  ASSERT_EQ(rot_a->tick(t0 + 1000, &err), TicketKeyRotation::Tick::kRotated)
      << err;
  const std::vector<uint8_t> contents(40, 0x5a);
  std::vector<uint8_t> new_ticket, out;
  ASSERT_TRUE(a->seal(contents, &new_ticket));
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  err.clear();
  EXPECT_EQ(rot_b->tick(t0 + 1001, &err), TicketKeyRotation::Tick::kFailed);
  EXPECT_NE(err.find("permissions 0644 for '" + file + "' are too open"),
            std::string::npos)
      << err;
  EXPECT_FALSE(b->open(new_ticket, &out)) << "the new keys were not taken";
  EXPECT_EQ(rot_b->failures(), 1u);
  EXPECT_EQ(rot_b->tick(t0 + 1002, &err), TicketKeyRotation::Tick::kNothing)
      << "reported once per change of the file";
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_EQ(rot_b->tick(t0 + 1003, &err), TicketKeyRotation::Tick::kReloaded)
      << err;
  EXPECT_TRUE(b->open(new_ticket, &out));
  EXPECT_EQ(rot_b->failures(), 1u);
}

}  // namespace
}  // namespace dptls::engine
