// The client state machine replaying RFC 8448 with the deterministic test
// hooks (ClientTestHooks): the trace's random values, key shares and
// extension lists, and for client authentication the trace's certificate
// with a signer that verifies the trace's CertificateVerify over the
// content we would sign before sending it. Fed the RFC server's records,
// our client must write the RFC client's records byte for byte, and every
// secret it derives (by the key log) must be the RFC's.
//
//   section 3 (1-RTT): ClientHello and Finished.
//   section 4 (resumed, 0-RTT): the ClientHello with the PSK binder
//     computed from section 3's ticket, the 0-RTT application data
//     record, EndOfEarlyData and Finished, and every secret from the
//     client early traffic secret to the resumption master secret.
//   section 5 (HelloRetryRequest): both ClientHellos and the Finished.
//   section 6 (client authentication): ClientHello, and the Certificate,
//     CertificateVerify and Finished record.
//   section 7 (compatibility mode): ClientHello with its session ID, and
//     change_cipher_spec and Finished.
//   sections 3 and 4, after the handshake: the result installed in the
//     record engine opens the RFC server's NewSessionTicket (section 3)
//     and application data, and seals the RFC client's application data
//     and close_notify records byte for byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "dptls/tls/handshake/client.h"
#include "dptls/tls/key_schedule.h"
#include "support/aead_test_support.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/handshake/rfc8448_replay_support.h"
#include "tls/rfc8448_trace.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::testing::HexEncode;
using testing::Bytes;
using testing::Field;
using testing::KeylogMap;
using In = ClientTestHooks::Extra::In;

constexpr uint64_t kTraceTimeMs = uint64_t{1514764800} * 1000;

Bytes ClientRecord(int section, size_t nth) {
  return Field(section, "client", "send handshake record", "complete record",
               nth);
}
Bytes ServerRecord(int section, size_t nth) {
  return Field(section, "server", "send handshake record", "complete record",
               nth);
}
Bytes Message(int section, const char* who, const char* name) {
  return Field(section, who,
               std::string("construct a ") + name + " handshake message", name);
}
Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// RFC 8448's client (NSS): its suites and lists, record_size_limit 0x4001,
// no compatibility mode, and a key log into *keylog. The RFC's server
// certificates are for "rsa" and "ecdsa256", not "server": the chain is
// not checked (the CertificateVerify signature and the Finished are).
ClientConfig TraceConfig(KeylogMap* keylog) {
  ClientConfig cfg;
  cfg.server_name = "server";
  cfg.verify_peer = false;
  cfg.middlebox_compat = false;
  cfg.cipher_suites = {CipherSuite::kAes128GcmSha256,
                       CipherSuite::kChaCha20Poly1305Sha256,
                       CipherSuite::kAes256GcmSha384};
  cfg.groups = {NamedGroup::kX25519, NamedGroup::kSecp256r1,
                NamedGroup::kSecp384r1};
  cfg.record_size_limit = 0x4001;
  cfg.clock_ms = [] { return kTraceTimeMs; };
  cfg.keylog = [keylog](std::string_view label, std::span<const uint8_t>,
                        std::span<const uint8_t> secret) {
    (*keylog)[std::string(label)] = Bytes(secret.begin(), secret.end());
  };
  return cfg;
}

ClientTestHooks TraceHooks(int section) {
  const Bytes ch = ClientRecord(section, 0);
  ClientTestHooks hooks;
  hooks.client_random.emplace();
  if (ch.size() > 5 + 6 + 32) {
    std::copy_n(ch.begin() + 5 + 6, 32, hooks.client_random->begin());
  }
  hooks.x25519_private_key = Field(
      section, "client", "create an ephemeral x25519 key pair", "private key");
  hooks.supported_groups = {0x001d, 0x0017, 0x0018, 0x0019, 0x0100,
                            0x0101, 0x0102, 0x0103, 0x0104};
  hooks.signature_algorithms = {0x0403, 0x0503, 0x0603, 0x0203, 0x0804,
                                0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                                0x0201, 0x0402, 0x0502, 0x0602, 0x0202};
  // renegotiation_info and, where the RFC sends one, an empty
  // session_ticket (RFC 5077).
  hooks.extra_extensions = {{0xff01, {0x00}, ExtensionType::kServerName},
                            {0x0023, {}, ExtensionType::kSupportedGroups}};
  return hooks;
}

std::shared_ptr<const ClientContext> MakeClientContext(ClientConfig c) {
  std::string error;
  auto ctx = ClientContext::create(std::move(c), &error);
  EXPECT_NE(ctx, nullptr) << error;
  return ctx;
}

void ExpectKeylog(int section, const KeylogMap& got) {
  for (const auto& [label, secret] : testing::ExpectedKeylog(section)) {
    const auto it = got.find(label);
    ASSERT_NE(it, got.end()) << label;
    EXPECT_EQ(HexEncode(it->second), HexEncode(secret))
        << "section " << section << " " << label;
  }
}

