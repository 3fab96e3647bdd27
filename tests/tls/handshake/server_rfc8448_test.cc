// The server state machine replaying RFC 8448 with the deterministic test
// hooks (ServerTestHooks): the trace's random values and key shares, its
// certificates, and a signer that verifies the trace's CertificateVerify
// signature over the content we would sign and then sends it (RSA-PSS and
// ECDSA signatures are randomized). Fed the RFC client's records, our
// server must write the RFC server's records byte for byte, and every
// secret it derives (by the key log) must be the RFC's.
//
//   section 3 (1-RTT): every server record, the NewSessionTicket (with
//     the trace's nonce, age_add and opaque ticket injected, and 0-RTT on
//     for its early_data extension) included.
//   section 4 (resumed, 0-RTT): every server record (ServerHello, then
//     EncryptedExtensions with the server_name acknowledgement and
//     early_data, and Finished), the early data delivered as the trace's
//     plaintext, and every secret from the client early traffic secret to
//     the resumption master secret.
//   section 5 (HelloRetryRequest): every server record.
//   section 6 (client authentication): every server record, and the
//     client's certificate and CertificateVerify verified for real.
//   section 7 (compatibility mode): every server record, the
//     change_cipher_spec included.
//   sections 3 and 4, after the handshake: the result installed in the
//     record engine seals the RFC server's application data and
//     close_notify records byte for byte, and opens the RFC client's.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <string>
#include <thread>

#include "dptls/tls/handshake/key_exchange.h"
#include "dptls/tls/handshake/server.h"
#include "dptls/tls/handshake/session_ticket.h"
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

// 2018-01-01: within the validity of RFC 8448's certificates (2016-07-30
// to 2026-07-30).
constexpr uint64_t kTraceTimeMs = uint64_t{1514764800} * 1000;

// The RFC's client and server records of a section, nth of each.
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
               std::string("construct a") + (name[0] == 'E' ? "n " : " ") +
                   name + " handshake message",
               name);
}

// A ServerConfig as RFC 8448's server behaves: its suite order, no
// compatibility mode (the RFC's ClientHellos have no session ID anyway), a
// key log into *keylog, and the trace's time.
ServerConfig TraceConfig(KeylogMap* keylog) {
  ServerConfig cfg;
  cfg.cipher_suites = {CipherSuite::kAes128GcmSha256,
                       CipherSuite::kChaCha20Poly1305Sha256,
                       CipherSuite::kAes256GcmSha384};
  cfg.clock_ms = [] { return kTraceTimeMs; };
  cfg.session_tickets = 0;
  cfg.keylog = [keylog](std::string_view label, std::span<const uint8_t>,
                        std::span<const uint8_t> secret) {
    (*keylog)[std::string(label)] = Bytes(secret.begin(), secret.end());
  };
  return cfg;
}

// The ServerHello.random of a ServerHello record.
std::array<uint8_t, 32> RandomOf(const Bytes& server_hello_record) {
  std::array<uint8_t, 32> r{};
  if (server_hello_record.size() >= 5 + 6 + 32) {
    std::copy_n(server_hello_record.begin() + 5 + 6, 32, r.begin());
  }
  return r;
}

// RFC 8448's groups in supported_groups (EncryptedExtensions of sections 3,
// 4 and 6), FFDHE ones included.
const std::vector<uint16_t> kTraceGroups = {
    0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104};

void ExpectKeylog(int section, const KeylogMap& got) {
  const KeylogMap want = testing::ExpectedKeylog(section);
  for (const auto& [label, secret] : want) {
    const auto it = got.find(label);
    ASSERT_NE(it, got.end()) << label;
    EXPECT_EQ(HexEncode(it->second), HexEncode(secret))
        << "section " << section << " " << label;
  }
}

// Checks the one NewSessionTicket record in `out` (under the RFC's server
// application key of `section`). It is not the RFC's: the ticket is sealed
// with our keys (the RFC's is opaque), ticket_age_add is random, our
// ticket_nonce is one octet (the RFC's two), and the RFC's carries
// early_data (max_early_data_size 1024), which this server (0-RTT off)
// does not send; Section3FullHandshake checks the RFC's record itself. What is
// checked is the secret in it: the PSK sealed in our ticket is
// HKDF-Expand-Label(the RFC's resumption_master_secret, "resumption", our
// nonce), so the server's "tls13 res master" is the RFC's.
void ExpectTicketPsk(int section, const Bytes& out, const TicketKeys& keys,
                     uint32_t lifetime_s) {
  const auto records = testing::SplitRecords(out);
  ASSERT_EQ(records.size(), 1u);
  testing::EvpRecordCipher opener(
      *cipher_suite_info(CipherSuite::kAes128GcmSha256),
      testing::TraceSecret(section, "s ap traffic"));
  ContentType type;
  Bytes nst;
  ASSERT_TRUE(opener.Open(records[0], &type, &nst));
  ASSERT_EQ(type, ContentType::kHandshake);
  // NewSessionTicket: header 4, ticket_lifetime 4, ticket_age_add 4,
  // ticket_nonce<0..255>, ticket<1..2^16-1>, extensions.
  ASSERT_GT(nst.size(), 13u);
  EXPECT_EQ(nst[0], 4);
  const uint32_t lifetime = (uint32_t{nst[4]} << 24) |
                            (uint32_t{nst[5]} << 16) | (uint32_t{nst[6]} << 8) |
                            nst[7];
  EXPECT_EQ(lifetime, lifetime_s);
  const size_t nonce_len = nst[12];
  ASSERT_GT(nst.size(), 13 + nonce_len + 2);
  const Bytes nonce(nst.begin() + 13,
                    nst.begin() + 13 + static_cast<ptrdiff_t>(nonce_len));
  const size_t ticket_len =
      (size_t{nst[13 + nonce_len]} << 8) | nst[14 + nonce_len];
  ASSERT_GE(nst.size(), 15 + nonce_len + ticket_len);
  const std::span<const uint8_t> ticket(nst.data() + 15 + nonce_len,
                                        ticket_len);
  TicketContents contents;
  ASSERT_TRUE(open_ticket(keys, ticket, &contents));
  const Bytes res_master = Field(
      section, "client", "derive secret \"tls13 res master\"", "expanded");
  ASSERT_EQ(res_master.size(), 32u);
  tls::Secret want_psk;
  ASSERT_EQ(
      derive_resumption_psk(HashAlg::kSha256, res_master, nonce, &want_psk),
      KdfStatus::kOk);
  EXPECT_EQ(HexEncode(contents.psk.span()), HexEncode(want_psk.span()))
      << "section " << section << ": resumption_master_secret";
}

