// The server handshake against a TLS 1.3 stack nobody here wrote: an
// OpenSSL 3.0 libssl client in memory (BIO pair), which verifies our
// certificate chain, CertificateVerify and Finished.
//
//  - every cipher suite x group x signature scheme completes a full
//    handshake, and the hand-off keys work in the worker's RecordEngine;
//  - HelloRetryRequest (client's share does not fit), with its one
//    change_cipher_spec and cookie;
//  - ALPN, SNI certificate choice (exact, wildcard, key type),
//    record_size_limit echoed, client vs server cipher order, GREASE and
//    unknown extensions ignored, input cut into 1-byte pieces, bytes after
//    the client's Finished handed over;
//  - OCSP stapling: the configured response reaches a client that asked,
//    byte for byte; none for a client that did not ask or when none is
//    configured;
//  - rejected 0-RTT: a resumption attempt with early data from a real
//    OpenSSL ticket, with and without a HelloRetryRequest;
//  - after the hand-off, application data both ways at 0..64 KiB,
//    KeyUpdate both ways and close_notify, RecordEngine <-> libssl.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/handshake/server.h"
#include "dptls/tls/record_engine.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/handshake/worker_test_support.h"

namespace dptls::tls {
namespace {

using testing::Bytes;
using testing::ClientOptions;
using testing::Exchange;
using testing::MakeContext;
using testing::Pki;
using testing::SplitRecords;
using testing::TestClient;

std::string OsslGroup(NamedGroup g) {
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

int OsslGroupNid(NamedGroup g) {
  switch (g) {
    case NamedGroup::kX25519:
      return NID_X25519;
    case NamedGroup::kSecp256r1:
      return NID_X9_62_prime256v1;
    case NamedGroup::kSecp384r1:
      return NID_secp384r1;
  }
  return 0;
}

using testing::ClientRead;
using testing::ClientWrite;
using testing::Pattern;
using testing::Worker;

// One handshake with a fresh server; asserts it completes on both sides.
struct HsRun {
  std::unique_ptr<TestClient> client;
  std::unique_ptr<ServerHandshake> server;
  Exchange ex;
};

HsRun Handshake(const ServerConfig& config, const ClientOptions& options,
                std::vector<std::shared_ptr<const Credential>> creds = {},
                size_t piece = 0) {
  HsRun run;
  run.client = std::make_unique<TestClient>(options);
  run.server = std::make_unique<ServerHandshake>(
      MakeContext(config, std::move(creds)), testing::Backend());
  run.ex = testing::RunHandshake(*run.client, *run.server, piece);
  EXPECT_TRUE(run.ex.server_done)
      << "server: " << handshake_state_name(run.ex.server.state) << " "
      << alert_name(run.ex.server.alert)
      << (run.ex.server.alert_from_peer ? " (from client)" : "");
  EXPECT_TRUE(run.client->handshake_done())
      << "client alert sent " << run.client->alert_sent << " received "
      << run.client->alert_received;
  if (run.client->handshake_done() && options.verify) {
    EXPECT_EQ(SSL_get_verify_result(run.client->ssl()), X509_V_OK);
  }
  return run;
}

// Installs the result and sends one message each way.
void CheckAppData(HsRun& run) {
  Worker w;
  ASSERT_TRUE(w.Install(run.ex.result));
  w.Receive(run.ex.result.post_finished);
  const Bytes up = Pattern(300, 1);
  w.Receive(ClientWrite(*run.client, up));
  EXPECT_EQ(w.data, up);
  const Bytes down = Pattern(500, 2);
  run.client->Deliver(w.Send(down));
  EXPECT_EQ(ClientRead(*run.client, down.size()), down);
}

size_t CountRecords(const Bytes& wire, uint8_t type) {
  size_t n = 0;
  for (const auto& r : SplitRecords(wire)) {
    n += r.type == type ? 1 : 0;
  }
  return n;
}

// ---- every suite x group x signature scheme ----

struct MatrixParam {
  CipherSuite suite;
  NamedGroup group;
  SignatureScheme scheme;
};

class HandshakeMatrixTest : public ::testing::TestWithParam<MatrixParam> {};

TEST_P(HandshakeMatrixTest, CompletesAndKeysWork) {
  const MatrixParam p = GetParam();
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kX25519, NamedGroup::kSecp256r1,
                NamedGroup::kSecp384r1};
  ClientOptions o;
  o.ciphersuites = std::string(cipher_suite_info(p.suite)->name);
  o.groups = OsslGroup(p.group);
  o.sigalgs = std::string(signature_scheme_name(p.scheme));
  HsRun run = Handshake(cfg, o);
  ASSERT_TRUE(run.ex.server_done);
  const HandshakeResult& r = run.ex.result;
  EXPECT_EQ(r.version, kVersionTls13);
  EXPECT_EQ(r.suite, p.suite);
  EXPECT_EQ(r.group, p.group);
  EXPECT_EQ(r.signature_scheme, p.scheme);
  EXPECT_EQ(r.kind, HandshakeKind::kFull);
  EXPECT_EQ(r.server_name, "server.test");
  EXPECT_EQ(r.client_secret.size(), hash_len(cipher_suite_info(p.suite)->hash));
  EXPECT_EQ(r.server_next_seq, 2u) << "two NewSessionTickets by default";
  EXPECT_EQ(r.tickets_sent, 2u);
  EXPECT_EQ(
      SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(run.client->ssl())),
      static_cast<uint16_t>(p.suite));
  EXPECT_EQ(SSL_get_negotiated_group(run.client->ssl()), OsslGroupNid(p.group));
  // The traffic secrets match the ones libssl logged.
  EXPECT_EQ(Bytes(r.client_secret.span().begin(), r.client_secret.span().end()),
            run.client->keylog["CLIENT_TRAFFIC_SECRET_0"]);
  EXPECT_EQ(Bytes(r.server_secret.span().begin(), r.server_secret.span().end()),
            run.client->keylog["SERVER_TRAFFIC_SECRET_0"]);
  CheckAppData(run);
}

std::vector<MatrixParam> AllMatrixParams() {
  std::vector<MatrixParam> out;
  for (CipherSuite s : kAllCipherSuites) {
    for (NamedGroup g : kAllNamedGroups) {
      for (SignatureScheme sc : kAllSignatureSchemes) {
        out.push_back({s, g, sc});
      }
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    All, HandshakeMatrixTest, ::testing::ValuesIn(AllMatrixParams()),
    [](const ::testing::TestParamInfo<MatrixParam>& p) {
      return std::string(cipher_suite_info(p.param.suite)->name) + "_" +
             std::string(named_group_name(p.param.group)) + "_" +
             std::string(signature_scheme_name(p.param.scheme));
    });

// ---- HelloRetryRequest ----

TEST(HelloRetryTest, PreferredGroupWithoutShareGetsRetry) {
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kX25519, NamedGroup::kSecp256r1};
  cfg.hello_retry_for_preferred_group = true;
  ClientOptions o;
  o.groups = "P-256:X25519";  // a P-256 share only; X25519 supported
  HsRun run = Handshake(cfg, o);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kHelloRetry);
  EXPECT_EQ(run.ex.result.group, NamedGroup::kX25519);
  EXPECT_EQ(SSL_get_negotiated_group(run.client->ssl()), NID_X25519);
  // The first record is the HelloRetryRequest: a ServerHello with the
  // special random (RFC 8446 4.1.3), and a cookie the client echoed.
  const auto records = SplitRecords(run.ex.server_wire);
  ASSERT_GE(records.size(), 2u);
  ASSERT_EQ(records[0].type, 22);
  ASSERT_GE(records[0].body.size(), 38u);
  EXPECT_EQ(records[0].body[0], 2);
  EXPECT_TRUE(std::equal(kHelloRetryRequestRandom.begin(),
                         kHelloRetryRequestRandom.end(),
                         records[0].body.begin() + 6));
  // Middlebox compatibility: exactly one change_cipher_spec, right after
  // the HelloRetryRequest (RFC 8446 D.4).
  EXPECT_EQ(records[1].type, 20);
  EXPECT_EQ(CountRecords(run.ex.server_wire, 20), 1u);
  CheckAppData(run);
}

TEST(HelloRetryTest, NoUsableShareGetsRetry) {
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kX25519};
  ClientOptions o;
  o.groups = "P-256:X25519";
  HsRun run = Handshake(cfg, o);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kHelloRetry);
  EXPECT_EQ(run.ex.result.group, NamedGroup::kX25519);
  CheckAppData(run);
}