// Our client's resumption_master_secret is the RFC's: section 3's
// NewSessionTicket message (nonce 00 00), handed to on_post_handshake(),
// gives HKDF-Expand-Label(the section's "tls13 res master", "resumption",
// 00 00) as the PSK. (Sections 5 and 6 send no ticket; the message is
// only a carrier for the nonce.)
void ExpectResumptionPsk(int section, ClientHandshake& client) {
  ClientSession session;
  Alert alert = Alert::kInternalError;
  ASSERT_TRUE(client.on_post_handshake(Message(3, "server", "NewSessionTicket"),
                                       &session, &alert))
      << alert_name(alert);
  tls::Secret want;
  ASSERT_EQ(derive_resumption_psk(
                HashAlg::kSha256,
                Field(section, "client", "derive secret \"tls13 res master\"",
                      "expanded"),
                Bytes{0x00, 0x00}, &want),
            KdfStatus::kOk);
  EXPECT_EQ(HexEncode(session.psk.span()), HexEncode(want.span()))
      << "section " << section << ": resumption_master_secret";
}

TEST(ClientRfc8448Test, Section3FullHandshake) {
  KeylogMap keylog;
  ClientHandshake client(MakeClientContext(TraceConfig(&keylog)),
                         testing::Backend());
  client.set_test_hooks(TraceHooks(3));
  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  EXPECT_EQ(HexEncode(out), HexEncode(ClientRecord(3, 0)));
  out.clear();
  const FeedResult r =
      client.feed(Concat(ServerRecord(3, 0), ServerRecord(3, 1)), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  EXPECT_EQ(HexEncode(out), HexEncode(ClientRecord(3, 1)));
  EXPECT_EQ(client.kind(), HandshakeKind::kFull);
  ExpectKeylog(3, keylog);
  // The result in the record engine: the RFC server's NewSessionTicket
  // record opens to its message, our application data and close_notify
  // records are the RFC client's, and the RFC server's open.
  HandshakeResult res;
  ASSERT_TRUE(client.take_result(&res));
  testing::EngineReplayLog log;
  testing::ExpectTraceApplicationRecords(3, res, ServerRecord(3, 2), &log);
  ASSERT_EQ(log.post_handshake.size(), 1u);
  EXPECT_EQ(HexEncode(log.post_handshake[0]),
            HexEncode(Message(3, "server", "NewSessionTicket")));
  ExpectResumptionPsk(3, client);
  // Section 3's is the PSK section 4 resumes with.
  EXPECT_EQ(HexEncode(Field(4, "client", "extract secret \"early\"", "IKM")),
            HexEncode(Field(3, "server",
                            "generate resumption secret \"tls13 resumption\"",
                            "expanded")));
}

TEST(ClientRfc8448Test, Section3TamperedServerSignatureIsRefused) {
  // Our client verifies the RFC server's CertificateVerify for real: one
  // bit of the signature flipped (the record re-sealed under the RFC's
  // server handshake key) is a decrypt_error (RFC 8446 4.4.3).
  KeylogMap keylog;
  ClientHandshake client(MakeClientContext(TraceConfig(&keylog)),
                         testing::Backend());
  client.set_test_hooks(TraceHooks(3));
  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  const auto suite = *cipher_suite_info(CipherSuite::kAes128GcmSha256);
  const Bytes s_hs = testing::TraceSecret(3, "s hs traffic");
  testing::EvpRecordCipher opener(suite, s_hs);
  const auto records = testing::SplitRecords(ServerRecord(3, 1));
  ASSERT_EQ(records.size(), 1u);
  ContentType type;
  Bytes content;
  ASSERT_TRUE(opener.Open(records[0], &type, &content));
  const size_t cv_end = Field(3, "server",
                              "construct an EncryptedExtensions handshake "
                              "message",
                              "EncryptedExtensions")
                            .size() +
                        Message(3, "server", "Certificate").size() +
                        Message(3, "server", "CertificateVerify").size();
  ASSERT_LT(cv_end, content.size());
  content[cv_end - 1] ^= 1;
  testing::EvpRecordCipher sealer(suite, s_hs);
  const FeedResult r = client.feed(
      Concat(ServerRecord(3, 0), sealer.Seal(ContentType::kHandshake, content)),
      &out);
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kDecryptError);
}

