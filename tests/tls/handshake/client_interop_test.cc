// The client state machine (ClientHandshake) against an OpenSSL libssl
// server in memory (BIO pair), against our own ServerHandshake, and
// replaying RFC 8448 section 3:
//  - every cipher suite x group x server signature (ECDSA P-256, RSA-PSS,
//    Ed25519), chain verified (leaf + intermediate, root trusted);
//  - HelloRetryRequest, ALPN, SNI as the server sees it (none for an IP
//    literal, checked with X509_check_ip);
//  - failures with their alerts: wrong host name, unknown CA, missing
//    intermediate, expired, tampered CertificateVerify and Finished, a TLS
//    1.2 ServerHello (with and without the downgrade sentinel), a suite or
//    group we did not offer, a message out of order;
//  - psk_ke (4.2.9): offered alone, with libssl allowing it or not and with
//    our server allowing it or not; both modes prefer psk_dhe_ke;
//  - 0-RTT from our client: accepted by our server and by libssl
//    (SSL_read_early_data) byte for byte; not sent when the ticket allows
//    less; rejected by a server with it off and by a HelloRetryRequest;
//  - resumption with libssl's tickets and with ours; application data and
//    KeyUpdate both ways through a RecordEngine after the hand-off;
//  - client certificates (libssl and our server asking for one).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "dptls/tls/handshake/client.h"
#include "dptls/tls/handshake/server.h"
#include "dptls/tls/key_schedule.h"
#include "dptls/tls/transcript.h"
#include "support/aead_test_support.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/handshake/worker_test_support.h"
#include "tls/rfc8448_trace.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::testing::HexEncode;
using testing::Bytes;
using testing::Pattern;
using testing::Pki;
using testing::Ptr;

// ---- the libssl server ----

struct SslServerOptions {
  std::string leaf = "ec";                         // a Pki() leaf
  const testing::TestPki::Leaf* custom = nullptr;  // instead of `leaf`
  bool send_intermediate = true;
  std::string ciphersuites;
  std::string groups;
  std::string sigalgs;
  std::vector<std::string> alpn;  // the server's preference
  int max_version = TLS1_3_VERSION;
  bool request_client_cert = false;
  uint64_t options = 0;  // SSL_CTX_set_options (SSL_OP_ALLOW_NO_DHE_KEX)
};

class SslServer;

// One server SSL_CTX (its ticket keys are what resumption needs).
class SslServerCtx {
 public:
  explicit SslServerCtx(const SslServerOptions& o) : alpn_(o.alpn) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = ctx_.get();
    EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), 1);
    EXPECT_EQ(SSL_CTX_set_max_proto_version(ctx, o.max_version), 1);
    if (!o.ciphersuites.empty()) {
      EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()), 1);
    }
    if (!o.groups.empty()) {
      EXPECT_EQ(SSL_CTX_set1_groups_list(ctx, o.groups.c_str()), 1);
    }
    if (!o.sigalgs.empty()) {
      EXPECT_EQ(SSL_CTX_set1_sigalgs_list(ctx, o.sigalgs.c_str()), 1);
    }
    const testing::TestPki::Leaf& leaf =
        o.custom != nullptr ? *o.custom : Pki().leaves.at(o.leaf);
    BIO* bio = BIO_new_mem_buf(leaf.chain_pem.data(),
                               static_cast<int>(leaf.chain_pem.size()));
    bool first = true;
    while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      if (first) {
        EXPECT_EQ(SSL_CTX_use_certificate(ctx, x), 1);
      } else if (o.send_intermediate) {
        EXPECT_EQ(SSL_CTX_add1_chain_cert(ctx, x), 1);
      }
      first = false;
      X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    bio = BIO_new_mem_buf(leaf.key_pem.data(),
                          static_cast<int>(leaf.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    EXPECT_NE(key, nullptr);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx, key), 1);
    EVP_PKEY_free(key);
    BIO_free(bio);
    SSL_CTX_set_keylog_callback(ctx, Keylog);
    SSL_CTX_set_info_callback(ctx, Info);
    SSL_CTX_set_tlsext_servername_callback(ctx, ServerName);
    if (o.options != 0) {
      SSL_CTX_set_options(ctx, o.options);
    }
    if (!alpn_.empty()) {
      SSL_CTX_set_alpn_select_cb(ctx, Alpn, this);
    }
    if (o.request_client_cert) {
      // Any certificate: the point is that libssl checks our signature.
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER,
                         [](int, X509_STORE_CTX*) { return 1; });
    }
  }
  SSL_CTX* get() const { return ctx_.get(); }

 private:
  static void Keylog(const SSL* ssl, const char* line);
  static void Info(const SSL* ssl, int where, int ret);
  static int ServerName(SSL* ssl, int*, void*);
  static int Alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                  const unsigned char* in, unsigned int inlen, void* arg) {
    const auto* self = static_cast<SslServerCtx*>(arg);
    for (const std::string& p : self->alpn_) {
      for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == p.size() && i + 1 + in[i] <= inlen &&
            std::equal(p.begin(), p.end(), in + i + 1)) {
          *out = in + i + 1;
          *outlen = in[i];
          return SSL_TLSEXT_ERR_OK;
        }
      }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }

  Ptr<SSL_CTX> ctx_;
  std::vector<std::string> alpn_;
};

// One server connection.
class SslServer {
 public:
  explicit SslServer(const SslServerCtx& ctx) {
    ssl_.reset(SSL_new(ctx.get()));
    SSL_set_app_data(ssl_.get(), this);
    BIO* inner = nullptr;
    EXPECT_EQ(BIO_new_bio_pair(&inner, 1 << 20, &net_, 1 << 20), 1);
    SSL_set_bio(ssl_.get(), inner, inner);
    SSL_set_accept_state(ssl_.get());
  }
  ~SslServer() {
    ssl_.reset();
    BIO_free(net_);
  }

  // Runs the handshake (or, once done, reads pending records) and returns
  // what the server wrote.
  Bytes Step() {
    if (!done()) {
      const int r = SSL_do_handshake(ssl_.get());
      if (r <= 0) {
        const int err = SSL_get_error(ssl_.get(), r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          failed_ = true;
        }
      }
    } else {
      uint8_t byte = 0;
      size_t n = 0;
      SSL_peek_ex(ssl_.get(), &byte, 1, &n);  // processes what arrived
    }
    ERR_clear_error();
    return TakeOutput();
  }
  void Deliver(const Bytes& b) {
    if (!b.empty()) {
      EXPECT_EQ(BIO_write(net_, b.data(), static_cast<int>(b.size())),
                static_cast<int>(b.size()));
    }
  }
  Bytes TakeOutput() {
    Bytes out(static_cast<size_t>(BIO_ctrl_pending(net_)));
    if (!out.empty()) {
      EXPECT_EQ(BIO_read(net_, out.data(), static_cast<int>(out.size())),
                static_cast<int>(out.size()));
    }
    return out;
  }
  Bytes Read(size_t n) {
    Bytes out(n);
    size_t got = 0;
    while (got < n) {
      size_t r = 0;
      if (SSL_read_ex(ssl_.get(), out.data() + got, n - got, &r) != 1) {
        ADD_FAILURE() << "SSL_read: " << SSL_get_error(ssl_.get(), 0);
        break;
      }
      got += r;
    }
    out.resize(got);
    return out;
  }
  Bytes Write(const Bytes& data) {
    size_t written = 0;
    EXPECT_EQ(SSL_write_ex(ssl_.get(), data.data(), data.size(), &written), 1);
    return TakeOutput();
  }

  SSL* ssl() const { return ssl_.get(); }
  bool done() const { return SSL_is_init_finished(ssl_.get()) == 1; }
  bool failed() const { return failed_; }

  std::string sni;
  bool sni_called = false;
  int alert_received = -1;
  int alert_sent = -1;
  std::map<std::string, Bytes> keylog;

 private:
  Ptr<SSL> ssl_;
  BIO* net_ = nullptr;
  bool failed_ = false;
};

SslServer* ServerOf(const SSL* ssl) {
  return static_cast<SslServer*>(SSL_get_app_data(ssl));
}

void SslServerCtx::Keylog(const SSL* ssl, const char* line) {
  const std::string s(line);
  const size_t a = s.find(' ');
  const size_t b = s.find(' ', a + 1);
  Bytes secret;
  if (a != std::string::npos && b != std::string::npos &&
      crypto::testing::HexDecode(s.substr(b + 1), &secret)) {
    ServerOf(ssl)->keylog[s.substr(0, a)] = secret;
  }
}

void SslServerCtx::Info(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0) {
    return;
  }
  if ((where & SSL_CB_READ) != 0) {
    ServerOf(ssl)->alert_received = ret & 0xff;
  } else {
    ServerOf(ssl)->alert_sent = ret & 0xff;
  }
}

int SslServerCtx::ServerName(SSL* ssl, int*, void*) {
  SslServer* s = ServerOf(ssl);
  s->sni_called = true;
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  s->sni = name != nullptr ? name : "";
  return SSL_TLSEXT_ERR_OK;
}

// ---- our client ----

// A client configuration trusting Pki()'s root for "server.test".
ClientConfig BaseConfig() {
  ClientConfig c;
  c.server_name = "server.test";
  c.trust_pem = testing::CertPem(Pki().root.cert.get());
  return c;
}

std::shared_ptr<const ClientContext> MakeClientContext(ClientConfig c) {
  std::string error;
  auto ctx = ClientContext::create(std::move(c), &error);
  EXPECT_NE(ctx, nullptr) << error;
  return ctx;
}

// The worker on the client side: the engine delivers the server's
// post-handshake messages (NewSessionTickets) here.
class ClientWorker : public testing::Worker {
 public:
  void on_post_handshake(RecordConn& conn,
                         std::span<const uint8_t> message) override {
    testing::Worker::on_post_handshake(conn, message);
    messages.emplace_back(message.begin(), message.end());
  }
  std::vector<Bytes> messages;
};

// Rewrites a server flight before the client sees it.
using ServerTamper = std::function<void(size_t flight, Bytes* bytes)>;

struct ClientRun {
  FeedResult client;
  HandshakeResult result;
  bool done = false;
  Bytes after;  // what the server sent after reading our last flight
};

// Runs our client against the libssl server until the client finishes or
// nothing moves, then lets the server read our last flight (our Finished,
// or our alert).
ClientRun Drive(ClientHandshake& client, SslServer& server,
                const ServerTamper& tamper = nullptr) {
  ClientRun run;
  Bytes out;
  run.client = client.start(&out);
  server.Deliver(out);
  size_t flight = 0;
  for (int i = 0; i < 16 && run.client.state == HandshakeState::kNeedMore;
       ++i) {
    Bytes in = server.Step();
    if (in.empty()) {
      break;
    }
    if (tamper) {
      tamper(flight++, &in);
    }
    out.clear();
    run.client = client.feed(in, &out);
    server.Deliver(out);
  }
  run.done = client.take_result(&run.result);
  run.after = server.Step();
  return run;
}

