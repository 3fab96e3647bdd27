// Why the network layer dropped a packet. Every packet the stack frees
// without transmitting or delivering it is counted under exactly one reason,
// so a counter dump explains every missing packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace dptls::net {

// X(enumerator, printable name). Names are stable: metrics and tests use them.
#define DPTLS_NET_DROP_REASONS(X)                                        \
  /* Generic mbuf handling. */                                           \
  X(kHeaderNotInFirstSegment, "header_not_in_first_segment")             \
  X(kMbufNotWritable, "mbuf_not_writable")                               \
  X(kNoHeadroom, "no_headroom")                                          \
  X(kTxQueueFull, "tx_queue_full")                                       \
  X(kDeliveryQueueFull, "delivery_queue_full")                           \
  /* Ethernet and 802.1Q. */                                             \
  X(kEthTruncated, "eth_truncated")                                      \
  X(kEthBadSource, "eth_bad_source")                                     \
  X(kEthNotForUs, "eth_not_for_us")                                      \
  X(kEthUnknownType, "eth_unknown_type")                                 \
  X(kVlanMismatch, "vlan_mismatch")                                      \
  X(kVlanStacked, "vlan_stacked")                                        \
  /* ARP (RFC 826). */                                                   \
  X(kArpTruncated, "arp_truncated")                                      \
  X(kArpUnsupportedFormat, "arp_unsupported_format")                     \
  X(kArpBadOpcode, "arp_bad_opcode")                                     \
  X(kArpBadSender, "arp_bad_sender")                                     \
  X(kArpNotForUs, "arp_not_for_us")                                      \
  /* IPv4 (RFC 791, RFC 1122 section 3.2.1). */                          \
  X(kIpv4Truncated, "ipv4_truncated")                                    \
  X(kIpv4BadVersion, "ipv4_bad_version")                                 \
  X(kIpv4BadIhl, "ipv4_bad_ihl")                                         \
  X(kIpv4BadTotalLength, "ipv4_bad_total_length")                        \
  X(kIpv4TotalLengthExceedsFrame, "ipv4_total_length_exceeds_frame")     \
  X(kIpv4BadChecksum, "ipv4_bad_checksum")                               \
  X(kIpv4BadSource, "ipv4_bad_source")                                   \
  X(kIpv4NotForUs, "ipv4_not_for_us")                                    \
  X(kIpv4Fragment, "ipv4_fragment")                                      \
  X(kIpv4UnsupportedProtocol, "ipv4_unsupported_protocol")               \
  /* ICMP (RFC 792, RFC 1122 section 3.2.2). */                          \
  X(kIcmpTruncated, "icmp_truncated")                                    \
  X(kIcmpBadChecksum, "icmp_bad_checksum")                               \
  X(kIcmpUnhandledType, "icmp_unhandled_type")                           \
  X(kIcmpEchoToBroadcast, "icmp_echo_to_broadcast")                      \
  X(kIcmpBadQuote, "icmp_bad_quote")                                     \
  /* IPv6 (RFC 8200). */                                                 \
  X(kIpv6Truncated, "ipv6_truncated")                                    \
  X(kIpv6BadVersion, "ipv6_bad_version")                                 \
  X(kIpv6PayloadLengthExceedsFrame, "ipv6_payload_length_exceeds_frame") \
  X(kIpv6BadSource, "ipv6_bad_source")                                   \
  X(kIpv6NotForUs, "ipv6_not_for_us")                                    \
  X(kIpv6BadExtensionHeader, "ipv6_bad_extension_header")                \
  X(kIpv6UnknownOption, "ipv6_unknown_option")                           \
  X(kIpv6RoutingHeader, "ipv6_routing_header")                           \
  X(kIpv6Fragment, "ipv6_fragment")                                      \
  X(kIpv6TooManyExtensionHeaders, "ipv6_too_many_extension_headers")     \
  X(kIpv6NoNextHeader, "ipv6_no_next_header")                            \
  X(kIpv6UnsupportedProtocol, "ipv6_unsupported_protocol")               \
  /* ICMPv6 (RFC 4443). */                                               \
  X(kIcmp6Truncated, "icmp6_truncated")                                  \
  X(kIcmp6BadChecksum, "icmp6_bad_checksum")                             \
  X(kIcmp6UnhandledType, "icmp6_unhandled_type")                         \
  X(kIcmp6BadQuote, "icmp6_bad_quote")                                   \
  X(kIcmp6TooBigBelowMinMtu, "icmp6_too_big_below_min_mtu")              \
  /* Neighbor Discovery (RFC 4861 sections 7.1.1, 7.1.2). */             \
  X(kNdpBadHopLimit, "ndp_bad_hop_limit")                                \
  X(kNdpBadCode, "ndp_bad_code")                                         \
  X(kNdpMalformed, "ndp_malformed")                                      \
  X(kNdpNotOurTarget, "ndp_not_our_target")                              \
  /* Output and neighbour resolution. */                                 \
  X(kNoRoute, "no_route")                                                \
  X(kOutputTooLarge, "output_too_large")                                 \
  X(kNeighborTableFull, "neighbor_table_full")                           \
  X(kNeighborQueueFull, "neighbor_queue_full")                           \
  X(kNeighborUnresolved, "neighbor_unresolved")                          \
  X(kNeighborIncompleteLimit, "neighbor_incomplete_limit")               \
  /* TCP header validation (RFC 9293 section 3.1). */                    \
  X(kTcpTruncated, "tcp_truncated")                                      \
  X(kTcpBadDataOffset, "tcp_bad_data_offset")                            \
  X(kTcpBadChecksum, "tcp_bad_checksum")                                 \
  X(kTcpBadOption, "tcp_bad_option")                                     \
  X(kTcpBadFlags, "tcp_bad_flags")                                       \
  X(kTcpBadPort, "tcp_bad_port")                                         \
  /* TCP with no connection, listeners and SYN cookies (RFC 4987). */    \
  X(kTcpNoConnection, "tcp_no_connection")                               \
  X(kTcpListenBadSegment, "tcp_listen_bad_segment")                      \
  X(kTcpSynBacklogFull, "tcp_syn_backlog_full")                          \
  X(kTcpConnLimit, "tcp_conn_limit")                                     \
  X(kTcpSourceLimit, "tcp_source_limit")                                 \
  X(kTcpBadSynCookie, "tcp_bad_syn_cookie")                              \
  /* TCP segment acceptance (RFC 9293 3.10.7.4, RFC 5961, RFC 7323). */  \
  X(kTcpSynSentBadAck, "tcp_syn_sent_bad_ack")                           \
  X(kTcpSynSentNoSyn, "tcp_syn_sent_no_syn")                             \
  X(kTcpPaws, "tcp_paws")                                                \
  X(kTcpOutOfWindow, "tcp_out_of_window")                                \
  X(kTcpRstOutOfWindow, "tcp_rst_out_of_window")                         \
  X(kTcpRstChallenged, "tcp_rst_challenged")                             \
  X(kTcpRstInTimeWait, "tcp_rst_in_time_wait")                           \
  X(kTcpSynChallenged, "tcp_syn_challenged")                             \
  X(kTcpNoAck, "tcp_no_ack")                                             \
  X(kTcpAckUnacceptable, "tcp_ack_unacceptable")                         \
  X(kTcpSynReceivedBadAck, "tcp_syn_received_bad_ack")                   \
  /* TCP receive queues. */                                              \
  X(kTcpDuplicate, "tcp_duplicate")                                      \
  X(kTcpOooQueueFull, "tcp_ooo_queue_full")                              \
  X(kTcpChainTooLong, "tcp_chain_too_long")                              \
  X(kTcpDataAfterFin, "tcp_data_after_fin")                              \
  X(kTcpDataAfterClose, "tcp_data_after_close")                          \
  X(kTcpConnectionReset, "tcp_connection_reset")                         \
  /* ICMP too-big reports (RFC 1191, RFC 8201, RFC 5927). */             \
  X(kTcpPmtuNoConnection, "tcp_pmtu_no_connection")                      \
  X(kTcpPmtuOutOfWindow, "tcp_pmtu_out_of_window")                       \
  X(kTcpPmtuNotSmaller, "tcp_pmtu_not_smaller")

