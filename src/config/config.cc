#include "dptls/config/config.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <toml++/toml.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include "dptls/config/admin_token.h"
#include "dptls/tls/cipher_suite.h"

namespace dptls::config {

std::string ConfigError::to_string() const {
  std::ostringstream os;
  os << file;
  if (line != 0) {
    os << ':' << line << ':' << column;
  }
  os << ": " << key << ": " << reason;
  return os.str();
}

std::optional<IpPrefix> parse_ip_prefix(std::string_view text,
                                        bool require_prefix) {
  IpPrefix p;
  p.text = std::string(text);
  std::string addr(text);
  int prefix = -1;
  if (const size_t slash = addr.find('/'); slash != std::string::npos) {
    const std::string len = addr.substr(slash + 1);
    addr.resize(slash);
    if (len.empty() || len.size() > 3 ||
        len.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    prefix = std::stoi(len);
  } else if (require_prefix) {
    return std::nullopt;
  }
  if (inet_pton(AF_INET, addr.c_str(), p.bytes) == 1) {
    p.v6 = false;
  } else if (inet_pton(AF_INET6, addr.c_str(), p.bytes) == 1) {
    p.v6 = true;
  } else {
    return std::nullopt;
  }
  const int max = p.v6 ? 128 : 32;
  if (prefix > max) {
    return std::nullopt;
  }
  p.prefix_len = static_cast<uint8_t>(prefix < 0 ? max : prefix);
  return p;
}

std::string port_device_problem(std::string_view device) {
  if (device.rfind("net_memif", 0) != 0) {
    return {};
  }
  // Devargs follow the name, comma-separated; the PMD reads zero-copy's
  // value by substring ("yes" turns it on).
  size_t at = device.find(',');
  while (at != std::string_view::npos) {
    const size_t next = device.find(',', at + 1);
    const std::string_view arg = device.substr(at + 1, next - at - 1);
    if (arg.rfind("zero-copy=", 0) == 0 &&
        arg.find("yes") != std::string_view::npos) {
      return "net_memif zero-copy=yes is not supported: DPDK 22.11's memif "
             "zero-copy client stops receiving after one ring of packets and "
             "has crashed inside its burst functions; leave zero-copy out "
             "(the copying mode)";
    }
    at = next;
  }
  return {};
}

std::optional<SocketAddress> parse_socket_address(std::string_view text) {
  SocketAddress a;
  a.text = std::string(text);
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    port = std::string(text.substr(close + 2));
    a.v6 = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos ||
        text.find(':') != colon) {  // bare IPv6 needs brackets
      return std::nullopt;
    }
    host = std::string(text.substr(0, colon));
    port = std::string(text.substr(colon + 1));
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int p = std::stoi(port);
  if (p > 65535) {
    return std::nullopt;
  }
  a.port = static_cast<uint16_t>(p);
  if (inet_pton(a.v6 ? AF_INET6 : AF_INET, host.c_str(), a.bytes) != 1) {
    return std::nullopt;
  }
  return a;
}

namespace {

struct Context {
  std::string file;
  std::vector<ConfigError>* errors;
  bool check_files;

  void error(const toml::node* node, const std::string& key,
             std::string reason) {
    ConfigError e;
    e.file = file;
    if (node != nullptr) {
      e.line = node->source().begin.line;
      e.column = node->source().begin.column;
    }
    e.key = key;
    e.reason = std::move(reason);
    errors->push_back(std::move(e));
  }
};

// Reads the keys of one table, each at most once, and reports the keys
// nobody asked for (typos) when finished.
class Walker {
 public:
  Walker(Context& ctx, const toml::table& table, std::string path)
      : ctx_(ctx), table_(table), path_(std::move(path)) {}
  Walker(const Walker&) = delete;
  Walker& operator=(const Walker&) = delete;
  ~Walker() {
    for (auto&& [k, v] : table_) {
      if (used_.count(std::string(k.str())) == 0) {
        ctx_.error(&v, key(k.str()), "unknown key");
      }
    }
  }

