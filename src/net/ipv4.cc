// IPv4 input and output (RFC 791, RFC 1122 section 3.2.1), the ICMP echo
// responder (RFC 792, RFC 1122 section 3.2.2.6) and "fragmentation needed"
// reports for TCP (RFC 1191).
#include <rte_mbuf.h>

#include "dptls/net/checksum.h"
#include "dptls/net/stack.h"
#include "dptls/util/bytes.h"
#include "net/mbuf_util.h"
#include "net/wire.h"

namespace dptls::net {
namespace {

// Writes a 20-byte IPv4 header (no options) with its checksum
// (RFC 791 section 3.1), or a zero checksum for the port to fill.
void write_ipv4_header(std::span<uint8_t> hdr, uint8_t tos, uint16_t total,
                       uint16_t id, uint16_t frag, uint8_t ttl,
                       uint8_t protocol, Ipv4Addr src, Ipv4Addr dst,
                       bool port_checksum = false) {
  ByteWriter w(hdr);
  w.u8(0x45);  // version 4, IHL 5
  w.u8(tos);
  w.u16(total);
  w.u16(id);
  w.u16(frag);
  w.u8(ttl);
  w.u8(protocol);
  w.u16(0);
  w.u32(src.v);
  w.u32(dst.v);
  if (port_checksum) {
    return;
  }
  // The sum of the header's 16-bit words from the values just written:
  // reading the bytes back would load across several narrower stores,
  // which the CPU cannot forward (a stall per datagram sent).
  const uint32_t sum = (0x4500u | tos) + total + id + frag +
                       ((uint32_t{ttl} << 8) | protocol) + (src.v >> 16) +
                       (src.v & 0xffff) + (dst.v >> 16) + (dst.v & 0xffff);
  ByteWriter csum(hdr.subspan(10, 2));
  csum.u16(checksum_finish(sum));
}

// RFC 1191 section 7: the plateau table, for a router that reports a
// next-hop MTU of 0 (RFC 792 predates the field): the estimate becomes the
// largest plateau below the quoted datagram's total length (section 5).
uint16_t plateau_below(uint16_t total_len) {
  static constexpr uint16_t kPlateaus[] = {32000, 17914, 8166, 4352, 2002,
                                           1492,  1006,  508,  296,  68};
  for (const uint16_t p : kPlateaus) {
    if (p < total_len) {
      return p;
    }
  }
  return 68;
}

}  // namespace

bool NetStack::is_ipv4_broadcast(Ipv4Addr a) const {
  if (a.is_limited_broadcast()) {
    return true;
  }
  // Directed broadcast of one of our subnets: host part all ones
  // (RFC 1122 section 3.2.1.3 (d)); /31 and /32 have none (RFC 3021).
  for (uint8_t i = 0; i < n_ipv4_; ++i) {
    const uint8_t len = ipv4_[i].prefix_len;
    if (len >= 31) {
      continue;
    }
    const uint32_t host = 0xffffffffu >> len;
    if ((a.v & host) == host && same_prefix(a, ipv4_[i].addr, len)) {
      return true;
    }
  }
  return false;
}

Ipv4Addr NetStack::ipv4_source_for(Ipv4Addr dst) const {
  for (uint8_t i = 0; i < n_ipv4_; ++i) {
    if (same_prefix(dst, ipv4_[i].addr, ipv4_[i].prefix_len)) {
      return ipv4_[i].addr;
    }
  }
  return n_ipv4_ > 0 ? ipv4_[0].addr : Ipv4Addr{};
}

// Consumes f.m.
void NetStack::rx_ipv4(const RxFrame& f, uint64_t /*now*/) {
  rte_mbuf* m = f.m;
  const uint32_t l3 = f.l2_len;
  if (auto bad = check_header(m, l3 + wire::kIpv4HeaderLen,
                              DropReason::kIpv4Truncated)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m));
  r.skip(l3);
  uint8_t ver_ihl = 0;
  uint8_t tos = 0;
  uint16_t total = 0;
  uint16_t id = 0;
  uint16_t frag = 0;
  uint8_t ttl = 0;
  uint8_t protocol = 0;
  uint16_t csum = 0;
  Ipv4Addr src;
  Ipv4Addr dst;
  r.u8(&ver_ihl);
  r.u8(&tos);
  r.u16(&total);
  r.u16(&id);
  r.u16(&frag);
  r.u8(&ttl);
  r.u8(&protocol);
  r.u16(&csum);
  r.u32(&src.v);
  r.u32(&dst.v);