TEST(HelloRetryTest, UsableShareAvoidsRetryByDefault) {
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kX25519, NamedGroup::kSecp256r1};
  ClientOptions o;
  o.groups = "P-256:X25519";
  HsRun run = Handshake(cfg, o);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kFull);
  EXPECT_EQ(run.ex.result.group, NamedGroup::kSecp256r1);
  EXPECT_EQ(CountRecords(run.ex.server_wire, 20), 1u);
}

TEST(HelloRetryTest, NoCompatModeNoChangeCipherSpec) {
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kX25519};
  ClientOptions o;
  o.groups = "P-256:X25519";
  o.middlebox_compat = false;  // empty legacy_session_id
  HsRun run = Handshake(cfg, o);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kHelloRetry);
  EXPECT_EQ(CountRecords(run.ex.server_wire, 20), 0u);
  CheckAppData(run);
}

// ---- negotiation ----

TEST(NegotiationTest, AlpnServerPreference) {
  ServerConfig cfg;
  cfg.alpn_protocols = {"h2", "http/1.1"};
  ClientOptions o;
  o.alpn = {"http/1.1", "h2"};
  HsRun run = Handshake(cfg, o);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.ex.result.alpn, "h2");
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(run.client->ssl(), &proto, &len);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(proto), len), "h2");
}

