// The per-worker L2/L3 layer: Ethernet with 802.1Q, ARP, IPv4, ICMP echo,
// IPv6 with extension headers, Neighbor Discovery and ICMPv6 echo, over
// DPDK mbufs.
//
// Sans-IO: the stack never calls ethdev. The worker hands it received
// frames and the current time, then takes from it the frames to transmit
// (drain_tx) and the TCP segments for the layer above (poll_deliveries):
//
//   n = rte_eth_rx_burst(port, q, pkts, kBurst);
//   stack.rx(pkts, n, now);
//   k = stack.poll_deliveries(segs, kBurst);   // -> TCP (owns the mbufs)
//   ... TCP calls stack.output_ipv4/6() ...
//   stack.tick(now);
//   t = stack.drain_tx(out, kBurst);
//   sent = rte_eth_tx_burst(port, q, out, t);  // free out[sent..t)
//
// Mbuf ownership is explicit on every function: "borrows" leaves the mbuf
// with the caller; "consumes" takes it (the stack transmits, parks, delivers
// or frees it, and counts a drop reason whenever it frees one unsent).
// Headers must lie in an mbuf's first segment; a frame whose headers do not
// is dropped (kHeaderNotInFirstSegment). Payloads may span any number of
// segments.
//
// After create() returns, nothing allocates from the heap, throws, locks or
// makes a syscall. One instance per worker; not thread-safe.
#pragma once

#include <rte_common.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dptls/net/addr.h"
#include "dptls/net/drop_reason.h"
#include "dptls/net/fixed_ring.h"
#include "dptls/net/neighbor.h"
#include "dptls/net/stats.h"

struct rte_mbuf;
struct rte_mempool;

namespace dptls::net {

/// An IPv4 address assigned to the interface, with its on-link prefix.
struct Ipv4Interface {
  Ipv4Addr addr;
  uint8_t prefix_len = 24;
};

/// An IPv6 address assigned to the interface, with its on-link prefix.
struct Ipv6Interface {
  Ipv6Addr addr;
  uint8_t prefix_len = 64;
};

/// Most addresses per family on one stack.
inline constexpr size_t kMaxAddresses = 8;

/// Headroom output_ipv4/6 need in front of the L4 header: an IPv6 header
/// and an 802.1Q-tagged Ethernet header.
inline constexpr uint16_t kOutputHeadroom = 40 + 18;

/// Largest TSO payload: the datagram's 16-bit length must hold it with a
/// 20-byte IPv4 header and a 60-byte TCP header.
inline constexpr uint32_t kMaxTsoPayload = 65535 - 20 - 60;

/// Transmit work the port does for the stack (set from the port's
/// capabilities, see port_offloads.h). Off: the stack does it in software.
struct TxOffloads {
  /// The port fills IPv4 header checksums (RTE_MBUF_F_TX_IP_CKSUM).
  bool ipv4_checksum = false;
  /// The port fills TCP checksums over IPv4 and IPv6; the stack leaves the
  /// pseudo-header sum in the field (RTE_MBUF_F_TX_TCP_CKSUM).
  bool tcp_checksum = false;
  /// Most TCP payload bytes handed to the port in one TSO send
  /// (RTE_MBUF_F_TX_TCP_SEG), which it cuts into MSS-sized segments; 0: no
  /// TSO. Needs tcp_checksum.
  uint32_t tso_max_payload = 0;
  /// Most mbufs in one TSO send's chain (the port's nb_seg_max; 0: no
  /// limit). Sends are shortened to whole segments that fit.
  uint16_t tso_max_mbufs = 0;
};

/// Everything a stack is built from. Read once by NetStack::create().
struct NetConfig {
  /// The interface's MAC; frames to other unicast MACs are dropped.
  MacAddr mac;
  /// 802.1Q VLAN ID of the interface (0: untagged). Received frames must
  /// carry this VID (untagged and priority-tagged frames count as VID 0);
  /// every frame sent is tagged with it when non-zero.
  uint16_t vlan_id = 0;
  /// Largest IP datagram sent (output_ipv4/6 drop bigger ones).
  uint16_t mtu = 1500;

  std::vector<Ipv4Interface> ipv4;
  /// Next hop for off-link IPv4 destinations (0: none; they are dropped).
  Ipv4Addr ipv4_gateway;
  std::vector<Ipv6Interface> ipv6;
  /// Also own fe80::/64 with the MAC's modified EUI-64 (RFC 4862 5.3).
  bool ipv6_link_local = true;
  /// Next hop for off-link IPv6 destinations (unspecified: none).
  Ipv6Addr ipv6_gateway;

