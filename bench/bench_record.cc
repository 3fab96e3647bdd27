// Google Benchmark of the worker's record engine: 16 KB TLS 1.3 records
// sealed and opened through RecordEngine for 32 connections per burst, the
// way a worker does it (one AEAD call per burst), against the bare AEAD
// layer's figure in bench_aead. Opens read records either from one
// contiguous piece or from 1448-byte pieces (TCP segments).
#include <benchmark/benchmark.h>

#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/record_engine.h"

namespace dptls::tls {
namespace {

// This thread's CPU time in seconds: what the timed calls cost, even when
// other processes share the core.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         static_cast<double>(ts.tv_nsec) * 1e-9;
}

constexpr size_t kConns = 32;
constexpr size_t kRecord = kMaxPlaintext;
constexpr CipherSuite kSuite = CipherSuite::kAes128GcmSha256;

void NoRelease(void*, void*) {}

struct NullSink : RecordSink {
  size_t bytes = 0;
  void on_data(RecordConn&, std::span<const crypto::IoSegment> d) override {
    for (const auto& s : d) {
      bytes += s.len;
    }
  }
  void on_post_handshake(RecordConn&, std::span<const uint8_t>) override {}
  void on_key_update(RecordConn&, bool) override {}
  void on_close_notify(RecordConn&) override {}
  void on_error(RecordConn&, Alert, bool) override { ++errors; }
  size_t errors = 0;
};

// 32 connections, each a sender and a receiver state under the same keys.
struct Fixture {
  explicit Fixture(crypto::BackendKind kind) {
    std::string err;
    backend = crypto::make_backend(kind, {}, &err);
    engine = std::make_unique<RecordEngine>(*backend, RecordConfig{});
    std::mt19937_64 rng(1);
    for (size_t i = 0; i < kConns; ++i) {
      std::vector<uint8_t> a(32), b(32);
      for (auto& x : a) {
        x = static_cast<uint8_t>(rng());
      }
      for (auto& x : b) {
        x = static_cast<uint8_t>(rng());
      }
      senders.push_back(std::make_unique<RecordConn>());
      receivers.push_back(std::make_unique<RecordConn>());
      engine->install(*senders[i], kSuite, {b, 0}, {a, 0});
      engine->install(*receivers[i], kSuite, {a, 0}, {b, 0});
      buffers.emplace_back(kRecord + RecordEngine::kSealOverhead, 0x42);
    }
  }

  // Seals one 16 KB record per connection; returns false on a failure.
  bool SealAll() {
    for (size_t i = 0; i < kConns; ++i) {
      if (engine->queue_seal(*senders[i], ContentType::kApplicationData,
                             buffers[i].data(), kRecord,
                             buffers[i].size()) == 0) {
        return false;
      }
    }
    return engine->seal_flush() == kConns;
  }

  // Hands each sealed record to its receiver in pieces of `piece` bytes
  // (0: one piece) and opens them all in one flush.
  bool OpenAll(size_t piece) {
    for (size_t i = 0; i < kConns; ++i) {
      uint8_t* p = buffers[i].data();
      size_t left = buffers[i].size();
      const size_t step = piece == 0 ? left : piece;
      while (left != 0) {
        const size_t n = std::min(step, left);
        receivers[i]->rx.push({p, static_cast<uint32_t>(n), nullptr});
        p += n;
        left -= n;
      }
      engine->collect(*receivers[i]);
    }
    engine->open_flush(sink, &NoRelease, nullptr);
    return sink.errors == 0;
  }

  std::unique_ptr<crypto::AeadBackend> backend;
  std::unique_ptr<RecordEngine> engine;
  std::vector<std::unique_ptr<RecordConn>> senders, receivers;
  std::vector<std::vector<uint8_t>> buffers;
  NullSink sink;
};

void BM_Seal(benchmark::State& state) {
  Fixture f(static_cast<crypto::BackendKind>(state.range(0)));
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    if (!f.SealAll()) {
      state.SkipWithError("seal failed");
      break;
    }
  }
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * kConns * kRecord));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kConns));
}

// Times only the open side; each round seals fresh records first.
void BM_Open(benchmark::State& state) {
  Fixture f(static_cast<crypto::BackendKind>(state.range(0)));
  const auto piece = static_cast<size_t>(state.range(1));
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    if (!f.SealAll()) {
      state.SkipWithError("seal failed");
      break;
    }
    const double t0 = ThreadCpuSeconds();
    const bool ok = f.OpenAll(piece);
    const double t1 = ThreadCpuSeconds();
    if (!ok) {
      state.SkipWithError("open failed");
      break;
    }
    state.SetIterationTime(t1 - t0);
  }
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations() * kConns * kRecord));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kConns));
}

BENCHMARK(BM_Seal)
    ->ArgNames({"backend"})
    ->Arg(static_cast<int>(crypto::BackendKind::kIpsecMb))
    ->Arg(static_cast<int>(crypto::BackendKind::kOpenSsl));
BENCHMARK(BM_Open)
    ->ArgNames({"backend", "piece"})
    ->Args({static_cast<int>(crypto::BackendKind::kIpsecMb), 0})
    ->Args({static_cast<int>(crypto::BackendKind::kIpsecMb), 1448})
    ->Args({static_cast<int>(crypto::BackendKind::kOpenSsl), 0})
    ->UseManualTime();

}  // namespace
}  // namespace dptls::tls

BENCHMARK_MAIN();
