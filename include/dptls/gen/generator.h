// `dptls gen`: a DPDK TLS 1.3 load generator on dptls's own stack in client
// mode. One polling lcore runs NetStack, TcpStack and
// the RecordEngine; client handshakes (tls::ClientHandshake) run inline on
// that lcore. Connections live in a fixed table; a handshake object is
// allocated when a connection is set up (the generator, unlike the engine,
// may allocate there) and freed once its keys are installed.
//
// Modes:
//   bulk  each connection sends GET and reads the (large) body, repeatedly;
//   rr    keep-alive GETs, one outstanding per connection, with latency;
//   conn  connect, handshake, one GET, close_notify + FIN, repeat.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dptls/gen/histogram.h"

namespace dptls::gen {

enum class Mode : uint8_t { kBulk, kRr, kConn };
std::string_view mode_name(Mode m);

enum class Hugepages : uint8_t { kOn, kOff, kAuto };

// X(enumerator, printable name): why a connection failed.
#define DPTLS_GEN_ERRORS(X)                                            \
  X(kConnectFailed, "connect_failed") /* refused / SYN timed out */    \
  X(kConnectTimeout, "connect_timeout")                                \
  X(kHandshakeFailed, "handshake_failed") /* we sent an alert */       \
  X(kHandshakeAlert, "handshake_alert")   /* the server sent one */    \
  X(kHandshakeTimeout, "handshake_timeout")                            \
  X(kReset, "reset")            /* RST on an established connection */ \
  X(kPeerClosed, "peer_closed") /* FIN / close_notify too early */     \
  X(kAlert, "alert")            /* fatal alert after the handshake */  \
  X(kRecordError, "record_error")                                      \
  X(kBadStatus, "bad_status")                                          \
  X(kBadResponse, "bad_response")                                      \
  X(kBadBody, "bad_body")                                              \
  X(kResponseTimeout, "response_timeout")                              \
  X(kNoResources, "no_resources") /* mbufs, TCP slots or ports */

enum class GenError : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_GEN_ERRORS(DPTLS_X)
#undef DPTLS_X
};
inline constexpr size_t kGenErrorCount = 0
#define DPTLS_X(e, name) +1
    DPTLS_GEN_ERRORS(DPTLS_X)
#undef DPTLS_X
    ;
std::string_view gen_error_name(GenError e);

struct GenOptions {
  std::string port_device;  // vdev spec (net_...) or a PCI address
  uint32_t local_ip = 0;    // host order
  uint8_t prefix_len = 24;
  uint32_t gateway = 0;  // 0: none
  uint32_t target_ip = 0;
  uint16_t target_port = 443;
  uint16_t mtu = 1500;
  bool offloads = true;  // checksums/TSO on the port when it has them
  Mode mode = Mode::kBulk;
  uint32_t connections = 1;
  double duration_s = 10;
  std::string path = "/";
  std::string server_name;
  bool verify = false;
  std::string ca_pem;  // trust anchors when verify
  std::vector<std::string> alpn;
  Hugepages hugepages = Hugepages::kAuto;
  bool check_body = true;
  // Seconds a connect or handshake may take, and a response may stall.
  double connect_timeout_s = 5;
  double response_timeout_s = 10;
  // Live progress: called about once a second from the polling loop.
  std::function<void(const struct GenProgress&)> progress;
};

struct GenProgress {
  double elapsed_s = 0;
  double interval_s = 0;
  uint64_t requests = 0;  // in the interval
  uint64_t bytes = 0;     // in the interval
  uint64_t handshakes = 0;
  uint64_t errors = 0;  // total so far
  uint32_t open = 0;    // connections established now
};

struct GenResults {
  Mode mode = Mode::kBulk;
  double seconds = 0;  // the measured interval
  uint32_t connections = 0;
  uint64_t requests = 0;    // complete responses
  uint64_t bytes = 0;       // response bytes (head and body, plaintext)
  uint64_t connects = 0;    // TCP connections established
  uint64_t handshakes = 0;  // TLS handshakes completed
  std::array<uint64_t, kGenErrorCount> errors{};
  LatencyHistogram latency;            // ns, request sent to response complete
  LatencyHistogram handshake_latency;  // ns, connect() to keys installed
  uint64_t busy_cycles = 0;
  uint64_t idle_cycles = 0;
  uint64_t tsc_hz = 0;
  std::vector<std::string> eal_args;
  std::string offloads;  // what the port did for the stack (summary)
  uint16_t mtu = 0;      // the stack's MTU: --mtu unless the port refused it
  // Set-up trouble worth a warning (e.g. the MTU the port refused).
  std::vector<std::string> warnings;

  uint64_t total_errors() const {
    uint64_t n = 0;
    for (uint64_t e : errors) {
      n += e;
    }
    return n;
  }
  double busy_ratio() const {
    const uint64_t t = busy_cycles + idle_cycles;
    return t == 0 ? 0
                  : static_cast<double>(busy_cycles) / static_cast<double>(t);
  }
};

// The EAL arguments for one generator process: one lcore on `cpu`, the
// port as --vdev (or -a), a private runtime (--file-prefix unique per
// `pid`, and --in-memory with hugepages or --no-huge --no-shconf -m
// without), no telemetry. Pure.
std::vector<std::string> plan_gen_eal(const GenOptions& o, bool have_hugepages,
                                      unsigned cpu, long pid, uint32_t mbufs);
// Packet mbufs for `o` (receive windows, rings, requests).
uint32_t gen_mbufs(const GenOptions& o);

// Runs the generator (EAL, port, loop, teardown). Returns false with *error
// when it could not start; the results are valid otherwise.
bool run_generator(const GenOptions& o, GenResults* results,
                   std::string* error);

}  // namespace dptls::gen
