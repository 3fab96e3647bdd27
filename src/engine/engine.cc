#include "dptls/engine/engine.h"

#include <fmt/ranges.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_random.h>
#include <rte_ring.h>
#include <rte_telemetry.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dptls/config/admin_token.h"
#include "dptls/crypto/aead.h"
#include "dptls/engine/admin_server.h"
#include "dptls/engine/cert_reload.h"
#include "dptls/engine/eal_args.h"
#include "dptls/engine/handshake_service.h"
#include "dptls/engine/handshake_threads.h"
#include "dptls/engine/port_mtu.h"
#include "dptls/net/port_offloads.h"
#include "dptls/net/stack.h"
#include "engine/worker.h"

namespace dptls::engine {

namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
static_assert(kRecordMbufDataRoom == 16384 + 512 + RTE_PKTMBUF_HEADROOM);
// How long SIGTERM waits for sessions to finish before stopping anyway.
constexpr double kDrainSeconds = 30;

// Set by the signal handlers, read by the control plane loop: a handler
// only stores to a lock-free atomic (async-signal-safe); the loop does the
// work.
std::atomic<int> g_signals{0};
std::atomic<bool> g_reload{false};
static_assert(std::atomic<int>::is_always_lock_free &&
              std::atomic<bool>::is_always_lock_free);

void on_signal(int /*sig*/) {
  g_signals.fetch_add(1, std::memory_order_relaxed);
}

// SIGHUP: reload the certificates (its default action would end the
// process).
void on_reload_signal(int /*sig*/) {
  g_reload.store(true, std::memory_order_relaxed);
}

uint64_t unix_seconds() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

struct alignas(RTE_CACHE_LINE_SIZE) WorkerSlot {
  unsigned index = 0;
  unsigned lcore = 0;
  rte_mempool* pool = nullptr;
  rte_mempool* record_pool = nullptr;
  rte_ring* neighbors = nullptr;  // ARP/ND copies from the other workers
  rte_ring* strays = nullptr;  // segments the previous worker could not place
  std::unique_ptr<Worker> worker;
  const std::atomic<bool>* stop = nullptr;
  const std::atomic<bool>* drain = nullptr;
};

int worker_main(void* arg) {
  auto& w = *static_cast<WorkerSlot*>(arg);
  w.worker->run(*w.stop, *w.drain);
  return 0;
}

// DPDK telemetry (/dptls/... commands on the EAL's telemetry socket, e.g.
// with dpdk-telemetry.py): callbacks have no context argument, so they
// read the running engine through this pointer, set while it runs. They
// run on the telemetry thread and only load the workers' relaxed atomics
// and the handshake threads' counters.
struct TelemetryView {
  const std::vector<std::unique_ptr<WorkerSlot>>* workers = nullptr;
  const HandshakeThreads* hs = nullptr;
};
// Guards the pointer against teardown (control plane only; the workers
// never take it).
std::mutex g_telemetry_mutex;
const TelemetryView* g_telemetry = nullptr;

// TSC cycles since the worker's last heartbeat (Worker::heartbeat), by
// the control plane's TSC now; 0 when the heartbeat is ahead (two cores'
// TSCs may differ by a few cycles).
uint64_t heartbeat_age(const Worker& w, uint64_t now) {
  const uint64_t beat = w.heartbeat();
  return now > beat ? now - beat : 0;
}

// /dptls/workers: sessions, busy ratio (ppm) and heartbeat age (us) per
// worker.
int telemetry_workers(const char* /*cmd*/, const char* /*params*/,
                      rte_tel_data* d) {
  const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
  const TelemetryView* v = g_telemetry;
  rte_tel_data_start_dict(d);
  if (v == nullptr) {
    return 0;
  }
  rte_tel_data_add_dict_u64(d, "workers", v->workers->size());
  const uint64_t now = rte_rdtsc();
  const uint64_t per_us = std::max<uint64_t>(1, rte_get_tsc_hz() / 1000000);
  for (const auto& w : *v->workers) {
    // As dptls_worker_heartbeat_age_seconds: read here, since a stalled
    // worker publishes nothing.
    const std::string age_key =
        "w" + std::to_string(w->index) + "_heartbeat_age_us";
    rte_tel_data_add_dict_u64(d, age_key.c_str(),
                              heartbeat_age(*w->worker, now) / per_us);
    const auto& names = w->worker->metric_names();
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].name == "dptls_sessions" ||
          names[i].name == "dptls_worker_busy_ratio") {
        const std::string key =
            "w" + std::to_string(w->index) +
            (names[i].name == "dptls_sessions" ? "_sessions" : "_busy_ppm");
        rte_tel_data_add_dict_u64(d, key.c_str(), w->worker->metric(i));
      }
    }
  }
  return 0;
}

