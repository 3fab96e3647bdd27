// IPv6 input and output (RFC 8200) with extension-header processing
// (section 4), the ICMPv6 dispatcher and echo responder (RFC 4443), and
// Packet Too Big reports for TCP (RFC 8201).
#include <rte_mbuf.h>

#include <algorithm>
#include <optional>

#include "dptls/net/checksum.h"
#include "dptls/net/stack.h"
#include "dptls/util/bytes.h"
#include "net/ipv6_header.h"
#include "net/mbuf_util.h"
#include "net/wire.h"

namespace dptls::net {
namespace {

// RFC 8200 4.2: walks the TLV options of a Hop-by-Hop or Destination
// Options header. Pad1 and PadN are skipped; an unrecognised option is
// skipped only when its action bits are 00, otherwise the packet is
// discarded (the ICMP Parameter Problem that actions 10 and 11 ask for is
// not sent).
std::optional<DropReason> check_options(ByteReader opts) {
  while (!opts.empty()) {
    uint8_t type = 0;
    opts.u8(&type);
    if (type == 0) {  // Pad1
      continue;
    }
    uint8_t len = 0;
    if (!opts.u8(&len) || !opts.skip(len)) {
      return DropReason::kIpv6BadExtensionHeader;
    }
    if (type == 1) {  // PadN
      continue;
    }
    if ((type >> 6) != 0) {
      return DropReason::kIpv6UnknownOption;
    }
  }
  return std::nullopt;
}

}  // namespace

bool NetStack::is_our_ipv6_group(const Ipv6Addr& a) const {
  if (a == Ipv6Addr::all_nodes()) {
    return true;
  }
  // RFC 4861 7.2.1: we join the solicited-node group of every address.
  for (uint8_t i = 0; i < n_ipv6_; ++i) {
    if (a == Ipv6Addr::solicited_node(ipv6_[i].addr)) {
      return true;
    }
  }
  return false;
}

Ipv6Addr NetStack::ipv6_source_for(const Ipv6Addr& dst) const {
  // A simplified RFC 6724 section 5: same scope, then longest match.
  const bool want_link_local = dst.is_link_local() || dst.is_multicast();
  for (uint8_t i = 0; i < n_ipv6_; ++i) {
    const Ipv6Interface& a = ipv6_[i];
    if (want_link_local ? a.addr.is_link_local()
                        : (!a.addr.is_link_local() &&
                           same_prefix(dst, a.addr, a.prefix_len))) {
      return a.addr;
    }
  }
  for (uint8_t i = 0; i < n_ipv6_; ++i) {
    if (ipv6_[i].addr.is_link_local() == want_link_local) {
      return ipv6_[i].addr;
    }
  }
  return n_ipv6_ > 0 ? ipv6_[0].addr : Ipv6Addr{};
}

// Consumes f.m.
void NetStack::rx_ipv6(const RxFrame& f, uint64_t now) {
  rte_mbuf* m = f.m;
  const uint32_t l3 = f.l2_len;
  if (auto bad = check_header(m, l3 + wire::kIpv6HeaderLen,
                              DropReason::kIpv6Truncated)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m));
  r.skip(l3);
  uint32_t ver_tc_flow = 0;
  uint16_t payload_len = 0;
  uint8_t next = 0;
  uint8_t hop_limit = 0;
  Ipv6Addr src;
  Ipv6Addr dst;
  r.u32(&ver_tc_flow);
  r.u16(&payload_len);
  r.u8(&next);
  r.u8(&hop_limit);
  r.copy(src.b);
  r.copy(dst.b);
  if ((ver_tc_flow >> 28) != 6) {
    return drop(m, DropReason::kIpv6BadVersion);
  }
  const uint32_t end = l3 + wire::kIpv6HeaderLen + payload_len;
  if (end > m->pkt_len) {
    return drop(m, DropReason::kIpv6PayloadLengthExceedsFrame);
  }
  // RFC 4291 2.7: multicast is never a source; RFC 4291 2.5.3: loopback
  // never leaves a node; RFC 4291 2.5.5.2: an IPv4-mapped address is for a
  // node's own API, and Linux drops it as a source on the wire. One of our
  // own addresses as the source is spoofed: it must neither be answered
  // nor teach the cache a MAC for it. The unspecified source is refused
  // later, where the upper layer is known (only DAD may use it).
  if (src.is_multicast() || src.is_loopback() || src.is_v4_mapped() ||
      is_local(src)) {
    return drop(m, DropReason::kIpv6BadSource);
  }
  const bool unicast = is_local(dst);
  if (!unicast && !is_our_ipv6_group(dst)) {
    return drop(m, DropReason::kIpv6NotForUs);
  }
  trim_chain(m, end);

