// The configuration file: a full valid file reads back as written, defaults
// fill the rest, and every invalid value is reported with its file, line,
// key and reason, all at once.
#include "dptls/config/config.h"

#include <gtest/gtest.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dptls/config/admin_token.h"
#include "dptls/config/self_signed.h"

namespace dptls::config {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dptls-config-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* name : {"a", "b"}) {
      std::string cert, key, err;
      SelfSignedOptions o;
      o.common_name = std::string(name) + ".dptls.test";
      ASSERT_TRUE(make_self_signed(o, &cert, &key, &err)) << err;
      WriteFile(dir_ / (std::string(name) + ".pem"), cert);
      WriteFile(dir_ / (std::string(name) + ".key"), key);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string P(const std::string& f) const { return (dir_ / f).string(); }

  // A minimal valid file: one port, one listener with certificate a.
  std::string Minimal(const std::string& extra_listener = "") const {
    return "[[port]]\n"
           "device = \"net_af_packet0,iface=veth0\"\n"
           "ipv4 = \"198.18.0.2/24\"\n"
           "\n[[listener]]\n"
           "address = \"198.18.0.2:443\"\n" +
           extra_listener +
           "  [[listener.certificate]]\n"
           "  chain = \"" +
           P("a.pem") +
           "\"\n"
           "  key = \"" +
           P("a.key") + "\"\n";
  }

  std::vector<ConfigError> Errors(const std::string& text) {
    std::vector<ConfigError> errors;
    EXPECT_FALSE(load_config_text(text, "test.toml", &errors).has_value());
    return errors;
  }

  // Asserts exactly one error, for `key`, whose reason contains `reason`.
  void ExpectOneError(const std::string& text, const std::string& key,
                      const std::string& reason) {
    const auto errors = Errors(text);
    ASSERT_EQ(errors.size(), 1u)
        << (errors.empty() ? "" : errors[0].to_string());
    EXPECT_EQ(errors[0].key, key) << errors[0].to_string();
    EXPECT_NE(errors[0].reason.find(reason), std::string::npos)
        << errors[0].to_string();
    EXPECT_EQ(errors[0].file, "test.toml");
  }

  fs::path dir_;
};

