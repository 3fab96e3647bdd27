// libFuzzer target for TCP's input path: a fresh NetStack + TcpStack per
// input (fixed seed, fake clock, small limits, listeners on port 80 for
// IPv4 and IPv6), driven by a peer the input scripts. The peer builds valid
// Ethernet/IPv4|IPv6/TCP frames with correct checksums, so the fuzzer gets
// past the parsers into the state machine; it tracks what the stack sent
// (its sequence numbers, ACK and TSval per flow) so sequence and ACK fields
// can be named relative to the live connection; it answers ARP and NDP.
// The layer above is scripted too: send / consumed / unread / close /
// shutdown_write / abort / connect / want_writable on the handles events
// reported, and clock advances that run the timers. After each input
// every mbuf must be back in the pool and every segment received counted
// once (absorbed, queued or dropped); every frame the stack sent must be a
// valid mbuf with correct lengths, TCP checksum and option list; every
// kData chain must be well-formed and as long as the event says.
//
// Input: byte 0 = config bits, then operations until the input ends (at
// most kMaxOps). An operation is one byte, op & 15 = kind, op >> 4 = its
// argument (flow 0-7 or handle index, and a flag), then the kind's bytes;
// a missing byte reads as 0.
//   config: bit 0 timestamps off, 1 SACK off, 2 window scale off, 3
//           NewReno, 4 SYN cookies off, 5 keep-alive on, 6 SYN backlog 1,
//           7 initial window of 1 segment
//   flows:  0-3 IPv4 and 4-7 IPv6, peer ports 40000 + flow, our port 80,
//           until a connect() on the flow takes it for an active open
//   0-5  segment on flow arg & 7 (arg bit 3: deliver as a 2-segment chain):
//        flags, mode, [seq], [ack], window, payload length, [options]
//        mode bits 0-1 seq: peer's next / the stack's last ACK /
//                      peer's next + int8 / raw u32
//             bits 2-3 ack: stack's highest / highest - u8 / the peer's
//                      last ACK / raw u32
//             bit 4 MSS (1 byte), 5 window scale (1 byte), 6 SACK
//             (SACK-permitted on SYN, else 1 byte: 1-3 blocks of 2 bytes
//             each, from the peer's last ACK + b * 64, b * 32 + 1 long),
//             7 timestamps (1 byte: int8 added to the peer's clock)
//   6    raw: arg bit 0 a whole frame, else a TCP segment (arg bit 1: over
//        IPv6) wrapped with correct IP and TCP checksums; arg bit 2: as a
//        2-segment chain; length (2 bytes, mod 1600), then the bytes
//   7    clock: one byte, < 128: that many ms, else (b - 127)^2 * 100 ms;
//        then timers and neighbour ticks
//   8    send(handle arg): length (1 byte * 48) of pattern bytes, pieces of
//        arg-chosen size
//   9    consumed(handle arg): 1 byte * 64 (255: all)
//   10   arg bit 3 ? close : shutdown_write (handle arg & 7)
//   11   abort(handle arg)
//   12   connect() on flow arg & 7 to the peer's port 80 (arg bit 3: 443)
//   13   want_writable / set_user / info / send_space (handle arg)
//   14   modes: arg bit 0 consume data as it comes, bit 1 give back the
//        tail of multi-segment data with unread(), bit 2 hold events (do
//        not poll until cleared)
//   15   in-order data with ACK|PSH on flow arg & 7: arg bit 3 ? 1 byte * 8
//        : 100 bytes of payload
// At the end the clock jumps 4 x 20 s with the peer silent.
//
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true && ninja -C
// build-fuzz fuzz/tcp_rx_fuzz; run: build-fuzz/fuzz/tcp_rx_fuzz
// tests/net/tcp_corpus (add a scratch directory first to keep new inputs).
// The seeds are written by fuzz/gen_tcp_corpus.py; TCP_RX_FUZZ_VERBOSE=1
// prints the TCP counters each input reached.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dptls/net/stack.h"
#include "dptls/net/tcp.h"

