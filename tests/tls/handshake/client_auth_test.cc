// Client authentication (mTLS, RFC 8446 sections 4.3.2, 4.4.2, 4.4.3)
// against an OpenSSL libssl client in memory: a client certificate that
// chains to client_ca is verified and its identity handed over; no
// certificate, an unknown CA, an expired certificate, a broken chain and a
// bad CertificateVerify signature each end in their alert; resumption
// carries the identity.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dptls/tls/handshake/client_auth.h"
#include "dptls/tls/handshake/server.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/handshake/worker_test_support.h"

namespace dptls::tls {
namespace {

using testing::Bytes;
using testing::ClientOptions;
using testing::Exchange;
using testing::Identity;
using testing::MakeContext;
using testing::Pki;
using testing::Ptr;
using testing::TestClient;

void AddExt(X509* x, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, ctx, nid, const_cast<char*>(value.c_str()));
  ASSERT_NE(ext, nullptr);
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

// A TLS client certificate for `key` under `issuer`, valid from
// now + not_before_s to now + not_after_s, with `sans` (OpenSSL config
// syntax, e.g. "email:a@b,DNS:c"). `signer` (default: the issuer's key)
// signs it: another key makes a chain whose signature does not verify.
Ptr<X509> ClientCert(EVP_PKEY* key, const std::string& cn,
                     const Identity& issuer, long not_before_s,
                     long not_after_s, const std::string& sans,
                     EVP_PKEY* signer = nullptr) {
  static long serial = 1000;
  Ptr<X509> cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(x), not_after_s);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>("dptls test"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>(cn.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(issuer.cert.get()));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer.cert.get(), x, nullptr, nullptr, 0);
  AddExt(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
  AddExt(x, &ctx, NID_key_usage, "critical,digitalSignature");
  AddExt(x, &ctx, NID_ext_key_usage, "clientAuth");
  if (!sans.empty()) {
    AddExt(x, &ctx, NID_subject_alt_name, sans);
  }
  EVP_PKEY* by = signer != nullptr ? signer : issuer.key.get();
  const EVP_MD* md = EVP_PKEY_is_a(by, "ED25519") ? nullptr : EVP_sha256();
  EXPECT_GT(X509_sign(x, by, md), 0);
  return cert;
}

class ClientAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_.client_ca_pem = testing::CertPem(Pki().root.cert.get());
    key_ = testing::MakeKey("ec");
  }