TEST_F(ConfigTest, FullFileReadsBackAsWritten) {
  const std::string text =
      "[engine]\nworkers = 2\nhandshake_threads = 3\nlog_level = \"debug\"\n"
      "keylog_file = \"/tmp/keys\"\n"
      "[dpdk]\nhugepages = \"off\"\nmbufs_per_worker = 4096\n"
      "record_mbufs_per_worker = 8192\n"
      "eal_args = [\"--no-shconf\"]\n"
      "[[port]]\nname = \"p0\"\ndevice = \"0000:03:00.0\"\nmtu = 9000\n"
      "ipv4 = \"198.18.0.2/24\"\nipv6 = \"2001:2::2/64\"\n"
      "gateway4 = \"198.18.0.1\"\ngateway6 = \"2001:2::1\"\n"
      "rss = \"default\"\noffloads = false\n"
      "[[listener]]\naddress = \"[2001:2::2]:8443\"\napp = \"proxy\"\n"
      "alpn = [\"h2\", \"http/1.1\"]\n"
      "cipher_suites = [\"TLS_CHACHA20_POLY1305_SHA256\"]\n"
      "server_preference = false\ngroups = [\"secp256r1\"]\n"
      "backends = [\"198.18.1.10:80\", \"[2001:2::10]:80\"]\n"
      "  [[listener.certificate]]\n  sni = [\"a.dptls.test\"]\n"
      "  chain = \"" +
      P("a.pem") + "\"\n  key = \"" + P("a.key") +
      "\"\n"
      "  [[listener.certificate]]\n  sni = [\"*.b.dptls.test\"]\n"
      "  chain = \"" +
      P("b.pem") + "\"\n  key = \"" + P("b.key") +
      "\"\n"
      "[timeouts]\nhandshake_ms = 5000\nidle_ms = 30000\nsend_stall_ms = "
      "2000\n"
      "[limits]\nconnections = 1000\nsyn_backlog = 64\nhandshake_queue = 32\n"
      "connections_per_source = 100\n"
      "[tcp]\nsend_buffer = 131072\nreceive_buffer = 65536\n"
      "congestion_control = \"newreno\"\n"
      "[tickets]\nrotate_s = 600\nlifetime_s = 3600\nper_handshake = 0\n"
      "[admin]\nlisten = \"127.0.0.1:9999\"\nworker_stall_ms = 250\n"
      "[fault]\nseed = 7\ndrop = 0.02\nreorder = 0.01\n"
      "worker_stall_after_ms = 3000\nworker_stall_ms = 1500\n";
  std::vector<ConfigError> errors;
  auto c = load_config_text(text, "full.toml", &errors);
  ASSERT_TRUE(c.has_value()) << errors[0].to_string();
  EXPECT_EQ(c->engine.workers, 2u);
  EXPECT_EQ(c->engine.handshake_threads, 3u);
  EXPECT_EQ(c->engine.log_level, LogLevel::kDebug);
  EXPECT_EQ(c->engine.keylog_file, "/tmp/keys");
  EXPECT_EQ(c->dpdk.hugepages, HugepageMode::kOff);
  EXPECT_EQ(c->dpdk.mbufs_per_worker, 4096u);
  EXPECT_EQ(c->dpdk.record_mbufs_per_worker, 8192u);
  EXPECT_FALSE(c->tickets.psk_ke) << "forward secrecy unless asked";
  EXPECT_EQ(c->dpdk.eal_args, std::vector<std::string>{"--no-shconf"});
  ASSERT_EQ(c->ports.size(), 1u);
  const PortSection& p = c->ports[0];
  EXPECT_EQ(p.name, "p0");
  EXPECT_EQ(p.device, "0000:03:00.0");
  EXPECT_EQ(p.mtu, 9000u);
  ASSERT_TRUE(p.ipv4 && p.ipv6 && p.gateway4 && p.gateway6);
  EXPECT_EQ(p.ipv4->prefix_len, 24);
  EXPECT_EQ(p.ipv4->bytes[0], 198);
  EXPECT_EQ(p.ipv4->bytes[3], 2);
  EXPECT_EQ(p.ipv6->prefix_len, 64);
  EXPECT_EQ(p.gateway4->prefix_len, 32);
  EXPECT_EQ(p.rss, RssMode::kDefault);
  EXPECT_FALSE(p.offloads);
  ASSERT_EQ(c->listeners.size(), 1u);
  const ListenerSection& l = c->listeners[0];
  EXPECT_TRUE(l.address.v6);
  EXPECT_EQ(l.address.port, 8443);
  EXPECT_EQ(l.app, AppKind::kProxy);
  EXPECT_EQ(l.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(l.cipher_suites.size(), 1u);
  EXPECT_FALSE(l.server_preference);
  EXPECT_EQ(l.backends.size(), 2u);
  ASSERT_EQ(l.certificates.size(), 2u);
  EXPECT_EQ(l.certificates[1].sni, std::vector<std::string>{"*.b.dptls.test"});
  EXPECT_EQ(c->timeouts.handshake_ms, 5000u);
  EXPECT_EQ(c->timeouts.send_stall_ms, 2000u);
  EXPECT_EQ(c->limits.syn_backlog, 64u);
  EXPECT_EQ(c->limits.connections_per_source, 100u);
  EXPECT_EQ(c->tickets.lifetime_s, 3600u);
  EXPECT_EQ(c->tickets.per_handshake, 0u);
  EXPECT_EQ(c->admin.listen.port, 9999);
  EXPECT_EQ(c->admin.worker_stall_ms, 250u);
  EXPECT_EQ(c->tcp.send_buffer, 131072u);
  EXPECT_EQ(c->tcp.receive_buffer, 65536u);
  EXPECT_EQ(c->tcp.congestion_control, CongestionControl::kNewReno);
  EXPECT_EQ(c->fault.seed, 7u);
  EXPECT_EQ(c->fault.worker_stall_after_ms, 3000u);
  EXPECT_EQ(c->fault.worker_stall_ms, 1500u);
  EXPECT_DOUBLE_EQ(c->fault.drop, 0.02);
  EXPECT_TRUE(c->fault.enabled());
}

TEST_F(ConfigTest, MinimalFileGetsDefaults) {
  std::vector<ConfigError> errors;
  auto c = load_config_text(Minimal(), "min.toml", &errors);
  ASSERT_TRUE(c.has_value()) << errors[0].to_string();
  EXPECT_EQ(c->engine.workers, 1u);
  EXPECT_EQ(c->ports[0].name, "port0");
  EXPECT_EQ(c->ports[0].mtu, 1500u);
  EXPECT_EQ(c->listeners[0].app, AppKind::kHttp);
  EXPECT_EQ(c->listeners[0].cipher_suites.size(), 3u);
  EXPECT_EQ(c->admin.listen.text, "127.0.0.1:9100");
  EXPECT_FALSE(c->fault.enabled());
  EXPECT_EQ(c->tickets.per_handshake, 2u);
  EXPECT_EQ(c->timeouts.send_stall_ms, 5000u);
  EXPECT_EQ(c->limits.connections_per_source, 0u);  // off
  EXPECT_EQ(c->admin.worker_stall_ms, 1000u);
  EXPECT_EQ(c->fault.worker_stall_ms, 0u);  // no stall
  EXPECT_EQ(c->tcp.send_buffer, 262144u);
  EXPECT_EQ(c->tcp.receive_buffer, 262144u);
  EXPECT_EQ(c->tcp.congestion_control, CongestionControl::kCubic);
}

TEST_F(ConfigTest, TcpKeysAreChecked) {
  ExpectOneError("[tcp]\nsend_buffer = 65535\n" + Minimal(), "tcp.send_buffer",
                 "must be between 65536 and 67108864, got 65535");
  ExpectOneError("[tcp]\nreceive_buffer = 67108865\n" + Minimal(),
                 "tcp.receive_buffer",
                 "must be between 65536 and 67108864, got 67108865");
  ExpectOneError("[tcp]\nreceive_buffer = \"256k\"\n" + Minimal(),
                 "tcp.receive_buffer", "expected an integer");
  ExpectOneError("[tcp]\ncongestion_control = \"bbr\"\n" + Minimal(),
                 "tcp.congestion_control",
                 "'bbr' is not one of: cubic, newreno");
  ExpectOneError("[tcp]\nsack = false\n" + Minimal(), "tcp.sack",
                 "unknown key");
}

TEST_F(ConfigTest, WorkerStallKeysAreChecked) {
  ExpectOneError("[admin]\nworker_stall_ms = 50\n" + Minimal(),
                 "admin.worker_stall_ms",
                 "must be between 100 and 600000, got 50");
  ExpectOneError("[admin]\nworker_stall_ms = 600001\n" + Minimal(),
                 "admin.worker_stall_ms",
                 "must be between 100 and 600000, got 600001");
  ExpectOneError("[admin]\nworker_stall_ms = \"1s\"\n" + Minimal(),
                 "admin.worker_stall_ms", "expected an integer");
  ExpectOneError("[admin]\nworker_stall_ms = 1.5\n" + Minimal(),
                 "admin.worker_stall_ms", "expected an integer");
  ExpectOneError("[fault]\nworker_stall_ms = -1\n" + Minimal(),
                 "fault.worker_stall_ms",
                 "must be between 0 and 600000, got -1");
  ExpectOneError(
      "[fault]\nworker_stall_ms = 10\n"
      "worker_stall_after_ms = 3600001\n" +
          Minimal(),
      "fault.worker_stall_after_ms",
      "must be between 0 and 3600000, got 3600001");
  ExpectOneError("[fault]\nworker_stall_ms = true\n" + Minimal(),
                 "fault.worker_stall_ms", "expected an integer");
  // A delay without a stall is a forgotten key, not a silent no-op.
  ExpectOneError("[fault]\nworker_stall_after_ms = 2000\n" + Minimal(),
                 "fault.worker_stall_after_ms",
                 "has no effect without fault.worker_stall_ms");
  // A stall alone starts at once and does not turn the packet fault
  // injector on.
  std::vector<ConfigError> errors;
  auto c = load_config_text("[fault]\nworker_stall_ms = 2000\n" + Minimal(),
                            "stall.toml", &errors);
  ASSERT_TRUE(c.has_value()) << errors[0].to_string();
  EXPECT_EQ(c->fault.worker_stall_ms, 2000u);
  EXPECT_EQ(c->fault.worker_stall_after_ms, 0u);
  EXPECT_FALSE(c->fault.enabled());
}

TEST_F(ConfigTest, OutOfRangeIntegerNamesKeyLineAndRange) {
  const auto errors = Errors("[engine]\nworkers = 0\n" + Minimal());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "engine.workers");
  EXPECT_EQ(errors[0].line, 2u);
  EXPECT_EQ(errors[0].to_string(),
            "test.toml:2:11: engine.workers: must be between 1 and 128, got 0");
  const auto records =
      Errors("[dpdk]\nrecord_mbufs_per_worker = 100\n" + Minimal());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "dpdk.record_mbufs_per_worker");
  ExpectOneError("[tickets]\nper_handshake = 17\n" + Minimal(),
                 "tickets.per_handshake", "must be between 0 and 16, got 17");
  ExpectOneError("[timeouts]\nsend_stall_ms = 50\n" + Minimal(),
                 "timeouts.send_stall_ms",
                 "must be between 100 and 600000, got 50");
}