// Session tickets on, under keys the test can open.
std::shared_ptr<TicketKeys> EnableTickets(ServerConfig* cfg) {
  std::string error;
  auto keys = TicketKeys::generate(kTraceTimeMs, uint64_t{3600} * 1000, &error);
  EXPECT_NE(keys, nullptr) << error;
  cfg->session_tickets = 1;
  cfg->ticket_keys = keys;
  return keys;
}

TEST(ServerRfc8448Test, Section2KeyMatchesTheTraceCertificate) {
  const testing::Ptr<EVP_PKEY> key = testing::Section2RsaKey();
  ASSERT_NE(key, nullptr);
  const std::vector<Bytes> chain =
      testing::CertificatesOf(Message(3, "server", "Certificate"));
  ASSERT_EQ(chain.size(), 1u);
  const uint8_t* p = chain[0].data();
  testing::Ptr<X509> cert(
      d2i_X509(nullptr, &p, static_cast<long>(chain[0].size())));
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(EVP_PKEY_eq(key.get(), X509_get0_pubkey(cert.get())), 1)
      << "section 2's RSA key is the section 3 certificate's";
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 1024);
}

TEST(ServerRfc8448Test, Section3FullHandshake) {
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  cfg.session_tickets = 1;
  cfg.ticket_lifetime_s = 30;  // the RFC's ticket_lifetime
  // 0-RTT on: the ticket carries early_data (max_early_data_size 1024).
  cfg.max_early_data = 1024;
  // The certificate the store picks only decides the scheme (an RSA key:
  // rsa_pss_rsae_sha256); the RFC's 1024-bit certificate goes on the wire.
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"server"}))});
  const Bytes cert_msg = Message(3, "server", "Certificate");
  const std::vector<Bytes> chain = testing::CertificatesOf(cert_msg);
  ASSERT_EQ(chain.size(), 1u);

  ServerHandshake server(ctx, testing::Backend());
  ServerTestHooks hooks;
  hooks.server_random = RandomOf(ServerRecord(3, 0));
  hooks.x25519_private_key =
      Field(3, "server", "create an ephemeral x25519 key pair", "private key");
  hooks.encrypted_extensions_groups = kTraceGroups;
  hooks.certificate_chain = chain;
  testing::SignerLog signer;
  hooks.sign = testing::TraceSigner(
      chain[0], Message(3, "server", "CertificateVerify"), &signer);
  // The RFC's NewSessionTicket: its nonce (00 00) and ticket_age_add, and
  // its opaque ticket in place of one sealed with our keys; the sealer
  // sees the PSK the server derived.
  const Bytes rfc_nst = Message(3, "server", "NewSessionTicket");
  ASSERT_GT(rfc_nst.size(), 17u);
  ASSERT_EQ(rfc_nst[12], 2);
  const Bytes rfc_ticket(
      rfc_nst.begin() + 17,
      rfc_nst.begin() + 17 +
          static_cast<ptrdiff_t>((size_t{rfc_nst[15]} << 8) | rfc_nst[16]));
  hooks.ticket_nonce = {0x00, 0x00};
  hooks.ticket_age_add = 0xfad6aac5;
  Bytes sealed_psk;
  hooks.seal_ticket = [&](const TicketContents& t, std::vector<uint8_t>* out) {
    sealed_psk.assign(t.psk.span().begin(), t.psk.span().end());
    EXPECT_EQ(t.lifetime_s, 30u);
    EXPECT_EQ(t.age_add, 0xfad6aac5);
    *out = rfc_ticket;
    return true;
  };
  server.set_test_hooks(hooks);

  // ClientHello -> ServerHello, then EncryptedExtensions .. Finished in one
  // record: both the RFC's bytes.
  Bytes out;
  FeedResult r = server.feed(ClientRecord(3, 0), &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  Bytes want = ServerRecord(3, 0);
  const Bytes flight = ServerRecord(3, 1);
  want.insert(want.end(), flight.begin(), flight.end());
  EXPECT_EQ(HexEncode(out), HexEncode(want));
  EXPECT_EQ(signer.calls, 1);
  EXPECT_TRUE(signer.verified);

  // The RFC client's Finished completes it.
  out.clear();
  r = server.feed(ClientRecord(3, 1), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  HandshakeResult res;
  ASSERT_TRUE(server.take_result(&res));
  EXPECT_EQ(HexEncode(res.client_secret.span()),
            HexEncode(testing::TraceSecret(3, "c ap traffic")));
  EXPECT_EQ(HexEncode(res.server_secret.span()),
            HexEncode(testing::TraceSecret(3, "s ap traffic")));
  ExpectKeylog(3, keylog);
  EXPECT_EQ(res.tickets_sent, 1);
  EXPECT_EQ(res.server_next_seq, 1u);

  // The PSK of the ticket is the RFC's "tls13 resumption" secret (so the
  // server's "tls13 res master" is the RFC's).
  EXPECT_EQ(HexEncode(sealed_psk),
            HexEncode(Field(3, "server",
                            "generate resumption secret \"tls13 resumption\"",
                            "expanded")));
  // The NewSessionTicket record, under the RFC's server application key,
  // is the RFC's byte for byte: with 0-RTT on, its early_data extension
  // carries max_early_data_size 1024 as the RFC's does (RFC 8446 4.6.1).
  ASSERT_EQ(HexEncode({rfc_nst.data() + rfc_nst.size() - 10, 10}),
            "0008002a000400000400");
  EXPECT_EQ(HexEncode(out), HexEncode(ServerRecord(3, 2)));

  // The result installed in the record engine (its send sequence number
  // after the ticket's): our application data and close_notify records
  // are the RFC server's, and the RFC client's open.
  testing::EngineReplayLog log;
  testing::ExpectTraceApplicationRecords(3, res, {}, &log);
  EXPECT_TRUE(log.post_handshake.empty());
}

TEST(ServerRfc8448Test, Section3SignerSeesOnlyTheExactTranscript) {
  // The signer hook cannot make a differing transcript pass: one byte of
  // the ClientHello changed (its random) and the RFC's signature no
  // longer verifies over what we sign, so the handshake fails.
  KeylogMap keylog;
  const auto ctx = testing::MakeContext(
      TraceConfig(&keylog),
      {testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"server"}))});
  const std::vector<Bytes> chain =
      testing::CertificatesOf(Message(3, "server", "Certificate"));
  ASSERT_EQ(chain.size(), 1u);
  ServerHandshake server(ctx, testing::Backend());
  ServerTestHooks hooks;
  hooks.server_random = RandomOf(ServerRecord(3, 0));
  hooks.x25519_private_key =
      Field(3, "server", "create an ephemeral x25519 key pair", "private key");
  hooks.encrypted_extensions_groups = kTraceGroups;
  hooks.certificate_chain = chain;
  testing::SignerLog signer;
  // A mismatch is what this test wants: no test failure from the signer.
  hooks.sign = testing::TraceSigner(
      chain[0], Message(3, "server", "CertificateVerify"), &signer,
      /*mismatch_is_failure=*/false);
  server.set_test_hooks(hooks);
  Bytes ch = ClientRecord(3, 0);
  ch[5 + 6] ^= 1;  // ClientHello.random
  Bytes out;
  const FeedResult r = server.feed(ch, &out);
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kInternalError);
  EXPECT_EQ(signer.calls, 1);
  EXPECT_FALSE(signer.verified);
}