namespace {

using dptls::net::CcAlgo;
using dptls::net::ConnHandle;
using dptls::net::Ipv4Addr;
using dptls::net::Ipv4Interface;
using dptls::net::Ipv6Addr;
using dptls::net::Ipv6Interface;
using dptls::net::L3Family;
using dptls::net::L4Packet;
using dptls::net::MacAddr;
using dptls::net::NetConfig;
using dptls::net::NetStack;
using dptls::net::TcpConfig;
using dptls::net::TcpConnect;
using dptls::net::TcpConnInfo;
using dptls::net::TcpEvent;
using dptls::net::TcpEventType;
using dptls::net::TcpListen;
using dptls::net::TcpResult;
using dptls::net::TcpStack;

using Bytes = std::vector<uint8_t>;

// The peer's own byte-pushing (frame building, checksums, parsing what the
// stack sent) is left out of coverage: its loops would cost time and only
// tell the fuzzer about the harness.
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

constexpr size_t kMaxOps = 512;
constexpr size_t kFlows = 8;
constexpr size_t kMaxHandles = 8;
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08,
                  kAck = 0x10;

rte_mempool* g_pool = nullptr;
// TCP_RX_FUZZ_VERBOSE=1: print the TCP counters after each input (to see
// what a seed reaches).
bool g_verbose = false;

constexpr uint8_t kOurMac[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kPeerMac[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint32_t kOurIp = 0xc6120002;   // 198.18.0.2
constexpr uint32_t kPeerIp = 0xc6120001;  // 198.18.0.1

Ipv6Addr doc_addr(uint8_t last) {
  Ipv6Addr a;
  a.b[0] = 0x20;
  a.b[1] = 0x01;
  a.b[2] = 0x0d;
  a.b[3] = 0xb8;
  a.b[15] = last;
  return a;
}

// ---- bytes -----------------------------------------------------------

NO_COVERAGE void put16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
NO_COVERAGE void put32(Bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v);
}
NO_COVERAGE uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
NO_COVERAGE uint32_t get32(const uint8_t* p) {
  return (uint32_t{get16(p)} << 16) | get16(p + 2);
}
NO_COVERAGE void append(Bytes& b, const uint8_t* p, size_t n) {
  b.insert(b.end(), p, p + n);
}

// RFC 1071 sum, written here independently of src/net.
NO_COVERAGE uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) {
    s += get16(p + i);
  }
  if ((n & 1) != 0) {
    s += uint32_t{p[n - 1]} << 8;
  }
  return s;
}
NO_COVERAGE uint16_t fold(uint32_t s) {
  while ((s >> 16) != 0) {
    s = (s & 0xffff) + (s >> 16);
  }
  return static_cast<uint16_t>(~s);
}

NO_COVERAGE uint32_t pseudo4(uint32_t src, uint32_t dst, size_t len) {
  Bytes p;
  put32(p, src);
  put32(p, dst);
  put16(p, 6);
  put16(p, static_cast<uint32_t>(len));
  return sum16(p.data(), p.size());
}
NO_COVERAGE uint32_t pseudo6(const Ipv6Addr& src, const Ipv6Addr& dst,
                             size_t len, uint8_t nh) {
  Bytes p;
  append(p, src.b.data(), 16);
  append(p, dst.b.data(), 16);
  put32(p, static_cast<uint32_t>(len));
  put32(p, nh);
  return sum16(p.data(), p.size());
}

NO_COVERAGE Bytes eth(uint16_t type, const uint8_t* dst = kOurMac) {
  Bytes f;
  append(f, dst, 6);
  append(f, kPeerMac, 6);
  put16(f, type);
  return f;
}

// Ethernet + IPv4 from the peer to us around an L4 segment (checksum set).
NO_COVERAGE Bytes frame4(Bytes seg, bool fix_tcp_checksum) {
  if (fix_tcp_checksum && seg.size() >= 18) {
    seg[16] = seg[17] = 0;
    const uint16_t c = fold(
        sum16(seg.data(), seg.size(), pseudo4(kPeerIp, kOurIp, seg.size())));
    seg[16] = static_cast<uint8_t>(c >> 8);
    seg[17] = static_cast<uint8_t>(c);
  }
  Bytes f = eth(0x0800);
  const size_t ip = f.size();
  f.push_back(0x45);
  f.push_back(0);
  put16(f, static_cast<uint32_t>(20 + seg.size()));
  put16(f, 1);
  put16(f, 0x4000);
  f.push_back(64);
  f.push_back(6);
  put16(f, 0);
  put32(f, kPeerIp);
  put32(f, kOurIp);
  const uint16_t c = fold(sum16(f.data() + ip, 20));
  f[ip + 10] = static_cast<uint8_t>(c >> 8);
  f[ip + 11] = static_cast<uint8_t>(c);
  f.insert(f.end(), seg.begin(), seg.end());
  return f;
}