TEST_F(ConfigTest, ConnectionsPerSourceIsCheckedAgainstConnections) {
  ExpectOneError("[limits]\nconnections_per_source = -1\n" + Minimal(),
                 "limits.connections_per_source",
                 "must be between 0 and 4194304, got -1");
  // The TCP flow table holds at most 2^22 connections per worker: more was
  // accepted here, then refused by the worker at start-up.
  ExpectOneError("[limits]\nconnections = 4194305\n" + Minimal(),
                 "limits.connections",
                 "must be between 1 and 4194304, got 4194305");
  ExpectOneError(
      "[limits]\nconnections = 100\nconnections_per_source = 101\n" + Minimal(),
      "limits.connections_per_source", "larger than limits.connections (100)");
  // Equal to the table is allowed (a single client may fill it).
  std::vector<ConfigError> errors;
  auto c = load_config_text(
      "[limits]\nconnections = 100\nconnections_per_source = 100\n" + Minimal(),
      "eq.toml", &errors);
  ASSERT_TRUE(c.has_value()) << errors[0].to_string();
  EXPECT_EQ(c->limits.connections_per_source, 100u);
}

TEST_F(ConfigTest, UnknownKeyIsATypo) {
  ExpectOneError("[engine]\nwrokers = 2\n" + Minimal(), "engine.wrokers",
                 "unknown key");
  ExpectOneError(Minimal() + "[bogus]\nx = 1\n", "bogus", "unknown key");
}

