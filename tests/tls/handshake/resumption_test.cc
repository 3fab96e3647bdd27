// Session resumption (RFC 8446 sections 2.2, 4.2.11, 4.6.1) against an
// OpenSSL libssl client in memory, with a fake clock:
//
//  - tickets: two NewSessionTickets by default, counted in the sequence
//    number handed to the worker; the client resumes with one
//    (SSL_session_reused), no Certificate is sent, and data flows through
//    the RecordEngine; also after a HelloRetryRequest;
//  - fallbacks to a full handshake (4.2.11: an unusable identity is
//    ignored): a ticket sealed by a key rotated out, a corrupted ticket, an
//    expired ticket;
//  - a binder that does not verify is a decrypt_error (4.2.11.2);
//  - psk_ke allowed (4.2.9): libssl offering both modes still gets
//    psk_dhe_ke;
//  - 0-RTT (4.2.10, 8): libssl's early data accepted and handed over byte
//    for byte, EndOfEarlyData, the early secret logged; a second use of a
//    ticket, a stale ClientHello (8.3), another ALPN protocol and a server
//    with 0-RTT off are refused with the handshake completing; more early
//    data than allowed is unexpected_message; the replay cache itself;
//  - TicketKeys: seal/open/rotate, and the key file round trip and its
//    refusals.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/handshake/server.h"
#include "dptls/tls/handshake/session_ticket.h"
#include "dptls/tls/key_schedule.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/handshake/worker_test_support.h"

namespace dptls::tls {
namespace {

using testing::Bytes;
using testing::ClientOptions;
using testing::ClientRead;
using testing::ClientWrite;
using testing::Exchange;
using testing::MakeContext;
using testing::Pattern;
using testing::TestClient;
using testing::Worker;

constexpr uint64_t kHourMs = uint64_t{3600} * 1000;

uint64_t RealNowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// True when the client's first flight offers a pre_shared_key.
bool OffersPsk(const Bytes& client_wire) {
  const auto records = testing::SplitRecords(client_wire);
  if (records.empty() || records[0].type != 22) {
    return false;
  }
  ClientHello ch;
  Alert alert = Alert::kInternalError;
  return parse_client_hello(records[0].body, &ch, &alert) &&
         ch.has(ExtensionType::kPreSharedKey);
}

class ResumptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = std::make_shared<uint64_t>(RealNowMs());
    std::string error;
    keys_ = TicketKeys::generate(*now_, kHourMs, &error);
    ASSERT_NE(keys_, nullptr) << error;
    cfg_.ticket_keys = keys_;
    cfg_.clock_ms = [now = now_] { return *now; };
  }

  struct Run {
    std::unique_ptr<TestClient> client;
    std::unique_ptr<ServerHandshake> server;
    Exchange ex;
  };

  // One handshake with a fresh server (a fresh context: another instance
  // sharing the ticket keys does as well), `session` to resume (or null).
  Run Handshake(SSL_SESSION* session, const testing::Tamper& tamper = nullptr,
                const std::function<void(SSL*)>& configure = nullptr) {
    Run run;
    ClientOptions o;
    o.session = session;
    o.configure = configure;
    run.client = std::make_unique<TestClient>(o);
    run.server = std::make_unique<ServerHandshake>(MakeContext(cfg_),
                                                   testing::Backend());
    run.ex = testing::RunHandshake(*run.client, *run.server, 0, tamper);
    return run;
  }

  // Checks that both sides finished, sends data both ways through a
  // RecordEngine installed with the result (after the tickets), and
  // returns the client's session for the next resumption.
  testing::Ptr<SSL_SESSION> CheckAndTakeSession(Run& run) {
    EXPECT_TRUE(run.ex.server_done)
        << alert_name(run.ex.server.alert)
        << (run.ex.server.alert_from_peer ? " (from client)" : "");
    EXPECT_TRUE(run.client->handshake_done());
    if (!run.ex.server_done) {
      return nullptr;
    }
    EXPECT_EQ(run.ex.result.tickets_sent, cfg_.session_tickets);
    EXPECT_EQ(run.ex.result.server_next_seq, cfg_.session_tickets);
    Worker w;
    EXPECT_TRUE(w.Install(run.ex.result));
    w.Receive(run.ex.result.post_finished);
    const Bytes up = Pattern(200, 7);
    w.Receive(ClientWrite(*run.client, up));
    EXPECT_EQ(w.data, up);
    // The client reads the tickets (sequence 0 and 1), then our data at
    // the sequence number the worker was given.
    const Bytes down = Pattern(300, 8);
    run.client->Deliver(w.Send(down));
    EXPECT_EQ(ClientRead(*run.client, down.size()), down);
    testing::Ptr<SSL_SESSION> session(SSL_get1_session(run.client->ssl()));
    // A connection freed without a shutdown marks its session unresumable.
    SSL_set_shutdown(run.client->ssl(),
                     SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return session;
  }

  // A full handshake that leaves the client with one of our tickets.
  testing::Ptr<SSL_SESSION> FirstSession() {
    Run run = Handshake(nullptr);
    EXPECT_EQ(run.ex.result.kind, HandshakeKind::kFull);
    testing::Ptr<SSL_SESSION> s = CheckAndTakeSession(run);
    EXPECT_NE(s, nullptr);
    if (s != nullptr) {
      EXPECT_EQ(SSL_SESSION_is_resumable(s.get()), 1);
      EXPECT_TRUE(SSL_SESSION_has_ticket(s.get()));
    }
    return s;
  }

  // Expects `run` to be a full handshake although a PSK was offered.
  void ExpectFallback(Run& run) {
    EXPECT_TRUE(OffersPsk(run.ex.client_wire)) << "the client offered none";
    EXPECT_EQ(run.ex.result.kind, HandshakeKind::kFull);
    EXPECT_EQ(SSL_session_reused(run.client->ssl()), 0);
    CheckAndTakeSession(run);
  }

  std::shared_ptr<uint64_t> now_;
  std::shared_ptr<TicketKeys> keys_;
  ServerConfig cfg_;
};

TEST_F(ResumptionTest, TicketResumesWithoutCertificate) {
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  *now_ += 5000;
  Run run = Handshake(session.get());
  EXPECT_TRUE(OffersPsk(run.ex.client_wire));
  EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kPsk);
  EXPECT_EQ(run.ex.result.server_name, "server.test");
  // No Certificate: the handshake flight is ServerHello, (CCS), one
  // protected record with EncryptedExtensions and Finished, then tickets.
  size_t protected_records = 0;
  for (const auto& r : testing::SplitRecords(run.ex.server_wire)) {
    protected_records += r.type == 23 ? 1 : 0;
  }
  EXPECT_EQ(protected_records, 1u + cfg_.session_tickets);
  // The resumed session hands out fresh tickets, which resume again.
  testing::Ptr<SSL_SESSION> next = CheckAndTakeSession(run);
  ASSERT_NE(next, nullptr);
  Run again = Handshake(next.get());
  EXPECT_EQ(SSL_session_reused(again.client->ssl()), 1);
  EXPECT_EQ(again.ex.result.kind, HandshakeKind::kPsk);
  CheckAndTakeSession(again);
}

