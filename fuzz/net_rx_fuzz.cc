// libFuzzer target for the net library's receive path: one frame per input,
// fed to a fresh NetStack (so every run is deterministic), optionally split
// into a chain, flagged as a port would flag it, with pending ARP/ND
// resolutions for the frame to complete. After each input every mbuf must
// be back in the pool: a leak aborts.
//
// Input: byte 0 = control bits, byte 1 = split seed, the rest = the frame.
//   bits 0-1: extra segments (0-3), at offsets derived from the split seed
//   bit 2:    RTE_MBUF_F_RX_IP_CKSUM_GOOD   bit 3: RTE_MBUF_F_RX_IP_CKSUM_BAD
//   bit 4:    port stripped VLAN 100 (and the stack is on VLAN 100)
//   bit 5:    park one IPv4 and one IPv6 packet for 198.18.0.1 / 2001:db8::1
//   bit 6:    tick 1.5 s after the frame
//   bit 7:    pass a clone (indirect mbufs over shared, read-only data)
//
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true && ninja -C
// build-fuzz fuzz/net_rx_fuzz; run: build-fuzz/fuzz/net_rx_fuzz
// tests/net/corpus (add a scratch directory first to keep new inputs).
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dptls/net/stack.h"

namespace {

using dptls::net::Ipv4Addr;
using dptls::net::Ipv4Interface;
using dptls::net::Ipv6Addr;
using dptls::net::Ipv6Interface;
using dptls::net::L4Packet;
using dptls::net::MacAddr;
using dptls::net::NetConfig;
using dptls::net::NetStack;

rte_mempool* g_pool = nullptr;

Ipv6Addr doc_addr(uint8_t last) {
  Ipv6Addr a;
  a.b[0] = 0x20;
  a.b[1] = 0x01;
  a.b[2] = 0x0d;
  a.b[3] = 0xb8;
  a.b[15] = last;
  return a;
}

NetConfig config(bool vlan) {
  NetConfig c;
  c.mac = MacAddr{{0x02, 0, 0, 0, 0, 0x02}};
  c.vlan_id = vlan ? 100 : 0;
  c.ipv4 = {Ipv4Interface{Ipv4Addr::of(198, 18, 0, 2), 24}};
  c.ipv4_gateway = Ipv4Addr::of(198, 18, 0, 1);
  c.ipv6 = {Ipv6Interface{doc_addr(2), 64}};
  c.arp_cache_size = 8;
  c.nd_cache_size = 8;
  c.tx_queue_size = 16;
  c.delivery_queue_size = 4;
  return c;
}

rte_mbuf* segment_with(uint8_t fill) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  if (m != nullptr) {
    char* p = rte_pktmbuf_append(m, 20);
    std::memset(p, fill, 20);
  }
  return m;
}

// Copies `frame` into a chain of 1 + `extra` segments.
rte_mbuf* make_chain(const uint8_t* frame, size_t len, unsigned extra,
                     uint8_t seed) {
  std::vector<size_t> cuts;
  size_t at = 0;
  for (unsigned i = 0; i < extra && at < len; ++i) {
    at += 1 + (seed * (i + 7)) % (len - at);
    cuts.push_back(at);
  }
  cuts.push_back(len);
  rte_mbuf* head = nullptr;
  size_t from = 0;
  for (size_t to : cuts) {
    rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
    if (seg == nullptr) {
      std::abort();
    }
    const size_t n = to - from;
    if (n > rte_pktmbuf_tailroom(seg)) {
      rte_pktmbuf_free(seg);
      rte_pktmbuf_free(head);
      return nullptr;
    }
    char* p = rte_pktmbuf_append(seg, static_cast<uint16_t>(n));
    if (n != 0) {
      std::memcpy(p, frame + from, n);
    }
    from = to;
    if (head == nullptr) {
      head = seg;
    } else if (rte_pktmbuf_chain(head, seg) != 0) {
      rte_pktmbuf_free(seg);
    }
  }
  return head;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::vector<std::string> args = {
      "net_rx_fuzz", "--no-huge", "--no-shconf",    "-m",
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
  g_pool = rte_pktmbuf_pool_create("fuzz_pool", 1023, 0, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (g_pool == nullptr) {
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  const uint8_t ctl = data[0];
  const uint8_t seed = data[1];
  {
    std::string error;
    auto stack = NetStack::create(config((ctl & 0x10) != 0), g_pool, &error);
    if (stack == nullptr) {
      std::abort();
    }
    uint64_t now = 1'000'000'000;
    if ((ctl & 0x20) != 0) {
      stack->output_ipv4(segment_with(0x44),
                         {.src = Ipv4Addr::of(198, 18, 0, 2),
                          .dst = Ipv4Addr::of(198, 18, 0, 1)},
                         now);
      stack->output_ipv6(segment_with(0x66),
                         {.src = doc_addr(2), .dst = doc_addr(1)}, now);
    }
    rte_mbuf* m = make_chain(data + 2, size - 2, ctl & 0x3, seed);
    if (m != nullptr) {
      if ((ctl & 0x04) != 0) {
        m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
      }
      if ((ctl & 0x08) != 0) {
        m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
      }
      if ((ctl & 0x10) != 0) {
        m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
        m->vlan_tci = 100;
      }
      if ((ctl & 0x80) != 0) {
        // Hand the stack a clone: its buffers are shared and read-only.
        rte_mbuf* clone = rte_pktmbuf_clone(m, g_pool);
        if (clone != nullptr) {
          stack->rx(&clone, 1, now);
        }
        rte_pktmbuf_free(m);
      } else {
        stack->rx(&m, 1, now);
      }
    }
    if ((ctl & 0x40) != 0) {
      stack->tick(now + 1'500'000'000);
    }
    rte_mbuf* out[32];
    uint16_t n = 0;
    while ((n = stack->drain_tx(out, 32)) > 0) {
      for (uint16_t i = 0; i < n; ++i) {
        const char* why = nullptr;
        if (rte_mbuf_check(out[i], 1, &why) != 0) {
          std::fprintf(stderr, "bad tx mbuf: %s\n", why);
          std::abort();
        }
        rte_pktmbuf_free(out[i]);
      }
    }
    L4Packet d[8];
    while ((n = stack->poll_deliveries(d, 8)) > 0) {
      for (uint16_t i = 0; i < n; ++i) {
        (void)dptls::net::l4_checksum_ok(d[i]);
        rte_pktmbuf_free(d[i].mbuf);
      }
    }
  }
  if (rte_mempool_in_use_count(g_pool) != 0) {
    std::fprintf(stderr, "mbuf leak: %u in use\n",
                 rte_mempool_in_use_count(g_pool));
    std::abort();
  }
  return 0;
}
