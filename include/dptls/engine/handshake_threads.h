// The handshake threads (architecture.md, "Threads and data flow"): N
// std::threads, each with its own HandshakeService, and one request ring and
// one response ring per (worker, handshake thread) carrying the protocol of
// hs_channel.h.
//
//   HandshakeThreads hs;
//   if (!hs.start(n_workers, n_threads, 1024, contexts, keylog_path,
//                 handshake_timeout_ms, &err)) { ... }
//   // worker w, connection h:
//   const size_t t = hs.thread_for(h);
//   HsRequest* q = hs.requests(w, t).claim();  ... publish();
//   while (HsResponse* r = hs.responses(w, t).peek()) { ...; pop(); }
//   hs.replace_contexts(reloaded, &err);   // control plane: a cert reload
//   hs.stop();
//
// A thread loops over its workers' request rings (peek, handle, pop) and
// answers into that worker's response ring. It takes a request that gets
// an answer only when that ring has room for a whole answer (16 slots, or
// the ring's capacity if smaller); otherwise it leaves the worker's
// requests queued and serves the other workers (counted ring_skips()), so
// one worker that stops taking its answers holds up no other. An answer
// larger than that room can still find the ring full: the thread then waits
// (never drops) until the worker makes room or stop() is called (counted
// ring_full_waits()). An idle thread sleeps (50 us, doubling to 1 ms) so it
// does not burn a core. The rings are wiped and freed with this object.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dptls/engine/handshake_service.h"
#include "dptls/engine/hs_channel.h"

namespace dptls::engine {

class HandshakeThreads {
 public:
  HandshakeThreads() = default;
  ~HandshakeThreads() { stop(); }
  HandshakeThreads(const HandshakeThreads&) = delete;
  HandshakeThreads& operator=(const HandshakeThreads&) = delete;

  // Creates the rings (`ring_capacity` messages each, rounded up to a power
  // of two) and starts `n_threads` threads ("dptls-hs0", ...) serving
  // `contexts` (one per listener, build_server_contexts()). `keylog_path`
  // non-empty: the secrets go there (KeylogFile, opened here once).
  // States older than `handshake_timeout_ms` are swept (0: never). Each
  // thread holds at most 2 x n_workers x ring_capacity states (a worker
  // keeps at most ring_capacity handshakes), and at least 1024; a new
  // connection beyond that is refused (HandshakeServiceOptions::max_states).
  // Returns
  // false with *error set (nothing started) on failure or when already
  // started.
  bool start(size_t n_workers, size_t n_threads, size_t ring_capacity,
             const ServerContexts& contexts, const std::string& keylog_path,
             uint64_t handshake_timeout_ms, std::string* error);
  // Makes `contexts` (one per listener, build_server_contexts()) the ones
  // every thread starts new connections on: a certificate reload. Built
  // and (with a key log) wrapped here, on the calling control-plane
  // thread, then published under a mutex with a new generation number;
  // each thread, before it handles its next request, sees the generation
  // move (an acquire load), takes the set under the same mutex and gives
  // it to its service. A ClientHello a worker hands over after this
  // returns therefore starts on the new contexts; a handshake already
  // begun finishes on the context it holds. Returns false with *error set
  // (nothing published) when not started or a key log copy fails.
  bool replace_contexts(const ServerContexts& contexts, std::string* error);
  // How many sets replace_contexts() has published, and how many thread
  // `t` has taken (equal once it has handled a request since).
  uint64_t contexts_generation() const {
    return contexts_gen_.load(std::memory_order_acquire);
  }
  uint64_t contexts_taken(size_t t) const;

  // Stops and joins the threads (idempotent). The rings stay readable
  // until this object is destroyed (or started again), which wipes them.
  void stop();
  bool running() const { return started_; }

  size_t workers() const { return n_workers_; }
  size_t threads() const { return n_threads_; }
  // Worker `worker` produces into requests(worker, t) and consumes
  // responses(worker, t); thread t the other way round.
  SpscRing<HsRequest>& requests(size_t worker, size_t thread) {
    return *requests_[worker * n_threads_ + thread];
  }
  SpscRing<HsResponse>& responses(size_t worker, size_t thread) {
    return *responses_[worker * n_threads_ + thread];
  }
  // The thread serving a connection, for its whole life: slot % threads.
  size_t thread_for(net::ConnHandle h) const {
    return n_threads_ == 0 ? 0 : h.slot() % n_threads_;
  }

  // Every thread's counters added up (the key log lines once).
  HandshakeCounters counters() const;
  // Appends counters() plus the per-thread gauges as Prometheus text:
  // dptls_hs_thread_busy_ratio{thread="0"} (fraction of wall time spent
  // handling requests since start),
  // dptls_hs_thread_busy_seconds_total and dptls_hs_thread_cpu_seconds_total
  // (the wall time of rounds with work, and the thread's CPU time) and
  // dptls_hs_response_ring_full_waits_total{thread="0"} and
  // dptls_hs_response_ring_skips_total{thread="0"}.
  void render_prometheus(std::string* out) const;
  // Fraction of thread `t`'s time since start spent handling requests.
  double busy_ratio(size_t t) const;
  // Times thread `t` found a response ring full and waited.
  uint64_t ring_full_waits(size_t t) const;
  // Times thread `t` left a worker's requests queued because that worker's
  // response ring had no room for an answer.
  uint64_t ring_skips(size_t t) const;

 private:
  struct PerThread {
    std::unique_ptr<HandshakeService> service;
    std::atomic<uint64_t> busy_ns{0};
    std::atomic<uint64_t> total_ns{0};
    std::atomic<uint64_t> cpu_ns{0};  // CLOCK_THREAD_CPUTIME_ID, per round
    std::atomic<uint64_t> full_waits{0};
    std::atomic<uint64_t> ring_skips{0};
    // The contexts generation this thread's service runs (written by the
    // thread, read by tests).
    std::atomic<uint64_t> contexts_taken{0};
    std::thread thread;
  };
  void run(size_t t);
  // On thread `pt`: takes the published contexts when their generation
  // moved since it last looked.
  void take_contexts(PerThread& pt);

  size_t n_workers_ = 0;
  size_t n_threads_ = 0;
  std::vector<std::unique_ptr<SpscRing<HsRequest>>> requests_;
  std::vector<std::unique_ptr<SpscRing<HsResponse>>> responses_;
  std::vector<std::unique_ptr<PerThread>> per_thread_;
  bool started_ = false;
  std::shared_ptr<KeylogFile> keylog_;
  std::atomic<bool> stop_{false};
  // The contexts published by replace_contexts(). Thread safety: the set
  // is immutable once published (const contexts, shared_ptr refcounts are
  // atomic); next_contexts_ is written and read only under contexts_mu_;
  // contexts_gen_ is stored under the mutex (release) after the pointer
  // and only tells the threads when to take the mutex, so the hot path
  // costs one acquire load per request. The workers never see any of it.
  std::mutex contexts_mu_;
  std::shared_ptr<const ServerContexts> next_contexts_;
  std::atomic<uint64_t> contexts_gen_{0};
};

}  // namespace dptls::engine
