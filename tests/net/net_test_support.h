// Test support for the net library: a DPDK environment (EAL without
// hugepages plus one mempool), mbuf <-> byte conversions, a frame builder
// written independently of src/net (its own checksum), and a fixture that
// fails a test which leaks mbufs.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dptls/net/addr.h"
#include "dptls/net/stack.h"

namespace dptls::net::testing {

using Bytes = std::vector<uint8_t>;

/// The pool every test allocates from (created by the environment).
rte_mempool* test_pool();
/// Mbufs of test_pool() currently allocated.
unsigned mbufs_in_use();

/// Initialises the EAL once per process: --no-huge --no-shconf -m 256
/// --no-pci, no telemetry, EAL logs at error level only.
void init_dpdk_once();

/// Owning mbuf pointer.
struct MbufFree {
  void operator()(rte_mbuf* m) const { rte_pktmbuf_free(m); }
};
using MbufPtr = std::unique_ptr<rte_mbuf, MbufFree>;

/// Copies `bytes` into a new chain; `segments` gives the length of each
/// segment but the last (which takes the rest). Aborts the test binary when
/// the pool is empty.
rte_mbuf* make_mbuf(const Bytes& bytes, std::vector<size_t> segments = {});
/// The packet's bytes across its chain. Borrows `m`.
Bytes to_bytes(const rte_mbuf* m);

/// RFC 1071 checksum, the obvious way: 16-bit big-endian words summed into
/// 32 bits, folded, complemented. Independent of src/net/checksum.cc.
uint16_t ref_checksum(const Bytes& data);
/// Sum (not complemented) of `data` the same obvious way, unfolded.
uint32_t ref_sum(const Bytes& data, uint32_t sum = 0);
uint16_t ref_fold_complement(uint32_t sum);

// Byte helpers.
void put16(Bytes& b, uint16_t v);
void put32(Bytes& b, uint32_t v);
void append(Bytes& b, const Bytes& more);
uint16_t get16(const Bytes& b, size_t at);
Bytes mac_bytes(const MacAddr& m);

// Frame builder.
Bytes eth(const MacAddr& dst, const MacAddr& src, uint16_t type,
          std::optional<uint16_t> vlan_tci = std::nullopt);
Bytes arp(uint16_t op, const MacAddr& sha, Ipv4Addr spa, const MacAddr& tha,
          Ipv4Addr tpa);

struct Ipv4Opts {
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  uint16_t frag = 0x4000;  // DF
  uint8_t ttl = 64;
  Bytes options;  // appended after the 20-byte header (multiple of 4)
  std::optional<uint8_t> version_ihl;  // override
  std::optional<uint16_t> total_len;   // override
  bool corrupt_checksum = false;
};
Bytes ipv4(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, const Bytes& payload,
           const Ipv4Opts& o = {});
/// An ICMP message (RFC 792): type, code, the checksum over the message,
/// then `rest` (the second word and what follows).
Bytes icmp4(uint8_t type, uint8_t code, const Bytes& rest);
/// ICMP echo (type 8 request / 0 reply) with its checksum.
Bytes icmp_echo(uint8_t type, uint16_t id, uint16_t seq, const Bytes& data);

/// ICMP "fragmentation needed" (type 3, code 4, RFC 1191 section 4) with
/// its next-hop MTU, quoting `quote`, with the checksum.
Bytes icmp_frag_needed(uint16_t mtu, const Bytes& quote);
/// The first 8 bytes of a TCP header: ports and sequence number (what an
/// ICMP error quotes after the IP header).
Bytes tcp_quote(uint16_t sport, uint16_t dport, uint32_t seq);

Bytes ipv6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next,
           const Bytes& payload, uint8_t hop_limit = 64,
           std::optional<uint16_t> payload_len = std::nullopt);
/// An ICMPv6 message with the checksum over the pseudo-header
/// (RFC 4443 2.3): `body` follows type, code and checksum.
Bytes icmp6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t type,
            uint8_t code, const Bytes& body);
/// NS/NA bodies (after type/code/checksum).
Bytes ns_body(const Ipv6Addr& target, std::optional<MacAddr> slla);
Bytes na_body(uint32_t flags, const Ipv6Addr& target,
              std::optional<MacAddr> tlla);
/// Pseudo-header sum for ICMPv6/TCP over IPv6.
uint32_t ref_pseudo6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next,
                     uint32_t len);
uint32_t ref_pseudo4(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, uint16_t len);

Ipv6Addr ip6(std::initializer_list<uint16_t> groups);  // leading groups, rest 0

// The addresses the fixture's stack and its peer use.
inline constexpr MacAddr kOurMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
inline constexpr MacAddr kPeerMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
inline constexpr Ipv4Addr kOurIp = Ipv4Addr::of(198, 18, 0, 2);
inline constexpr Ipv4Addr kPeerIp = Ipv4Addr::of(198, 18, 0, 1);
Ipv6Addr our_ip6();   // 2001:db8::2
Ipv6Addr peer_ip6();  // 2001:db8::1

/// Base fixture: checks after the test (and after derived members are
/// destroyed) that every mbuf went back to the pool.
class LeakCheckedTest : public ::testing::Test {
 protected:
  LeakCheckedTest();
  ~LeakCheckedTest() override;
};

/// A stack on kOurMac / kOurIp/24 / our_ip6()/64 with a fake clock.
class StackTest : public LeakCheckedTest {
 protected:
  StackTest();
  ~StackTest() override;

  /// Default configuration of the fixture's stack.
  static NetConfig default_config();
  /// Replaces the stack (e.g. with another configuration).
  void rebuild(const NetConfig& config);

  /// Feeds one frame (split into `segments` if given) at now_.
  void rx(const Bytes& frame, std::vector<size_t> segments = {});
  void rx_mbuf(rte_mbuf* m);
  /// Drains every frame to transmit, as bytes (the mbufs are freed).
  std::vector<Bytes> tx();
  /// Drains deliveries; the caller owns them (use MbufPtr).
  std::vector<L4Packet> deliveries();
  uint64_t drops(DropReason r) const { return stack_->stats().drop(r); }
  /// Advances the fake clock by `ms` (clock_hz = 1e9) and ticks.
  void advance_ms(uint64_t ms);

  std::unique_ptr<NetStack> stack_;
  uint64_t now_ = 1'000'000'000;
};

}  // namespace dptls::net::testing
