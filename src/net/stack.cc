// Frame dispatch (IEEE 802.3 / 802.1Q), the transmit and delivery queues,
// neighbour-resolution glue and construction of the per-worker stack.
#include "dptls/net/stack.h"

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <new>

#include "dptls/net/checksum.h"
#include "dptls/util/bytes.h"
#include "net/mbuf_util.h"
#include "net/wire.h"

namespace dptls::net {
namespace {

uint64_t ms_to_ticks(uint64_t ms, uint64_t hz) {
  return (ms / 1000) * hz + (ms % 1000) * hz / 1000;
}

}  // namespace

std::string NetConfig::validate() const {
  if (mac.is_multicast() || mac.is_zero()) {
    return "mac must be a unicast address";
  }
  if (vlan_id >= 4095) {
    return "vlan_id must be below 4095";
  }
  if (ipv4.size() > kMaxAddresses || ipv6.size() > kMaxAddresses) {
    return "at most 8 addresses per family";
  }
  // Never an address the stack would refuse as a peer's source (rx_ipv4,
  // rx_ipv6): nothing sent from it could be answered.
  for (const Ipv4Interface& a : ipv4) {
    if (a.prefix_len > 32 || a.addr.is_martian_source()) {
      return "bad IPv4 address or prefix length";
    }
  }
  for (const Ipv6Interface& a : ipv6) {
    if (a.prefix_len > 128 || a.addr.is_unspecified() ||
        a.addr.is_multicast() || a.addr.is_loopback() ||
        a.addr.is_v4_mapped()) {
      return "bad IPv6 address or prefix length";
    }
  }
  // RFC 791 section 3.2: every host must accept 68-byte datagrams;
  // RFC 8200 section 5: IPv6 links carry at least 1280.
  if (mtu < 68 || ((!ipv6.empty() || ipv6_link_local) && mtu < 1280)) {
    return "mtu below 68 (1280 with IPv6)";
  }
  if (tx_offloads.tso_max_payload != 0 &&
      (!tx_offloads.tcp_checksum ||
       tx_offloads.tso_max_payload > kMaxTsoPayload)) {
    return "TSO needs the TCP checksum offload and at most 65455 bytes per "
           "send";
  }
  if (clock_hz == 0 || requests_per_sec == 0 || request_burst == 0) {
    return "clock_hz, requests_per_sec and request_burst must be non-zero";
  }
  if (arp_cache_size == 0 || nd_cache_size == 0 || neighbor_queue_len == 0 ||
      max_probes == 0 || retrans_ms == 0) {
    return "neighbour cache sizes, queue length, probes and retrans_ms must "
           "be non-zero";
  }
  constexpr uint32_t kMaxQueue = 1u << 20;
  if (tx_queue_size == 0 || tx_queue_size > kMaxQueue ||
      delivery_queue_size == 0 || delivery_queue_size > kMaxQueue) {
    return "tx_queue_size and delivery_queue_size must be in [1, 2^20]";
  }
  if (ttl == 0) {
    return "ttl must be non-zero";
  }
  return {};
}

std::unique_ptr<NetStack> NetStack::create(const NetConfig& config,
                                           rte_mempool* pool,
                                           std::string* error) {
  std::string why = config.validate();
  if (why.empty() && pool == nullptr) {
    why = "no mempool";
  }
  if (!why.empty()) {
    if (error != nullptr) {
      *error = why;
    }
    return nullptr;
  }
  return std::unique_ptr<NetStack>(new NetStack(config, pool));
}

NetStack::NetStack(const NetConfig& config, rte_mempool* pool)
    : mac_(config.mac),
      vlan_id_(config.vlan_id),
      mtu_(config.mtu),
      ttl_(config.ttl),
      tx_offloads_(config.tx_offloads),
      ipv4_gateway_(config.ipv4_gateway),
      ipv6_gateway_(config.ipv6_gateway),
      pool_(pool),
      tx_(config.tx_queue_size),
      deliveries_(config.delivery_queue_size),
      arp_(NeighborConfig{
          .capacity = config.arp_cache_size,
          .queue_len = config.neighbor_queue_len,
          .reachable_ticks = ms_to_ticks(config.reachable_ms, config.clock_hz),
          .stale_ticks = ms_to_ticks(config.stale_ms, config.clock_hz),
          .retrans_ticks = ms_to_ticks(config.retrans_ms, config.clock_hz),
          .max_probes = config.max_probes,
          .max_incomplete = config.neighbor_max_incomplete,
          .gateway = config.ipv4_gateway.is_zero()
                         ? NeighborKey{}
                         : NeighborKey::of(config.ipv4_gateway)}),
      nd_(NeighborConfig{
          .capacity = config.nd_cache_size,
          .queue_len = config.neighbor_queue_len,
          .reachable_ticks = ms_to_ticks(config.reachable_ms, config.clock_hz),
          .stale_ticks = ms_to_ticks(config.stale_ms, config.clock_hz),
          .retrans_ticks = ms_to_ticks(config.retrans_ms, config.clock_hz),
          .max_probes = config.max_probes,
          .max_incomplete = config.neighbor_max_incomplete,
          .gateway = NeighborKey::of(config.ipv6_gateway)}) {
  for (const Ipv4Interface& a : config.ipv4) {
    ipv4_[n_ipv4_++] = a;
  }
  if (config.ipv6_link_local) {
    ipv6_[n_ipv6_++] = Ipv6Interface{Ipv6Addr::link_local_from_mac(mac_), 64};
  }
  for (const Ipv6Interface& a : config.ipv6) {
    ipv6_[n_ipv6_++] = a;
  }
  request_rate_ = config.requests_per_sec;
  request_cost_ = config.clock_hz;
  request_credit_max_ = uint64_t{config.request_burst} * config.clock_hz;
  request_credit_ = request_credit_max_;
}

NetStack::~NetStack() {
  rte_mbuf* m = nullptr;
  while (tx_.pop(&m, 1) == 1) {
    rte_pktmbuf_free(m);
  }
  L4Packet p;
  while (deliveries_.pop(&p, 1) == 1) {
    rte_pktmbuf_free(p.mbuf);
  }
  arp_.clear(*this);
  nd_.clear(*this);
}

bool NetStack::is_local(Ipv4Addr a) const {
  for (uint8_t i = 0; i < n_ipv4_; ++i) {
    if (ipv4_[i].addr == a) {
      return true;
    }
  }
  return false;
}

bool NetStack::is_local(const Ipv6Addr& a) const {
  for (uint8_t i = 0; i < n_ipv6_; ++i) {
    if (ipv6_[i].addr == a) {
      return true;
    }
  }
  return false;
}

uint16_t NetStack::rx(rte_mbuf** pkts, uint16_t n, uint64_t now) {
  now_ = now;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) {
      rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    }
    rx_one(pkts[i], now);
  }
  return n;
}