// The psk_key_exchange_modes of the client's first ClientHello.
Bytes OfferedPskModes(const Bytes& client_wire) {
  const auto records = testing::SplitRecords(client_wire);
  ClientHello ch;
  Alert alert = Alert::kInternalError;
  if (records.empty() || !parse_client_hello(records[0].body, &ch, &alert)) {
    return {};
  }
  return Bytes(ch.psk_key_exchange_modes.begin(),
               ch.psk_key_exchange_modes.end());
}

TEST_F(ResumptionTest, PskKeAllowedStillPrefersPskDheKe) {
  // RFC 8446 4.2.9: libssl with SSL_OP_ALLOW_NO_DHE_KEX offers psk_dhe_ke
  // and psk_ke; a server allowing psk_ke keeps forward secrecy.
  cfg_.allow_psk_ke = true;
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  Run run = Handshake(session.get(), nullptr, [](SSL* ssl) {
    SSL_set_options(ssl, SSL_OP_ALLOW_NO_DHE_KEX);
  });
  const Bytes modes = OfferedPskModes(run.ex.client_wire);
  EXPECT_NE(std::find(modes.begin(), modes.end(), kPskKe), modes.end());
  EXPECT_NE(std::find(modes.begin(), modes.end(), kPskDheKe), modes.end());
  EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kPsk);
  EXPECT_FALSE(run.ex.result.psk_ke);
  CheckAndTakeSession(run);
}

TEST_F(ResumptionTest, AnotherInstanceResumesThroughTheKeyFile) {
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  char tmpl[] = "/tmp/dptls_ticket_keys_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/keys";
  std::string error;
  ASSERT_TRUE(keys_->save(path, &error)) << error;
  std::shared_ptr<TicketKeys> loaded = TicketKeys::load(path, kHourMs, &error);
  std::remove(path.c_str());
  rmdir(tmpl);
  ASSERT_NE(loaded, nullptr) << error;
  cfg_.ticket_keys = loaded;  // the second instance
  Run run = Handshake(session.get());
  EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kPsk);
  CheckAndTakeSession(run);
}

TEST_F(ResumptionTest, TicketCountConfigurable) {
  cfg_.session_tickets = 5;
  Run run = Handshake(nullptr);
  CheckAndTakeSession(run);
  EXPECT_EQ(run.ex.result.server_next_seq, 5u);
  cfg_.session_tickets = 0;
  Run none = Handshake(nullptr);
  CheckAndTakeSession(none);
  EXPECT_EQ(none.ex.result.server_next_seq, 0u);
}

TEST_F(ResumptionTest, TicketsSplitBySmallRecordSizeLimit) {
  // RFC 8449's smallest limit: each ticket spans several records, and the
  // worker's sequence number counts records, not tickets.
  ClientOptions o;
  o.custom_extensions = {{28, Bytes{0x00, 0x40}}};
  auto client = std::make_unique<TestClient>(o);
  ServerHandshake server(MakeContext(cfg_), testing::Backend());
  Exchange ex = testing::RunHandshake(*client, server);
  ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
  EXPECT_EQ(ex.result.tickets_sent, 2u);
  EXPECT_GT(ex.result.server_next_seq, 2u);
  Worker w;
  ASSERT_TRUE(w.Install(ex.result));
  const Bytes down = Pattern(200, 9);
  client->Deliver(w.Send(down));
  EXPECT_EQ(ClientRead(*client, down.size()), down);
  testing::Ptr<SSL_SESSION> session(SSL_get1_session(client->ssl()));
  SSL_set_shutdown(client->ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  ASSERT_NE(session, nullptr);
  Run run = Handshake(session.get());
  EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1)
      << "a ticket reassembled from several records resumes";
}

TEST_F(ResumptionTest, ResumesAfterHelloRetry) {
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  cfg_.groups = {NamedGroup::kSecp256r1};  // the client's share is X25519
  Run run = Handshake(session.get());
  EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kHelloRetryPsk);
  EXPECT_EQ(run.ex.result.group, NamedGroup::kSecp256r1);
  CheckAndTakeSession(run);
}

