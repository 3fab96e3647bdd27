#include "net_test_support.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dptls::net::testing {
namespace {

rte_mempool* g_pool = nullptr;

// The CPUs this process may run on, as an EAL cpuset "(0-1)" list, so the
// EAL's main lcore is not pinned to one CPU (test binaries run in
// parallel).
std::string allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return "0";
  }
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) {
      if (!out.empty()) {
        out += ",";
      }
      out += std::to_string(cpu);
    }
  }
  return out.empty() ? "0" : out;
}

}  // namespace

void init_dpdk_once() {
  if (g_pool != nullptr) {
    return;
  }
  const std::string lcores = "--lcores=0@(" + allowed_cpus() + ")";
  std::vector<std::string> args = {"dptls_net_test",
                                   "--no-huge",
                                   "--no-shconf",
                                   "-m",
                                   "256",
                                   "--no-pci",
                                   "--no-telemetry",
                                   "--log-level=lib.eal:error",
                                   lcores};
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    std::abort();
  }
  // No per-lcore cache, so the in-use count is exact at every moment.
  g_pool = rte_pktmbuf_pool_create("net_test_pool", 4095, 0, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (g_pool == nullptr) {
    std::fprintf(stderr, "mempool: %s\n", rte_strerror(rte_errno));
    std::abort();
  }
}

rte_mempool* test_pool() {
  init_dpdk_once();
  return g_pool;
}

unsigned mbufs_in_use() { return rte_mempool_in_use_count(test_pool()); }

rte_mbuf* make_mbuf(const Bytes& bytes, std::vector<size_t> segments) {
  size_t total = 0;
  for (size_t s : segments) {
    total += s;
  }
  if (total > bytes.size()) {
    std::fprintf(stderr, "make_mbuf: segments exceed the frame\n");
    std::abort();
  }
  segments.push_back(bytes.size() - total);
  rte_mbuf* head = nullptr;
  size_t at = 0;
  for (size_t len : segments) {
    rte_mbuf* seg = rte_pktmbuf_alloc(test_pool());
    if (seg == nullptr) {
      std::fprintf(stderr, "make_mbuf: pool empty\n");
      std::abort();
    }
    char* p = rte_pktmbuf_append(seg, static_cast<uint16_t>(len));
    if (p == nullptr) {
      std::fprintf(stderr, "make_mbuf: segment too long\n");
      std::abort();
    }
    if (len != 0) {
      std::memcpy(p, bytes.data() + at, len);
    }
    at += len;
    if (head == nullptr) {
      head = seg;
    } else if (rte_pktmbuf_chain(head, seg) != 0) {
      std::fprintf(stderr, "make_mbuf: chain too long\n");
      std::abort();
    }
  }
  return head;
}

Bytes to_bytes(const rte_mbuf* m) {
  Bytes out;
  for (const rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
    const uint8_t* p = rte_pktmbuf_mtod(seg, const uint8_t*);
    out.insert(out.end(), p, p + seg->data_len);
  }
  return out;
}

uint32_t ref_sum(const Bytes& data, uint32_t sum) {
  for (size_t i = 0; i < data.size(); i += 2) {
    uint32_t word = uint32_t{data[i]} << 8;
    if (i + 1 < data.size()) {
      word |= data[i + 1];
    }
    sum += word;
  }
  return sum;
}