  // RFC 8200 4.1: walk the extension headers. Hop-by-Hop may only come
  // first; Destination Options, a Routing header with no segments left and
  // the Fragment header of an atomic fragment are skipped; fragments are not
  // reassembled.
  uint32_t off = l3 + wire::kIpv6HeaderLen;
  bool atomic_fragment = false;
  for (int count = 0;; ++count) {
    if (next != wire::kIpv6HopByHop && next != wire::kIpv6DestOpts &&
        next != wire::kIpv6Routing && next != wire::kIpv6Fragment) {
      break;
    }
    if (count == wire::kIpv6MaxExtensionHeaders) {
      return drop(m, DropReason::kIpv6TooManyExtensionHeaders);
    }
    if (next == wire::kIpv6HopByHop && count != 0) {
      return drop(m, DropReason::kIpv6BadExtensionHeader);
    }
    if (off + 8 > end) {
      return drop(m, DropReason::kIpv6BadExtensionHeader);
    }
    if (auto bad =
            check_header(m, off + 8, DropReason::kIpv6BadExtensionHeader)) {
      return drop(m, *bad);
    }
    ByteReader h(first_segment(m).subspan(off));
    uint8_t following = 0;
    uint8_t ext_len = 0;
    h.u8(&following);
    h.u8(&ext_len);
    if (next == wire::kIpv6Fragment) {
      // RFC 8200 4.5: always 8 bytes (the second is reserved). Offset 0 with
      // M clear is an atomic fragment, a whole packet processed as if
      // reassembled (RFC 6946 section 4); real fragments are dropped.
      uint16_t offset_flags = 0;
      h.u16(&offset_flags);
      if ((offset_flags & (wire::kIpv6FragOffsetMask | wire::kIpv6FragMore)) !=
          0) {
        return drop(m, DropReason::kIpv6Fragment);
      }
      atomic_fragment = true;
      off += 8;
      next = following;
      continue;
    }
    // RFC 8200 4.3-4.6: length in 8-octet units, not counting the first 8.
    const uint32_t len = (uint32_t{ext_len} + 1) * 8;
    if (off + len > end) {
      return drop(m, DropReason::kIpv6BadExtensionHeader);
    }
    if (auto bad =
            check_header(m, off + len, DropReason::kIpv6BadExtensionHeader)) {
      return drop(m, *bad);
    }
    if (next == wire::kIpv6Routing) {
      // RFC 8200 4.4: with Segments Left zero the header is ignored; a
      // host is never an intermediate node, so anything else is dropped.
      uint8_t routing_type = 0;
      uint8_t segments_left = 0;
      h.u8(&routing_type);
      h.u8(&segments_left);
      if (segments_left != 0) {
        return drop(m, DropReason::kIpv6RoutingHeader);
      }
    } else {
      ByteReader opts(first_segment(m).subspan(off + 2, len - 2));
      if (auto bad = check_options(opts)) {
        return drop(m, *bad);
      }
    }
    off += len;
    next = following;
  }
  // l3_len is a 9-bit mbuf field; a longer header chain is not worth
  // supporting.
  if (off - l3 > 511) {
    return drop(m, DropReason::kIpv6TooManyExtensionHeaders);
  }
  // RFC 6980 section 5: Neighbor Discovery messages that use fragmentation,
  // atomic fragments included, are ignored.
  if (atomic_fragment && next == wire::kProtoIcmp6 && off < end &&
      first_segment(m).size() > off &&
      first_segment(m)[off] >= wire::kNdRouterSolicit &&
      first_segment(m)[off] <= wire::kNdRedirect) {
    return drop(m, DropReason::kIpv6Fragment);
  }
  m->l3_len = off - l3;

  L4Packet ip;
  ip.family = L3Family::kIpv6;
  ip.protocol = next;
  ip.ttl = hop_limit;
  ip.tos = static_cast<uint8_t>(ver_tc_flow >> 20);
  ip.flow_label = ver_tc_flow & 0xfffff;
  ip.src6 = src;
  ip.dst6 = dst;
  switch (next) {
    case wire::kProtoIcmp6:
      return rx_icmp6(f, ip, off, now);
    case wire::kProtoTcp:
      if (!unicast) {
        return drop(m, DropReason::kIpv6NotForUs);
      }
      // RFC 4291 2.5.2: "::" is the source of a node with no address yet
      // (DAD, RFC 4862 5.4); it names no one a segment could answer.
      if (src.is_unspecified()) {
        return drop(m, DropReason::kIpv6BadSource);
      }
      rte_pktmbuf_adj(m, static_cast<uint16_t>(off));
      ip.mbuf = m;
      ip.pseudo_sum = ipv6_pseudo_sum(src, dst, next, end - off);
      return deliver(ip);
    case wire::kIpv6NoNext:
      return drop(m, DropReason::kIpv6NoNextHeader);
    default:
      return drop(m, DropReason::kIpv6UnsupportedProtocol);
  }
}