TEST_F(ResumptionTest, PreviousKeyStillOpensRotatedOutKeyDoesNot) {
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  *now_ += kHourMs;
  ASSERT_TRUE(keys_->rotate(*now_));
  {
    Run run = Handshake(session.get());
    EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1)
        << "the previous key still opens tickets";
    CheckAndTakeSession(run);
  }
  EXPECT_FALSE(keys_->rotate(*now_ + 1000)) << "not due yet";
  *now_ += kHourMs;
  ASSERT_TRUE(keys_->rotate(*now_));
  Run run = Handshake(session.get());
  ExpectFallback(run);
}

TEST_F(ResumptionTest, CorruptedTicketFallsBack) {
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  // Flip one byte of the ticket inside the client's serialised session.
  const unsigned char* ticket = nullptr;
  size_t ticket_len = 0;
  SSL_SESSION_get0_ticket(session.get(), &ticket, &ticket_len);
  ASSERT_GT(ticket_len, 40u);
  const Bytes t(ticket, ticket + ticket_len);
  Bytes der(static_cast<size_t>(i2d_SSL_SESSION(session.get(), nullptr)));
  unsigned char* p = der.data();
  i2d_SSL_SESSION(session.get(), &p);
  auto at = std::search(der.begin(), der.end(), t.begin(), t.end());
  ASSERT_NE(at, der.end());
  at[static_cast<long>(ticket_len) - 20] ^= 0x01;  // inside the ciphertext
  const unsigned char* q = der.data();
  testing::Ptr<SSL_SESSION> bad(
      d2i_SSL_SESSION(nullptr, &q, static_cast<long>(der.size())));
  ASSERT_NE(bad, nullptr);
  Run run = Handshake(bad.get());
  ExpectFallback(run);
}

TEST_F(ResumptionTest, ExpiredTicketFallsBack) {
  cfg_.ticket_lifetime_s = 60;
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  *now_ += 59000;
  {
    Run run = Handshake(session.get());
    EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1) << "not expired yet";
    CheckAndTakeSession(run);
  }
  *now_ += 2000;  // 61 s after it was issued
  Run run = Handshake(session.get());
  ExpectFallback(run);
}

// True when the server's first record (the ServerHello) selects a PSK:
// pre_shared_key (41) with selected_identity 0.
bool ServerHelloSelectsPsk(const Bytes& server_wire) {
  const auto records = testing::SplitRecords(server_wire);
  const Bytes ext = {0x00, 0x29, 0x00, 0x02, 0x00, 0x00};
  return !records.empty() &&
         std::search(records[0].body.begin(), records[0].body.end(),
                     ext.begin(), ext.end()) != records[0].body.end();
}

TEST_F(ResumptionTest, TooOldByObfuscatedAgeIsIgnored) {
  cfg_.ticket_lifetime_s = 60;
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  {
    Run run = Handshake(session.get());
    EXPECT_TRUE(ServerHelloSelectsPsk(run.ex.server_wire));
    CheckAndTakeSession(run);
  }
  // The client claims the ticket is ~2^31 ms old: the server ignores the
  // identity and answers with a full handshake (no binder is checked, so
  // no decrypt_error of ours; the client then fails on the transcript it
  // no longer shares with us, which is the tampering's doing).
  Run run = Handshake(session.get(), [](size_t flight, Bytes* bytes) {
    if (flight != 0) {
      return;
    }
    const auto records = testing::SplitRecords(*bytes);
    ASSERT_FALSE(records.empty());
    ClientHello ch;
    Alert alert = Alert::kInternalError;
    ASSERT_TRUE(parse_client_hello(records[0].body, &ch, &alert));
    ASSERT_EQ(ch.pre_shared_key.count, 1u);
    // obfuscated_ticket_age: the last 4 bytes of the one identity.
    const size_t at = static_cast<size_t>(ch.pre_shared_key.identities.data() -
                                          records[0].body.data()) +
                      ch.pre_shared_key.identities.size() - 4 +
                      records[0].header.size();
    (*bytes)[at] ^= 0x80;
  });
  const auto records = testing::SplitRecords(run.ex.server_wire);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].type, 22) << "a ServerHello, not an alert";
  EXPECT_FALSE(ServerHelloSelectsPsk(run.ex.server_wire));
  EXPECT_TRUE(run.ex.server.state != HandshakeState::kFailed ||
              run.ex.server.alert_from_peer)
      << "the server failed by itself: " << alert_name(run.ex.server.alert);
}

TEST_F(ResumptionTest, BadBinderIsDecryptError) {
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  // pre_shared_key is the last extension and the binders its last field:
  // the ClientHello record's last byte is the binder's.
  Run run = Handshake(session.get(), [](size_t flight, Bytes* bytes) {
    if (flight == 0) {
      const auto records = testing::SplitRecords(*bytes);
      ASSERT_FALSE(records.empty());
      (*bytes)[records[0].header.size() + records[0].body.size() - 1] ^= 0x80;
    }
  });
  EXPECT_TRUE(OffersPsk(run.ex.client_wire));
  EXPECT_FALSE(run.ex.server_done);
  EXPECT_EQ(run.ex.server.state, HandshakeState::kFailed);
  EXPECT_EQ(run.ex.server.alert, Alert::kDecryptError);
  EXPECT_FALSE(run.ex.server.alert_from_peer);
  EXPECT_EQ(testing::TrailingPlaintextAlert(run.ex.server_wire), 51);
}

