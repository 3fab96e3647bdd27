// Google Benchmark of one worker's TCP (NetStack + TcpStack) on one core,
// driven by hand-made frames from a peer that is the benchmark itself:
//
//  - BM_TcpRxInOrder: bursts of 32 in-order 1448-byte data segments on an
//    established connection, through NetStack::rx (all 32 at once),
//    TcpStack::rx (32 or 2 segments a call),
//    poll_events (the data chains freed and consumed()) and the ACK frames
//    the stack generates drained from NetStack and freed. Arg 0: the TCP
//    checksum is verified in software; arg 1: the frames carry the NIC's
//    RX_IP/L4_CKSUM_GOOD flags (checksum offload).
//  - BM_FrameCopyBaseline: the per-segment cost of how the frames are made
//    in BM_TcpRxInOrder (mbuf alloc + 1514-byte copy + seq patch + free),
//    so it can be subtracted.
//  - BM_TcpConnSetupTeardown: one passive open and close, stack alone.
//  - BM_TcpTxSegmentation: send() of a 64 KiB chain of 32 fresh 2 KiB
//    mbufs (allocated in the loop, contents not written), the segments
//    drained and freed, and the peer's ACKs (every second segment) fed
//    back through NetStack::rx + TcpStack::rx until all is ACKed.
//
// Frames are built once as templates (tests/net's independent builder) and
// each iteration copies them into fresh mbufs from a pool with a per-lcore
// cache, patching the sequence / acknowledgement / port fields with an
// incremental checksum update (RFC 1624): the stack trims, queues and frees
// what it receives, so a shared (refcnt) template would not be honest.
// The peer offers MSS 1460, SACK and window scale 7, but no timestamps.
#include <benchmark/benchmark.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "dptls/net/stack.h"
#include "dptls/net/tcp.h"
#include "net/net_test_support.h"
#include "net/tcp_test_support.h"

