// Keyed hashing for TCP: SipHash-2-4, RFC 6528 initial sequence numbers and
// SYN cookies (RFC 4987 section 3.6) with the options a cookie must carry
// across the handshake encoded in the MSS index and in our timestamp
// (the low bits of the TSval the client echoes).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "dptls/net/tcp_flow_table.h"

namespace dptls::net {

/// A 128-bit SipHash key.
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
  /// Derives a key from a seed and a domain label (splitmix64), so one seed
  /// gives independent keys for ISNs, cookies and the flow hash.
  static SipKey from_seed(uint64_t seed, uint64_t domain);
};

/// SipHash-2-4 of `data` (Aumasson and Bernstein, 2012).
uint64_t siphash24(const SipKey& key, std::span<const uint8_t> data);

/// RFC 6528 section 3: ISN = M + F(localip, localport, remoteip, remoteport,
/// secretkey), M a 4-microsecond timer, F SipHash-2-4.
uint32_t tcp_isn(const SipKey& key, const FlowKey& flow, uint64_t now_us);

/// MSS values a cookie can carry (3 bits), the common path MTUs.
inline constexpr std::array<uint16_t, 8> kCookieMssTable = {
    536, 1220, 1360, 1400, 1440, 1460, 4312, 8960};

/// Index of the largest table MSS not above `peer_mss` (0 when below all).
uint8_t cookie_mss_index(uint16_t peer_mss);

/// A cookie counter tick is 64 s; a cookie is good for the current and the
/// two previous ticks (64 - 192 s).
inline constexpr uint32_t kCookieTickMs = 64'000;
inline constexpr uint32_t kCookieMaxAge = 2;

/// Our ISN for a SYN answered statelessly: bits 31-27 the counter (mod 32),
/// 26-24 the MSS index, 23-0 a MAC over the 4-tuple, the peer's ISN, the
/// counter and the index.
uint32_t syn_cookie_make(const SipKey& key, const FlowKey& flow,
                         uint32_t peer_isn, uint32_t counter,
                         uint8_t mss_index);

/// Checks `cookie` (SEG.ACK - 1 of the completing ACK) against the flow and
/// the peer's ISN (SEG.SEQ - 1). True, with the MSS index, when its MAC is
/// right and its counter is at most kCookieMaxAge ticks old.
bool syn_cookie_check(const SipKey& key, const FlowKey& flow, uint32_t peer_isn,
                      uint32_t cookie, uint32_t counter_now,
                      uint8_t* mss_index);

/// The SYN options a cookie remembers when the peer uses timestamps.
struct CookieTsBits {
  bool wscale_ok = false;
  uint8_t wscale = 0;  // the peer's shift (0 - 14)
  bool sack_ok = false;
};

/// Our SYN-ACK TSval carrying `b` in its low 5 bits: the clock rounded
/// down to a multiple of 32 ms and one step back, so later TSvals are never
/// smaller (RFC 7323 5.3 PAWS on the peer).
uint32_t cookie_ts_encode(uint32_t now_ms, const CookieTsBits& b);
/// The bits back from the TSecr of the completing ACK.
CookieTsBits cookie_ts_decode(uint32_t tsecr);

}  // namespace dptls::net
