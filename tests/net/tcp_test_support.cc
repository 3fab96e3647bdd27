#include "tcp_test_support.h"

#include "dptls/net/checksum.h"

#include <rte_errno.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace dptls::net::testing {
namespace {

rte_mempool* g_tcp_pool = nullptr;

uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

NetConfig raw_net_config() {
  NetConfig c;
  c.mac = kOurMac;
  c.ipv4 = {Ipv4Interface{kOurIp, 24}};
  c.ipv6 = {Ipv6Interface{our_ip6(), 64}};
  c.clock_hz = 1'000'000'000;
  c.tx_queue_size = 4096;
  c.delivery_queue_size = 4096;
  return c;
}

rte_mempool* tcp_pool() {
  if (g_tcp_pool == nullptr) {
    init_dpdk_once();
    g_tcp_pool = rte_pktmbuf_pool_create(
        "tcp_test_pool", 16383, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (g_tcp_pool == nullptr) {
      std::fprintf(stderr, "tcp pool: %s\n", rte_strerror(rte_errno));
      std::abort();
    }
  }
  return g_tcp_pool;
}

TcpLeakCheckedTest::TcpLeakCheckedTest()
    : base_test_(rte_mempool_in_use_count(test_pool())),
      base_tcp_(rte_mempool_in_use_count(tcp_pool())) {}

TcpLeakCheckedTest::~TcpLeakCheckedTest() {
  EXPECT_EQ(rte_mempool_in_use_count(test_pool()), base_test_)
      << "test_pool mbufs leaked";
  EXPECT_EQ(rte_mempool_in_use_count(tcp_pool()), base_tcp_)
      << "tcp_pool mbufs leaked";
}

Bytes opt_mss(uint16_t mss) {
  Bytes b = {2, 4};
  put16(b, mss);
  return b;
}
Bytes opt_wscale(uint8_t ws) { return {1, 3, 3, ws}; }
Bytes opt_sack_ok() { return {1, 1, 4, 2}; }
Bytes opt_ts(uint32_t val, uint32_t ecr) {
  Bytes b = {1, 1, 8, 10};
  put32(b, val);
  put32(b, ecr);
  return b;
}
Bytes opt_sack(const std::vector<std::pair<uint32_t, uint32_t>>& blocks) {
  Bytes b = {1, 1, 5, static_cast<uint8_t>(2 + 8 * blocks.size())};
  for (const auto& [s, e] : blocks) {
    put32(b, s);
    put32(b, e);
  }
  return b;
}

Bytes tcp_bytes(Ipv4Addr src, Ipv4Addr dst, const Seg& s) {
  Bytes opts = s.options;
  while (opts.size() % 4 != 0) {
    opts.push_back(0);  // EOL padding
  }
  Bytes t;
  put16(t, s.sport);
  put16(t, s.dport);
  put32(t, s.seq);
  put32(t, s.ack);
  const uint8_t words = s.data_offset_words.value_or(
      static_cast<uint8_t>((20 + opts.size()) / 4));
  t.push_back(static_cast<uint8_t>(words << 4));
  t.push_back(s.flags);
  put16(t, s.win);
  put16(t, 0);
  put16(t, 0);
  append(t, opts);
  append(t, s.payload);
  uint16_t c = ref_fold_complement(
      ref_sum(t, ref_pseudo4(src, dst, 6, static_cast<uint16_t>(t.size()))));
  if (s.bad_checksum) {
    c ^= 0x5555;
  }
  t[16] = static_cast<uint8_t>(c >> 8);
  t[17] = static_cast<uint8_t>(c);
  return t;
}

Bytes tcp_frame(const Seg& s) {
  Bytes f = eth(kOurMac, kPeerMac, 0x0800);
  append(f, ipv4(kPeerIp, kOurIp, 6, tcp_bytes(kPeerIp, kOurIp, s)));
  return f;
}

std::optional<Seg> parse_frame(const Bytes& f) {
  if (f.size() < 14 + 20 + 20 || get16(f, 12) != 0x0800 || f[23] != 6) {
    return std::nullopt;
  }
  const size_t ihl = (f[14] & 0x0f) * 4u;
  const size_t total = get16(f, 16);
  if (14 + total > f.size() || total < ihl + 20) {
    return std::nullopt;
  }
  const Bytes t(f.begin() + 14 + static_cast<long>(ihl),
                f.begin() + 14 + static_cast<long>(total));
  Ipv4Addr src{(uint32_t{f[26]} << 24) | (uint32_t{f[27]} << 16) |
               (uint32_t{f[28]} << 8) | f[29]};
  Ipv4Addr dst{(uint32_t{f[30]} << 24) | (uint32_t{f[31]} << 16) |
               (uint32_t{f[32]} << 8) | f[33]};
  if (ref_fold_complement(ref_sum(
          t, ref_pseudo4(src, dst, 6, static_cast<uint16_t>(t.size())))) != 0) {
    ADD_FAILURE() << "bad TCP checksum from the stack";
    return std::nullopt;
  }
  Seg s;
  s.sport = get16(t, 0);
  s.dport = get16(t, 2);
  s.seq = (uint32_t{get16(t, 4)} << 16) | get16(t, 6);
  s.ack = (uint32_t{get16(t, 8)} << 16) | get16(t, 10);
  const size_t hlen = (t[12] >> 4) * 4u;
  s.flags = t[13];
  s.win = get16(t, 14);
  s.options.assign(t.begin() + 20, t.begin() + static_cast<long>(hlen));
  s.payload.assign(t.begin() + static_cast<long>(hlen), t.end());
  for (size_t i = 0; i < s.options.size();) {
    const uint8_t kind = s.options[i];
    if (kind == 0) {
      break;
    }
    if (kind == 1) {
      ++i;
      continue;
    }
    const uint8_t len = s.options.at(i + 1);
    const Bytes& o = s.options;
    if (kind == 2) {
      s.mss = get16(o, i + 2);
    } else if (kind == 3) {
      s.wscale = o.at(i + 2);
    } else if (kind == 4) {
      s.sack_ok = true;
    } else if (kind == 8) {
      s.ts = {(uint32_t{get16(o, i + 2)} << 16) | get16(o, i + 4),
              (uint32_t{get16(o, i + 6)} << 16) | get16(o, i + 8)};
    } else if (kind == 5) {
      for (size_t j = i + 2; j + 8 <= i + len; j += 8) {
        s.sack.emplace_back(
            (uint32_t{get16(o, j)} << 16) | get16(o, j + 2),
            (uint32_t{get16(o, j + 4)} << 16) | get16(o, j + 6));
      }
    }
    i += len;
  }
  return s;
}

TcpConfig RawTcpTest::default_tcp_config() {
  TcpConfig c;
  c.clock_hz = 1'000'000'000;
  c.seed = 42;
  c.max_connections = 64;
  c.rcv_buf = 64 * 1024;
  c.snd_buf = 64 * 1024;
  return c;
}

RawTcpTest::RawTcpTest() {
  std::string error;
  net_ = NetStack::create(raw_net_config(), tcp_pool(), &error);
  if (net_ == nullptr) {
    ADD_FAILURE() << error;
    std::abort();
  }
  rebuild(default_tcp_config());
  // The peer's MAC is known, so segments go out at once.
  Bytes f = eth(kOurMac, kPeerMac, 0x0806);
  append(f, arp(2, kPeerMac, kPeerIp, kOurMac, kOurIp));
  rte_mbuf* m = make_mbuf(f);
  net_->rx(&m, 1, now_);
}

RawTcpTest::~RawTcpTest() {
  tcp_.reset();
  net_.reset();
}

void RawTcpTest::rebuild(const TcpConfig& c) {
  tcp_.reset();
  std::string error;
  tcp_ = TcpStack::create(c, net_.get(), tcp_pool(), &error);
  if (tcp_ == nullptr) {
    ADD_FAILURE() << error;
    std::abort();
  }
}

void RawTcpTest::inject(const Seg& s) { inject_frame(tcp_frame(s)); }

void RawTcpTest::inject_frame(const Bytes& frame) {
  rte_mbuf* m = make_mbuf(frame);
  net_->rx(&m, 1, now_);
  L4Packet p[8];
  uint16_t n = 0;
  while ((n = net_->poll_deliveries(p, 8)) > 0) {
    tcp_->rx(p, n, now_);
  }
}

std::vector<Seg> RawTcpTest::sent() {
  std::vector<Seg> out;
  rte_mbuf* pkts[32];
  uint16_t n = 0;
  while ((n = net_->drain_tx(pkts, 32)) > 0) {
    for (uint16_t i = 0; i < n; ++i) {
      const Bytes f = to_bytes(pkts[i]);
      const uint16_t nb_segs = pkts[i]->nb_segs;
      rte_pktmbuf_free(pkts[i]);
      if (f.size() >= 14 && get16(f, 12) == 0x0800) {
        std::optional<Seg> s = parse_frame(f);
        if (s) {
          s->nb_segs = nb_segs;
          out.push_back(*s);
        }
      }
    }
  }
  return out;
}

std::vector<TcpEvent> RawTcpTest::events() {
  std::vector<TcpEvent> out;
  TcpEvent ev[16];
  uint16_t n = 0;
  while ((n = tcp_->poll_events(ev, 16)) > 0) {
    for (uint16_t i = 0; i < n; ++i) {
      if (ev[i].type == TcpEventType::kData) {
        append(data_, to_bytes(ev[i].data));
        rte_pktmbuf_free(ev[i].data);
        ev[i].data = nullptr;
      }
      out.push_back(ev[i]);
    }
  }
  return out;
}

void RawTcpTest::advance_ms(uint64_t ms) {
  now_ += ms * 1'000'000;
  tcp_->timers(now_);
  net_->tick(now_);
}

ConnHandle RawTcpTest::accept_one(const Bytes& syn_options) {
  tcp_->listen(TcpListen{.port = 80, .user = 7});
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = peer_isn_,
             .flags = kTcpSyn,
             .win = 65535,
             .options = syn_options});
  std::vector<Seg> out = sent();
  if (out.size() != 1 || out[0].flags != (kTcpSyn | kTcpAck)) {
    ADD_FAILURE() << "no SYN-ACK";
    return {};
  }
  our_isn_ = out[0].seq;
  inject(Seg{.sport = 40000,
             .dport = 80,
             .seq = peer_isn_ + 1,
             .ack = our_isn_ + 1,
             .flags = kTcpAck,
             .win = 65535});
  for (const TcpEvent& e : events()) {
    if (e.type == TcpEventType::kAccepted) {
      return e.conn;
    }
  }
  ADD_FAILURE() << "no kAccepted";
  return {};
}

