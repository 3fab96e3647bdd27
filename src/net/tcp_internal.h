// Private pieces shared by the TCP sources.
#pragma once

#include <cstdint>

#include "dptls/net/tcp.h"

namespace dptls::net {

/// End of an intrusive slot list.
inline constexpr uint32_t kNoSlot = 0xffffffffu;

/// RFC 7323 5.5: TS.Recent is invalid after 24 days of idleness.
inline constexpr uint32_t kPawsIdleMs = 24u * 24 * 3600 * 1000;

/// Frames left free in the NetStack's transmit queue for ACKs and control
/// segments: data output stops short of it.
inline constexpr size_t kTxReserve = 16;

/// A received segment in flight through rx_one().
struct TcpStack::Segment {
  rte_mbuf* m = nullptr;  // owned until queued or freed; data at TCP header
  TcpHeader h;
  FlowKey key;
  uint32_t seq = 0;      // of the first payload byte after trimming
  uint32_t payload = 0;  // payload bytes after trimming
  bool fin = false;      // FIN still within the window
};

}  // namespace dptls::net
