// Per-worker counters of the TCP layer. Written by the owning worker only;
// readers tolerate a torn snapshot. Drops use the shared DropReason list.
#pragma once

#include <rte_common.h>

#include <array>
#include <cstdint>

#include "dptls/net/drop_reason.h"

namespace dptls::net {

// X(field). Printable as their field name.
#define DPTLS_TCP_COUNTERS(X)                                                  \
  X(segs_rx)                /* segments handed to rx() or rx_strays() */       \
  X(segs_absorbed)          /* processed and freed (ACKs, control, probes) */  \
  X(segs_queued)            /* payload kept (in order or out of order) */      \
  X(segs_tx)                /* segments sent (any kind) */                     \
  X(data_segs_tx)           /* segments carrying payload */                    \
  X(tso_sends)              /* sends the port cut into several segments */     \
  X(data_bytes_tx)          /* payload bytes sent, retransmissions included */ \
  X(data_bytes_rx)          /* new in-order payload bytes */                   \
  X(pure_acks_tx)           /* segments with only an ACK */                    \
  X(delayed_acks)           /* ACKs sent by the delayed-ACK timer */           \
  X(rx_coalesced)           /* payloads copied into the previous tailroom */   \
  X(ooo_segments)           /* segments queued out of order */                 \
  X(retransmits)            /* segments sent again (any cause) */              \
  X(fast_retransmits)       /* losses repaired by dupACK/SACK recovery */      \
  X(rto_expirations)        /* retransmission timeouts */                      \
  X(cwnd_restarts)          /* cwnd cut after an idle time (RFC 5681 4.1) */   \
  X(sack_recoveries)        /* RFC 6675 recovery episodes */                   \
  X(newreno_recoveries)     /* RFC 6582 recovery episodes */                   \
  X(partial_acks)           /* partial ACKs during recovery */                 \
  X(dupacks_rx)             /* duplicate ACKs (RFC 5681 definition) */         \
  X(rtt_samples)            /* RTT measurements taken */                       \
  X(zero_window_probes)     /* persist probes sent */                          \
  X(keepalive_probes)       /* keep-alive probes sent */                       \
  X(challenge_acks)         /* RFC 5961 challenge ACKs sent */                 \
  X(challenge_acks_limited) /* challenge ACKs suppressed by the limit */       \
  X(rst_tx)                 /* resets sent */                                  \
  X(rst_rx)                 /* acceptable resets received */                   \
  X(syn_cookies_sent)       /* SYN-ACKs answered statelessly */                \
  X(syn_cookies_ok)         /* connections made from a valid cookie */         \
  X(active_opens)           /* connect() calls that sent a SYN */              \
  X(passive_opens)          /* SYNs that created a connection */               \
  X(established)            /* connections that reached ESTABLISHED */         \
  X(closed)                 /* connections whose slot was freed */             \
  X(timeouts)               /* connections given up by a timer */              \
  X(time_wait_reused)       /* TIME-WAIT slots taken by a new SYN */           \
  X(syn_data_ignored)       /* SYNs whose payload was not taken */             \
  X(strays_forwarded)       /* segments with no connection sent to a worker */ \
  X(window_updates)         /* ACKs sent because the window opened */          \
  X(mbuf_alloc_failed)      /* header or indirect mbuf unavailable */          \
  X(tx_backpressure)        /* output deferred: the stack's queue was full */  \
  X(stale_handle_calls)     /* API calls refused for a stale handle */         \
  X(pmtu_updates)           /* ICMP too-big reports that lowered the MSS */    \
  X(pmtu_reports_forwarded) /* of strays_forwarded: too-big reports */

/// Counters of one worker's TCP layer.
/// Drops by reason: only the TCP reasons are used here.
struct alignas(RTE_CACHE_LINE_SIZE) TcpStats : DropCounters {
#define DPTLS_TCP_COUNTER_FIELD(name) uint64_t name = 0;
  DPTLS_TCP_COUNTERS(DPTLS_TCP_COUNTER_FIELD)
#undef DPTLS_TCP_COUNTER_FIELD

  /// Calls f(name, value) for every counter, then every drop reason.
  template <typename F>
  void for_each(F&& f) const {
#define DPTLS_TCP_COUNTER_VISIT(name) f(#name, name);
    DPTLS_TCP_COUNTERS(DPTLS_TCP_COUNTER_VISIT)
#undef DPTLS_TCP_COUNTER_VISIT
    for_each_drop(f);
  }
};

}  // namespace dptls::net