  // A handshake whose client presents `cert` (+ the intermediate) or no
  // certificate when null.
  // Ticket keys shared by the servers a test runs (as instances of a
  // listener, or the engine's listeners, do), then a full handshake with
  // erin's certificate `*cert`; *session is the client's session, its
  // tickets read from application data after the handshake.
  void MtlsSessionWithTickets(Ptr<X509>* cert, Ptr<SSL_SESSION>* session) {
    std::string error;
    cfg_.ticket_keys = TicketKeys::generate(0, 3600000, &error);
    ASSERT_NE(cfg_.ticket_keys, nullptr) << error;
    *cert = ClientCert(key_.get(), "erin", Pki().intermediate, -60, 3600,
                       "URI:spiffe://test/erin");
    std::unique_ptr<TestClient> client;
    Exchange ex = Run(cert->get(), &client);
    ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
    testing::Worker w;
    ASSERT_TRUE(w.Install(ex.result));
    const Bytes down = testing::Pattern(10, 1);
    client->Deliver(w.Send(down));
    EXPECT_EQ(testing::ClientRead(*client, down.size()), down);
    session->reset(SSL_get1_session(client->ssl()));
    SSL_set_shutdown(client->ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    ASSERT_NE(*session, nullptr);
  }

  Exchange Run(X509* cert, std::unique_ptr<TestClient>* client_out,
               const testing::Tamper& tamper = nullptr, EVP_PKEY* key = nullptr,
               SSL_SESSION* session = nullptr) {
    ClientOptions o;
    o.client_cert = cert;
    o.client_key = key != nullptr ? key : key_.get();
    o.client_chain = {Pki().intermediate.cert.get()};
    o.session = session;
    *client_out = std::make_unique<TestClient>(o);
    ServerHandshake server(MakeContext(cfg_), testing::Backend());
    return testing::RunHandshake(**client_out, server, 0, tamper);
  }

  void ExpectAlert(const Exchange& ex, Alert want) {
    EXPECT_FALSE(ex.server_done);
    EXPECT_EQ(ex.server.state, HandshakeState::kFailed);
    EXPECT_EQ(ex.server.alert, want)
        << alert_name(ex.server.alert) << " instead of " << alert_name(want);
    EXPECT_FALSE(ex.server.alert_from_peer);
  }

  ServerConfig cfg_;
  Ptr<EVP_PKEY> key_;
};

TEST_F(ClientAuthTest, VerifiedIdentityHandedOver) {
  for (const char* kind : {"ec", "rsa", "ed25519"}) {
    SCOPED_TRACE(kind);
    Ptr<EVP_PKEY> key = testing::MakeKey(kind);
    Ptr<X509> cert =
        ClientCert(key.get(), "alice", Pki().intermediate, -60, 3600,
                   "email:alice@example.test,DNS:alice.example.test");
    std::unique_ptr<TestClient> client;
    Exchange ex = Run(cert.get(), &client, nullptr, key.get());
    ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
    ASSERT_TRUE(client->handshake_done());
    EXPECT_EQ(ex.result.kind, HandshakeKind::kFullClientAuth);
    EXPECT_EQ(ex.result.client_identity.subject, "CN=alice,O=dptls test");
    EXPECT_EQ(ex.result.client_identity.sans,
              (std::vector<std::string>{"email:alice@example.test",
                                        "DNS:alice.example.test"}));
    testing::Worker w;
    ASSERT_TRUE(w.Install(ex.result));
    w.Receive(ex.result.post_finished);
    const Bytes up = testing::Pattern(100, 3);
    w.Receive(testing::ClientWrite(*client, up));
    EXPECT_EQ(w.data, up);
  }
}

TEST_F(ClientAuthTest, AfterHelloRetry) {
  cfg_.groups = {NamedGroup::kSecp256r1};  // the client's share is X25519
  Ptr<X509> cert =
      ClientCert(key_.get(), "bob", Pki().intermediate, -60, 3600, "");
  std::unique_ptr<TestClient> client;
  Exchange ex = Run(cert.get(), &client);
  ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
  EXPECT_EQ(ex.result.kind, HandshakeKind::kHelloRetryClientAuth);
  EXPECT_EQ(ex.result.client_identity.subject, "CN=bob,O=dptls test");
  EXPECT_TRUE(ex.result.client_identity.sans.empty());
}

TEST_F(ClientAuthTest, NoCertificateIsCertificateRequired) {
  std::unique_ptr<TestClient> client;
  Exchange ex = Run(nullptr, &client);
  ExpectAlert(ex, Alert::kCertificateRequired);
  EXPECT_EQ(client->alert_received, 116);
}

TEST_F(ClientAuthTest, OptionalCertificate) {
  cfg_.client_cert_required = false;
  {
    std::unique_ptr<TestClient> client;
    Exchange ex = Run(nullptr, &client);
    ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
    EXPECT_EQ(ex.result.kind, HandshakeKind::kFullNoClientCert);
    EXPECT_TRUE(ex.result.client_identity.subject.empty());
    testing::Worker w;
    ASSERT_TRUE(w.Install(ex.result));
    w.Receive(ex.result.post_finished);
    const Bytes up = testing::Pattern(50, 2);
    w.Receive(testing::ClientWrite(*client, up));
    EXPECT_EQ(w.data, up);
  }
  {
    // A certificate that is sent is still verified.
    Ptr<X509> cert =
        ClientCert(key_.get(), "heidi", Pki().intermediate, -60, 3600, "");
    std::unique_ptr<TestClient> client;
    Exchange ex = Run(cert.get(), &client);
    ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
    EXPECT_EQ(ex.result.kind, HandshakeKind::kFullClientAuth);
    EXPECT_EQ(ex.result.client_identity.subject, "CN=heidi,O=dptls test");
    Ptr<X509> expired =
        ClientCert(key_.get(), "ivan", Pki().intermediate, -172800, -86400, "");
    ExpectAlert(Run(expired.get(), &client), Alert::kCertificateExpired);
  }
  {
    cfg_.groups = {NamedGroup::kSecp256r1};  // a HelloRetryRequest first
    std::unique_ptr<TestClient> client;
    Exchange ex = Run(nullptr, &client);
    ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
    EXPECT_EQ(ex.result.kind, HandshakeKind::kHelloRetryNoClientCert);
  }
}

TEST_F(ClientAuthTest, UnknownCa) {
  Identity other_ca;
  other_ca.key = testing::MakeKey("ec");
  other_ca.cert =
      testing::IssueCert(other_ca.key.get(), "Other CA", {}, true, nullptr);
  Ptr<X509> cert = ClientCert(key_.get(), "mallory", other_ca, -60, 3600, "");
  std::unique_ptr<TestClient> client;
  ExpectAlert(Run(cert.get(), &client), Alert::kUnknownCa);
}

TEST_F(ClientAuthTest, ExpiredCertificate) {
  Ptr<X509> cert =
      ClientCert(key_.get(), "old", Pki().intermediate, -172800, -86400, "");
  std::unique_ptr<TestClient> client;
  ExpectAlert(Run(cert.get(), &client), Alert::kCertificateExpired);
}

TEST_F(ClientAuthTest, NotYetValidByTheInjectedClock) {
  Ptr<X509> cert =
      ClientCert(key_.get(), "carol", Pki().intermediate, -60, 3600, "");
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  cfg_.clock_ms = [now_ms] { return now_ms - uint64_t{3600} * 1000; };
  std::unique_ptr<TestClient> client;
  ExpectAlert(Run(cert.get(), &client), Alert::kCertificateExpired);
}

TEST_F(ClientAuthTest, BrokenChainIsBadCertificate) {
  // Names the intermediate as issuer but is signed by another key.
  Ptr<EVP_PKEY> wrong = testing::MakeKey("ec");
  Ptr<X509> cert = ClientCert(key_.get(), "eve", Pki().intermediate, -60, 3600,
                              "", wrong.get());
  std::unique_ptr<TestClient> client;
  ExpectAlert(Run(cert.get(), &client), Alert::kBadCertificate);
}

TEST_F(ClientAuthTest, BadSignatureIsDecryptError) {
  Ptr<X509> cert =
      ClientCert(key_.get(), "dave", Pki().intermediate, -60, 3600, "");
  // Decrypt the client's second flight with the secret it logged, flip a
  // bit of the CertificateVerify signature, and seal it again.
  TestClient* c = nullptr;
  bool tampered = false;
  const testing::Tamper tamper = [&](size_t flight, Bytes* bytes) {
    if (flight != 1 || c == nullptr) {
      return;
    }
    const Bytes secret = c->keylog["CLIENT_HANDSHAKE_TRAFFIC_SECRET"];
    const CipherSuiteInfo& suite =
        *cipher_suite_info(CipherSuite::kAes128GcmSha256);
    testing::EvpRecordCipher opener(suite, secret);
    testing::EvpRecordCipher sealer(suite, secret);
    std::vector<testing::Record> out;
    for (const testing::Record& r : testing::SplitRecords(*bytes)) {
      ContentType type;
      Bytes content;
      if (r.type != 23 || !opener.Open(r, &type, &content)) {
        out.push_back(r);
        continue;
      }
      // Walk the handshake messages of the record.
      for (size_t off = 0; off + 4 <= content.size();) {
        const size_t len = (size_t{content[off + 1]} << 16) |
                           (size_t{content[off + 2]} << 8) | content[off + 3];
        if (content[off] == 15 && len > 8) {
          content[off + 4 + len - 1] ^= 0x01;  // last signature byte
          tampered = true;
        }
        off += 4 + len;
      }
      const Bytes sealed = sealer.Seal(type, content);
      out.push_back(testing::SplitRecords(sealed)[0]);
    }
    *bytes = testing::JoinRecords(out);
  };
  ClientOptions o;
  o.client_cert = cert.get();
  o.client_key = key_.get();
  o.client_chain = {Pki().intermediate.cert.get()};
  TestClient client(o);
  c = &client;
  ServerHandshake server(MakeContext(cfg_), testing::Backend());
  Exchange ex = testing::RunHandshake(client, server, 0, tamper);
  EXPECT_TRUE(tampered);
  ExpectAlert(ex, Alert::kDecryptError);
}

TEST_F(ClientAuthTest, ResumptionKeepsTheIdentity) {
  Ptr<X509> cert;
  Ptr<SSL_SESSION> session;
  ASSERT_NO_FATAL_FAILURE(MtlsSessionWithTickets(&cert, &session));
  std::unique_ptr<TestClient> again;
  Exchange ex2 = Run(cert.get(), &again, nullptr, nullptr, session.get());
  ASSERT_TRUE(ex2.server_done) << alert_name(ex2.server.alert);
  EXPECT_EQ(SSL_session_reused(again->ssl()), 1);
  // 4.3.2: no CertificateRequest with a PSK; the identity comes from the
  // ticket.
  EXPECT_EQ(ex2.result.kind, HandshakeKind::kPsk);
  EXPECT_EQ(ex2.result.client_identity.subject, "CN=erin,O=dptls test");
  EXPECT_EQ(ex2.result.client_identity.sans,
            std::vector<std::string>{"URI:spiffe://test/erin"});
}

TEST_F(ClientAuthTest, NoResumptionUnderOtherClientCas) {
  // Two listeners sharing the ticket keys (as the engine's do) with
  // different client CAs: a session whose certificate the first verified
  // does not resume on the second, which refuses that certificate.
  Ptr<X509> cert;
  Ptr<SSL_SESSION> session;
  ASSERT_NO_FATAL_FAILURE(MtlsSessionWithTickets(&cert, &session));
  ASSERT_EQ(SSL_SESSION_is_resumable(session.get()), 1);
  testing::Identity other;
  other.key = testing::MakeKey("ec");
  other.cert =
      testing::IssueCert(other.key.get(), "other root", {}, true, nullptr);
  cfg_.client_ca_pem = testing::CertPem(other.cert.get());
  std::unique_ptr<TestClient> fresh;
  ExpectAlert(Run(cert.get(), &fresh), Alert::kUnknownCa);
  std::unique_ptr<TestClient> again;
  Exchange ex2 = Run(cert.get(), &again, nullptr, nullptr, session.get());
  EXPECT_NE(ex2.result.kind, HandshakeKind::kPsk);
  ExpectAlert(ex2, Alert::kUnknownCa);
}

// A PEM CRL from `issuer` revoking `revoked` (may be null).
std::string Crl(const Identity& issuer, X509* revoked) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.cert.get()));
  ASN1_TIME* t = X509_gmtime_adj(nullptr, -60);
  X509_CRL_set1_lastUpdate(crl, t);
  ASN1_TIME_free(t);
  t = X509_gmtime_adj(nullptr, 86400);
  X509_CRL_set1_nextUpdate(crl, t);
  if (revoked != nullptr) {
    X509_REVOKED* r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked));
    ASN1_TIME* when = X509_gmtime_adj(nullptr, -30);
    X509_REVOKED_set_revocationDate(r, when);
    ASN1_TIME_free(when);
    X509_CRL_add0_revoked(crl, r);
  }
  X509_CRL_sort(crl);
  EVP_PKEY* key = issuer.key.get();
  EXPECT_GT(
      X509_CRL_sign(crl, key,
                    EVP_PKEY_is_a(key, "ED25519") ? nullptr : EVP_sha256()),
      0);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_CRL(bio, crl);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_CRL_free(crl);
  return pem;
}

