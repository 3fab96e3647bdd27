#include "dptls/engine/engine.h"

#include <arpa/inet.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dptls/engine/eal_args.h"
#include "dptls/net/stack.h"

namespace dptls::engine {

namespace {

constexpr uint16_t kBurst = 32;
constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
// Counters a worker publishes: the stack's events, then its drops.
#define DPTLS_COUNT_ONE(name) +1
constexpr size_t kNetEvents = 0 DPTLS_NET_COUNTERS(DPTLS_COUNT_ONE);
#undef DPTLS_COUNT_ONE
constexpr size_t kMaxCounters = kNetEvents + net::kDropReasonCount;

std::atomic<bool> g_stop{false};

void on_signal(int /*sig*/) { g_stop.store(true, std::memory_order_relaxed); }

// What a worker publishes for the control plane: plain relaxed atomics,
// written by the worker only, every few milliseconds.
struct Published {
  std::array<std::atomic<uint64_t>, kMaxCounters> counters{};
  std::atomic<uint64_t> busy_cycles{0};
  std::atomic<uint64_t> idle_cycles{0};
  std::atomic<uint64_t> tcp_segments_unhandled{0};
  std::atomic<uint64_t> tx_dropped{0};
};

struct alignas(RTE_CACHE_LINE_SIZE) Worker {
  unsigned index = 0;
  unsigned lcore = 0;
  uint16_t port = 0;
  uint16_t queue = 0;
  rte_mempool* pool = nullptr;
  std::unique_ptr<net::NetStack> stack;
  Published pub;
};

void publish(Worker& w, uint64_t busy, uint64_t idle, uint64_t unhandled,
             uint64_t tx_dropped) {
  size_t i = 0;
  w.stack->stats().for_each([&](std::string_view, uint64_t v) {
    if (i < kMaxCounters) {
      w.pub.counters[i++].store(v, std::memory_order_relaxed);
    }
  });
  w.pub.busy_cycles.store(busy, std::memory_order_relaxed);
  w.pub.idle_cycles.store(idle, std::memory_order_relaxed);
  w.pub.tcp_segments_unhandled.store(unhandled, std::memory_order_relaxed);
  w.pub.tx_dropped.store(tx_dropped, std::memory_order_relaxed);
}

// The poll loop: no locks, no syscalls, no allocation.
int worker_main(void* arg) {
  Worker& w = *static_cast<Worker*>(arg);
  rte_mbuf* pkts[kBurst];
  net::L4Packet segs[kBurst];
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t tick_every = hz / 1000;    // neighbour timers: 1 ms
  const uint64_t publish_every = hz / 100;  // metrics: 10 ms
  uint64_t busy = 0, idle = 0, unhandled = 0, tx_dropped = 0;
  uint64_t last_tick = rte_rdtsc(), last_publish = last_tick;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const uint64_t t0 = rte_rdtsc();
    bool worked = false;
    const uint16_t n = rte_eth_rx_burst(w.port, w.queue, pkts, kBurst);
    if (n != 0) {
      worked = true;
      w.stack->rx(pkts, n, t0);
    }
    // TCP is not in the loop yet: its segments are freed and counted.
    for (uint16_t k; (k = w.stack->poll_deliveries(segs, kBurst)) != 0;) {
      for (uint16_t i = 0; i < k; ++i) {
        rte_pktmbuf_free(segs[i].mbuf);
      }
      unhandled += k;
    }
    if (t0 - last_tick >= tick_every) {
      w.stack->tick(t0);
      last_tick = t0;
    }
    for (uint16_t t; (t = w.stack->drain_tx(pkts, kBurst)) != 0;) {
      worked = true;
      const uint16_t sent = rte_eth_tx_burst(w.port, w.queue, pkts, t);
      for (uint16_t i = sent; i < t; ++i) {
        rte_pktmbuf_free(pkts[i]);
      }
      tx_dropped += t - sent;
      if (sent < t) {
        break;  // the queue is full: try again next loop
      }
    }
    const uint64_t t1 = rte_rdtsc();
    (worked ? busy : idle) += t1 - t0;
    if (t1 - last_publish >= publish_every) {
      publish(w, busy, idle, unhandled, tx_dropped);
      last_publish = t1;
    }
  }
  publish(w, busy, idle, unhandled, tx_dropped);
  return 0;
}

// Prometheus text exposition of every worker's counters.
std::string render_metrics(const std::vector<std::unique_ptr<Worker>>& ws) {
  std::string out;
  out +=
      "# HELP dptls_net_events_total Network stack events per worker.\n"
      "# TYPE dptls_net_events_total counter\n"
      "# HELP dptls_net_drops_total Frames dropped by the network stack, by "
      "reason.\n"
      "# TYPE dptls_net_drops_total counter\n";
  for (const auto& w : ws) {
    size_t i = 0;
    const std::string worker = std::to_string(w->index);
    net::NetStats names;
    names.for_each([&](std::string_view name, uint64_t) {
      if (i >= kMaxCounters) {
        return;
      }
      const uint64_t v = w->pub.counters[i++].load(std::memory_order_relaxed);
      const bool drop = i > kNetEvents;
      out += drop ? "dptls_net_drops_total{worker=\"" + worker +
                        "\",reason=\"" + std::string(name) + "\"} "
                  : "dptls_net_events_total{worker=\"" + worker +
                        "\",event=\"" + std::string(name) + "\"} ";
      out += std::to_string(v) + "\n";
    });
  }
  // One value per worker under one metric name.
  auto per_worker = [&](const char* name, const char* type, const char* help,
                        auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
           " " + type + "\n";
    for (const auto& w : ws) {
      out += std::string(name) + "{worker=\"" + std::to_string(w->index) +
             "\"} " + value(*w) + "\n";
    }
  };
  auto load = [](const std::atomic<uint64_t>& v) {
    return v.load(std::memory_order_relaxed);
  };
  per_worker(
      "dptls_worker_busy_ratio", "gauge",
      "Share of the worker's polling time spent on packets.",
      [&](const Worker& w) {
        const auto busy = static_cast<double>(load(w.pub.busy_cycles));
        const auto idle = static_cast<double>(load(w.pub.idle_cycles));
        return std::to_string(busy + idle > 0 ? busy / (busy + idle) : 0);
      });
  per_worker("dptls_tcp_segments_unhandled_total", "counter",
             "TCP segments received before TCP is in the worker loop (freed).",
             [&](const Worker& w) {
               return std::to_string(load(w.pub.tcp_segments_unhandled));
             });
  per_worker("dptls_tx_dropped_total", "counter",
             "Frames the port's TX queue refused.", [&](const Worker& w) {
               return std::to_string(load(w.pub.tx_dropped));
             });
  return out;
}

// The admin endpoint: a kernel TCP socket served from the control plane.
class AdminServer {
 public:
  ~AdminServer() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  bool open(const config::SocketAddress& a, std::string* error) {
    fd_ = socket(a.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (a.v6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(a.port);
      std::memcpy(&s6->sin6_addr, a.bytes, 16);
      len = sizeof(*s6);
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(a.port);
      std::memcpy(&s4->sin_addr, a.bytes, 4);
      len = sizeof(*s4);
    }
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
        listen(fd_, 16) != 0) {
      *error =
          "admin: cannot listen on " + a.text + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }

  // Serves requests for up to `timeout_ms`.
  void serve(int timeout_ms,
             const std::vector<std::unique_ptr<Worker>>& workers) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) {
      return;
    }
    const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      return;
    }
    timeval tv{1, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[2048];
    const ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);
    std::string response;
    if (n > 0 && std::strncmp(buf, "GET /metrics", 12) == 0) {
      const std::string body = render_metrics(workers);
      response =
          "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
          "Content-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
    } else {
      response =
          "HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n";
    }
    for (size_t off = 0; off < response.size();) {
      const ssize_t w =
          send(c, response.data() + off, response.size() - off, MSG_NOSIGNAL);
      if (w <= 0) {
        break;
      }
      off += static_cast<size_t>(w);
    }
    close(c);
  }

 private:
  int fd_ = -1;
};