  /// Ticks per second of the `now` passed to the stack: 1e9 for a
  /// nanosecond clock, rte_get_tsc_hz() for the TSC.
  uint64_t clock_hz = 1'000'000'000;
  /// Entries in the ARP and ND caches.
  uint32_t arp_cache_size = 256;
  uint32_t nd_cache_size = 256;
  /// Packets parked per unresolved neighbour.
  uint16_t neighbor_queue_len = 4;
  /// Entries per cache that may be resolving (Incomplete) at once; more
  /// resolutions are dropped (kNeighborIncompleteLimit), except for the
  /// gateway's, which always gets an entry (RFC 6583 section 7). 0: a
  /// quarter of the cache size, at least 1; the cache size or more: no
  /// limit.
  uint32_t neighbor_max_incomplete = 0;
  /// Neighbour timers (RFC 4861 section 10 defaults).
  uint32_t reachable_ms = 30'000;
  uint32_t stale_ms = 60'000;
  uint32_t retrans_ms = 1'000;
  uint8_t max_probes = 3;
  /// Rate limit on ARP requests and neighbour solicitations together:
  /// a token bucket of `request_burst` refilled at `requests_per_sec`.
  uint32_t requests_per_sec = 100;
  uint32_t request_burst = 10;
  /// Frames awaiting drain_tx(); more are dropped (kTxQueueFull).
  uint32_t tx_queue_size = 1024;
  /// Segments awaiting poll_deliveries(); more are dropped
  /// (kDeliveryQueueFull).
  uint32_t delivery_queue_size = 512;
  /// TTL / hop limit of datagrams we originate.
  uint8_t ttl = 64;
  /// Checksums and segmentation left to the port.
  TxOffloads tx_offloads;

  /// Empty when usable, else what is wrong.
  std::string validate() const;
};

/// Address family of a delivered segment.
enum class L3Family : uint8_t { kIpv4, kIpv6 };

/// An upper-layer segment handed up by rx(): the seam to TCP.
struct L4Packet {
  /// Owned by whoever took this from poll_deliveries(). Its data starts at
  /// the L4 header and pkt_len is exactly the L4 length (link padding is
  /// trimmed); l2_len and l3_len record the stripped headers, ol_flags keeps
  /// the port's RX_L4_CKSUM_* verdict and the VLAN tag (vlan_tci).
  rte_mbuf* mbuf = nullptr;
  L3Family family = L3Family::kIpv4;
  /// IPPROTO_TCP, or IPPROTO_ICMP / IPPROTO_ICMPV6 for an ICMP too-big
  /// report about one of our TCP datagrams (IPv4 "fragmentation needed",
  /// RFC 1191; ICMPv6 Packet Too Big, RFC 8201): then the mbuf starts at
  /// the quoted TCP header (at least 8 bytes, in the first segment), the
  /// addresses are the quoted datagram's (src is ours), `mtu` holds the
  /// reported next-hop MTU, and ttl, tos and pseudo_sum are 0.
  uint8_t protocol = 0;
  /// ICMP too-big reports: the next-hop MTU (IPv4: RFC 1191 section 5's
  /// plateau below the quoted length when the router reported 0; IPv6:
  /// at least 1280, smaller reports are discarded per RFC 8201 section 4).
  uint16_t mtu = 0;
  /// TTL or hop limit as received.
  uint8_t ttl = 0;
  /// TOS / traffic class (DSCP and ECN, RFC 3168).
  uint8_t tos = 0;
  /// IPv6 flow label (0 for IPv4).
  uint32_t flow_label = 0;
  /// Addresses of the family in use; the other pair is zero.
  Ipv4Addr src4;
  Ipv4Addr dst4;
  Ipv6Addr src6;
  Ipv6Addr dst6;
  /// The pseudo-header sum for the L4 checksum (see checksum.h).
  uint32_t pseudo_sum = 0;
};

/// True when the segment's L4 checksum is right: the port's verdict when it
/// gave one (RTE_MBUF_F_RX_L4_CKSUM_GOOD/BAD), else computed over the chain
/// with the pseudo-header. Borrows p.mbuf.
bool l4_checksum_ok(const L4Packet& p);

/// What an output_ipv4/6 call did with the packet.
enum class OutputResult : uint8_t {
  kQueued,   // in the transmit queue
  kParked,   // waiting for its next hop to resolve
  kDropped,  // freed and counted
};

/// IPv4 header fields for output_ipv4().
struct Ipv4Output {
  Ipv4Addr src;  // one of ours; the caller's L4 checksum already covers it
  Ipv4Addr dst;
  uint8_t protocol = 6;
  uint8_t tos = 0;
  uint8_t ttl = 0;  // 0: NetConfig::ttl
  bool dont_fragment = true;
};

/// IPv6 header fields for output_ipv6().
struct Ipv6Output {
  Ipv6Addr src;  // one of ours
  Ipv6Addr dst;
  uint8_t next_header = 6;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;
  uint8_t hop_limit = 0;  // 0: NetConfig::ttl
};

/// One worker's L2/L3 state. Cache-aligned; touched by its worker only.
class alignas(RTE_CACHE_LINE_SIZE) NetStack final : private NeighborSink {
 public:
  /// Builds a stack, allocating every table. `pool` supplies the mbufs the
  /// stack originates (ARP requests, solicitations) and must outlive it.
  /// Returns null and sets *error when the configuration is invalid.
  static std::unique_ptr<NetStack> create(const NetConfig& config,
                                          rte_mempool* pool,
                                          std::string* error);
  /// Frees every mbuf still queued, parked or undelivered.
  ~NetStack() override;
  NetStack(const NetStack&) = delete;
  NetStack& operator=(const NetStack&) = delete;