NO_COVERAGE Bytes frame6(Bytes seg, bool fix_tcp_checksum, uint8_t nh = 6,
                         const Ipv6Addr& dst = doc_addr(2),
                         const uint8_t* dmac = kOurMac, uint8_t hops = 64) {
  const Ipv6Addr src = doc_addr(1);
  const size_t ck = nh == 6 ? 16 : 2;
  if (fix_tcp_checksum && seg.size() >= ck + 2) {
    seg[ck] = seg[ck + 1] = 0;
    const uint16_t c =
        fold(sum16(seg.data(), seg.size(), pseudo6(src, dst, seg.size(), nh)));
    seg[ck] = static_cast<uint8_t>(c >> 8);
    seg[ck + 1] = static_cast<uint8_t>(c);
  }
  Bytes f = eth(0x86dd, dmac);
  put32(f, 0x60000000);
  put16(f, static_cast<uint32_t>(seg.size()));
  f.push_back(nh);
  f.push_back(hops);
  append(f, src.b.data(), 16);
  append(f, dst.b.data(), 16);
  f.insert(f.end(), seg.begin(), seg.end());
  return f;
}

Bytes arp_reply() {
  Bytes f = eth(0x0806);
  put16(f, 1);
  put16(f, 0x0800);
  f.push_back(6);
  f.push_back(4);
  put16(f, 2);
  append(f, kPeerMac, 6);
  put32(f, kPeerIp);
  append(f, kOurMac, 6);
  put32(f, kOurIp);
  return f;
}

// A solicited, overriding NA for the peer's address (answers our NS).
Bytes neighbor_advert() {
  Bytes m = {136, 0, 0, 0};
  put32(m, 0x60000000);  // S | O
  const Ipv6Addr t = doc_addr(1);
  append(m, t.b.data(), 16);
  m.push_back(2);
  m.push_back(1);
  append(m, kPeerMac, 6);
  return frame6(m, true, 58, doc_addr(2), kOurMac, 255);
}

// The peer's NS for our address with its link-layer address: gives the
// stack a (STALE) neighbour entry for the peer before anything is sent.
Bytes neighbor_solicit() {
  Bytes m = {135, 0, 0, 0, 0, 0, 0, 0};
  const Ipv6Addr t = doc_addr(2);
  append(m, t.b.data(), 16);
  m.push_back(1);
  m.push_back(1);
  append(m, kPeerMac, 6);
  const Ipv6Addr sn = Ipv6Addr::solicited_node(t);
  const uint8_t mmac[6] = {0x33, 0x33, 0xff, t.b[13], t.b[14], t.b[15]};
  return frame6(m, true, 58, sn, mmac, 255);
}

NO_COVERAGE uint8_t pattern(uint32_t seq) {
  return static_cast<uint8_t>((seq * 2654435761u) >> 24);
}

// A chain of `len` bytes of the pattern, in pieces of at most `piece`
// (at most 64 pieces).
NO_COVERAGE rte_mbuf* pattern_chain(uint32_t start, uint32_t len,
                                    uint32_t piece) {
  piece = std::max(piece, (len + 63) / 64);
  rte_mbuf* head = nullptr;
  rte_mbuf* last = nullptr;
  uint32_t off = 0;
  while (off < len || head == nullptr) {
    rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
    if (seg == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    const uint32_t n =
        std::min({len - off, piece, uint32_t{rte_pktmbuf_tailroom(seg)}});
    auto* p = reinterpret_cast<uint8_t*>(
        rte_pktmbuf_append(seg, static_cast<uint16_t>(n)));
    for (uint32_t i = 0; i < n; ++i) {
      p[i] = pattern(start + off + i);
    }
    off += n;
    if (head == nullptr) {
      head = seg;
    } else {
      last->next = seg;
      ++head->nb_segs;
      head->pkt_len += n;
    }
    last = seg;
  }
  return head;
}

bool seq_after(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) > 0;
}

// ---- the input -------------------------------------------------------

struct Reader {
  const uint8_t* p;
  size_t n;
  size_t at = 0;
  bool done() const { return at >= n; }
  uint8_t u8() { return at < n ? p[at++] : 0; }
  uint16_t u16() {
    const uint16_t hi = u8();
    return static_cast<uint16_t>((hi << 8) | u8());
  }
  uint32_t u32() {
    const uint32_t hi = u16();
    return (hi << 16) | u16();
  }
};

// What the peer knows about one flow.
struct Flow {
  bool v6 = false;
  uint16_t peer_port = 0;
  uint16_t our_port = 80;
  uint32_t peer_nxt = 0;    // the peer's next sequence number
  uint32_t peer_acked = 0;  // the last ACK the peer sent
  uint32_t peer_ts = 0;     // the peer's TSval clock
  bool seen = false;        // the stack has sent on this flow
  uint32_t stack_max = 0;   // highest seq + len the stack sent
  uint32_t stack_ack = 0;   // the last ACK the stack sent
  uint32_t stack_ts = 0;    // the stack's last TSval
  bool connecting = false;  // taken by a connect(), port not yet known
};