TEST(NegotiationTest, AlpnIgnoredWhenServerHasNone) {
  ClientOptions o;
  o.alpn = {"h2"};
  HsRun run = Handshake(ServerConfig{}, o);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.ex.result.alpn, "");
}

TEST(NegotiationTest, ServerCipherPreference) {
  ClientOptions o;
  o.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
  HsRun run = Handshake(ServerConfig{}, o);
  EXPECT_EQ(run.ex.result.suite, CipherSuite::kAes128GcmSha256);
}

TEST(NegotiationTest, ClientCipherPreference) {
  ServerConfig cfg;
  cfg.server_cipher_preference = false;
  ClientOptions o;
  o.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
  HsRun run = Handshake(cfg, o);
  EXPECT_EQ(run.ex.result.suite, CipherSuite::kChaCha20Poly1305Sha256);
}

TEST(NegotiationTest, GreaseAndUnknownExtensionsIgnored) {
  ClientOptions o;
  o.custom_extensions = {
      {0x0a0a, Bytes{}}, {0x7a7a, Bytes{0}}, {0x1234, Bytes{1, 2, 3, 4}}};
  HsRun run = Handshake(ServerConfig{}, o);
  ASSERT_TRUE(run.ex.server_done);
  CheckAppData(run);
}

TEST(NegotiationTest, RecordSizeLimitEchoedAndHonoured) {
  ServerConfig cfg;
  cfg.record_size_limit = 16385;
  ClientOptions o;
  o.custom_extensions = {{28, Bytes{0x04, 0x01}}};  // 1025
  HsRun run = Handshake(cfg, o);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.client->ee_record_size_limit, 16385);
  EXPECT_EQ(run.ex.result.peer_record_size_limit, 1025);
  EXPECT_EQ(run.ex.result.own_record_size_limit, 16385);
  // RFC 8449 section 4: the limit counts the inner content type, so the
  // engine puts at most 1024 bytes of data in a record to this client.
  Worker w;
  ASSERT_TRUE(w.Install(run.ex.result));
  EXPECT_EQ(w.max_plaintext(), 1024u);
  const Bytes down = Pattern(5000, 3);
  const Bytes wire = w.Send(down);
  for (const auto& rec : SplitRecords(wire)) {
    EXPECT_LE(rec.body.size(), 1025u + 16u);
  }
  run.client->Deliver(wire);
  EXPECT_EQ(ClientRead(*run.client, down.size()), down);
  // Our own handshake records to the client obeyed it too.
  for (const auto& rec : SplitRecords(run.ex.server_wire)) {
    if (rec.type == 23) {
      EXPECT_LE(rec.body.size(), 1025u + 16u);
    }
  }
}

TEST(NegotiationTest, NoRecordSizeLimitWhenClientSendsNone) {
  HsRun run = Handshake(ServerConfig{}, ClientOptions{});
  EXPECT_EQ(run.client->ee_record_size_limit, -1);
  EXPECT_EQ(run.ex.result.peer_record_size_limit, 0);
  EXPECT_EQ(run.ex.result.own_record_size_limit, 0);
}

// ---- certificate choice ----