// /dptls/events: the workers' own counters, summed over workers.
int telemetry_events(const char* /*cmd*/, const char* /*params*/,
                     rte_tel_data* d) {
  const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
  const TelemetryView* v = g_telemetry;
  rte_tel_data_start_dict(d);
  if (v == nullptr || v->workers->empty()) {
    return 0;
  }
  const auto& names = v->workers->front()->worker->metric_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].name != "dptls_worker_events_total") {
      continue;
    }
    uint64_t sum = 0;
    for (const auto& w : *v->workers) {
      sum += w->worker->metric(i);
    }
    // labels: worker="0",event="name"
    const std::string& l = names[i].labels;
    const size_t at = l.find("event=\"");
    const std::string key = l.substr(at + 7, l.size() - at - 8);
    rte_tel_data_add_dict_u64(d, key.c_str(), sum);
  }
  return 0;
}

// /dptls/handshakes: the handshake threads' counters.
int telemetry_handshakes(const char* /*cmd*/, const char* /*params*/,
                         rte_tel_data* d) {
  const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
  const TelemetryView* v = g_telemetry;
  rte_tel_data_start_dict(d);
  if (v == nullptr) {
    return 0;
  }
  const HandshakeCounters c = v->hs->counters();
  uint64_t completed = 0, failed = 0;
  for (uint64_t n : c.completed) {
    completed += n;
  }
  for (const auto& side : c.failed) {
    for (uint64_t n : side) {
      failed += n;
    }
  }
  rte_tel_data_add_dict_u64(d, "started", c.started);
  rte_tel_data_add_dict_u64(d, "completed", completed);
  rte_tel_data_add_dict_u64(d, "failed", failed);
  rte_tel_data_add_dict_u64(d, "timed_out", c.timed_out);
  rte_tel_data_add_dict_u64(d, "in_progress", c.states);
  return 0;
}

// Workers whose poll loop has not reported for longer than
// admin.worker_stall_ms (a worker stuck in a loop, or descheduled): for
// /healthz and the log. Control plane only.
class StallWatch {
 public:
  StallWatch(const std::vector<std::unique_ptr<WorkerSlot>>& ws,
             uint32_t threshold_ms)
      : ws_(ws),
        ms_(rte_get_tsc_hz() / 1000),
        threshold_(uint64_t{threshold_ms} * ms_),
        silent_ms_(ws.size(), 0) {}

  // "worker 1 stalled for 2345 ms", one line per stalled worker; empty
  // when every worker polls.
  std::string report() const {
    std::string out;
    const uint64_t now = rte_rdtsc();
    for (const auto& w : ws_) {
      const uint64_t age = heartbeat_age(*w->worker, now);
      if (age > threshold_) {
        out += fmt::format("{}worker {} stalled for {} ms",
                           out.empty() ? "" : "\n", w->index, age / ms_);
      }
    }
    return out;
  }