TEST_F(ResumptionTest, TicketForAnotherNameIsIgnored) {
  testing::Ptr<SSL_SESSION> session = FirstSession();
  ASSERT_NE(session, nullptr);
  ClientOptions o;
  o.session = session.get();
  o.sni = "other.test";
  o.verify = false;
  TestClient client(o);
  ServerHandshake server(MakeContext(cfg_), testing::Backend());
  Exchange ex = testing::RunHandshake(client, server);
  ASSERT_TRUE(ex.server_done);
  EXPECT_TRUE(OffersPsk(ex.client_wire));
  EXPECT_EQ(ex.result.kind, HandshakeKind::kFull);
  SSL_set_shutdown(client.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

// ---- hand-built ClientHellos with several identities ----

Bytes U16(size_t v) {
  return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

// pre_shared_key with a junk identity first and `ticket` second; the
// binders are computed here over the truncated ClientHello with `psk`
// (RFC 8446 section 4.2.11.2). `corrupt` 1 flips a bit of binder 1
// (-1: none; 0: the right binder at index 0 and junk at 1). Returns the
// ClientHello record.
Bytes TwoIdentityHello(const Bytes& ticket, const Secret& psk, int corrupt,
                       const Bytes& modes = {1, kPskDheKe}) {
  testing::ChBuilder b;
  b.Set(45, modes);
  const Bytes junk(40, 0x33);
  Bytes ids = testing::Cat(U16(junk.size()), junk);
  ids = testing::Cat(ids, {0, 0, 0, 0});
  ids = testing::Cat(ids, U16(ticket.size()));
  ids = testing::Cat(ids, ticket);
  ids = testing::Cat(ids, {0, 0, 0x03, 0xe8});  // obfuscated age 1000 ms
  const auto body = [&](const Bytes& binder0, const Bytes& binder1) {
    Bytes binders = testing::Cat(Bytes{32}, binder0);
    binders = testing::Cat(binders, Bytes{32});
    binders = testing::Cat(binders, binder1);
    return testing::Cat(testing::Cat(U16(ids.size()), ids),
                        testing::Cat(U16(binders.size()), binders));
  };
  b.Set(41, body(Bytes(32, 0), Bytes(32, 0)));
  const Bytes msg = b.Message();
  // Truncated(ClientHello): up to the binders vector (2 + 2 * 33 bytes).
  HashValue hash;
  EXPECT_EQ(
      hash_bytes(HashAlg::kSha256,
                 std::span(msg).first(msg.size() - 2 - size_t{66}), &hash),
      KdfStatus::kOk);
  KeySchedule ks;
  Secret binder_key;
  Secret binder;
  EXPECT_EQ(ks.start(HashAlg::kSha256, psk.span()), KdfStatus::kOk);
  EXPECT_EQ(ks.derive(SecretLabel::kResBinder, {}, &binder_key),
            KdfStatus::kOk);
  EXPECT_EQ(compute_psk_binder(HashAlg::kSha256, binder_key.span(), hash.span(),
                               &binder),
            KdfStatus::kOk);
  Bytes b0(32, 0x77);
  Bytes b1(binder.span().begin(), binder.span().end());
  if (corrupt == 0) {
    std::swap(b0, b1);  // the right value at the wrong index
  } else if (corrupt == 1) {
    b1[5] ^= 0x10;
  }
  b.Set(41, body(b0, b1));
  return b.Record();
}

TEST_F(ResumptionTest, SecondIdentitySelectedWithItsBinder) {
  TicketContents t;
  t.cipher_suite = 0x1301;
  ASSERT_TRUE(t.psk.assign(Bytes(32, 0x44)));
  t.issued_ms = *now_;
  t.lifetime_s = 3600;
  t.age_add = 0;
  t.server_name = "server.test";
  std::vector<uint8_t> ticket;
  ASSERT_TRUE(seal_ticket(*keys_, t, &ticket));
  const Bytes pre_shared_key_idx1 = {0x00, 0x29, 0x00, 0x02, 0x00, 0x01};

  testing::ServerRun ok = testing::FeedFresh(
      MakeContext(cfg_), TwoIdentityHello(ticket, t.psk, -1));
  ASSERT_EQ(ok.result.state, HandshakeState::kNeedMore)
      << alert_name(ok.result.alert);
  const auto records = testing::SplitRecords(ok.out);
  ASSERT_FALSE(records.empty());
  EXPECT_NE(std::search(records[0].body.begin(), records[0].body.end(),
                        pre_shared_key_idx1.begin(), pre_shared_key_idx1.end()),
            records[0].body.end())
      << "ServerHello selects identity 1";

  // The binder checked is the selected identity's.
  for (int corrupt : {0, 1}) {
    testing::ServerRun bad = testing::FeedFresh(
        MakeContext(cfg_), TwoIdentityHello(ticket, t.psk, corrupt));
    EXPECT_EQ(bad.result.state, HandshakeState::kFailed) << corrupt;
    EXPECT_EQ(bad.result.alert, Alert::kDecryptError) << corrupt;
  }

  // psk_ke only (4.2.9): this server does not use the PSK without (EC)DHE;
  // a full handshake, the binder unchecked.
  testing::ServerRun ke = testing::FeedFresh(
      MakeContext(cfg_), TwoIdentityHello(ticket, t.psk, 1, {1, kPskKe}));
  ASSERT_EQ(ke.result.state, HandshakeState::kNeedMore)
      << alert_name(ke.result.alert);
  const auto ke_records = testing::SplitRecords(ke.out);
  ASSERT_FALSE(ke_records.empty());
  const Bytes psk_ext = {0x00, 0x29, 0x00, 0x02};
  EXPECT_EQ(std::search(ke_records[0].body.begin(), ke_records[0].body.end(),
                        psk_ext.begin(), psk_ext.end()),
            ke_records[0].body.end());
}

TEST(ServerContextTest, TicketSettingsValidated) {
  std::string error;
  ServerConfig cfg;
  cfg.ticket_lifetime_s = 604801;
  EXPECT_EQ(ServerContext::create(cfg, nullptr, &error), nullptr);
  cfg.ticket_lifetime_s = 0;
  EXPECT_EQ(ServerContext::create(cfg, nullptr, &error), nullptr);
}

// ---- TicketKeys ----

TicketContents Contents() {
  TicketContents c;
  c.cipher_suite = 0x1301;
  const Bytes psk(32, 0x5a);
  EXPECT_TRUE(c.psk.assign(psk));
  c.issued_ms = 123456789;
  c.age_add = 0xdeadbeef;
  c.lifetime_s = 7200;
  c.alpn = "h2";
  c.server_name = "server.test";
  c.client_subject = "CN=alice";
  c.client_sans = {"DNS:a.test", "email:a@b.test"};
  return c;
}

TEST(TicketKeysTest, SealOpenTamperRotate) {
  std::string error;
  auto keys = TicketKeys::generate(1000, 10, &error);
  ASSERT_NE(keys, nullptr) << error;
  std::vector<uint8_t> ticket;
  ASSERT_TRUE(seal_ticket(*keys, Contents(), &ticket));
  TicketContents out;
  ASSERT_TRUE(open_ticket(*keys, ticket, &out));
  EXPECT_EQ(out.cipher_suite, 0x1301);
  EXPECT_EQ(Bytes(out.psk.span().begin(), out.psk.span().end()),
            Bytes(32, 0x5a));
  EXPECT_EQ(out.issued_ms, 123456789u);
  EXPECT_EQ(out.age_add, 0xdeadbeefu);
  EXPECT_EQ(out.lifetime_s, 7200u);
  EXPECT_EQ(out.alpn, "h2");
  EXPECT_EQ(out.server_name, "server.test");
  EXPECT_EQ(out.client_subject, "CN=alice");
  EXPECT_EQ(out.client_sans,
            (std::vector<std::string>{"DNS:a.test", "email:a@b.test"}));
  // Every byte matters: name, nonce, ciphertext, tag.
  for (size_t i = 0; i < ticket.size(); i += 7) {
    std::vector<uint8_t> bad = ticket;
    bad[i] ^= 0x04;
    EXPECT_FALSE(open_ticket(*keys, bad, &out)) << "byte " << i;
    EXPECT_TRUE(out.psk.empty());
  }
  EXPECT_FALSE(open_ticket(*keys, std::span(ticket).first(40), &out));
  EXPECT_FALSE(keys->rotate(1009));
  ASSERT_TRUE(keys->rotate(1010));
  EXPECT_TRUE(open_ticket(*keys, ticket, &out)) << "previous key";
  ASSERT_TRUE(keys->rotate(1020));
  EXPECT_FALSE(open_ticket(*keys, ticket, &out)) << "rotated out";
  // Another instance's keys do not open ours.
  auto other = TicketKeys::generate(1000, 10, &error);
  ASSERT_TRUE(seal_ticket(*keys, Contents(), &ticket));
  EXPECT_FALSE(open_ticket(*other, ticket, &out));
}

class TicketKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dptls_ticket_keys_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/keys";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const Bytes& bytes) {
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  }
  Bytes Read() {
    std::ifstream f(path_, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), {});
  }
  std::string dir_;
  std::string path_;
};

