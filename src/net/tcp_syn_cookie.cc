// SipHash-2-4, RFC 6528 ISNs and SYN cookies.
#include "dptls/net/tcp_syn_cookie.h"

#include <cstring>

#include "dptls/util/bytes.h"

namespace dptls::net {
namespace {

constexpr uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

struct SipState {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
};

uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint32_t cookie_mac(const SipKey& key, const FlowKey& flow, uint32_t peer_isn,
                    uint32_t counter, uint8_t mss_index) {
  std::array<uint8_t, sizeof(FlowKey) + 9> buf{};
  std::memcpy(buf.data(), &flow, sizeof(FlowKey));
  ByteWriter w(std::span<uint8_t>(buf).subspan(sizeof(FlowKey)));
  w.u32(peer_isn);
  w.u32(counter);
  w.u8(mss_index);
  return static_cast<uint32_t>(siphash24(key, buf)) & 0xffffffu;
}

}  // namespace

SipKey SipKey::from_seed(uint64_t seed, uint64_t domain) {
  uint64_t x = seed ^ (domain * 0xd1342543de82ef95ull);
  SipKey k;
  k.k0 = splitmix64(&x);
  k.k1 = splitmix64(&x);
  return k;
}

uint64_t siphash24(const SipKey& key, std::span<const uint8_t> data) {
  SipState s{0x736f6d6570736575ull ^ key.k0, 0x646f72616e646f6dull ^ key.k1,
             0x6c7967656e657261ull ^ key.k0, 0x7465646279746573ull ^ key.k1};
  const size_t n = data.size();
  const size_t whole = n & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    const uint64_t m = load_le64(data.data() + i);
    s.v3 ^= m;
    s.round();
    s.round();
    s.v0 ^= m;
  }
  uint64_t b = uint64_t{n & 0xff} << 56;
  for (size_t i = 0; i < (n & 7); ++i) {
    b |= uint64_t{data[whole + i]} << (8 * i);
  }
  s.v3 ^= b;
  s.round();
  s.round();
  s.v0 ^= b;
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint32_t tcp_isn(const SipKey& key, const FlowKey& flow, uint64_t now_us) {
  std::array<uint8_t, sizeof(FlowKey)> buf{};
  std::memcpy(buf.data(), &flow, sizeof(FlowKey));
  const auto f = static_cast<uint32_t>(siphash24(key, buf));
  return static_cast<uint32_t>(now_us / 4) + f;
}

uint8_t cookie_mss_index(uint16_t peer_mss) {
  uint8_t idx = 0;
  for (size_t i = 0; i < kCookieMssTable.size(); ++i) {
    if (kCookieMssTable[i] <= peer_mss) {
      idx = static_cast<uint8_t>(i);
    }
  }
  return idx;
}

uint32_t syn_cookie_make(const SipKey& key, const FlowKey& flow,
                         uint32_t peer_isn, uint32_t counter,
                         uint8_t mss_index) {
  mss_index &= 7;
  return ((counter & 31u) << 27) | (uint32_t{mss_index} << 24) |
         cookie_mac(key, flow, peer_isn, counter, mss_index);
}

bool syn_cookie_check(const SipKey& key, const FlowKey& flow, uint32_t peer_isn,
                      uint32_t cookie, uint32_t counter_now,
                      uint8_t* mss_index) {
  const uint8_t idx = static_cast<uint8_t>((cookie >> 24) & 7);
  for (uint32_t age = 0; age <= kCookieMaxAge; ++age) {
    const uint32_t c = counter_now - age;
    if ((c & 31u) != (cookie >> 27)) {
      continue;
    }
    if (cookie_mac(key, flow, peer_isn, c, idx) == (cookie & 0xffffffu)) {
      *mss_index = idx;
      return true;
    }
    return false;
  }
  return false;
}

uint32_t cookie_ts_encode(uint32_t now_ms, const CookieTsBits& b) {
  const uint32_t bits = (b.wscale_ok ? (uint32_t{b.wscale} & 0xf) : 0xf) |
                        (b.sack_ok ? 0x10u : 0u);
  return ((now_ms & ~31u) - 32u) | bits;
}

CookieTsBits cookie_ts_decode(uint32_t tsecr) {
  CookieTsBits b;
  const uint8_t ws = tsecr & 0xf;
  b.wscale_ok = ws != 0xf;
  b.wscale = b.wscale_ok ? ws : 0;
  b.sack_ok = (tsecr & 0x10u) != 0;
  return b;
}

}  // namespace dptls::net