// Consumes f.m, whose IPv6 packet has been validated and trimmed.
void NetStack::rx_icmp6(const RxFrame& f, const L4Packet& ip, uint32_t l4_off,
                        uint64_t now) {
  rte_mbuf* m = f.m;
  const uint32_t len = m->pkt_len - l4_off;
  if (len < wire::kIcmp6HeaderLen) {
    return drop(m, DropReason::kIcmp6Truncated);
  }
  if (auto bad = check_header(m, l4_off + wire::kIcmp6HeaderLen,
                              DropReason::kIcmp6Truncated)) {
    return drop(m, *bad);
  }
  // RFC 4443 2.3: the checksum covers the pseudo-header and the message.
  if (!verify_l4_checksum(
          m, l4_off, len,
          ipv6_pseudo_sum(ip.src6, ip.dst6, wire::kProtoIcmp6, len))) {
    return drop(m, DropReason::kIcmp6BadChecksum);
  }
  uint8_t type = 0;
  ByteReader r(first_segment(m).subspan(l4_off));
  r.u8(&type);
  // RFC 4291 2.5.2: "::" is the source of a node with no address yet; of
  // what we handle only a Duplicate Address Detection probe (a Neighbor
  // Solicitation, RFC 4862 5.4.2) comes from it. An echo request, an
  // advertisement or a too-big report from it names no one to answer or
  // believe.
  if (ip.src6.is_unspecified() && type != wire::kNdNeighborSolicit) {
    return drop(m, DropReason::kIpv6BadSource);
  }
  switch (type) {
    case wire::kIcmp6EchoRequest:
      return icmp6_echo(f, ip, l4_off);
    case wire::kNdNeighborSolicit:
      return rx_ns(f, ip, l4_off, now);
    case wire::kNdNeighborAdvert:
      return rx_na(f, ip, l4_off, now);
    case wire::kIcmp6PacketTooBig:
      return rx_packet_too_big(f, ip, l4_off);
    default:
      // Router and multicast-listener messages among others: nothing for a
      // host with static configuration to do.
      return drop(m, DropReason::kIcmp6UnhandledType);
  }
}

// Consumes f.m.
void NetStack::icmp6_echo(const RxFrame& f, const L4Packet& ip,
                          uint32_t l4_off) {
  rte_mbuf* m = f.m;
  const uint32_t len = m->pkt_len - l4_off;
  if (len < 8) {
    return drop(m, DropReason::kIcmp6Truncated);
  }
  if (auto bad = check_header(m, l4_off + 8, DropReason::kIcmp6Truncated)) {
    return drop(m, *bad);
  }
  // RFC 4443 4.2: a reply to a multicast request comes from one of our
  // unicast addresses.
  const Ipv6Addr src = is_local(ip.dst6) ? ip.dst6 : ipv6_source_for(ip.src6);
  if (src.is_unspecified()) {
    return drop(m, DropReason::kNoRoute);
  }
  if (!writable(m)) {
    return drop(m, DropReason::kMbufNotWritable);
  }
  // RFC 4443 4.2: type 129, identifier, sequence number and data copied.
  rte_pktmbuf_adj(m, static_cast<uint16_t>(l4_off));
  ByteWriter w(first_segment_mut(m).first(4));
  w.u8(wire::kIcmp6EchoReply);
  w.u8(0);
  w.u16(0);
  write_l4_checksum(m, 0, len, 2,
                    ipv6_pseudo_sum(src, ip.src6, wire::kProtoIcmp6, len));
  char* p = rte_pktmbuf_prepend(m, wire::kIpv6HeaderLen);
  if (p == nullptr) {
    return drop(m, DropReason::kNoHeadroom);
  }
  write_ipv6_header({reinterpret_cast<uint8_t*>(p), wire::kIpv6HeaderLen},
                    ip.tos, 0, static_cast<uint16_t>(len), wire::kProtoIcmp6,
                    ttl_, src, ip.src6);
  reset_tx_metadata(m);
  m->l3_len = wire::kIpv6HeaderLen;
  if (!prepend_l2(m, f.src, wire::kEtherTypeIpv6)) {
    return drop(m, DropReason::kNoHeadroom);
  }
  ++stats_.icmp6_echo_replies_tx;
  push_tx(m);
}