TEST_F(TicketKeyFileTest, RoundTripSharesKeys) {
  std::string error;
  auto a = TicketKeys::generate(1000, 10, &error);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->save(path_, &error)) << error;
  EXPECT_EQ(Read().size(), 8u + 1u + 56u) << "magic, count, one key";
  auto b = TicketKeys::load(path_, 10, &error);
  ASSERT_NE(b, nullptr) << error;
  EXPECT_EQ(b->current_name(), a->current_name());
  EXPECT_FALSE(b->has_previous());
  std::vector<uint8_t> ticket;
  TicketContents out;
  ASSERT_TRUE(seal_ticket(*a, Contents(), &ticket));
  EXPECT_TRUE(open_ticket(*b, ticket, &out)) << "another instance opens it";
  // Rotate, save: the reloading instance opens tickets of both keys.
  ASSERT_TRUE(a->rotate(1010));
  std::vector<uint8_t> ticket2;
  ASSERT_TRUE(seal_ticket(*a, Contents(), &ticket2));
  ASSERT_TRUE(a->save(path_, &error)) << error;
  EXPECT_EQ(Read().size(), 8u + 1u + 2 * 56u);
  auto c = TicketKeys::load(path_, 10, &error);
  ASSERT_NE(c, nullptr) << error;
  EXPECT_TRUE(c->has_previous());
  EXPECT_TRUE(open_ticket(*c, ticket, &out));
  EXPECT_TRUE(open_ticket(*c, ticket2, &out));
  // The schedule carries over: the current key was created at 1010.
  EXPECT_FALSE(c->rotate(1015));
  EXPECT_TRUE(c->rotate(1020));
}

// Instances often share the key file through a symbolic link (a secrets
// volume, /etc/dptls/tickets.bin -> /srv/shared/tickets.bin). Saving after
// a rotation writes the link's target, not a new file in place of the link:
// otherwise the saving instance would cut itself off from the shared file.
// A link whose target is gone is refused, not replaced.
TEST_F(TicketKeyFileTest, SaveWritesThroughASymlink) {
  std::string error;
  const std::string shared_dir = dir_ + "/shared";
  const std::string target = shared_dir + "/tickets.bin";
  ASSERT_EQ(mkdir(shared_dir.c_str(), 0700), 0);
  auto a = TicketKeys::generate(1000, 10, &error);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->save(target, &error)) << error;
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  ASSERT_TRUE(a->rotate(1010));
  ASSERT_TRUE(a->save(path_, &error)) << error;
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was replaced by a file";
  auto b = TicketKeys::load(target, 10, &error);
  ASSERT_NE(b, nullptr) << error;
  EXPECT_EQ(b->current_name(), a->current_name()) << "the target has the keys";
  EXPECT_TRUE(b->has_previous());
  EXPECT_NE(access((shared_dir + "/tickets.bin.tmp").c_str(), F_OK), 0);
  // The target gone: saving fails with the reason, the link stays a link.
  ASSERT_EQ(std::remove(target.c_str()), 0);
  EXPECT_FALSE(a->save(path_, &error));
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(rmdir(shared_dir.c_str()), 0) << "nothing left in the target dir";
}