TEST_F(ClientAuthTest, CrlRevokedCertificate) {
  Ptr<X509> good =
      ClientCert(key_.get(), "frank", Pki().intermediate, -60, 3600, "");
  Ptr<X509> revoked =
      ClientCert(key_.get(), "grace", Pki().intermediate, -60, 3600, "");
  // CRLs for the whole chain (the root's covers the intermediate).
  cfg_.client_crl_pem =
      Crl(Pki().root, nullptr) + Crl(Pki().intermediate, revoked.get());
  std::unique_ptr<TestClient> client;
  Exchange ok = Run(good.get(), &client);
  EXPECT_TRUE(ok.server_done) << alert_name(ok.server.alert);
  ExpectAlert(Run(revoked.get(), &client), Alert::kCertificateRevoked);
  // Without the intermediate's CRL the leaf cannot be checked.
  cfg_.client_crl_pem = Crl(Pki().root, nullptr);
  ExpectAlert(Run(good.get(), &client), Alert::kBadCertificate);
}

TEST(ClientSignatureTest, VerifiesOnlyTheRightSignature) {
  // The CertificateVerify check on its own (in a handshake a tampered
  // signature would also break the Finished).
  Ptr<EVP_PKEY> key = testing::MakeKey("ec");
  Ptr<X509> cert =
      ClientCert(key.get(), "sig", Pki().intermediate, -60, 3600, "");
  Bytes der(static_cast<size_t>(i2d_X509(cert.get(), nullptr)));
  unsigned char* p = der.data();
  i2d_X509(cert.get(), &p);
  const Bytes hash(32, 0x42);
  std::array<uint8_t, kCertificateVerifyContentMax> buf{};
  ByteWriter w(buf);
  ASSERT_TRUE(build_certificate_verify_content(false, hash, &w));
  const Bytes content(w.written().begin(), w.written().end());
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  ASSERT_EQ(EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key.get()),
            1);
  ASSERT_EQ(EVP_DigestSign(md, nullptr, &len, content.data(), content.size()),
            1);
  Bytes sig(len);
  ASSERT_EQ(
      EVP_DigestSign(md, sig.data(), &len, content.data(), content.size()), 1);
  sig.resize(len);
  EVP_MD_CTX_free(md);
  const SignatureScheme ecdsa = SignatureScheme::kEcdsaSecp256r1Sha256;
  EXPECT_TRUE(verify_client_signature(der, ecdsa, content, sig));
  Bytes bad = sig;
  bad.back() ^= 0x01;
  EXPECT_FALSE(verify_client_signature(der, ecdsa, content, bad));
  Bytes other = content;
  other[0] ^= 0x01;
  EXPECT_FALSE(verify_client_signature(der, ecdsa, other, sig));
  // The server's context string is not the client's.
  ByteWriter sw(buf);
  ASSERT_TRUE(build_certificate_verify_content(true, hash, &sw));
  const Bytes server_content(sw.written().begin(), sw.written().end());
  EXPECT_FALSE(verify_client_signature(der, ecdsa, server_content, sig));
  EXPECT_FALSE(verify_client_signature(der, SignatureScheme::kRsaPssRsaeSha256,
                                       content, sig))
      << "a scheme the key cannot make";
  EXPECT_FALSE(verify_client_signature(Bytes(10, 0x30), ecdsa, content, sig));
}

