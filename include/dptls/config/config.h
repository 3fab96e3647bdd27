// The engine's configuration: a TOML file (toml++), read and checked at
// start-up. Every invalid value is reported with its file, line, key and
// reason, all of them at once, and the engine does not start. A reload
// (SIGHUP, engine/cert_reload.h) reads and checks it again the same way and
// applies only the certificate material; the structs compare with == so it
// can tell which other sections changed.
// docs/configuration.md documents every key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dptls::config {

struct ConfigError {
  std::string file;
  uint32_t line = 0;  // 0 when the error has no position (a missing key)
  uint32_t column = 0;
  std::string key;  // dotted path, e.g. "listener[0].certificate[1].chain"
  std::string reason;

  // "file:line:column: key: reason".
  std::string to_string() const;
};

// An IPv4 or IPv6 address with a prefix length (CIDR).
struct IpPrefix {
  bool v6 = false;
  uint8_t bytes[16] = {};  // network order; IPv4 in the first 4
  uint8_t prefix_len = 0;
  std::string text;  // as written

  bool operator==(const IpPrefix&) const = default;
};

// host:port, [v6]:port.
struct SocketAddress {
  bool v6 = false;
  uint8_t bytes[16] = {};
  uint16_t port = 0;
  std::string text;

  bool operator==(const SocketAddress&) const = default;
};

enum class HugepageMode : uint8_t { kAuto, kOn, kOff };
enum class RssMode : uint8_t { kSymmetric, kDefault, kOff };
enum class AppKind : uint8_t { kEcho, kHttp, kProxy };
enum class LogLevel : uint8_t { kTrace, kDebug, kInfo, kWarn, kError };
enum class CongestionControl : uint8_t { kCubic, kNewReno };

struct EngineSection {
  uint32_t workers = 1;
  uint32_t handshake_threads = 1;
  LogLevel log_level = LogLevel::kInfo;
  // SSLKEYLOGFILE-format secrets for Wireshark; empty = off.
  std::string keylog_file;

  bool operator==(const EngineSection&) const = default;
};

struct DpdkSection {
  HugepageMode hugepages = HugepageMode::kAuto;
  uint32_t mbufs_per_worker = 16384;
  // Sealed-record buffers per worker (about 17 KB each); 0: a quarter of
  // mbufs_per_worker, at least 1024. A session holds its unacknowledged
  // records, so bulk transfers to many clients want more.
  uint32_t record_mbufs_per_worker = 0;
  // Extra EAL arguments, passed as they are.
  std::vector<std::string> eal_args;

  bool operator==(const DpdkSection&) const = default;
};

struct PortSection {
  std::string name;
  // A PCI address (0000:03:00.0) or a vdev spec (net_af_packet0,iface=x).
  std::string device;
  uint32_t mtu = 1500;
  std::optional<IpPrefix> ipv4;
  std::optional<IpPrefix> ipv6;
  std::optional<IpPrefix> gateway4;  // prefix_len 32
  std::optional<IpPrefix> gateway6;  // prefix_len 128
  RssMode rss = RssMode::kSymmetric;
  bool offloads = true;

  bool operator==(const PortSection&) const = default;
};

struct CertificateSection {
  // Server names this certificate answers for ("*.example.com" allowed);
  // empty: the listener's default.
  std::vector<std::string> sni;
  std::string chain_file;  // PEM: leaf first, then intermediates
  std::string key_file;    // PEM private key matching the leaf
  std::string ocsp_file;   // DER OCSP response to staple; empty = none

  bool operator==(const CertificateSection&) const = default;
};

struct ListenerSection {
  SocketAddress address;
  AppKind app = AppKind::kHttp;
  std::vector<std::string> alpn;
  std::vector<std::string> tls_versions = {"1.3"};
  std::vector<std::string> cipher_suites = {"TLS_AES_128_GCM_SHA256",
                                            "TLS_AES_256_GCM_SHA384",
                                            "TLS_CHACHA20_POLY1305_SHA256"};
  bool server_preference = true;
  std::vector<std::string> groups = {"x25519", "secp256r1"};
  // PEM CA bundle; set = clients must present a certificate (mTLS).
  std::string client_ca_file;
  std::vector<CertificateSection> certificates;
  // http app: bytes of the response body.
  uint32_t http_body_bytes = 1024;
  // proxy app: backend addresses.
  std::vector<SocketAddress> backends;

  bool operator==(const ListenerSection&) const = default;
};

struct TimeoutsSection {
  uint32_t handshake_ms = 10000;
  uint32_t idle_ms = 60000;
  // Under record-buffer pressure: a session whose peer acknowledged less
  // than one full record of new data in this long while it holds record
  // buffers is reset (architecture.md, "Record buffer pressure").
  uint32_t send_stall_ms = 5000;