TEST(ClientRfc8448Test, Section5HelloRetryRequest) {
  KeylogMap keylog;
  ClientHandshake client(MakeClientContext(TraceConfig(&keylog)),
                         testing::Backend());
  ClientTestHooks hooks = TraceHooks(5);
  // The first ClientHello lists three groups and has no session_ticket;
  // the second is padded to 512 octets (RFC 7685), as the RFC's client
  // does.
  hooks.supported_groups = {0x001d, 0x0017, 0x0018};
  hooks.extra_extensions = {
      {0xff01, {0x00}, ExtensionType::kServerName},
      {0x0015, Bytes(175, 0), ExtensionType::kRecordSizeLimit, In::kRetry}};
  hooks.secp256r1_private_key =
      Field(5, "client", "create an ephemeral P-256 key pair", "private key");
  client.set_test_hooks(hooks);

  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  EXPECT_EQ(HexEncode(out), HexEncode(ClientRecord(5, 0)));
  // The HelloRetryRequest asks for P-256 with a cookie: the second
  // ClientHello is the RFC's.
  out.clear();
  FeedResult r = client.feed(ServerRecord(5, 0), &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  EXPECT_EQ(HexEncode(out), HexEncode(ClientRecord(5, 1)));
  out.clear();
  r = client.feed(Concat(ServerRecord(5, 1), ServerRecord(5, 2)), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  EXPECT_EQ(HexEncode(out), HexEncode(ClientRecord(5, 2)));
  EXPECT_EQ(client.kind(), HandshakeKind::kHelloRetry);
  ExpectKeylog(5, keylog);
  ExpectResumptionPsk(5, client);
}

TEST(ClientRfc8448Test, Section6ClientAuthentication) {
  KeylogMap keylog;
  ClientConfig cfg = TraceConfig(&keylog);
  // An RSA credential decides the scheme (rsa_pss_rsae_sha256); the RFC's
  // client certificate goes on the wire and the TraceSigner stands in for
  // its key, which the RFC does not print.
  cfg.client_credential =
      testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"client"}));
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientTestHooks hooks = TraceHooks(6);
  // No session_ticket in this ClientHello.
  hooks.extra_extensions = {{0xff01, {0x00}, ExtensionType::kServerName}};
  const std::vector<Bytes> chain =
      testing::CertificatesOf(Message(6, "client", "Certificate"));
  ASSERT_EQ(chain.size(), 1u);
  hooks.certificate_chain = chain;
  testing::SignerLog signer;
  hooks.sign = testing::TraceSigner(
      chain[0], Message(6, "client", "CertificateVerify"), &signer);
  client.set_test_hooks(hooks);

  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  EXPECT_EQ(HexEncode(out), HexEncode(ClientRecord(6, 0)));
  out.clear();
  const FeedResult r =
      client.feed(Concat(ServerRecord(6, 0), ServerRecord(6, 1)), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  // Certificate, CertificateVerify and Finished in one record.
  EXPECT_EQ(HexEncode(out), HexEncode(ClientRecord(6, 1)));
  EXPECT_EQ(signer.calls, 1);
  EXPECT_TRUE(signer.verified);
  EXPECT_EQ(client.kind(), HandshakeKind::kFullClientAuth);
  ExpectKeylog(6, keylog);
  ExpectResumptionPsk(6, client);
}

