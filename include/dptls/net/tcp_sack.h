// The sender's SACK scoreboard (RFC 2018, RFC 6675 section 2): up to
// kMaxRanges SACKed sequence ranges above SND.UNA, sorted and merged, and
// the RFC 6675 queries loss recovery needs (IsLost, pipe, the next hole to
// retransmit). SACK information is advisory (RFC 2018 section 8): when the
// board is full the highest ranges are forgotten, which only makes the
// sender retransmit more, never less.
#pragma once

#include <array>
#include <cstdint>

namespace dptls::net {

/// A half-open sequence range [start, end).
struct SeqRange {
  uint32_t start = 0;
  uint32_t end = 0;
};

class SackScoreboard {
 public:
  static constexpr uint8_t kMaxRanges = 6;

  void clear() { n_ = 0; }
  uint8_t size() const { return n_; }
  const SeqRange& range(uint8_t i) const { return r_[i]; }

  /// Merges a received SACK block, clipped to (snd_una, snd_max]. Blocks
  /// that are empty, inverted or wholly outside are ignored (a D-SACK below
  /// snd_una among them, RFC 2883). Returns true when the board changed.
  bool add(uint32_t start, uint32_t end, uint32_t snd_una, uint32_t snd_max);
  /// Forgets everything below the new cumulative ACK.
  void advance(uint32_t snd_una);
  /// Bytes SACKed.
  uint32_t sacked_bytes() const;
  /// SACKed bytes in [a, b).
  uint32_t sacked_in(uint32_t a, uint32_t b) const;
  bool is_sacked(uint32_t seq) const;
  /// The end of the highest SACKed range (snd_una when empty).
  uint32_t highest(uint32_t snd_una) const;

  /// RFC 6675 IsLost() as a boundary: an unSACKed octet below the returned
  /// sequence number has DupThresh discontiguous SACKed ranges, or more
  /// than (DupThresh - 1) * SMSS SACKed bytes, above it. Returns snd_una
  /// when no octet is lost.
  uint32_t lost_boundary(uint32_t snd_una, uint32_t smss,
                         uint32_t dup_thresh = 3) const;

  /// RFC 6675 SetPipe(): for each unSACKed octet in [snd_una, snd_max),
  /// 1 if it is not lost plus 1 if it was retransmitted (below high_rxt).
  uint32_t pipe(uint32_t snd_una, uint32_t snd_max, uint32_t high_rxt,
                uint32_t lost_bound) const;

  /// RFC 6675 NextSeg() rule 1: the first unSACKed, lost range at or after
  /// `from` (clipped to lost_bound). False when there is none.
  bool next_lost(uint32_t from, uint32_t lost_bound, SeqRange* out) const;

 private:
  void remove(uint8_t i);

  std::array<SeqRange, kMaxRanges> r_{};
  uint8_t n_ = 0;
};

}  // namespace dptls::net