uint16_t ref_fold_complement(uint32_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

uint16_t ref_checksum(const Bytes& data) {
  return ref_fold_complement(ref_sum(data));
}

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

void append(Bytes& b, const Bytes& more) {
  b.insert(b.end(), more.begin(), more.end());
}

uint16_t get16(const Bytes& b, size_t at) {
  return static_cast<uint16_t>((b.at(at) << 8) | b.at(at + 1));
}

Bytes mac_bytes(const MacAddr& m) { return Bytes(m.b.begin(), m.b.end()); }

Bytes eth(const MacAddr& dst, const MacAddr& src, uint16_t type,
          std::optional<uint16_t> vlan_tci) {
  Bytes b = mac_bytes(dst);
  append(b, mac_bytes(src));
  if (vlan_tci) {
    put16(b, 0x8100);
    put16(b, *vlan_tci);
  }
  put16(b, type);
  return b;
}

Bytes arp(uint16_t op, const MacAddr& sha, Ipv4Addr spa, const MacAddr& tha,
          Ipv4Addr tpa) {
  Bytes b;
  put16(b, 1);
  put16(b, 0x0800);
  b.push_back(6);
  b.push_back(4);
  put16(b, op);
  append(b, mac_bytes(sha));
  put32(b, spa.v);
  append(b, mac_bytes(tha));
  put32(b, tpa.v);
  return b;
}

Bytes ipv4(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, const Bytes& payload,
           const Ipv4Opts& o) {
  const size_t hlen = 20 + o.options.size();
  Bytes h;
  h.push_back(o.version_ihl.value_or(static_cast<uint8_t>(0x40 | (hlen / 4))));
  h.push_back(o.tos);
  put16(h, o.total_len.value_or(static_cast<uint16_t>(hlen + payload.size())));
  put16(h, o.id);
  put16(h, o.frag);
  h.push_back(o.ttl);
  h.push_back(proto);
  put16(h, 0);
  put32(h, src.v);
  put32(h, dst.v);
  append(h, o.options);
  uint16_t c = ref_checksum(h);
  if (o.corrupt_checksum) {
    c ^= 0x0101;
  }
  h[10] = static_cast<uint8_t>(c >> 8);
  h[11] = static_cast<uint8_t>(c);
  append(h, payload);
  return h;
}

Bytes icmp4(uint8_t type, uint8_t code, const Bytes& rest) {
  Bytes b = {type, code, 0, 0};
  append(b, rest);
  const uint16_t c = ref_checksum(b);
  b[2] = static_cast<uint8_t>(c >> 8);
  b[3] = static_cast<uint8_t>(c);
  return b;
}

Bytes icmp_echo(uint8_t type, uint16_t id, uint16_t seq, const Bytes& data) {
  Bytes rest;
  put16(rest, id);
  put16(rest, seq);
  append(rest, data);
  return icmp4(type, 0, rest);
}

Bytes ipv6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next,
           const Bytes& payload, uint8_t hop_limit,
           std::optional<uint16_t> payload_len) {
  Bytes b;
  put32(b, 0x60000000);
  put16(b, payload_len.value_or(static_cast<uint16_t>(payload.size())));
  b.push_back(next);
  b.push_back(hop_limit);
  b.insert(b.end(), src.b.begin(), src.b.end());
  b.insert(b.end(), dst.b.begin(), dst.b.end());
  append(b, payload);
  return b;
}

uint32_t ref_pseudo6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next,
                     uint32_t len) {
  Bytes p(src.b.begin(), src.b.end());
  p.insert(p.end(), dst.b.begin(), dst.b.end());
  put32(p, len);
  put32(p, next);
  return ref_sum(p);
}

uint32_t ref_pseudo4(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, uint16_t len) {
  Bytes p;
  put32(p, src.v);
  put32(p, dst.v);
  p.push_back(0);
  p.push_back(proto);
  put16(p, len);
  return ref_sum(p);
}

Bytes icmp_frag_needed(uint16_t mtu, const Bytes& quote) {
  Bytes rest = {0, 0};
  put16(rest, mtu);
  append(rest, quote);
  return icmp4(3, 4, rest);
}

Bytes tcp_quote(uint16_t sport, uint16_t dport, uint32_t seq) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, seq);
  return b;
}

Bytes icmp6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t type,
            uint8_t code, const Bytes& body) {
  Bytes b;
  b.push_back(type);
  b.push_back(code);
  put16(b, 0);
  append(b, body);
  const uint16_t c = ref_fold_complement(
      ref_sum(b, ref_pseudo6(src, dst, 58, static_cast<uint32_t>(b.size()))));
  b[2] = static_cast<uint8_t>(c >> 8);
  b[3] = static_cast<uint8_t>(c);
  return b;
}