ConnHandle RawTcpTest::connect_one(Seg* syn) {
  ConnHandle h;
  EXPECT_EQ(tcp_->connect(TcpConnect{.local4 = kOurIp,
                                     .remote4 = kPeerIp,
                                     .remote_port = 80,
                                     .user = 9},
                          now_, &h),
            TcpResult::kOk);
  std::vector<Seg> out = sent();
  EXPECT_EQ(out.size(), 1u);
  if (!out.empty()) {
    *syn = out[0];
    our_isn_ = out[0].seq;
  }
  return h;
}

uint8_t pattern_byte(uint32_t id, uint64_t i) {
  return static_cast<uint8_t>(mix64((uint64_t{id} << 48) ^ (i >> 3)) >>
                              (8 * (i & 7)));
}

rte_mbuf* pattern_chain(rte_mempool* pool, uint32_t id, uint64_t offset,
                        uint32_t len, uint32_t seg) {
  rte_mbuf* head = nullptr;
  uint64_t at = offset;
  while (len > 0) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    const uint32_t n = std::min<uint32_t>(
        {len, seg, static_cast<uint32_t>(rte_pktmbuf_tailroom(m))});
    uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, n));
    uint64_t word = 0;
    for (uint32_t i = 0; i < n; ++i, ++at) {
      if (i == 0 || (at & 7) == 0) {
        word = mix64((uint64_t{id} << 48) ^ (at >> 3));
      }
      p[i] = static_cast<uint8_t>(word >> (8 * (at & 7)));
    }
    len -= n;
    if (head == nullptr) {
      head = m;
    } else if (rte_pktmbuf_chain(head, m) != 0) {
      rte_pktmbuf_free(m);
      rte_pktmbuf_free(head);
      return nullptr;
    }
  }
  return head;
}

