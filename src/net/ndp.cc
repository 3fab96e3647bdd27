// IPv6 Neighbor Discovery for a host (RFC 4861): answering neighbour
// solicitations for our addresses, learning from solicitations and
// advertisements, and the solicitations address resolution sends.
#include <rte_mbuf.h>

#include <optional>

#include "dptls/net/checksum.h"
#include "dptls/net/stack.h"
#include "dptls/util/bytes.h"
#include "net/ipv6_header.h"
#include "net/mbuf_util.h"
#include "net/wire.h"

namespace dptls::net {
namespace {

// NS/NA with one link-layer address option (RFC 4861 4.3, 4.4, 4.6.1).
constexpr uint16_t kNdWithLlaLen = wire::kNdMessageLen + 8;

// The checks RFC 4861 7.1.1 (NS) and 7.1.2 (NA) share: hop limit 255, at
// least the fixed part, and the whole message in the first segment.
std::optional<DropReason> nd_invalid(const rte_mbuf* m, const L4Packet& ip,
                                     uint32_t l4_off) {
  if (ip.ttl != wire::kNdHopLimit) {
    return DropReason::kNdpBadHopLimit;
  }
  if (m->pkt_len - l4_off < wire::kNdMessageLen) {
    return DropReason::kNdpMalformed;
  }
  return check_header(m, m->pkt_len, DropReason::kNdpMalformed);
}

// RFC 4861 4.6: walks the options; records the link-layer address option of
// type `want` (length 1 on Ethernet). False when an option has length zero
// or overruns the message (RFC 4861 7.1.1 / 7.1.2: such messages are
// invalid).
bool parse_options(ByteReader opts, uint8_t want, std::optional<MacAddr>* lla) {
  while (!opts.empty()) {
    uint8_t type = 0;
    uint8_t len = 0;
    if (!opts.u8(&type) || !opts.u8(&len) || len == 0) {
      return false;
    }
    std::span<const uint8_t> body;
    if (!opts.bytes(size_t{len} * 8 - 2, &body)) {
      return false;
    }
    if (type == want && len == 1) {
      MacAddr mac;
      ByteReader(body).copy(mac.b);
      *lla = mac;
    }
  }
  return true;
}

// Writes an NS or NA carrying one link-layer address option.
void write_nd(ByteWriter& w, uint8_t type, uint32_t flags,
              const Ipv6Addr& target, uint8_t opt_type, const MacAddr& mac) {
  w.u8(type);
  w.u8(0);   // code
  w.u16(0);  // checksum, filled in later
  w.u32(flags);
  w.bytes(target.b);
  w.u8(opt_type);
  w.u8(1);  // 8 octets
  w.bytes(mac.b);
}

}  // namespace

// Consumes f.m.
void NetStack::rx_ns(const RxFrame& f, const L4Packet& ip, uint32_t l4_off,
                     uint64_t now) {
  rte_mbuf* m = f.m;
  const uint32_t len = m->pkt_len - l4_off;
  // RFC 4861 7.1.1 validity checks.
  if (auto bad = nd_invalid(m, ip, l4_off)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m).subspan(l4_off, len));
  uint8_t type = 0;
  uint8_t code = 0;
  Ipv6Addr target;
  r.u8(&type);
  r.u8(&code);
  r.skip(2 + 4);  // checksum, reserved
  r.copy(target.b);
  if (code != 0) {
    return drop(m, DropReason::kNdpBadCode);
  }
  std::optional<MacAddr> slla;
  if (target.is_multicast() ||
      !parse_options(r, wire::kNdOptSourceLinkAddr, &slla)) {
    return drop(m, DropReason::kNdpMalformed);
  }
  const bool dad = ip.src6.is_unspecified();
  // Duplicate Address Detection probes go to the solicited-node group and
  // carry no source link-layer address.
  if (dad && (ip.dst6 != Ipv6Addr::solicited_node(target) || slla)) {
    return drop(m, DropReason::kNdpMalformed);
  }
  if (!is_local(target)) {
    return drop(m, DropReason::kNdpNotOurTarget);
  }
  ++stats_.ndp_ns_rx;
  // RFC 4861 7.2.3: the solicitation's source link-layer address creates or
  // updates the sender's entry (Stale when new or changed).
  if (!dad && slla) {
    const LearnInfo info{
        .create = true, .solicited = false, .override_mac = true};
    if (nd_.learn(NeighborKey::of(ip.src6), &*slla, info, now, *this)) {
      ++stats_.neighbor_learned;
    }
  }
  if (learn_only_) {  // another worker's frame: it answers
    rte_pktmbuf_free(m);
    return;
  }
  // RFC 4861 7.2.4: answer with the target as source, Solicited set unless
  // the solicitation was a DAD probe (then to all-nodes), Override set (no
  // anycast here), Router clear. Without a source link-layer option a
  // unicast solicitation is answered to the frame's source MAC.
  const Ipv6Addr ip_dst = dad ? Ipv6Addr::all_nodes() : ip.src6;
  const MacAddr eth_dst = dad    ? multicast_mac(Ipv6Addr::all_nodes())
                          : slla ? *slla
                                 : f.src;
  const uint32_t flags =
      wire::kNaFlagOverride | (dad ? 0 : wire::kNaFlagSolicited);
  rte_mbuf* out = blank_from(m);
  if (out == nullptr) {
    return count_drop(DropReason::kMbufNotWritable);
  }
  constexpr uint16_t kLen = wire::kIpv6HeaderLen + kNdWithLlaLen;
  char* p = rte_pktmbuf_append(out, kLen);
  if (p == nullptr) {
    return drop(out, DropReason::kNoHeadroom);
  }
  const std::span<uint8_t> bytes(reinterpret_cast<uint8_t*>(p), kLen);
  write_ipv6_header(bytes, 0, 0, kNdWithLlaLen, wire::kProtoIcmp6,
                    wire::kNdHopLimit, target, ip_dst);
  ByteWriter w(bytes.subspan(wire::kIpv6HeaderLen));
  write_nd(w, wire::kNdNeighborAdvert, flags, target,
           wire::kNdOptTargetLinkAddr, mac_);
  write_l4_checksum(
      out, wire::kIpv6HeaderLen, kNdWithLlaLen, 2,
      ipv6_pseudo_sum(target, ip_dst, wire::kProtoIcmp6, kNdWithLlaLen));
  out->l3_len = wire::kIpv6HeaderLen;
  if (!prepend_l2(out, eth_dst, wire::kEtherTypeIpv6)) {
    return drop(out, DropReason::kNoHeadroom);
  }
  ++stats_.ndp_na_tx;
  push_tx(out);
}