TEST_F(TicketKeyFileTest, BadFilesRefused) {
  std::string error;
  EXPECT_EQ(TicketKeys::load(path_, 10, &error), nullptr);
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
  auto a = TicketKeys::generate(1000, 10, &error);
  ASSERT_TRUE(a->rotate(2000));
  ASSERT_TRUE(a->save(path_, &error)) << error;
  const Bytes good = Read();
  ASSERT_NE(TicketKeys::load(path_, 10, &error), nullptr) << error;

  struct Case {
    Bytes bytes;
    const char* want;
  };
  Bytes bad_magic = good;
  bad_magic[0] = 'X';
  Bytes count0 = good;
  count0[8] = 0;
  Bytes count3 = good;
  count3[8] = 3;
  Bytes trailing = good;
  trailing.push_back(0);
  const Case cases[] = {
      {{}, "bad magic"},
      {bad_magic, "bad magic"},
      {count0, "bad key count"},
      {count3, "bad key count"},
      {testing::Sub(good, 0, good.size() - 1), "truncated"},
      {testing::Sub(good, 0, 9 + 20), "truncated"},
      {trailing, "trailing bytes"},
  };
  for (const Case& c : cases) {
    Write(c.bytes);
    error.clear();
    EXPECT_EQ(TicketKeys::load(path_, 10, &error), nullptr) << c.want;
    EXPECT_NE(error.find(c.want), std::string::npos)
        << "want '" << c.want << "', got '" << error << "'";
  }
  EXPECT_EQ(TicketKeys::load(path_, 0, &error), nullptr);
  EXPECT_FALSE(a->save(dir_ + "/missing/keys", &error));
  EXPECT_NE(error.find("cannot create"), std::string::npos) << error;
}

// ---- 0-RTT (RFC 8446 sections 2.3, 4.2.10, 8) ----

class EarlyDataTest : public ResumptionTest {
 protected:
  void SetUp() override {
    ResumptionTest::SetUp();
    cfg_.max_early_data = 16384;
    cfg_.keylog = [this](std::string_view label, std::span<const uint8_t>,
                         std::span<const uint8_t> secret) {
      server_keylog_[std::string(label)] = Bytes(secret.begin(), secret.end());
    };
  }

  struct EarlyRun : Run {
    FeedResult first;   // the server's answer to the first flight
    Bytes early_taken;  // take_early_data() after the first flight
  };

  // Resumes `session` with `early` sent as 0-RTT (SSL_write_early_data)
  // against a fresh handshake of `ctx`, and runs the handshake to its end.
  EarlyRun EarlyHandshake(std::shared_ptr<const ServerContext> ctx,
                          SSL_SESSION* session, const Bytes& early) {
    EarlyRun run;
    ClientOptions o;
    o.session = session;
    run.client = std::make_unique<TestClient>(o);
    run.server = std::make_unique<ServerHandshake>(ctx, testing::Backend());
    size_t written = 0;
    const int wr = SSL_write_early_data(run.client->ssl(), early.data(),
                                        early.size(), &written);
    EXPECT_EQ(wr, 1) << SSL_get_error(run.client->ssl(), wr);
    EXPECT_EQ(written, early.size());
    const Bytes first = run.client->TakeOutput();
    Bytes out;
    run.first = run.server->feed(first, &out);
    run.server->take_early_data(&run.early_taken);
    run.client->Deliver(out);
    if (run.first.state == HandshakeState::kNeedMore) {
      run.ex = testing::RunHandshake(*run.client, *run.server);
    } else {
      run.ex.server = run.first;
      run.client->Step();  // reads the alert
    }
    return run;
  }

  // A full handshake whose ticket allows 0-RTT.
  testing::Ptr<SSL_SESSION> EarlySession() {
    testing::Ptr<SSL_SESSION> s = FirstSession();
    EXPECT_NE(s, nullptr);
    if (s != nullptr) {
      EXPECT_EQ(SSL_SESSION_get_max_early_data(s.get()), cfg_.max_early_data);
    }
    return s;
  }

  std::map<std::string, Bytes> server_keylog_;
};

TEST_F(EarlyDataTest, AcceptedAndDeliveredByteExact) {
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  *now_ += 1000;
  const Bytes early = Pattern(5000, 6);
  EarlyRun run = EarlyHandshake(MakeContext(cfg_), session.get(), early);
  ASSERT_TRUE(run.ex.server_done) << alert_name(run.ex.server.alert);
  ASSERT_TRUE(run.client->handshake_done());
  EXPECT_EQ(SSL_get_early_data_status(run.client->ssl()),
            SSL_EARLY_DATA_ACCEPTED);
  EXPECT_EQ(SSL_session_reused(run.client->ssl()), 1);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kPskEarlyData);
  EXPECT_TRUE(run.ex.result.early_data_accepted);
  // The first flight's early data was reported (before the client's
  // Finished) and taken, the rest (none here) handed over with the
  // result: together, what the client sent.
  EXPECT_EQ(run.first.early_data_bytes, early.size());
  EXPECT_EQ(testing::Cat(run.early_taken, run.ex.result.early_data), early);
  // The secret is logged, and is the client's.
  ASSERT_EQ(server_keylog_.count("CLIENT_EARLY_TRAFFIC_SECRET"), 1u);
  EXPECT_EQ(server_keylog_["CLIENT_EARLY_TRAFFIC_SECRET"],
            run.client->keylog["CLIENT_EARLY_TRAFFIC_SECRET"]);
  // EndOfEarlyData was read and the 1-RTT data flows after it.
  CheckAndTakeSession(run);
}