TEST(ClientMessagesTest, CertificateReader) {
  // Certificate: context, list of {cert_data, extensions} (4.4.2).
  const Bytes two = {11, 0, 0,  19,                          // header
                     0,                                      // context
                     0,  0, 15,                              // certificate_list
                     0,  0, 2,  0xaa, 0xbb, 0, 0,            // cert 1
                     0,  0, 1,  0xcc, 0,    2, 0xff, 0xff};  // cert 2 + ext
  std::vector<std::span<const uint8_t>> chain;
  Alert alert = Alert::kCloseNotify;
  ASSERT_TRUE(parse_certificate(two, &chain, &alert));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(Bytes(chain[0].begin(), chain[0].end()), (Bytes{0xaa, 0xbb}));
  EXPECT_EQ(Bytes(chain[1].begin(), chain[1].end()), Bytes{0xcc});
  const Bytes empty = {11, 0, 0, 4, 0, 0, 0, 0};
  ASSERT_TRUE(parse_certificate(empty, &chain, &alert));
  EXPECT_TRUE(chain.empty());
  const Bytes context = {11, 0, 0, 5, 1, 7, 0, 0, 0};
  EXPECT_FALSE(parse_certificate(context, &chain, &alert));
  EXPECT_EQ(alert, Alert::kIllegalParameter);
  const Bytes empty_cert = {11, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 0, 0};
  EXPECT_FALSE(parse_certificate(empty_cert, &chain, &alert));
  EXPECT_EQ(alert, Alert::kDecodeError);
  for (size_t n = 0; n < two.size(); ++n) {
    EXPECT_FALSE(parse_certificate(testing::Sub(two, 0, n), &chain, &alert))
        << n;
    EXPECT_EQ(alert, Alert::kDecodeError);
  }
}