class Harness {
 public:
  bool setup(uint8_t cfg_bits) {
    NetConfig n;
    std::memcpy(n.mac.b.data(), kOurMac, 6);
    n.ipv4 = {Ipv4Interface{Ipv4Addr{kOurIp}, 24}};
    n.ipv6 = {Ipv6Interface{doc_addr(2), 64}};
    n.clock_hz = 1'000'000'000;
    n.arp_cache_size = 4;
    n.nd_cache_size = 4;
    n.tx_queue_size = 32;  // small: TCP meets backpressure
    n.delivery_queue_size = 64;
    std::string error;
    net_ = NetStack::create(n, g_pool, &error);
    if (net_ == nullptr) {
      std::fprintf(stderr, "NetStack::create: %s\n", error.c_str());
      std::abort();
    }
    TcpConfig c;
    c.seed = 0x5eed;
    c.max_connections = 6;
    c.max_listeners = 3;
    c.rcv_buf = 8192;
    c.snd_buf = 8192;
    c.timestamps = (cfg_bits & 0x01) == 0;
    c.sack = (cfg_bits & 0x02) == 0;
    c.window_scale = (cfg_bits & 0x04) == 0;
    c.cc = (cfg_bits & 0x08) != 0 ? CcAlgo::kNewReno : CcAlgo::kCubic;
    c.syn_cookies = (cfg_bits & 0x10) == 0;
    c.keepalive = (cfg_bits & 0x20) != 0;
    c.keepalive_idle_ms = 2'000;
    c.keepalive_interval_ms = 500;
    c.keepalive_probes = 3;
    c.syn_backlog = (cfg_bits & 0x40) != 0 ? 1 : 3;
    c.initial_cwnd_segments = (cfg_bits & 0x80) != 0 ? 1 : 0;
    c.rto_max_ms = 8'000;
    c.max_retries = 4;
    c.syn_retries = 3;
    c.msl_ms = 2'000;
    c.fin_wait2_ms = 5'000;
    c.challenge_acks_per_sec = 10;
    c.ephemeral_lo = 50000;
    c.ephemeral_hi = 50015;
    c.wheel_slots = 512;
    tcp_ = TcpStack::create(c, net_.get(), g_pool, &error);
    if (tcp_ == nullptr) {
      std::fprintf(stderr, "TcpStack::create: %s\n", error.c_str());
      std::abort();
    }
    if (tcp_->listen(
            TcpListen{.family = L3Family::kIpv4, .port = 80, .user = 1}) !=
            TcpResult::kOk ||
        tcp_->listen(
            TcpListen{.family = L3Family::kIpv6, .port = 80, .user = 2}) !=
            TcpResult::kOk) {
      std::abort();
    }
    for (size_t i = 0; i < kFlows; ++i) {
      Flow& f = flows_[i];
      f.v6 = i >= 4;
      f.peer_port = static_cast<uint16_t>(40000 + i);
      f.peer_nxt = 1000u + static_cast<uint32_t>(i) * 0x20000000u;
      f.peer_acked = 0;
      f.peer_ts = 100;
    }
    // The peer is a known neighbour for both families.
    inject(arp_reply(), false, 0);
    inject(neighbor_solicit(), false, 0);
    pump();
    return true;
  }

  void teardown() {
    tcp_.reset();
    net_.reset();
  }

