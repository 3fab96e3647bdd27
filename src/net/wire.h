// Wire constants of the protocols the net library speaks. Private to
// src/net; the layers above use the public headers.
#pragma once

#include <cstdint>

namespace dptls::net::wire {

// IEEE 802.3 / 802.1Q.
inline constexpr uint16_t kEthHeaderLen = 14;
inline constexpr uint16_t kEthVlanHeaderLen = 18;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;     // IEEE 802.1ad
inline constexpr uint16_t kEtherTypeQinQOld = 0x9100;  // pre-802.1ad QinQ

// ARP (RFC 826) for Ethernet and IPv4.
inline constexpr uint16_t kArpLen = 28;
inline constexpr uint16_t kArpHrdEthernet = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;

// IPv4 (RFC 791 section 3.1).
inline constexpr uint16_t kIpv4HeaderLen = 20;
inline constexpr uint16_t kIpv4FlagDf = 0x4000;
inline constexpr uint16_t kIpv4FlagMf = 0x2000;
inline constexpr uint16_t kIpv4OffsetMask = 0x1fff;

// IPv6 (RFC 8200 section 3) and its extension headers (section 4).
inline constexpr uint16_t kIpv6HeaderLen = 40;
inline constexpr uint16_t kIpv6MinMtu = 1280;  // RFC 8200 section 5
inline constexpr uint8_t kIpv6HopByHop = 0;
inline constexpr uint8_t kIpv6Routing = 43;
inline constexpr uint8_t kIpv6Fragment = 44;
inline constexpr uint16_t kIpv6FragOffsetMask = 0xfff8;  // in 8-octet units
inline constexpr uint16_t kIpv6FragMore = 0x0001;
inline constexpr uint8_t kIpv6NoNext = 59;
inline constexpr uint8_t kIpv6DestOpts = 60;
inline constexpr int kIpv6MaxExtensionHeaders = 8;

// Upper-layer protocol numbers.
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoIcmp6 = 58;

// What an ICMP error quotes of the datagram that caused it beyond its IP
// header: "64 bits of Data Datagram" (RFC 792), for TCP the ports and the
// sequence number (RFC 5927 section 4.1).
inline constexpr uint16_t kIcmpQuotedL4Len = 8;

// ICMP (RFC 792).
inline constexpr uint16_t kIcmpHeaderLen = 8;
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpFragNeeded = 4;  // its code (RFC 1191 section 4)

// ICMPv6 (RFC 4443 section 4) and Neighbor Discovery (RFC 4861 section 4).
inline constexpr uint16_t kIcmp6HeaderLen = 4;
inline constexpr uint8_t kIcmp6PacketTooBig = 2;
inline constexpr uint16_t kIcmp6PacketTooBigLen = 8;  // with the MTU field
inline constexpr uint8_t kIcmp6EchoRequest = 128;
inline constexpr uint8_t kIcmp6EchoReply = 129;
inline constexpr uint8_t kNdRouterSolicit = 133;
inline constexpr uint8_t kNdNeighborSolicit = 135;
inline constexpr uint8_t kNdNeighborAdvert = 136;
inline constexpr uint8_t kNdRedirect = 137;
inline constexpr uint16_t kNdMessageLen = 24;  // NS and NA without options
inline constexpr uint8_t kNdOptSourceLinkAddr = 1;
inline constexpr uint8_t kNdOptTargetLinkAddr = 2;
inline constexpr uint32_t kNaFlagRouter = 0x80000000u;
inline constexpr uint32_t kNaFlagSolicited = 0x40000000u;
inline constexpr uint32_t kNaFlagOverride = 0x20000000u;
inline constexpr uint8_t kNdHopLimit = 255;

}  // namespace dptls::net::wire