TEST_F(ConfigTest, WrongTypesAreReported) {
  ExpectOneError("[engine]\nworkers = \"two\"\n" + Minimal(), "engine.workers",
                 "expected an integer");
  ExpectOneError("[admin]\nenabled = 1\n" + Minimal(), "admin.enabled",
                 "expected true or false");
  ExpectOneError("[fault]\ndrop = 1.5\n" + Minimal(), "fault.drop",
                 "between 0 and 1");
  ExpectOneError("[engine]\nlog_level = \"loud\"\n" + Minimal(),
                 "engine.log_level", "'loud' is not one of");
}

TEST_F(ConfigTest, BadAddressesAreReported) {
  std::string text = Minimal();
  text.replace(text.find("198.18.0.2/24"), 13, "198.18.0.300/24");
  ExpectOneError(text, "port[0].ipv4", "expected an IPv4 address");
  std::string v6 = Minimal();
  v6.insert(v6.find("\n[[listener]]"), "\nipv6 = \"198.18.0.9/24\"");
  ExpectOneError(v6, "port[0].ipv6", "expected an IPv6 address");
}

TEST_F(ConfigTest, GatewayMustBeAnAddress) {
  std::string text = Minimal();
  text.insert(text.find("\n[[listener]]"), "\ngateway4 = \"198.18.0.1/24\"");
  ExpectOneError(text, "port[0].gateway4", "not a prefix");
}