Bytes ns_body(const Ipv6Addr& target, std::optional<MacAddr> slla) {
  Bytes b;
  put32(b, 0);
  b.insert(b.end(), target.b.begin(), target.b.end());
  if (slla) {
    b.push_back(1);
    b.push_back(1);
    append(b, mac_bytes(*slla));
  }
  return b;
}

Bytes na_body(uint32_t flags, const Ipv6Addr& target,
              std::optional<MacAddr> tlla) {
  Bytes b;
  put32(b, flags);
  b.insert(b.end(), target.b.begin(), target.b.end());
  if (tlla) {
    b.push_back(2);
    b.push_back(1);
    append(b, mac_bytes(*tlla));
  }
  return b;
}

Ipv6Addr ip6(std::initializer_list<uint16_t> groups) {
  Ipv6Addr a;
  size_t i = 0;
  for (uint16_t g : groups) {
    a.b[i++] = static_cast<uint8_t>(g >> 8);
    a.b[i++] = static_cast<uint8_t>(g);
  }
  return a;
}

Ipv6Addr our_ip6() {
  Ipv6Addr a = ip6({0x2001, 0x0db8});
  a.b[15] = 2;
  return a;
}

Ipv6Addr peer_ip6() {
  Ipv6Addr a = ip6({0x2001, 0x0db8});
  a.b[15] = 1;
  return a;
}

namespace {
thread_local unsigned g_baseline = 0;
}  // namespace

LeakCheckedTest::LeakCheckedTest() { g_baseline = mbufs_in_use(); }

LeakCheckedTest::~LeakCheckedTest() {
  EXPECT_EQ(mbufs_in_use(), g_baseline) << "mbufs leaked by this test";
}

NetConfig StackTest::default_config() {
  NetConfig c;
  c.mac = kOurMac;
  c.ipv4 = {Ipv4Interface{kOurIp, 24}};
  c.ipv6 = {Ipv6Interface{our_ip6(), 64}};
  c.clock_hz = 1'000'000'000;
  return c;
}

StackTest::StackTest() { rebuild(default_config()); }

StackTest::~StackTest() { stack_.reset(); }

void StackTest::rebuild(const NetConfig& config) {
  stack_.reset();
  std::string error;
  stack_ = NetStack::create(config, test_pool(), &error);
  if (stack_ == nullptr) {
    ADD_FAILURE() << "NetStack::create: " << error;
    std::abort();
  }
}

void StackTest::rx(const Bytes& frame, std::vector<size_t> segments) {
  rx_mbuf(make_mbuf(frame, std::move(segments)));
}

void StackTest::rx_mbuf(rte_mbuf* m) { EXPECT_EQ(stack_->rx(&m, 1, now_), 1); }

std::vector<Bytes> StackTest::tx() {
  std::vector<Bytes> out;
  rte_mbuf* pkts[32];
  uint16_t n = 0;
  while ((n = stack_->drain_tx(pkts, 32)) > 0) {
    for (uint16_t i = 0; i < n; ++i) {
      EXPECT_EQ(rte_mbuf_check(pkts[i], 1, nullptr), 0);
      out.push_back(to_bytes(pkts[i]));
      rte_pktmbuf_free(pkts[i]);
    }
  }
  return out;
}

std::vector<L4Packet> StackTest::deliveries() {
  std::vector<L4Packet> out;
  L4Packet p[16];
  uint16_t n = 0;
  while ((n = stack_->poll_deliveries(p, 16)) > 0) {
    out.insert(out.end(), p, p + n);
  }
  return out;
}

void StackTest::advance_ms(uint64_t ms) {
  now_ += ms * 1'000'000;
  stack_->tick(now_);
}

}  // namespace dptls::net::testing