TcpConfig pair_config(uint16_t worker) {
  TcpConfig c;
  c.worker_id = worker;
  c.clock_hz = 1'000'000'000;
  c.seed = 1234 + worker;
  c.max_connections = 256;
  c.rcv_buf = 256 * 1024;
  c.snd_buf = 256 * 1024;
  return c;
}

bool emulate_port_tx(rte_mbuf* m, std::vector<rte_mbuf*>* out) {
  constexpr uint64_t kOffloads =
      RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG;
  const uint64_t fl = m->ol_flags;
  if ((fl & kOffloads) == 0) {
    out->push_back(m);
    return true;
  }
  const bool v4 = (fl & RTE_MBUF_F_TX_IPV4) != 0;
  const bool tso = (fl & RTE_MBUF_F_TX_TCP_SEG) != 0;
  const bool tcp_sum =
      tso || (fl & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM;
  const uint32_t l2 = m->l2_len;
  const uint32_t l3 = m->l3_len;
  const uint32_t l4 = m->l4_len;
  const uint32_t hdr = l2 + l3 + l4;
  const bool ok = l2 >= 14 && (v4 ? l3 == 20 : l3 == 40) &&
                  (v4 || (fl & RTE_MBUF_F_TX_IPV6) != 0) &&
                  ((fl & RTE_MBUF_F_TX_IP_CKSUM) == 0 || v4) &&
                  (!tcp_sum || (l4 >= 20 && hdr <= m->data_len)) &&
                  (!tso || (m->tso_segsz != 0 && m->pkt_len > hdr));
  if (!ok) {
    rte_pktmbuf_free(m);
    return false;
  }
  const uint32_t payload = tcp_sum ? m->pkt_len - hdr : 0;
  const uint32_t step = tso ? m->tso_segsz : payload;
  const uint8_t* h = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t seq0 = static_cast<uint32_t>(h[l2 + l3 + 4]) << 24 |
                        static_cast<uint32_t>(h[l2 + l3 + 5]) << 16 |
                        static_cast<uint32_t>(h[l2 + l3 + 6]) << 8 |
                        h[l2 + l3 + 7];
  const uint16_t id0 =
      v4 ? static_cast<uint16_t>(h[l2 + 4] << 8 | h[l2 + 5]) : 0;
  uint32_t off = 0;
  uint16_t i = 0;
  do {
    const uint32_t n = tso ? std::min(step, payload - off) : payload;
    const bool last = off + n >= payload;
    const uint32_t len = tcp_sum ? hdr + n : m->pkt_len;
    rte_mbuf* f = rte_pktmbuf_alloc(m->pool);
    uint8_t* b = f == nullptr ? nullptr
                              : reinterpret_cast<uint8_t*>(rte_pktmbuf_append(
                                    f, static_cast<uint16_t>(len)));
    if (b == nullptr) {
      rte_pktmbuf_free(f);
      rte_pktmbuf_free(m);
      return false;
    }
    // rte_pktmbuf_read() copies only when the range spans segments.
    const uint32_t from = tcp_sum ? hdr + off : 0;
    uint8_t* to = tcp_sum ? b + hdr : b;
    const uint32_t count = tcp_sum ? n : len;
    const void* src = rte_pktmbuf_read(m, from, count, to);
    if (src != nullptr && src != to) {
      std::memcpy(to, src, count);
    }
    if (tcp_sum) {
      std::memcpy(b, h, hdr);
    }
    if (tso) {
      uint8_t* t = b + l2 + l3;
      const uint32_t seq = seq0 + off;
      t[4] = static_cast<uint8_t>(seq >> 24);
      t[5] = static_cast<uint8_t>(seq >> 16);
      t[6] = static_cast<uint8_t>(seq >> 8);
      t[7] = static_cast<uint8_t>(seq);
      if (!last) {
        t[13] = static_cast<uint8_t>(t[13] & ~(0x01 | 0x08));  // FIN, PSH
      }
      if (v4) {
        const uint16_t id = static_cast<uint16_t>(id0 + i);
        b[l2 + 4] = static_cast<uint8_t>(id >> 8);
        b[l2 + 5] = static_cast<uint8_t>(id);
      }
    }
    if (tcp_sum && v4) {
      const uint32_t total = l3 + l4 + n;
      b[l2 + 2] = static_cast<uint8_t>(total >> 8);
      b[l2 + 3] = static_cast<uint8_t>(total);
    } else if (tcp_sum) {
      const uint32_t plen = l4 + n;
      b[l2 + 4] = static_cast<uint8_t>(plen >> 8);
      b[l2 + 5] = static_cast<uint8_t>(plen);
    }
    if (tcp_sum) {
      // The hardware's sum starts from the field's pseudo-header value;
      // for TSO it adds the segment's TCP length itself.
      uint32_t sum = checksum_sum({b + l2 + l3, l4 + n});
      if (tso) {
        sum = checksum_add(sum, l4 + n);
      }
      const uint16_t c = checksum_finish(sum);
      b[l2 + l3 + 16] = static_cast<uint8_t>(c >> 8);
      b[l2 + l3 + 17] = static_cast<uint8_t>(c);
    }
    if ((fl & RTE_MBUF_F_TX_IP_CKSUM) != 0) {
      b[l2 + 10] = b[l2 + 11] = 0;
      const uint16_t c = checksum_finish(checksum_sum({b + l2, l3}));
      b[l2 + 10] = static_cast<uint8_t>(c >> 8);
      b[l2 + 11] = static_cast<uint8_t>(c);
    }
    out->push_back(f);
    off += n;
    ++i;
  } while (off < payload);
  rte_pktmbuf_free(m);
  return true;
}

TcpPair::TcpPair(const TcpConfig& a, const TcpConfig& b, const FaultConfig& ab,
                 const FaultConfig& ba, uint16_t mtu,
                 const std::array<TxOffloads, 2>& port_offloads)
    : offloads(port_offloads) {
  const TcpConfig* cfgs[2] = {&a, &b};
  const FaultConfig* faults[2] = {&ab, &ba};
  for (int i = 0; i < 2; ++i) {
    NetConfig n;
    n.mac = MacAddr{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(0x0a + i)}};
    side[i].ip = Ipv4Addr::of(198, 18, 1, static_cast<uint8_t>(1 + i));
    side[i].ip6 = ip6({0x2001, 0x0002, 0x0001});
    side[i].ip6.b[15] = static_cast<uint8_t>(1 + i);
    n.ipv4 = {Ipv4Interface{side[i].ip, 24}};
    n.ipv6 = {Ipv6Interface{side[i].ip6, 64}};
    n.mtu = mtu;
    n.tx_offloads = offloads[i];
    n.clock_hz = 1'000'000'000;
    n.tx_queue_size = 8192;
    n.delivery_queue_size = 8192;
    std::string error;
    side[i].net = NetStack::create(n, tcp_pool(), &error);
    EXPECT_NE(side[i].net, nullptr) << error;
    side[i].tcp =
        TcpStack::create(*cfgs[i], side[i].net.get(), tcp_pool(), &error);
    EXPECT_NE(side[i].tcp, nullptr) << error;
    side[i].out = std::make_unique<FaultInjector>(*faults[i], tcp_pool());
  }
}