TEST(ServerRfc8448Test, Section5HelloRetryRequest) {
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  // The RFC's server prefers P-256, and asks for it though the client
  // sent an X25519 share. Its EncryptedExtensions list exactly these
  // groups, in this order: advertise_groups, no hook.
  cfg.groups = {NamedGroup::kSecp256r1, NamedGroup::kSecp384r1,
                NamedGroup::kX25519};
  cfg.hello_retry_for_preferred_group = true;
  cfg.advertise_groups = true;
  // The RFC's server sends no ticket here; ours does, to check the
  // resumption master secret.
  const std::shared_ptr<const TicketKeys> ticket_keys = EnableTickets(&cfg);
  ASSERT_NE(ticket_keys, nullptr);
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"server"}))});
  const Bytes cert_msg = Message(5, "server", "Certificate");
  const std::vector<Bytes> chain = testing::CertificatesOf(cert_msg);
  ASSERT_EQ(chain.size(), 1u);

  // The HelloRetryRequest's cookie is the RFC server's own format.
  const Bytes hrr_record = ServerRecord(5, 0);
  const Bytes hrr = Message(5, "server", "ServerHello");  // the first one
  ASSERT_GT(hrr.size(), 50u);
  // HRR: header 4, version 2, random 32, session_id 1 (empty), suite 2,
  // compression 1, extensions 2, then key_share (8 octets), then cookie.
  const size_t cookie_ext = 4 + 2 + 32 + 1 + 2 + 1 + 2 + 6;
  ASSERT_EQ(hrr[cookie_ext], 0x00);
  ASSERT_EQ(hrr[cookie_ext + 1], 0x2c);
  const size_t cookie_len =
      (size_t{hrr[cookie_ext + 4]} << 8) | hrr[cookie_ext + 5];
  const Bytes cookie(
      hrr.begin() + static_cast<ptrdiff_t>(cookie_ext + 6),
      hrr.begin() + static_cast<ptrdiff_t>(cookie_ext + 6 + cookie_len));

  ServerHandshake server(ctx, testing::Backend());
  ServerTestHooks hooks;
  hooks.hello_retry_cookie = cookie;
  hooks.server_random = RandomOf(ServerRecord(5, 1));
  hooks.secp256r1_private_key =
      Field(5, "server", "create an ephemeral P-256 key pair", "private key");
  hooks.certificate_chain = chain;
  testing::SignerLog signer;
  hooks.sign = testing::TraceSigner(
      chain[0], Message(5, "server", "CertificateVerify"), &signer);
  server.set_test_hooks(hooks);

  Bytes out;
  FeedResult r = server.feed(ClientRecord(5, 0), &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  EXPECT_EQ(HexEncode(out), HexEncode(hrr_record));
  EXPECT_EQ(server.kind(), HandshakeKind::kHelloRetry);

  out.clear();
  r = server.feed(ClientRecord(5, 1), &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  Bytes want = ServerRecord(5, 1);
  const Bytes flight = ServerRecord(5, 2);
  want.insert(want.end(), flight.begin(), flight.end());
  EXPECT_EQ(HexEncode(out), HexEncode(want));
  EXPECT_TRUE(signer.verified);

  out.clear();
  r = server.feed(ClientRecord(5, 2), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  ExpectTicketPsk(5, out, *ticket_keys, cfg.ticket_lifetime_s);
  HandshakeResult res;
  ASSERT_TRUE(server.take_result(&res));
  EXPECT_EQ(res.group, NamedGroup::kSecp256r1);
  ExpectKeylog(5, keylog);
}

TEST(ServerRfc8448Test, Section6ClientAuthentication) {
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  // The client's certificate is self-signed: it is its own trust anchor.
  const std::vector<Bytes> client_chain =
      testing::CertificatesOf(Message(6, "client", "Certificate"));
  ASSERT_EQ(client_chain.size(), 1u);
  {
    const uint8_t* p = client_chain[0].data();
    testing::Ptr<X509> client_cert(
        d2i_X509(nullptr, &p, static_cast<long>(client_chain[0].size())));
    ASSERT_NE(client_cert, nullptr);
    cfg.client_ca_pem = testing::CertPem(client_cert.get());
  }
  const std::shared_ptr<const TicketKeys> ticket_keys = EnableTickets(&cfg);
  ASSERT_NE(ticket_keys, nullptr);
  // The server's certificate is ECDSA P-256 here.
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("ec", {"server"}))});
  const std::vector<Bytes> chain =
      testing::CertificatesOf(Message(6, "server", "Certificate"));
  ASSERT_EQ(chain.size(), 1u);

  ServerHandshake server(ctx, testing::Backend());
  ServerTestHooks hooks;
  hooks.server_random = RandomOf(ServerRecord(6, 0));
  hooks.x25519_private_key =
      Field(6, "server", "create an ephemeral x25519 key pair", "private key");
  hooks.encrypted_extensions_groups = kTraceGroups;
  // The RFC's CertificateRequest lists the schemes its client offered.
  hooks.certificate_request_schemes = {0x0403, 0x0503, 0x0603, 0x0203, 0x0804,
                                       0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                                       0x0201, 0x0402, 0x0502, 0x0602, 0x0202};
  hooks.certificate_chain = chain;
  testing::SignerLog signer;
  hooks.sign = testing::TraceSigner(
      chain[0], Message(6, "server", "CertificateVerify"), &signer);
  server.set_test_hooks(hooks);

  Bytes out;
  FeedResult r = server.feed(ClientRecord(6, 0), &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  Bytes want = ServerRecord(6, 0);
  const Bytes flight = ServerRecord(6, 1);
  want.insert(want.end(), flight.begin(), flight.end());
  EXPECT_EQ(HexEncode(out), HexEncode(want));
  EXPECT_TRUE(signer.verified);
  EXPECT_EQ(server.kind(), HandshakeKind::kFullClientAuth);

  // The client's Certificate, CertificateVerify (verified with the
  // client certificate's key: no hook on this side) and Finished.
  out.clear();
  r = server.feed(ClientRecord(6, 1), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  ExpectTicketPsk(6, out, *ticket_keys, cfg.ticket_lifetime_s);
  HandshakeResult res;
  ASSERT_TRUE(server.take_result(&res));
  EXPECT_EQ(res.client_identity.subject, "CN=client");
  EXPECT_EQ(res.signature_scheme, SignatureScheme::kEcdsaSecp256r1Sha256);
  ExpectKeylog(6, keylog);
}

TEST(ServerRfc8448Test, Section6TamperedClientSignatureIsRefused) {
  // The same flight with one bit of the client's signature flipped: the
  // real verification refuses it (decrypt_error, RFC 8446 4.4.3). The
  // record is re-sealed under the RFC's client handshake key.
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  const std::vector<Bytes> client_chain =
      testing::CertificatesOf(Message(6, "client", "Certificate"));
  ASSERT_EQ(client_chain.size(), 1u);
  const uint8_t* p = client_chain[0].data();
  testing::Ptr<X509> client_cert(
      d2i_X509(nullptr, &p, static_cast<long>(client_chain[0].size())));
  ASSERT_NE(client_cert, nullptr);
  cfg.client_ca_pem = testing::CertPem(client_cert.get());
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("ec", {"server"}))});
  const std::vector<Bytes> chain =
      testing::CertificatesOf(Message(6, "server", "Certificate"));
  ASSERT_EQ(chain.size(), 1u);
  ServerHandshake server(ctx, testing::Backend());
  ServerTestHooks hooks;
  hooks.server_random = RandomOf(ServerRecord(6, 0));
  hooks.x25519_private_key =
      Field(6, "server", "create an ephemeral x25519 key pair", "private key");
  hooks.encrypted_extensions_groups = kTraceGroups;
  hooks.certificate_request_schemes = {0x0403, 0x0503, 0x0603, 0x0203, 0x0804,
                                       0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                                       0x0201, 0x0402, 0x0502, 0x0602, 0x0202};
  hooks.certificate_chain = chain;
  hooks.sign = testing::TraceSigner(
      chain[0], Message(6, "server", "CertificateVerify"), nullptr);
  server.set_test_hooks(hooks);
  Bytes out;
  ASSERT_EQ(server.feed(ClientRecord(6, 0), &out).state,
            HandshakeState::kNeedMore);

  const auto suite = *cipher_suite_info(CipherSuite::kAes128GcmSha256);
  const Bytes c_hs = testing::TraceSecret(6, "c hs traffic");
  testing::EvpRecordCipher opener(suite, c_hs);
  const auto records = testing::SplitRecords(ClientRecord(6, 1));
  ASSERT_EQ(records.size(), 1u);
  ContentType type;
  Bytes content;
  ASSERT_TRUE(opener.Open(records[0], &type, &content));
  const Bytes cert_msg = Message(6, "client", "Certificate");
  // The last octet of the CertificateVerify's signature.
  const size_t cv_end =
      cert_msg.size() + Message(6, "client", "CertificateVerify").size();
  ASSERT_LT(cv_end, content.size());
  content[cv_end - 1] ^= 1;
  testing::EvpRecordCipher sealer(suite, c_hs);
  out.clear();
  const FeedResult r =
      server.feed(sealer.Seal(ContentType::kHandshake, content), &out);
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kDecryptError);
}