namespace dptls::net {
namespace {

using testing::Bytes;
using testing::Seg;

constexpr uint16_t kBurst = 32;
constexpr uint32_t kMss = 1448;
constexpr uint32_t kPeerIsn = 1000;
// Offsets in an Ethernet + 20-byte IPv4 + TCP frame.
constexpr size_t kTcpOff = 14 + 20;
constexpr size_t kSportOff = kTcpOff + 0;
constexpr size_t kSeqOff = kTcpOff + 4;
constexpr size_t kAckOff = kTcpOff + 8;
constexpr size_t kCsumOff = kTcpOff + 16;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_tcp_stack: %s\n", what);
  std::abort();
}

rte_mempool* bench_pool() {
  static rte_mempool* pool = [] {
    rte_mempool* p =
        rte_pktmbuf_pool_create("tcp_bench_pool", 32767, 256, 0,
                                RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (p == nullptr) {
      die("mempool");
    }
    return p;
  }();
  return pool;
}

uint16_t get16(const uint8_t* f, size_t off) {
  return static_cast<uint16_t>((f[off] << 8) | f[off + 1]);
}
uint32_t get32(const uint8_t* f, size_t off) {
  return (uint32_t{get16(f, off)} << 16) | get16(f, off + 2);
}

// Writes v at `off` and updates the TCP checksum (RFC 1624 eqn. 3).
void patch16(uint8_t* f, size_t off, uint16_t v) {
  const uint16_t old = get16(f, off);
  const uint16_t hc = get16(f, kCsumOff);
  uint32_t sum = uint32_t{static_cast<uint16_t>(~hc)} +
                 uint32_t{static_cast<uint16_t>(~old)} + v;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t nc = static_cast<uint16_t>(~sum);
  f[off] = static_cast<uint8_t>(v >> 8);
  f[off + 1] = static_cast<uint8_t>(v);
  f[kCsumOff] = static_cast<uint8_t>(nc >> 8);
  f[kCsumOff + 1] = static_cast<uint8_t>(nc);
}
void patch32(uint8_t* f, size_t off, uint32_t v) {
  patch16(f, off, static_cast<uint16_t>(v >> 16));
  patch16(f, off + 2, static_cast<uint16_t>(v));
}

// A fresh mbuf holding a copy of the template frame.
rte_mbuf* clone(const Bytes& t) {
  rte_mbuf* m = rte_pktmbuf_alloc(bench_pool());
  if (m == nullptr) {
    die("pool empty");
  }
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(t.size()));
  std::memcpy(p, t.data(), t.size());
  return m;
}
uint8_t* bytes_of(rte_mbuf* m) { return rte_pktmbuf_mtod(m, uint8_t*); }

Bytes syn_options(uint16_t mss = 1460) {
  Bytes o = testing::opt_mss(mss);
  testing::append(o, testing::opt_sack_ok());
  testing::append(o, testing::opt_wscale(7));
  return o;
}

// One NetStack + TcpStack on kOurIp, listening on port 80, with the peer's
// MAC known.
struct Env {
  // port_offloads: the port checks received checksums (the frames say so)
  // and fills the IPv4 and TCP checksums of what the stack sends.
  explicit Env(bool port_offloads = false) {
    NetConfig n;
    n.mac = testing::kOurMac;
    if (port_offloads) {
      n.tx_offloads = TxOffloads{.ipv4_checksum = true, .tcp_checksum = true};
    }
    n.ipv4 = {Ipv4Interface{testing::kOurIp, 24}};
    n.clock_hz = 1'000'000'000;
    n.tx_queue_size = 4096;
    n.delivery_queue_size = 4096;
    std::string error;
    net = NetStack::create(n, bench_pool(), &error);
    if (net == nullptr) {
      die(error.c_str());
    }
    TcpConfig c;
    c.clock_hz = 1'000'000'000;
    c.seed = 42;
    c.max_connections = 1024;
    c.rcv_buf = 256 * 1024;
    c.snd_buf = 256 * 1024;
    tcp = TcpStack::create(c, net.get(), bench_pool(), &error);
    if (tcp == nullptr) {
      die(error.c_str());
    }
    Bytes f = testing::eth(testing::kOurMac, testing::kPeerMac, 0x0806);
    testing::append(f, testing::arp(2, testing::kPeerMac, testing::kPeerIp,
                                    testing::kOurMac, testing::kOurIp));
    rte_mbuf* m = clone(f);
    net->rx(&m, 1, now);
    drain();
    if (tcp->listen(TcpListen{.port = 80}) != TcpResult::kOk) {
      die("listen");
    }
  }
  ~Env() {
    drain();
    tcp.reset();
    net.reset();
  }

  // NetStack::rx + TcpStack::rx, at most `per_call` segments a call.
  void rx(rte_mbuf** m, uint16_t n, uint16_t per_call = kBurst) {
    net->rx(m, n, now);
    L4Packet segs[kBurst];
    uint16_t k = 0;
    while ((k = net->poll_deliveries(segs, per_call)) > 0) {
      tcp->rx(segs, k, now);
    }
  }
  // Frees every frame to transmit; returns how many.
  uint32_t drain() {
    rte_mbuf* out[kBurst];
    uint32_t total = 0;
    uint16_t t = 0;
    while ((t = net->drain_tx(out, kBurst)) > 0) {
      rte_pktmbuf_free_bulk(out, t);
      total += t;
    }
    return total;
  }
  // The sequence number of the only frame to transmit (freed); dies when
  // there is not exactly one.
  uint32_t one_seq() {
    rte_mbuf* out[2];
    const uint16_t t = net->drain_tx(out, 2);
    if (t != 1) {
      die("expected one frame");
    }
    const uint32_t seq = get32(bytes_of(out[0]), kSeqOff);
    rte_pktmbuf_free(out[0]);
    return seq;
  }
  // Polls events, freeing data; returns the last event of type `want`.
  bool expect_event(TcpEventType want, ConnHandle* h = nullptr) {
    TcpEvent ev[kBurst];
    uint16_t e = 0;
    bool seen = false;
    while ((e = tcp->poll_events(ev, kBurst)) > 0) {
      for (uint16_t i = 0; i < e; ++i) {
        if (ev[i].data != nullptr) {
          rte_pktmbuf_free(ev[i].data);
        }
        if (ev[i].type == want) {
          seen = true;
          if (h != nullptr) {
            *h = ev[i].conn;
          }
        }
      }
    }
    return seen;
  }

