// Google Benchmark of the TCP flow table at a million connections: lookups
// of present keys in random order (what every received segment costs),
// misses (SYNs and strays), and insert + erase churn (connection set-up and
// tear-down's share). Also the Internet checksum over a segment's bytes
// (what every segment sent or received costs without checksum offload).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "dptls/net/checksum.h"
#include "dptls/net/tcp_flow_table.h"
#include "net/checksum_impl.h"

namespace dptls::net {
namespace {

constexpr uint32_t kConns = 1'000'000;

FlowKey KeyFor(uint32_t i) {
  // Many clients behind 64 K ports each, to one server address and port.
  return FlowKey::v4(Ipv4Addr::of(198, 18, 0, 2), 443,
                     Ipv4Addr{(198u << 24) | (19u << 16) | (i >> 16)},
                     static_cast<uint16_t>(i & 0xffff));
}

struct Filled {
  Filled() : table(kConns, 0x5eed) {
    for (uint32_t i = 0; i < kConns; ++i) {
      table.insert(KeyFor(i), i);
    }
    std::mt19937 rng(1);
    order.resize(1 << 16);
    for (auto& o : order) {
      o = rng() % kConns;
    }
  }
  FlowTable table;
  std::vector<uint32_t> order;
};

Filled& Table() {
  static Filled* f = new Filled();
  return *f;
}

void BM_FlowTableHit(benchmark::State& state) {
  Filled& f = Table();
  std::vector<FlowKey> keys;
  keys.reserve(f.order.size());
  for (uint32_t i : f.order) {
    keys.push_back(KeyFor(i));
  }
  size_t i = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    benchmark::DoNotOptimize(f.table.find(keys[i++ & 0xffff]));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["max_probe"] = f.table.max_probe();
  state.counters["bytes_per_conn"] =
      static_cast<double>(f.table.bytes_per_slot());
}

void BM_FlowTableMiss(benchmark::State& state) {
  Filled& f = Table();
  size_t i = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    benchmark::DoNotOptimize(
        f.table.find(KeyFor(kConns + static_cast<uint32_t>(i++ & 0xffff))));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// One connection closes and a new one opens, on a full table.
void BM_FlowTableChurn(benchmark::State& state) {
  Filled& f = Table();
  uint32_t next = kConns;
  size_t i = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    const uint32_t slot = f.order[i++ & 0xffff];
    if (!f.table.in_use(slot)) {
      continue;
    }
    f.table.erase(slot);
    f.table.insert(KeyFor(next++), slot);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// `sum` over `range(0)` random bytes (in L1: a segment just written).
template <typename Sum>
void RunChecksum(benchmark::State& state, Sum sum) {
  std::vector<uint8_t> data(static_cast<size_t>(state.range(0)));
  std::mt19937 rng(2);
  for (auto& b : data) {
    b = static_cast<uint8_t>(rng());
  }
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    benchmark::DoNotOptimize(sum(std::span<const uint8_t>(data)));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          state.range(0));
}

// checksum_sum(): the implementation the host picks.
void BM_ChecksumSum(benchmark::State& state) {
  RunChecksum(state,
              [](std::span<const uint8_t> d) { return checksum_sum(d); });
}

// checksum_sum_with() with implementation `range(1)` (0 scalar, 1 SSE2,
// 2 AVX2, 3 AVX-512; skipped where the CPU lacks it), so one run compares
// them.
void BM_ChecksumSumWith(benchmark::State& state) {
  const auto impl = static_cast<ChecksumImpl>(state.range(1));
  if (!checksum_impl_available(impl)) {
    state.SkipWithError("implementation not available on this CPU");
    return;
  }
  RunChecksum(state, [impl](std::span<const uint8_t> d) {
    return checksum_sum_with(impl, d);
  });
}

BENCHMARK(BM_ChecksumSum)->Arg(20)->Arg(64)->Arg(1200)->Arg(1448)->Arg(9000);
BENCHMARK(BM_ChecksumSumWith)
    ->ArgNames({"bytes", "impl"})
    ->ArgsProduct({{20, 32, 64, 128, 200, 1200, 1448, 9000}, {0, 1, 2, 3}});
BENCHMARK(BM_FlowTableHit);
BENCHMARK(BM_FlowTableMiss);
BENCHMARK(BM_FlowTableChurn);

}  // namespace
}  // namespace dptls::net

BENCHMARK_MAIN();