// ---- every suite x group x server signature ----

struct Combo {
  CipherSuite suite;
  NamedGroup group;
  const char* leaf;  // "ec", "rsa", "ed25519"
};

const char* SslGroupName(NamedGroup g) {
  switch (g) {
    case NamedGroup::kX25519:
      return "X25519";
    case NamedGroup::kSecp256r1:
      return "P-256";
    case NamedGroup::kSecp384r1:
      return "P-384";
  }
  return "";
}

SignatureScheme SchemeFor(const std::string& leaf) {
  return leaf == "ec"    ? SignatureScheme::kEcdsaSecp256r1Sha256
         : leaf == "rsa" ? SignatureScheme::kRsaPssRsaeSha256
                         : SignatureScheme::kEd25519;
}

class MatrixTest : public ::testing::TestWithParam<Combo> {};

TEST_P(MatrixTest, HandshakeAndData) {
  const Combo c = GetParam();
  SslServerOptions so;
  so.leaf = c.leaf;
  so.ciphersuites = std::string(cipher_suite_info(c.suite)->name);
  so.groups = SslGroupName(c.group);
  so.sigalgs = std::string(signature_scheme_name(SchemeFor(c.leaf)));
  SslServerCtx sctx(so);
  SslServer server(sctx);

  ClientConfig cfg = BaseConfig();
  // The group first, so it carries the key share (no retry).
  cfg.groups = {c.group};
  for (NamedGroup g : kAllNamedGroups) {
    if (g != c.group) {
      cfg.groups.push_back(g);
    }
  }
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientRun run = Drive(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kDone)
      << alert_name(run.client.alert) << " from peer "
      << run.client.alert_from_peer;
  ASSERT_TRUE(run.done);
  EXPECT_TRUE(server.done());
  EXPECT_TRUE(run.result.is_client);
  EXPECT_EQ(run.result.suite, c.suite);
  EXPECT_EQ(run.result.group, c.group);
  EXPECT_EQ(run.result.signature_scheme, SchemeFor(c.leaf));
  EXPECT_EQ(run.result.kind, HandshakeKind::kFull);
  // The secrets are libssl's, by its key log.
  EXPECT_EQ(HexEncode(run.result.client_secret.span()),
            HexEncode(server.keylog["CLIENT_TRAFFIC_SECRET_0"]));
  EXPECT_EQ(HexEncode(run.result.server_secret.span()),
            HexEncode(server.keylog["SERVER_TRAFFIC_SECRET_0"]));

  ClientWorker w;
  ASSERT_TRUE(w.Install(run.result));
  w.Receive(run.result.post_finished);
  w.Receive(run.after);  // libssl's NewSessionTickets
  EXPECT_EQ(w.messages.size(), 2u);
  const Bytes up = Pattern(3000, 1);
  server.Deliver(w.Send(up));
  EXPECT_EQ(server.Read(up.size()), up);
  const Bytes down = Pattern(5000, 2);
  w.Receive(server.Write(down));
  EXPECT_EQ(w.data, down);
  EXPECT_FALSE(w.error);
}