  bool operator==(const TimeoutsSection&) const = default;
};

struct LimitsSection {
  uint32_t connections = 65536;
  uint32_t syn_backlog = 4096;
  uint32_t handshake_queue = 1024;
  // Passive connections one client host (an IPv4 address, an IPv6 /64)
  // may hold per worker; beyond it its SYNs are dropped (drop reason
  // tcp_source_limit). 0: off (the default: clients behind one NAT or
  // proxy address are indistinguishable; configuration.md).
  uint32_t connections_per_source = 0;

  bool operator==(const LimitsSection&) const = default;
};

// Per-connection TCP settings of the workers' stack.
struct TcpSection {
  // Bytes a connection may have queued to send and not yet acknowledged:
  // with its sealed records, what a bulk session holds in record buffers.
  uint32_t send_buffer = 256 * 1024;
  // The receive window's size (bytes held or handed up, not consumed).
  uint32_t receive_buffer = 256 * 1024;
  CongestionControl congestion_control = CongestionControl::kCubic;

  bool operator==(const TcpSection&) const = default;
};

struct TicketsSection {
  std::string key_file;  // shared ticket keys; empty = generated
  uint32_t rotate_s = 3600;
  uint32_t lifetime_s = 7200;
  // NewSessionTickets sent after each full handshake: 0 (no resumption)
  // to 16.
  uint32_t per_handshake = 2;
  // Resume a client that offers only psk_ke (no (EC)DHE, so no forward
  // secrecy for the resumed session; RFC 8446 4.2.9). Off: such clients
  // get a full handshake.
  bool psk_ke = false;

  bool operator==(const TicketsSection&) const = default;
};

struct AdminSection {
  SocketAddress listen;  // metrics (Prometheus text); 127.0.0.1:9100
  bool enabled = true;
  // GET /healthz answers 503 naming a worker whose poll loop has not
  // reported (its heartbeat, every timer tick) for longer than this.
  uint32_t worker_stall_ms = 1000;
  // A file holding the bearer token POST /reload needs (AdminToken); empty:
  // none, anyone who reaches the endpoint may reload. GET /metrics and GET
  // /healthz stay open either way.
  std::string token_file;

  bool operator==(const AdminSection&) const = default;
};

// For tests: the seeded fault injector on every port, and a worker that
// stops polling.
struct FaultSection {
  uint64_t seed = 1;
  double drop = 0;
  double duplicate = 0;
  double reorder = 0;
  double corrupt = 0;
  // Worker 0 busy-waits, without polling, for worker_stall_ms once
  // worker_stall_after_ms after its loop started. 0: never.
  uint32_t worker_stall_after_ms = 0;
  uint32_t worker_stall_ms = 0;
  // Whether the packet fault injector runs (the stall is separate).
  bool enabled() const {
    return drop > 0 || duplicate > 0 || reorder > 0 || corrupt > 0;
  }

  bool operator==(const FaultSection&) const = default;
};

struct Config {
  std::string file;
  EngineSection engine;
  DpdkSection dpdk;
  std::vector<PortSection> ports;
  std::vector<ListenerSection> listeners;
  TimeoutsSection timeouts;
  LimitsSection limits;
  TcpSection tcp;
  TicketsSection tickets;
  AdminSection admin;
  FaultSection fault;

  bool operator==(const Config&) const = default;
};

// Parses and checks a configuration. On success returns it and leaves
// *errors empty; otherwise returns nullopt and fills *errors with every
// problem found. `check_files`: also load every certificate, key, CA and
// OCSP file and check each key matches its certificate.
std::optional<Config> load_config_file(const std::string& path,
                                       std::vector<ConfigError>* errors,
                                       bool check_files = true);
// The same from text in memory; `name` stands for the file in errors.
std::optional<Config> load_config_text(std::string_view text,
                                       const std::string& name,
                                       std::vector<ConfigError>* errors,
                                       bool check_files = true);

// Parsers shared with the command line. Return nullopt for anything else.
std::optional<IpPrefix> parse_ip_prefix(std::string_view text,
                                        bool require_prefix);
std::optional<SocketAddress> parse_socket_address(std::string_view text);

// Why a DPDK port device string (a vdev spec or a PCI address) is refused,
// or empty when it is accepted. Refused: net_memif with zero-copy=yes,
// whose client mode in DPDK 22.11 (Debian 12) stops receiving after one
// ring of packets and crashed the engine's worker inside the PMD's burst
// functions (docs/configuration.md, [[port]]).
std::string port_device_problem(std::string_view device);

}  // namespace dptls::config