TEST_F(EarlyDataTest, EarlyDataLeftInTheResultWhenNotTaken) {
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  ClientOptions o;
  o.session = session.get();
  TestClient client(o);
  ServerHandshake server(MakeContext(cfg_), testing::Backend());
  const Bytes early = Pattern(300, 1);
  size_t written = 0;
  ASSERT_EQ(
      SSL_write_early_data(client.ssl(), early.data(), early.size(), &written),
      1);
  Bytes out;
  const FeedResult r = server.feed(client.TakeOutput(), &out);
  EXPECT_EQ(r.early_data_bytes, early.size());
  client.Deliver(out);
  Exchange ex = testing::RunHandshake(client, server);
  ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
  EXPECT_EQ(ex.result.early_data, early);
}

TEST_F(EarlyDataTest, SecondUseOfATicketIsRejectedButCompletes) {
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  // One listener: one context (and its replay cache) for both attempts.
  std::shared_ptr<const ServerContext> ctx = MakeContext(cfg_);
  const Bytes early = Pattern(1000, 2);
  EarlyRun first = EarlyHandshake(ctx, session.get(), early);
  ASSERT_TRUE(first.ex.server_done);
  EXPECT_EQ(SSL_get_early_data_status(first.client->ssl()),
            SSL_EARLY_DATA_ACCEPTED);
  // The same ticket again (a replayed ClientHello would carry it too).
  EarlyRun replay = EarlyHandshake(ctx, session.get(), early);
  ASSERT_TRUE(replay.ex.server_done) << alert_name(replay.ex.server.alert);
  ASSERT_TRUE(replay.client->handshake_done());
  EXPECT_EQ(SSL_get_early_data_status(replay.client->ssl()),
            SSL_EARLY_DATA_REJECTED);
  EXPECT_EQ(replay.ex.result.kind, HandshakeKind::kPsk) << "1-RTT resumption";
  EXPECT_FALSE(replay.ex.result.early_data_accepted);
  EXPECT_TRUE(replay.early_taken.empty());
  EXPECT_TRUE(replay.ex.result.early_data.empty());
  EXPECT_EQ(ctx->replay_cache()->size(), 1u);
  // The skipped early records do not reach the application.
  CheckAndTakeSession(replay);
}

TEST_F(EarlyDataTest, SharedReplayCacheAcrossContexts) {
  cfg_.replay_cache = std::make_shared<EarlyDataReplayCache>();
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  const Bytes early = Pattern(10, 2);
  EarlyRun a = EarlyHandshake(MakeContext(cfg_), session.get(), early);
  EarlyRun b = EarlyHandshake(MakeContext(cfg_), session.get(), early);
  EXPECT_EQ(SSL_get_early_data_status(a.client->ssl()),
            SSL_EARLY_DATA_ACCEPTED);
  EXPECT_EQ(SSL_get_early_data_status(b.client->ssl()),
            SSL_EARLY_DATA_REJECTED);
  EXPECT_TRUE(b.ex.server_done);
}

TEST_F(EarlyDataTest, OffByDefaultIsRejected) {
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  ServerConfig off = cfg_;
  off.max_early_data = 0;  // the ticket allowed 0-RTT; this server does not
  const Bytes early = Pattern(2000, 3);
  EarlyRun run = EarlyHandshake(MakeContext(off), session.get(), early);
  ASSERT_TRUE(run.ex.server_done) << alert_name(run.ex.server.alert);
  EXPECT_EQ(SSL_get_early_data_status(run.client->ssl()),
            SSL_EARLY_DATA_REJECTED);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kPsk);
  EXPECT_TRUE(run.ex.result.early_data.empty());
  EXPECT_EQ(server_keylog_.count("CLIENT_EARLY_TRAFFIC_SECRET"), 0u);
  CheckAndTakeSession(run);
}

TEST_F(EarlyDataTest, StaleClientHelloIsRejected) {
  // 8.3: the client says the ticket is ~0 s old, our clock says 60 s.
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  *now_ += 60000;
  EarlyRun run =
      EarlyHandshake(MakeContext(cfg_), session.get(), Pattern(100, 1));
  ASSERT_TRUE(run.ex.server_done) << alert_name(run.ex.server.alert);
  EXPECT_EQ(SSL_get_early_data_status(run.client->ssl()),
            SSL_EARLY_DATA_REJECTED);
  EXPECT_EQ(run.ex.result.kind, HandshakeKind::kPsk);
}

TEST_F(EarlyDataTest, OtherAlpnIsRejected) {
  // 4.2.10: the ALPN protocol must be the ticket's. The first session
  // negotiated none; this server picks "h2" for a client offering it.
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  ServerConfig alpn = cfg_;
  alpn.alpn_protocols = {"h2"};
  ClientOptions o;
  o.session = session.get();
  o.alpn = {"h2"};
  TestClient client(o);
  ServerHandshake server(MakeContext(alpn), testing::Backend());
  const Bytes early = Pattern(100, 1);
  size_t written = 0;
  ASSERT_EQ(
      SSL_write_early_data(client.ssl(), early.data(), early.size(), &written),
      1);
  Bytes out;
  server.feed(client.TakeOutput(), &out);
  client.Deliver(out);
  Exchange ex = testing::RunHandshake(client, server);
  ASSERT_TRUE(ex.server_done) << alert_name(ex.server.alert);
  EXPECT_EQ(SSL_get_early_data_status(client.ssl()), SSL_EARLY_DATA_REJECTED);
  EXPECT_FALSE(ex.result.early_data_accepted);
}

