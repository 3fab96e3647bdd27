// Private pieces shared by the TCP sources.
#pragma once

#include <cstdint>

#include "dptls/net/tcp.h"
#include "dptls/net/tcp_seq.h"

namespace dptls::net {

/// End of an intrusive slot list.
inline constexpr uint32_t kNoSlot = 0xffffffffu;

/// RFC 7323 5.5: TS.Recent is invalid after 24 days of idleness.
inline constexpr uint32_t kPawsIdleMs = 24u * 24 * 3600 * 1000;

/// RFC 7323 4.1: whether now - TSecr may be an RTT sample. A TSecr ahead
/// of our clock echoes no TSval of ours (now - TSecr would wrap to about
/// 2^32 ms). An echo older than the largest RTO is no usable sample
/// either: the RTO is capped there anyway, unacknowledged data is sent
/// again (with a newer TSval) at least that often, and past about 71
/// minutes (now - TSecr) * 1000 overflows the 32-bit microseconds of the
/// sample (a bogus RTT of up to 71 minutes, from a broken or hostile peer).
inline bool ts_rtt_usable(uint32_t now_ms, uint32_t tsecr,
                          uint32_t max_rto_ms) {
  constexpr uint32_t kMaxSampleMs = 0xffffffffu / 1000;
  return tsecr != 0 && seq_le(tsecr, now_ms) && now_ms - tsecr <= max_rto_ms &&
         now_ms - tsecr <= kMaxSampleMs;
}

/// Lowest IPv4 path MTU a report may set (Linux's min_pmtu; see
/// TcpStack::rx_too_big).
inline constexpr uint32_t kMinPmtu4 = 552;

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