// Consumes f.m.
void NetStack::rx_na(const RxFrame& f, const L4Packet& ip, uint32_t l4_off,
                     uint64_t now) {
  rte_mbuf* m = f.m;
  const uint32_t len = m->pkt_len - l4_off;
  // RFC 4861 7.1.2 validity checks.
  if (auto bad = nd_invalid(m, ip, l4_off)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m).subspan(l4_off, len));
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t flags = 0;
  Ipv6Addr target;
  r.u8(&type);
  r.u8(&code);
  r.skip(2);  // checksum
  r.u32(&flags);
  r.copy(target.b);
  if (code != 0) {
    return drop(m, DropReason::kNdpBadCode);
  }
  const bool solicited = (flags & wire::kNaFlagSolicited) != 0;
  std::optional<MacAddr> tlla;
  if (target.is_multicast() || (ip.dst6.is_multicast() && solicited) ||
      !parse_options(r, wire::kNdOptTargetLinkAddr, &tlla)) {
    return drop(m, DropReason::kNdpMalformed);
  }
  // An advertisement for one of our own addresses means a duplicate
  // (RFC 4862 5.4.4); there is nothing to learn from it.
  if (!is_local(target)) {
    // RFC 4861 7.2.5: only an existing entry is updated.
    const LearnInfo info{.create = false,
                         .solicited = solicited,
                         .override_mac = (flags & wire::kNaFlagOverride) != 0};
    if (nd_.learn(NeighborKey::of(target), tlla ? &*tlla : nullptr, info, now,
                  *this)) {
      ++stats_.neighbor_learned;
    }
  }
  ++stats_.rx_absorbed;
  rte_pktmbuf_free(m);
}

bool NetStack::send_ns(const Ipv6Addr& target, const MacAddr* unicast,
                       const rte_mbuf* hint) {
  // RFC 4861 7.2.2: the source is that of the packet prompting the
  // solicitation when it is ours, else any of our addresses.
  Ipv6Addr src;
  if (hint != nullptr) {
    ByteReader r(first_segment(hint));
    Ipv6Addr hinted;
    if (r.skip(hint->l2_len + 8) && r.copy(hinted.b) && is_local(hinted)) {
      src = hinted;
    }
  }
  if (src.is_unspecified()) {
    src = ipv6_source_for(target);
  }
  if (src.is_unspecified()) {
    return false;
  }
  // RFC 4861 7.2.2: multicast to the target's solicited-node group; a
  // unicast probe (7.3.3) goes to the cached address.
  const Ipv6Addr ip_dst =
      unicast != nullptr ? target : Ipv6Addr::solicited_node(target);
  const MacAddr eth_dst = unicast != nullptr ? *unicast : multicast_mac(ip_dst);
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    ++stats_.mbuf_alloc_failed;
    return false;
  }
  constexpr uint16_t kLen = wire::kIpv6HeaderLen + kNdWithLlaLen;
  char* p = rte_pktmbuf_append(m, kLen);
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return false;
  }
  const std::span<uint8_t> bytes(reinterpret_cast<uint8_t*>(p), kLen);
  write_ipv6_header(bytes, 0, 0, kNdWithLlaLen, wire::kProtoIcmp6,
                    wire::kNdHopLimit, src, ip_dst);
  ByteWriter w(bytes.subspan(wire::kIpv6HeaderLen));
  // The source link-layer address option is a MUST for multicast
  // solicitations and a SHOULD for unicast ones (RFC 4861 7.2.2).
  write_nd(w, wire::kNdNeighborSolicit, 0, target, wire::kNdOptSourceLinkAddr,
           mac_);
  write_l4_checksum(
      m, wire::kIpv6HeaderLen, kNdWithLlaLen, 2,
      ipv6_pseudo_sum(src, ip_dst, wire::kProtoIcmp6, kNdWithLlaLen));
  m->l3_len = wire::kIpv6HeaderLen;
  if (!prepend_l2(m, eth_dst, wire::kEtherTypeIpv6)) {
    rte_pktmbuf_free(m);
    return false;
  }
  ++stats_.ndp_ns_tx;
  return push_tx(m);
}

}  // namespace dptls::net