  std::string key(std::string_view k) const {
    return path_.empty() ? std::string(k) : path_ + "." + std::string(k);
  }

  // The node at `k`, marked as read; nullptr when absent.
  const toml::node* get(std::string_view k) {
    used_.insert(std::string(k));
    return table_.get(k);
  }

  template <typename T>
  void integer(std::string_view k, T* out, int64_t min, int64_t max) {
    const toml::node* n = get(k);
    if (n == nullptr) {
      return;
    }
    const auto v = n->value_exact<int64_t>();
    if (!v) {
      ctx_.error(n, key(k), "expected an integer");
    } else if (*v < min || *v > max) {
      ctx_.error(n, key(k),
                 "must be between " + std::to_string(min) + " and " +
                     std::to_string(max) + ", got " + std::to_string(*v));
    } else {
      *out = static_cast<T>(*v);
    }
  }

  void number(std::string_view k, double* out, double min, double max) {
    const toml::node* n = get(k);
    if (n == nullptr) {
      return;
    }
    const auto v = n->value<double>();
    if (!v || std::isnan(*v)) {
      ctx_.error(n, key(k), "expected a number");
    } else if (*v < min || *v > max) {
      std::ostringstream os;
      os << "must be between " << min << " and " << max << ", got " << *v;
      ctx_.error(n, key(k), os.str());
    } else {
      *out = *v;
    }
  }

  void boolean(std::string_view k, bool* out) {
    const toml::node* n = get(k);
    if (n == nullptr) {
      return;
    }
    if (const auto v = n->value_exact<bool>()) {
      *out = *v;
    } else {
      ctx_.error(n, key(k), "expected true or false");
    }
  }

  // Returns false (after reporting) when the key is required and absent.
  bool string(std::string_view k, std::string* out, bool required = false) {
    const toml::node* n = get(k);
    if (n == nullptr) {
      if (required) {
        ctx_.error(&table_, key(k), "missing (required)");
      }
      return !required;
    }
    if (const auto v = n->value_exact<std::string>()) {
      *out = *v;
      return true;
    }
    ctx_.error(n, key(k), "expected a string");
    return false;
  }

  void strings(std::string_view k, std::vector<std::string>* out) {
    const toml::node* n = get(k);
    if (n == nullptr) {
      return;
    }
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      ctx_.error(n, key(k), "expected an array of strings");
      return;
    }
    std::vector<std::string> values;
    for (const toml::node& e : *a) {
      if (const auto v = e.value_exact<std::string>()) {
        values.push_back(*v);
      } else {
        ctx_.error(&e, key(k), "expected an array of strings");
        return;
      }
    }
    *out = std::move(values);
  }

  template <typename E>
  void choice(std::string_view k, E* out,
              std::initializer_list<std::pair<const char*, E>> names) {
    std::string s;
    const toml::node* n = table_.get(k);
    if (n == nullptr || !string(k, &s)) {
      return;
    }
    std::string allowed;
    for (const auto& [name, value] : names) {
      if (s == name) {
        *out = value;
        return;
      }
      allowed += allowed.empty() ? "" : ", ";
      allowed += name;
    }
    ctx_.error(n, key(k), "'" + s + "' is not one of: " + allowed);
  }

  // A sub-table; nullptr when absent or not a table (reported).
  const toml::table* table(std::string_view k) {
    const toml::node* n = get(k);
    if (n == nullptr) {
      return nullptr;
    }
    if (const toml::table* t = n->as_table()) {
      return t;
    }
    ctx_.error(n, key(k), "expected a table");
    return nullptr;
  }

  // An array of tables ([[k]]); calls f(table, index) for each.
  template <typename F>
  void tables(std::string_view k, F&& f) {
    const toml::node* n = get(k);
    if (n == nullptr) {
      return;
    }
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      ctx_.error(n, key(k),
                 "expected an array of tables ([[" + std::string(k) + "]])");
      return;
    }
    size_t i = 0;
    for (const toml::node& e : *a) {
      const std::string path = key(k) + "[" + std::to_string(i) + "]";
      if (const toml::table* t = e.as_table()) {
        f(*t, path);
      } else {
        ctx_.error(&e, path, "expected a table");
      }
      ++i;
    }
  }