void NetStack::learn_from(rte_mbuf* m, uint64_t now) {
  if (!is_neighbor_frame(m)) {
    return drop(m, DropReason::kEthUnknownType);
  }
  ++stats_.neighbor_shared_rx;
  learn_only_ = true;
  rx_one(m, now);
  learn_only_ = false;
}

bool NetStack::is_neighbor_frame(const rte_mbuf* m) {
  const std::span<const uint8_t> b = first_segment(m);
  if (b.size() < wire::kEthHeaderLen) {
    return false;
  }
  size_t l2 = wire::kEthHeaderLen;
  uint16_t type = static_cast<uint16_t>(b[12] << 8 | b[13]);
  if (type == wire::kEtherTypeVlan && b.size() >= wire::kEthVlanHeaderLen) {
    l2 = wire::kEthVlanHeaderLen;
    type = static_cast<uint16_t>(b[16] << 8 | b[17]);
  }
  if (type == wire::kEtherTypeArp) {
    return true;
  }
  // IPv6, next header ICMPv6 (58), type 135 (NS) or 136 (NA).
  return type == wire::kEtherTypeIpv6 && b.size() > l2 + 40 &&
         b[l2 + 6] == 58 && (b[l2 + 40] == 135 || b[l2 + 40] == 136);
}