// Consumes f.m: a Packet Too Big (RFC 4443 3.2) carrying the next-hop MTU,
// then as much of the packet that caused it as fits. What quotes one of our
// TCP packets (we send no extension headers, so TCP follows the fixed
// header) goes up to TCP, which checks it against the connection
// (RFC 5927) and lowers the MSS.
void NetStack::rx_packet_too_big(const RxFrame& f, const L4Packet& ip,
                                 uint32_t l4_off) {
  rte_mbuf* m = f.m;
  // Sent to the source of the packet that was too big: one of our unicast
  // addresses (we send no multicast TCP).
  if (!is_local(ip.dst6)) {
    return drop(m, DropReason::kIpv6NotForUs);
  }
  const uint32_t quote = l4_off + wire::kIcmp6PacketTooBigLen;
  if (auto bad =
          check_header(m, quote + wire::kIpv6HeaderLen + wire::kIcmpQuotedL4Len,
                       DropReason::kIcmp6BadQuote)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m).subspan(l4_off + 4));
  uint32_t mtu = 0;
  uint32_t ver_tc_flow = 0;
  uint8_t next = 0;
  L4Packet report;
  r.u32(&mtu);
  r.u32(&ver_tc_flow);
  r.skip(2);  // payload length
  r.u8(&next);
  r.skip(1);  // hop limit
  r.copy(report.src6.b);
  r.copy(report.dst6.b);
  // RFC 5927 section 4.1: the quoted packet must be one we sent.
  if ((ver_tc_flow >> 28) != 6 || next != wire::kProtoTcp ||
      !is_local(report.src6)) {
    return drop(m, DropReason::kIcmp6BadQuote);
  }
  // RFC 8201 section 4: "If a node receives a Packet Too Big message
  // reporting a next-hop MTU that is less than the IPv6 minimum link MTU,
  // it must discard it."
  if (mtu < wire::kIpv6MinMtu) {
    return drop(m, DropReason::kIcmp6TooBigBelowMinMtu);
  }
  report.family = L3Family::kIpv6;
  report.protocol = wire::kProtoIcmp6;
  report.mtu = static_cast<uint16_t>(std::min<uint32_t>(mtu, 65535));
  deliver_too_big(m, quote + wire::kIpv6HeaderLen, report);
}

OutputResult NetStack::output_ipv6(rte_mbuf* m, const Ipv6Output& out,
                                   uint64_t now) {
  now_ = now;
  const uint32_t payload = m->pkt_len;
  // A TSO send becomes datagrams of one header plus tso_segsz bytes each.
  const bool tso = (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0;
  if (tso ? payload > 65535 ||
                wire::kIpv6HeaderLen + m->l4_len + m->tso_segsz > mtu_
          : wire::kIpv6HeaderLen + payload > mtu_) {
    drop(m, DropReason::kOutputTooLarge);
    return OutputResult::kDropped;
  }
  // RFC 4861 5.2: multicast maps to a group MAC; link-local and on-link
  // destinations are their own next hop; the rest go to the router.
  bool mapped = false;
  MacAddr dst_mac;
  Ipv6Addr next_hop;
  if (out.dst.is_multicast()) {
    mapped = true;
    dst_mac = multicast_mac(out.dst);
  } else {
    bool on_link = out.dst.is_link_local();
    for (uint8_t i = 0; !on_link && i < n_ipv6_; ++i) {
      on_link = !ipv6_[i].addr.is_link_local() &&
                same_prefix(out.dst, ipv6_[i].addr, ipv6_[i].prefix_len);
    }
    next_hop = on_link ? out.dst : ipv6_gateway_;
    if (next_hop.is_unspecified() || NeighborKey::of(next_hop).is_ipv4()) {
      drop(m, DropReason::kNoRoute);
      return OutputResult::kDropped;
    }
  }
  char* p = rte_pktmbuf_prepend(m, wire::kIpv6HeaderLen);
  if (p == nullptr) {
    drop(m, DropReason::kNoHeadroom);
    return OutputResult::kDropped;
  }
  write_ipv6_header(
      {reinterpret_cast<uint8_t*>(p), wire::kIpv6HeaderLen}, out.traffic_class,
      out.flow_label, static_cast<uint16_t>(payload), out.next_header,
      out.hop_limit != 0 ? out.hop_limit : ttl_, out.src, out.dst);
  m->l3_len = wire::kIpv6HeaderLen;
  if ((m->ol_flags & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG)) != 0) {
    m->ol_flags |= RTE_MBUF_F_TX_IPV6;  // DPDK: L4 offloads name the L3 type
  }
  if (!prepend_l2(m, dst_mac, wire::kEtherTypeIpv6)) {
    drop(m, DropReason::kNoHeadroom);
    return OutputResult::kDropped;
  }
  if (mapped) {
    return push_tx(m) ? OutputResult::kQueued : OutputResult::kDropped;
  }
  return resolve_and_send(nd_, NeighborKey::of(next_hop), m, now);
}

}  // namespace dptls::net
