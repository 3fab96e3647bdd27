// ARP for IPv4 over Ethernet (RFC 826): the responder for our addresses,
// cache learning, and the requests neighbour resolution sends.
#include <rte_mbuf.h>

#include "dptls/net/stack.h"
#include "dptls/util/bytes.h"
#include "net/mbuf_util.h"
#include "net/wire.h"

namespace dptls::net {
namespace {

// Writes an Ethernet/IPv4 ARP message (RFC 826 "Packet format").
bool write_arp(ByteWriter& w, uint16_t op, const MacAddr& sha, Ipv4Addr spa,
               const MacAddr& tha, Ipv4Addr tpa) {
  w.u16(wire::kArpHrdEthernet);
  w.u16(wire::kEtherTypeIpv4);
  w.u8(6);
  w.u8(4);
  w.u16(op);
  w.bytes(sha.b);
  w.u32(spa.v);
  w.bytes(tha.b);
  w.u32(tpa.v);
  return w.ok();
}

}  // namespace

// Consumes f.m.
void NetStack::rx_arp(const RxFrame& f, uint64_t now) {
  rte_mbuf* m = f.m;
  if (auto bad = check_header(m, f.l2_len + wire::kArpLen,
                              DropReason::kArpTruncated)) {
    return drop(m, *bad);
  }
  ByteReader r(first_segment(m));
  r.skip(f.l2_len);
  uint16_t hrd = 0;
  uint16_t pro = 0;
  uint8_t hln = 0;
  uint8_t pln = 0;
  uint16_t op = 0;
  MacAddr sha;
  Ipv4Addr spa;
  MacAddr tha;
  Ipv4Addr tpa;
  r.u16(&hrd);
  r.u16(&pro);
  r.u8(&hln);
  r.u8(&pln);
  r.u16(&op);
  r.copy(sha.b);
  r.u32(&spa.v);
  r.copy(tha.b);
  r.u32(&tpa.v);
  // RFC 826 "Packet Reception": only Ethernet hardware and IPv4 protocol
  // addresses are ours to answer.
  if (hrd != wire::kArpHrdEthernet || pro != wire::kEtherTypeIpv4 || hln != 6 ||
      pln != 4) {
    return drop(m, DropReason::kArpUnsupportedFormat);
  }
  if (op != wire::kArpOpRequest && op != wire::kArpOpReply) {
    return drop(m, DropReason::kArpBadOpcode);
  }
  // A group or zero sender MAC, a sender claiming one of our addresses
  // (a conflict, RFC 5227 section 2.4) or a sender address IPv4 refuses as
  // a source (a martian, or a directed broadcast: see rx_ipv4) must never
  // enter the cache. 0.0.0.0 alone is allowed: an ARP probe's (RFC 5227
  // 2.1.1), answered but never learned.
  if (sha.is_multicast() || sha.is_zero() || is_local(spa) ||
      (!spa.is_zero() && spa.is_martian_source()) || is_ipv4_broadcast(spa)) {
    return drop(m, DropReason::kArpBadSender);
  }
  const bool for_us = is_local(tpa);
  // RFC 826: update the sender's entry if we have one ("merge"), and add it
  // if we are the target. An ARP probe (sender 0.0.0.0, RFC 5227 2.1.1)
  // teaches nothing. A reply confirms reachability (RFC 4861 7.3.3) only
  // while we are asking, its entry Incomplete or probed; one we never asked
  // for leaves the entry Stale, which the table may reclaim, so spoofed
  // replies cannot pin every entry against the resolutions we need.
  if (!spa.is_zero()) {
    const NeighborKey key = NeighborKey::of(spa);
    const NeighborEntry* e = arp_.find(key);
    const bool asked =
        e != nullptr && (e->state == NeighborState::kIncomplete ||
                         e->state == NeighborState::kProbe);
    const LearnInfo info{
        .create = for_us,
        .solicited = for_us && op == wire::kArpOpReply && asked,
        .override_mac = true};
    if (arp_.learn(key, &sha, info, now, *this)) {
      ++stats_.neighbor_learned;
    }
  }
  if (learn_only_) {  // another worker's frame: it answers
    rte_pktmbuf_free(m);
    return;
  }
  if (!for_us) {
    return drop(m, DropReason::kArpNotForUs);
  }
  if (op == wire::kArpOpReply) {
    ++stats_.rx_absorbed;
    rte_pktmbuf_free(m);
    return;
  }
  ++stats_.arp_requests_rx;
  // RFC 826: swap sender and target, put our address in the sender fields,
  // set the opcode to reply and send it to the requester. The request's
  // buffer is reused.
  rte_mbuf* out = blank_from(m);
  if (out == nullptr) {
    return count_drop(DropReason::kMbufNotWritable);
  }
  char* p = rte_pktmbuf_append(out, wire::kArpLen);
  if (p == nullptr) {
    return drop(out, DropReason::kNoHeadroom);
  }
  ByteWriter w(reinterpret_cast<uint8_t*>(p), wire::kArpLen);
  write_arp(w, wire::kArpOpReply, mac_, tpa, sha, spa);
  if (!prepend_l2(out, sha, wire::kEtherTypeArp)) {
    return drop(out, DropReason::kNoHeadroom);
  }
  ++stats_.arp_replies_tx;
  push_tx(out);
}

bool NetStack::send_arp_request(Ipv4Addr target, const MacAddr* unicast) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    ++stats_.mbuf_alloc_failed;
    return false;
  }
  char* p = rte_pktmbuf_append(m, wire::kArpLen);
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return false;
  }
  ByteWriter w(reinterpret_cast<uint8_t*>(p), wire::kArpLen);
  // RFC 826: the target hardware address is unknown, so zero; a unicast
  // probe (RFC 1122 2.3.2.1) is sent straight to the cached MAC.
  write_arp(w, wire::kArpOpRequest, mac_, ipv4_source_for(target), MacAddr{},
            target);
  if (!prepend_l2(m, unicast != nullptr ? *unicast : MacAddr::broadcast(),
                  wire::kEtherTypeArp)) {
    rte_pktmbuf_free(m);
    return false;
  }
  ++stats_.arp_requests_tx;
  return push_tx(m);
}

}  // namespace dptls::net
