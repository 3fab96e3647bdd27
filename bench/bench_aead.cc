// Google Benchmark micro-benchmarks of AeadBackend::run(): every backend x
// algorithm x record size, seal and open, 32 ops with distinct keys, records
// contiguous or spread over 1448-byte TCP segments. The 32 ops go to one
// run() call (per_call:32) or to 32 single-op calls (per_call:1), which
// shows what batching saves without timing each tiny call on its own. Only
// the run() calls are timed.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "aead_workload.h"
#include "dptls/crypto/aead.h"

namespace dptls::app {
namespace {

using crypto::AeadAlg;
using crypto::AeadBackend;
using crypto::AeadDir;

constexpr size_t kSizes[] = {256, 1420, 16384};
constexpr size_t kSegments[] = {0, 1448};
constexpr size_t kBatch = 32;
constexpr size_t kOpsPerCall[] = {32, 1};
constexpr AeadDir kDirs[] = {AeadDir::kSeal, AeadDir::kOpen};

struct Case {
  AeadBackend* backend;
  AeadAlg alg;
  AeadDir dir;
  WorkloadShape shape;
};

std::string case_name(const Case& c) {
  return fmt::format("aead/{}/{}/{}/size:{}/seg:{}/per_call:{}",
                     c.dir == AeadDir::kSeal ? "seal" : "open",
                     c.backend->name(), crypto::aead_alg_name(c.alg),
                     c.shape.record_size, c.shape.segment_size,
                     c.shape.ops_per_call);
}

// Each iteration seals then opens the batch (so the buffers stay valid) and
// reports the time of the run() call of the direction under test.
void run_case(benchmark::State& state, const Case& c) {
  std::string error;
  std::unique_ptr<AeadWorkload> workload =
      AeadWorkload::create(*c.backend, c.alg, c.shape, &error);
  if (workload == nullptr || !workload->self_check(&error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  CycleTimes times;
  CycleFailure failure;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    if (!workload->cycle(&times, &failure)) {
      state.SkipWithError(describe_failure(failure).c_str());
      break;
    }
    const int64_t ns = c.dir == AeadDir::kSeal ? times.seal_ns : times.open_ns;
    state.SetIterationTime(static_cast<double>(ns) * 1e-9);
  }
  const auto iterations = static_cast<int64_t>(state.iterations());
  state.SetBytesProcessed(iterations *
                          static_cast<int64_t>(workload->batch_bytes()));
  state.SetItemsProcessed(iterations * static_cast<int64_t>(c.shape.batch));
}

void register_backend(AeadBackend* backend) {
  for (AeadAlg alg : crypto::kAllAeadAlgs) {
    if (!backend->supports(alg)) {
      continue;
    }
    for (size_t size : kSizes) {
      for (size_t segment : kSegments) {
        for (size_t per_call : kOpsPerCall) {
          for (AeadDir dir : kDirs) {
            WorkloadShape shape;
            shape.batch = kBatch;
            shape.ops_per_call = per_call;
            shape.record_size = size;
            shape.segment_size = segment;
            const Case c{backend, alg, dir, shape};
            benchmark::RegisterBenchmark(case_name(c).c_str(), run_case, c)
                ->UseManualTime();
          }
        }
      }
    }
  }
}

std::vector<std::unique_ptr<AeadBackend>> make_backends() {
  std::vector<std::unique_ptr<AeadBackend>> backends;
  for (crypto::BackendKind kind : crypto::kAllBackends) {
    std::string error;
    std::unique_ptr<AeadBackend> backend =
        crypto::make_backend(kind, crypto::BackendOptions{}, &error);
    if (backend == nullptr) {
      fmt::print(stderr, "skipping {}: {}\n", crypto::backend_kind_name(kind),
                 error);
      continue;
    }
    benchmark::AddCustomContext(std::string(backend->name()),
                                backend->describe());
    backends.push_back(std::move(backend));
  }
  return backends;
}

}  // namespace
}  // namespace dptls::app

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  // Declared after Initialize() and outliving every benchmark run.
  const auto backends = dptls::app::make_backends();
  for (const auto& backend : backends) {
    dptls::app::register_backend(backend.get());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