TEST(ClientRfc8448Test, Section4ResumedZeroRtt) {
  // Section 3's ticket, as our client stores it from the RFC's
  // NewSessionTicket (client_interop_test checks that path): the PSK is
  // HKDF-Expand-Label(resumption_master_secret, "resumption", 00 00), and
  // early_data allows 1024 octets.
  const Bytes nst = Message(3, "server", "NewSessionTicket");
  ASSERT_GT(nst.size(), 17u);
  ASSERT_EQ(nst[12], 2);
  const size_t ticket_len = (size_t{nst[15]} << 8) | nst[16];
  ClientSession session;
  session.suite = CipherSuite::kAes128GcmSha256;
  ASSERT_TRUE(session.psk.assign(
      Field(3, "server", "generate resumption secret \"tls13 resumption\"",
            "expanded")));
  session.ticket.assign(nst.begin() + 17,
                        nst.begin() + 17 + static_cast<ptrdiff_t>(ticket_len));
  session.age_add = 0xfad6aac5;  // the RFC's ticket_age_add
  session.lifetime_s = 30;
  session.received_ms = kTraceTimeMs;
  session.max_early_data_size = 1024;
  session.server_name = "server";
  // The ClientHello is written 6 ms later: obfuscated_ticket_age
  // 0xfad6aacb, the RFC's.
  KeylogMap keylog;
  ClientConfig cfg = TraceConfig(&keylog);
  cfg.clock_ms = [] { return kTraceTimeMs + 6; };
  cfg.session_cache = std::make_shared<ClientSessionCache>();
  cfg.session_cache->put(std::move(session));
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientTestHooks hooks = TraceHooks(4);
  // No session_ticket here, and padding (RFC 7685) to the RFC's length.
  // early_data is our client's own, for the early data below.
  hooks.extra_extensions = {
      {0xff01, {0x00}, ExtensionType::kServerName},
      {0x0015, Bytes(87, 0), ExtensionType::kRecordSizeLimit}};
  client.set_test_hooks(hooks);
  // The trace's 0-RTT data, "ABCDEF".
  const Bytes early_plain =
      Field(4, "client", "send application_data record", "payload");
  ASSERT_EQ(early_plain.size(), 6u);
  client.set_early_data(early_plain);

  // The ClientHello (its binder included), then the 0-RTT record under
  // the client_early_traffic_secret: both the RFC's byte for byte.
  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  EXPECT_EQ(HexEncode(out),
            HexEncode(Concat(ClientRecord(4, 0),
                             Field(4, "client", "send application_data record",
                                   "complete record"))));
  // The binder: the RFC's "calculate PSK binder" value, at the end of the
  // ClientHello.
  const Bytes binder = Field(4, "client", "calculate PSK binder", "finished");
  ASSERT_EQ(binder.size(), 32u);
  const Bytes ch = ClientRecord(4, 0);
  ASSERT_GE(out.size(), ch.size());
  EXPECT_EQ(HexEncode({out.data() + ch.size() - 32, 32}), HexEncode(binder));
  EXPECT_EQ(HexEncode(keylog["CLIENT_EARLY_TRAFFIC_SECRET"]),
            HexEncode(Field(4, "client", "derive secret \"tls13 c e traffic\"",
                            "expanded")));
  EXPECT_EQ(HexEncode(keylog["EARLY_EXPORTER_SECRET"]),
            HexEncode(Field(4, "client", "derive secret \"tls13 e exp master\"",
                            "expanded")));

  // The RFC server accepts the PSK and the early data (early_data in its
  // EncryptedExtensions): EndOfEarlyData under the early key, then the
  // Finished under the handshake key, each the RFC's record.
  out.clear();
  const FeedResult r =
      client.feed(Concat(ServerRecord(4, 0), ServerRecord(4, 1)), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  EXPECT_EQ(HexEncode(out),
            HexEncode(Concat(ClientRecord(4, 1), ClientRecord(4, 2))));
  EXPECT_EQ(client.kind(), HandshakeKind::kPsk);
  EXPECT_TRUE(client.resumed());
  HandshakeResult res;
  ASSERT_TRUE(client.take_result(&res));
  EXPECT_TRUE(res.early_data_accepted);
  EXPECT_EQ(HexEncode(res.client_secret.span()),
            HexEncode(testing::TraceSecret(4, "c ap traffic")));
  EXPECT_EQ(HexEncode(res.server_secret.span()),
            HexEncode(testing::TraceSecret(4, "s ap traffic")));
  ExpectKeylog(4, keylog);
  ExpectResumptionPsk(4, client);
  // Our application data and close_notify records through the record
  // engine are the RFC client's; the RFC server's open.
  testing::EngineReplayLog log;
  testing::ExpectTraceApplicationRecords(4, res, {}, &log);
  EXPECT_TRUE(log.post_handshake.empty());
}

TEST(ClientRfc8448Test, Section7CompatibilityMode) {
  // Appendix D.4: a 32-octet legacy_session_id (the trace's, by the hook)
  // and a change_cipher_spec before our encrypted flight.
  KeylogMap keylog;
  ClientConfig cfg = TraceConfig(&keylog);
  cfg.middlebox_compat = true;
  ClientHandshake client(MakeClientContext(cfg), testing::Backend());
  ClientTestHooks hooks = TraceHooks(7);
  hooks.extra_extensions = {{0xff01, {0x00}, ExtensionType::kServerName}};
  const Bytes ch = ClientRecord(7, 0);
  ASSERT_GT(ch.size(), 5u + 6 + 32 + 1 + 32);
  ASSERT_EQ(ch[5 + 6 + 32], 32);
  hooks.legacy_session_id.emplace();
  std::copy_n(ch.begin() + 5 + 6 + 32 + 1, 32,
              hooks.legacy_session_id->begin());
  client.set_test_hooks(hooks);
  Bytes out;
  ASSERT_EQ(client.start(&out).state, HandshakeState::kNeedMore);
  EXPECT_EQ(HexEncode(out), HexEncode(ch));
  // The server's ServerHello, change_cipher_spec and flight.
  out.clear();
  const Bytes server_ccs =
      Field(7, "server", "send change_cipher_spec record", "complete record");
  ASSERT_EQ(server_ccs.size(), 6u);
  const FeedResult r = client.feed(
      Concat(Concat(ServerRecord(7, 0), server_ccs), ServerRecord(7, 1)), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  EXPECT_EQ(
      HexEncode(out),
      HexEncode(Concat(Field(7, "client", "send change_cipher_spec record",
                             "complete record"),
                       ClientRecord(7, 1))));
  ExpectKeylog(7, keylog);
  ExpectResumptionPsk(7, client);
}

}  // namespace
}  // namespace dptls::tls
