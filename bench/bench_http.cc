// Google Benchmark of the HTTP application alone: on_data() with the
// request `dptls gen` sends in rr mode (57 bytes, one segment) and the
// 1 KiB response written to a connection that takes everything. Per
// iteration: parsing one request head and writing one response.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "dptls/app/http.h"

namespace dptls::app {
namespace {

class SinkConn final : public AppConn {
 public:
  SinkConn() { std::memset(state(), 0, kAppStateBytes); }
  size_t write_space() const override { return SIZE_MAX; }
  size_t write(std::span<const uint8_t> bytes) override {
    written += bytes.size();
    return bytes.size();
  }
  void shutdown() override { ++shutdowns; }
  void abort() override { ++shutdowns; }
  std::string_view alpn() const override { return {}; }
  std::string_view server_name() const override { return {}; }
  std::string_view peer_identity() const override { return {}; }
  uint64_t written = 0;
  uint64_t shutdowns = 0;
};

void BM_HttpKeepAliveRequest(benchmark::State& state) {
  HttpConfig cfg;
  cfg.body_bytes = 1024;
  HttpApp app(cfg);
  SinkConn conn;
  app.on_open(conn);
  // What src/gen/generator.cc sends with --server-name e.test.
  std::string req =
      "GET / HTTP/1.1\r\nHost: e.test\r\nUser-Agent: dptls-gen\r\n\r\n";
  const crypto::IoSegment seg{reinterpret_cast<uint8_t*>(req.data()),
                              req.size()};
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    app.on_data(conn, std::span<const crypto::IoSegment>(&seg, 1));
  }
  if (conn.shutdowns != 0) {
    state.SkipWithError("the connection was shut down");
  }
  benchmark::DoNotOptimize(conn.written);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HttpKeepAliveRequest);

}  // namespace
}  // namespace dptls::app

BENCHMARK_MAIN();
