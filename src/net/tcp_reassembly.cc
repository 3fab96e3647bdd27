// Receive queues over mbuf chains (see tcp_reassembly.h).
#include "dptls/net/tcp_reassembly.h"

#include <rte_mbuf.h>

#include <cstring>

#include "dptls/net/tcp_seq.h"
#include "net/mbuf_util.h"

namespace dptls::net {

rte_mbuf* chain_trim_front(rte_mbuf* m, uint32_t n) {
  if (m == nullptr) {
    return nullptr;
  }
  if (n >= m->pkt_len) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  const uint32_t total = m->pkt_len - n;
  uint16_t segs = m->nb_segs;
  while (n >= m->data_len) {
    n -= m->data_len;
    rte_mbuf* next = m->next;
    m->next = nullptr;
    rte_pktmbuf_free_seg(m);
    m = next;
    --segs;
  }
  m->data_off = static_cast<uint16_t>(m->data_off + n);
  m->data_len = static_cast<uint16_t>(m->data_len - n);
  m->pkt_len = total;
  m->nb_segs = segs;
  return m;
}

void chain_trim_back(rte_mbuf* m, uint32_t len) { trim_chain(m, len); }

rte_mbuf* chain_drop_empty(rte_mbuf* m) {
  rte_mbuf* head = nullptr;
  rte_mbuf* prev = nullptr;
  uint32_t total = 0;
  uint16_t segs = 0;
  while (m != nullptr) {
    rte_mbuf* next = m->next;
    if (m->data_len == 0) {
      m->next = nullptr;
      rte_pktmbuf_free_seg(m);
    } else {
      if (prev == nullptr) {
        head = m;
      } else {
        prev->next = m;
      }
      prev = m;
      total += m->data_len;
      ++segs;
    }
    m = next;
  }
  if (prev != nullptr) {
    prev->next = nullptr;
    head->pkt_len = total;
    head->nb_segs = segs;
  }
  return head;
}

bool MbufChain::append(rte_mbuf* m) {
  if (head == nullptr) {
    head = m;
    tail = rte_pktmbuf_lastseg(m);
    len = m->pkt_len;
    return true;
  }
  if (head->nb_segs + m->nb_segs > kMaxChainSegs) {
    return false;
  }
  // tail is set whenever head is; finding the last segment otherwise keeps
  // the chain whole if that ever stops holding.
  rte_mbuf* last = tail != nullptr ? tail : rte_pktmbuf_lastseg(head);
  last->next = m;
  tail = rte_pktmbuf_lastseg(m);
  head->nb_segs = static_cast<uint16_t>(head->nb_segs + m->nb_segs);
  head->pkt_len += m->pkt_len;
  len += m->pkt_len;
  return true;
}

bool MbufChain::append_coalesce(rte_mbuf* m, bool* copied) {
  *copied = false;
  if (tail != nullptr && writable(tail) && !RTE_MBUF_HAS_EXTBUF(tail) &&
      m->pkt_len <= rte_pktmbuf_tailroom(tail)) {
    uint8_t* dst = rte_pktmbuf_mtod_offset(tail, uint8_t*, tail->data_len);
    for (const rte_mbuf* s = m; s != nullptr; s = s->next) {
      std::memcpy(dst, rte_pktmbuf_mtod(s, const uint8_t*), s->data_len);
      dst += s->data_len;
    }
    tail->data_len = static_cast<uint16_t>(tail->data_len + m->pkt_len);
    head->pkt_len += m->pkt_len;
    len += m->pkt_len;
    rte_pktmbuf_free(m);
    *copied = true;
    return true;
  }
  return append(m);
}

bool MbufChain::prepend(rte_mbuf* m) {
  if (head == nullptr) {
    return append(m);
  }
  if (head->nb_segs + m->nb_segs > kMaxChainSegs) {
    return false;
  }
  rte_mbuf* last = rte_pktmbuf_lastseg(m);
  last->next = head;
  m->nb_segs = static_cast<uint16_t>(m->nb_segs + head->nb_segs);
  m->pkt_len += head->pkt_len;
  len += m->pkt_len - head->pkt_len;
  head = m;
  return true;
}

rte_mbuf* MbufChain::take() {
  rte_mbuf* m = head;
  head = nullptr;
  tail = nullptr;
  len = 0;
  return m;
}

void MbufChain::clear() { rte_pktmbuf_free(take()); }

OooResult OooQueue::insert(uint32_t seq, rte_mbuf* m, uint32_t* new_bytes) {
  *new_bytes = 0;
  uint32_t end = seq + m->pkt_len;
  uint8_t i = 0;
  while (i < n_) {
    const uint32_t rs = r_[i].seq;
    const uint32_t re = rs + r_[i].data.len;
    if (seq_ge(seq, rs) && seq_le(end, re)) {
      rte_pktmbuf_free(m);
      return OooResult::kDuplicate;
    }
    if (seq_le(seq, rs) && seq_ge(end, re)) {
      r_[i].data.clear();  // the new segment supersedes this range
      remove(i);
      continue;
    }
    if (seq_gt(seq, rs) && seq_lt(seq, re)) {
      m = chain_trim_front(m, re - seq);  // overlap at our front
      seq = re;
    } else if (seq_lt(seq, rs) && seq_gt(end, rs)) {
      chain_trim_back(m, rs - seq);  // overlap at our back
      end = rs;
    }
    ++i;
  }
  const uint32_t len = end - seq;
  uint8_t pos = 0;
  while (pos < n_ && seq_lt(r_[pos].seq, seq)) {
    ++pos;
  }
  const bool joins_prev =
      pos > 0 && r_[pos - 1].seq + r_[pos - 1].data.len == seq;
  const bool joins_next = pos < n_ && end == r_[pos].seq;
  if (!joins_prev && !joins_next && n_ == kMaxRanges) {
    rte_pktmbuf_free(m);
    return OooResult::kFull;
  }
  bool copied = false;
  if (joins_prev) {
    Range& prev = r_[pos - 1];
    if (!prev.data.append_coalesce(m, &copied)) {
      rte_pktmbuf_free(m);
      return OooResult::kFull;
    }
    if (joins_next) {
      if (!prev.data.append(r_[pos].data.head)) {
        // Too many segments to merge: keep both ranges as they are.
        *new_bytes = len;
        recent_seq_ = seq;
        return OooResult::kQueued;
      }
      r_[pos].data = MbufChain{};
      remove(pos);
    }
  } else if (joins_next) {
    Range& next = r_[pos];
    MbufChain c;
    c.append(m);
    if (!c.append(next.data.head)) {
      c.clear();
      return OooResult::kFull;
    }
    next.data = c;
    next.seq = seq;
  } else {
    for (uint8_t j = n_; j > pos; --j) {
      r_[j] = r_[j - 1];
    }
    r_[pos] = Range{};
    r_[pos].seq = seq;
    r_[pos].data.append(m);
    ++n_;
  }
  *new_bytes = len;
  recent_seq_ = seq;
  return OooResult::kQueued;
}

rte_mbuf* OooQueue::pop(uint32_t rcv_nxt, uint32_t* len) {
  if (n_ == 0 || r_[0].seq != rcv_nxt) {
    return nullptr;
  }
  *len = r_[0].data.len;
  rte_mbuf* m = r_[0].data.take();
  remove(0);
  return m;
}

uint32_t OooQueue::bytes() const {
  uint32_t sum = 0;
  for (uint8_t i = 0; i < n_; ++i) {
    sum += r_[i].data.len;
  }
  return sum;
}

uint8_t OooQueue::most_recent() const {
  for (uint8_t i = 0; i < n_; ++i) {
    if (seq_in(recent_seq_, r_[i].seq, r_[i].seq + r_[i].data.len)) {
      return i;
    }
  }
  return n_;
}

void OooQueue::remove(uint8_t i) {
  for (uint8_t j = i; j + 1 < n_; ++j) {
    r_[j] = r_[j + 1];
  }
  r_[n_ - 1] = Range{};
  --n_;
}

void OooQueue::clear() {
  for (uint8_t i = 0; i < n_; ++i) {
    r_[i].data.clear();
  }
  n_ = 0;
}

}  // namespace dptls::net