TcpPair::~TcpPair() {
  for (Side& s : side) {
    s.tcp.reset();
    s.net.reset();
    s.out.reset();
  }
}

void TcpPair::flush_link() {
  rte_mbuf* m[64];
  uint16_t n = 0;
  for (Side& s : side) {
    while ((n = s.out->pull(m, 64, UINT64_MAX)) > 0) {
      for (uint16_t i = 0; i < n; ++i) {
        rte_pktmbuf_free(m[i]);
      }
    }
  }
}

void TcpPair::step(uint64_t dt_ns,
                   const std::function<void(int, const TcpEvent&)>& on_event) {
  now += dt_ns;
  rte_mbuf* frames[64];
  L4Packet segs[64];
  TcpEvent ev[64];
  for (int i = 0; i < 2; ++i) {
    Side& me = side[i];
    FaultInjector& in = *side[1 - i].out;
    uint16_t n = 0;
    while ((n = in.pull(frames, 64, now)) > 0) {
      // The wire: each frame arrives in a fresh buffer, as a NIC writes it.
      for (uint16_t k = 0; k < n; ++k) {
        rte_mbuf* copy = rte_pktmbuf_copy(frames[k], tcp_pool(), 0, UINT32_MAX);
        rte_pktmbuf_free(frames[k]);
        frames[k] = copy;
      }
      uint16_t kept = 0;
      for (uint16_t k = 0; k < n; ++k) {
        if (frames[k] != nullptr) {
          frames[kept++] = frames[k];
        }
      }
      me.net->rx(frames, kept, now);
      uint16_t d = 0;
      while ((d = me.net->poll_deliveries(segs, 64)) > 0) {
        me.tcp->rx(segs, d, now);
      }
    }
    me.tcp->timers(now);
    me.net->tick(now);
    uint16_t e = 0;
    while ((e = me.tcp->poll_events(ev, 64)) > 0) {
      for (uint16_t k = 0; k < e; ++k) {
        on_event(i, ev[k]);
      }
    }
  }
  std::vector<rte_mbuf*> wire;
  for (int i = 0; i < 2; ++i) {
    uint16_t n = 0;
    while ((n = side[i].net->drain_tx(frames, 64)) > 0) {
      wire.clear();
      for (uint16_t k = 0; k < n; ++k) {
        if ((frames[k]->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0) {
          max_tso_mbufs = std::max(max_tso_mbufs, frames[k]->nb_segs);
        }
        if (!emulate_port_tx(frames[k], &wire)) {
          ++bad_offload_frames;
        }
      }
      std::vector<rte_mbuf*> back;
      if (router) {
        router(i, &wire, &back);
      }
      for (size_t k = 0; k < wire.size(); k += 64) {
        const auto c =
            static_cast<uint16_t>(std::min<size_t>(64, wire.size() - k));
        side[i].out->push(wire.data() + k, c, now);
      }
      for (size_t k = 0; k < back.size(); k += 64) {
        const auto c =
            static_cast<uint16_t>(std::min<size_t>(64, back.size() - k));
        side[1 - i].out->push(back.data() + k, c, now);
      }
    }
  }
}

bool TcpPair::run_until(
    const std::function<bool()>& pred, uint64_t max_ns,
    const std::function<void(int, const TcpEvent&)>& on_event, uint64_t dt_ns) {
  const uint64_t end = now + max_ns;
  const auto wall_end =
      std::chrono::steady_clock::now() + std::chrono::seconds(120);
  uint64_t steps = 0;
  while (now < end) {
    if (pred()) {
      return true;
    }
    step(dt_ns, on_event);
    if ((++steps & 1023) == 0 && std::chrono::steady_clock::now() > wall_end) {
      ADD_FAILURE() << "wall-clock limit reached";
      return false;
    }
  }
  return pred();
}

}  // namespace dptls::net::testing
