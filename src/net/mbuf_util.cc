#include "net/mbuf_util.h"

namespace dptls::net {

void trim_chain(rte_mbuf* m, uint32_t len) {
  if (len >= m->pkt_len) {
    return;
  }
  rte_mbuf* seg = m;
  uint32_t left = len;
  uint16_t nb_segs = 1;
  // len < pkt_len, so the segment holding the new end exists.
  while (left > seg->data_len) {
    left -= seg->data_len;
    seg = seg->next;
    ++nb_segs;
  }
  seg->data_len = static_cast<uint16_t>(left);
  if (seg->next != nullptr) {
    rte_pktmbuf_free(seg->next);
    seg->next = nullptr;
  }
  m->nb_segs = nb_segs;
  m->pkt_len = len;
}

}  // namespace dptls::net