void NetStack::rx_one(rte_mbuf* m, uint64_t now) {
  ++stats_.rx_packets;
  stats_.rx_bytes += m->pkt_len;
  // The parsers adjust and trim the mbuf, so its metadata must be ours
  // alone. A clone (an indirect mbuf) is fine; the same mbuf referenced
  // twice is not.
  if (rte_mbuf_refcnt_read(m) != 1) {
    return drop(m, DropReason::kMbufNotWritable);
  }
  if (auto bad =
          check_header(m, wire::kEthHeaderLen, DropReason::kEthTruncated)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m));
  RxFrame f{m, wire::kEthHeaderLen, {}, {}};
  uint16_t type = 0;
  r.copy(f.dst.b);
  r.copy(f.src.b);
  r.u16(&type);

  // IEEE 802.1Q: one tag, either left in the frame or already stripped by
  // the port (RTE_MBUF_F_RX_VLAN_STRIPPED with the TCI in vlan_tci).
  const bool port_stripped = (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) != 0;
  uint16_t vid = port_stripped ? (m->vlan_tci & 0x0fff) : 0;
  if (type == wire::kEtherTypeVlan) {
    if (port_stripped) {
      return drop(m, DropReason::kVlanStacked);
    }
    if (auto bad = check_header(m, wire::kEthVlanHeaderLen,
                                DropReason::kEthTruncated)) {
      return drop(m, *bad);
    }
    uint16_t tci = 0;
    r.u16(&tci);
    r.u16(&type);
    f.l2_len = wire::kEthVlanHeaderLen;
    vid = tci & 0x0fff;
    // Record the tag as a port would have: the layers above see it in
    // vlan_tci, never in the data (they start past l2_len).
    m->vlan_tci = tci;
    m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
  }
  if (type == wire::kEtherTypeVlan || type == wire::kEtherTypeQinQ ||
      type == wire::kEtherTypeQinQOld) {
    return drop(m, DropReason::kVlanStacked);
  }
  // Untagged and priority-tagged (VID 0) frames belong to VLAN 0.
  if (vid != vlan_id_) {
    return drop(m, DropReason::kVlanMismatch);
  }
  // IEEE 802.3 clause 3.2.3: a group address is never a source.
  if (f.src.is_multicast()) {
    return drop(m, DropReason::kEthBadSource);
  }
  if (!f.dst.is_multicast() && f.dst != mac_) {
    return drop(m, DropReason::kEthNotForUs);
  }
  m->l2_len = f.l2_len;
  switch (type) {
    case wire::kEtherTypeIpv4:
      return rx_ipv4(f, now);
    case wire::kEtherTypeArp:
      return rx_arp(f, now);
    case wire::kEtherTypeIpv6:
      return rx_ipv6(f, now);
    default:
      return drop(m, DropReason::kEthUnknownType);
  }
}

void NetStack::drop(rte_mbuf* m, DropReason reason) {
  count_drop(reason);
  rte_pktmbuf_free(m);
}

bool NetStack::push_tx(rte_mbuf* m) {
  if (!tx_.push(m)) {
    drop(m, DropReason::kTxQueueFull);
    return false;
  }
  ++stats_.tx_packets;
  return true;
}

void NetStack::deliver(const L4Packet& p) {
  if (!deliveries_.push(p)) {
    return drop(p.mbuf, DropReason::kDeliveryQueueFull);
  }
  if (p.protocol != wire::kProtoTcp) {
    ++stats_.icmp_too_big_rx;
  } else if (p.family == L3Family::kIpv4) {
    ++stats_.delivered_tcp4;
  } else {
    ++stats_.delivered_tcp6;
  }
}

// Consumes m: hands TCP an ICMP too-big report whose quoted TCP header
// starts at byte `quoted_l4_off` (checked to lie in the first segment).
void NetStack::deliver_too_big(rte_mbuf* m, uint32_t quoted_l4_off,
                               L4Packet report) {
  rte_pktmbuf_adj(m, static_cast<uint16_t>(quoted_l4_off));
  report.mbuf = m;
  report.ttl = 0;
  report.tos = 0;
  report.flow_label = 0;
  report.pseudo_sum = 0;
  deliver(report);
}

uint16_t NetStack::poll_deliveries(L4Packet* out, uint16_t n) {
  return static_cast<uint16_t>(deliveries_.pop(out, n));
}

uint16_t NetStack::drain_tx(rte_mbuf** out, uint16_t n) {
  return static_cast<uint16_t>(tx_.pop(out, n));
}

