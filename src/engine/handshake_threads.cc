// The handshake threads: rings per (worker, thread), one HandshakeService
// per thread, the polling loop with its idle backoff, the workers it skips
// while their response ring has no room for an answer, and its waits on
// full response rings.
#include "dptls/engine/handshake_threads.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <chrono>

namespace dptls::engine {

namespace {

uint64_t mono_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// CPU time of the calling thread (a system call: control plane only).
uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_ns(uint64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000u);
  ts.tv_nsec = static_cast<long>(ns % 1000000000u);
  nanosleep(&ts, nullptr);
}

// Requests taken from one ring before moving to the next worker's.
constexpr size_t kBudget = 64;
// Free response slots a worker's ring must have before the thread takes a
// request that is answered (a batch's last kData chunk), at most the
// ring's capacity. One answer has no fixed bound: its kSend chunks carry
// the server flight, whose certificate chain and OCSP response come from
// the configuration (up to 64 KB of OCSP alone), or the NewSessionTickets
// (up to 16), then kPostFinished chunks for what the client sent after its
// Finished (up to the batch), then the final message. 16 slots (31 KB) hold
// a flight with some 25 KB of certificates, or the tickets and a few
// chunks of post-Finished bytes; an answer larger than the room left
// falls back to waiting for the worker (counted in full_waits).
constexpr size_t kAnswerRoom = 16;
constexpr uint64_t kIdleMinNs = 50'000;
constexpr uint64_t kIdleMaxNs = 1'000'000;
constexpr uint64_t kFullWaitNs = 20'000;
constexpr uint64_t kSweepEveryMs = 100;
// The least state limit per thread, whatever the rings' size.
constexpr size_t kMinStates = 1024;

}  // namespace

bool HandshakeThreads::start(size_t n_workers, size_t n_threads,
                             size_t ring_capacity,
                             const ServerContexts& contexts,
                             const std::string& keylog_path,
                             uint64_t handshake_timeout_ms,
                             std::string* error) {
  if (started_) {
    *error = "handshake threads already started";
    return false;
  }
  if (n_workers == 0 || n_threads == 0 || ring_capacity == 0) {
    *error =
        "handshake threads: workers, threads and ring capacity must be "
        "positive";
    return false;
  }
  if (n_workers > 65536 || n_threads > 256) {
    *error = "handshake threads: too many workers or threads";
    return false;
  }
  std::shared_ptr<KeylogFile> keylog;
  if (!keylog_path.empty()) {
    keylog = KeylogFile::open(keylog_path, error);
    if (keylog == nullptr) {
      return false;
    }
  }
  std::vector<std::unique_ptr<PerThread>> per_thread;
  for (size_t t = 0; t < n_threads; ++t) {
    HandshakeServiceOptions o;
    o.handshake_timeout_ms = handshake_timeout_ms;
    o.keylog = keylog;
    // A worker holds at most `ring_capacity` handshakes (the engine passes
    // limits.handshake_queue); the other half is room for states whose
    // kClosed the worker could not queue, until the sweep drops them.
    o.max_states = std::max(2 * n_workers * ring_capacity, kMinStates);
    auto pt = std::make_unique<PerThread>();
    pt->service = std::make_unique<HandshakeService>(contexts, std::move(o));
    if (!pt->service->ok()) {
      *error =
          "handshake thread " + std::to_string(t) + ": " + pt->service->error();
      return false;
    }
    per_thread.push_back(std::move(pt));
  }
  requests_.clear();
  responses_.clear();
  for (size_t i = 0; i < n_workers * n_threads; ++i) {
    requests_.push_back(std::make_unique<SpscRing<HsRequest>>(ring_capacity));
    responses_.push_back(std::make_unique<SpscRing<HsResponse>>(ring_capacity));
  }
  n_workers_ = n_workers;
  n_threads_ = n_threads;
  keylog_ = std::move(keylog);
  per_thread_ = std::move(per_thread);
  {
    // A restart serves `contexts`, not what an earlier run was given.
    const std::lock_guard<std::mutex> lock(contexts_mu_);
    next_contexts_.reset();
    contexts_gen_.store(0, std::memory_order_release);
  }
  stop_.store(false, std::memory_order_relaxed);
  for (size_t t = 0; t < n_threads; ++t) {
    per_thread_[t]->thread = std::thread([this, t] { run(t); });
    const std::string name = "dptls-hs" + std::to_string(t);
    pthread_setname_np(per_thread_[t]->thread.native_handle(), name.c_str());
  }
  started_ = true;
  return true;
}