net::NetConfig net_config(const config::PortSection& p, uint16_t port) {
  net::NetConfig c;
  rte_ether_addr mac;
  rte_eth_macaddr_get(port, &mac);
  std::memcpy(c.mac.b.data(), mac.addr_bytes, 6);
  c.mtu = static_cast<uint16_t>(p.mtu);
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
bool start_port(uint16_t port, const config::Config& config,
                const std::vector<std::unique_ptr<Worker>>& workers,
                std::string* error) {
  rte_eth_dev_info info;
  if (rte_eth_dev_info_get(port, &info) != 0) {
    *error = "cannot read the port's capabilities";
    return false;
  }
  const auto queues = static_cast<uint16_t>(workers.size());
  if (queues > info.max_rx_queues || queues > info.max_tx_queues) {
    *error = "the port has " + std::to_string(info.max_rx_queues) +
             " RX queues; " + std::to_string(queues) + " workers need one each";
    return false;
  }
  rte_eth_conf conf{};
  if (queues > 1 && config.ports[0].rss != config::RssMode::kOff) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
  }
  if (rte_eth_dev_configure(port, queues, queues, &conf) != 0) {
    *error = "rte_eth_dev_configure failed";
    return false;
  }
  if (rte_eth_dev_set_mtu(port, static_cast<uint16_t>(config.ports[0].mtu)) !=
      0) {
    spdlog::warn("port: cannot set MTU {}; keeping the port's",
                 config.ports[0].mtu);
  }
  const int socket = rte_eth_dev_socket_id(port);
  for (const auto& w : workers) {
    if (rte_eth_rx_queue_setup(port, w->queue, kRxDesc,
                               static_cast<unsigned>(socket), nullptr,
                               w->pool) != 0 ||
        rte_eth_tx_queue_setup(port, w->queue, kTxDesc,
                               static_cast<unsigned>(socket), nullptr) != 0) {
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

}  // namespace

int run_engine(const config::Config& config, const RunOptions& options) {
  if (config.ports.size() != 1) {
    spdlog::error("exactly one [[port]] is supported for now ({} given)",
                  config.ports.size());
    return 1;
  }
  const EalPlan plan =
      plan_eal(config, hugepages_available(),
               static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN)));
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
  std::vector<std::unique_ptr<Worker>> workers;
  std::string error;
  do {
    if (rte_eth_dev_get_port_by_name(plan.port_names[0].c_str(), &port) != 0) {
      spdlog::error("port '{}' ({}) not found", config.ports[0].name,
                    config.ports[0].device);
      break;
    }
    unsigned lcore = rte_get_next_lcore(-1, 1, 0);
    for (uint32_t i = 0; i < config.engine.workers; ++i) {
      auto w = std::make_unique<Worker>();
      w->index = i;
      w->lcore = lcore;
      w->port = port;
      w->queue = static_cast<uint16_t>(i);
      const std::string name = "mbuf_w" + std::to_string(i);
      w->pool = rte_pktmbuf_pool_create(
          name.c_str(), config.dpdk.mbufs_per_worker, 256, 0,
          RTE_MBUF_DEFAULT_BUF_SIZE, rte_eth_dev_socket_id(port));
      if (w->pool == nullptr) {
        error = "cannot create a pool of " +
                std::to_string(config.dpdk.mbufs_per_worker) +
                " mbufs: " + rte_strerror(rte_errno);
        break;
      }
      workers.push_back(std::move(w));
      lcore = rte_get_next_lcore(lcore, 1, 0);
    }
    if (!error.empty() || !start_port(port, config, workers, &error)) {
      spdlog::error("port {}: {}", config.ports[0].name, error);
      break;
    }
    for (const auto& w : workers) {
      w->stack = net::NetStack::create(net_config(config.ports[0], port),
                                       w->pool, &error);
      if (!w->stack) {
        break;
      }
    }
    if (!error.empty()) {
      spdlog::error("network stack: {}", error);
      break;
    }
    AdminServer admin;
    if (config.admin.enabled && !admin.open(config.admin.listen, &error)) {
      spdlog::error("{}", error);
      break;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    for (const auto& w : workers) {
      rte_eal_remote_launch(worker_main, w.get(), w->lcore);
    }
    spdlog::info("running: {} worker(s) on port {} ({}); admin on {}",
                 workers.size(), config.ports[0].name, config.ports[0].device,
                 config.admin.enabled ? config.admin.listen.text : "off");
    const auto start = std::chrono::steady_clock::now();
    while (!g_stop.load(std::memory_order_relaxed)) {
      if (config.admin.enabled) {
        admin.serve(100, workers);
      } else {
        usleep(100000);
      }
      if (options.max_seconds > 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        start)
                  .count() >= options.max_seconds) {
        g_stop.store(true);
      }
    }
    spdlog::info("stopping");
    rte_eal_mp_wait_lcore();
    rc = 0;
  } while (false);
  g_stop.store(true);
  rte_eal_mp_wait_lcore();
  for (auto& w : workers) {
    w->stack.reset();
  }
  if (rte_eth_dev_is_valid_port(port) != 0) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
  }
  for (auto& w : workers) {
    rte_mempool_free(w->pool);
  }
  rte_eal_cleanup();
  return rc;
}

}  // namespace dptls::engine