std::vector<Combo> AllCombos() {
  std::vector<Combo> out;
  for (CipherSuite s : kAllCipherSuites) {
    for (NamedGroup g : kAllNamedGroups) {
      for (const char* leaf : {"ec", "rsa", "ed25519"}) {
        out.push_back({s, g, leaf});
      }
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, MatrixTest, ::testing::ValuesIn(AllCombos()),
                         [](const ::testing::TestParamInfo<Combo>& p) {
                           std::string n =
                               std::string(
                                   cipher_suite_info(p.param.suite)->name) +
                               "_" +
                               std::string(named_group_name(p.param.group)) +
                               "_" + p.param.leaf;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// ---- negotiation ----

TEST(ClientInteropTest, HelloRetryRequestForAnotherGroup) {
  for (NamedGroup g : {NamedGroup::kSecp256r1, NamedGroup::kSecp384r1}) {
    SslServerOptions so;
    so.groups = SslGroupName(g);
    SslServerCtx sctx(so);
    SslServer server(sctx);
    ClientConfig cfg = BaseConfig();
    cfg.groups = {NamedGroup::kX25519, NamedGroup::kSecp256r1,
                  NamedGroup::kSecp384r1};
    ClientHandshake client(MakeClientContext(cfg), testing::Backend());
    Bytes first_flight;
    ClientRun run = Drive(client, server, [&](size_t flight, Bytes* b) {
      if (flight == 0) {
        first_flight = *b;
      }
    });
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << alert_name(run.client.alert);
    EXPECT_EQ(run.result.kind, HandshakeKind::kHelloRetry);
    EXPECT_EQ(run.result.group, g);
    EXPECT_TRUE(server.done());
    // The first server flight was the HelloRetryRequest (+ its CCS).
    const auto recs = testing::SplitRecords(first_flight);
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(
        HexEncode(Bytes(recs[0].body.begin() + 6, recs[0].body.begin() + 38)),
        HexEncode(Bytes(kHelloRetryRequestRandom.begin(),
                        kHelloRetryRequestRandom.end())));
  }
}

TEST(ClientInteropTest, KeyLogMatchesLibssl) {
  SslServerCtx sctx(SslServerOptions{});
  SslServer server(sctx);
  ClientConfig cfg = BaseConfig();
  std::map<std::string, Bytes> logged;
  Bytes random;
  cfg.keylog = [&](std::string_view label, std::span<const uint8_t> cr,
                   std::span<const uint8_t> secret) {
    logged[std::string(label)].assign(secret.begin(), secret.end());
    random.assign(cr.begin(), cr.end());
  };
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientRun run = Drive(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kDone);
  EXPECT_EQ(logged.size(), 5u);
  for (const auto& [label, secret] : logged) {
    EXPECT_EQ(HexEncode(secret), HexEncode(server.keylog[label])) << label;
  }
  Bytes server_random(32);
  ASSERT_EQ(SSL_get_client_random(server.ssl(), server_random.data(), 32), 32u);
  EXPECT_EQ(random, server_random);
}

TEST(ClientInteropTest, MiddleboxCompatOnAndOff) {
  for (bool compat : {true, false}) {
    SslServerCtx sctx(SslServerOptions{});
    SslServer server(sctx);
    ClientConfig cfg = BaseConfig();
    cfg.middlebox_compat = compat;
    ClientHandshake client(MakeClientContext(cfg), testing::Backend());
    Bytes ch;
    client.start(&ch);
    // legacy_session_id: 32 bytes in compatibility mode, else empty.
    ASSERT_GT(ch.size(), 5u + 4 + 2 + 32 + 1);
    EXPECT_EQ(ch[5 + 4 + 2 + 32], compat ? 32 : 0);
    server.Deliver(ch);
    Bytes out;
    FeedResult r = client.feed(server.Step(), &out);
    ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
    const auto recs = testing::SplitRecords(out);
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs[0].type, compat ? 20 : 23) << "our CCS before Finished";
    server.Deliver(out);
    server.Step();
    EXPECT_TRUE(server.done());
  }
}

TEST(ClientInteropTest, AlpnAndSni) {
  SslServerOptions so;
  so.alpn = {"http/1.1", "h2"};
  SslServerCtx sctx(so);
  SslServer server(sctx);
  ClientConfig cfg = BaseConfig();
  cfg.alpn_protocols = {"h2", "http/1.1"};
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientRun run = Drive(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kDone)
      << alert_name(run.client.alert);
  EXPECT_EQ(run.result.alpn, "http/1.1");  // the server's preference
  EXPECT_TRUE(server.sni_called);
  EXPECT_EQ(server.sni, "server.test");
  EXPECT_EQ(run.result.server_name, "server.test");
}

TEST(ClientInteropTest, NoAlpnInCommonIsThePeersAlert) {
  SslServerOptions so;
  so.alpn = {"spdy/1"};
  SslServerCtx sctx(so);
  SslServer server(sctx);
  ClientConfig cfg = BaseConfig();
  cfg.alpn_protocols = {"h2"};
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientRun run = Drive(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kFailed);
  EXPECT_TRUE(run.client.alert_from_peer);
  EXPECT_EQ(run.client.alert, Alert::kNoApplicationProtocol);
}

TEST(ClientInteropTest, IpLiteralSendsNoSniAndChecksTheIp) {
  // A leaf for 127.0.0.1 (the SAN string is passed through as is).
  const testing::TestPki::Leaf leaf =
      Pki().MakeLeaf("ec", {"ip.test,IP:127.0.0.1"});
  SslServerOptions so;
  so.custom = &leaf;
  SslServerCtx sctx(so);
  {
    SslServer server(sctx);
    ClientConfig cfg = BaseConfig();
    cfg.server_name = "127.0.0.1";
    ClientHandshake client(MakeClientContext(cfg), testing::Backend());
    ClientRun run = Drive(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << alert_name(run.client.alert);
    EXPECT_TRUE(server.sni.empty());
    EXPECT_TRUE(run.result.server_name.empty());
  }
  {
    SslServer server(sctx);
    ClientConfig cfg = BaseConfig();
    cfg.server_name = "127.0.0.2";
    ClientHandshake client(MakeClientContext(cfg), testing::Backend());
    ClientRun run = Drive(client, server);
    EXPECT_EQ(run.client.state, HandshakeState::kFailed);
    EXPECT_EQ(run.client.alert, Alert::kBadCertificate);
  }
}

TEST(ClientInteropTest, ResponseToAnExtensionNotOfferedIsRefused) {
  // libssl answers the ALPN extension the test hooks slip into our
  // ClientHello, which the configuration did not offer.
  SslServerOptions so;
  so.alpn = {"h2"};
  SslServerCtx sctx(so);
  for (bool configured : {true, false}) {
    SslServer server(sctx);
    ClientConfig cfg = BaseConfig();
    ClientTestHooks hooks;
    if (configured) {
      cfg.alpn_protocols = {"h2"};  // the control
    } else {
      hooks.extra_extensions = {
          {16, {0, 3, 2, 'h', '2'}, ExtensionType::kSignatureAlgorithms}};
    }
    ClientHandshake client(MakeClientContext(cfg), testing::Backend());
    client.set_test_hooks(hooks);
    ClientRun run = Drive(client, server);
    if (configured) {
      EXPECT_EQ(run.client.state, HandshakeState::kDone);
      EXPECT_EQ(run.result.alpn, "h2");
      continue;
    }
    EXPECT_EQ(run.client.state, HandshakeState::kFailed);
    EXPECT_EQ(run.client.alert, Alert::kUnsupportedExtension)
        << alert_name(run.client.alert);
    EXPECT_EQ(server.alert_received,
              static_cast<int>(Alert::kUnsupportedExtension));
  }
}

// ---- certificate failures ----

// Runs a handshake expected to fail on our side with `alert`, and checks
// that libssl received that alert (protected under our handshake key).
void ExpectOurAlert(const SslServerOptions& so, const ClientConfig& cfg,
                    Alert alert, const ServerTamper& tamper = nullptr) {
  SslServerCtx sctx(so);
  SslServer server(sctx);
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientRun run = Drive(client, server, tamper);
  ASSERT_EQ(run.client.state, HandshakeState::kFailed);
  EXPECT_FALSE(run.client.alert_from_peer);
  EXPECT_EQ(run.client.alert, alert) << alert_name(run.client.alert);
  EXPECT_EQ(server.alert_received, static_cast<int>(alert));
  EXPECT_FALSE(server.done());
  HandshakeResult res;
  EXPECT_FALSE(client.take_result(&res));
}

TEST(ClientInteropTest, ChainVerifiesThroughTheIntermediate) {
  // The baseline of the failures below: only the root is trusted.
  SslServerCtx sctx(SslServerOptions{});
  SslServer server(sctx);
  ClientHandshake client(MakeClientContext(BaseConfig()), testing::Backend());
  ClientRun run = Drive(client, server);
  EXPECT_EQ(run.client.state, HandshakeState::kDone)
      << alert_name(run.client.alert);
}

TEST(ClientInteropTest, WildcardName) {
  ClientConfig cfg = BaseConfig();
  cfg.server_name = "a.wild.test";
  SslServerCtx sctx(SslServerOptions{});
  SslServer server(sctx);
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  EXPECT_EQ(Drive(client, server).client.state, HandshakeState::kDone);
  // One label only.
  cfg.server_name = "a.b.wild.test";
  ExpectOurAlert(SslServerOptions{}, cfg, Alert::kBadCertificate);
}

TEST(ClientInteropTest, WrongHostNameIsBadCertificate) {
  ClientConfig cfg = BaseConfig();
  cfg.server_name = "other.test";
  ExpectOurAlert(SslServerOptions{}, cfg, Alert::kBadCertificate);
}

TEST(ClientInteropTest, UnknownCa) {
  testing::Identity other;
  other.key = testing::MakeKey("ec");
  other.cert =
      testing::IssueCert(other.key.get(), "another root", {}, true, nullptr);
  ClientConfig cfg = BaseConfig();
  cfg.trust_pem = testing::CertPem(other.cert.get());
  ExpectOurAlert(SslServerOptions{}, cfg, Alert::kUnknownCa);
}

TEST(ClientInteropTest, MissingIntermediateIsUnknownCa) {
  SslServerOptions so;
  so.send_intermediate = false;
  ExpectOurAlert(so, BaseConfig(), Alert::kUnknownCa);
}

TEST(ClientInteropTest, ExpiredCertificate) {
  // A leaf under the intermediate whose validity ended yesterday.
  Ptr<EVP_PKEY> key = testing::MakeKey("ec");
  Ptr<X509> cert = testing::IssueCert(key.get(), "server.test", {"server.test"},
                                      false, &Pki().intermediate);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -10 * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), -86400);
  ASSERT_GT(X509_sign(cert.get(), Pki().intermediate.key.get(), EVP_sha256()),
            0);
  const testing::TestPki::Leaf leaf{
      testing::CertPem(cert.get()) +
          testing::CertPem(Pki().intermediate.cert.get()),
      testing::KeyPem(key.get())};
  SslServerOptions so;
  so.custom = &leaf;
  ExpectOurAlert(so, BaseConfig(), Alert::kCertificateExpired);

  // And a valid certificate seen from a clock 30 days ahead.
  ClientConfig cfg = BaseConfig();
  cfg.clock_ms = [] {
    return static_cast<uint64_t>(time(nullptr) + 30 * 86400) * 1000;
  };
  ExpectOurAlert(SslServerOptions{}, cfg, Alert::kCertificateExpired);
}

TEST(ClientInteropTest, VerifyPeerOffAcceptsAnyCertificate) {
  ClientConfig cfg = BaseConfig();
  cfg.verify_peer = false;
  cfg.trust_pem.clear();
  cfg.server_name = "other.test";
  SslServerCtx sctx(SslServerOptions{});
  SslServer server(sctx);
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  EXPECT_EQ(Drive(client, server).client.state, HandshakeState::kDone);
}

// Opens the server's protected handshake records with its handshake
// secret (libssl's key log), flips the last byte of the first message of
// `type` and seals everything again.
ServerTamper FlipLastByteOf(SslServer& server, HandshakeType type) {
  return [&server, type](size_t, Bytes* wire) {
    auto it = server.keylog.find("SERVER_HANDSHAKE_TRAFFIC_SECRET");
    if (it == server.keylog.end()) {
      return;  // the ServerHello flight is not protected yet
    }
    const CipherSuiteInfo& suite =
        *cipher_suite_info(CipherSuite::kAes128GcmSha256);
    testing::EvpRecordCipher opener(suite, it->second);
    testing::EvpRecordCipher sealer(suite, it->second);
    std::vector<testing::Record> recs = testing::SplitRecords(*wire);
    Bytes out;
    bool flipped = false;
    for (testing::Record& r : recs) {
      if (r.type != 23) {
        out.insert(out.end(), r.header.begin(), r.header.end());
        out.insert(out.end(), r.body.begin(), r.body.end());
        continue;
      }
      ContentType inner;
      Bytes content;
      ASSERT_TRUE(opener.Open(r, &inner, &content));
      for (size_t off = 0; !flipped && off + 4 <= content.size();) {
        const size_t len = (size_t{content[off + 1]} << 16) |
                           (size_t{content[off + 2]} << 8) | content[off + 3];
        if (content[off] == static_cast<uint8_t>(type)) {
          content[off + 4 + len - 1] ^= 0x01;
          flipped = true;
        }
        off += 4 + len;
      }
      const Bytes sealed = sealer.Seal(inner, content);
      out.insert(out.end(), sealed.begin(), sealed.end());
    }
    EXPECT_TRUE(flipped);
    *wire = out;
  };
}

// A flipped signature byte as an attacker would flip it (the server's
// Finished then fails too; BadSignatureWithValidFinishedIsDecryptError
// isolates the signature check).
TEST(ClientInteropTest, TamperedCertificateVerifyIsDecryptError) {
  for (const char* leaf : {"ec", "rsa", "ed25519"}) {
    SslServerOptions so;
    so.leaf = leaf;
    so.ciphersuites = "TLS_AES_128_GCM_SHA256";
    SslServerCtx sctx(so);
    SslServer server(sctx);
    ClientHandshake client(MakeClientContext(BaseConfig()), testing::Backend());
    ClientRun run =
        Drive(client, server,
              FlipLastByteOf(server, HandshakeType::kCertificateVerify));
    EXPECT_EQ(run.client.state, HandshakeState::kFailed) << leaf;
    EXPECT_EQ(run.client.alert, Alert::kDecryptError)
        << leaf << ": " << alert_name(run.client.alert);
    EXPECT_EQ(server.alert_received, static_cast<int>(Alert::kDecryptError));
  }
}

// The CertificateVerify alone: the signature is broken and the server's
// Finished recomputed over the tampered transcript (with libssl's
// handshake secret), so only the signature check can catch it.
TEST(ClientInteropTest, BadSignatureWithValidFinishedIsDecryptError) {
  for (const auto& [leaf, flip] :
       std::vector<std::pair<const char*, bool>>{{"ec", false},
                                                 {"ec", true},
                                                 {"rsa", true},
                                                 {"ed25519", false},
                                                 {"ed25519", true}}) {
    SslServerOptions so;
    so.leaf = leaf;
    so.ciphersuites = "TLS_AES_128_GCM_SHA256";
    SslServerCtx sctx(so);
    SslServer server(sctx);
    ClientHandshake client(MakeClientContext(BaseConfig()), testing::Backend());
    Bytes ch;
    ASSERT_EQ(client.start(&ch).state, HandshakeState::kNeedMore);
    server.Deliver(ch);
    const Bytes flight = server.Step();
    const Bytes& s_hs = server.keylog["SERVER_HANDSHAKE_TRAFFIC_SECRET"];
    ASSERT_FALSE(s_hs.empty());
    const CipherSuiteInfo& suite =
        *cipher_suite_info(CipherSuite::kAes128GcmSha256);
    testing::EvpRecordCipher opener(suite, s_hs);
    Bytes plain_part;  // ServerHello (and CCS) records as they are
    Bytes sh_msg;
    Bytes hs;  // the protected handshake messages, concatenated
    for (const testing::Record& r : testing::SplitRecords(flight)) {
      if (r.type == 23) {
        ContentType inner;
        Bytes content;
        ASSERT_TRUE(opener.Open(r, &inner, &content));
        hs.insert(hs.end(), content.begin(), content.end());
        continue;
      }
      if (r.type == 22) {
        sh_msg = r.body;
      }
      plain_part.insert(plain_part.end(), r.header.begin(), r.header.end());
      plain_part.insert(plain_part.end(), r.body.begin(), r.body.end());
    }
    Transcript t;
    ASSERT_EQ(t.init(HashAlg::kSha256), KdfStatus::kOk);
    t.add(std::span<const uint8_t>(ch).subspan(5));
    t.add(sh_msg);
    bool fixed = false;
    for (size_t off = 0; off + 4 <= hs.size();) {
      const size_t len = (size_t{hs[off + 1]} << 16) |
                         (size_t{hs[off + 2]} << 8) | hs[off + 3];
      const std::span<uint8_t> msg(hs.data() + off, 4 + len);
      if (flip &&
          hs[off] == static_cast<uint8_t>(HandshakeType::kCertificateVerify)) {
        msg[msg.size() - 1] ^= 0x01;
      }
      if (hs[off] == static_cast<uint8_t>(HandshakeType::kFinished)) {
        HashValue h;
        Secret vd;
        ASSERT_EQ(t.current_hash(&h), KdfStatus::kOk);
        ASSERT_EQ(compute_verify_data(HashAlg::kSha256, s_hs, h.span(), &vd),
                  KdfStatus::kOk);
        ASSERT_EQ(vd.size(), len);
        std::copy(vd.span().begin(), vd.span().end(), msg.begin() + 4);
        fixed = true;
      }
      t.add(msg);
      off += 4 + len;
    }
    ASSERT_TRUE(fixed);
    testing::EvpRecordCipher sealer(suite, s_hs);
    Bytes tampered = plain_part;
    const Bytes sealed = sealer.Seal(ContentType::kHandshake, hs);
    tampered.insert(tampered.end(), sealed.begin(), sealed.end());
    Bytes out;
    const FeedResult r = client.feed(tampered, &out);
    if (!flip) {
      // The control: the rebuilt flight is accepted as it is.
      EXPECT_EQ(r.state, HandshakeState::kDone)
          << leaf << ": " << alert_name(r.alert);
      continue;
    }
    EXPECT_EQ(r.state, HandshakeState::kFailed) << leaf;
    EXPECT_EQ(r.alert, Alert::kDecryptError)
        << leaf << ": " << alert_name(r.alert);
  }
}

TEST(ClientInteropTest, TamperedFinishedIsDecryptError) {
  SslServerOptions so;
  so.ciphersuites = "TLS_AES_128_GCM_SHA256";
  SslServerCtx sctx(so);
  SslServer server(sctx);
  ClientHandshake client(MakeClientContext(BaseConfig()), testing::Backend());
  ClientRun run =
      Drive(client, server, FlipLastByteOf(server, HandshakeType::kFinished));
  EXPECT_EQ(run.client.state, HandshakeState::kFailed);
  EXPECT_EQ(run.client.alert, Alert::kDecryptError)
      << alert_name(run.client.alert);
}

// ---- hand-built server messages ----

void Put16(Bytes* b, size_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}

// A ServerHello record answering `client_hello_record`: `version_ext`
// adds supported_versions (0x0304), `share_group` a key share (a fresh
// key) unless 0.
Bytes ServerHelloRecord(const Bytes& client_hello_record, uint16_t suite,
                        bool version_ext, uint16_t share_group,
                        const Bytes& random = Bytes(32, 0x33),
                        const Bytes& more_exts = {}) {
  const size_t sid_len = client_hello_record[5 + 4 + 2 + 32];
  const Bytes sid(client_hello_record.begin() + 5 + 4 + 2 + 32 + 1,
                  client_hello_record.begin() + 5 + 4 + 2 + 32 + 1 +
                      static_cast<long>(sid_len));
  Bytes body = {0x03, 0x03};
  body.insert(body.end(), random.begin(), random.end());
  body.push_back(static_cast<uint8_t>(sid.size()));
  body.insert(body.end(), sid.begin(), sid.end());
  Put16(&body, suite);
  body.push_back(0);
  Bytes exts;
  if (version_ext) {
    Put16(&exts, 43);
    Put16(&exts, 2);
    Put16(&exts, 0x0304);
  }
  if (share_group != 0) {
    const Bytes key = testing::PublicShare(
        share_group == 0x001d ? NamedGroup::kX25519 : NamedGroup::kSecp256r1);
    Put16(&exts, 51);
    Put16(&exts, key.size() + 4);
    Put16(&exts, share_group);
    Put16(&exts, key.size());
    exts.insert(exts.end(), key.begin(), key.end());
  }
  exts = testing::Cat(exts, more_exts);
  if (!exts.empty() || version_ext) {
    Put16(&body, exts.size());
    body.insert(body.end(), exts.begin(), exts.end());
  }
  Bytes msg = {2, 0, static_cast<uint8_t>(body.size() >> 8),
               static_cast<uint8_t>(body.size())};
  msg.insert(msg.end(), body.begin(), body.end());
  Bytes rec = {22, 3, 3};
  Put16(&rec, msg.size());
  rec.insert(rec.end(), msg.begin(), msg.end());
  return rec;
}

// Feeds `server_flight(client_hello)` to a fresh client.
FeedResult FeedClient(const ClientConfig& cfg,
                      const std::function<Bytes(const Bytes&)>& server_flight,
                      Bytes* out = nullptr) {
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  Bytes ch;
  EXPECT_EQ(client.start(&ch).state, HandshakeState::kNeedMore);
  Bytes o;
  const FeedResult r = client.feed(server_flight(ch), &o);
  if (out != nullptr) {
    *out = o;
  }
  return r;
}

TEST(ClientNegativeTest, Tls12ServerHelloIsProtocolVersion) {
  Bytes out;
  const FeedResult r = FeedClient(
      BaseConfig(),
      [](const Bytes& ch) { return ServerHelloRecord(ch, 0xc02f, false, 0); },
      &out);
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kProtocolVersion);
  // The alert goes out in plaintext (no keys yet).
  EXPECT_EQ(testing::TrailingPlaintextAlert(out),
            static_cast<int>(Alert::kProtocolVersion));
}

TEST(ClientNegativeTest, Tls12ServerHelloWithItsExtensionsIsProtocolVersion) {
  // renegotiation_info and extended_master_secret, as TLS 1.2 servers send:
  // the version is what is refused, not the extensions.
  const Bytes tls12_exts = {0xff, 0x01, 0, 1, 0, 0x00, 0x17, 0, 0};
  const FeedResult r = FeedClient(BaseConfig(), [&](const Bytes& ch) {
    return ServerHelloRecord(ch, 0xc02f, false, 0, Bytes(32, 0x33), tls12_exts);
  });
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kProtocolVersion) << alert_name(r.alert);
  // The same extensions in a TLS 1.3 ServerHello are refused as such.
  const FeedResult r13 = FeedClient(BaseConfig(), [&](const Bytes& ch) {
    return ServerHelloRecord(ch, 0x1301, true, 0x001d, Bytes(32, 0x33),
                             tls12_exts);
  });
  EXPECT_EQ(r13.alert, Alert::kUnsupportedExtension) << alert_name(r13.alert);
}