  /// Processes received frames. Consumes pkts[0..n): each is answered
  /// (queued for drain_tx), delivered (poll_deliveries), absorbed (ARP
  /// replies, advertisements) or dropped and counted. Returns n. Each head
  /// mbuf must be exclusively the caller's (refcnt 1; a clone is fine):
  /// the stack adjusts and trims it, and answers in place when the buffer
  /// is direct and unshared, else (ARP requests, solicitations) in a fresh
  /// mbuf from the pool; an echo request in a shared buffer is dropped
  /// (kMbufNotWritable).
  uint16_t rx(rte_mbuf** pkts, uint16_t n, uint64_t now);

  /// With RSS, a port hands ARP and Neighbor Discovery frames to one
  /// queue, so one worker's stack hears the answer to another's request.
  /// A worker copies such frames (is_neighbor_frame) to the others, which
  /// pass them here: the neighbour caches learn from them exactly as rx()
  /// would (parked packets are released), and nothing is answered or
  /// delivered. Consumes `m` (the same ownership rules as rx()).
  void learn_from(rte_mbuf* m, uint64_t now);

  /// True for a frame every worker should learn from: ARP, or an ICMPv6
  /// neighbour solicitation or advertisement (no extension headers), with
  /// or without one 802.1Q tag. Borrows `m`.
  static bool is_neighbor_frame(const rte_mbuf* m);

  /// Moves up to `n` delivered segments to `out`, oldest first; the caller
  /// owns their mbufs. Returns how many.
  uint16_t poll_deliveries(L4Packet* out, uint16_t n);

  /// Sends an upper-layer message over IPv4. Consumes `m`, whose data starts
  /// at the L4 header with its checksum in place and kOutputHeadroom bytes of
  /// headroom. Prepends the IPv4 (RFC 791 section 3.1) and Ethernet
  /// headers, picks the next hop, and queues the frame or parks it until ARP
  /// resolves; drops and counts it on failure.
  OutputResult output_ipv4(rte_mbuf* m, const Ipv4Output& out, uint64_t now);

  /// As output_ipv4 for IPv6 (RFC 8200 section 3), resolving with ND.
  /// Consumes `m`.
  OutputResult output_ipv6(rte_mbuf* m, const Ipv6Output& out, uint64_t now);

  /// Runs neighbour timers due at `now` (request retransmission, ageing,
  /// giving up). Call every few milliseconds at least.
  void tick(uint64_t now);

  /// Moves up to `n` frames to transmit to `out`, oldest first; the caller
  /// owns them (pass to rte_eth_tx_burst and free what it refuses).
  uint16_t drain_tx(rte_mbuf** out, uint16_t n);
  /// Frames waiting for drain_tx().
  size_t tx_pending() const { return tx_.size(); }
  /// Frames the transmit queue can still take before it drops
  /// (kTxQueueFull); the TCP layer defers output below a reserve.
  size_t tx_space() const { return tx_.capacity() - tx_.size(); }
  /// Largest IP datagram sent (NetConfig::mtu).
  uint16_t mtu() const { return mtu_; }
  /// What the port does on transmit (NetConfig::tx_offloads).
  const TxOffloads& tx_offloads() const { return tx_offloads_; }