  // RFC 1122 3.2.1.1: a datagram whose version is not 4 MUST be discarded.
  if ((ver_ihl >> 4) != 4) {
    return drop(m, DropReason::kIpv4BadVersion);
  }
  // RFC 791 3.1: IHL counts 32-bit words and is at least 5.
  const uint32_t ihl = uint32_t{ver_ihl & 0x0fu} * 4;
  if (ihl < wire::kIpv4HeaderLen) {
    return drop(m, DropReason::kIpv4BadIhl);
  }
  if (auto bad = check_header(m, l3 + ihl, DropReason::kIpv4Truncated)) {
    return drop(m, *bad);
  }
  if (total < ihl) {
    return drop(m, DropReason::kIpv4BadTotalLength);
  }
  // Anything past total length is link padding; a total length beyond the
  // frame means the datagram was cut short.
  if (l3 + total > m->pkt_len) {
    return drop(m, DropReason::kIpv4TotalLengthExceedsFrame);
  }
  // RFC 1122 3.2.1.2: a datagram with a bad header checksum MUST be
  // silently discarded. Trust the port's verdict when it gave one.
  switch (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
    case RTE_MBUF_F_RX_IP_CKSUM_NONE:  // integrity verified by the port
      break;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:
      return drop(m, DropReason::kIpv4BadChecksum);
    default:
      if (checksum_finish(checksum_sum(first_segment(m).subspan(l3, ihl))) !=
          0) {
        return drop(m, DropReason::kIpv4BadChecksum);
      }
      break;
  }
  // RFC 1122 3.2.1.3 and RFC 1812 5.3.7: discard datagrams from sources
  // no host may use on the wire ("martians": 0.0.0.0/8, loopback,
  // multicast, 240.0.0.0/4 with the limited broadcast) and from a directed
  // broadcast. A server never needs 0.0.0.0/8 (a host's source only while
  // it boots). One of our own addresses as the source is spoofed (we never
  // hear ourselves): answering it would talk to ourselves ("land").
  if (src.is_martian_source() || is_ipv4_broadcast(src) || is_local(src)) {
    return drop(m, DropReason::kIpv4BadSource);
  }
  const bool unicast = is_local(dst);
  if (!unicast && !is_ipv4_broadcast(dst) && !dst.is_multicast()) {
    // A host does not forward (RFC 1122 3.3.1.1 / 3.3.4.2).
    return drop(m, DropReason::kIpv4NotForUs);
  }
  // RFC 1122 3.3.6: a datagram received in a link-layer broadcast that names
  // no IP broadcast or multicast destination SHOULD be discarded.
  if (unicast && f.dst.is_broadcast()) {
    return drop(m, DropReason::kIpv4NotForUs);
  }
  // RFC 791 3.2: no reassembly here; the engine's peers use PMTU discovery.
  if ((frag & (wire::kIpv4FlagMf | wire::kIpv4OffsetMask)) != 0) {
    return drop(m, DropReason::kIpv4Fragment);
  }
  // RFC 1122 3.2.1.7: a host MUST NOT discard a datagram for a low TTL, so
  // TTL 0 or 1 addressed to us is accepted. Options (RFC 791 3.1) are
  // skipped with the header.
  trim_chain(m, l3 + total);
  m->l3_len = ihl;

  L4Packet ip;
  ip.family = L3Family::kIpv4;
  ip.protocol = protocol;
  ip.ttl = ttl;
  ip.tos = tos;
  ip.src4 = src;
  ip.dst4 = dst;
  switch (protocol) {
    case wire::kProtoIcmp:
      return rx_icmp(f, ip, l3 + ihl);
    case wire::kProtoTcp:
      // RFC 1122 4.2.3.10: TCP to a broadcast or multicast address is
      // ignored.
      if (!unicast) {
        return drop(m, DropReason::kIpv4NotForUs);
      }
      rte_pktmbuf_adj(m, static_cast<uint16_t>(l3 + ihl));
      ip.mbuf = m;
      ip.pseudo_sum = ipv4_pseudo_sum(src, dst, protocol,
                                      static_cast<uint16_t>(total - ihl));
      return deliver(ip);
    default:
      return drop(m, DropReason::kIpv4UnsupportedProtocol);
  }
}