bool HandshakeThreads::replace_contexts(const ServerContexts& contexts,
                                        std::string* error) {
  if (!started_) {
    *error = "handshake threads not started";
    return false;
  }
  auto next = std::make_shared<ServerContexts>(contexts);
  if (keylog_ != nullptr) {
    // As the services do at start (HandshakeServiceOptions::keylog), once
    // here for every thread.
    for (size_t i = 0; i < next->size(); ++i) {
      std::string err;
      auto k = with_keylog((*next)[i], keylog_, &err);
      if (k == nullptr) {
        *error = "listener[" + std::to_string(i) + "]: key log: " + err;
        return false;
      }
      (*next)[i] = std::move(k);
    }
  }
  const std::lock_guard<std::mutex> lock(contexts_mu_);
  next_contexts_ = std::move(next);
  contexts_gen_.store(contexts_gen_.load(std::memory_order_relaxed) + 1,
                      std::memory_order_release);
  return true;
}

uint64_t HandshakeThreads::contexts_taken(size_t t) const {
  return t < per_thread_.size()
             ? per_thread_[t]->contexts_taken.load(std::memory_order_acquire)
             : 0;
}

void HandshakeThreads::take_contexts(PerThread& pt) {
  if (contexts_gen_.load(std::memory_order_acquire) ==
      pt.contexts_taken.load(std::memory_order_relaxed)) {
    return;
  }
  std::shared_ptr<const ServerContexts> next;
  uint64_t gen = 0;
  {
    const std::lock_guard<std::mutex> lock(contexts_mu_);
    next = next_contexts_;
    gen = contexts_gen_.load(std::memory_order_relaxed);
  }
  // The service's copy holds the contexts; the old ones go with the last
  // handshake that started on them (their keys freed by ~Credential).
  pt.service->set_contexts(*next);
  pt.contexts_taken.store(gen, std::memory_order_release);
}

void HandshakeThreads::stop() {
  if (!started_) {
    return;
  }
  stop_.store(true, std::memory_order_release);
  for (auto& pt : per_thread_) {
    if (pt->thread.joinable()) {
      pt->thread.join();
    }
  }
  started_ = false;
}