TEST(ClientNegativeTest, DowngradeSentinelIsIllegalParameter) {
  for (uint8_t last : {0x00, 0x01}) {
    Bytes random(32, 0x44);
    const Bytes sentinel = {0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, last};
    std::copy(sentinel.begin(), sentinel.end(), random.begin() + 24);
    const FeedResult r = FeedClient(BaseConfig(), [&](const Bytes& ch) {
      return ServerHelloRecord(ch, 0xc02f, false, 0, random);
    });
    EXPECT_EQ(r.state, HandshakeState::kFailed);
    EXPECT_EQ(r.alert, Alert::kIllegalParameter);
  }
}

TEST(ClientNegativeTest, LibsslTls12OnlyServerRefuses) {
  // libssl limited to TLS 1.2 refuses our TLS 1.3-only ClientHello.
  SslServerOptions so;
  so.max_version = TLS1_2_VERSION;
  SslServerCtx sctx(so);
  SslServer server(sctx);
  ClientHandshake client(MakeClientContext(BaseConfig()), testing::Backend());
  ClientRun run = Drive(client, server);
  EXPECT_EQ(run.client.state, HandshakeState::kFailed);
  EXPECT_TRUE(run.client.alert_from_peer) << alert_name(run.client.alert);
  // libssl answers our TLS 1.3-only offer with protocol_version.
  EXPECT_EQ(run.client.alert, Alert::kProtocolVersion)
      << alert_name(run.client.alert);
}

TEST(ClientNegativeTest, SuiteNotOfferedIsIllegalParameter) {
  ClientConfig cfg = BaseConfig();
  cfg.cipher_suites = {CipherSuite::kAes128GcmSha256};
  const FeedResult r = FeedClient(cfg, [](const Bytes& ch) {
    return ServerHelloRecord(ch, 0x1303, true, 0x001d);
  });
  EXPECT_EQ(r.alert, Alert::kIllegalParameter);
  // The same ServerHello with the offered suite gets past this point (the
  // flight is incomplete, so the client waits).
  const FeedResult ok = FeedClient(cfg, [](const Bytes& ch) {
    return ServerHelloRecord(ch, 0x1301, true, 0x001d);
  });
  EXPECT_EQ(ok.state, HandshakeState::kNeedMore) << alert_name(ok.alert);
}

TEST(ClientNegativeTest, GroupWithoutOurShareIsIllegalParameter) {
  // We sent an X25519 share; a ServerHello (not a retry) with P-256.
  const FeedResult r = FeedClient(BaseConfig(), [](const Bytes& ch) {
    return ServerHelloRecord(ch, 0x1301, true, 0x0017);
  });
  EXPECT_EQ(r.alert, Alert::kIllegalParameter);
}

TEST(ClientNegativeTest, MissingKeyShareIsMissingExtension) {
  const FeedResult r = FeedClient(BaseConfig(), [](const Bytes& ch) {
    return ServerHelloRecord(ch, 0x1301, true, 0);
  });
  EXPECT_EQ(r.alert, Alert::kMissingExtension);
}

TEST(ClientNegativeTest, WrongSessionIdEchoIsIllegalParameter) {
  const FeedResult r = FeedClient(BaseConfig(), [](const Bytes& ch) {
    Bytes rec = ServerHelloRecord(ch, 0x1301, true, 0x001d);
    rec[5 + 4 + 2 + 32 + 1] ^= 1;  // first byte of the echo
    return rec;
  });
  EXPECT_EQ(r.alert, Alert::kIllegalParameter);
}

TEST(ClientNegativeTest, HelloRetryGroupChecks) {
  struct Case {
    std::vector<NamedGroup> ours;
    uint8_t selected;  // low byte of the HRR's selected_group
    bool ok;
  };
  const Case cases[] = {
      // The control: a group we offered without a share.
      {{NamedGroup::kX25519, NamedGroup::kSecp256r1}, 0x17, true},
      // The group we already sent a share for: nothing would change.
      {{NamedGroup::kX25519, NamedGroup::kSecp256r1}, 0x1d, false},
      // A group we did not offer.
      {{NamedGroup::kX25519}, 0x17, false},
  };
  for (const Case& c : cases) {
    ClientConfig cfg = BaseConfig();
    cfg.groups = c.ours;
    Bytes out;
    const FeedResult r = FeedClient(
        cfg,
        [&](const Bytes& ch) {
          return ServerHelloRecord(
              ch, 0x1301, true, 0,
              Bytes(kHelloRetryRequestRandom.begin(),
                    kHelloRetryRequestRandom.end()),
              Bytes{0x00, 0x33, 0x00, 0x02, 0x00, c.selected});
        },
        &out);
    if (c.ok) {
      EXPECT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
      // Our CCS, then the second ClientHello with a P-256 share.
      const auto recs = testing::SplitRecords(out);
      ASSERT_EQ(recs.size(), 2u);
      EXPECT_EQ(recs[0].type, 20);
      EXPECT_EQ(recs[1].type, 22);
      ClientHello ch2;
      Alert a;
      ASSERT_TRUE(parse_client_hello(recs[1].body, &ch2, &a));
      KeyShareEntry e;
      EXPECT_EQ(ch2.key_shares.size(), 1u);
      EXPECT_TRUE(ch2.key_shares.find(0x0017, &e));
      continue;
    }
    EXPECT_EQ(r.state, HandshakeState::kFailed);
    EXPECT_EQ(r.alert, Alert::kIllegalParameter) << alert_name(r.alert);
  }
}

TEST(ClientNegativeTest, OutOfOrderMessageIsUnexpectedMessage) {
  const FeedResult r = FeedClient(BaseConfig(), [](const Bytes&) {
    // A Certificate where the ServerHello belongs.
    return Bytes{22, 3, 3, 0, 8, 11, 0, 0, 4, 0, 0, 0, 0};
  });
  EXPECT_EQ(r.alert, Alert::kUnexpectedMessage);
}

