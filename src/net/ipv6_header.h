// Private helper shared by ipv6.cc and ndp.cc: the fixed IPv6 header
// (RFC 8200 section 3).
#pragma once

#include <cstdint>
#include <span>

#include "dptls/net/addr.h"
#include "dptls/util/bytes.h"

namespace dptls::net {

/// Writes a 40-byte IPv6 header into `hdr`.
inline void write_ipv6_header(std::span<uint8_t> hdr, uint8_t traffic_class,
                              uint32_t flow_label, uint16_t payload_len,
                              uint8_t next_header, uint8_t hop_limit,
                              const Ipv6Addr& src, const Ipv6Addr& dst) {
  ByteWriter w(hdr);
  w.u32((uint32_t{6} << 28) | (uint32_t{traffic_class} << 20) |
        (flow_label & 0xfffffu));
  w.u16(payload_len);
  w.u8(next_header);
  w.u8(hop_limit);
  w.bytes(src.b);
  w.bytes(dst.b);
}

}  // namespace dptls::net