void HandshakeThreads::run(size_t t) {
  PerThread& pt = *per_thread_[t];
  HandshakeService& svc = *pt.service;
  const uint64_t start_ns = mono_ns();
  uint64_t idle_ns = kIdleMinNs;
  uint64_t last_sweep_ms = svc.now_ms();
  bool stopping = false;
  while (!stopping && !stop_.load(std::memory_order_acquire)) {
    const uint64_t round_start = mono_ns();
    bool any = false;
    for (size_t w = 0; w < n_workers_ && !stopping; ++w) {
      SpscRing<HsRequest>& in = *requests_[w * n_threads_ + t];
      SpscRing<HsResponse>& out = *responses_[w * n_threads_ + t];
      auto emit = [&](const HsResponse& r) -> bool {
        for (;;) {
          if (HsResponse* slot = out.claim()) {
            *slot = r;
            out.publish();
            return true;
          }
          if (stop_.load(std::memory_order_acquire)) {
            return false;
          }
          pt.full_waits.fetch_add(1, std::memory_order_relaxed);
          sleep_ns(kFullWaitNs);
        }
      };
      const size_t room = std::min(kAnswerRoom, out.capacity());
      for (size_t i = 0; i < kBudget; ++i) {
        const HsRequest* req = in.peek();
        if (req == nullptr) {
          break;
        }
        // A worker that does not take its answers must not stop the
        // thread from serving the others: its requests stay queued (its
        // request ring filling is its back-pressure) until it makes room.
        if (req->kind == HsRequestKind::kData && req->end &&
            out.free_slots() < room) {
          pt.ring_skips.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        any = true;
        take_contexts(pt);
        const bool ok = svc.handle(*req, emit);
        in.pop();
        if (!ok) {
          stopping = true;  // only when stop() was called
          break;
        }
      }
    }
    const uint64_t now_ms = svc.now_ms();
    if (now_ms - last_sweep_ms >= kSweepEveryMs) {
      svc.sweep(now_ms);
      last_sweep_ms = now_ms;
    }
    const uint64_t end = mono_ns();
    if (any) {
      pt.busy_ns.fetch_add(end - round_start, std::memory_order_relaxed);
      idle_ns = kIdleMinNs;
    } else {
      sleep_ns(idle_ns);
      idle_ns = std::min(idle_ns * 2, kIdleMaxNs);
    }
    pt.total_ns.store(mono_ns() - start_ns, std::memory_order_relaxed);
    pt.cpu_ns.store(thread_cpu_ns(), std::memory_order_relaxed);
  }
}

HandshakeCounters HandshakeThreads::counters() const {
  HandshakeCounters c;
  for (const auto& pt : per_thread_) {
    c += pt->service->stats().snapshot();
  }
  if (keylog_ != nullptr) {
    c.keylog_lines = keylog_->lines();
  }
  return c;
}

double HandshakeThreads::busy_ratio(size_t t) const {
  if (t >= per_thread_.size()) {
    return 0;
  }
  const uint64_t total =
      per_thread_[t]->total_ns.load(std::memory_order_relaxed);
  const uint64_t busy = per_thread_[t]->busy_ns.load(std::memory_order_relaxed);
  return total == 0 ? 0.0 : std::min(1.0, double(busy) / double(total));
}

uint64_t HandshakeThreads::ring_full_waits(size_t t) const {
  return t < per_thread_.size()
             ? per_thread_[t]->full_waits.load(std::memory_order_relaxed)
             : 0;
}

uint64_t HandshakeThreads::ring_skips(size_t t) const {
  return t < per_thread_.size()
             ? per_thread_[t]->ring_skips.load(std::memory_order_relaxed)
             : 0;
}

void HandshakeThreads::render_prometheus(std::string* out) const {
  counters().render_prometheus(out);
  *out += "# TYPE dptls_hs_thread_busy_ratio gauge\n";
  for (size_t t = 0; t < per_thread_.size(); ++t) {
    *out += "dptls_hs_thread_busy_ratio{thread=\"" + std::to_string(t) +
            "\"} " + std::to_string(busy_ratio(t)) + "\n";
  }
  // Seconds spent handling requests (wall time of the rounds that had
  // work) and the thread's CPU seconds (idle wake-ups included): per
  // completed handshake, what one handshake thread costs in the engine.
  const auto seconds = [&](const char* name, auto field) {
    *out += std::string("# TYPE ") + name + " counter\n";
    for (size_t t = 0; t < per_thread_.size(); ++t) {
      const uint64_t ns =
          (per_thread_[t].get()->*field).load(std::memory_order_relaxed);
      *out += std::string(name) + "{thread=\"" + std::to_string(t) + "\"} " +
              std::to_string(double(ns) / 1e9) + "\n";
    }
  };
  seconds("dptls_hs_thread_busy_seconds_total", &PerThread::busy_ns);
  seconds("dptls_hs_thread_cpu_seconds_total", &PerThread::cpu_ns);
  const auto per_thread = [&](const char* name, auto value) {
    *out += std::string("# TYPE ") + name + " counter\n";
    for (size_t t = 0; t < per_thread_.size(); ++t) {
      *out += std::string(name) + "{thread=\"" + std::to_string(t) + "\"} " +
              std::to_string((this->*value)(t)) + "\n";
    }
  };
  per_thread("dptls_hs_response_ring_full_waits_total",
             &HandshakeThreads::ring_full_waits);
  per_thread("dptls_hs_response_ring_skips_total",
             &HandshakeThreads::ring_skips);
}

}  // namespace dptls::engine