TEST(ClientNegativeTest, ConfigChecks) {
  std::string error;
  ClientConfig c = BaseConfig();
  c.server_name.clear();
  EXPECT_EQ(ClientContext::create(c, &error), nullptr);
  c = BaseConfig();
  c.record_size_limit = 10;
  EXPECT_EQ(ClientContext::create(c, &error), nullptr);
  c = BaseConfig();
  c.offer_psk_dhe_ke = false;  // and no psk_ke: no mode to resume with
  EXPECT_EQ(ClientContext::create(c, &error), nullptr);
  c = BaseConfig();
  c.trust_pem = "not pem";
  EXPECT_EQ(ClientContext::create(c, &error), nullptr);
  EXPECT_EQ(error, "trust_pem: no CERTIFICATE in the PEM bundle");
  c.trust_pem = testing::CertPem(Pki().root.cert.get()) +
                "-----BEGIN CERTIFICATE-----\nnot base64\n"
                "-----END CERTIFICATE-----\n";
  EXPECT_EQ(ClientContext::create(c, &error), nullptr);
  EXPECT_EQ(error, "trust_pem: a PEM block does not parse");
  c = BaseConfig();
  c.alpn_protocols = {""};
  EXPECT_EQ(ClientContext::create(c, &error), nullptr);
  EXPECT_NE(ClientContext::create(BaseConfig(), &error), nullptr) << error;
}

// ---- the client-side codecs ----

// A handshake message of `type` around `body`.
Bytes Message(uint8_t type, const Bytes& body) {
  const Bytes header = {type, static_cast<uint8_t>(body.size() >> 16),
                        static_cast<uint8_t>(body.size() >> 8),
                        static_cast<uint8_t>(body.size())};
  return testing::Cat(header, body);
}

// EncryptedExtensions with the given extension blocks (type, body).
Bytes EeMessage(const std::vector<std::pair<uint16_t, Bytes>>& exts) {
  Bytes list;
  for (const auto& [type, body] : exts) {
    Bytes head;
    Put16(&head, type);
    Put16(&head, body.size());
    list = testing::Cat(list, testing::Cat(head, body));
  }
  Bytes len;
  Put16(&len, list.size());
  return Message(8, testing::Cat(len, list));
}

// b[off, off + n), n clipped to the end.
Bytes Tail(const Bytes& b, size_t off, size_t n = SIZE_MAX) {
  return testing::Sub(b, off, std::min(n, b.size() - off));
}

TEST(ClientCodecTest, EncryptedExtensions) {
  EncryptedExtensions ee;
  Alert a = Alert::kCloseNotify;
  // The parsed views borrow the message: keep it.
  const Bytes good =
      EeMessage({{16, {0, 3, 2, 'h', '2'}}, {28, {0x10, 0x00}}, {0, {}}});
  ASSERT_TRUE(parse_encrypted_extensions(good, &ee, &a));
  EXPECT_EQ(ee.alpn, "h2");
  EXPECT_EQ(ee.record_size_limit, 0x1000);
  EXPECT_TRUE(ee.has(ExtensionType::kServerName));
  EXPECT_FALSE(ee.has(ExtensionType::kEarlyData));
  // Unknown: never offered (4.2).
  EXPECT_FALSE(parse_encrypted_extensions(EeMessage({{0x1234, {}}}), &ee, &a));
  EXPECT_EQ(a, Alert::kUnsupportedExtension);
  // Known, but not an EncryptedExtensions extension.
  EXPECT_FALSE(
      parse_encrypted_extensions(EeMessage({{51, {0, 0x1d}}}), &ee, &a));
  EXPECT_EQ(a, Alert::kIllegalParameter);
  EXPECT_FALSE(
      parse_encrypted_extensions(EeMessage({{0, {}}, {0, {}}}), &ee, &a));
  EXPECT_EQ(a, Alert::kIllegalParameter);
  // ALPN with two names; a non-empty server_name.
  EXPECT_FALSE(parse_encrypted_extensions(
      EeMessage({{16, {0, 4, 1, 'a', 1, 'b'}}}), &ee, &a));
  EXPECT_EQ(a, Alert::kDecodeError);
  EXPECT_FALSE(parse_encrypted_extensions(EeMessage({{0, {1}}}), &ee, &a));
  EXPECT_EQ(a, Alert::kDecodeError);
}

TEST(ClientCodecTest, ServerHelloExtensions) {
  const Bytes ch(5 + 4 + 2 + 32 + 1, 0);  // an empty session ID
  Bytes rec = ServerHelloRecord(ch, 0x1301, true, 0x001d);
  ServerHello sh;
  Alert a = Alert::kCloseNotify;
  ASSERT_TRUE(parse_server_hello(Tail(rec, 5), &sh, &a));
  EXPECT_FALSE(sh.hello_retry_request);
  EXPECT_EQ(sh.selected_version, 0x0304);
  EXPECT_EQ(sh.key_share_group, 0x001d);
  EXPECT_EQ(sh.key_exchange.size(), 32u);
  // A cookie belongs in a HelloRetryRequest only.
  Bytes msg = Tail(rec, 5);
  const Bytes cookie_ext = {0, 44, 0, 3, 0, 1, 7};
  msg = testing::Cat(msg, cookie_ext);
  msg[3] = static_cast<uint8_t>(msg[3] + cookie_ext.size());
  const size_t exts_at = 4 + 2 + 32 + 1 + 2 + 1;
  msg[exts_at + 1] = static_cast<uint8_t>(msg[exts_at + 1] + cookie_ext.size());
  EXPECT_FALSE(parse_server_hello(msg, &sh, &a));
  EXPECT_EQ(a, Alert::kIllegalParameter);
  // A truncated message.
  EXPECT_FALSE(parse_server_hello(Tail(rec, 5, 30), &sh, &a));
  EXPECT_EQ(a, Alert::kDecodeError);
}

TEST(ClientCodecTest, NewSessionTicketAndCertificateRequest) {
  NewSessionTicket nst;
  Alert a = Alert::kCloseNotify;
  Bytes body = {0, 0, 0x1c, 0x20, 1, 2, 3, 4, 1, 9, 0, 2, 0xaa, 0xbb, 0, 0};
  const Bytes nst_msg = Message(4, body);  // the views borrow it
  ASSERT_TRUE(parse_new_session_ticket(nst_msg, &nst, &a));
  EXPECT_EQ(nst.lifetime, 7200u);
  EXPECT_EQ(nst.age_add, 0x01020304u);
  EXPECT_EQ(Bytes(nst.ticket.begin(), nst.ticket.end()), (Bytes{0xaa, 0xbb}));
  body[0] = 0x01;  // over 7 days
  EXPECT_FALSE(parse_new_session_ticket(Message(4, body), &nst, &a));
  EXPECT_EQ(a, Alert::kIllegalParameter);
  EXPECT_FALSE(parse_new_session_ticket(
      Message(4, {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}), &nst, &a));
  EXPECT_EQ(a, Alert::kDecodeError) << "empty ticket";

  CertificateRequest cr;
  const Bytes cr_msg = Message(13, {0, 0, 8, 0, 13, 0, 4, 0, 2, 4, 3});
  ASSERT_TRUE(parse_certificate_request(cr_msg, &cr, &a));
  EXPECT_TRUE(cr.signature_algorithms.contains(0x0403));
  EXPECT_FALSE(
      parse_certificate_request(Message(13, {0, 0, 4, 0, 47, 0, 0}), &cr, &a));
  EXPECT_EQ(a, Alert::kMissingExtension);
}

TEST(ClientCodecTest, ClientHelloReadsBackWithItsBinderOffset) {
  // Our writer against the server's reader, PSK included: the binder
  // offset is where the reader's Truncated(ClientHello) ends, plus the
  // binders vector's 2-byte and the binder's 1-byte lengths.
  const Bytes random(32, 1);
  const Bytes sid(32, 2);
  const uint16_t suites[] = {0x1301, 0x1302};
  const uint16_t groups[] = {0x001d, 0x0017};
  const uint16_t schemes[] = {0x0403, 0x0807};
  const Bytes key(32, 3);
  const KeyShareOffer share{0x001d, key};
  const std::string_view alpn[] = {"h2", "http/1.1"};
  const Bytes ticket(100, 4);
  ClientHelloParams p;
  p.random = random;
  p.legacy_session_id = sid;
  p.cipher_suites = suites;
  p.server_name = "server.test";
  p.supported_groups = groups;
  p.key_shares = {&share, 1};
  p.signature_algorithms = schemes;
  p.record_size_limit = 1000;
  p.alpn = alpn;
  p.psk_identity = ticket;
  p.obfuscated_ticket_age = 12345;
  p.psk_binder_len = 32;
  Bytes buf(1024);
  ByteWriter w(buf);
  size_t binder_offset = 0;
  ASSERT_TRUE(write_client_hello(p, &w, &binder_offset));
  const Bytes msg(w.written().begin(), w.written().end());
  ClientHello ch;
  Alert a = Alert::kCloseNotify;
  ASSERT_TRUE(parse_client_hello(msg, &ch, &a)) << alert_name(a);
  EXPECT_EQ(ch.server_name, "server.test");
  EXPECT_TRUE(ch.alpn.contains("http/1.1"));
  EXPECT_EQ(ch.record_size_limit, 1000);
  EXPECT_TRUE(ch.supported_versions.contains(0x0304));
  EXPECT_EQ(ch.pre_shared_key.count, 1u);
  EXPECT_EQ(ch.pre_shared_key.truncated_len + 3, binder_offset);
  EXPECT_EQ(binder_offset + 32, msg.size());
  // A PSK without a binder length, or without psk_dhe_ke, is refused.
  p.psk_binder_len = 0;
  ByteWriter w2(buf);
  EXPECT_FALSE(write_client_hello(p, &w2, &binder_offset));
}

// ---- resumption with libssl's tickets ----

