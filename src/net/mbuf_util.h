// Private mbuf helpers of the net library: bounds-checked views of the first
// segment (parsing goes through ByteReader/ByteWriter over these), chain
// trimming and the header-placement check every parser runs first.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <optional>
#include <span>

#include "dptls/net/drop_reason.h"

namespace dptls::net {

/// The first segment's data. Borrows `m`.
inline std::span<const uint8_t> first_segment(const rte_mbuf* m) {
  return {rte_pktmbuf_mtod(m, const uint8_t*), m->data_len};
}

/// The first segment's data, writable. Borrows `m`; the caller must know it
/// may write (see writable()).
inline std::span<uint8_t> first_segment_mut(rte_mbuf* m) {
  return {rte_pktmbuf_mtod(m, uint8_t*), m->data_len};
}

/// True when the stack may modify `m`'s first segment in place: a direct
/// buffer that nobody else references. Borrows `m`.
inline bool writable(const rte_mbuf* m) {
  return RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1;
}

/// Checks that bytes [0, end) of the packet exist and lie in the first
/// segment. Returns nothing when they do, `truncated` when the packet is
/// shorter, kHeaderNotInFirstSegment when they exist but span segments.
/// Borrows `m`.
inline std::optional<DropReason> check_header(const rte_mbuf* m, uint32_t end,
                                              DropReason truncated) {
  if (end > m->pkt_len) {
    return truncated;
  }
  if (end > m->data_len) {
    return DropReason::kHeaderNotInFirstSegment;
  }
  return std::nullopt;
}

/// Cuts the packet to `len` bytes (a no-op when it is not longer), freeing
/// segments past the new end. Borrows `m` (the freed tail segments are
/// consumed).
void trim_chain(rte_mbuf* m, uint32_t len);

/// Clears receive-side metadata before a buffer is reused for output.
/// Borrows `m`.
inline void reset_tx_metadata(rte_mbuf* m) {
  m->ol_flags &= (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT);
  m->packet_type = 0;
  m->tx_offload = 0;
  m->vlan_tci = 0;
}

}  // namespace dptls::net