TEST_F(ConfigTest, ListenerAddressNeedsAPort) {
  std::string text = Minimal();
  text.replace(text.find("198.18.0.2:443"), 14, "198.18.0.2");
  ExpectOneError(text, "listener[0].address", "expected address:port");
}

TEST_F(ConfigTest, TlsChoicesAreChecked) {
  ExpectOneError(Minimal("cipher_suites = [\"TLS_RSA_WITH_RC4_128_MD5\"]\n"),
                 "listener[0].cipher_suites", "unknown cipher suite");
  ExpectOneError(Minimal("groups = [\"x448\"]\n"), "listener[0].groups",
                 "unknown group 'x448'");
  ExpectOneError(Minimal("tls_versions = [\"1.1\"]\n"),
                 "listener[0].tls_versions", "'1.1' is not supported");
  ExpectOneError(Minimal("app = \"proxy\"\n"), "listener[0].backends",
                 "needs at least one backend");
}

TEST_F(ConfigTest, CertificateProblemsAreFound) {
  std::string mismatched = Minimal();
  mismatched.replace(mismatched.find(P("a.key")), P("a.key").size(),
                     P("b.key"));
  ExpectOneError(mismatched, "listener[0].certificate[0]", "does not match");
  std::string missing = Minimal();
  missing.replace(missing.find(P("a.pem")), P("a.pem").size(), P("nope.pem"));
  ExpectOneError(missing, "listener[0].certificate[0]",
                 "cannot read chain file");
  // Without file checks the same file is accepted.
  std::vector<ConfigError> errors;
  EXPECT_TRUE(load_config_text(missing, "t", &errors, false).has_value());
}

// A DER OCSPResponse with `status`; a successful one carries a basic
// response (one CertID, good) signed with certificate a's key.
std::string OcspResponseDer(const fs::path& cert_pem, const fs::path& key_pem,
                            int status) {
  std::string der;
  OCSP_BASICRESP* basic = nullptr;
  if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    FILE* cf = std::fopen(cert_pem.c_str(), "r");
    FILE* kf = std::fopen(key_pem.c_str(), "r");
    X509* cert = cf ? PEM_read_X509(cf, nullptr, nullptr, nullptr) : nullptr;
    EVP_PKEY* key =
        kf ? PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr) : nullptr;
    if (cf != nullptr) {
      std::fclose(cf);
    }
    if (kf != nullptr) {
      std::fclose(kf);
    }
    OCSP_CERTID* id = cert ? OCSP_cert_to_id(nullptr, cert, cert) : nullptr;
    basic = OCSP_BASICRESP_new();
    ASN1_TIME* now = X509_gmtime_adj(nullptr, 0);
    const bool ok = id != nullptr && key != nullptr &&
                    OCSP_basic_add1_status(basic, id, V_OCSP_CERTSTATUS_GOOD, 0,
                                           nullptr, now, nullptr) != nullptr &&
                    OCSP_basic_sign(basic, cert, key, EVP_sha256(), nullptr,
                                    OCSP_NOCERTS) == 1;
    EXPECT_TRUE(ok);
    ASN1_TIME_free(now);
    OCSP_CERTID_free(id);
    EVP_PKEY_free(key);
    X509_free(cert);
  }
  OCSP_RESPONSE* resp = OCSP_response_create(status, basic);
  const int len = resp != nullptr ? i2d_OCSP_RESPONSE(resp, nullptr) : 0;
  if (len > 0) {
    der.resize(static_cast<size_t>(len));
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_OCSP_RESPONSE(resp, &p);
  }
  OCSP_RESPONSE_free(resp);
  OCSP_BASICRESP_free(basic);
  EXPECT_FALSE(der.empty());
  return der;
}