TEST(ClientMessagesTest, CertificateVerifyReader) {
  const Bytes cv = {15, 0, 0, 7, 0x04, 0x03, 0, 3, 1, 2, 3};
  uint16_t scheme = 0;
  std::span<const uint8_t> sig;
  Alert alert = Alert::kCloseNotify;
  ASSERT_TRUE(parse_certificate_verify(cv, &scheme, &sig, &alert));
  EXPECT_EQ(scheme, 0x0403);
  EXPECT_EQ(Bytes(sig.begin(), sig.end()), (Bytes{1, 2, 3}));
  const Bytes no_sig = {15, 0, 0, 4, 0x04, 0x03, 0, 0};
  EXPECT_FALSE(parse_certificate_verify(no_sig, &scheme, &sig, &alert));
  EXPECT_EQ(alert, Alert::kDecodeError);
  const Bytes trailing = {15, 0, 0, 8, 0x04, 0x03, 0, 3, 1, 2, 3, 9};
  EXPECT_FALSE(parse_certificate_verify(trailing, &scheme, &sig, &alert));
}

TEST(ClientAuthConfigTest, BadCaBundleRefused) {
  std::string error;
  EXPECT_EQ(ClientCertVerifier::create("not a pem", "", &error), nullptr);
  EXPECT_NE(error.find("no CERTIFICATE"), std::string::npos) << error;
  const std::string ca = testing::CertPem(Pki().root.cert.get());
  EXPECT_NE(ClientCertVerifier::create(ca, "", &error), nullptr) << error;
  // A good certificate, then a block that does not parse: refused, not
  // read as a one-certificate bundle.
  EXPECT_EQ(ClientCertVerifier::create(
                ca + "-----BEGIN CERTIFICATE-----\nnot base64\n"
                     "-----END CERTIFICATE-----\n",
                "", &error),
            nullptr);
  EXPECT_EQ(error, "client_ca: a PEM block does not parse");
  EXPECT_EQ(ClientCertVerifier::create(ca, "garbage", &error), nullptr);
  EXPECT_NE(error.find("CRL"), std::string::npos) << error;
  ServerConfig cfg;
  cfg.client_ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n";
  EXPECT_EQ(ServerContext::create(cfg, nullptr, &error), nullptr);
  EXPECT_NE(error.find("client_ca"), std::string::npos) << error;
  cfg.client_ca_pem.clear();
  cfg.client_crl_pem = "x";
  EXPECT_EQ(ServerContext::create(cfg, nullptr, &error), nullptr);
  EXPECT_NE(error.find("client_crl_pem without client_ca_pem"),
            std::string::npos)
      << error;
}

}  // namespace
}  // namespace dptls::tls