  // Logs each worker that stalled, or polls again, since the last call.
  void log_changes() {
    const uint64_t now = rte_rdtsc();
    for (size_t i = 0; i < ws_.size(); ++i) {
      const uint64_t age = heartbeat_age(*ws_[i]->worker, now);
      uint64_t& silent = silent_ms_[i];
      if (age > threshold_) {
        if (silent == 0) {
          spdlog::warn(
              "worker {} stalled: its poll loop has not reported for {} ms "
              "(admin.worker_stall_ms {})",
              ws_[i]->index, age / ms_, threshold_ / ms_);
        }
        silent = std::max(silent, age / ms_);
      } else if (silent != 0) {
        spdlog::info("worker {} polling again (silent for {} ms or more)",
                     ws_[i]->index, silent);
        silent = 0;
      }
    }
  }

 private:
  const std::vector<std::unique_ptr<WorkerSlot>>& ws_;
  uint64_t ms_;         // TSC cycles per millisecond
  uint64_t threshold_;  // in TSC cycles
  // Per worker: the longest silence seen while it is stalled; 0: polling.
  std::vector<uint64_t> silent_ms_;
};

// Prometheus text exposition: every worker's samples, then the handshake
// threads'. One HELP/TYPE per metric name.
std::string render_metrics(const std::vector<std::unique_ptr<WorkerSlot>>& ws,
                           const HandshakeThreads& hs) {
  std::vector<std::string> order;
  std::map<std::string, std::string> body;
  for (const auto& w : ws) {
    const auto& names = w->worker->metric_names();
    for (size_t i = 0; i < names.size(); ++i) {
      const MetricSample& m = names[i];
      auto [it, fresh] = body.try_emplace(m.name);
      if (fresh) {
        order.push_back(m.name);
        it->second = "# HELP " + m.name + " " + m.help + "\n# TYPE " + m.name +
                     (m.gauge ? " gauge\n" : " counter\n");
      }
      const uint64_t v = w->worker->metric(i);
      it->second +=
          m.name + "{" + m.labels + "} " +
          (m.scale == 1
               ? std::to_string(v)
               : fmt::format("{:.6f}", static_cast<double>(v) * m.scale)) +
          "\n";
    }
  }
  std::string out;
  for (const std::string& name : order) {
    out += body[name];
  }
  // Read here, not published by the worker: a stalled one could not.
  out +=
      "# HELP dptls_worker_heartbeat_age_seconds Time since the worker's "
      "poll loop last reported (every ms while it polls).\n"
      "# TYPE dptls_worker_heartbeat_age_seconds gauge\n";
  const uint64_t now = rte_rdtsc();
  const auto hz = static_cast<double>(rte_get_tsc_hz());
  for (const auto& w : ws) {
    out += fmt::format(
        "dptls_worker_heartbeat_age_seconds{{worker=\"{}\"}} {:.6f}\n",
        w->index, static_cast<double>(heartbeat_age(*w->worker, now)) / hz);
  }
  hs.render_prometheus(&out);
  return out;
}

// The stack's settings for port `port` with the MTU it really has
// (start_port()'s, which may be less than p.mtu).
net::NetConfig net_config(const config::PortSection& p, uint16_t port,
                          uint16_t mtu) {
  net::NetConfig c;
  rte_ether_addr mac;
  rte_eth_macaddr_get(port, &mac);
  std::memcpy(c.mac.b.data(), mac.addr_bytes, 6);
  c.mtu = mtu;
  c.clock_hz = rte_get_tsc_hz();
  auto v4 = [](const config::IpPrefix& a) {
    return net::Ipv4Addr::of(a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]);
  };
  auto v6 = [](const config::IpPrefix& a) {
    net::Ipv6Addr r;
    std::memcpy(r.b.data(), a.bytes, 16);
    return r;
  };
  if (p.ipv4) {
    c.ipv4.push_back({v4(*p.ipv4), p.ipv4->prefix_len});
  }
  if (p.gateway4) {
    c.ipv4_gateway = v4(*p.gateway4);
  }
  if (p.ipv6) {
    c.ipv6.push_back({v6(*p.ipv6), p.ipv6->prefix_len});
  }
  if (p.gateway6) {
    c.ipv6_gateway = v6(*p.gateway6);
  }
  return c;
}