std::string PeerCommonName(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) {
    return "";
  }
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
                            sizeof(buf));
  return buf;
}

class SniTest : public ::testing::Test {
 protected:
  static std::vector<std::shared_ptr<const Credential>> Creds() {
    static const auto* creds = [] {
      auto* v = new std::vector<std::shared_ptr<const Credential>>;
      v->push_back(Pki().Load(Pki().MakeLeaf("ec", {"a.example"})));
      v->push_back(Pki().Load(Pki().MakeLeaf("ec", {"*.b.example"})));
      v->push_back(Pki().Load(Pki().MakeLeaf("rsa", {"c.example"})));
      v->push_back(Pki().Load(Pki().MakeLeaf("ec", {"c.example"})));
      return v;
    }();
    return *creds;
  }
};

TEST_F(SniTest, ExactName) {
  ClientOptions o;
  o.sni = "a.example";
  HsRun run = Handshake(ServerConfig{}, o, Creds());
  EXPECT_EQ(PeerCommonName(run.client->ssl()), "a.example");
  EXPECT_EQ(run.ex.result.server_name, "a.example");
}

TEST_F(SniTest, WildcardName) {
  ClientOptions o;
  o.sni = "X.B.example";  // case-insensitive
  o.verify = false;       // libssl's name check is case-sensitive enough
  HsRun run = Handshake(ServerConfig{}, o, Creds());
  EXPECT_EQ(PeerCommonName(run.client->ssl()), "*.b.example");
  EXPECT_EQ(run.ex.result.server_name, "x.b.example");
}

TEST_F(SniTest, WildcardWithVerification) {
  ClientOptions o;
  o.sni = "www.b.example";
  HsRun run = Handshake(ServerConfig{}, o, Creds());
  EXPECT_EQ(PeerCommonName(run.client->ssl()), "*.b.example");
}

TEST_F(SniTest, KeyTypeTheClientCanVerify) {
  ClientOptions o;
  o.sni = "c.example";
  o.sigalgs = "ecdsa_secp256r1_sha256";
  HsRun run = Handshake(ServerConfig{}, o, Creds());
  EXPECT_EQ(run.ex.result.signature_scheme,
            SignatureScheme::kEcdsaSecp256r1Sha256);
  o.sigalgs = "rsa_pss_rsae_sha256";
  HsRun run2 = Handshake(ServerConfig{}, o, Creds());
  EXPECT_EQ(run2.ex.result.signature_scheme,
            SignatureScheme::kRsaPssRsaeSha256);
}

TEST_F(SniTest, UnknownNameGetsFirstCertificate) {
  ClientOptions o;
  o.sni = "nowhere.example";
  o.verify = false;
  HsRun run = Handshake(ServerConfig{}, o, Creds());
  EXPECT_EQ(PeerCommonName(run.client->ssl()), "a.example");
}

// ---- transport shapes ----

TEST(TransportTest, OneBytePieces) {
  ClientOptions o;
  o.groups = "P-256:X25519";
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kX25519};  // with a retry, for more records
  HsRun run = Handshake(cfg, o, {}, /*piece=*/1);
  ASSERT_TRUE(run.ex.server_done);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kHelloRetry);
  CheckAppData(run);
}

TEST(TransportTest, BytesAfterClientFinishedAreHandedOver) {
  ClientOptions o;
  auto client = std::make_unique<TestClient>(o);
  ServerHandshake server(MakeContext(ServerConfig{}), testing::Backend());
  Bytes out;
  server.feed(client->Step(), &out);  // ClientHello -> server flight
  client->Deliver(out);
  Bytes finished = client->Step();  // [CCS,] Finished
  ASSERT_TRUE(client->handshake_done());
  // The client sends application data before the server has read its
  // Finished: it arrives in the same feed.
  const Bytes early_app = Pattern(777, 9);
  const Bytes app = ClientWrite(*client, early_app);
  finished.insert(finished.end(), app.begin(), app.end());
  out.clear();
  const FeedResult r = server.feed(finished, &out);
  ASSERT_EQ(r.state, HandshakeState::kDone);
  // Only the NewSessionTickets, one record each.
  EXPECT_EQ(testing::SplitRecords(out).size(), 2u);
  HandshakeResult res;
  ASSERT_TRUE(server.take_result(&res));
  EXPECT_FALSE(server.take_result(&res)) << "only once";
  EXPECT_EQ(res.post_finished, app);
  Worker w;
  ASSERT_TRUE(w.Install(res));
  w.Receive(res.post_finished);
  EXPECT_EQ(w.data, early_app);
}