  Context& ctx() { return ctx_; }
  const toml::table& node() const { return table_; }

 private:
  Context& ctx_;
  const toml::table& table_;
  std::string path_;
  std::set<std::string> used_;
};

void read_prefix(Walker& w, std::string_view k, std::optional<IpPrefix>* out,
                 bool want_v6, bool host_only) {
  std::string s;
  const toml::node* n = w.node().get(k);
  if (n == nullptr || !w.string(k, &s)) {
    return;
  }
  auto p = parse_ip_prefix(s, /*require_prefix=*/false);
  if (!p || p->v6 != want_v6) {
    w.ctx().error(n, w.key(k),
                  std::string("expected an ") + (want_v6 ? "IPv6" : "IPv4") +
                      (host_only ? " address" : " address with /prefix") +
                      ", got '" + s + "'");
    return;
  }
  if (host_only && s.find('/') != std::string::npos) {
    w.ctx().error(n, w.key(k), "a gateway is an address, not a prefix");
    return;
  }
  *out = std::move(p);
}

bool read_socket(Walker& w, std::string_view k, SocketAddress* out,
                 bool required) {
  std::string s;
  const toml::node* n = w.node().get(k);
  if (!w.string(k, &s, required) || n == nullptr) {
    return false;
  }
  auto a = parse_socket_address(s);
  if (!a) {
    w.ctx().error(
        n, w.key(k),
        "expected address:port (IPv6 as [address]:port), got '" + s + "'");
    return false;
  }
  *out = *a;
  return true;
}

// Reads a whole file; false if it cannot be opened.
bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct OcspResponseDeleter {
  void operator()(OCSP_RESPONSE* r) const { OCSP_RESPONSE_free(r); }
};