// Configures the port with one queue pair per worker and starts it.
// *offloads gets what the port was configured to do for the stack, *mtu
// the MTU the port has (the configured one unless the port refused it).
bool start_port(uint16_t port, const config::Config& config,
                const std::vector<std::unique_ptr<WorkerSlot>>& workers,
                net::PortOffloadPlan* offloads, uint16_t* mtu,
                std::string* error) {
  rte_eth_dev_info info;
  if (rte_eth_dev_info_get(port, &info) != 0) {
    *error = "cannot read the port's capabilities";
    return false;
  }
  // Frames the fault injector corrupts must reach the wire corrupted: a
  // port that computes checksums after it would hide the damage.
  const bool corrupting = config.fault.corrupt > 0;
  if (corrupting) {
    spdlog::info("port {}: transmit offloads off (fault.corrupt is set)",
                 config.ports[0].name);
  }
  *offloads = net::plan_port_offloads(
      info.rx_offload_capa, info.tx_offload_capa, info.tx_desc_lim.nb_seg_max,
      net::OffloadWish{.checksums = config.ports[0].offloads,
                       .tx = !corrupting},
      info.driver_name);
  if (!offloads->tx_defect.empty()) {
    spdlog::warn("port {}: transmit offloads off: {}", config.ports[0].name,
                 offloads->tx_defect);
  }
  // Frames longer than one mbuf arrive as chains, when the port can.
  const auto wanted = static_cast<uint16_t>(config.ports[0].mtu);
  const uint32_t rx_room = mbuf_rx_room(workers.front()->pool);
  offloads->rx |= rx_scatter_offload(wanted, rx_room, info.rx_offload_capa,
                                     info.max_mtu, info.max_rx_pktlen);
  const auto queues = static_cast<uint16_t>(workers.size());
  if (queues > info.max_rx_queues || queues > info.max_tx_queues) {
    *error = "the port has " + std::to_string(info.max_rx_queues) +
             " RX queues; " + std::to_string(queues) + " workers need one each";
    return false;
  }
  rte_eth_conf conf{};
  conf.rxmode.offloads = offloads->rx;
  conf.txmode.offloads = offloads->tx;
  spdlog::info("port {}: offloads {}", config.ports[0].name,
               offloads->summary());
  // A Toeplitz key of one repeated 16-bit word hashes (a, b) and (b, a)
  // alike, so both directions of a flow land on one queue (Woo and Park,
  // "Scalable TCP session monitoring with symmetric RSS").
  static uint8_t symmetric_key[52];
  if (queues > 1 && config.ports[0].rss != config::RssMode::kOff) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
    if (config.ports[0].rss == config::RssMode::kSymmetric) {
      if (info.hash_key_size == 0 ||
          info.hash_key_size > sizeof(symmetric_key)) {
        spdlog::warn(
            "port: RSS key size {} unsupported; using the port's "
            "default key (flows may not be symmetric)",
            info.hash_key_size);
      } else {
        for (size_t i = 0; i < sizeof(symmetric_key); i += 2) {
          symmetric_key[i] = 0x6d;
          symmetric_key[i + 1] = 0x5a;
        }
        conf.rx_adv_conf.rss_conf.rss_key = symmetric_key;
        conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
      }
    }
  }
  if (rte_eth_dev_configure(port, queues, queues, &conf) != 0) {
    *error = "rte_eth_dev_configure failed";
    return false;
  }
  const PortMtu settled =
      apply_port_mtu(port, info, wanted, rx_room, offloads->rx);
  if (!settled.warning.empty()) {
    spdlog::warn("port {}: {}", config.ports[0].name, settled.warning);
  }
  if (!settled.error.empty()) {
    *error = settled.error;
    return false;
  }
  *mtu = settled.mtu;
  const int socket = rte_eth_dev_socket_id(port);
  for (const auto& w : workers) {
    const auto q = static_cast<uint16_t>(w->index);
    if (rte_eth_rx_queue_setup(port, q, kRxDesc, static_cast<unsigned>(socket),
                               nullptr, w->pool) != 0 ||
        rte_eth_tx_queue_setup(port, q, kTxDesc, static_cast<unsigned>(socket),
                               nullptr) != 0) {
      *error = "queue set-up failed for worker " + std::to_string(w->index);
      return false;
    }
  }
  if (rte_eth_dev_start(port) != 0) {
    *error = "rte_eth_dev_start failed";
    return false;
  }
  return true;
}

