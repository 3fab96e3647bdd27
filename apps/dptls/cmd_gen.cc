#include "cmd_gen.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dptls/config/config.h"
#include "dptls/gen/generator.h"

namespace dptls::app {

namespace {

using Json = nlohmann::ordered_json;

struct GenCli {
  std::string port_device;
  std::string ip;
  std::string gateway;
  std::string target;
  std::string mode = "bulk";
  uint32_t connections = 1;
  double duration = 10;
  std::string path = "/";
  std::string server_name;
  bool no_verify = false;
  std::string ca_file;
  std::vector<std::string> alpn;
  std::string hugepages = "auto";
  bool check_body = true;
  std::string json_file;
  uint32_t mtu = 1500;
  bool offloads = true;
  bool quiet = false;
};

uint32_t v4_of(const uint8_t* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
         (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

int usage(const std::string& msg) {
  fmt::print(stderr, "dptls gen: {}\n", msg);
  return kExitUsage;
}

std::string si(double v) {
  if (v >= 1e9) {
    return fmt::format("{:.2f}G", v / 1e9);
  }
  if (v >= 1e6) {
    return fmt::format("{:.2f}M", v / 1e6);
  }
  if (v >= 1e3) {
    return fmt::format("{:.1f}k", v / 1e3);
  }
  return fmt::format("{:.0f}", v);
}

std::string us(uint64_t ns) {
  return fmt::format("{:.1f} us", static_cast<double>(ns) / 1e3);
}

void print_table(const gen::GenResults& r) {
  const double s = r.seconds > 0 ? r.seconds : 1;
  auto row = [](std::string_view k, const std::string& v) {
    fmt::print("  {:<22} {}\n", k, v);
  };
  fmt::print("dptls gen results\n");
  row("mode", std::string(gen::mode_name(r.mode)));
  row("duration", fmt::format("{:.2f} s", r.seconds));
  row("connections", std::to_string(r.connections));
  row("port offloads", r.offloads);
  row("port MTU", std::to_string(r.mtu));
  row("requests", std::to_string(r.requests));
  row("bytes", std::to_string(r.bytes));
  row("req/s", fmt::format("{:.1f}", static_cast<double>(r.requests) / s));
  row("Gbps",
      fmt::format("{:.3f}", static_cast<double>(r.bytes) * 8 / s / 1e9));
  row("latency p50", us(r.latency.quantile(0.5)));
  row("latency p99", us(r.latency.quantile(0.99)));
  row("latency max", us(r.latency.max()));
  row("connects", std::to_string(r.connects));
  row("handshakes", std::to_string(r.handshakes));
  row("handshakes/s",
      fmt::format("{:.1f}", static_cast<double>(r.handshakes) / s));
  row("handshake p50", us(r.handshake_latency.quantile(0.5)));
  row("handshake p99", us(r.handshake_latency.quantile(0.99)));
  row("errors", std::to_string(r.total_errors()));
  for (size_t i = 0; i < gen::kGenErrorCount; ++i) {
    if (r.errors[i] != 0) {
      row(fmt::format("  {}",
                      gen::gen_error_name(static_cast<gen::GenError>(i))),
          std::to_string(r.errors[i]));
    }
  }
  row("generator busy", fmt::format("{:.1f} %", r.busy_ratio() * 100));
  row("tsc hz", std::to_string(r.tsc_hz));
}

Json results_json(const gen::GenResults& r) {
  const double s = r.seconds > 0 ? r.seconds : 1;
  Json errors = Json::object();
  for (size_t i = 0; i < gen::kGenErrorCount; ++i) {
    errors[std::string(gen::gen_error_name(static_cast<gen::GenError>(i)))] =
        r.errors[i];
  }
  return Json{
      {"mode", gen::mode_name(r.mode)},
      {"duration_s", r.seconds},
      {"connections", r.connections},
      {"requests", r.requests},
      {"bytes", r.bytes},
      {"requests_per_s", static_cast<double>(r.requests) / s},
      {"gbps", static_cast<double>(r.bytes) * 8 / s / 1e9},
      {"latency_ns",
       {{"p50", r.latency.quantile(0.5)},
        {"p99", r.latency.quantile(0.99)},
        {"max", r.latency.max()},
        {"mean", r.latency.mean()},
        {"count", r.latency.count()}}},
      {"connects", r.connects},
      {"handshakes", r.handshakes},
      {"handshakes_per_s", static_cast<double>(r.handshakes) / s},
      {"handshake_latency_ns",
       {{"p50", r.handshake_latency.quantile(0.5)},
        {"p99", r.handshake_latency.quantile(0.99)}}},
      {"errors_total", r.total_errors()},
      {"errors", errors},
      {"busy_ratio", r.busy_ratio()},
      {"busy_cycles", r.busy_cycles},
      {"idle_cycles", r.idle_cycles},
      {"tsc_hz", r.tsc_hz},
      {"eal_args", r.eal_args},
      {"offloads", r.offloads},
      {"mtu", r.mtu},
      {"warnings", r.warnings},
  };
}

// Option values are checked here rather than by CLI11 so that every
// rejected value exits with kExitUsage.
int run(const GenCli& c) {
  if (c.mode != "bulk" && c.mode != "rr" && c.mode != "conn") {
    return usage("--mode must be bulk, rr or conn");
  }
  if (c.connections < 1 || c.connections > 65'536) {
    return usage("--connections must be in [1, 65536]");
  }
  if (!(c.duration >= 0.1 && c.duration <= 3600)) {
    return usage("--duration must be in [0.1, 3600] seconds");
  }
  if (c.hugepages != "on" && c.hugepages != "off" && c.hugepages != "auto") {
    return usage("--hugepages must be on, off or auto");
  }
  if (c.mtu < 576 || c.mtu > 9216) {  // as config [[port]] mtu
    return usage("--mtu must be in [576, 9216]");
  }
  if (c.no_verify && !c.ca_file.empty()) {
    return usage("--ca and --no-verify contradict each other");
  }
  if (c.port_device.empty()) {
    return usage("--port-device is empty");
  }
  if (std::string why = config::port_device_problem(c.port_device);
      !why.empty()) {
    return usage("--port-device: " + why);
  }
  gen::GenOptions o;
  o.port_device = c.port_device;
  const auto ip = config::parse_ip_prefix(c.ip, true);
  if (!ip || ip->v6) {
    return usage("--ip: an IPv4 address with a prefix (a.b.c.d/len) is needed");
  }
  o.local_ip = v4_of(ip->bytes);
  o.prefix_len = ip->prefix_len;
  if (!c.gateway.empty()) {
    const auto gw = config::parse_ip_prefix(c.gateway, false);
    if (!gw || gw->v6) {
      return usage("--gateway: an IPv4 address is needed");
    }
    o.gateway = v4_of(gw->bytes);
  }
  const auto target = config::parse_socket_address(c.target);
  if (!target || target->v6 || target->port == 0) {
    return usage("--target: an IPv4 ADDR:PORT is needed");
  }
  o.target_ip = v4_of(target->bytes);
  o.target_port = target->port;
  if (c.mode == "bulk") {
    o.mode = gen::Mode::kBulk;
  } else if (c.mode == "rr") {
    o.mode = gen::Mode::kRr;
  } else {
    o.mode = gen::Mode::kConn;
  }
  o.connections = c.connections;
  o.duration_s = c.duration;
  o.path = c.path;
  if (o.path.empty() || o.path[0] != '/' ||
      o.path.find_first_of(" \r\n") != std::string::npos) {
    return usage("--path must start with / and contain no spaces");
  }
  o.server_name = c.server_name;
  o.alpn = c.alpn;
  o.mtu = static_cast<uint16_t>(c.mtu);
  o.offloads = c.offloads;
  o.check_body = c.check_body;
  o.hugepages = c.hugepages == "on"    ? gen::Hugepages::kOn
                : c.hugepages == "off" ? gen::Hugepages::kOff
                                       : gen::Hugepages::kAuto;
  if (!c.ca_file.empty()) {
    std::ifstream in(c.ca_file);
    if (!in) {
      return usage("--ca: cannot read " + c.ca_file);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    o.ca_pem = ss.str();
    o.verify = true;
    if (o.server_name.empty()) {
      return usage("--ca needs --server-name (the name to verify)");
    }
  }
  if (!c.quiet) {
    const bool tty = isatty(STDERR_FILENO) != 0;
    o.progress = [tty](const gen::GenProgress& p) {
      const double s = p.interval_s > 0 ? p.interval_s : 1;
      fmt::print(stderr,
                 "{}[{:5.1f}s] req/s {:>8}  Gbps {:6.3f}  hs/s {:>7}  "
                 "conns {:>5}  errors {}{}",
                 tty ? "\r" : "", p.elapsed_s,
                 si(static_cast<double>(p.requests) / s),
                 static_cast<double>(p.bytes) * 8 / s / 1e9,
                 si(static_cast<double>(p.handshakes) / s), p.open, p.errors,
                 tty ? "" : "\n");
      std::fflush(stderr);
    };
  }
  gen::GenResults r;
  std::string error;
  const bool ok = gen::run_generator(o, &r, &error);
  if (!c.quiet && isatty(STDERR_FILENO) != 0) {
    fmt::print(stderr, "\n");
  }
  for (const std::string& w : r.warnings) {
    fmt::print(stderr, "dptls gen: warning: {}\n", w);
  }
  if (!ok) {
    fmt::print(stderr, "dptls gen: {}\n", error);
    return kExitFailure;
  }
  print_table(r);
  std::fflush(stdout);
  if (!c.json_file.empty()) {
    std::ofstream out(c.json_file);
    out << results_json(r).dump(2) << "\n";
    if (!out) {
      fmt::print(stderr, "dptls gen: cannot write {}\n", c.json_file);
      return kExitFailure;
    }
  }
  return r.total_errors() == 0 ? kExitOk : kExitFailure;
}

}  // namespace

Command add_gen_command(CLI::App& app) {
  auto c = std::make_shared<GenCli>();
  CLI::App* cmd = app.add_subcommand(
      "gen", "DPDK TLS 1.3 load generator (bulk, rr, conn) on dptls's stack");
  cmd->add_option("--port-device", c->port_device,
                  "DPDK device: a vdev spec (net_af_packet0,iface=X, "
                  "net_memif0,role=client,socket=/tmp/x.sock) or a PCI address")
      ->required();
  cmd->add_option("--ip", c->ip, "Local IPv4 address/prefix")->required();
  cmd->add_option("--gateway", c->gateway,
                  "IPv4 next hop for off-link targets");
  cmd->add_option("--target", c->target, "The server, ADDR:PORT")->required();
  cmd->add_option("--mode", c->mode, "bulk | rr | conn")->capture_default_str();
  cmd->add_option("--connections", c->connections, "Concurrent connections")
      ->capture_default_str();
  cmd->add_option("--duration", c->duration, "Seconds to run")
      ->capture_default_str();
  cmd->add_option("--path", c->path, "Request path")->capture_default_str();
  cmd->add_option("--server-name", c->server_name,
                  "SNI and Host (and the name verified with --ca)");
  cmd->add_option("--ca", c->ca_file,
                  "Verify the server against this PEM CA bundle "
                  "(default: no verification)");
  cmd->add_flag("--no-verify", c->no_verify,
                "Do not verify the server certificate (the default)");
  cmd->add_option("--alpn", c->alpn, "ALPN protocols to offer");
  cmd->add_option("--hugepages", c->hugepages, "on | off | auto")
      ->capture_default_str();
  cmd->add_flag("--check-body,!--no-check-body", c->check_body,
                "Check every body byte against the server's pattern")
      ->capture_default_str();
  cmd->add_option("--mtu", c->mtu, "Port MTU")->capture_default_str();
  cmd->add_flag("--offloads,!--no-offloads", c->offloads,
                "Use the port's checksum and TSO offloads when it has them")
      ->capture_default_str();
  cmd->add_option("--json", c->json_file, "Write the results as JSON here");
  cmd->add_flag("-q,--quiet", c->quiet, "No progress line");
  return {cmd, [c] { return run(*c); }};
}

}  // namespace dptls::app