// The RFC's ticket from section 3's NewSessionTicket (header 4, lifetime
// 4, age_add 4, nonce<1> of two octets, ticket<2>).
Bytes Section3Ticket() {
  const Bytes nst = Message(3, "server", "NewSessionTicket");
  if (nst.size() <= 17 || nst[12] != 2) {
    ADD_FAILURE() << "section 3's NewSessionTicket";
    return {};
  }
  const size_t len = (size_t{nst[15]} << 8) | nst[16];
  EXPECT_EQ(len, 0xb2u);
  return Bytes(nst.begin() + 17,
               nst.begin() + 17 + static_cast<ptrdiff_t>(len));
}

// Section 4's server: 0-RTT on (max_early_data_size 1024, as the section 3
// ticket says), the trace's random and key share, and an open_ticket hook
// standing for the RFC server's ticket decryption (the ticket is opaque
// to us): it gives section 3's resumption PSK, issued at kTraceTimeMs with
// the RFC's ticket_age_add, for "server". The binder is verified as
// always. *opened counts the calls.
ServerTestHooks Section4Hooks(int* opened) {
  ServerTestHooks hooks;
  hooks.server_random = RandomOf(ServerRecord(4, 0));
  hooks.x25519_private_key =
      Field(4, "server", "create an ephemeral x25519 key pair", "private key");
  hooks.encrypted_extensions_groups = kTraceGroups;
  const Bytes ticket = Section3Ticket();
  const Bytes psk = Field(4, "client", "extract secret \"early\"", "IKM");
  hooks.open_ticket = [ticket, psk, opened](std::span<const uint8_t> identity,
                                            TicketContents* out) {
    ++*opened;
    if (!std::equal(identity.begin(), identity.end(), ticket.begin(),
                    ticket.end())) {
      return false;
    }
    out->cipher_suite = 0x1301;
    out->psk.assign(psk);
    out->issued_ms = kTraceTimeMs;
    out->age_add = 0xfad6aac5;  // the RFC's ticket_age_add
    out->lifetime_s = 30;
    out->server_name = "server";
    return true;
  };
  return hooks;
}