// TCP settings from the configuration.
net::TcpConfig tcp_config(const config::Config& config, unsigned worker,
                          uint64_t hz) {
  net::TcpConfig t;
  t.worker_id = static_cast<uint16_t>(worker);
  t.max_connections = config.limits.connections;
  t.syn_backlog = config.limits.syn_backlog;
  t.max_connections_per_source = config.limits.connections_per_source;
  t.snd_buf = config.tcp.send_buffer;
  t.rcv_buf = config.tcp.receive_buffer;
  t.cc = config.tcp.congestion_control == config::CongestionControl::kNewReno
             ? net::CcAlgo::kNewReno
             : net::CcAlgo::kCubic;
  t.clock_hz = hz;
  t.seed = rte_rand();
  return t;
}

// Whether the token file `path` now holds a token other than `running`
// (read at start): a reload keeps the running token, so a new one needs a
// restart. false without a token file, or when it cannot be read (a
// reload then fails, saying why).
bool token_file_changed(const std::string& path,
                        const config::AdminToken& running) {
  if (path.empty()) {
    return false;
  }
  config::AdminToken now;
  std::string ignored;
  return now.load(path, &ignored) && !running.same(now);
}

}  // namespace

int run_engine(const config::Config& config, const RunOptions& options) {
  if (config.ports.size() != 1) {
    spdlog::error("exactly one [[port]] is supported for now ({} given)",
                  config.ports.size());
    return 1;
  }
  std::string error;
  // SIGHUP reloads the certificates from here on: one that comes before
  // the loop runs is handled by its first round.
  g_reload.store(false, std::memory_order_relaxed);
  std::signal(SIGHUP, on_reload_signal);
  // Certificates and handshake policy first: a bad file stops us before
  // EAL touches the machine.
  auto contexts = build_server_contexts(config, &error);
  if (contexts.empty()) {
    spdlog::error("{}", error);
    return 1;
  }
  // The admin token, held until run_engine returns (its destructor wipes
  // it). A reload does not change it (a restart does).
  config::AdminToken admin_token;
  if (!config.admin.token_file.empty() &&
      !admin_token.load(config.admin.token_file, &error)) {
    spdlog::error("admin.token_file: {}", error);
    return 1;
  }
  const EalPlan plan =
      plan_eal(config, hugepages_available(),
               static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN)),
               static_cast<long>(getpid()));
  std::vector<char*> argv;
  std::vector<std::string> args = plan.args;
  argv.reserve(args.size());
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  spdlog::info("EAL: {} (hugepages {})", fmt::join(plan.args, " "),
               plan.hugepages ? "on" : "off");
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    spdlog::error("EAL initialisation failed: {}", rte_strerror(rte_errno));
    return 1;
  }
  int rc = 1;
  uint16_t port = 0;
  // The workers' wall clock; it outlives them.
  std::unique_ptr<WallClock> wall_clock;
  std::vector<std::unique_ptr<WorkerSlot>> workers;
  HandshakeThreads hs;
  std::atomic<bool> stop{false};
  std::atomic<bool> drain{false};
  do {
    if (rte_eth_dev_get_port_by_name(plan.port_names[0].c_str(), &port) != 0) {
      spdlog::error("port '{}' ({}) not found", config.ports[0].name,
                    config.ports[0].device);
      break;
    }
    const int socket = rte_eth_dev_socket_id(port);
    unsigned lcore = rte_get_next_lcore(-1, 1, 0);
    const uint32_t records = record_mbufs_per_worker(config);
    for (uint32_t i = 0; i < config.engine.workers; ++i) {
      auto w = std::make_unique<WorkerSlot>();
      w->index = i;
      w->lcore = lcore;
      const std::string name = "mbuf_w" + std::to_string(i);
      w->pool =
          rte_pktmbuf_pool_create(name.c_str(), config.dpdk.mbufs_per_worker,
                                  256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
      const std::string rname = "rec_w" + std::to_string(i);
      w->record_pool = w->pool == nullptr ? nullptr
                                          : rte_pktmbuf_pool_create(
                                                rname.c_str(), records, 128, 0,
                                                kRecordMbufDataRoom, socket);
      if (w->record_pool == nullptr) {
        error = "cannot create the mbuf pools of worker " + std::to_string(i) +
                " (" + std::to_string(config.dpdk.mbufs_per_worker) +
                " packets, " + std::to_string(records) +
                " records): " + rte_strerror(rte_errno);
        if (w->pool != nullptr) {
          rte_mempool_free(w->pool);
        }
        break;
      }
      if (config.engine.workers > 1) {
        // Many producers (the other workers), one consumer.
        const std::string rn = "nbr_w" + std::to_string(i);
        w->neighbors = rte_ring_create(rn.c_str(), 1024, socket, RING_F_SC_DEQ);
        if (w->neighbors == nullptr) {
          error = "cannot create the neighbour ring of worker " +
                  std::to_string(i) + ": " + rte_strerror(rte_errno);
          workers.push_back(std::move(w));
          break;
        }
        // One producer (the previous worker), one consumer.
        const std::string sn = "stray_w" + std::to_string(i);
        w->strays =
            rte_ring_create_elem(sn.c_str(), sizeof(net::StraySegment), 1024,
                                 socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (w->strays == nullptr) {
          error = "cannot create the stray-segment ring of worker " +
                  std::to_string(i) + ": " + rte_strerror(rte_errno);
          workers.push_back(std::move(w));
          break;
        }
      }
      workers.push_back(std::move(w));
      lcore = rte_get_next_lcore(lcore, 1, 0);
    }
    net::PortOffloadPlan offloads;
    uint16_t mtu = 0;
    if (!error.empty() ||
        !start_port(port, config, workers, &offloads, &mtu, &error)) {
      spdlog::error("port {}: {}", config.ports[0].name, error);
      break;
    }
    if (!hs.start(workers.size(), config.engine.handshake_threads,
                  config.limits.handshake_queue, contexts,
                  config.engine.keylog_file,
                  uint64_t{config.timeouts.handshake_ms} * 2, &error)) {
      spdlog::error("handshake threads: {}", error);
      break;
    }
    const uint64_t hz = rte_get_tsc_hz();
    wall_clock = std::make_unique<WallClock>(1e9 / static_cast<double>(hz));
    wall_clock->publish(system_clock_ns(), rte_rdtsc());
    for (const auto& w : workers) {
      WorkerSetup ws;
      ws.wall_clock = wall_clock.get();
      ws.index = static_cast<uint16_t>(w->index);
      ws.port = port;
      ws.queue = static_cast<uint16_t>(w->index);
      ws.pool = w->pool;
      ws.record_pool = w->record_pool;
      ws.config = &config;
      ws.neighbors_in = w->neighbors;
      ws.strays_in = w->strays;
      ws.strays_next = workers[(w->index + 1) % workers.size()]->strays;
      ws.workers = static_cast<uint16_t>(workers.size());
      for (const auto& peer : workers) {
        if (peer != w) {
          ws.neighbors_out.push_back(peer->neighbors);
        }
      }
      ws.net = net_config(config.ports[0], port, mtu);
      ws.net.tx_offloads = offloads.stack;
      ws.tcp = tcp_config(config, w->index, hz);
      for (unsigned t = 0; t < hs.threads(); ++t) {
        ws.requests.push_back(&hs.requests(w->index, t));
        ws.responses.push_back(&hs.responses(w->index, t));
      }
      w->worker = Worker::create(ws, &error);
      if (w->worker == nullptr) {
        break;
      }
      w->stop = &stop;
      w->drain = &drain;
    }
    if (!error.empty()) {
      spdlog::error("worker: {}", error);
      break;
    }
    AdminServer admin(&admin_token);
    if (config.admin.enabled && !admin.open(config.admin.listen, &error)) {
      spdlog::error("{}", error);
      break;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    for (const auto& w : workers) {
      rte_eal_remote_launch(worker_main, w.get(), w->lcore);
    }
    static TelemetryView view;
    view = TelemetryView{&workers, &hs};
    {
      const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
      g_telemetry = &view;
    }
    rte_telemetry_register_cmd(
        "/dptls/workers", telemetry_workers,
        "Sessions, busy ratio (ppm) and heartbeat age (us) per worker");
    rte_telemetry_register_cmd("/dptls/events", telemetry_events,
                               "Worker counters summed over workers");
    rte_telemetry_register_cmd("/dptls/handshakes", telemetry_handshakes,
                               "Handshake thread counters");
    spdlog::info(
        "running: {} worker(s), {} handshake thread(s) on port {} ({}); {} "
        "listener(s); admin on {}",
        workers.size(), hs.threads(), config.ports[0].name,
        config.ports[0].device, config.listeners.size(),
        config.admin.enabled ? config.admin.listen.text : "off");
    if (config.fault.worker_stall_ms != 0) {
      spdlog::warn(
          "fault: worker 0 will stop polling for {} ms, {} ms after it "
          "starts (fault.worker_stall_ms, for tests)",
          config.fault.worker_stall_ms, config.fault.worker_stall_after_ms);
    }
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto drain_start = Clock::time_point{};
    // Every listener shares one set of ticket keys.
    TicketKeyRotation rotation(contexts[0]->config().ticket_keys,
                               config.tickets.key_file);
    // Certificate reloads keep those keys: tickets resume across them.
    CertificateReloader reloader(config, std::move(contexts), unix_seconds());
    auto render = [&] {
      std::string out = render_metrics(workers, hs);
      // Key file reloads refused (e.g. not 0600) or saves that failed.
      out += "# TYPE dptls_tickets_key_file_failures_total counter\n";
      out += "dptls_tickets_key_file_failures_total " +
             std::to_string(rotation.failures()) + "\n";
      reloader.render_prometheus(&out);
      return out;
    };
    // A certificate reload, here on the control plane thread: the new
    // contexts are built completely before the handshake threads are
    // given them (HandshakeThreads::replace_contexts explains the swap);
    // a failure keeps the old ones. *text: what happened, for the admin
    // endpoint.
    auto reload = [&](const char* why, std::string* text) {
      const CertificateReloader::Result r = reloader.reload(
          [&](const ServerContexts& c, std::string* e) {
            return hs.replace_contexts(c, e);
          },
          unix_seconds());
      std::vector<std::string> needs_restart = r.needs_restart;
      if (token_file_changed(config.admin.token_file, admin_token)) {
        needs_restart.emplace_back("admin.token_file (the token in it)");
      }
      if (!needs_restart.empty()) {
        spdlog::warn(
            "reload ({}): changed but not applied, needs a restart: {}", why,
            fmt::join(needs_restart, ", "));
      }
      if (!r.ok) {
        *text = "reload failed, the certificates in use are kept: " + r.error;
        spdlog::error(
            "reload ({}) failed, the certificates in use are kept: {}", why,
            r.error);
        return false;
      }
      *text = r.changed.empty()
                  ? std::string("reloaded: no certificate changed")
                  : fmt::format("reloaded: {}", fmt::join(r.changed, ", "));
      spdlog::info("reload ({}): {}", why,
                   r.changed.empty()
                       ? std::string("certificates read again, none changed")
                       : fmt::format("new certificate material for {}",
                                     fmt::join(r.changed, ", ")));
      return true;
    };
    auto admin_reload = [&](std::string* text) {
      return reload("POST /reload", text);
    };
    // /healthz: 503 once SIGTERM (or --max-seconds) started the drain,
    // else 503 naming the workers that stopped polling.
    StallWatch stalls(workers, config.admin.worker_stall_ms);
    auto health = [&](std::string* text) {
      if (drain.load()) {
        *text = "draining";
        return false;
      }
      *text = stalls.report();
      if (!text->empty()) {
        return false;
      }
      *text = "ok";
      return true;
    };
    const AdminServer::Handlers admin_handlers{
        .render = render, .reload = admin_reload, .health = health};
    auto last_rotation_check = Clock::now();
    while (!stop.load(std::memory_order_relaxed)) {
      if (config.admin.enabled) {
        admin.serve(100, admin_handlers);
      } else {
        usleep(100000);
      }
      stalls.log_changes();
      if (g_reload.exchange(false, std::memory_order_relaxed)) {
        std::string text;
        reload("SIGHUP", &text);
      }
      if (Clock::now() - last_rotation_check >= std::chrono::seconds(1)) {
        last_rotation_check = Clock::now();
        // The workers' clock follows the system's (NTP) once a second.
        wall_clock->publish(system_clock_ns(), rte_rdtsc());
        std::string why;
        switch (rotation.tick(
            static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count()),
            &why)) {
          case TicketKeyRotation::Tick::kRotated:
            spdlog::info(
                "tickets: key rotated (the previous one still opens "
                "tickets)");
            break;
          case TicketKeyRotation::Tick::kReloaded:
            spdlog::info("tickets: keys reloaded from {}",
                         config.tickets.key_file);
            break;
          case TicketKeyRotation::Tick::kFailed:
            spdlog::warn("{}", why);
            break;
          case TicketKeyRotation::Tick::kNothing:
            break;
        }
      }
      const int signals = g_signals.load(std::memory_order_relaxed);
      const bool timed_out =
          options.max_seconds > 0 &&
          std::chrono::duration<double>(Clock::now() - start).count() >=
              options.max_seconds;
      if (!drain.load() && (signals > 0 || timed_out)) {
        spdlog::info("draining: no new connections; open sessions finish");
        drain.store(true);
        drain_start = Clock::now();
      }
      if (drain.load()) {
        uint64_t live = 0;
        for (const auto& w : workers) {
          live += w->worker->live_sessions();
        }
        const double waited =
            std::chrono::duration<double>(Clock::now() - drain_start).count();
        if (live == 0 || signals > 1 || waited >= kDrainSeconds) {
          if (live != 0) {
            spdlog::warn("stopping with {} session(s) still open", live);
          }
          stop.store(true);
        }
      }
    }
    spdlog::info("stopping");
    rte_eal_mp_wait_lcore();
    rc = 0;
  } while (false);
  stop.store(true);
  {
    const std::lock_guard<std::mutex> lock(g_telemetry_mutex);
    g_telemetry = nullptr;
  }
  rte_eal_mp_wait_lcore();
  hs.stop();
  for (auto& w : workers) {
    w->worker.reset();
  }
  if (rte_eth_dev_is_valid_port(port) != 0) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
  }
  for (auto& w : workers) {
    if (w->neighbors != nullptr) {
      void* m = nullptr;
      while (rte_ring_dequeue(w->neighbors, &m) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      }
      rte_ring_free(w->neighbors);
    }
    if (w->strays != nullptr) {
      net::StraySegment seg;
      while (rte_ring_dequeue_elem(w->strays, &seg, sizeof(seg)) == 0) {
        rte_pktmbuf_free(seg.pkt.mbuf);
      }
      rte_ring_free(w->strays);
    }
  }
  for (auto& w : workers) {
    rte_mempool_free(w->record_pool);
    rte_mempool_free(w->pool);
  }
  rte_eal_cleanup();
  return rc;
}

}  // namespace dptls::engine
