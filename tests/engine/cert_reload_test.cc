// CertificateReloader: the configuration file read again on a reload, its
// certificate material built into new contexts (with the running ticket
// keys) and published; every kind of bad file refused with its name and
// reason and nothing published; other changes reported as needing a
// restart; the counters and expiry gauges.
#include "dptls/engine/cert_reload.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tls/handshake/handshake_test_support.h"

namespace dptls::engine {
namespace {

using tls::testing::Pki;
using Leaf = tls::testing::TestPki::Leaf;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::vector<uint8_t> LeafDer(const ServerContexts& ctx, size_t listener = 0) {
  return ctx.at(listener)->certs().credentials()[0]->chain()[0];
}

// A configuration file in a temporary directory whose one listener serves
// chain.pem / key.pem, and a reloader started on it.
class CertReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "dptls_reload_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    a_ = Pki().leaves.at("ec");
    b_ = Pki().MakeLeaf("ec", {"server.test"});
    Install(a_);
    WriteConfig();
    std::vector<config::ConfigError> errors;
    auto cfg = config::load_config_file(file_, &errors);
    ASSERT_TRUE(cfg.has_value())
        << (errors.empty() ? "" : errors[0].to_string());
    std::string err;
    ServerContexts ctx = build_server_contexts(*cfg, &err);
    ASSERT_EQ(ctx.size(), 1u) << err;
    keys_ = ctx[0]->config().ticket_keys.get();
    reloader_.emplace(*cfg, ctx, 100);
  }

  void Install(const Leaf& leaf) {
    WriteFile(dir_ + "/chain.pem", leaf.chain_pem);
    WriteFile(dir_ + "/key.pem", leaf.key_pem);
  }

  // [limits] connections, extra keys of the listener table, and text
  // after the listener.
  void WriteConfig(const std::string& connections = "1000",
                   const std::string& listener = "",
                   const std::string& more = "") {
    file_ = dir_ + "/engine.toml";
    WriteFile(file_,
              "[[port]]\n"
              "device = \"net_af_packet0,iface=veth0\"\n"
              "ipv4 = \"198.18.0.2/24\"\n"
              "[limits]\n"
              "connections = " +
                  connections +
                  "\n"
                  "[[listener]]\n"
                  "address = \"198.18.0.2:443\"\n" +
                  listener +
                  "  [[listener.certificate]]\n"
                  "  chain = \"" +
                  dir_ +
                  "/chain.pem\"\n"
                  "  key = \"" +
                  dir_ + "/key.pem\"\n" + more);
  }

  // One reload; the published contexts (if any) in published_.
  CertificateReloader::Result Reload(uint64_t now_s = 200,
                                     bool publish_ok = true) {
    published_.clear();
    return reloader_->reload(
        [&](const ServerContexts& c, std::string* e) {
          if (!publish_ok) {
            *e = "key log: refused";
            return false;
          }
          published_ = c;
          return true;
        },
        now_s);
  }

  std::string Metrics() const {
    std::string out;
    reloader_->render_prometheus(&out);
    return out;
  }

  std::string dir_;
  std::string file_;
  Leaf a_;
  Leaf b_;
  const tls::TicketKeys* keys_ = nullptr;
  std::optional<CertificateReloader> reloader_;
  ServerContexts published_;
};