  // Passive open from peer port `sport`; returns the handle, *our_isn.
  ConnHandle accept(uint16_t sport, uint32_t* our_isn, uint16_t mss = 1460) {
    rte_mbuf* m = clone(testing::tcp_frame(Seg{.sport = sport,
                                               .dport = 80,
                                               .seq = kPeerIsn,
                                               .flags = kTcpSyn,
                                               .win = 65535,
                                               .options = syn_options(mss)}));
    rx(&m, 1);
    *our_isn = one_seq();
    m = clone(testing::tcp_frame(Seg{.sport = sport,
                                     .dport = 80,
                                     .seq = kPeerIsn + 1,
                                     .ack = *our_isn + 1,
                                     .flags = kTcpAck,
                                     .win = 65535}));
    rx(&m, 1);
    ConnHandle h;
    if (!expect_event(TcpEventType::kAccepted, &h)) {
      die("no kAccepted");
    }
    return h;
  }

  std::unique_ptr<NetStack> net;
  std::unique_ptr<TcpStack> tcp;
  uint64_t now = 1'000'000'000;
};

void BM_TcpRxInOrder(benchmark::State& state) {
  const bool offload = state.range(0) != 0;
  const auto per_call = static_cast<uint16_t>(state.range(1));
  Env env(offload);
  uint32_t our_isn = 0;
  const ConnHandle h = env.accept(40000, &our_isn);
  const Bytes tmpl = testing::tcp_frame(Seg{.sport = 40000,
                                            .dport = 80,
                                            .seq = kPeerIsn + 1,
                                            .ack = our_isn + 1,
                                            .flags = kTcpAck,
                                            .win = 65535,
                                            .payload = Bytes(kMss, 0x5a)});
  const uint64_t flags =
      offload ? (RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD) : 0;
  uint32_t seq = kPeerIsn + 1;
  uint64_t segs = 0, bytes = 0, frames_out = 0;
  rte_mbuf* m[kBurst];
  TcpEvent ev[kBurst];
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    for (uint16_t i = 0; i < kBurst; ++i) {
      m[i] = clone(tmpl);
      patch32(bytes_of(m[i]), kSeqOff, seq);
      m[i]->ol_flags = flags;
      seq += kMss;
    }
    env.now += 1000;
    env.rx(m, kBurst, per_call);
    uint16_t e = 0;
    while ((e = env.tcp->poll_events(ev, kBurst)) > 0) {
      for (uint16_t i = 0; i < e; ++i) {
        if (ev[i].type == TcpEventType::kData) {
          bytes += ev[i].len;
          rte_pktmbuf_free(ev[i].data);
          env.tcp->consumed(h, ev[i].len, env.now);
        }
      }
    }
    frames_out += env.drain();
    segs += kBurst;
  }
  if (bytes != segs * kMss) {
    state.SkipWithError("not every byte was delivered in order");
  }
  state.SetItemsProcessed(static_cast<int64_t>(segs));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["ns_per_seg"] = benchmark::Counter(
      static_cast<double>(segs),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["acks_per_seg"] =
      static_cast<double>(frames_out) / static_cast<double>(segs);
}
// TcpStack::rx sends the ACKs owed once, at the end of the call: with 32
// segments a call that is one ACK a burst; with 2 a call, one every second
// segment (the delayed-ACK rule).
BENCHMARK(BM_TcpRxInOrder)
    ->Args({0, 32})
    ->Args({1, 32})
    ->Args({0, 2})
    ->Args({1, 2})
    ->ArgNames({"port_cksum", "segs_per_rx"});

void BM_FrameCopyBaseline(benchmark::State& state) {
  const Bytes tmpl = testing::tcp_frame(Seg{.sport = 40000,
                                            .dport = 80,
                                            .seq = 1,
                                            .flags = kTcpAck,
                                            .win = 65535,
                                            .payload = Bytes(kMss, 0x5a)});
  uint32_t seq = 1;
  uint64_t segs = 0;
  rte_mbuf* m[kBurst];
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    for (uint16_t i = 0; i < kBurst; ++i) {
      m[i] = clone(tmpl);
      patch32(bytes_of(m[i]), kSeqOff, seq);
      seq += kMss;
    }
    benchmark::DoNotOptimize(m);
    rte_pktmbuf_free_bulk(m, kBurst);
    segs += kBurst;
  }
  state.SetItemsProcessed(static_cast<int64_t>(segs));
  state.counters["ns_per_seg"] = benchmark::Counter(
      static_cast<double>(segs),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FrameCopyBaseline);

void BM_TcpConnSetupTeardown(benchmark::State& state) {
  Env env;
  auto frame = [](uint32_t seq, uint8_t flags, Bytes opts) {
    return testing::tcp_frame(Seg{.sport = 1024,
                                  .dport = 80,
                                  .seq = seq,
                                  .ack = 0,
                                  .flags = flags,
                                  .win = 65535,
                                  .options = std::move(opts)});
  };
  const Bytes syn = frame(kPeerIsn, kTcpSyn, syn_options());
  const Bytes ack = frame(kPeerIsn + 1, kTcpAck, {});
  const Bytes fin = frame(kPeerIsn + 1, kTcpAck | kTcpFin, {});
  const Bytes last_ack = frame(kPeerIsn + 2, kTcpAck, {});
  uint16_t sport = 1024;
  uint64_t conns = 0, frames_out = 0;
  bool ok = true;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    env.now += 1000;
    // SYN in, SYN-ACK out.
    rte_mbuf* m = clone(syn);
    patch16(bytes_of(m), kSportOff, sport);
    env.rx(&m, 1);
    const uint32_t isn = env.one_seq();
    // ACK in: ESTABLISHED, kAccepted.
    m = clone(ack);
    patch16(bytes_of(m), kSportOff, sport);
    patch32(bytes_of(m), kAckOff, isn + 1);
    env.rx(&m, 1);
    ConnHandle h;
    ok &= env.expect_event(TcpEventType::kAccepted, &h);
    // Peer FIN in (CLOSE-WAIT), its ACK out; kPeerClosed.
    m = clone(fin);
    patch16(bytes_of(m), kSportOff, sport);
    patch32(bytes_of(m), kAckOff, isn + 1);
    env.rx(&m, 1);
    ok &= env.expect_event(TcpEventType::kPeerClosed);
    frames_out += env.drain();
    // close(): our FIN out (LAST-ACK); its ACK in: CLOSED, kClosed.
    ok &= env.tcp->close(h, env.now) == TcpResult::kOk;
    frames_out += env.drain();
    m = clone(last_ack);
    patch16(bytes_of(m), kSportOff, sport);
    patch32(bytes_of(m), kAckOff, isn + 2);
    env.rx(&m, 1);
    ok &= env.expect_event(TcpEventType::kClosed);
    sport = sport == 65535 ? 1024 : static_cast<uint16_t>(sport + 1);
    ++conns;
  }
  if (!ok || env.tcp->connections() != 0) {
    state.SkipWithError("a connection did not open and close cleanly");
  }
  state.counters["conns_per_s"] = benchmark::Counter(
      static_cast<double>(conns), benchmark::Counter::kIsRate);
  state.counters["frames_out_per_conn"] =
      static_cast<double>(frames_out + conns) / static_cast<double>(conns);
}
BENCHMARK(BM_TcpConnSetupTeardown);

