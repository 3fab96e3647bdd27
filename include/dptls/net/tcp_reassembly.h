// Receive-side byte queues over mbuf chains: MbufChain (an in-order queue
// that copies small payloads into the previous segment's tailroom, so the
// layer above sees few pieces) and OooQueue (a bounded set of
// out-of-order ranges, overlaps trimmed, duplicates refused, RFC 9293
// section 3.10.7.4 "seventh": segments may be queued for later delivery).
//
// Every function says whether it borrows or consumes an mbuf. Chains handed
// out are well formed: the head's pkt_len and nb_segs are right and no
// segment is empty.
#pragma once

#include <array>
#include <cstdint>

struct rte_mbuf;

namespace dptls::net {

/// Most segments one chain may hold (nb_segs is 16 bits).
inline constexpr uint16_t kMaxChainSegs = 4096;

/// Removes the first `n` bytes of chain `m`, freeing segments wholly inside
/// them. Consumes `m`; returns the new head (nullptr when nothing is left).
rte_mbuf* chain_trim_front(rte_mbuf* m, uint32_t n);
/// Cuts chain `m` to `len` bytes (len > 0), freeing the segments past it.
/// Borrows `m`.
void chain_trim_back(rte_mbuf* m, uint32_t len);
/// Frees the chain's empty segments (a header-only first segment after its
/// header was stripped). Consumes `m`; returns the new head (nullptr when
/// the chain held no bytes).
rte_mbuf* chain_drop_empty(rte_mbuf* m);

/// A queue of bytes as one mbuf chain with a tail pointer. 24 bytes.
struct MbufChain {
  rte_mbuf* head = nullptr;
  rte_mbuf* tail = nullptr;
  uint32_t len = 0;

  bool empty() const { return head == nullptr; }
  /// Appends chain `m` (well formed, no empty segments). Consumes `m` on
  /// success; false (m left with the caller) when the result would exceed
  /// kMaxChainSegs segments.
  bool append(rte_mbuf* m);
  /// As append(), but when all of `m` fits the tail segment's tailroom and
  /// the tail is a direct, unshared buffer, copies it there and frees `m`.
  /// Sets *copied accordingly.
  bool append_coalesce(rte_mbuf* m, bool* copied);
  /// Puts chain `m` in front. Consumes `m` on success (same limit).
  bool prepend(rte_mbuf* m);
  /// Hands the whole chain out (well formed) and leaves this empty.
  rte_mbuf* take();
  /// Frees every segment.
  void clear();
};

/// Result of OooQueue::insert.
enum class OooResult : uint8_t {
  kQueued,     // stored (possibly trimmed or merged)
  kDuplicate,  // every byte was already queued; freed
  kFull,       // would need another range; freed
};

/// Out-of-order ranges above RCV.NXT, sorted, disjoint and never adjacent
/// (adjacent data is merged into one chain).
class OooQueue {
 public:
  static constexpr uint8_t kMaxRanges = 4;

  struct Range {
    uint32_t seq = 0;
    MbufChain data;
  };

  /// Queues `len` bytes starting at `seq` held by chain `m` (len ==
  /// m->pkt_len > 0). Trims the parts other ranges already hold; a segment
  /// covering a whole range replaces it. Always consumes `m`. *new_bytes
  /// gets the bytes that were not queued before.
  OooResult insert(uint32_t seq, rte_mbuf* m, uint32_t* new_bytes);
  /// When the first range starts at `rcv_nxt`, removes it and returns its
  /// chain (owned by the caller) with its length; else nullptr.
  rte_mbuf* pop(uint32_t rcv_nxt, uint32_t* len);
  /// The first range's start; only meaningful when !empty().
  uint32_t first_seq() const { return r_[0].seq; }
  bool empty() const { return n_ == 0; }
  uint8_t size() const { return n_; }
  const Range& range(uint8_t i) const { return r_[i]; }
  /// Bytes queued.
  uint32_t bytes() const;
  /// Index of the range holding the most recently queued segment (RFC 2018
  /// section 4: it goes first in the SACK option); size() when none.
  uint8_t most_recent() const;
  /// Frees everything.
  void clear();

 private:
  void remove(uint8_t i);

  std::array<Range, kMaxRanges> r_{};
  uint8_t n_ = 0;
  uint32_t recent_seq_ = 0;
};

}  // namespace dptls::net
