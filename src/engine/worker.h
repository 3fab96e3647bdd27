// One polling worker: its port queue, network stack, TCP-lite, TLS record
// engine and applications, and its end of the rings to the handshake
// threads (architecture.md, "The worker loop").
//
// Everything here is built at start-up; run() then makes no heap
// allocation, throws nothing, takes no lock and makes no syscall.
#pragma once

#include <rte_common.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dptls/app/app.h"
#include "dptls/config/config.h"
#include "dptls/engine/hs_channel.h"
#include "dptls/engine/wall_clock.h"
#include "dptls/net/fault_injector.h"
#include "dptls/net/stack.h"
#include "dptls/net/tcp.h"
#include "dptls/tls/record_engine.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace dptls::engine {

// X(name, help): the worker's own counters, besides those of its layers.
#define DPTLS_WORKER_COUNTERS(X)                                             \
  X(connections_accepted, "TCP connections accepted by a listener")          \
  X(connections_closed, "connections whose session ended")                   \
  X(refused_draining, "connections reset because the engine is draining")    \
  X(refused_handshake_queue, "connections reset: too many in handshake")     \
  X(handshake_requests, "messages sent to the handshake threads")            \
  X(handshake_ring_full, "times a handshake ring was full (work deferred)")  \
  X(handshake_closed_deferred,                                               \
    "closed-connection notices held for a full handshake ring, sent later")  \
  X(handshake_closed_lost,                                                   \
    "closed-connection notices lost to full handshake rings (the thread's "  \
    "sweep removes those states)")                                           \
  X(handshake_responses, "messages received from the handshake threads")     \
  X(handshake_stale_responses, "responses for connections already gone")     \
  X(handshakes_completed, "handshakes whose keys reached the worker")        \
  X(handshakes_failed, "handshakes that ended with an alert")                \
  X(handshake_timeouts, "connections reset: handshake took too long")        \
  X(idle_timeouts, "sessions closed with close_notify after idling")         \
  X(closing_timeouts, "sessions reset: peer took no data while closing")     \
  X(install_failures, "traffic keys the record engine refused")              \
  X(record_errors, "sessions ended by a record-layer error we detected")     \
  X(peer_alerts, "fatal alerts received from peers")                         \
  X(close_notify_sent, "close_notify alerts sent")                           \
  X(packet_pool_empty, "packet mbuf allocations that failed")                \
  X(record_pool_empty, "record mbuf allocations that failed")                \
  X(pressure_entered,                                                        \
    "times the record pool fell below its low watermark (pressure)")         \
  X(pressure_throttled,                                                      \
    "writes held back: the session had its share of record buffers in TCP "  \
    "while the pool was under pressure")                                     \
  X(pressure_resets,                                                         \
    "sessions reset under record-pool pressure: holding buffers, peer "      \
    "stalled for send_stall_ms")                                             \
  X(rx_stream_stuck, "sessions reset: too many tiny pieces for one record")  \
  X(tcp_send_refused, "sealed records TCP refused (session reset)")          \
  X(tx_dropped, "frames the port's TX queue refused")                        \
  X(tx_prepare_failed, "frames the port's offload checks refused")           \
  X(neighbor_frames_shared, "ARP/ND frames copied to the other workers")     \
  X(neighbor_share_failed, "ARP/ND copies lost: no mbuf or a full ring")     \
  X(stray_ring_full, "segments for another worker answered here: ring full") \
  X(app_bytes_rx, "plaintext bytes handed to applications")                  \
  X(app_bytes_tx, "plaintext bytes written by applications")

struct WorkerCounters {
#define DPTLS_X(name, help) uint64_t name = 0;
  DPTLS_WORKER_COUNTERS(DPTLS_X)
#undef DPTLS_X
};

// Everything a worker is built from.
struct WorkerSetup {
  uint16_t index = 0;
  uint16_t port = 0;
  uint16_t queue = 0;
  rte_mempool* pool = nullptr;         // packets, handshake bytes
  rte_mempool* record_pool = nullptr;  // one sealed record per mbuf
  const config::Config* config = nullptr;
  net::NetConfig net;  // tx_offloads as the port was configured
  net::TcpConfig tcp;
  // With several workers: ARP and Neighbor Discovery frames this worker
  // receives are copied to the others' rings (multi-producer, one
  // consumer), since RSS hands them to one queue only.
  rte_ring* neighbors_in = nullptr;
  std::vector<rte_ring*> neighbors_out;
  // With several workers: segments that match none of this worker's
  // connections go to the next worker's ring (elements are
  // net::StraySegment), in case the port's steering misplaced them
  // (net::StraySink); strays_in brings the previous worker's.
  rte_ring* strays_in = nullptr;
  rte_ring* strays_next = nullptr;
  uint16_t workers = 1;
  // The rings to and from each handshake thread (index = thread).
  std::vector<SpscRing<HsRequest>*> requests;
  std::vector<SpscRing<HsResponse>*> responses;
  // The engine's wall clock (its control plane publishes to it); null: the
  // worker sets up its own from the wall clock at start-up.
  const WallClock* wall_clock = nullptr;
};

// One metric sample a worker publishes: a name with labels, and the value
// slot the worker stores into (relaxed atomics, written by the worker).
struct MetricSample {
  std::string name;    // e.g. dptls_tcp_events_total
  std::string labels;  // e.g. worker="0",event="segs_rx"
  std::string help;
  bool gauge = false;
  double scale = 1;  // the value shown is the published one times this
};

class Worker {
 public:
  // Builds the stacks and tables. nullptr with *error on failure.
  static std::unique_ptr<Worker> create(const WorkerSetup& setup,
                                        std::string* error);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The poll loop, until `stop`. With `drain` set: new connections are
  // refused, idle sessions get close_notify; sessions() reaches 0.
  void run(const std::atomic<bool>& stop, const std::atomic<bool>& drain);

  // Published every ~10 ms (readable from any thread).
  const std::vector<MetricSample>& metric_names() const { return names_; }
  uint64_t metric(size_t i) const {
    return values_[i].load(std::memory_order_relaxed);
  }
  uint64_t live_sessions() const {
    return live_pub_.load(std::memory_order_relaxed);
  }
  unsigned index() const { return setup_.index; }
  // The TSC of the poll loop's last timer tick (every ms; at creation
  // before the loop runs): one that stops moving is a worker that stopped
  // polling (the admin endpoint's /healthz and heartbeat age).
  uint64_t heartbeat() const {
    return heartbeat_.load(std::memory_order_relaxed);
  }

  struct Session;  // worker.cc

 private:
  explicit Worker(const WorkerSetup& setup);
  bool init(std::string* error);
  void publish();

  WorkerSetup setup_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<MetricSample> names_;
  std::unique_ptr<std::atomic<uint64_t>[]> values_;
  std::atomic<uint64_t> live_pub_{0};
  // Its own cache line: the control plane reads it while the worker
  // stores to it every millisecond.
  alignas(RTE_CACHE_LINE_SIZE) std::atomic<uint64_t> heartbeat_{0};
};

}  // namespace dptls::engine