/// One value per reason a packet was dropped; see DPTLS_NET_DROP_REASONS.
enum class DropReason : uint16_t {
#define DPTLS_NET_DROP_ENUM(name, str) name,
  DPTLS_NET_DROP_REASONS(DPTLS_NET_DROP_ENUM)
#undef DPTLS_NET_DROP_ENUM
};

/// How many DropReason values exist.
inline constexpr size_t kDropReasonCount = 0
#define DPTLS_NET_DROP_COUNT(name, str) +1
    DPTLS_NET_DROP_REASONS(DPTLS_NET_DROP_COUNT)
#undef DPTLS_NET_DROP_COUNT
    ;

/// The printable name of `reason` ("ipv4_bad_checksum"); "unknown" for a
/// value outside the enum. The string is static.
const char* drop_reason_name(DropReason reason);

/// Drops by reason, indexed by DropReason: the part NetStats and TcpStats
/// share.
struct DropCounters {
  std::array<uint64_t, kDropReasonCount> drops{};

  uint64_t drop(DropReason r) const { return drops[static_cast<size_t>(r)]; }
  /// Sum over every reason.
  uint64_t total_drops() const {
    uint64_t sum = 0;
    for (uint64_t d : drops) {
      sum += d;
    }
    return sum;
  }
  /// Calls f(name, value) for every reason, by its printable name.
  template <typename F>
  void for_each_drop(F&& f) const {
    for (size_t i = 0; i < kDropReasonCount; ++i) {
      f(drop_reason_name(static_cast<DropReason>(i)), drops[i]);
    }
  }
};

}  // namespace dptls::net