TEST(ClientInteropTest, ResumesWithLibsslTicket) {
  SslServerCtx sctx(SslServerOptions{});
  ClientConfig cfg = BaseConfig();
  cfg.alpn_protocols = {"h2"};
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  auto ctx = MakeClientContext(cfg);
  {
    SslServer server(sctx);
    ClientHandshake client(ctx, testing::Backend());
    ClientRun run = Drive(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone);
    EXPECT_FALSE(client.resumed());
    ClientWorker w;
    ASSERT_TRUE(w.Install(run.result));
    w.Receive(run.result.post_finished);
    w.Receive(run.after);
    ASSERT_EQ(w.messages.size(), 2u);
    for (const Bytes& m : w.messages) {
      Alert a = Alert::kCloseNotify;
      ClientSession s;
      ASSERT_TRUE(client.on_post_handshake(m, &s, &a)) << alert_name(a);
      EXPECT_EQ(s.psk.size(), 32u);
      EXPECT_EQ(s.server_name, "server.test");
    }
    EXPECT_EQ(cfg.session_cache->size(), 2u);
    // Anything else after the handshake is refused.
    Alert a = Alert::kCloseNotify;
    EXPECT_FALSE(client.on_post_handshake(Bytes{13, 0, 0, 0}, nullptr, &a));
    EXPECT_EQ(a, Alert::kUnexpectedMessage);
  }
  {
    SslServer server(sctx);
    ClientHandshake client(ctx, testing::Backend());
    ClientRun run = Drive(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << alert_name(run.client.alert);
    EXPECT_TRUE(client.resumed());
    EXPECT_EQ(run.result.kind, HandshakeKind::kPsk);
    EXPECT_EQ(SSL_session_reused(server.ssl()), 1);
    EXPECT_EQ(cfg.session_cache->size(), 1u) << "each ticket is used once";
    ClientWorker w;
    ASSERT_TRUE(w.Install(run.result));
    w.Receive(run.result.post_finished);
    w.Receive(run.after);
    const Bytes up = Pattern(777, 3);
    server.Deliver(w.Send(up));
    EXPECT_EQ(server.Read(up.size()), up);
  }
}

TEST(ClientInteropTest, ResumptionAfterHelloRetry) {
  // The ticket's PSK goes into the second ClientHello, its binder over
  // message_hash(ClientHello1) || HelloRetryRequest || ClientHello2.
  SslServerOptions so;
  so.groups = "P-256";
  SslServerCtx sctx(so);
  ClientConfig cfg = BaseConfig();
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  auto ctx = MakeClientContext(cfg);
  {
    SslServer server(sctx);
    ClientHandshake client(ctx, testing::Backend());
    ClientRun run = Drive(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone);
    ClientWorker w;
    ASSERT_TRUE(w.Install(run.result));
    w.Receive(run.after);
    for (const Bytes& m : w.messages) {
      Alert a;
      ASSERT_TRUE(client.on_post_handshake(m, nullptr, &a));
    }
  }
  SslServer server(sctx);
  ClientHandshake client(ctx, testing::Backend());
  ClientRun run = Drive(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kDone)
      << alert_name(run.client.alert);
  EXPECT_EQ(run.result.kind, HandshakeKind::kHelloRetryPsk);
  EXPECT_EQ(SSL_session_reused(server.ssl()), 1);
}

// ---- psk_ke (RFC 8446 section 4.2.9) ----

// Our client offering only psk_ke resumes without (EC)DHE with a libssl
// server that allows it (SSL_OP_ALLOW_NO_DHE_KEX), and gets a full
// handshake from one that does not. Data flows either way.
void PskKeAgainstLibssl(bool server_allows) {
  SslServerOptions so;
  so.options = server_allows ? SSL_OP_ALLOW_NO_DHE_KEX : 0;
  SslServerCtx sctx(so);
  ClientConfig cfg = BaseConfig();
  cfg.offer_psk_dhe_ke = false;
  cfg.offer_psk_ke = true;
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  auto ctx = MakeClientContext(cfg);
  {
    SslServer server(sctx);
    ClientHandshake client(ctx, testing::Backend());
    ClientRun run = Drive(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << alert_name(run.client.alert);
    ClientWorker w;
    ASSERT_TRUE(w.Install(run.result));
    w.Receive(run.result.post_finished);
    w.Receive(run.after);
    for (const Bytes& m : w.messages) {
      Alert a;
      ASSERT_TRUE(client.on_post_handshake(m, nullptr, &a)) << alert_name(a);
    }
    ASSERT_GE(cfg.session_cache->size(), 1u)
        << "libssl sends tickets to a client offering only psk_ke";
  }
  SslServer server(sctx);
  ClientHandshake client(ctx, testing::Backend());
  ClientRun run = Drive(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kDone)
      << alert_name(run.client.alert);
  EXPECT_EQ(client.resumed(), server_allows);
  EXPECT_EQ(run.result.psk_ke, server_allows);
  EXPECT_EQ(SSL_session_reused(server.ssl()), server_allows ? 1 : 0);
  ClientWorker w;
  ASSERT_TRUE(w.Install(run.result));
  w.Receive(run.result.post_finished);
  w.Receive(run.after);
  const Bytes up = Pattern(555, 9);
  server.Deliver(w.Send(up));
  EXPECT_EQ(server.Read(up.size()), up);
}

TEST(ClientInteropTest, PskKeResumesWithLibsslAllowingIt) {
  PskKeAgainstLibssl(true);
}

TEST(ClientInteropTest, PskKeOnlyGetsFullHandshakeFromStrictLibssl) {
  PskKeAgainstLibssl(false);
}

// ---- application data and KeyUpdate after the hand-off ----

class ClientAppDataTest : public ::testing::TestWithParam<CipherSuite> {};

TEST_P(ClientAppDataTest, BothWaysWithKeyUpdate) {
  SslServerOptions so;
  so.ciphersuites = std::string(cipher_suite_info(GetParam())->name);
  SslServerCtx sctx(so);
  SslServer server(sctx);
  ClientHandshake client(MakeClientContext(BaseConfig()), testing::Backend());
  ClientRun run = Drive(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kDone);
  ClientWorker w;
  ASSERT_TRUE(w.Install(run.result));
  w.Receive(run.result.post_finished);
  w.Receive(run.after);

  for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{16383},
                   size_t{16384}, size_t{16385}, size_t{65536}}) {
    const Bytes up = Pattern(n, static_cast<uint8_t>(n));
    Bytes wire = w.Send(up);
    if (n == 0) {
      // An empty record, then one byte so SSL_read has something.
      EXPECT_EQ(testing::SplitRecords(wire).size(), 1u);
      const Bytes one = w.Send({42});
      wire.insert(wire.end(), one.begin(), one.end());
      server.Deliver(wire);
      EXPECT_EQ(server.Read(1), Bytes{42});
      continue;
    }
    server.Deliver(wire);
    EXPECT_EQ(server.Read(n), up) << n << " bytes client -> server";
  }
  for (size_t n : {size_t{1}, size_t{100}, size_t{16384}, size_t{65536}}) {
    w.data.clear();
    const Bytes down = Pattern(n, static_cast<uint8_t>(n + 1));
    w.Receive(server.Write(down));
    EXPECT_EQ(w.data, down) << n << " bytes server -> client";
  }

  // Our KeyUpdate asking for the server's (RFC 8446 4.6.3).
  Bytes wire = w.KeyUpdate(true);
  const Bytes after = w.Send(Pattern(2000, 8));
  wire.insert(wire.end(), after.begin(), after.end());
  server.Deliver(wire);
  EXPECT_EQ(server.Read(2000), Pattern(2000, 8));
  w.data.clear();
  w.Receive(server.Write(Pattern(3000, 9)));
  EXPECT_EQ(w.key_updates, 1u);
  EXPECT_FALSE(w.update_requested);
  EXPECT_EQ(w.data, Pattern(3000, 9));

  // The server's KeyUpdate asking for ours.
  ASSERT_EQ(SSL_key_update(server.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  w.data.clear();
  w.Receive(server.Write(Pattern(4000, 10)));
  EXPECT_EQ(w.key_updates, 2u);
  EXPECT_TRUE(w.update_requested);
  EXPECT_EQ(w.data, Pattern(4000, 10));
  wire = w.KeyUpdate(false);
  const Bytes more = w.Send(Pattern(5000, 11));
  wire.insert(wire.end(), more.begin(), more.end());
  server.Deliver(wire);
  EXPECT_EQ(server.Read(5000), Pattern(5000, 11));
  EXPECT_FALSE(w.error);
}

INSTANTIATE_TEST_SUITE_P(All, ClientAppDataTest,
                         ::testing::ValuesIn(kAllCipherSuites),
                         [](const ::testing::TestParamInfo<CipherSuite>& p) {
                           return std::string(cipher_suite_info(p.param)->name);
                         });

// ---- client certificates ----

TEST(ClientInteropTest, ClientCertificateToLibssl) {
  SslServerOptions so;
  so.request_client_cert = true;
  SslServerCtx sctx(so);
  for (const char* kind : {"ec", "rsa", "ed25519", ""}) {
    SslServer server(sctx);
    ClientConfig cfg = BaseConfig();
    if (*kind != 0) {
      cfg.client_credential = Pki().Load(Pki().leaves.at(kind));
    }
    ClientHandshake client(MakeClientContext(cfg), testing::Backend());
    ClientRun run = Drive(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << kind << ": " << alert_name(run.client.alert);
    EXPECT_TRUE(server.done()) << kind;
    EXPECT_EQ(run.result.kind, *kind != 0 ? HandshakeKind::kFullClientAuth
                                          : HandshakeKind::kFullNoClientCert);
    X509* peer = SSL_get0_peer_certificate(server.ssl());
    EXPECT_EQ(peer != nullptr, *kind != 0) << kind;
  }
}

// ---- our client against our server ----

struct OursRun {
  FeedResult client;
  FeedResult server;
  HandshakeResult client_result;
  HandshakeResult server_result;
  Bytes server_after;  // what the server sent with its kDone (tickets)
};

OursRun DriveOurs(ClientHandshake& client, ServerHandshake& server) {
  OursRun run;
  Bytes to_server;
  run.client = client.start(&to_server);
  for (int i = 0; i < 8 && !to_server.empty(); ++i) {
    Bytes to_client;
    run.server = server.feed(to_server, &to_client);
    to_server.clear();
    if (client.state() == HandshakeState::kNeedMore) {
      run.client = client.feed(to_client, &to_server);
    } else {
      run.server_after.insert(run.server_after.end(), to_client.begin(),
                              to_client.end());
    }
  }
  client.take_result(&run.client_result);
  server.take_result(&run.server_result);
  return run;
}

TEST(ClientOwnServerTest, FullResumedAndData) {
  auto server_ctx = testing::MakeContext(ServerConfig{});
  ClientConfig cfg = BaseConfig();
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  cfg.record_size_limit = 4096;
  auto ctx = MakeClientContext(cfg);
  for (int round = 0; round < 2; ++round) {
    ClientHandshake client(ctx, testing::Backend());
    ServerHandshake server(server_ctx, testing::Backend());
    OursRun run = DriveOurs(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << alert_name(run.client.alert);
    ASSERT_EQ(run.server.state, HandshakeState::kDone)
        << alert_name(run.server.alert);
    EXPECT_EQ(run.client_result.kind,
              round == 0 ? HandshakeKind::kFull : HandshakeKind::kPsk);
    EXPECT_EQ(run.server_result.kind, run.client_result.kind);
    EXPECT_EQ(client.resumed(), round == 1);
    EXPECT_EQ(run.client_result.own_record_size_limit, 4096);
    EXPECT_EQ(run.server_result.peer_record_size_limit, 4096);
    // The same secrets on both sides, each direction the other's.
    EXPECT_EQ(HexEncode(run.client_result.tx().traffic_secret),
              HexEncode(run.server_result.rx().traffic_secret));
    EXPECT_EQ(HexEncode(run.client_result.rx().traffic_secret),
              HexEncode(run.server_result.tx().traffic_secret));

    ClientWorker cw;
    testing::Worker sw;
    ASSERT_TRUE(cw.Install(run.client_result));
    ASSERT_TRUE(sw.Install(run.server_result));
    cw.Receive(run.client_result.post_finished);
    cw.Receive(run.server_after);  // our server's two tickets
    ASSERT_EQ(cw.messages.size(), 2u);
    for (const Bytes& m : cw.messages) {
      Alert a;
      ASSERT_TRUE(client.on_post_handshake(m, nullptr, &a)) << alert_name(a);
    }
    sw.Receive(run.server_result.post_finished);
    for (size_t n : {size_t{1}, size_t{5000}, size_t{65536}}) {
      sw.data.clear();
      cw.data.clear();
      sw.Receive(cw.Send(Pattern(n, 1)));
      EXPECT_EQ(sw.data, Pattern(n, 1));
      cw.Receive(sw.Send(Pattern(n, 2)));
      EXPECT_EQ(cw.data, Pattern(n, 2));
    }
    // KeyUpdate from our client, answered by our server.
    sw.Receive(cw.KeyUpdate(true));
    EXPECT_TRUE(sw.update_requested);
    cw.Receive(sw.KeyUpdate(false));
    sw.data.clear();
    cw.data.clear();
    sw.Receive(cw.Send(Pattern(100, 3)));
    cw.Receive(sw.Send(Pattern(100, 4)));
    EXPECT_EQ(sw.data, Pattern(100, 3));
    EXPECT_EQ(cw.data, Pattern(100, 4));
  }
}

// psk_ke between our client and our server: the server takes it only
// when allow_psk_ke is set and the client offers nothing else, prefers
// psk_dhe_ke when both are offered, and without the option answers a
// psk_ke-only client with a full handshake.
struct PskKeCase {
  bool server_allows;
  bool client_dhe;
  bool client_ke;
  HandshakeKind want_kind;
  bool want_psk_ke;
};

void PskKeOurs(const PskKeCase& c, const std::string& server_group = "") {
  ServerConfig sc;
  sc.allow_psk_ke = c.server_allows;
  if (server_group == "P-256") {
    sc.groups = {NamedGroup::kSecp256r1};  // the client's share is X25519
  }
  auto server_ctx = testing::MakeContext(sc);
  ClientConfig cfg = BaseConfig();
  cfg.offer_psk_dhe_ke = c.client_dhe;
  cfg.offer_psk_ke = c.client_ke;
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  auto ctx = MakeClientContext(cfg);
  for (int round = 0; round < 2; ++round) {
    ClientHandshake client(ctx, testing::Backend());
    ServerHandshake server(server_ctx, testing::Backend());
    OursRun run = DriveOurs(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << "round " << round << ": " << alert_name(run.client.alert)
        << (run.client.alert_from_peer ? " from the server" : "");
    ASSERT_EQ(run.server.state, HandshakeState::kDone)
        << alert_name(run.server.alert);
    if (round == 1) {
      EXPECT_EQ(run.server_result.kind, c.want_kind);
      EXPECT_EQ(run.client_result.kind, c.want_kind);
      EXPECT_EQ(run.server_result.psk_ke, c.want_psk_ke);
      EXPECT_EQ(run.client_result.psk_ke, c.want_psk_ke);
    }
    EXPECT_EQ(HexEncode(run.client_result.tx().traffic_secret),
              HexEncode(run.server_result.rx().traffic_secret));
    ClientWorker cw;
    testing::Worker sw;
    ASSERT_TRUE(cw.Install(run.client_result));
    ASSERT_TRUE(sw.Install(run.server_result));
    cw.Receive(run.client_result.post_finished);
    cw.Receive(run.server_after);
    for (const Bytes& m : cw.messages) {
      Alert a;
      ASSERT_TRUE(client.on_post_handshake(m, nullptr, &a)) << alert_name(a);
    }
    sw.Receive(run.server_result.post_finished);
    sw.Receive(cw.Send(Pattern(300, 1)));
    EXPECT_EQ(sw.data, Pattern(300, 1));
    cw.Receive(sw.Send(Pattern(300, 2)));
    EXPECT_EQ(cw.data, Pattern(300, 2));
  }
}

TEST(ClientOwnServerTest, PskKeOnlyAcceptedWhenAllowed) {
  PskKeOurs({true, false, true, HandshakeKind::kPsk, true});
}

TEST(ClientOwnServerTest, PskKeOnlyIsAFullHandshakeByDefault) {
  PskKeOurs({false, false, true, HandshakeKind::kFull, false});
}

TEST(ClientOwnServerTest, BothModesPreferPskDheKe) {
  PskKeOurs({true, true, true, HandshakeKind::kPsk, false});
}

TEST(ClientOwnServerTest, PskKeNeedsNoRetryForTheShare) {
  // The server's only group is P-256 and the client's share X25519: a
  // full handshake needs a HelloRetryRequest, psk_ke does not.
  PskKeOurs({true, false, true, HandshakeKind::kPsk, true}, "P-256");
}

// ---- 0-RTT from our client (RFC 8446 section 4.2.10) ----

std::string keys_error;  // TicketKeys::generate's, unused

struct EarlyOurs {
  OursRun run;
  Bytes server_early;  // what the server took and handed over
};

// A full handshake with `issuer` (its tickets go to `cfg`'s cache), then a
// resumption with `early` as 0-RTT against `resumer`.
EarlyOurs EarlyAgainstOurs(const ServerConfig& issuer,
                           const ServerConfig& resumer, const Bytes& early,
                           ClientConfig cfg = BaseConfig()) {
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  auto ctx = MakeClientContext(cfg);
  EarlyOurs e;
  {
    ClientHandshake client(ctx, testing::Backend());
    ServerHandshake server(testing::MakeContext(issuer), testing::Backend());
    OursRun run = DriveOurs(client, server);
    EXPECT_EQ(run.client.state, HandshakeState::kDone);
    ClientWorker cw;
    EXPECT_TRUE(cw.Install(run.client_result));
    cw.Receive(run.client_result.post_finished);
    cw.Receive(run.server_after);
    for (const Bytes& m : cw.messages) {
      Alert a;
      EXPECT_TRUE(client.on_post_handshake(m, nullptr, &a)) << alert_name(a);
    }
  }
  ClientHandshake client(ctx, testing::Backend());
  client.set_early_data(early);
  ServerHandshake server(testing::MakeContext(resumer), testing::Backend());
  e.run = DriveOurs(client, server);
  EXPECT_EQ(e.run.client.state, HandshakeState::kDone)
      << alert_name(e.run.client.alert) << " from peer "
      << e.run.client.alert_from_peer;
  EXPECT_EQ(e.run.server.state, HandshakeState::kDone)
      << alert_name(e.run.server.alert);
  e.server_early = e.run.server_result.early_data;
  // The 1-RTT keys work after the early data and EndOfEarlyData.
  if (e.run.server.state == HandshakeState::kDone) {
    ClientWorker cw;
    testing::Worker sw;
    EXPECT_TRUE(cw.Install(e.run.client_result));
    EXPECT_TRUE(sw.Install(e.run.server_result));
    sw.Receive(e.run.server_result.post_finished);
    sw.Receive(cw.Send(Pattern(64, 3)));
    EXPECT_EQ(sw.data, Pattern(64, 3));
  }
  return e;
}

TEST(ClientOwnServerTest, EarlyDataAccepted) {
  ServerConfig sc;
  sc.max_early_data = 4096;
  sc.ticket_keys = TicketKeys::generate(0, 3600000, &keys_error);
  const Bytes early = Pattern(3000, 7);
  EarlyOurs e = EarlyAgainstOurs(sc, sc, early);
  EXPECT_TRUE(e.run.client_result.early_data_accepted);
  EXPECT_TRUE(e.run.server_result.early_data_accepted);
  EXPECT_EQ(e.run.server_result.kind, HandshakeKind::kPskEarlyData);
  EXPECT_EQ(e.server_early, early);
}

TEST(ClientOwnServerTest, EarlyDataRejectedByAServerWithItOff) {
  ServerConfig on;
  on.max_early_data = 4096;
  on.ticket_keys = TicketKeys::generate(0, 3600000, &keys_error);
  ServerConfig off = on;
  off.max_early_data = 0;
  EarlyOurs e = EarlyAgainstOurs(on, off, Pattern(1000, 7));
  EXPECT_FALSE(e.run.client_result.early_data_accepted);
  EXPECT_EQ(e.run.client_result.kind, HandshakeKind::kPsk);
  EXPECT_TRUE(e.server_early.empty());
}

TEST(ClientOwnServerTest, EarlyDataNotSentWhenTheTicketAllowsLess) {
  ServerConfig sc;
  sc.max_early_data = 100;
  sc.ticket_keys = TicketKeys::generate(0, 3600000, &keys_error);
  EarlyOurs e = EarlyAgainstOurs(sc, sc, Pattern(101, 7));
  EXPECT_FALSE(e.run.client_result.early_data_accepted);
  EXPECT_EQ(e.run.server_result.kind, HandshakeKind::kPsk);
  EXPECT_TRUE(e.server_early.empty());
}

TEST(ClientOwnServerTest, EarlyDataRejectedByAHelloRetry) {
  // The resuming server wants P-256; the client's share is X25519: the
  // HelloRetryRequest rejects the 0-RTT, and the second ClientHello goes
  // out in plaintext.
  ServerConfig on;
  on.max_early_data = 4096;
  on.ticket_keys = TicketKeys::generate(0, 3600000, &keys_error);
  ServerConfig retry = on;
  retry.groups = {NamedGroup::kSecp256r1};
  EarlyOurs e = EarlyAgainstOurs(on, retry, Pattern(500, 7));
  EXPECT_FALSE(e.run.client_result.early_data_accepted);
  EXPECT_EQ(e.run.server_result.kind, HandshakeKind::kHelloRetryPsk);
  EXPECT_TRUE(e.server_early.empty());
}

// Our client's 0-RTT against libssl (SSL_read_early_data).
TEST(ClientInteropTest, EarlyDataToLibssl) {
  SslServerOptions so;
  SslServerCtx sctx(so);
  SSL_CTX_set_max_early_data(sctx.get(), 8192);
  ClientConfig cfg = BaseConfig();
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  auto ctx = MakeClientContext(cfg);
  {
    SslServer server(sctx);
    ClientHandshake client(ctx, testing::Backend());
    ClientRun run = Drive(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone);
    ClientWorker w;
    ASSERT_TRUE(w.Install(run.result));
    w.Receive(run.result.post_finished);
    w.Receive(run.after);
    for (const Bytes& m : w.messages) {
      Alert a;
      ASSERT_TRUE(client.on_post_handshake(m, nullptr, &a)) << alert_name(a);
    }
    ASSERT_GE(cfg.session_cache->size(), 1u);
    // With 0-RTT on, libssl's tickets are stateful (its anti-replay); a
    // connection freed without a shutdown drops its session from the cache.
    SSL_set_shutdown(server.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  SslServer server(sctx);
  ClientHandshake client(ctx, testing::Backend());
  const Bytes early = Pattern(2500, 4);
  client.set_early_data(early);
  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  server.Deliver(out);
  // libssl reads the early data before finishing its handshake.
  Bytes got(early.size() + 16);
  size_t n = 0;
  size_t total = 0;
  int r = SSL_READ_EARLY_DATA_SUCCESS;
  while (r == SSL_READ_EARLY_DATA_SUCCESS) {
    r = SSL_read_early_data(server.ssl(), got.data() + total,
                            got.size() - total, &n);
    if (r == SSL_READ_EARLY_DATA_SUCCESS) {
      total += n;
    }
    if (r == SSL_READ_EARLY_DATA_ERROR) {
      ERR_clear_error();
      break;  // wants the next flight
    }
  }
  got.resize(total);
  EXPECT_EQ(got, early);
  EXPECT_EQ(SSL_get_early_data_status(server.ssl()), SSL_EARLY_DATA_ACCEPTED);
  // The server's flight, our EndOfEarlyData and Finished.
  FeedResult fr;
  Bytes more(64);
  for (int i = 0; i < 8 && client.state() == HandshakeState::kNeedMore; ++i) {
    const Bytes in = server.TakeOutput();
    Bytes to_server;
    fr = client.feed(in, &to_server);
    server.Deliver(to_server);
    // SSL_read_early_data until it reports the end (our EndOfEarlyData),
    // then the handshake goes on as usual.
    while (r != SSL_READ_EARLY_DATA_FINISH) {
      r = SSL_read_early_data(server.ssl(), more.data(), more.size(), &n);
      if (r == SSL_READ_EARLY_DATA_ERROR) {
        ERR_clear_error();
        break;
      }
      EXPECT_NE(r, SSL_READ_EARLY_DATA_SUCCESS) << "more early data";
    }
    if (r == SSL_READ_EARLY_DATA_FINISH) {
      server.Step();
    }
  }
  ASSERT_EQ(client.state(), HandshakeState::kDone) << alert_name(fr.alert);
  HandshakeResult res;
  ASSERT_TRUE(client.take_result(&res));
  EXPECT_TRUE(res.early_data_accepted);
  EXPECT_TRUE(server.done());
  ClientWorker w;
  ASSERT_TRUE(w.Install(res));
  w.Receive(res.post_finished);
  const Bytes up = Pattern(100, 9);
  server.Deliver(w.Send(up));
  EXPECT_EQ(server.Read(up.size()), up);
}

TEST(ClientOwnServerTest, HelloRetryAndAlpn) {
  ServerConfig sc;
  sc.groups = {NamedGroup::kSecp384r1, NamedGroup::kX25519};
  sc.hello_retry_for_preferred_group = true;
  sc.alpn_protocols = {"h2"};
  auto server_ctx = testing::MakeContext(sc);
  ClientConfig cfg = BaseConfig();
  cfg.groups = {NamedGroup::kX25519, NamedGroup::kSecp384r1};
  cfg.alpn_protocols = {"http/1.1", "h2"};
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ServerHandshake server(server_ctx, testing::Backend());
  OursRun run = DriveOurs(client, server);
  ASSERT_EQ(run.client.state, HandshakeState::kDone)
      << alert_name(run.client.alert);
  ASSERT_EQ(run.server.state, HandshakeState::kDone);
  EXPECT_EQ(run.client_result.kind, HandshakeKind::kHelloRetry);
  EXPECT_EQ(run.client_result.group, NamedGroup::kSecp384r1);
  EXPECT_EQ(run.client_result.alpn, "h2");
  EXPECT_EQ(run.server_result.server_name, "server.test");
}

TEST(ClientOwnServerTest, ClientCertificate) {
  ServerConfig sc;
  sc.client_ca_pem = testing::CertPem(Pki().root.cert.get()) +
                     testing::CertPem(Pki().intermediate.cert.get());
  sc.client_cert_required = false;
  auto server_ctx = testing::MakeContext(sc);
  // A client leaf with clientAuth in its extendedKeyUsage.
  Ptr<EVP_PKEY> key = testing::MakeKey("ec");
  Ptr<X509> cert = testing::IssueCert(key.get(), "client.test", {}, false,
                                      &Pki().intermediate);
  X509_EXTENSION* eku =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_ext_key_usage, "clientAuth");
  const int at = X509_get_ext_by_NID(cert.get(), NID_ext_key_usage, -1);
  X509_EXTENSION_free(X509_delete_ext(cert.get(), at));
  X509_add_ext(cert.get(), eku, -1);
  X509_EXTENSION_free(eku);
  ASSERT_GT(X509_sign(cert.get(), Pki().intermediate.key.get(), EVP_sha256()),
            0);
  std::string error;
  auto cred =
      Credential::from_pem(testing::CertPem(cert.get()) +
                               testing::CertPem(Pki().intermediate.cert.get()),
                           testing::KeyPem(key.get()), &error, {"client.test"});
  ASSERT_NE(cred, nullptr) << error;
  for (bool with_cert : {true, false}) {
    ClientConfig cfg = BaseConfig();
    if (with_cert) {
      cfg.client_credential = std::move(cred);
    }
    ClientHandshake client(MakeClientContext(cfg), testing::Backend());
    ServerHandshake server(server_ctx, testing::Backend());
    OursRun run = DriveOurs(client, server);
    ASSERT_EQ(run.client.state, HandshakeState::kDone)
        << alert_name(run.client.alert);
    ASSERT_EQ(run.server.state, HandshakeState::kDone)
        << alert_name(run.server.alert);
    EXPECT_EQ(run.client_result.kind, with_cert
                                          ? HandshakeKind::kFullClientAuth
                                          : HandshakeKind::kFullNoClientCert);
    EXPECT_EQ(run.server_result.client_identity.subject,
              with_cert ? "CN=client.test" : "");
  }
}

TEST(ClientOwnServerTest, OurServerRefusingOurClientIsThePeersAlert) {
  ServerConfig sc;
  sc.alpn_protocols = {"h2"};
  auto server_ctx = testing::MakeContext(sc);
  ClientConfig cfg = BaseConfig();
  cfg.alpn_protocols = {"http/1.1"};
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ServerHandshake server(server_ctx, testing::Backend());
  OursRun run = DriveOurs(client, server);
  EXPECT_EQ(run.client.state, HandshakeState::kFailed);
  EXPECT_TRUE(run.client.alert_from_peer);
  EXPECT_EQ(run.client.alert, Alert::kNoApplicationProtocol);
}

// ---- RFC 8448 section 3 ----

Bytes Field(const testing::Rfc8448Trace& trace, int section, const char* who,
            const std::string& action, const char* label, size_t nth = 0) {
  const auto steps = trace.find(section, who, action);
  if (steps.size() <= nth || steps[nth]->field(label) == nullptr) {
    ADD_FAILURE() << "RFC 8448 section " << section << ": no {" << who << "} '"
                  << action << "' #" << nth << " field '" << label << "'";
    return {};
  }
  return steps[nth]->field(label)->value;
}

TEST(ClientRfc8448Test, Section3ClientHelloAndFinished) {
  testing::Rfc8448Trace trace;
  std::string error;
  ASSERT_TRUE(testing::LoadRfc8448(&trace, &error)) << error;
  const Bytes ch_record =
      Field(trace, 3, "client", "send handshake record", "complete record", 0);
  const Bytes fin_record =
      Field(trace, 3, "client", "send handshake record", "complete record", 1);
  const Bytes sh_record =
      Field(trace, 3, "server", "send handshake record", "complete record", 0);
  const Bytes flight_record =
      Field(trace, 3, "server", "send handshake record", "complete record", 1);
  const Bytes private_key = Field(
      trace, 3, "client", "create an ephemeral x25519 key pair", "private key");
  ASSERT_GT(ch_record.size(), 5u + 6 + 32);

  ClientConfig cfg;
  cfg.server_name = "server";
  cfg.verify_peer = false;  // RFC 8448's certificate is its own, and old
  cfg.middlebox_compat = false;
  cfg.cipher_suites = {CipherSuite::kAes128GcmSha256,
                       CipherSuite::kChaCha20Poly1305Sha256,
                       CipherSuite::kAes256GcmSha384};
  cfg.groups = {NamedGroup::kX25519};
  cfg.record_size_limit = 0x4001;
  ClientTestHooks hooks;
  hooks.client_random.emplace();
  std::copy_n(ch_record.begin() + 5 + 6, 32, hooks.client_random->begin());
  hooks.x25519_private_key = private_key;
  // What RFC 8448's client lists beyond what dptls implements.
  hooks.supported_groups = {0x001d, 0x0017, 0x0018, 0x0019, 0x0100,
                            0x0101, 0x0102, 0x0103, 0x0104};
  hooks.signature_algorithms = {0x0403, 0x0503, 0x0603, 0x0203, 0x0804,
                                0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                                0x0201, 0x0402, 0x0502, 0x0602, 0x0202};
  // renegotiation_info and an empty session_ticket (RFC 5077).
  hooks.extra_extensions = {{0xff01, {0x00}, ExtensionType::kServerName},
                            {0x0023, {}, ExtensionType::kSupportedGroups}};
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  client.set_test_hooks(hooks);
  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  EXPECT_EQ(HexEncode(out), HexEncode(ch_record));

  // The RFC's server flight, then our Finished is the RFC's.
  out.clear();
  Bytes in = sh_record;
  in.insert(in.end(), flight_record.begin(), flight_record.end());
  const FeedResult r = client.feed(in, &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  EXPECT_EQ(HexEncode(out), HexEncode(fin_record));
  HandshakeResult res;
  ASSERT_TRUE(client.take_result(&res));
  EXPECT_EQ(
      HexEncode(res.client_secret.span()),
      HexEncode(Field(trace, 3, "server",
                      "derive secret \"tls13 c ap traffic\"", "expanded")));
  EXPECT_EQ(
      HexEncode(res.server_secret.span()),
      HexEncode(Field(trace, 3, "server",
                      "derive secret \"tls13 s ap traffic\"", "expanded")));

  // The RFC's NewSessionTicket, through the record engine, gives the PSK
  // RFC 8448 section 4 resumes with.
  const Bytes nst_record =
      Field(trace, 3, "server", "send handshake record", "complete record", 2);
  ClientWorker w;
  ASSERT_TRUE(w.Install(res));
  w.Receive(nst_record);
  ASSERT_EQ(w.messages.size(), 1u);
  ClientSession session;
  Alert a;
  ASSERT_TRUE(client.on_post_handshake(w.messages[0], &session, &a))
      << alert_name(a);
  const Bytes psk =
      Field(trace, 4, "client", "extract secret \"early\"", "IKM");
  EXPECT_EQ(HexEncode(session.psk.span()), HexEncode(psk));
}

}  // namespace
}  // namespace dptls::tls