  void run(Reader& r) {
    for (size_t ops = 0; ops < kMaxOps && !r.done(); ++ops) {
      const uint8_t op = r.u8();
      const uint8_t arg = op >> 4;
      switch (op & 15) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
          segment(r, flows_[arg & 7], (arg & 8) != 0);
          break;
        case 6:
          raw(r, arg);
          break;
        case 7: {
          const uint8_t b = r.u8();
          const uint64_t ms =
              b < 128 ? b : uint64_t(b - 127) * uint64_t(b - 127) * 100;
          now_ += ms * 1'000'000 + 1;
          tcp_->timers(now_);
          net_->tick(now_);
          for (Flow& f : flows_) {
            f.peer_ts += static_cast<uint32_t>(ms);
          }
          break;
        }
        case 8: {
          const uint32_t len = uint32_t{r.u8()} * 48;
          static constexpr uint32_t kPieces[] = {2000, 1,    7,    100,
                                                 536,  1448, 1000, 60};
          rte_mbuf* m = pattern_chain(sent_bytes_, len, kPieces[arg & 7]);
          if (m == nullptr) {
            break;
          }
          if (tcp_->send(handle(arg), m, now_) == TcpResult::kOk) {
            sent_bytes_ += len;
          } else {
            rte_pktmbuf_free(m);
          }
          break;
        }
        case 9: {
          const uint8_t b = r.u8();
          tcp_->consumed(handle(arg), b == 255 ? UINT32_MAX : uint32_t{b} * 64,
                         now_);
          break;
        }
        case 10:
          if ((arg & 8) != 0) {
            tcp_->close(handle(arg & 7), now_);
          } else {
            tcp_->shutdown_write(handle(arg), now_);
          }
          break;
        case 11:
          tcp_->abort(handle(arg), now_);
          break;
        case 12:
          connect(flows_[arg & 7], (arg & 8) != 0 ? 443 : 80);
          break;
        case 13: {
          const ConnHandle h = handle(arg & 7);
          switch (r.u8() & 3) {
            case 0:
              tcp_->want_writable(h);
              break;
            case 1:
              tcp_->set_user(h, arg);
              break;
            case 2: {
              TcpConnInfo info;
              (void)tcp_->info(h, &info);
              break;
            }
            default:
              (void)tcp_->send_space(h);
              break;
          }
          break;
        }
        case 14:
          auto_consume_ = (arg & 1) != 0;
          unread_tail_ = (arg & 2) != 0;
          hold_events_ = (arg & 4) != 0;
          break;
        case 15: {
          Flow& f = flows_[arg & 7];
          const uint32_t len = (arg & 8) != 0 ? uint32_t{r.u8()} * 8 : 100;
          send_seg(f, kAck | kPsh, f.peer_nxt, f.seen ? f.stack_max : 0, 0xffff,
                   len, {}, false);
          break;
        }
      }
      pump();
    }
    // Let every timer that can run, run (retransmissions give up,
    // TIME-WAIT ends), with the peer silent.
    for (int i = 0; i < 4; ++i) {
      now_ += 20'000'000'000ull;
      tcp_->timers(now_);
      net_->tick(now_);
      pump();
    }
    check_stats();
    if (g_verbose) {
      tcp_->stats().for_each([](const char* name, uint64_t v) {
        if (v != 0) {
          std::fprintf(stderr, " %s=%llu", name, (unsigned long long)v);
        }
      });
      std::fprintf(stderr, "\n");
    }
  }

 private:
  ConnHandle handle(uint8_t i) const {
    if (handles_.empty()) {
      return ConnHandle::of(0, i, 1);  // probably stale
    }
    return handles_[i % handles_.size()];
  }

  void connect(Flow& f, uint16_t port) {
    TcpConnect c;
    if (f.v6) {
      c.family = L3Family::kIpv6;
      c.local6 = doc_addr(2);
      c.remote6 = doc_addr(1);
    } else {
      c.local4 = Ipv4Addr{kOurIp};
      c.remote4 = Ipv4Addr{kPeerIp};
    }
    c.remote_port = port;
    c.user = 3;
    ConnHandle h;
    if (tcp_->connect(c, now_, &h) != TcpResult::kOk) {
      return;
    }
    for (Flow& o : flows_) {
      o.connecting = false;
    }
    f.connecting = true;
    f.seen = false;
    f.peer_port = port;
    f.our_port = 0;
  }

  // One segment scripted by the input.
  void segment(Reader& r, Flow& f, bool split) {
    const uint8_t flags = r.u8();
    const uint8_t mode = r.u8();
    uint32_t seq = f.peer_nxt;
    switch (mode & 3) {
      case 1:
        seq = f.seen ? f.stack_ack : f.peer_nxt;
        break;
      case 2:
        seq = f.peer_nxt + static_cast<uint32_t>(static_cast<int8_t>(r.u8()));
        break;
      case 3:
        seq = r.u32();
        break;
    }
    uint32_t ack = f.stack_max;
    switch ((mode >> 2) & 3) {
      case 1:
        ack = f.stack_max - r.u8();
        break;
      case 2:
        ack = f.peer_acked;
        break;
      case 3:
        ack = r.u32();
        break;
    }
    const uint8_t w = r.u8();
    const uint16_t win = w == 255 ? 0xffff : static_cast<uint16_t>(w << 8);
    const uint8_t l = r.u8();
    const uint32_t len = l < 0xe0 ? l : uint32_t(l - 0xdf) * 44;
    Bytes opts;
    if ((mode & 0x10) != 0) {
      const uint8_t b = r.u8();
      const uint16_t mss = b < 8 ? b : static_cast<uint16_t>(64 + b * 6);
      opts.insert(opts.end(), {2, 4, static_cast<uint8_t>(mss >> 8),
                               static_cast<uint8_t>(mss)});
    }
    if ((mode & 0x20) != 0) {
      opts.insert(opts.end(), {1, 3, 3, static_cast<uint8_t>(r.u8() & 15)});
    }
    if ((mode & 0x40) != 0) {
      if ((flags & kSyn) != 0) {
        opts.insert(opts.end(), {1, 1, 4, 2});
      } else {
        const unsigned blocks = 1 + r.u8() % 3;
        opts.insert(opts.end(),
                    {1, 1, 5, static_cast<uint8_t>(2 + 8 * blocks)});
        for (unsigned i = 0; i < blocks; ++i) {
          // Above what the peer last ACKed, mostly within what was sent.
          const uint32_t left = f.peer_acked + uint32_t{r.u8()} * 64;
          const uint32_t right = left + 1 + uint32_t{r.u8()} * 32;
          put32(opts, left);
          put32(opts, right);
        }
      }
    }
    if ((mode & 0x80) != 0) {
      const int8_t d = static_cast<int8_t>(r.u8());
      opts.insert(opts.end(), {1, 1, 8, 10});
      put32(opts, f.peer_ts + static_cast<uint32_t>(d));
      put32(opts, f.stack_ts);
    }
    send_seg(f, flags, seq, ack, win, len, opts, split);
  }

  NO_COVERAGE void send_seg(Flow& f, uint8_t flags, uint32_t seq, uint32_t ack,
                            uint16_t win, uint32_t len, Bytes opts,
                            bool split) {
    if (f.connecting && !f.seen) {
      return;  // our port is not known yet
    }
    while (opts.size() % 4 != 0) {
      opts.push_back(0);
    }
    if (opts.size() > 40) {
      opts.resize(40);
    }
    Bytes s;
    s.reserve(20 + opts.size() + len);
    put16(s, f.peer_port);
    put16(s, f.our_port);
    put32(s, seq);
    put32(s, ack);
    s.push_back(static_cast<uint8_t>((20 + opts.size()) / 4 << 4));
    s.push_back(flags);
    put16(s, win);
    put16(s, 0);
    put16(s, 0);
    s.insert(s.end(), opts.begin(), opts.end());
    const size_t at = s.size();
    s.resize(at + len);
    for (uint32_t i = 0; i < len; ++i) {
      s[at + i] = pattern(seq + i);
    }
    const uint32_t seg_len =
        len + ((flags & kSyn) != 0 ? 1 : 0) + ((flags & kFin) != 0 ? 1 : 0);
    if ((flags & kSyn) != 0 || seq_after(seq + seg_len, f.peer_nxt)) {
      f.peer_nxt = seq + seg_len;
    }
    if ((flags & kAck) != 0) {
      f.peer_acked = ack;
    }
    ++f.peer_ts;
    inject(f.v6 ? frame6(std::move(s), true) : frame4(std::move(s), true),
           split, static_cast<uint8_t>(len));
  }

  // Arbitrary bytes: a frame, or a TCP segment with valid IP around it
  // (the TCP checksum set when there is room for it).
  void raw(Reader& r, uint8_t arg) {
    const size_t len = std::min<size_t>(r.u16() % 1600, r.n - r.at);
    Bytes b(r.p + r.at, r.p + r.at + len);
    r.at += len;
    if ((arg & 1) != 0) {
      inject(b, (arg & 4) != 0, static_cast<uint8_t>(len));
    } else if ((arg & 2) != 0) {
      inject(frame6(std::move(b), true), (arg & 4) != 0,
             static_cast<uint8_t>(len));
    } else {
      inject(frame4(std::move(b), true), (arg & 4) != 0,
             static_cast<uint8_t>(len));
    }
  }

  // Feeds one frame to the NetStack, optionally as a 2-segment chain.
  NO_COVERAGE void inject(const Bytes& f, bool split, uint8_t cut_seed) {
    if (f.size() > 2 * 2048) {
      return;
    }
    const size_t cut =
        split && f.size() > 1 ? 1 + cut_seed % (f.size() - 1) : f.size();
    rte_mbuf* head = rte_pktmbuf_alloc(g_pool);
    if (head == nullptr) {
      return;
    }
    if (cut > rte_pktmbuf_tailroom(head)) {
      rte_pktmbuf_free(head);
      return;
    }
    char* p = rte_pktmbuf_append(head, static_cast<uint16_t>(cut));
    if (cut != 0) {
      std::memcpy(p, f.data(), cut);
    }
    if (cut < f.size()) {
      rte_mbuf* tail = rte_pktmbuf_alloc(g_pool);
      if (tail == nullptr || f.size() - cut > rte_pktmbuf_tailroom(tail)) {
        rte_pktmbuf_free(tail);
        rte_pktmbuf_free(head);
        return;
      }
      std::memcpy(
          rte_pktmbuf_append(tail, static_cast<uint16_t>(f.size() - cut)),
          f.data() + cut, f.size() - cut);
      if (rte_pktmbuf_chain(head, tail) != 0) {
        rte_pktmbuf_free(tail);
        rte_pktmbuf_free(head);
        return;
      }
    }
    net_->rx(&head, 1, now_);
  }

  // Moves everything along: deliveries into TCP, events to the layer
  // above, frames out to the peer (who answers ARP/NS at once).
  void pump() {
    for (int round = 0; round < 8; ++round) {
      bool moved = false;
      L4Packet p[16];
      uint16_t n = 0;
      while ((n = net_->poll_deliveries(p, 16)) > 0) {
        tcp_->rx(p, n, now_);
        moved = true;
      }
      if (!hold_events_) {
        moved |= poll_events();
      }
      replies_.clear();
      rte_mbuf* out[32];
      while ((n = net_->drain_tx(out, 32)) > 0) {
        for (uint16_t i = 0; i < n; ++i) {
          observe(out[i]);
          rte_pktmbuf_free(out[i]);
        }
      }
      for (const Bytes& f : replies_) {
        inject(f, false, 0);
        moved = true;
      }
      if (!moved) {
        break;
      }
    }
  }

  bool poll_events() {
    bool any = false;
    TcpEvent ev[8];
    uint16_t n = 0;
    while ((n = tcp_->poll_events(ev, 8)) > 0) {
      any = true;
      for (uint16_t i = 0; i < n; ++i) {
        on_event(ev[i]);
      }
    }
    return any;
  }

  void on_event(const TcpEvent& e) {
    switch (e.type) {
      case TcpEventType::kAccepted:
      case TcpEventType::kConnected:
        if (handles_.size() == kMaxHandles) {
          handles_.erase(handles_.begin());
        }
        handles_.push_back(e.conn);
        break;
      case TcpEventType::kData: {
        rte_mbuf* m = e.data;
        const char* why = nullptr;
        if (m == nullptr || rte_mbuf_check(m, 1, &why) != 0 ||
            m->pkt_len != e.len || e.len == 0) {
          std::fprintf(stderr, "bad kData chain (len %u): %s\n", e.len,
                       why != nullptr ? why : "length");
          std::abort();
        }
        uint32_t kept = e.len;
        if (unread_tail_ && m->nb_segs > 1) {
          // Keep the first segment, give the rest back.
          rte_mbuf* tail = m->next;
          tail->nb_segs = static_cast<uint16_t>(m->nb_segs - 1);
          tail->pkt_len = m->pkt_len - m->data_len;
          m->next = nullptr;
          m->nb_segs = 1;
          m->pkt_len = m->data_len;
          kept = m->data_len;
          if (tcp_->unread(e.conn, tail) != TcpResult::kOk) {
            rte_pktmbuf_free(tail);
          }
        }
        rte_pktmbuf_free(m);
        if (auto_consume_) {
          tcp_->consumed(e.conn, kept, now_);
        }
        break;
      }
      default:
        break;
    }
  }

  Flow* flow_for(bool v6, uint16_t our_port, uint16_t peer_port, bool syn) {
    for (Flow& f : flows_) {
      if (f.v6 == v6 && f.our_port == our_port && f.peer_port == peer_port &&
          !(f.connecting && !f.seen)) {
        return &f;
      }
    }
    if (syn) {
      for (Flow& f : flows_) {
        if (f.connecting && !f.seen && f.v6 == v6 && f.peer_port == peer_port) {
          f.our_port = our_port;
          return &f;
        }
      }
    }
    return nullptr;
  }

  // A frame the stack sent: checked, and learnt from.
  NO_COVERAGE void observe(rte_mbuf* m) {
    const char* why = nullptr;
    if (rte_mbuf_check(m, 1, &why) != 0) {
      std::fprintf(stderr, "bad tx mbuf: %s\n", why);
      std::abort();
    }
    Bytes f(m->pkt_len);
    if (rte_pktmbuf_read(m, 0, m->pkt_len, f.data()) != f.data()) {
      std::memcpy(f.data(), rte_pktmbuf_mtod(m, const uint8_t*), f.size());
    }
    if (f.size() < 14) {
      return;
    }
    const uint16_t type = get16(&f[12]);
    if (type == 0x0806) {
      if (f.size() >= 42 && get16(&f[20]) == 1) {
        replies_.push_back(arp_reply());
      }
      return;
    }
    size_t l4 = 0;
    size_t l4_len = 0;
    bool v6 = false;
    uint32_t pseudo = 0;
    if (type == 0x0800 && f.size() >= 34 && f[23] == 6) {
      const size_t ihl = size_t{f[14] & 15u} * 4;
      const size_t total = get16(&f[16]);
      if (total < ihl || 14 + total > f.size()) {
        std::fprintf(stderr, "bad IPv4 length in a frame we sent\n");
        std::abort();
      }
      l4 = 14 + ihl;
      l4_len = total - ihl;
      pseudo = pseudo4(get32(&f[26]), get32(&f[30]), l4_len);
    } else if (type == 0x86dd && f.size() >= 54) {
      if (f[20] == 58 && f.size() >= 55 && f[54] == 135) {
        replies_.push_back(neighbor_advert());
        return;
      }
      if (f[20] != 6) {
        return;
      }
      v6 = true;
      l4 = 54;
      l4_len = get16(&f[18]);
      if (54 + l4_len > f.size()) {
        std::fprintf(stderr, "bad IPv6 length in a frame we sent\n");
        std::abort();
      }
      Ipv6Addr src, dst;
      std::memcpy(src.b.data(), &f[22], 16);
      std::memcpy(dst.b.data(), &f[38], 16);
      pseudo = pseudo6(src, dst, l4_len, 6);
    } else {
      return;
    }
    if (l4_len < 20) {
      std::fprintf(stderr, "short TCP segment sent\n");
      std::abort();
    }
    const uint8_t* t = &f[l4];
    if (fold(sum16(t, l4_len, pseudo)) != 0) {
      std::fprintf(stderr, "bad TCP checksum in a segment we sent\n");
      std::abort();
    }
    const size_t hl = static_cast<size_t>(t[12] >> 4) * 4;
    if (hl < 20 || hl > l4_len) {
      std::fprintf(stderr, "bad TCP header length in a segment we sent\n");
      std::abort();
    }
    const uint8_t flags = t[13];
    Flow* fl = flow_for(v6, get16(t), get16(t + 2), (flags & kSyn) != 0);
    if (fl == nullptr || (flags & kRst) != 0) {
      return;
    }
    const uint32_t seq = get32(t + 4);
    const uint32_t end = seq + static_cast<uint32_t>(l4_len - hl) +
                         ((flags & kSyn) != 0 ? 1 : 0) +
                         ((flags & kFin) != 0 ? 1 : 0);
    if (!fl->seen || (flags & kSyn) != 0 || seq_after(end, fl->stack_max)) {
      fl->stack_max = end;
    }
    fl->seen = true;
    if ((flags & kAck) != 0) {
      fl->stack_ack = get32(t + 8);
      if ((flags & kSyn) != 0) {
        fl->peer_nxt = fl->stack_ack;
      }
    }
    for (size_t i = 20; i < hl;) {
      const uint8_t kind = t[i];
      if (kind == 0) {
        break;
      }
      if (kind == 1) {
        ++i;
        continue;
      }
      if (i + 1 >= hl || t[i + 1] < 2 || i + t[i + 1] > hl) {
        std::fprintf(stderr, "bad option list in a segment we sent\n");
        std::abort();
      }
      if (kind == 8 && t[i + 1] == 10) {
        fl->stack_ts = get32(t + i + 2);
      }
      i += t[i + 1];
    }
  }

  void check_stats() const {
    const auto& st = tcp_->stats();
    // Every received segment is accounted for exactly once (a reset also
    // counts what it threw away under kTcpConnectionReset).
    const uint64_t accounted =
        st.segs_absorbed + st.segs_queued + st.total_drops() -
        st.drop(dptls::net::DropReason::kTcpConnectionReset);
    if (st.segs_rx != accounted) {
      std::fprintf(
          stderr,
          "segment accounting: segs_rx %llu != absorbed %llu + "
          "queued %llu + drops %llu\n",
          (unsigned long long)st.segs_rx, (unsigned long long)st.segs_absorbed,
          (unsigned long long)st.segs_queued,
          (unsigned long long)accounted - st.segs_absorbed - st.segs_queued);
      std::abort();
    }
  }

  std::unique_ptr<NetStack> net_;
  std::unique_ptr<TcpStack> tcp_;
  uint64_t now_ = 1'000'000'000;
  Flow flows_[kFlows];
  std::vector<ConnHandle> handles_;
  std::vector<Bytes> replies_;
  uint32_t sent_bytes_ = 0;
  bool auto_consume_ = true;
  bool unread_tail_ = false;
  bool hold_events_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::vector<std::string> args = {
      "tcp_rx_fuzz", "--no-huge", "--no-shconf",    "-m",
      "256",         "--no-pci",  "--no-telemetry", "--log-level=lib.eal:error",
      "-l",          "0"};
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
    std::abort();
  }
  g_verbose = std::getenv("TCP_RX_FUZZ_VERBOSE") != nullptr;
  g_pool = rte_pktmbuf_pool_create("fuzz_pool", 4095, 0, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (g_pool == nullptr) {
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  {
    Harness h;
    h.setup(data[0]);
    Reader r{data + 1, size - 1};
    h.run(r);
    h.teardown();
  }
  if (rte_mempool_in_use_count(g_pool) != 0) {
    std::fprintf(stderr, "mbuf leak: %u in use\n",
                 rte_mempool_in_use_count(g_pool));
    std::abort();
  }
  return 0;
}
