// The SACK scoreboard (RFC 2018, RFC 6675).
#include "dptls/net/tcp_sack.h"

#include "dptls/net/tcp_seq.h"

namespace dptls::net {

bool SackScoreboard::add(uint32_t start, uint32_t end, uint32_t snd_una,
                         uint32_t snd_max) {
  if (!seq_lt(start, end) || !seq_gt(end, snd_una) || seq_gt(start, snd_max)) {
    return false;
  }
  start = seq_max(start, snd_una);
  end = seq_min(end, snd_max);
  if (!seq_lt(start, end)) {
    return false;
  }
  // Absorb every range overlapping or touching [start, end).
  uint8_t i = 0;
  bool changed = true;
  while (i < n_) {
    if (seq_le(r_[i].start, end) && seq_ge(r_[i].end, start)) {
      if (seq_le(r_[i].start, start) && seq_ge(r_[i].end, end)) {
        return false;  // already known
      }
      start = seq_min(start, r_[i].start);
      end = seq_max(end, r_[i].end);
      remove(i);
      continue;
    }
    ++i;
  }
  // Insert sorted.
  uint8_t pos = 0;
  while (pos < n_ && seq_lt(r_[pos].start, start)) {
    ++pos;
  }
  if (n_ == kMaxRanges) {
    if (pos == n_) {
      return false;  // forget the highest: advisory information
    }
    --n_;  // drop the current highest to make room
  }
  for (uint8_t j = n_; j > pos; --j) {
    r_[j] = r_[j - 1];
  }
  r_[pos] = SeqRange{start, end};
  ++n_;
  return changed;
}

void SackScoreboard::remove(uint8_t i) {
  for (uint8_t j = i; j + 1 < n_; ++j) {
    r_[j] = r_[j + 1];
  }
  --n_;
}

void SackScoreboard::advance(uint32_t snd_una) {
  uint8_t i = 0;
  while (i < n_) {
    if (seq_le(r_[i].end, snd_una)) {
      remove(i);
      continue;
    }
    if (seq_lt(r_[i].start, snd_una)) {
      r_[i].start = snd_una;
    }
    ++i;
  }
}

uint32_t SackScoreboard::sacked_bytes() const {
  uint32_t sum = 0;
  for (uint8_t i = 0; i < n_; ++i) {
    sum += r_[i].end - r_[i].start;
  }
  return sum;
}

uint32_t SackScoreboard::sacked_in(uint32_t a, uint32_t b) const {
  uint32_t sum = 0;
  for (uint8_t i = 0; i < n_; ++i) {
    const uint32_t s = seq_max(a, r_[i].start);
    const uint32_t e = seq_min(b, r_[i].end);
    if (seq_lt(s, e)) {
      sum += e - s;
    }
  }
  return sum;
}

bool SackScoreboard::is_sacked(uint32_t seq) const {
  for (uint8_t i = 0; i < n_; ++i) {
    if (seq_in(seq, r_[i].start, r_[i].end)) {
      return true;
    }
  }
  return false;
}

uint32_t SackScoreboard::highest(uint32_t snd_una) const {
  return n_ == 0 ? snd_una : r_[n_ - 1].end;
}

uint32_t SackScoreboard::lost_boundary(uint32_t snd_una, uint32_t smss,
                                       uint32_t dup_thresh) const {
  uint32_t bytes = 0;
  uint32_t count = 0;
  for (int i = n_ - 1; i >= 0; --i) {
    bytes += r_[i].end - r_[i].start;
    ++count;
    if (count >= dup_thresh || bytes > (dup_thresh - 1) * smss) {
      return seq_max(r_[i].start, snd_una);
    }
  }
  return snd_una;
}

uint32_t SackScoreboard::pipe(uint32_t snd_una, uint32_t snd_max,
                              uint32_t high_rxt, uint32_t lost_bound) const {
  const auto unsacked = [&](uint32_t a, uint32_t b) -> uint32_t {
    if (!seq_lt(a, b)) {
      return 0;
    }
    return (b - a) - sacked_in(a, b);
  };
  const uint32_t lost_end = seq_min(seq_max(lost_bound, snd_una), snd_max);
  const uint32_t rxt_end = seq_min(seq_max(high_rxt, snd_una), snd_max);
  return unsacked(snd_una, snd_max) - unsacked(snd_una, lost_end) +
         unsacked(snd_una, rxt_end);
}

bool SackScoreboard::next_lost(uint32_t from, uint32_t lost_bound,
                               SeqRange* out) const {
  uint32_t s = from;
  for (uint8_t i = 0; i < n_ && seq_lt(s, lost_bound); ++i) {
    if (seq_lt(s, r_[i].start)) {
      *out = SeqRange{s, seq_min(r_[i].start, lost_bound)};
      return true;
    }
    s = seq_max(s, r_[i].end);
  }
  return false;  // holes above the highest SACK are never lost
}

}  // namespace dptls::net