Bytes ClientSecret(int section, const char* label) {
  return Field(section, "client",
               std::string("derive secret \"tls13 ") + label + "\"",
               "expanded");
}

TEST(ServerRfc8448Test, Section4ResumedZeroRtt) {
  // The RFC client's ClientHello (PSK from section 3, early_data) and its
  // 0-RTT record in one feed: the server accepts the PSK and the early
  // data, and its ServerHello and EncryptedExtensions + Finished records
  // are the RFC's byte for byte.
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  cfg.max_early_data = 1024;
  // The RFC's server sends no ticket after this handshake; ours sends one
  // (the nonce 00 00 and a sealer hook that sees its PSK), to check the
  // resumption master secret.
  cfg.session_tickets = 1;
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"server"}))});
  int opened = 0;
  ServerTestHooks hooks = Section4Hooks(&opened);
  hooks.ticket_nonce = {0x00, 0x00};
  Bytes sealed_psk;
  hooks.seal_ticket = [&](const TicketContents& t, std::vector<uint8_t>* out) {
    sealed_psk.assign(t.psk.span().begin(), t.psk.span().end());
    out->assign(16, 0x5a);
    return true;
  };
  ServerHandshake server(ctx, testing::Backend());
  server.set_test_hooks(hooks);

  const Bytes early_record =
      Field(4, "client", "send application_data record", "complete record");
  Bytes in = ClientRecord(4, 0);
  in.insert(in.end(), early_record.begin(), early_record.end());
  Bytes out;
  FeedResult r = server.feed(in, &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(server.kind(), HandshakeKind::kPskEarlyData);
  // ServerHello (pre_shared_key, selected_identity 0), then
  // EncryptedExtensions (supported_groups, record_size_limit, the
  // server_name acknowledgement, early_data) and Finished in one record.
  const auto records = testing::SplitRecords(out);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(HexEncode(testing::JoinRecords({records[0]})),
            HexEncode(ServerRecord(4, 0)));
  EXPECT_EQ(HexEncode(testing::JoinRecords({records[1]})),
            HexEncode(ServerRecord(4, 1)));

  // The early data is the trace's plaintext ("ABCDEF"), opened under the
  // client_early_traffic_secret the server derived: the RFC's, as is the
  // early exporter master secret.
  const Bytes early_plain =
      Field(4, "client", "send application_data record", "payload");
  ASSERT_EQ(early_plain.size(), 6u);
  EXPECT_EQ(r.early_data_bytes, early_plain.size());
  Bytes early;
  server.take_early_data(&early);
  EXPECT_EQ(HexEncode(early), HexEncode(early_plain));
  EXPECT_EQ(HexEncode(keylog["CLIENT_EARLY_TRAFFIC_SECRET"]),
            HexEncode(ClientSecret(4, "c e traffic")));
  EXPECT_EQ(HexEncode(keylog["EARLY_EXPORTER_SECRET"]),
            HexEncode(ClientSecret(4, "e exp master")));
  EXPECT_EQ(HexEncode(keylog["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]),
            HexEncode(testing::TraceSecret(4, "c hs traffic")));
  EXPECT_EQ(HexEncode(keylog["SERVER_HANDSHAKE_TRAFFIC_SECRET"]),
            HexEncode(testing::TraceSecret(4, "s hs traffic")));

  // EndOfEarlyData, the last record under the early key: the handshake
  // waits for the Finished under the client's handshake key.
  out.clear();
  r = server.feed(ClientRecord(4, 1), &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  EXPECT_TRUE(out.empty());
  out.clear();
  r = server.feed(ClientRecord(4, 2), &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  HandshakeResult res;
  ASSERT_TRUE(server.take_result(&res));
  EXPECT_EQ(res.kind, HandshakeKind::kPskEarlyData);
  EXPECT_TRUE(res.early_data_accepted);
  EXPECT_TRUE(res.early_data.empty());  // taken above
  EXPECT_EQ(res.server_name, "server");
  EXPECT_EQ(HexEncode(res.client_secret.span()),
            HexEncode(testing::TraceSecret(4, "c ap traffic")));
  EXPECT_EQ(HexEncode(res.server_secret.span()),
            HexEncode(testing::TraceSecret(4, "s ap traffic")));
  ExpectKeylog(4, keylog);
  // The resumption master secret: our ticket's PSK is
  // HKDF-Expand-Label(the RFC's "tls13 res master", "resumption", 00 00).
  EXPECT_EQ(res.tickets_sent, 1);
  tls::Secret want_psk;
  ASSERT_EQ(
      derive_resumption_psk(HashAlg::kSha256, ClientSecret(4, "res master"),
                            Bytes{0x00, 0x00}, &want_psk),
      KdfStatus::kOk);
  EXPECT_EQ(HexEncode(sealed_psk), HexEncode(want_psk.span()));
}

TEST(ServerRfc8448Test, Section4ApplicationDataAndCloseNotify) {
  // Section 4 again without our ticket (the RFC's server sends none, so
  // its application data is the first record under its application key),
  // then the result in the record engine: our application data and
  // close_notify records are the RFC server's, and the RFC client's open.
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  cfg.max_early_data = 1024;
  ASSERT_EQ(cfg.session_tickets, 0);
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"server"}))});
  int opened = 0;
  ServerHandshake server(ctx, testing::Backend());
  server.set_test_hooks(Section4Hooks(&opened));
  Bytes in = ClientRecord(4, 0);
  for (const Bytes& b :
       {Field(4, "client", "send application_data record", "complete record"),
        ClientRecord(4, 1), ClientRecord(4, 2)}) {
    in.insert(in.end(), b.begin(), b.end());
  }
  Bytes out;
  const FeedResult r = server.feed(in, &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  EXPECT_EQ(HexEncode(out),
            HexEncode(testing::Cat(ServerRecord(4, 0), ServerRecord(4, 1))));
  HandshakeResult res;
  ASSERT_TRUE(server.take_result(&res));
  EXPECT_EQ(res.server_next_seq, 0u);
  // Not taken during the handshake: the early data is in the result.
  EXPECT_EQ(
      HexEncode(res.early_data),
      HexEncode(Field(4, "client", "send application_data record", "payload")));
  EXPECT_TRUE(res.post_finished.empty());
  testing::EngineReplayLog log;
  testing::ExpectTraceApplicationRecords(4, res, {}, &log);
  EXPECT_TRUE(log.post_handshake.empty());
}