void NetStack::tick(uint64_t now) {
  now_ = now;
  arp_.tick(now, *this);
  nd_.tick(now, *this);
  stats_.neighbor_expired = arp_.expired() + nd_.expired();
}

bool NetStack::prepend_l2(rte_mbuf* m, const MacAddr& dst, uint16_t ethertype) {
  const uint16_t len =
      vlan_id_ != 0 ? wire::kEthVlanHeaderLen : wire::kEthHeaderLen;
  char* p = rte_pktmbuf_prepend(m, len);
  if (p == nullptr) {
    return false;
  }
  ByteWriter w(reinterpret_cast<uint8_t*>(p), len);
  w.bytes(dst.b);
  w.bytes(mac_.b);
  if (vlan_id_ != 0) {
    w.u16(wire::kEtherTypeVlan);
    w.u16(vlan_id_);  // PCP 0, DEI 0
  }
  w.u16(ethertype);
  m->l2_len = len;
  return w.ok();
}

rte_mbuf* NetStack::blank_from(rte_mbuf* m) {
  if (writable(m)) {
    if (m->next != nullptr) {
      rte_pktmbuf_free(m->next);
      m->next = nullptr;
    }
    rte_pktmbuf_reset(m);
    return m;
  }
  rte_pktmbuf_free(m);
  rte_mbuf* fresh = rte_pktmbuf_alloc(pool_);
  if (fresh == nullptr) {
    ++stats_.mbuf_alloc_failed;
  }
  return fresh;
}

bool NetStack::take_request_token(uint64_t now) {
  if (now > last_refill_) {
    // Cap the elapsed time before multiplying so the product cannot wrap.
    const uint64_t full_after = request_credit_max_ / request_rate_ + 1;
    const uint64_t elapsed = std::min(now - last_refill_, full_after);
    request_credit_ = std::min(request_credit_max_,
                               request_credit_ + elapsed * request_rate_);
    last_refill_ = now;
  }
  if (request_credit_ < request_cost_) {
    ++stats_.requests_rate_limited;
    return false;
  }
  request_credit_ -= request_cost_;
  return true;
}

OutputResult NetStack::resolve_and_send(NeighborTable& table,
                                        const NeighborKey& key, rte_mbuf* m,
                                        uint64_t now) {
  MacAddr mac;
  switch (table.resolve(key, m, now, *this, &mac)) {
    case ResolveResult::kResolved: {
      ByteWriter w(first_segment_mut(m).first(6));
      w.bytes(mac.b);
      return push_tx(m) ? OutputResult::kQueued : OutputResult::kDropped;
    }
    case ResolveResult::kQueued:
      ++stats_.neighbor_queued;
      return OutputResult::kParked;
    case ResolveResult::kQueueFull:
      drop(m, DropReason::kNeighborQueueFull);
      return OutputResult::kDropped;
    case ResolveResult::kTableFull:
      drop(m, DropReason::kNeighborTableFull);
      return OutputResult::kDropped;
    case ResolveResult::kIncompleteLimit:
      drop(m, DropReason::kNeighborIncompleteLimit);
      return OutputResult::kDropped;
  }
  drop(m, DropReason::kNoRoute);
  return OutputResult::kDropped;
}

bool NetStack::solicit(const NeighborKey& key, const MacAddr* unicast,
                       const rte_mbuf* hint) {
  if (!take_request_token(now_)) {
    return false;
  }
  if (key.is_ipv4()) {
    return send_arp_request(key.ipv4(), unicast);
  }
  return send_ns(key.ipv6(), unicast, hint);
}

void NetStack::release(rte_mbuf* m, const MacAddr& mac) {
  // Parked frames carry their Ethernet header with a zero destination.
  ByteWriter w(first_segment_mut(m).first(6));
  w.bytes(mac.b);
  ++stats_.neighbor_released;
  push_tx(m);
}

void NetStack::drop_unresolved(rte_mbuf* m) {
  drop(m, DropReason::kNeighborUnresolved);
}

bool l4_checksum_ok(const L4Packet& p) {
  switch (p.mbuf->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
    case RTE_MBUF_F_RX_L4_CKSUM_NONE:  // data integrity verified
      return true;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:
      return false;
    default:
      return verify_l4_checksum(p.mbuf, 0, p.mbuf->pkt_len, p.pseudo_sum);
  }
}

}  // namespace dptls::net