void BM_TcpTxSegmentation(benchmark::State& state) {
  constexpr uint32_t kChain = 64 * 1024;
  constexpr uint16_t kPiece = 2048;
  Env env;
  uint32_t our_isn = 0;
  const ConnHandle h = env.accept(40001, &our_isn, kMss);
  const Bytes ack = testing::tcp_frame(Seg{.sport = 40001,
                                           .dport = 80,
                                           .seq = kPeerIsn + 1,
                                           .ack = our_isn + 1,
                                           .flags = kTcpAck,
                                           .win = 65535});
  uint32_t snd = our_isn + 1;  // next byte to send (= acked at the start)
  uint64_t segs = 0, acks = 0;
  bool ok = true;
  rte_mbuf* piece[kChain / kPiece];
  rte_mbuf* out[kBurst];
  TcpEvent ev[kBurst];
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    // A 64 KiB chain of 32 fresh 2 KiB mbufs (contents not written).
    if (rte_pktmbuf_alloc_bulk(bench_pool(), piece, kChain / kPiece) != 0) {
      die("pool empty");
    }
    for (rte_mbuf* p : piece) {
      rte_pktmbuf_append(p, kPiece);
    }
    for (uint32_t i = 1; i < kChain / kPiece; ++i) {
      rte_pktmbuf_chain(piece[0], piece[i]);
    }
    env.now += 1000;
    if (env.tcp->send(h, piece[0], env.now) != TcpResult::kOk) {
      rte_pktmbuf_free(piece[0]);
      ok = false;
      break;
    }
    const uint32_t end = snd + kChain;
    uint32_t acked = snd;
    while (acked != end) {
      // The peer ACKs every second segment (and the odd last one), its
      // ACKs arriving in bursts of up to 32.
      uint32_t high = acked;
      uint32_t pend[2 * kBurst];
      uint16_t np = 0;
      auto flush = [&] {
        rte_mbuf* a[2 * kBurst];
        for (uint16_t i = 0; i < np; ++i) {
          a[i] = clone(ack);
          patch32(bytes_of(a[i]), kAckOff, pend[i]);
        }
        env.now += 1000;
        env.rx(a, np);
        acks += np;
        np = 0;
      };
      uint16_t t = 0;
      while ((t = env.net->drain_tx(out, kBurst)) > 0) {
        for (uint16_t i = 0; i < t; ++i) {
          const uint8_t* f = bytes_of(out[i]);
          const uint32_t ihl = (f[14] & 0x0fu) * 4;
          const uint32_t doff = (f[14 + ihl + 12] >> 4) * 4u;
          const uint32_t len = get16(f, 16) - ihl - doff;
          if (len != 0) {
            high = get32(f, 14 + ihl + 4) + len;
            if (++segs % 2 == 0) {
              pend[np++] = high;
            }
          }
        }
        rte_pktmbuf_free_bulk(out, t);
        if (np >= kBurst) {
          flush();
        }
      }
      if (high == acked) {
        ok = false;  // nothing new went out: window or cwnd stuck
        break;
      }
      if (np == 0 || pend[np - 1] != high) {
        pend[np++] = high;
      }
      flush();
      acked = high;
    }
    // Drain the events (writable etc.); nothing here needs them.
    while (env.tcp->poll_events(ev, kBurst) > 0) {
    }
    if (!ok) {
      break;
    }
    snd = end;
  }
  if (!ok) {
    state.SkipWithError("transmission stalled");
  }
  state.SetItemsProcessed(static_cast<int64_t>(segs));
  state.counters["ns_per_seg"] = benchmark::Counter(
      static_cast<double>(segs),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["acks_per_seg"] =
      static_cast<double>(acks) / static_cast<double>(segs ? segs : 1);
}
BENCHMARK(BM_TcpTxSegmentation);

}  // namespace
}  // namespace dptls::net

int main(int argc, char** argv) {
  dptls::net::testing::init_dpdk_once();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Every stack is gone: every mbuf must be back.
  const unsigned in_use = rte_mempool_in_use_count(dptls::net::bench_pool());
  if (in_use != 0) {
    std::fprintf(stderr, "bench_tcp_stack: %u mbufs leaked\n", in_use);
    return 1;
  }
  return 0;
}