TEST_F(ConfigTest, OcspResponseIsCheckedAtLoad) {
  const std::string with_ocsp =
      Minimal() + "  ocsp_response = \"" + P("a.ocsp") + "\"\n";
  // A real, successful response loads and is kept.
  WriteFile(dir_ / "a.ocsp", OcspResponseDer(dir_ / "a.pem", dir_ / "a.key",
                                             OCSP_RESPONSE_STATUS_SUCCESSFUL));
  std::vector<ConfigError> errors;
  const auto cfg = load_config_text(with_ocsp, "test.toml", &errors);
  ASSERT_TRUE(cfg.has_value()) << (errors.empty() ? "" : errors[0].to_string());
  EXPECT_EQ(cfg->listeners[0].certificates[0].ocsp_file, P("a.ocsp"));
  // Missing.
  fs::remove(dir_ / "a.ocsp");
  ExpectOneError(with_ocsp, "listener[0].certificate[0]",
                 "cannot read OCSP response");
  // Not DER: a PEM certificate, and a response with trailing bytes.
  fs::copy_file(dir_ / "a.pem", dir_ / "a.ocsp");
  ExpectOneError(with_ocsp, "listener[0].certificate[0]",
                 "is not a DER OCSP response");
  fs::remove(dir_ / "a.ocsp");
  WriteFile(dir_ / "a.ocsp", OcspResponseDer(dir_ / "a.pem", dir_ / "a.key",
                                             OCSP_RESPONSE_STATUS_SUCCESSFUL) +
                                 "x");
  ExpectOneError(with_ocsp, "listener[0].certificate[0]",
                 "is not a DER OCSP response");
  // Parseable but not successful (a responder's tryLater).
  WriteFile(dir_ / "a.ocsp", OcspResponseDer(dir_ / "a.pem", dir_ / "a.key",
                                             OCSP_RESPONSE_STATUS_TRYLATER));
  ExpectOneError(with_ocsp, "listener[0].certificate[0]", "not successful");
}

TEST_F(ConfigTest, MissingSectionsAndKeysAreReported) {
  const auto errors = Errors("[engine]\nworkers = 1\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].key, "port");
  EXPECT_EQ(errors[1].key, "listener");
  ExpectOneError("[[port]]\nipv4 = \"198.18.0.2/24\"\n" +
                     Minimal().substr(Minimal().find("\n[[listener]]")),
                 "port[0].device", "missing (required)");
}

TEST_F(ConfigTest, MemifZeroCopyIsRefused) {
  auto with_device = [&](const std::string& device) {
    std::string text = Minimal();
    const std::string af = "net_af_packet0,iface=veth0";
    text.replace(text.find(af), af.size(), device);
    return text;
  };
  ExpectOneError(with_device("net_memif0,role=client,zero-copy=yes,id=0"),
                 "port[0].device", "zero-copy=yes is not supported");
  ExpectOneError(with_device("net_memif1,zero-copy=yes"), "port[0].device",
                 "leave zero-copy out");
  // The copying mode, and zero-copy on other devices' arguments, pass.
  for (const char* ok : {"net_memif0,role=server,zero-copy=no",
                         "net_memif0,role=client,socket=/tmp/zero-copy=yes",
                         "net_af_packet0,iface=zero-copy=yes"}) {
    std::vector<ConfigError> errors;
    EXPECT_TRUE(load_config_text(with_device(ok), "ok.toml", &errors))
        << ok << ": " << (errors.empty() ? "" : errors[0].to_string());
  }
  EXPECT_EQ(port_device_problem("0000:03:00.0"), "");
}

TEST_F(ConfigTest, EveryErrorIsReportedAtOnce) {
  const auto errors = Errors(
      "[engine]\nworkers = 0\nhandshake_threads = 0\n[limits]\n"
      "connections = -1\n" +
      Minimal("groups = [\"x448\"]\n"));
  EXPECT_EQ(errors.size(), 4u);
}

TEST_F(ConfigTest, SyntaxErrorHasItsLine) {
  const auto errors = Errors("[engine]\nworkers = = 2\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "(syntax)");
  EXPECT_EQ(errors[0].line, 2u);
}

TEST_F(ConfigTest, UnreadableFileIsReported) {
  std::vector<ConfigError> errors;
  EXPECT_FALSE(load_config_file(P("absent.toml"), &errors).has_value());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].reason, "cannot read the file");
}

