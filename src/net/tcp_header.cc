// TCP header and option parsing and building (RFC 9293 3.1, 3.2; RFC 7323;
// RFC 2018).
#include "dptls/net/tcp_header.h"

#include <rte_mbuf.h>

#include "net/mbuf_util.h"

namespace dptls::net {
namespace {

constexpr uint8_t kOptEol = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptMss = 2;
constexpr uint8_t kOptWscale = 3;
constexpr uint8_t kOptSackPermitted = 4;
constexpr uint8_t kOptSack = 5;
constexpr uint8_t kOptTimestamps = 8;

}  // namespace

bool parse_tcp_options(std::span<const uint8_t> area, TcpOptions* out) {
  *out = TcpOptions{};
  ByteReader r(area);
  while (!r.empty()) {
    uint8_t kind = 0;
    r.u8(&kind);
    if (kind == kOptEol) {
      break;
    }
    if (kind == kOptNop) {
      continue;
    }
    uint8_t len = 0;
    if (!r.u8(&len) || len < 2 || len - 2u > r.remaining()) {
      return false;
    }
    ByteReader body;
    std::span<const uint8_t> bytes;
    r.bytes(len - 2u, &bytes);
    body = ByteReader(bytes);
    switch (kind) {
      case kOptMss:
        if (len != 4) {
          return false;
        }
        out->has_mss = true;
        body.u16(&out->mss);
        break;
      case kOptWscale:
        if (len != 3) {
          return false;
        }
        out->has_wscale = true;
        body.u8(&out->wscale);
        break;
      case kOptSackPermitted:
        if (len != 2) {
          return false;
        }
        out->sack_permitted = true;
        break;
      case kOptSack: {
        if ((len - 2) % 8 != 0 || len < 10) {
          return false;
        }
        const uint8_t n = static_cast<uint8_t>((len - 2) / 8);
        for (uint8_t i = 0; i < n; ++i) {
          SackBlock b;
          body.u32(&b.start);
          body.u32(&b.end);
          if (out->n_sack < out->sack.size()) {
            out->sack[out->n_sack++] = b;
          }
        }
        break;
      }
      case kOptTimestamps:
        if (len != 10) {
          return false;
        }
        out->has_ts = true;
        body.u32(&out->tsval);
        body.u32(&out->tsecr);
        break;
      default:
        break;  // RFC 9293 3.2: unknown options are skipped by length
    }
  }
  return true;
}

std::optional<DropReason> parse_tcp_segment(const rte_mbuf* m, TcpHeader* out) {
  if (m->pkt_len < kTcpHeaderLen) {
    return DropReason::kTcpTruncated;
  }
  if (auto bad = check_header(m, kTcpHeaderLen, DropReason::kTcpTruncated)) {
    return bad;
  }
  ByteReader r(first_segment(m));
  uint8_t off = 0;
  uint16_t csum = 0;
  uint16_t urg = 0;
  r.u16(&out->src_port);
  r.u16(&out->dst_port);
  r.u32(&out->seq);
  r.u32(&out->ack);
  r.u8(&off);
  r.u8(&out->flags);
  r.u16(&out->window);
  r.u16(&csum);
  r.u16(&urg);
  // RFC 9293 3.1: Data Offset counts 32-bit words, at least 5.
  const uint32_t hlen = static_cast<uint32_t>(off >> 4) * 4;
  if (hlen < kTcpHeaderLen || hlen > m->pkt_len) {
    return DropReason::kTcpBadDataOffset;
  }
  if (auto bad = check_header(m, hlen, DropReason::kTcpTruncated)) {
    return bad;
  }
  out->header_len = static_cast<uint8_t>(hlen);
  out->payload_len = m->pkt_len - hlen;
  // Port 0 is reserved and never valid on the wire.
  if (out->src_port == 0 || out->dst_port == 0) {
    return DropReason::kTcpBadPort;
  }
  // Combinations no conforming sender produces (SYN+FIN, SYN+RST) and
  // segments with none of SYN, RST and ACK (every segment but the first
  // SYN carries ACK, RFC 9293 3.10.7.4 "fifth"): scans, dropped silently.
  const uint8_t f = out->flags;
  if (((f & kTcpSyn) != 0 && (f & (kTcpFin | kTcpRst)) != 0) ||
      (f & (kTcpSyn | kTcpRst | kTcpAck)) == 0) {
    return DropReason::kTcpBadFlags;
  }
  std::span<const uint8_t> area;
  r.bytes(hlen - kTcpHeaderLen, &area);
  if (!parse_tcp_options(area, &out->opts)) {
    return DropReason::kTcpBadOption;
  }
  return std::nullopt;
}

uint16_t tcp_options_len(const TcpOptionsOut& o) {
  uint16_t n = 0;
  if (o.mss != 0) {
    n += 4;
  }
  if (o.sack_permitted || o.ts) {
    n += o.ts ? 12 : 4;  // SACK-perm + TS pack into 12; NOP NOP SACK-perm
  }
  if (o.wscale >= 0) {
    n += 4;
  }
  if (o.n_sack > 0) {
    n += static_cast<uint16_t>(4 + 8 * o.n_sack);
  }
  return n;
}

bool write_tcp_options(ByteWriter& w, const TcpOptionsOut& o) {
  if (o.mss != 0) {
    w.u8(kOptMss);
    w.u8(4);
    w.u16(o.mss);
  }
  if (o.ts) {
    if (o.sack_permitted) {
      w.u8(kOptSackPermitted);
      w.u8(2);
    } else {
      w.u8(kOptNop);
      w.u8(kOptNop);
    }
    w.u8(kOptTimestamps);
    w.u8(10);
    w.u32(o.tsval);
    w.u32(o.tsecr);
  } else if (o.sack_permitted) {
    w.u8(kOptNop);
    w.u8(kOptNop);
    w.u8(kOptSackPermitted);
    w.u8(2);
  }
  if (o.wscale >= 0) {
    w.u8(kOptNop);
    w.u8(kOptWscale);
    w.u8(3);
    w.u8(static_cast<uint8_t>(o.wscale));
  }
  if (o.n_sack > 0) {
    w.u8(kOptNop);
    w.u8(kOptNop);
    w.u8(kOptSack);
    w.u8(static_cast<uint8_t>(2 + 8 * o.n_sack));
    for (uint8_t i = 0; i < o.n_sack; ++i) {
      w.u32(o.sack[i].start);
      w.u32(o.sack[i].end);
    }
  }
  return w.ok();
}

}  // namespace dptls::net