  const NetStats& stats() const { return stats_; }
  const NeighborTable& arp_table() const { return arp_; }
  const NeighborTable& nd_table() const { return nd_; }
  const MacAddr& mac() const { return mac_; }

  /// True when `a` is one of our unicast addresses.
  bool is_local(Ipv4Addr a) const;
  bool is_local(const Ipv6Addr& a) const;

 private:
  // Parsed Ethernet header of a received frame.
  struct RxFrame {
    rte_mbuf* m;
    uint16_t l2_len;
    MacAddr dst;
    MacAddr src;
  };

  NetStack(const NetConfig& config, rte_mempool* pool);

  // stack.cc: frame dispatch, queues, helpers.
  void rx_one(rte_mbuf* m, uint64_t now);
  void drop(rte_mbuf* m, DropReason reason);
  void count_drop(DropReason reason) {
    ++stats_.drops[static_cast<size_t>(reason)];
  }
  bool push_tx(rte_mbuf* m);
  void deliver(const L4Packet& p);
  void deliver_too_big(rte_mbuf* m, uint32_t quoted_l4_off, L4Packet report);
  bool prepend_l2(rte_mbuf* m, const MacAddr& dst, uint16_t ethertype);
  rte_mbuf* blank_from(rte_mbuf* m);
  bool take_request_token(uint64_t now);
  OutputResult resolve_and_send(NeighborTable& table, const NeighborKey& key,
                                rte_mbuf* m, uint64_t now);
  // NeighborSink.
  bool solicit(const NeighborKey& key, const MacAddr* unicast,
               const rte_mbuf* hint) override;
  void release(rte_mbuf* m, const MacAddr& mac) override;
  void drop_unresolved(rte_mbuf* m) override;

  // arp.cc
  void rx_arp(const RxFrame& f, uint64_t now);
  bool send_arp_request(Ipv4Addr target, const MacAddr* unicast);

  // ipv4.cc
  void rx_ipv4(const RxFrame& f, uint64_t now);
  void rx_icmp(const RxFrame& f, const L4Packet& ip, uint32_t l4_off);
  void rx_frag_needed(const RxFrame& f, const L4Packet& ip, uint32_t l4_off);
  bool is_ipv4_broadcast(Ipv4Addr a) const;
  Ipv4Addr ipv4_source_for(Ipv4Addr dst) const;

  // ipv6.cc
  void rx_ipv6(const RxFrame& f, uint64_t now);
  void rx_icmp6(const RxFrame& f, const L4Packet& ip, uint32_t l4_off,
                uint64_t now);
  void icmp6_echo(const RxFrame& f, const L4Packet& ip, uint32_t l4_off);
  void rx_packet_too_big(const RxFrame& f, const L4Packet& ip, uint32_t l4_off);
  bool is_our_ipv6_group(const Ipv6Addr& a) const;
  Ipv6Addr ipv6_source_for(const Ipv6Addr& dst) const;

  // ndp.cc
  void rx_ns(const RxFrame& f, const L4Packet& ip, uint32_t l4_off,
             uint64_t now);
  void rx_na(const RxFrame& f, const L4Packet& ip, uint32_t l4_off,
             uint64_t now);
  bool send_ns(const Ipv6Addr& target, const MacAddr* unicast,
               const rte_mbuf* hint);

  // Hot, read-mostly state first.
  MacAddr mac_;
  uint16_t vlan_id_;
  uint16_t mtu_;
  uint8_t ttl_;
  TxOffloads tx_offloads_;
  // learn_from() in progress: learn, never answer or deliver.
  bool learn_only_ = false;
  uint8_t n_ipv4_ = 0;
  uint8_t n_ipv6_ = 0;
  std::array<Ipv4Interface, kMaxAddresses> ipv4_{};
  std::array<Ipv6Interface, kMaxAddresses + 1> ipv6_{};
  Ipv4Addr ipv4_gateway_;
  Ipv6Addr ipv6_gateway_;
  rte_mempool* pool_;
  uint16_t next_ip_id_ = 0;
  // The time of the call in progress, for the NeighborSink callbacks.
  uint64_t now_ = 0;

  // Request rate limit: credit in ticks * requests_per_sec units.
  uint64_t request_credit_ = 0;
  uint64_t request_credit_max_ = 0;
  uint64_t request_cost_ = 0;
  uint64_t request_rate_ = 0;
  uint64_t last_refill_ = 0;

  FixedRing<rte_mbuf*> tx_;
  FixedRing<L4Packet> deliveries_;
  NeighborTable arp_;
  NeighborTable nd_;
  NetStats stats_;
};

}  // namespace dptls::net