// Consumes f.m, whose IPv4 datagram has been validated and trimmed.
void NetStack::rx_icmp(const RxFrame& f, const L4Packet& ip, uint32_t l4_off) {
  rte_mbuf* m = f.m;
  const uint32_t len = m->pkt_len - l4_off;
  if (len < wire::kIcmpHeaderLen) {
    return drop(m, DropReason::kIcmpTruncated);
  }
  if (auto bad = check_header(m, l4_off + wire::kIcmpHeaderLen,
                              DropReason::kIcmpTruncated)) {
    return drop(m, *bad);
  }
  // RFC 792: the checksum covers the whole ICMP message.
  if (!verify_l4_checksum(m, l4_off, len, 0)) {
    return drop(m, DropReason::kIcmpBadChecksum);
  }
  uint8_t type = 0;
  uint8_t code = 0;
  ByteReader r(first_segment(m).subspan(l4_off));
  r.u8(&type);
  r.u8(&code);
  if (type == wire::kIcmpDestUnreachable && code == wire::kIcmpFragNeeded) {
    return rx_frag_needed(f, ip, l4_off);
  }
  if (type != wire::kIcmpEchoRequest) {
    return drop(m, DropReason::kIcmpUnhandledType);
  }
  // RFC 1122 3.2.2.6: an echo request to a broadcast or multicast address
  // MAY be silently discarded; we do.
  if (!is_local(ip.dst4)) {
    return drop(m, DropReason::kIcmpEchoToBroadcast);
  }
  if (!writable(m)) {
    return drop(m, DropReason::kMbufNotWritable);
  }
  // RFC 792 "Echo or Echo Reply Message": same identifier, sequence number
  // and data, type 0, addresses reversed. The reply is built in the
  // request's buffer; the request's IP options are not carried over
  // (RFC 1122 3.2.2.6 asks for Record Route and Timestamp to be updated;
  // we send none).
  rte_pktmbuf_adj(m, static_cast<uint16_t>(l4_off));
  ByteWriter w(first_segment_mut(m).first(4));
  w.u8(wire::kIcmpEchoReply);
  w.u8(0);
  w.u16(0);
  write_l4_checksum(m, 0, len, 2, 0);
  char* p = rte_pktmbuf_prepend(m, wire::kIpv4HeaderLen);
  if (p == nullptr) {
    return drop(m, DropReason::kNoHeadroom);
  }
  write_ipv4_header({reinterpret_cast<uint8_t*>(p), wire::kIpv4HeaderLen},
                    ip.tos, static_cast<uint16_t>(wire::kIpv4HeaderLen + len),
                    next_ip_id_++, 0, ttl_, wire::kProtoIcmp, ip.dst4, ip.src4);
  reset_tx_metadata(m);
  m->l3_len = wire::kIpv4HeaderLen;
  // The reply goes back to the MAC the request came from: the next hop that
  // delivered it, with no ARP lookup on the reply path.
  if (!prepend_l2(m, f.src, wire::kEtherTypeIpv4)) {
    return drop(m, DropReason::kNoHeadroom);
  }
  ++stats_.icmp_echo_replies_tx;
  push_tx(m);
}

