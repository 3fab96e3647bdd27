// Google Benchmark micro-benchmarks of AeadBackend::run(): every backend x
// algorithm x record size, seal and open, 32 ops with distinct keys, records
// contiguous or spread over 1448-byte TCP segments. The 32 ops go to one
// run() call (per_call:32) or to 32 single-op calls (per_call:1), which
// shows what batching saves without timing each tiny call on its own. Only
// the run() calls are timed.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <intel-ipsec-mb.h>

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

// The library's own single call, with none of dptls around it: AES-128-GCM
// seal of 32 contiguous records under 32 keys, one IMB_AES128_GCM_ENC each.
// The figure the AEAD layer's batching and segment API are measured against.
void bm_ipsec_mb_raw_gcm128(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  IMB_MGR* mgr = alloc_mb_mgr(0);
  init_mb_mgr_auto(mgr, nullptr);
  std::vector<gcm_key_data> keys(kBatch);
  std::vector<std::vector<uint8_t>> records(kBatch,
                                            std::vector<uint8_t>(size, 0x5a));
  uint8_t secret[16] = {};
  for (size_t i = 0; i < kBatch; ++i) {
    secret[0] = static_cast<uint8_t>(i);
    IMB_AES128_GCM_PRE(mgr, secret, &keys[i]);
  }
  const uint8_t nonce[12] = {};
  const uint8_t aad[5] = {};
  uint8_t tag[16];
  gcm_context_data ctx;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    for (size_t i = 0; i < kBatch; ++i) {
      IMB_AES128_GCM_ENC(mgr, &keys[i], &ctx, records[i].data(),
                         records[i].data(), size, nonce, aad, sizeof(aad), tag,
                         sizeof(tag));
    }
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kBatch * size));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kBatch));
  free_mb_mgr(mgr);
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
  benchmark::RegisterBenchmark("aead/seal/ipsec-mb-raw/aes-128-gcm",
                               dptls::app::bm_ipsec_mb_raw_gcm128)
      ->ArgName("size")
      ->Arg(256)
      ->Arg(1420)
      ->Arg(16384);
  for (const auto& backend : backends) {
    dptls::app::register_backend(backend.get());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