// Checks that the chain and key files load and that the key is the
// leaf's; returns the reason or an empty string.
std::string check_certificate(const CertificateSection& c) {
  std::string pem;
  if (!read_file(c.chain_file, &pem)) {
    return "cannot read chain file '" + c.chain_file + "'";
  }
  std::unique_ptr<BIO, BioDeleter> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::unique_ptr<X509, X509Deleter> leaf(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) {
    return "'" + c.chain_file + "' holds no PEM certificate";
  }
  std::string key_pem;
  if (!read_file(c.key_file, &key_pem)) {
    return "cannot read key file '" + c.key_file + "'";
  }
  std::unique_ptr<BIO, BioDeleter> kbio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!key) {
    return "'" + c.key_file + "' holds no PEM private key";
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    return "the key in '" + c.key_file +
           "' does not match the first certificate of '" + c.chain_file + "'";
  }
  if (!c.ocsp_file.empty()) {
    std::string der;
    if (!read_file(c.ocsp_file, &der) || der.empty()) {
      return "cannot read OCSP response '" + c.ocsp_file + "'";
    }
    // The server staples it as it is (RFC 8446 section 4.4.2.1); a file
    // that is not a DER OCSPResponse (RFC 6960 section 4.2.1), e.g. a PEM
    // or base64 one, would only fail in every client.
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<OCSP_RESPONSE, OcspResponseDeleter> resp(
        d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
    if (!resp ||
        p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
      ERR_clear_error();
      return "'" + c.ocsp_file + "' is not a DER OCSP response (RFC 6960)";
    }
    if (OCSP_response_status(resp.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
      return "the OCSP response in '" + c.ocsp_file + "' has status " +
             OCSP_response_status_str(OCSP_response_status(resp.get())) +
             ", not successful";
    }
    if (der.size() > 0xFFFF - 8) {
      return "the OCSP response in '" + c.ocsp_file +
             "' is larger than 65527 bytes (it must fit a certificate "
             "entry's extensions)";
    }
  }
  return "";
}

void read_listener(Walker& w, ListenerSection* l) {
  Context& ctx = w.ctx();
  read_socket(w, "address", &l->address, /*required=*/true);
  w.choice("app", &l->app,
           {{"echo", AppKind::kEcho},
            {"http", AppKind::kHttp},
            {"proxy", AppKind::kProxy}});
  w.strings("alpn", &l->alpn);
  for (const std::string& p : l->alpn) {
    if (p.empty() || p.size() > 255) {
      ctx.error(w.get("alpn"), w.key("alpn"),
                "each protocol name is 1 to 255 bytes (RFC 7301)");
    }
  }
  w.strings("tls_versions", &l->tls_versions);
  for (const std::string& v : l->tls_versions) {
    if (v != "1.3") {
      ctx.error(w.get("tls_versions"), w.key("tls_versions"),
                "'" + v + "' is not supported (supported: \"1.3\")");
    }
  }
  w.strings("cipher_suites", &l->cipher_suites);
  for (const std::string& s : l->cipher_suites) {
    if (!tls::parse_cipher_suite(s)) {
      ctx.error(w.get("cipher_suites"), w.key("cipher_suites"),
                "unknown cipher suite '" + s +
                    "' (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, "
                    "TLS_CHACHA20_POLY1305_SHA256)");
    }
  }
  if (l->cipher_suites.empty()) {
    ctx.error(w.get("cipher_suites"), w.key("cipher_suites"),
              "at least one cipher suite is needed");
  }
  w.boolean("server_preference", &l->server_preference);
  w.strings("groups", &l->groups);
  for (const std::string& g : l->groups) {
    if (g != "x25519" && g != "secp256r1" && g != "secp384r1") {
      ctx.error(w.get("groups"), w.key("groups"),
                "unknown group '" + g + "' (x25519, secp256r1, secp384r1)");
    }
  }
  if (l->groups.empty()) {
    ctx.error(w.get("groups"), w.key("groups"), "at least one group is needed");
  }
  w.string("client_ca", &l->client_ca_file);
  if (ctx.check_files && !l->client_ca_file.empty()) {
    std::string pem;
    if (!read_file(l->client_ca_file, &pem) ||
        pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      ctx.error(w.get("client_ca"), w.key("client_ca"),
                "cannot read a PEM CA bundle from '" + l->client_ca_file + "'");
    }
  }
  w.integer("http_body_bytes", &l->http_body_bytes, 0, 1 << 30);
  std::vector<std::string> backends;
  w.strings("backends", &backends);
  for (const std::string& b : backends) {
    if (auto a = parse_socket_address(b)) {
      l->backends.push_back(*a);
    } else {
      ctx.error(w.get("backends"), w.key("backends"),
                "expected address:port, got '" + b + "'");
    }
  }
  if (l->app == AppKind::kProxy && l->backends.empty()) {
    ctx.error(&w.node(), w.key("backends"),
              "the proxy app needs at least one backend");
  }
  w.tables("certificate", [&](const toml::table& t, const std::string& path) {
    Walker cw(ctx, t, path);
    CertificateSection c;
    cw.strings("sni", &c.sni);
    const bool have_chain = cw.string("chain", &c.chain_file, true);
    const bool have_key = cw.string("key", &c.key_file, true);
    cw.string("ocsp_response", &c.ocsp_file);
    if (ctx.check_files && have_chain && have_key) {
      if (std::string why = check_certificate(c); !why.empty()) {
        ctx.error(&t, path, why);
      }
    }
    l->certificates.push_back(std::move(c));
  });
  if (l->certificates.empty()) {
    ctx.error(&w.node(), w.key("certificate"),
              "a listener needs at least one [[listener.certificate]]");
  }
}

void read_config(Context& ctx, const toml::table& root, Config* c) {
  Walker top(ctx, root, "");
  if (const toml::table* t = top.table("engine")) {
    Walker w(ctx, *t, "engine");
    w.integer("workers", &c->engine.workers, 1, 128);
    w.integer("handshake_threads", &c->engine.handshake_threads, 1, 64);
    w.choice("log_level", &c->engine.log_level,
             {{"trace", LogLevel::kTrace},
              {"debug", LogLevel::kDebug},
              {"info", LogLevel::kInfo},
              {"warn", LogLevel::kWarn},
              {"error", LogLevel::kError}});
    w.string("keylog_file", &c->engine.keylog_file);
  }
  if (const toml::table* t = top.table("dpdk")) {
    Walker w(ctx, *t, "dpdk");
    w.choice("hugepages", &c->dpdk.hugepages,
             {{"auto", HugepageMode::kAuto},
              {"on", HugepageMode::kOn},
              {"off", HugepageMode::kOff}});
    w.integer("mbufs_per_worker", &c->dpdk.mbufs_per_worker, 1024, 1 << 22);
    w.integer("record_mbufs_per_worker", &c->dpdk.record_mbufs_per_worker, 256,
              1 << 20);
    w.strings("eal_args", &c->dpdk.eal_args);
  }
  top.tables("port", [&](const toml::table& t, const std::string& path) {
    Walker w(ctx, t, path);
    PortSection p;
    w.string("name", &p.name);
    w.string("device", &p.device, /*required=*/true);
    if (std::string why = port_device_problem(p.device); !why.empty()) {
      ctx.error(t.get("device"), path + ".device", std::move(why));
    }
    w.integer("mtu", &p.mtu, 576, 9216);
    read_prefix(w, "ipv4", &p.ipv4, false, false);
    read_prefix(w, "ipv6", &p.ipv6, true, false);
    read_prefix(w, "gateway4", &p.gateway4, false, true);
    read_prefix(w, "gateway6", &p.gateway6, true, true);
    w.choice("rss", &p.rss,
             {{"symmetric", RssMode::kSymmetric},
              {"default", RssMode::kDefault},
              {"off", RssMode::kOff}});
    w.boolean("offloads", &p.offloads);
    // Only when neither is written: a bad one was reported already.
    if (!t.contains("ipv4") && !t.contains("ipv6")) {
      ctx.error(&t, path, "a port needs an ipv4 or an ipv6 address");
    }
    if (p.name.empty()) {
      p.name = "port" + std::to_string(c->ports.size());
    }
    c->ports.push_back(std::move(p));
  });
  if (c->ports.empty()) {
    ctx.error(nullptr, "port", "at least one [[port]] is needed");
  }
  top.tables("listener", [&](const toml::table& t, const std::string& path) {
    Walker w(ctx, t, path);
    ListenerSection l;
    read_listener(w, &l);
    c->listeners.push_back(std::move(l));
  });
  if (c->listeners.empty()) {
    ctx.error(nullptr, "listener", "at least one [[listener]] is needed");
  }
  if (const toml::table* t = top.table("timeouts")) {
    Walker w(ctx, *t, "timeouts");
    w.integer("handshake_ms", &c->timeouts.handshake_ms, 100, 600000);
    w.integer("idle_ms", &c->timeouts.idle_ms, 100, 86400000);
    w.integer("send_stall_ms", &c->timeouts.send_stall_ms, 100, 600000);
  }
  if (const toml::table* t = top.table("limits")) {
    Walker w(ctx, *t, "limits");
    // 2^22: the most the TCP flow table holds (net::FlowTable::
    // kMaxCapacity; TcpConfig::validate refuses more at start-up).
    w.integer("connections", &c->limits.connections, 1, 1 << 22);
    w.integer("syn_backlog", &c->limits.syn_backlog, 1, 1 << 20);
    w.integer("handshake_queue", &c->limits.handshake_queue, 1, 1 << 20);
    w.integer("connections_per_source", &c->limits.connections_per_source, 0,
              1 << 22);
    if (c->limits.connections_per_source > c->limits.connections) {
      ctx.error(w.get("connections_per_source"),
                w.key("connections_per_source"),
                "larger than limits.connections (" +
                    std::to_string(c->limits.connections) +
                    "), so it would never apply; use 0 for no limit");
    }
  }
  if (const toml::table* t = top.table("tcp")) {
    Walker w(ctx, *t, "tcp");
    // At least 64 KB: a buffer must hold the largest record buffer the
    // worker hands over (about 17 KB) and a whole received record, or a
    // connection could wait forever; 64 MB is beyond any window in use.
    w.integer("send_buffer", &c->tcp.send_buffer, 65536, 1 << 26);
    w.integer("receive_buffer", &c->tcp.receive_buffer, 65536, 1 << 26);
    w.choice("congestion_control", &c->tcp.congestion_control,
             {{"cubic", CongestionControl::kCubic},
              {"newreno", CongestionControl::kNewReno}});
  }
  if (const toml::table* t = top.table("tickets")) {
    Walker w(ctx, *t, "tickets");
    w.string("key_file", &c->tickets.key_file);
    w.integer("rotate_s", &c->tickets.rotate_s, 60, int64_t{7} * 86400);
    // RFC 8446 section 4.6.1: at most seven days.
    w.integer("lifetime_s", &c->tickets.lifetime_s, 1, 604800);
    w.boolean("psk_ke", &c->tickets.psk_ke);
    w.integer("per_handshake", &c->tickets.per_handshake, 0, 16);
  }
  c->admin.listen = *parse_socket_address("127.0.0.1:9100");
  if (const toml::table* t = top.table("admin")) {
    Walker w(ctx, *t, "admin");
    read_socket(w, "listen", &c->admin.listen, false);
    w.boolean("enabled", &c->admin.enabled);
    w.integer("worker_stall_ms", &c->admin.worker_stall_ms, 100, 600000);
    w.string("token_file", &c->admin.token_file);
    if (ctx.check_files && !c->admin.token_file.empty()) {
      AdminToken token;  // read to check it, then wiped
      if (std::string why; !token.load(c->admin.token_file, &why)) {
        ctx.error(w.get("token_file"), w.key("token_file"), why);
      }
    }
  }
  if (const toml::table* t = top.table("fault")) {
    Walker w(ctx, *t, "fault");
    w.integer("seed", &c->fault.seed, 0, INT64_MAX);
    w.number("drop", &c->fault.drop, 0, 1);
    w.number("duplicate", &c->fault.duplicate, 0, 1);
    w.number("reorder", &c->fault.reorder, 0, 1);
    w.number("corrupt", &c->fault.corrupt, 0, 1);
    w.integer("worker_stall_after_ms", &c->fault.worker_stall_after_ms, 0,
              3600000);
    w.integer("worker_stall_ms", &c->fault.worker_stall_ms, 0, 600000);
    if (c->fault.worker_stall_after_ms > 0 && c->fault.worker_stall_ms == 0) {
      ctx.error(w.get("worker_stall_after_ms"), w.key("worker_stall_after_ms"),
                "has no effect without fault.worker_stall_ms (how long the "
                "worker stalls)");
    }
  }
}

std::optional<Config> load(std::string_view text, const std::string& name,
                           std::vector<ConfigError>* errors, bool check_files) {
  errors->clear();
  Context ctx{name, errors, check_files};
  Config c;
  c.file = name;
  try {
    // Start-up only: toml++ reports a syntax error by throwing.
    const toml::table root = toml::parse(text, name);
    read_config(ctx, root, &c);
  } catch (const toml::parse_error& e) {
    ConfigError err;
    err.file = name;
    err.line = e.source().begin.line;
    err.column = e.source().begin.column;
    err.key = "(syntax)";
    err.reason = std::string(e.description());
    errors->push_back(std::move(err));
  }
  if (!errors->empty()) {
    return std::nullopt;
  }
  return c;
}

}  // namespace

std::optional<Config> load_config_text(std::string_view text,
                                       const std::string& name,
                                       std::vector<ConfigError>* errors,
                                       bool check_files) {
  return load(text, name, errors, check_files);
}

std::optional<Config> load_config_file(const std::string& path,
                                       std::vector<ConfigError>* errors,
                                       bool check_files) {
  std::string text;
  if (!read_file(path, &text)) {
    errors->clear();
    errors->push_back({path, 0, 0, "(file)", "cannot read the file"});
    return std::nullopt;
  }
  return load(text, path, errors, check_files);
}

}  // namespace dptls::config
