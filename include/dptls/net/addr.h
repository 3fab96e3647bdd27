// Link and network addresses as small value types. They hold bytes in wire
// order (MacAddr, Ipv6Addr) or a host-order integer (Ipv4Addr), so they can
// be compared, hashed and copied without touching packet memory.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace dptls::net {

/// A 48-bit IEEE 802 MAC address in wire order.
struct MacAddr {
  std::array<uint8_t, 6> b{};

  /// The all-ones broadcast address ff:ff:ff:ff:ff:ff.
  static constexpr MacAddr broadcast() {
    return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  }
  /// True for group addresses (I/G bit set), including broadcast.
  constexpr bool is_multicast() const { return (b[0] & 0x01) != 0; }
  constexpr bool is_broadcast() const { return *this == broadcast(); }
  constexpr bool is_zero() const { return *this == MacAddr{}; }
  friend constexpr bool operator==(const MacAddr&, const MacAddr&) = default;
};

/// An IPv4 address as a host-order integer: 198.18.0.1 is 0xc6120001.
struct Ipv4Addr {
  uint32_t v = 0;

  static constexpr Ipv4Addr of(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return Ipv4Addr{(uint32_t{a} << 24) | (uint32_t{b} << 16) |
                    (uint32_t{c} << 8) | uint32_t{d}};
  }
  constexpr bool is_zero() const { return v == 0; }
  /// 224.0.0.0/4 (RFC 1112 section 4).
  constexpr bool is_multicast() const { return (v >> 28) == 0xe; }
  /// The limited broadcast 255.255.255.255 (RFC 1122 section 3.2.1.3).
  constexpr bool is_limited_broadcast() const { return v == 0xffffffffu; }
  /// 127.0.0.0/8, which must never appear on a wire (RFC 1122 3.2.1.3 (g)).
  constexpr bool is_loopback() const { return (v >> 24) == 127; }
  /// 0.0.0.0/8, "this host on this network": a source only while a host
  /// learns its own address (RFC 1122 3.2.1.3 (a), (b); RFC 6890).
  constexpr bool is_this_network() const { return (v >> 24) == 0; }
  /// 240.0.0.0/4, reserved ("class E", RFC 1112 section 4, RFC 6890); it
  /// holds the limited broadcast 255.255.255.255.
  constexpr bool is_reserved() const { return (v >> 28) == 0xf; }
  /// True for an address no datagram on the wire may come from: what
  /// Linux calls a martian source (RFC 1122 3.2.1.3, RFC 1812 5.3.7):
  /// 0.0.0.0/8, loopback, multicast and 240.0.0.0/4 (with the limited
  /// broadcast). A subnet's directed broadcast is one too, but only the
  /// interface's configuration knows it.
  constexpr bool is_martian_source() const {
    return is_this_network() || is_loopback() || is_multicast() ||
           is_reserved();
  }
  friend constexpr bool operator==(Ipv4Addr, Ipv4Addr) = default;
};

/// An IPv6 address in wire order.
struct Ipv6Addr {
  std::array<uint8_t, 16> b{};

  /// ff02::1, all nodes on the link (RFC 4291 section 2.7.1).
  static constexpr Ipv6Addr all_nodes() {
    return Ipv6Addr{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  }
  /// The solicited-node multicast address ff02::1:ffXX:XXXX of `a`
  /// (RFC 4291 section 2.7.1).
  static constexpr Ipv6Addr solicited_node(const Ipv6Addr& a) {
    return Ipv6Addr{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, a.b[13],
                     a.b[14], a.b[15]}};
  }
  /// fe80::/64 with the modified EUI-64 interface identifier of `mac`
  /// (RFC 4291 appendix A, RFC 4862 section 5.3).
  static constexpr Ipv6Addr link_local_from_mac(const MacAddr& mac) {
    return Ipv6Addr{{0xfe, 0x80, 0, 0, 0, 0, 0, 0,
                     static_cast<uint8_t>(mac.b[0] ^ 0x02), mac.b[1], mac.b[2],
                     0xff, 0xfe, mac.b[3], mac.b[4], mac.b[5]}};
  }
  constexpr bool is_unspecified() const { return *this == Ipv6Addr{}; }
  constexpr bool is_multicast() const { return b[0] == 0xff; }
  /// fe80::/10.
  constexpr bool is_link_local() const {
    return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
  }
  constexpr bool is_loopback() const {
    return *this == Ipv6Addr{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  }
  /// ::ffff:0:0/96, an IPv4 address in IPv6 form for a node's own API
  /// (RFC 4291 2.5.5.2): never on the wire.
  constexpr bool is_v4_mapped() const {
    for (size_t i = 0; i < 10; ++i) {
      if (b[i] != 0) {
        return false;
      }
    }
    return b[10] == 0xff && b[11] == 0xff;
  }
  friend constexpr bool operator==(const Ipv6Addr&, const Ipv6Addr&) = default;
};

/// True when the first `prefix_len` bits of `a` and `b` are equal.
constexpr bool same_prefix(Ipv4Addr a, Ipv4Addr b, uint8_t prefix_len) {
  if (prefix_len == 0) {
    return true;
  }
  const uint32_t mask =
      prefix_len >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix_len);
  return (a.v & mask) == (b.v & mask);
}

/// True when the first `prefix_len` bits of `a` and `b` are equal.
constexpr bool same_prefix(const Ipv6Addr& a, const Ipv6Addr& b,
                           uint8_t prefix_len) {
  unsigned bits = prefix_len > 128 ? 128 : prefix_len;
  for (size_t i = 0; bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
    const uint8_t mask =
        bits >= 8 ? 0xff : static_cast<uint8_t>(0xff00u >> bits);
    if ((a.b[i] & mask) != (b.b[i] & mask)) {
      return false;
    }
  }
  return true;
}

/// The Ethernet group address an IPv4 multicast group maps to:
/// 01:00:5e + the low 23 bits (RFC 1112 section 6.4).
constexpr MacAddr multicast_mac(Ipv4Addr group) {
  return MacAddr{
      {0x01, 0x00, 0x5e, static_cast<uint8_t>((group.v >> 16) & 0x7f),
       static_cast<uint8_t>(group.v >> 8), static_cast<uint8_t>(group.v)}};
}

/// The Ethernet group address an IPv6 multicast group maps to:
/// 33:33 + the low 32 bits (RFC 2464 section 7).
constexpr MacAddr multicast_mac(const Ipv6Addr& group) {
  return MacAddr{
      {0x33, 0x33, group.b[12], group.b[13], group.b[14], group.b[15]}};
}

}  // namespace dptls::net