// ---- rejected 0-RTT ----

// A session with max_early_data from an OpenSSL server, for the client to
// attempt 0-RTT against ours.
testing::Ptr<SSL_SESSION> TicketFromOpenSslServer() {
  testing::Ptr<SSL_CTX> sctx(SSL_CTX_new(TLS_server_method()));
  const auto& leaf = Pki().leaves.at("ec");
  BIO* cb = BIO_new_mem_buf(leaf.chain_pem.data(),
                            static_cast<int>(leaf.chain_pem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(leaf.key_pem.data(),
                            static_cast<int>(leaf.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  EXPECT_EQ(SSL_CTX_use_certificate(sctx.get(), cert), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(sctx.get(), key), 1);
  X509_free(cert);
  EVP_PKEY_free(key);
  SSL_CTX_set_max_early_data(sctx.get(), 16384);
  testing::Ptr<SSL> server(SSL_new(sctx.get()));
  BIO* inner = nullptr;
  BIO* net = nullptr;
  BIO_new_bio_pair(&inner, 1 << 20, &net, 1 << 20);
  SSL_set_bio(server.get(), inner, inner);
  SSL_set_accept_state(server.get());
  ClientOptions o;
  o.verify = false;  // this server sends no intermediate
  TestClient client(o);
  for (int i = 0; i < 10 && !client.handshake_done(); ++i) {
    const Bytes c = client.Step();
    BIO_write(net, c.data(), static_cast<int>(c.size()));
    SSL_do_handshake(server.get());
    Bytes s(static_cast<size_t>(BIO_ctrl_pending(net)));
    BIO_read(net, s.data(), static_cast<int>(s.size()));
    client.Deliver(s);
  }
  // Tickets come after the handshake; a read makes the client take them.
  uint8_t buf[1];
  SSL_read(client.ssl(), buf, 1);
  ERR_clear_error();
  testing::Ptr<SSL_SESSION> session(SSL_get1_session(client.ssl()));
  // A connection freed without a shutdown marks its session unresumable.
  SSL_set_shutdown(client.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  BIO_free(net);
  return session;
}

void RejectedEarlyData(const ServerConfig& cfg, const ClientOptions& base,
                       HandshakeKind want_kind) {
  testing::Ptr<SSL_SESSION> session = TicketFromOpenSslServer();
  ASSERT_NE(session, nullptr);
  ASSERT_GT(SSL_SESSION_get_max_early_data(session.get()), 0u);
  ClientOptions o = base;
  o.session = session.get();
  TestClient client(o);
  ServerHandshake server(MakeContext(cfg), testing::Backend());
  const Bytes early = Pattern(3000, 4);
  size_t written = 0;
  const int wr =
      SSL_write_early_data(client.ssl(), early.data(), early.size(), &written);
  ASSERT_EQ(wr, 1) << SSL_get_error(client.ssl(), wr);
  const Bytes first = client.TakeOutput();
  ASSERT_GE(CountRecords(first, 23), 1u) << "no 0-RTT record was sent";
  Bytes out;
  ASSERT_EQ(server.feed(first, &out).state, HandshakeState::kNeedMore);
  client.Deliver(out);
  Exchange ex = testing::RunHandshake(client, server);
  ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
  ASSERT_TRUE(client.handshake_done());
  EXPECT_EQ(SSL_get_early_data_status(client.ssl()), SSL_EARLY_DATA_REJECTED);
  EXPECT_EQ(SSL_session_reused(client.ssl()), 0);
  EXPECT_EQ(ex.result.kind, want_kind);
  Worker w;
  ASSERT_TRUE(w.Install(ex.result));
  w.Receive(ex.result.post_finished);
  const Bytes up = Pattern(100, 5);
  w.Receive(ClientWrite(client, up));
  EXPECT_EQ(w.data, up) << "the 0-RTT data must not reach the application";
}

TEST(EarlyDataTest, RejectedAndSkipped) {
  RejectedEarlyData(ServerConfig{}, ClientOptions{}, HandshakeKind::kFull);
}

TEST(EarlyDataTest, RejectedAndSkippedAfterHelloRetry) {
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kSecp256r1};  // the client's share is X25519
  RejectedEarlyData(cfg, ClientOptions{}, HandshakeKind::kHelloRetry);
}

// ---- OCSP stapling (RFC 8446 section 4.4.2.1, RFC 6066 section 8) ----

// What the client's status callback saw: whether it ran and the stapled
// response (empty when none).
struct OcspSeen {
  bool called = false;
  Bytes response;
};

int OcspStatusCallback(SSL* ssl, void* arg) {
  auto* seen = static_cast<OcspSeen*>(arg);
  seen->called = true;
  const unsigned char* p = nullptr;
  const long len = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
  if (len > 0 && p != nullptr) {
    seen->response.assign(p, p + len);
  }
  return 1;  // accept: the test checks the bytes
}

// Client options that ask for a staple (status_request, type ocsp) and
// record what arrives in *seen.
ClientOptions AskForOcsp(OcspSeen* seen) {
  ClientOptions o;
  o.configure = [seen](SSL* ssl) {
    SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
    SSL_CTX_set_tlsext_status_cb(ctx, OcspStatusCallback);
    SSL_CTX_set_tlsext_status_arg(ctx, seen);
    EXPECT_EQ(SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp), 1);
  };
  return o;
}

// The "ec" leaf with `ocsp` as its staple.
std::shared_ptr<const Credential> LeafWithOcsp(const Bytes& ocsp) {
  std::string error;
  const auto& leaf = Pki().leaves.at("ec");
  std::unique_ptr<Credential> cred =
      Credential::from_pem(leaf.chain_pem, leaf.key_pem, &error);
  EXPECT_NE(cred, nullptr) << error;
  if (cred == nullptr) {
    return nullptr;
  }
  EXPECT_TRUE(cred->set_ocsp_response(ocsp));
  return cred;
}

TEST(OcspStaplingTest, StapledWhenAskedByteExact) {
  const Bytes ocsp = testing::MakeOcspResponse();
  ASSERT_FALSE(ocsp.empty());
  OcspSeen seen;
  HsRun run =
      Handshake(ServerConfig{}, AskForOcsp(&seen), {LeafWithOcsp(ocsp)});
  EXPECT_TRUE(seen.called);
  EXPECT_EQ(seen.response, ocsp);
  CheckAppData(run);
}

TEST(OcspStaplingTest, StapledAfterHelloRetry) {
  const Bytes ocsp = testing::MakeOcspResponse();
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kSecp256r1};  // the client's share is X25519
  OcspSeen seen;
  HsRun run = Handshake(cfg, AskForOcsp(&seen), {LeafWithOcsp(ocsp)});
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kHelloRetry);
  EXPECT_EQ(seen.response, ocsp);
}

TEST(OcspStaplingTest, NoStapleWhenNotAsked) {
  const Bytes ocsp = testing::MakeOcspResponse();
  // The client does not send status_request; its callback must not see a
  // response either (it is installed, the status type is not set).
  OcspSeen seen;
  ClientOptions o;
  o.configure = [&seen](SSL* ssl) {
    SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
    SSL_CTX_set_tlsext_status_cb(ctx, OcspStatusCallback);
    SSL_CTX_set_tlsext_status_arg(ctx, &seen);
  };
  HsRun run = Handshake(ServerConfig{}, o, {LeafWithOcsp(ocsp)});
  EXPECT_TRUE(seen.response.empty());
  // And the Certificate message carries no status_request extension: the
  // client would have failed with unsupported_extension (4.2) otherwise,
  // and the handshake completed.
  EXPECT_TRUE(run.client->handshake_done());
  CheckAppData(run);
}

TEST(OcspStaplingTest, NoStapleWhenNoneConfigured) {
  OcspSeen seen;
  HsRun run = Handshake(ServerConfig{}, AskForOcsp(&seen));
  EXPECT_TRUE(seen.called);
  EXPECT_TRUE(seen.response.empty());
  CheckAppData(run);
}

TEST(OcspStaplingTest, OversizedResponseRefused) {
  std::string error;
  const auto& leaf = Pki().leaves.at("ec");
  std::unique_ptr<Credential> cred =
      Credential::from_pem(leaf.chain_pem, leaf.key_pem, &error);
  ASSERT_NE(cred, nullptr) << error;
  EXPECT_FALSE(cred->set_ocsp_response(Bytes(kMaxOcspResponseLen + 1, 0x30)));
  EXPECT_TRUE(cred->ocsp_response().empty());
  EXPECT_TRUE(cred->set_ocsp_response(Bytes(kMaxOcspResponseLen, 0x30)));
}

// ---- application data, KeyUpdate and close_notify after the hand-off ----

class AppDataTest : public ::testing::TestWithParam<CipherSuite> {};

TEST_P(AppDataTest, BothWaysKeyUpdateAndClose) {
  ClientOptions o;
  o.ciphersuites = std::string(cipher_suite_info(GetParam())->name);
  HsRun run = Handshake(ServerConfig{}, o);
  ASSERT_TRUE(run.ex.server_done);
  TestClient& client = *run.client;
  Worker w;
  ASSERT_TRUE(w.Install(run.ex.result));
  w.Receive(run.ex.result.post_finished);

  // libssl cannot write an empty record; the engine can.
  for (size_t n : {size_t{1}, size_t{100}, size_t{16383}, size_t{16384},
                   size_t{16385}, size_t{65536}}) {
    w.data.clear();
    const Bytes up = Pattern(n, static_cast<uint8_t>(n));
    w.Receive(ClientWrite(client, up));
    EXPECT_EQ(w.data, up) << n << " bytes client -> server";
  }
  for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{16383},
                   size_t{16384}, size_t{16385}, size_t{65536}}) {
    const Bytes down = Pattern(n, static_cast<uint8_t>(n + 1));
    Bytes wire = w.Send(down);
    if (n == 0) {
      // An empty record, then one byte so SSL_read has something to return.
      EXPECT_EQ(SplitRecords(wire).size(), 1u);
      const Bytes one = w.Send({42});
      wire.insert(wire.end(), one.begin(), one.end());
      client.Deliver(wire);
      EXPECT_EQ(ClientRead(client, 1), Bytes{42});
      continue;
    }
    client.Deliver(wire);
    EXPECT_EQ(ClientRead(client, n), down) << n << " bytes server -> client";
  }

  // Client-initiated KeyUpdate, asking for ours (RFC 8446 4.6.3).
  ASSERT_EQ(SSL_key_update(client.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  w.data.clear();
  w.Receive(ClientWrite(client, Pattern(1000, 7)));
  EXPECT_EQ(w.key_updates, 1u);
  EXPECT_TRUE(w.update_requested);
  EXPECT_EQ(w.data, Pattern(1000, 7));
  Bytes wire = w.KeyUpdate(false);
  const Bytes after = w.Send(Pattern(2000, 8));
  wire.insert(wire.end(), after.begin(), after.end());
  client.Deliver(wire);
  EXPECT_EQ(ClientRead(client, 2000), Pattern(2000, 8));

  // Server-initiated KeyUpdate asking for the client's; libssl answers
  // with its own before its next record.
  wire = w.KeyUpdate(true);
  const Bytes more = w.Send(Pattern(3000, 9));
  wire.insert(wire.end(), more.begin(), more.end());
  client.Deliver(wire);
  EXPECT_EQ(ClientRead(client, 3000), Pattern(3000, 9));
  w.data.clear();
  w.update_requested = true;
  w.Receive(ClientWrite(client, Pattern(4000, 10)));
  EXPECT_EQ(w.key_updates, 2u);
  EXPECT_FALSE(w.update_requested);
  EXPECT_EQ(w.data, Pattern(4000, 10));

  // close_notify both ways.
  EXPECT_EQ(SSL_shutdown(client.ssl()), 0);  // sent ours, waiting
  w.Receive(client.TakeOutput());
  EXPECT_TRUE(w.closed);
  client.Deliver(w.CloseNotify());
  uint8_t buf[8];
  EXPECT_EQ(SSL_read(client.ssl(), buf, sizeof(buf)), 0);
  EXPECT_EQ(SSL_get_error(client.ssl(), 0), SSL_ERROR_ZERO_RETURN);
  EXPECT_EQ(SSL_shutdown(client.ssl()), 1);
  EXPECT_FALSE(w.error);
}

INSTANTIATE_TEST_SUITE_P(All, AppDataTest,
                         ::testing::ValuesIn(kAllCipherSuites),
                         [](const ::testing::TestParamInfo<CipherSuite>& p) {
                           return std::string(cipher_suite_info(p.param)->name);
                         });

}  // namespace
}  // namespace dptls::tls
