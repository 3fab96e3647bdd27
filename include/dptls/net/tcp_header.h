// The TCP header and its options (RFC 9293 section 3.1, 3.2; RFC 7323
// sections 2 and 3; RFC 2018 sections 2 and 3): validated parsing of a
// received segment and building of the options we send. All bytes go
// through ByteReader / ByteWriter.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "dptls/net/drop_reason.h"
#include "dptls/util/bytes.h"

struct rte_mbuf;

namespace dptls::net {

// Control bits (RFC 9293 section 3.1, RFC 3168 for ECE/CWR).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;

inline constexpr uint16_t kTcpHeaderLen = 20;
inline constexpr uint16_t kTcpMaxHeaderLen = 60;
/// Bytes the timestamps option takes in every segment (NOP NOP TS).
inline constexpr uint16_t kTcpTsOptionLen = 12;

/// One SACK block as received (RFC 2018 section 3).
struct SackBlock {
  uint32_t start = 0;
  uint32_t end = 0;
};

/// Options of a received segment.
struct TcpOptions {
  bool has_mss = false;
  bool has_wscale = false;
  bool sack_permitted = false;
  bool has_ts = false;
  uint16_t mss = 0;
  uint8_t wscale = 0;
  uint8_t n_sack = 0;
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
  std::array<SackBlock, 4> sack{};
};

/// A parsed, validated TCP header.
struct TcpHeader {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t header_len = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint32_t payload_len = 0;
  TcpOptions opts;

  bool has(uint8_t f) const { return (flags & f) != 0; }
  /// SEG.LEN: payload plus one for each of SYN and FIN.
  uint32_t seg_len() const {
    return payload_len + (has(kTcpSyn) ? 1 : 0) + (has(kTcpFin) ? 1 : 0);
  }
};

/// Parses the options area. False for a malformed option list: a length
/// below 2, running past the area, or a known option with a wrong length
/// (RFC 9293 3.2 says a TCP MUST handle an illegal option length by
/// dropping the segment). Unknown options are skipped.
bool parse_tcp_options(std::span<const uint8_t> area, TcpOptions* out);

/// Validates and parses segment `m` (data at the TCP header, pkt_len the
/// segment length). Borrows `m`. Checks, in order: length, data offset,
/// header in the first segment, ports, control-bit combinations, options.
/// The checksum is the caller's (l4_checksum_ok). Returns the drop reason,
/// or nothing when the header is usable.
std::optional<DropReason> parse_tcp_segment(const rte_mbuf* m, TcpHeader* out);

/// Options we put on a segment.
struct TcpOptionsOut {
  uint16_t mss = 0;             // 0: none (SYN only)
  int8_t wscale = -1;           // -1: none (SYN only)
  bool sack_permitted = false;  // SYN only
  bool ts = false;
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
  uint8_t n_sack = 0;
  std::array<SackBlock, 4> sack{};
};

/// Bytes write_tcp_options() writes (a multiple of 4, at most 40).
uint16_t tcp_options_len(const TcpOptionsOut& o);
/// Writes the options, NOP-padded to 32 bits, in the order the common
/// stacks use (MSS, SACK-permitted, TS, NOP + WS; NOP NOP TS; NOP NOP SACK).
/// False when `w` lacks room.
bool write_tcp_options(ByteWriter& w, const TcpOptionsOut& o);

}  // namespace dptls::net