// A token file written with `mode` (umask aside).
std::string WriteToken(const fs::path& p, const std::string& text,
                       fs::perms mode = fs::perms::owner_read |
                                        fs::perms::owner_write) {
  WriteFile(p, text);
  fs::permissions(p, mode);
  return p.string();
}

TEST_F(ConfigTest, AdminTokenFileIsReadAndChecked) {
  const std::string good =
      WriteToken(dir_ / "token", "0123456789abcdef0123456789abcdef\n");
  std::vector<ConfigError> errors;
  auto c =
      load_config_text("[admin]\ntoken_file = \"" + good + "\"\n" + Minimal(),
                       "t.toml", &errors);
  ASSERT_TRUE(c.has_value()) << errors[0].to_string();
  EXPECT_EQ(c->admin.token_file, good);
  c = load_config_text(Minimal(), "t.toml", &errors);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->admin.token_file, "") << "no token unless configured";

  const auto refused = [&](const std::string& file, const std::string& why) {
    ExpectOneError("[admin]\ntoken_file = \"" + file + "\"\n" + Minimal(),
                   "admin.token_file", why);
  };
  refused(P("absent-token"), "cannot open admin token file '" +
                                 P("absent-token") +
                                 "': No such file or directory");
  refused(WriteToken(dir_ / "empty", ""), "is empty");
  refused(WriteToken(dir_ / "blank", " \n\n"), "is empty");
  refused(WriteToken(dir_ / "short", "0123456789abcde\n"),
          "the token is 15 characters, at least 16 are needed");
  refused(WriteToken(dir_ / "long", std::string(257, 'a')),
          "longer than 256 characters");
  refused(WriteToken(dir_ / "long-tail",
                     std::string(20, 'a') + std::string(400, '\n') + "b"),
          "longer than 256 characters");
  refused(WriteToken(dir_ / "spaces", "0123456789 abcdef0123\n"),
          "visible ASCII characters");
  const std::string world = WriteToken(
      dir_ / "world", "0123456789abcdef0123456789abcdef\n",
      fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  refused(world, "permissions 0604 for '" + world +
                     "' are too open: the token authorises POST /reload");
  refused(world, "chmod 600 '" + world + "'");
  refused(WriteToken(dir_ / "group", "0123456789abcdef0123456789abcdef\n",
                     fs::perms::owner_read | fs::perms::group_read),
          "permissions 0440");
  refused(dir_.string(), "'" + dir_.string() + "' is not a regular file");
  ExpectOneError("[admin]\ntoken_file = 7\n" + Minimal(), "admin.token_file",
                 "expected a string");

  // --skip-files (check_files false) does not read it.
  c = load_config_text(
      "[admin]\ntoken_file = \"" + P("absent-token") + "\"\n" + Minimal(),
      "t.toml", &errors, /*check_files=*/false);
  EXPECT_TRUE(c.has_value());
}

