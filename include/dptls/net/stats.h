// Per-worker counters of the L2/L3 layer. Written by the owning worker only,
// read by anyone who tolerates a torn snapshot (metrics scrape).
#pragma once

#include <rte_common.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "dptls/net/drop_reason.h"

namespace dptls::net {

// X(field). Event counters that are not drops; printable as their field name.
#define DPTLS_NET_COUNTERS(X)                                                  \
  X(rx_packets)            /* frames handed to rx() */                         \
  X(rx_bytes)              /* their pkt_len */                                 \
  X(tx_packets)            /* frames queued for transmission */                \
  X(delivered_tcp4)        /* IPv4 TCP segments handed up */                   \
  X(delivered_tcp6)        /* IPv6 TCP segments handed up */                   \
  X(rx_absorbed)           /* ARP replies, NAs: learned from, then freed */    \
  X(arp_requests_rx)       /* ARP requests for one of our addresses */         \
  X(arp_replies_tx)        /* ARP replies we sent */                           \
  X(arp_requests_tx)       /* ARP requests we sent (resolution, probe) */      \
  X(icmp_echo_replies_tx)  /* ICMP echo replies */                             \
  X(icmp6_echo_replies_tx) /* ICMPv6 echo replies */                           \
  X(icmp_too_big_rx)       /* frag-needed / PTB about our TCP, handed up */    \
  X(ndp_ns_rx)             /* neighbour solicitations for our targets */       \
  X(ndp_na_tx)             /* neighbour advertisements we sent */              \
  X(ndp_ns_tx)             /* neighbour solicitations we sent */               \
  X(neighbor_learned)      /* cache entries created or updated with a MAC */   \
  X(neighbor_shared_rx)    /* ARP/ND copies from other workers learned from */ \
  X(neighbor_expired)      /* cache entries removed by age or failure */       \
  X(neighbor_queued)       /* packets parked awaiting resolution */            \
  X(neighbor_released)     /* parked packets sent after resolution */          \
  X(requests_rate_limited) /* ARP/NS not sent because of the rate limit */     \
  X(mbuf_alloc_failed)     /* mempool empty when building a request */

/// Counters of one worker's L2/L3 layer, on their own cache lines.
struct alignas(RTE_CACHE_LINE_SIZE) NetStats : DropCounters {
#define DPTLS_NET_COUNTER_FIELD(name) uint64_t name = 0;
  DPTLS_NET_COUNTERS(DPTLS_NET_COUNTER_FIELD)
#undef DPTLS_NET_COUNTER_FIELD

  /// Calls f(name, value) for every event counter then every drop reason
  /// (by their printable name), e.g. to print or export them.
  template <typename F>
  void for_each(F&& f) const {
#define DPTLS_NET_COUNTER_VISIT(name) f(#name, name);
    DPTLS_NET_COUNTERS(DPTLS_NET_COUNTER_VISIT)
#undef DPTLS_NET_COUNTER_VISIT
    for_each_drop(f);
  }
};

}  // namespace dptls::net