TEST(ServerRfc8448Test, Section4ReplayedClientHelloGetsNoZeroRtt) {
  // The same ClientHello and 0-RTT record a second time, on the same
  // context (so the same replay cache): the ticket was used for 0-RTT
  // once (RFC 8446 8.1), so this server resumes without early data. The
  // 0-RTT record is skipped, the ServerHello is still the RFC's, and the
  // EncryptedExtensions are the RFC's without early_data.
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  cfg.max_early_data = 1024;
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"server"}))});
  Bytes in = ClientRecord(4, 0);
  const Bytes early_record =
      Field(4, "client", "send application_data record", "complete record");
  in.insert(in.end(), early_record.begin(), early_record.end());
  int opened = 0;
  for (int round = 0; round < 2; ++round) {
    ServerHandshake server(ctx, testing::Backend());
    server.set_test_hooks(Section4Hooks(&opened));
    Bytes out;
    const FeedResult r = server.feed(in, &out);
    ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
    const auto records = testing::SplitRecords(out);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(HexEncode(testing::JoinRecords({records[0]})),
              HexEncode(ServerRecord(4, 0)));
    if (round == 0) {
      EXPECT_EQ(server.kind(), HandshakeKind::kPskEarlyData);
      EXPECT_EQ(r.early_data_bytes, 6u);
      continue;
    }
    EXPECT_EQ(server.kind(), HandshakeKind::kPsk);
    EXPECT_EQ(r.early_data_bytes, 0u);
    testing::EvpRecordCipher opener(
        *cipher_suite_info(CipherSuite::kAes128GcmSha256),
        testing::TraceSecret(4, "s hs traffic"));
    ContentType type;
    Bytes content;
    ASSERT_TRUE(opener.Open(records[1], &type, &content));
    const Bytes rfc_ee = Message(4, "server", "EncryptedExtensions");
    ASSERT_EQ(rfc_ee.size(), 44u);
    ASSERT_EQ(HexEncode({rfc_ee.data() + 40, 4}), "002a0000");
    Bytes want(rfc_ee.begin(), rfc_ee.end() - 4);
    want[3] = static_cast<uint8_t>(want.size() - 4);
    want[5] = static_cast<uint8_t>(want.size() - 6);
    ASSERT_GT(content.size(), want.size());
    EXPECT_EQ(HexEncode({content.data(), want.size()}), HexEncode(want));
  }
  EXPECT_EQ(opened, 2);
}