// A renewal: new chain and key in the same files. The new contexts carry
// the new leaf and the running ticket keys (tickets resume across it).
TEST_F(CertReloadTest, RenewedCertificateIsPublished) {
  const std::vector<uint8_t> old_leaf = LeafDer(reloader_->contexts());
  Install(b_);
  const CertificateReloader::Result r = Reload(200);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_NE(LeafDer(published_), old_leaf);
  EXPECT_EQ(published_[0], reloader_->contexts()[0]);
  EXPECT_EQ(published_[0]->config().ticket_keys.get(), keys_);
  EXPECT_EQ(r.changed, std::vector<std::string>{
                           "listener[0] (198.18.0.2:443): certificate[0]"});
  EXPECT_TRUE(r.needs_restart.empty());
  EXPECT_EQ(reloader_->reloads(), 1u);
  EXPECT_EQ(reloader_->failures(), 0u);
  EXPECT_EQ(reloader_->last_success_s(), 200u);
  const std::string m = Metrics();
  EXPECT_NE(m.find("dptls_reloads_total 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("dptls_reload_failures_total 0\n"), std::string::npos);
  EXPECT_NE(m.find("dptls_reload_last_success_timestamp_seconds 200\n"),
            std::string::npos);
  // The test leaves are valid for years: notAfter is well past 2026.
  const std::string series =
      "dptls_certificate_not_after_timestamp_seconds{listener=\"0\","
      "certificate=\"0\"} ";
  const size_t at = m.find(series);
  ASSERT_NE(at, std::string::npos) << m;
  EXPECT_GT(std::strtoll(m.c_str() + at + series.size(), nullptr, 10),
            1'790'000'000);

  // The same files again: a reload, nothing changed.
  const CertificateReloader::Result same = Reload(300);
  ASSERT_TRUE(same.ok) << same.error;
  EXPECT_TRUE(same.changed.empty());
  EXPECT_EQ(reloader_->reloads(), 2u);
}

// Every bad file fails the whole reload: nothing is published, the
// contexts in use stay, the error names the file and the reason, the
// failure is counted; a good file afterwards reloads.
TEST_F(CertReloadTest, BadFilesKeepTheContextsInUse) {
  Install(b_);
  ASSERT_TRUE(Reload(200).ok);
  const ServerContexts in_use = reloader_->contexts();
  struct Case {
    const char* what;
    std::function<void()> damage;
    std::string want;  // in the error
  };
  const std::vector<Case> cases = {
      {"garbage key", [&] { WriteFile(dir_ + "/key.pem", "not a key\n"); },
       "'" + dir_ + "/key.pem' holds no PEM private key"},
      {"key of another certificate",
       [&] { WriteFile(dir_ + "/key.pem", a_.key_pem); }, "does not match"},
      {"missing chain", [&] { ::unlink((dir_ + "/chain.pem").c_str()); },
       dir_ + "/chain.pem"},
      {"truncated chain",
       [&] {
         WriteFile(dir_ + "/chain.pem",
                   b_.chain_pem.substr(0, b_.chain_pem.size() / 3));
       },
       dir_ + "/chain.pem"},
      {"bad TOML", [&] { WriteFile(file_, "[[listener]\n"); }, file_},
  };
  uint64_t failures = 0;
  for (const Case& c : cases) {
    Install(b_);
    WriteConfig();
    c.damage();
    const CertificateReloader::Result r = Reload(500);
    EXPECT_FALSE(r.ok) << c.what;
    EXPECT_NE(r.error.find(c.want), std::string::npos)
        << c.what << ": " << r.error;
    EXPECT_TRUE(published_.empty()) << c.what;
    EXPECT_EQ(reloader_->failures(), ++failures) << c.what;
    EXPECT_EQ(reloader_->reloads(), 1u) << c.what;
    EXPECT_EQ(reloader_->contexts(), in_use) << c.what;
    EXPECT_EQ(reloader_->last_success_s(), 200u) << c.what;
  }
  const std::string m = Metrics();
  EXPECT_NE(
      m.find("dptls_reload_failures_total " + std::to_string(failures) + "\n"),
      std::string::npos)
      << m;

  Install(b_);
  WriteConfig();
  const CertificateReloader::Result r = Reload(600);
  EXPECT_TRUE(r.ok) << r.error;
}

// A publish that fails (the key log copy) is a failed reload too.
TEST_F(CertReloadTest, FailedPublishKeepsTheContextsInUse) {
  const ServerContexts in_use = reloader_->contexts();
  Install(b_);
  const CertificateReloader::Result r = Reload(200, false);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "key log: refused");
  EXPECT_EQ(reloader_->contexts(), in_use);
  EXPECT_EQ(reloader_->failures(), 1u);
  EXPECT_EQ(reloader_->reloads(), 0u);
}

// Changes outside the certificate material are named, not applied; the
// certificates still reload. A client CA added is applied (and reported).
TEST_F(CertReloadTest, OtherChangesNeedARestart) {
  WriteFile(dir_ + "/ca.pem", tls::testing::CertPem(Pki().root.cert.get()));
  WriteConfig("2000",
              "alpn = [\"http/1.1\"]\nclient_ca = \"" + dir_ + "/ca.pem\"\n");
  const CertificateReloader::Result r = Reload();
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.needs_restart, (std::vector<std::string>{
                                 "[limits]", "listener[0] (198.18.0.2:443)"}));
  EXPECT_EQ(r.changed, std::vector<std::string>{
                           "listener[0] (198.18.0.2:443): client_ca"});
  ASSERT_EQ(published_.size(), 1u);
  // alpn stays as it runs (none); the client CA now applies.
  EXPECT_TRUE(published_[0]->config().alpn_protocols.empty());
  EXPECT_TRUE(published_[0]->config().client_cert_required);
}

TEST_F(CertReloadTest, MoreListenersAreRefused) {
  WriteConfig("1000", "",
              "[[listener]]\naddress = \"198.18.0.2:444\"\n"
              "  [[listener.certificate]]\n  chain = \"" +
                  dir_ + "/chain.pem\"\n  key = \"" + dir_ + "/key.pem\"\n");
  const CertificateReloader::Result r = Reload();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("adding or removing listeners needs a restart"),
            std::string::npos)
      << r.error;
  EXPECT_TRUE(published_.empty());
  EXPECT_EQ(reloader_->failures(), 1u);
}

}  // namespace
}  // namespace dptls::engine