// Consumes f.m: a Destination Unreachable, code 4 ("fragmentation needed
// and DF set"), with the next-hop MTU in the low 16 bits of its second word
// (RFC 1191 section 4), then the quoted IP header and its first 8 data
// bytes. What quotes one of our TCP datagrams goes up to TCP, which checks
// it against the connection (RFC 5927) and lowers the MSS.
void NetStack::rx_frag_needed(const RxFrame& f, const L4Packet& ip,
                              uint32_t l4_off) {
  rte_mbuf* m = f.m;
  // RFC 1122 3.2.2: ICMP errors are never sent to a broadcast address.
  if (!is_local(ip.dst4)) {
    return drop(m, DropReason::kIpv4NotForUs);
  }
  const uint32_t quote = l4_off + wire::kIcmpHeaderLen;
  if (auto bad = check_header(m, quote + wire::kIpv4HeaderLen,
                              DropReason::kIcmpBadQuote)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m).subspan(l4_off + 6));
  uint16_t mtu = 0;
  r.u16(&mtu);
  uint8_t ver_ihl = 0;
  uint16_t total = 0;
  uint8_t protocol = 0;
  L4Packet report;
  r.u8(&ver_ihl);
  r.skip(1);  // TOS
  r.u16(&total);
  r.skip(5);  // identification, flags and offset, TTL
  r.u8(&protocol);
  r.skip(2);  // header checksum
  r.u32(&report.src4.v);
  r.u32(&report.dst4.v);
  const uint32_t ihl = uint32_t{ver_ihl & 0x0fu} * 4;
  if ((ver_ihl >> 4) != 4 || ihl < wire::kIpv4HeaderLen ||
      protocol != wire::kProtoTcp) {
    return drop(m, DropReason::kIcmpBadQuote);
  }
  if (auto bad = check_header(m, quote + ihl + wire::kIcmpQuotedL4Len,
                              DropReason::kIcmpBadQuote)) {
    return drop(m, *bad);
  }
  // RFC 5927 section 4.1: the quoted datagram must be one we sent.
  if (!is_local(report.src4)) {
    return drop(m, DropReason::kIcmpBadQuote);
  }
  report.family = L3Family::kIpv4;
  report.protocol = wire::kProtoIcmp;
  report.mtu = mtu != 0 ? mtu : plateau_below(total);
  deliver_too_big(m, quote + ihl, report);
}

OutputResult NetStack::output_ipv4(rte_mbuf* m, const Ipv4Output& out,
                                   uint64_t now) {
  now_ = now;
  const uint32_t total = wire::kIpv4HeaderLen + m->pkt_len;
  // A TSO send becomes datagrams of one header plus tso_segsz bytes each.
  const bool tso = (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0;
  if (tso ? total > 65535 ||
                wire::kIpv4HeaderLen + m->l4_len + m->tso_segsz > mtu_
          : total > mtu_) {
    drop(m, DropReason::kOutputTooLarge);
    return OutputResult::kDropped;
  }
  // Next hop (RFC 1122 3.3.1.1): on-link destinations directly, the rest
  // through the gateway; broadcast and multicast map to a group MAC.
  bool mapped = false;
  MacAddr dst_mac;
  Ipv4Addr next_hop;
  if (is_ipv4_broadcast(out.dst)) {
    mapped = true;
    dst_mac = MacAddr::broadcast();
  } else if (out.dst.is_multicast()) {
    mapped = true;
    dst_mac = multicast_mac(out.dst);
  } else {
    for (uint8_t i = 0; i < n_ipv4_; ++i) {
      if (same_prefix(out.dst, ipv4_[i].addr, ipv4_[i].prefix_len)) {
        next_hop = out.dst;
        break;
      }
    }
    if (next_hop.is_zero()) {
      next_hop = ipv4_gateway_;
    }
    if (next_hop.is_zero()) {
      drop(m, DropReason::kNoRoute);
      return OutputResult::kDropped;
    }
  }
  char* p = rte_pktmbuf_prepend(m, wire::kIpv4HeaderLen);
  if (p == nullptr) {
    drop(m, DropReason::kNoHeadroom);
    return OutputResult::kDropped;
  }
  write_ipv4_header({reinterpret_cast<uint8_t*>(p), wire::kIpv4HeaderLen},
                    out.tos, static_cast<uint16_t>(total), next_ip_id_++,
                    out.dont_fragment ? wire::kIpv4FlagDf : 0,
                    out.ttl != 0 ? out.ttl : ttl_, out.protocol, out.src,
                    out.dst, tx_offloads_.ipv4_checksum);
  m->l3_len = wire::kIpv4HeaderLen;
  // DPDK: every L4 offload request names the L3 type; the IPv4 checksum
  // offload is asked for on its own.
  if ((m->ol_flags & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG)) != 0) {
    m->ol_flags |= RTE_MBUF_F_TX_IPV4;
  }
  if (tx_offloads_.ipv4_checksum) {
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
  }
  if (!prepend_l2(m, dst_mac, wire::kEtherTypeIpv4)) {
    drop(m, DropReason::kNoHeadroom);
    return OutputResult::kDropped;
  }
  if (mapped) {
    return push_tx(m) ? OutputResult::kQueued : OutputResult::kDropped;
  }
  return resolve_and_send(arp_, NeighborKey::of(next_hop), m, now);
}

}  // namespace dptls::net