TEST(ServerRfc8448Test, Section7CompatibilityMode) {
  // The client sends a session ID: the server echoes it and sends one
  // change_cipher_spec after its ServerHello (appendix D.4; on by default).
  KeylogMap keylog;
  ServerConfig cfg = TraceConfig(&keylog);
  ASSERT_TRUE(cfg.middlebox_compat);
  const std::shared_ptr<const TicketKeys> ticket_keys = EnableTickets(&cfg);
  ASSERT_NE(ticket_keys, nullptr);
  const auto ctx = testing::MakeContext(
      cfg, {testing::Pki().Load(testing::Pki().MakeLeaf("rsa", {"server"}))});
  const std::vector<Bytes> chain =
      testing::CertificatesOf(Message(7, "server", "Certificate"));
  ASSERT_EQ(chain.size(), 1u);
  ServerHandshake server(ctx, testing::Backend());
  ServerTestHooks hooks;
  hooks.server_random = RandomOf(ServerRecord(7, 0));
  hooks.x25519_private_key =
      Field(7, "server", "create an ephemeral x25519 key pair", "private key");
  hooks.encrypted_extensions_groups = kTraceGroups;
  hooks.certificate_chain = chain;
  testing::SignerLog signer;
  hooks.sign = testing::TraceSigner(
      chain[0], Message(7, "server", "CertificateVerify"), &signer);
  server.set_test_hooks(hooks);

  Bytes out;
  FeedResult r = server.feed(ClientRecord(7, 0), &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  Bytes want = ServerRecord(7, 0);
  for (const Bytes& b :
       {Field(7, "server", "send change_cipher_spec record", "complete record"),
        ServerRecord(7, 1)}) {
    want.insert(want.end(), b.begin(), b.end());
  }
  EXPECT_EQ(HexEncode(out), HexEncode(want));
  EXPECT_TRUE(signer.verified);

  // The client's change_cipher_spec (dropped) and Finished.
  Bytes in =
      Field(7, "client", "send change_cipher_spec record", "complete record");
  const Bytes fin = ClientRecord(7, 1);
  in.insert(in.end(), fin.begin(), fin.end());
  out.clear();
  r = server.feed(in, &out);
  ASSERT_EQ(r.state, HandshakeState::kDone) << alert_name(r.alert);
  ExpectKeylog(7, keylog);
  ExpectTicketPsk(7, out, *ticket_keys, cfg.ticket_lifetime_s);
}

TEST(ServerRfc8448Test, FixedEphemeralKeysGiveTheTracePublicKeys) {
  // EphemeralKey::set_private_key, the hook behind the fixed key shares:
  // the trace's P-256 and X25519 private keys give its public keys.
  for (const char* who : {"client", "server"}) {
    EphemeralKey p256;
    ASSERT_TRUE(p256.set_private_key(
        NamedGroup::kSecp256r1,
        Field(5, who, "create an ephemeral P-256 key pair", "private key")));
    EXPECT_EQ(HexEncode(p256.public_key()),
              HexEncode(Field(5, who, "create an ephemeral P-256 key pair",
                              "public key")));
    EphemeralKey x25519;
    ASSERT_TRUE(x25519.set_private_key(
        NamedGroup::kX25519,
        Field(3, who, "create an ephemeral x25519 key pair", "private key")));
    EXPECT_EQ(HexEncode(x25519.public_key()),
              HexEncode(Field(3, who, "create an ephemeral x25519 key pair",
                              "public key")));
  }
  // Wrong lengths and a zero scalar are refused, leaving no key.
  EphemeralKey k;
  EXPECT_FALSE(k.set_private_key(NamedGroup::kSecp256r1, Bytes(31, 1)));
  EXPECT_FALSE(k.ready());
  EXPECT_FALSE(k.set_private_key(NamedGroup::kSecp256r1, Bytes(32, 0)));
  EXPECT_FALSE(k.ready());
  EXPECT_FALSE(k.set_private_key(NamedGroup::kX25519, Bytes(31, 1)));
  EXPECT_FALSE(k.set_private_key(NamedGroup::kSecp384r1, Bytes(32, 1)));
  EXPECT_TRUE(k.set_private_key(NamedGroup::kSecp384r1, Bytes(48, 1)));
  EXPECT_EQ(k.public_key().size(), 97u);
}

// X25519(a, B) == X25519(b, A) for two keys made on this thread.
void ExpectAgree(const EphemeralKey& a, const EphemeralKey& b) {
  Secret ab;
  Secret ba;
  Alert alert = Alert::kInternalError;
  ASSERT_TRUE(a.derive(b.public_key(), &ab, &alert));
  ASSERT_TRUE(b.derive(a.public_key(), &ba, &alert));
  EXPECT_EQ(HexEncode(ab.span()), HexEncode(ba.span()));
}

TEST(ServerRfc8448Test, X25519KeyObjectsReusedOnAThreadStayCorrect) {
  // A reset X25519 key leaves its (wiped) libcrypto objects to the next
  // key of the thread: the trace's keys still give the trace's public keys
  // and shared secret when they come through reused objects, and a reset
  // key derives nothing.
  auto run = [] {
    for (int round = 0; round < 3; ++round) {
      EphemeralKey client;
      EphemeralKey server;
      ASSERT_TRUE(client.set_private_key(
          NamedGroup::kX25519,
          Field(3, "client", "create an ephemeral x25519 key pair",
                "private key")));
      ASSERT_TRUE(server.set_private_key(
          NamedGroup::kX25519,
          Field(3, "server", "create an ephemeral x25519 key pair",
                "private key")));
      EXPECT_EQ(
          HexEncode(server.public_key()),
          HexEncode(Field(3, "server", "create an ephemeral x25519 key pair",
                          "public key")));
      Secret shared;
      Alert alert = Alert::kInternalError;
      ASSERT_TRUE(server.derive(client.public_key(), &shared, &alert));
      EXPECT_EQ(
          HexEncode(shared.span()),
          HexEncode(Field(3, "server", "extract secret \"handshake\"", "IKM")));
      server.reset();
      EXPECT_FALSE(server.derive(client.public_key(), &shared, &alert));
      EXPECT_TRUE(shared.empty());
      // Fresh random keys on the reused objects agree with each other.
      EphemeralKey a;
      EphemeralKey b;
      ASSERT_TRUE(a.generate(NamedGroup::kX25519, {}));
      ASSERT_TRUE(b.generate(NamedGroup::kX25519, {}));
      EXPECT_NE(HexEncode(a.public_key()), HexEncode(b.public_key()));
      ExpectAgree(a, b);
      ExpectAgree(a, client);
    }
  };
  run();
  // And on a thread of its own, whose spare objects go at its exit.
  std::thread t(run);
  t.join();
}

TEST(ServerRfc8448Test, X25519WipeInPlaceIsSeenByItsCheck) {
  // What the reuse of X25519 key objects (key_exchange.cc,
  // x25519_wipe_in_place) relies on in libcrypto: setting the encoded
  // public key drops the private key, and the check it makes, a
  // get_params query for the private key, answers while there is one
  // (else the check would pass whatever the key held).
  const Bytes priv =
      Field(3, "server", "create an ephemeral x25519 key pair", "private key");
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr,
                                                priv.data(), priv.size());
  ASSERT_NE(pkey, nullptr);
  Bytes got(32, 0);
  size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY,
                                            got.data(), got.size(), &len),
            1);
  EXPECT_EQ(HexEncode(got), HexEncode(priv));
  const uint8_t base[32] = {9};
  ASSERT_EQ(EVP_PKEY_set1_encoded_public_key(pkey, base, sizeof(base)), 1);
  len = 0;
  EXPECT_NE(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY,
                                            got.data(), got.size(), &len),
            1);
  EVP_PKEY_free(pkey);
}

}  // namespace
}  // namespace dptls::tls