TEST_F(EarlyDataTest, TooMuchEarlyDataIsUnexpectedMessage) {
  // The ticket allows 16384 bytes; this server accepts 0-RTT of at most
  // 100 (4.2.10: more is an unexpected_message).
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  ServerConfig small = cfg_;
  small.max_early_data = 100;
  EarlyRun run =
      EarlyHandshake(MakeContext(small), session.get(), Pattern(3000, 5));
  EXPECT_FALSE(run.ex.server_done);
  EXPECT_EQ(run.ex.server.state, HandshakeState::kFailed);
  EXPECT_EQ(run.ex.server.alert, Alert::kUnexpectedMessage);
  EXPECT_FALSE(run.ex.server.alert_from_peer);
  EXPECT_EQ(run.ex.server.early_data_bytes, 0u) << "nothing is handed over";
}

TEST_F(EarlyDataTest, TicketsCarryMaxEarlyDataOnlyWhenOn) {
  testing::Ptr<SSL_SESSION> on = EarlySession();
  ASSERT_NE(on, nullptr);
  cfg_.max_early_data = 0;
  testing::Ptr<SSL_SESSION> off = FirstSession();
  ASSERT_NE(off, nullptr);
  EXPECT_EQ(SSL_SESSION_get_max_early_data(off.get()), 0u);
}

// Feeds the server libssl's first flight with 0-RTT, then `after`,
// records sealed by us under the client's early key (continuing its
// sequence numbers), and returns what the server made of them.
FeedResult AfterEarlyData(
    const ServerConfig& cfg, SSL_SESSION* session,
    const std::vector<std::pair<ContentType, Bytes>>& after) {
  ClientOptions o;
  o.session = session;
  TestClient client(o);
  ServerHandshake server(MakeContext(cfg), testing::Backend());
  const Bytes early = Pattern(200, 1);
  size_t written = 0;
  EXPECT_EQ(
      SSL_write_early_data(client.ssl(), early.data(), early.size(), &written),
      1);
  const Bytes first = client.TakeOutput();
  Bytes out;
  FeedResult r = server.feed(first, &out);
  EXPECT_EQ(r.state, HandshakeState::kNeedMore);
  EXPECT_EQ(r.early_data_bytes, early.size());
  const CipherSuiteInfo* suite = find_cipher_suite(static_cast<uint16_t>(
      SSL_CIPHER_get_protocol_id(SSL_SESSION_get0_cipher(session))));
  EXPECT_NE(suite, nullptr);
  if (suite == nullptr) {
    return r;
  }
  testing::EvpRecordCipher sealer(*suite,
                                  client.keylog["CLIENT_EARLY_TRAFFIC_SECRET"]);
  for (const auto& rec : testing::SplitRecords(first)) {
    if (rec.type == 23) {
      sealer.Seal(ContentType::kApplicationData, {});  // its sequence number
    }
  }
  Bytes more;
  for (const auto& [type, content] : after) {
    more = testing::Cat(more, sealer.Seal(type, content));
  }
  // A connection freed without a shutdown marks its session unresumable;
  // the next case uses it again.
  SSL_set_shutdown(client.ssl(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  return server.feed(more, &out);
}

TEST_F(EarlyDataTest, EndOfEarlyDataChecks) {
  testing::Ptr<SSL_SESSION> session = EarlySession();
  ASSERT_NE(session, nullptr);
  // 4.5: EndOfEarlyData has no body.
  FeedResult r = AfterEarlyData(cfg_, session.get(),
                                {{ContentType::kHandshake, {5, 0, 0, 1, 0}}});
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kDecodeError);
  // A Finished under the early key instead of EndOfEarlyData.
  r = AfterEarlyData(cfg_, session.get(),
                     {{ContentType::kHandshake,
                       testing::Cat({20, 0, 0, 32}, Bytes(32, 0x14))}});
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kUnexpectedMessage);
  // More data under the early key after EndOfEarlyData: the server reads
  // the handshake key by then, so it does not open.
  r = AfterEarlyData(cfg_, session.get(),
                     {{ContentType::kHandshake, {5, 0, 0, 0}},
                      {ContentType::kApplicationData, {1, 2, 3}}});
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kBadRecordMac);
  EXPECT_EQ(r.early_data_bytes, 0u);
}

TEST(EarlyDataReplayCacheTest, FirstUseOnlyUntilExpiryAndBounded) {
  EarlyDataReplayCache cache(2);
  const Bytes a = {1, 2, 3};
  const Bytes b = {4, 5, 6};
  const Bytes c = {7, 8, 9};
  EXPECT_TRUE(cache.first_use(a, 1000, 2000));
  EXPECT_FALSE(cache.first_use(a, 1500, 2500)) << "a replay";
  EXPECT_TRUE(cache.first_use(b, 1500, 5000));
  // Full of live entries: refused (never accepted twice, even if evicted).
  EXPECT_FALSE(cache.first_use(c, 1600, 5000));
  EXPECT_EQ(cache.size(), 2u);
  // Once a's window has passed it is dropped, making room.
  EXPECT_TRUE(cache.first_use(c, 2000, 5000));
  EXPECT_FALSE(cache.first_use(b, 2000, 5000));
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace dptls::tls