TEST_F(ConfigTest, AdminTokenMatchesInConstantTimeOnly) {
  const std::string token = "0123456789abcdef0123456789abcdef";
  AdminToken t;
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.matches("")) << "no token matches nothing";
  std::string error;
  ASSERT_TRUE(t.load(WriteToken(dir_ / "token", token + " \r\n\t\n"), &error))
      << error;
  EXPECT_FALSE(t.empty());
  EXPECT_TRUE(t.matches(token)) << "trailing whitespace stripped";
  EXPECT_FALSE(t.matches(token + "0"));
  EXPECT_FALSE(t.matches(token.substr(0, 31)));
  EXPECT_FALSE(t.matches("1123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(t.matches("0123456789abcdef0123456789abcdeF"));
  EXPECT_FALSE(t.matches(""));
  // A failed load keeps the token held.
  EXPECT_FALSE(t.load(P("absent-token"), &error));
  EXPECT_TRUE(t.matches(token));

  const std::string head = "POST /reload HTTP/1.1\r\nHost: x\r\n";
  using V = AdminToken::Verdict;
  EXPECT_EQ(t.check(head + "Authorization: Bearer " + token + "\r\n\r\n"),
            V::kOk);
  EXPECT_EQ(t.check(head + "authorization:  bearer  " + token + " \r\n\r\n"),
            V::kOk)
      << "field name and scheme are case-insensitive";
  EXPECT_EQ(
      t.check("POST /reload HTTP/1.0\nAuthorization: Bearer " + token + "\n\n"),
      V::kOk)
      << "bare LF line ends";
  EXPECT_EQ(t.check(head + "\r\n"), V::kMissing);
  EXPECT_EQ(t.check(head + "Authorization: Basic " + token + "\r\n\r\n"),
            V::kMissing);
  EXPECT_EQ(t.check(head + "Authorization: Bearer\r\n\r\n"), V::kMissing);
  EXPECT_EQ(t.check(head + "Authorization: Bearer wrong-token-wrong-token\r\n"
                           "\r\n"),
            V::kWrong);
  EXPECT_EQ(t.check(head + "\r\nAuthorization: Bearer " + token + "\r\n"),
            V::kMissing)
      << "only the header block counts, not the body";
  EXPECT_EQ(t.check("POST /reload?Authorization: Bearer " + token +
                    " HTTP/1.1\r\n\r\n"),
            V::kMissing)
      << "not from the request line";

  t.wipe();
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.matches(token));
}

TEST(AddressParseTest, PrefixesAndSocketAddresses) {
  EXPECT_TRUE(parse_ip_prefix("198.18.0.1/15", true).has_value());
  EXPECT_FALSE(parse_ip_prefix("198.18.0.1", true).has_value());
  EXPECT_EQ(parse_ip_prefix("198.18.0.1", false)->prefix_len, 32);
  EXPECT_EQ(parse_ip_prefix("::1", false)->prefix_len, 128);
  EXPECT_FALSE(parse_ip_prefix("198.18.0.1/33", true).has_value());
  EXPECT_FALSE(parse_ip_prefix("2001::/129", true).has_value());
  EXPECT_FALSE(parse_ip_prefix("198.18.0.1/", true).has_value());
  EXPECT_FALSE(parse_ip_prefix("198.18.0.1/2x", true).has_value());
  EXPECT_FALSE(parse_ip_prefix("host.example/24", true).has_value());
  auto a = parse_socket_address("[2001:2::2]:443");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->v6);
  EXPECT_EQ(a->port, 443);
  EXPECT_FALSE(parse_socket_address("2001:2::2:443").has_value());
  EXPECT_FALSE(parse_socket_address("198.18.0.1:65536").has_value());
  EXPECT_FALSE(parse_socket_address("198.18.0.1:").has_value());
  EXPECT_FALSE(parse_socket_address("[::1]443").has_value());
  EXPECT_EQ(parse_socket_address("198.18.0.1:0")->port, 0);
}

TEST(SelfSignedTest, CertificateHasNamesAndMatchingKey) {
  SelfSignedOptions o;
  o.common_name = "dptls.test";
  o.dns_names = {"www.dptls.test"};
  o.ip_addresses = {"198.18.0.2"};
  std::string cert_pem, key_pem, err;
  ASSERT_TRUE(make_self_signed(o, &cert_pem, &key_pem, &err)) << err;
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  ASSERT_NE(x, nullptr);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(X509_check_private_key(x, k), 1);
  EXPECT_EQ(X509_check_host(x, "dptls.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(x, "www.dptls.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(x, "other.test", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(x, "198.18.0.2", 0), 1);
  EXPECT_EQ(X509_verify(x, k), 1) << "self-signed";
  EXPECT_EQ(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
  X509_free(x);
  EVP_PKEY_free(k);
  BIO_free(cb);
  BIO_free(kb);
  o.ip_addresses = {"not-an-ip"};
  EXPECT_FALSE(make_self_signed(o, &cert_pem, &key_pem, &err));
  EXPECT_NE(err.find("subjectAltName"), std::string::npos);
}

}  // namespace
}  // namespace dptls::config
