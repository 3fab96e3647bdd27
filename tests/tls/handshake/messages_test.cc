// The handshake message codecs against RFC 8448: every ClientHello the RFC
// prints parses into the values the RFC states elsewhere (the key share it
// generated, the binder prefix it hashed, the cookie the server sent), and
// the server message writers reproduce the RFC's ServerHello,
// HelloRetryRequest, EncryptedExtensions, CertificateRequest, Certificate,
// CertificateVerify, Finished and NewSessionTicket byte for byte. Plus the
// list views, GREASE, names, the CertificateVerify content, and the
// writers' refusals.
#include "dptls/tls/handshake/messages.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/aead_test_support.h"
#include "tls/rfc8448_trace.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::testing::HexEncode;
using testing::Bytes;
using testing::Rfc8448Trace;

std::string Hex(std::span<const uint8_t> b) { return HexEncode(b); }

Bytes Sub(const Bytes& b, size_t off, size_t n) {
  return Bytes(b.begin() + static_cast<long>(off),
               b.begin() + static_cast<long>(off + n));
}

class Rfc8448MessagesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    trace_ = new Rfc8448Trace;
    loaded_ = testing::LoadRfc8448(trace_, &error_);
  }
  static void TearDownTestSuite() { delete trace_; }
  void SetUp() override { ASSERT_TRUE(loaded_) << error_; }

  static Bytes Value(int section, const char* who, const std::string& action,
                     const char* label, size_t nth = 0) {
    const auto steps = trace_->find(section, who, action);
    if (steps.size() <= nth || steps[nth]->field(label) == nullptr) {
      ADD_FAILURE() << "RFC 8448 section " << section << " {" << who << "} '"
                    << action << "' #" << nth << " has no '" << label << "'";
      return {};
    }
    return steps[nth]->field(label)->value;
  }

  static Bytes Message(int section, const char* who, const std::string& type,
                       size_t nth = 0) {
    const char* article = (type[0] == 'E' || type[0] == 'A') ? "an " : "a ";
    return Value(
        section, who,
        "construct " + std::string(article) + type + " handshake message",
        type.c_str(), nth);
  }

  // The whole ClientHello of section 4 (the "constructed" one is printed
  // truncated before its binders): the payload of its first record.
  static Bytes Section4ClientHello() {
    return Value(4, "client", "send handshake record", "payload");
  }

  static Bytes Write(const std::function<bool(ByteWriter*)>& write) {
    Bytes buf(4096);
    ByteWriter w(buf);
    EXPECT_TRUE(write(&w));
    buf.resize(w.size());
    return buf;
  }

  static Rfc8448Trace* trace_;
  static std::string error_;
  static bool loaded_;
};

Rfc8448Trace* Rfc8448MessagesTest::trace_ = nullptr;
std::string Rfc8448MessagesTest::error_;
bool Rfc8448MessagesTest::loaded_ = false;

// ---- ClientHello ----

TEST_F(Rfc8448MessagesTest, Section3ClientHello) {
  const Bytes msg = Message(3, "client", "ClientHello");
  ClientHello ch;
  Alert alert;
  ASSERT_TRUE(parse_client_hello(msg, &ch, &alert)) << alert_name(alert);
  EXPECT_EQ(ch.message.size(), msg.size());
  EXPECT_EQ(ch.legacy_version, 0x0303);
  EXPECT_EQ(Hex(ch.random), Hex(Sub(msg, 6, 32)));
  EXPECT_TRUE(ch.legacy_session_id.empty());
  ASSERT_EQ(ch.cipher_suites.size(), 3u);
  EXPECT_EQ(ch.cipher_suites.at(0), 0x1301);
  EXPECT_EQ(ch.cipher_suites.at(1), 0x1303);
  EXPECT_EQ(ch.cipher_suites.at(2), 0x1302);
  EXPECT_EQ(ch.cipher_suites.at(3), 0) << "out of range";
  EXPECT_EQ(Hex(ch.compression_methods), "00");
  EXPECT_TRUE(ch.has_extension_block);
  EXPECT_EQ(ch.server_name, "server");
  EXPECT_TRUE(ch.supported_versions.contains(kVersionTls13));
  EXPECT_EQ(ch.supported_versions.size(), 1u);
  // x25519, secp256r1, secp384r1, secp521r1, ffdhe2048..8192.
  EXPECT_EQ(ch.supported_groups.size(), 9u);
  EXPECT_TRUE(ch.supported_groups.contains(0x0017));
  EXPECT_FALSE(ch.supported_groups.contains(0x001e));
  ASSERT_EQ(ch.key_shares.size(), 1u);
  KeyShareEntry share;
  ASSERT_TRUE(ch.key_shares.find(0x001d, &share));
  EXPECT_EQ(Hex(share.key_exchange),
            Hex(Value(3, "client", "create an ephemeral x25519 key pair",
                      "public key")));
  EXPECT_FALSE(ch.key_shares.find(0x0017, &share));
  EXPECT_EQ(ch.signature_algorithms.size(), 15u);
  EXPECT_EQ(ch.signature_algorithms.at(0), 0x0403);
  EXPECT_EQ(Hex(ch.psk_key_exchange_modes), "01");
  EXPECT_TRUE(ch.has(ExtensionType::kRecordSizeLimit));
  EXPECT_EQ(ch.record_size_limit, 0x4001);
  EXPECT_FALSE(ch.has(ExtensionType::kPreSharedKey));
  EXPECT_FALSE(ch.has(ExtensionType::kEarlyData));
  EXPECT_FALSE(ch.has(ExtensionType::kAlpn));
  EXPECT_FALSE(ch.has(ExtensionType::kSignatureAlgorithmsCert));
}

TEST_F(Rfc8448MessagesTest, Section4ClientHelloWithPskAndEarlyData) {
  const Bytes msg = Section4ClientHello();
  ClientHello ch;
  Alert alert;
  ASSERT_TRUE(parse_client_hello(msg, &ch, &alert)) << alert_name(alert);
  EXPECT_TRUE(ch.has(ExtensionType::kEarlyData));
  ASSERT_TRUE(ch.has(ExtensionType::kPreSharedKey));
  EXPECT_EQ(ch.pre_shared_key.count, 1u);
  // Truncated(ClientHello) is exactly what the RFC hashed for the binder.
  const Bytes prefix =
      Value(4, "client", "calculate PSK binder", "ClientHello prefix");
  EXPECT_EQ(ch.pre_shared_key.truncated_len, prefix.size());
  EXPECT_EQ(Hex(Sub(msg, 0, ch.pre_shared_key.truncated_len)), Hex(prefix));
  // The binder is the one the RFC computed.
  const Bytes binder = Value(4, "client", "calculate PSK binder", "finished");
  ASSERT_EQ(ch.pre_shared_key.binders.size(), 1u + binder.size());
  EXPECT_EQ(Hex(ch.pre_shared_key.binders.subspan(1)), Hex(binder));
}

TEST_F(Rfc8448MessagesTest, Section5SecondClientHelloEchoesTheCookie) {
  const Bytes ch1_msg = Message(5, "client", "ClientHello", 0);
  const Bytes ch2_msg = Message(5, "client", "ClientHello", 1);
  const Bytes hrr = Message(5, "server", "ServerHello", 0);
  ClientHello ch1;
  ClientHello ch2;
  Alert alert;
  ASSERT_TRUE(parse_client_hello(ch1_msg, &ch1, &alert));
  ASSERT_TRUE(parse_client_hello(ch2_msg, &ch2, &alert));
  EXPECT_FALSE(ch1.has(ExtensionType::kCookie));
  ASSERT_TRUE(ch2.has(ExtensionType::kCookie));
  // The HRR's cookie extension body is cookie<1..2^16-1>.
  const std::string hrr_hex = Hex(hrr);
  EXPECT_NE(hrr_hex.find(Hex(ch2.cookie)), std::string::npos);
  KeyShareEntry share;
  ASSERT_TRUE(ch2.key_shares.find(0x0017, &share));
  EXPECT_EQ(Hex(share.key_exchange),
            Hex(Value(5, "client", "create an ephemeral P-256 key pair",
                      "public key")));
}

TEST_F(Rfc8448MessagesTest, EveryClientHelloParses) {
  for (int section : {3, 5, 6, 7}) {
    for (size_t nth = 0; nth < trace_
                                   ->find(section, "client",
                                          "construct a ClientHello "
                                          "handshake message")
                                   .size();
         ++nth) {
      const Bytes msg = Message(section, "client", "ClientHello", nth);
      ClientHello ch;
      Alert alert;
      EXPECT_TRUE(parse_client_hello(msg, &ch, &alert))
          << "section " << section << ": " << alert_name(alert);
    }
  }
  ClientHello ch;
  Alert alert;
  ASSERT_TRUE(
      parse_client_hello(Message(7, "client", "ClientHello"), &ch, &alert));
  EXPECT_EQ(ch.legacy_session_id.size(), 32u) << "compatibility mode";
}

// ---- server writers, byte for byte ----

TEST_F(Rfc8448MessagesTest, ServerHello) {
  const Bytes want = Message(3, "server", "ServerHello");
  const Bytes key =
      Value(3, "server", "create an ephemeral x25519 key pair", "public key");
  const Bytes random = Sub(want, 6, 32);
  ServerHelloParams p;
  p.random = random;
  p.cipher_suite = 0x1301;
  p.key_share_group = 0x001d;
  p.key_share = key;
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) { return write_server_hello(p, w); })),
            Hex(want));
}

TEST_F(Rfc8448MessagesTest, ServerHelloWithPsk) {
  const Bytes want = Message(4, "server", "ServerHello");
  const Bytes key =
      Value(4, "server", "create an ephemeral x25519 key pair", "public key");
  const Bytes random = Sub(want, 6, 32);
  ServerHelloParams p;
  p.random = random;
  p.cipher_suite = 0x1301;
  p.key_share_group = 0x001d;
  p.key_share = key;
  p.selected_psk_identity = 0;
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) { return write_server_hello(p, w); })),
            Hex(want));
}

TEST_F(Rfc8448MessagesTest, ServerHelloEchoingSessionId) {
  const Bytes want = Message(7, "server", "ServerHello");
  ClientHello ch;
  Alert alert;
  const Bytes ch_msg = Message(7, "client", "ClientHello");
  ASSERT_TRUE(parse_client_hello(ch_msg, &ch, &alert));
  const Bytes key =
      Value(7, "server", "create an ephemeral x25519 key pair", "public key");
  const Bytes random = Sub(want, 6, 32);
  ServerHelloParams p;
  p.random = random;
  p.legacy_session_id_echo = ch.legacy_session_id;
  p.cipher_suite = 0x1301;
  p.key_share_group = 0x001d;
  p.key_share = key;
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) { return write_server_hello(p, w); })),
            Hex(want));
}

TEST_F(Rfc8448MessagesTest, HelloRetryRequest) {
  const Bytes want = Message(5, "server", "ServerHello", 0);
  ClientHello ch2;
  Alert alert;
  const Bytes ch2_msg = Message(5, "client", "ClientHello", 1);
  ASSERT_TRUE(parse_client_hello(ch2_msg, &ch2, &alert));
  HelloRetryRequestParams p;
  p.cipher_suite = 0x1301;
  p.selected_group = 0x0017;
  p.cookie = ch2.cookie;
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) {
              return write_hello_retry_request(p, w);
            })),
            Hex(want));
}

TEST_F(Rfc8448MessagesTest, EncryptedExtensions) {
  const std::vector<uint16_t> groups = {0x001d, 0x0017, 0x0018, 0x0019, 0x0100,
                                        0x0101, 0x0102, 0x0103, 0x0104};
  EncryptedExtensionsParams p;
  p.supported_groups = groups;
  p.record_size_limit = 0x4001;
  p.server_name_ack = true;
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) {
              return write_encrypted_extensions(p, w);
            })),
            Hex(Message(3, "server", "EncryptedExtensions")));
  p.early_data = true;
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) {
              return write_encrypted_extensions(p, w);
            })),
            Hex(Message(4, "server", "EncryptedExtensions")));
}

TEST_F(Rfc8448MessagesTest, CertificateRequest) {
  // Section 6's server asks for the client's signature_algorithms list.
  ClientHello ch;
  Alert alert;
  const Bytes ch_msg = Message(6, "client", "ClientHello");
  ASSERT_TRUE(parse_client_hello(ch_msg, &ch, &alert));
  std::vector<uint16_t> schemes;
  for (size_t i = 0; i < ch.signature_algorithms.size(); ++i) {
    schemes.push_back(ch.signature_algorithms.at(i));
  }
  CertificateRequestParams p;
  p.signature_algorithms = schemes;
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) {
              return write_certificate_request(p, w);
            })),
            Hex(Message(6, "server", "CertificateRequest")));
}

TEST_F(Rfc8448MessagesTest, Certificate) {
  const Bytes want = Message(3, "server", "Certificate");
  // certificate_request_context (1) + certificate_list length (3) + the
  // entry's cert_data length (3), then the DER.
  const size_t der_len = (size_t{want[8]} << 16) | (want[9] << 8) | want[10];
  const Bytes der = Sub(want, 11, der_len);
  const std::vector<std::span<const uint8_t>> chain = {der};
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) {
              return write_certificate({}, chain, {}, w);
            })),
            Hex(want));
}

TEST_F(Rfc8448MessagesTest, CertificateVerify) {
  const Bytes want = Message(3, "server", "CertificateVerify");
  const Bytes sig = Sub(want, 8, want.size() - 8);
  EXPECT_EQ(Hex(Write([&](ByteWriter* w) {
              return write_certificate_verify(
                  SignatureScheme::kRsaPssRsaeSha256, sig, w);
            })),
            Hex(want));
}

TEST_F(Rfc8448MessagesTest, Finished) {
  const Bytes verify_data =
      Value(3, "server", "calculate finished \"tls13 finished\"", "finished");
  EXPECT_EQ(
      Hex(Write([&](ByteWriter* w) { return write_finished(verify_data, w); })),
      Hex(Message(3, "server", "Finished")));
}

TEST_F(Rfc8448MessagesTest, NewSessionTicket) {
  const Bytes want = Message(3, "server", "NewSessionTicket");
  // lifetime 30 s, age_add, nonce 00 00, the ticket, max_early_data 1024.
  const size_t ticket_len = (size_t{want[15]} << 8) | want[16];
  const Bytes ticket = Sub(want, 17, ticket_len);
  const Bytes nonce = {0, 0};
  NewSessionTicketParams p;
  p.lifetime = 30;
  p.age_add = 0xfad6aac5;
  p.nonce = nonce;
  p.ticket = ticket;
  p.max_early_data_size = 1024;
  EXPECT_EQ(
      Hex(Write([&](ByteWriter* w) { return write_new_session_ticket(p, w); })),
      Hex(want));
}

// ---- views, GREASE, names ----

TEST(MessagesTest, GreaseValues) {
  int n = 0;
  for (uint32_t v = 0; v <= 0xffff; ++v) {
    n += is_grease(static_cast<uint16_t>(v)) ? 1 : 0;
  }
  EXPECT_EQ(n, 16);
  for (uint16_t v : {0x0a0a, 0x1a1a, 0x7a7a, 0xfafa}) {
    EXPECT_TRUE(is_grease(v)) << v;
  }
  for (uint16_t v : {0x0a1a, 0x0b0b, 0x1301, 0x001d, 0xabab}) {
    EXPECT_FALSE(is_grease(v)) << v;
  }
}

TEST(MessagesTest, Names) {
  EXPECT_EQ(handshake_type_name(1), "client_hello");
  EXPECT_EQ(handshake_type_name(254), "message_hash");
  EXPECT_EQ(handshake_type_name(3), "unknown");
  EXPECT_EQ(extension_type_name(51), "key_share");
  EXPECT_EQ(extension_type_name(0xff01), "unknown");
  for (NamedGroup g : kAllNamedGroups) {
    EXPECT_EQ(parse_named_group(named_group_name(g)), g);
    EXPECT_EQ(find_named_group(static_cast<uint16_t>(g)), g);
  }
  for (SignatureScheme s : kAllSignatureSchemes) {
    EXPECT_EQ(parse_signature_scheme(signature_scheme_name(s)), s);
    EXPECT_EQ(find_signature_scheme(static_cast<uint16_t>(s)), s);
  }
  EXPECT_FALSE(find_named_group(0x0019).has_value());
  EXPECT_FALSE(find_signature_scheme(0x0401).has_value());
  EXPECT_FALSE(parse_named_group("x448").has_value());
}

TEST(MessagesTest, ListViews) {
  const Bytes alpn = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  ProtocolNameList names(alpn);
  EXPECT_EQ(names.size(), 2u);
  EXPECT_EQ(names.at(0), "h2");
  EXPECT_EQ(names.at(1), "http/1.1");
  EXPECT_EQ(names.at(2), "");
  EXPECT_TRUE(names.contains("http/1.1"));
  EXPECT_FALSE(names.contains("http/1"));
  const Bytes shares = {0, 0x1d, 0, 2, 9, 9, 0, 0x17, 0, 1, 7};
  KeyShareList list(shares);
  EXPECT_EQ(list.size(), 2u);
  KeyShareEntry e;
  ASSERT_TRUE(list.at(1, &e));
  EXPECT_EQ(e.group, 0x17);
  EXPECT_EQ(Hex(e.key_exchange), "07");
  EXPECT_FALSE(list.at(2, &e));
  const Bytes u16 = {0x13, 0x01, 0x13, 0x02};
  U16List l(u16);
  EXPECT_EQ(l.size(), 2u);
  EXPECT_TRUE(l.contains(0x1302));
  EXPECT_FALSE(l.contains(0x0213));
}

TEST(MessagesTest, CertificateVerifyContent) {
  // RFC 8446 section 4.4.3: 64 spaces, the context string, 0, the hash.
  const Bytes hash(32, 0xab);
  Bytes buf(kCertificateVerifyContentMax);
  ByteWriter w(buf);
  ASSERT_TRUE(build_certificate_verify_content(true, hash, &w));
  const std::string s(buf.begin(), buf.begin() + static_cast<long>(w.size()));
  EXPECT_EQ(s.size(), 64u + 33u + 1u + 32u);
  EXPECT_EQ(s.substr(0, 64), std::string(64, ' '));
  EXPECT_EQ(s.substr(64, 33), "TLS 1.3, server CertificateVerify");
  EXPECT_EQ(s[97], '\0');
  ByteWriter w2(buf);
  ASSERT_TRUE(build_certificate_verify_content(false, hash, &w2));
  EXPECT_EQ(std::string(buf.begin() + 64, buf.begin() + 97),
            "TLS 1.3, client CertificateVerify");
  Bytes small(50);
  ByteWriter w3(small);
  EXPECT_FALSE(build_certificate_verify_content(true, hash, &w3));
}

// ---- writer refusals ----

TEST(MessagesTest, WritersRefuseBadParametersAndShortBuffers) {
  Bytes buf(4096);
  const Bytes random(32, 1);
  const Bytes key(32, 2);
  ServerHelloParams sh;
  sh.random = random;
  sh.cipher_suite = 0x1301;
  sh.key_share_group = 0x1d;
  sh.key_share = key;
  {
    ByteWriter w(buf);
    EXPECT_TRUE(write_server_hello(sh, &w));
    Bytes tiny(50);
    ByteWriter t(tiny);
    EXPECT_FALSE(write_server_hello(sh, &t));
  }
  {
    const Bytes short_random(31, 1);
    ServerHelloParams bad = sh;
    bad.random = short_random;
    ByteWriter w(buf);
    EXPECT_FALSE(write_server_hello(bad, &w));
    const Bytes long_sid(33, 1);
    bad = sh;
    bad.legacy_session_id_echo = long_sid;
    ByteWriter w2(buf);
    EXPECT_FALSE(write_server_hello(bad, &w2));
  }
  {
    EncryptedExtensionsParams ee;
    const std::string long_alpn(256, 'a');
    ee.alpn = long_alpn;
    ByteWriter w(buf);
    EXPECT_FALSE(write_encrypted_extensions(ee, &w));
    ee.alpn = "h2";
    ee.record_size_limit = 63;
    ByteWriter w2(buf);
    EXPECT_FALSE(write_encrypted_extensions(ee, &w2));
  }
  {
    CertificateRequestParams cr;
    ByteWriter w(buf);
    EXPECT_FALSE(write_certificate_request(cr, &w)) << "no schemes";
  }
  {
    const Bytes empty;
    const std::vector<std::span<const uint8_t>> chain = {empty};
    ByteWriter w(buf);
    EXPECT_FALSE(write_certificate({}, chain, {}, &w)) << "empty cert_data";
    const Bytes ctx(256, 0);
    ByteWriter w2(buf);
    EXPECT_FALSE(write_certificate(ctx, {}, {}, &w2));
  }
  {
    ByteWriter w(buf);
    EXPECT_FALSE(write_finished({}, &w));
    ByteWriter w2(buf);
    EXPECT_FALSE(write_certificate_verify(SignatureScheme::kEd25519, {}, &w2));
  }
  {
    const Bytes ticket(10, 1);
    NewSessionTicketParams nst;
    nst.ticket = ticket;
    nst.lifetime = 604801;
    ByteWriter w(buf);
    EXPECT_FALSE(write_new_session_ticket(nst, &w)) << "over 7 days";
    nst.lifetime = 604800;
    nst.ticket = {};
    ByteWriter w2(buf);
    EXPECT_FALSE(write_new_session_ticket(nst, &w2)) << "empty ticket";
  }
}

TEST(MessagesTest, OcspStapleInTheLeafEntry) {
  const Bytes leaf = {0x30, 1, 2};
  const Bytes inter = {0x30, 3};
  const Bytes ocsp = {9, 9, 9};
  const std::vector<std::span<const uint8_t>> chain = {leaf, inter};
  Bytes buf(256);
  ByteWriter w(buf);
  ASSERT_TRUE(write_certificate({}, chain, ocsp, &w));
  buf.resize(w.size());
  EXPECT_EQ(Hex(buf),
            "0b00001e"        // Certificate, 30 bytes
            "00"              // empty certificate_request_context
            "00001a"          // certificate_list, 26 bytes
            "000003300102"    // leaf cert_data
            "000b"            // leaf extensions, 11 bytes
            "00050007"        // status_request, 7 bytes
            "01000003090909"  // ocsp, OCSPResponse<1..2^24-1>
            "0000023003"      // intermediate cert_data
            "0000");          // no extensions
}

// ---- ClientHello reader: the remaining paths ----

TEST(ClientHelloParseTest, HeaderChecks) {
  ClientHello ch;
  Alert alert;
  EXPECT_FALSE(parse_client_hello(Bytes{2, 0, 0, 0}, &ch, &alert));
  EXPECT_EQ(alert, Alert::kUnexpectedMessage);
  EXPECT_FALSE(parse_client_hello(Bytes{1, 0, 0, 5, 3, 3}, &ch, &alert));
  EXPECT_EQ(alert, Alert::kDecodeError);
  EXPECT_FALSE(parse_client_hello(Bytes{1, 0}, &ch, &alert));
  EXPECT_EQ(alert, Alert::kDecodeError);
}

Bytes MinimalHello(const Bytes& extensions, bool with_block = true) {
  Bytes body = {3, 3};
  body.resize(body.size() + 32, 7);
  body.insert(body.end(), {0, 0, 2, 0x13, 0x01, 1, 0});
  if (with_block) {
    body.push_back(static_cast<uint8_t>(extensions.size() >> 8));
    body.push_back(static_cast<uint8_t>(extensions.size()));
    body.insert(body.end(), extensions.begin(), extensions.end());
  }
  Bytes msg = {1, 0, static_cast<uint8_t>(body.size() >> 8),
               static_cast<uint8_t>(body.size())};
  msg.insert(msg.end(), body.begin(), body.end());
  return msg;
}

TEST(ClientHelloParseTest, OptionalExtensions) {
  ClientHello ch;
  Alert alert;
  ASSERT_TRUE(parse_client_hello(MinimalHello({}, false), &ch, &alert));
  EXPECT_FALSE(ch.has_extension_block);
  ASSERT_TRUE(parse_client_hello(MinimalHello({}), &ch, &alert));
  EXPECT_TRUE(ch.has_extension_block);
  const Bytes exts = {
      0,    5,    0, 5, 1,    0,    0,    0,
      0,  // status_request: ocsp, empty lists
      0,    50,   0, 4, 0,    2,    8,    7,  // signature_algorithms_cert
      0,    16,   0, 5, 0,    3,    2,    'h',
      '2',                                 // ALPN
      0,    28,   0, 2, 0x40, 0x01,        // record_size_limit
      0,    44,   0, 3, 0,    1,    0xcc,  // cookie
      0,    42,   0, 0,                    // early_data
      0x12, 0x34, 0, 1, 0xff,              // unknown
  };
  // The views borrow the message: keep it alive.
  const Bytes msg = MinimalHello(exts);
  ASSERT_TRUE(parse_client_hello(msg, &ch, &alert)) << alert_name(alert);
  EXPECT_EQ(ch.status_type, 1);
  EXPECT_TRUE(ch.has(ExtensionType::kStatusRequest));
  EXPECT_TRUE(ch.signature_algorithms_cert.contains(0x0807));
  EXPECT_TRUE(ch.alpn.contains("h2"));
  EXPECT_EQ(ch.record_size_limit, 0x4001);
  EXPECT_EQ(Hex(ch.cookie), "cc");
  EXPECT_TRUE(ch.has(ExtensionType::kEarlyData));
  EXPECT_FALSE(ch.has(ExtensionType::kSupportedVersions));
  // A status_request of another type is kept and skipped.
  const Bytes other = MinimalHello({0, 5, 0, 3, 2, 1, 1});
  ASSERT_TRUE(parse_client_hello(other, &ch, &alert));
  EXPECT_EQ(ch.status_type, 2);
  // Trailing bytes after the extensions block.
  Bytes trailing = MinimalHello({});
  trailing.push_back(0);
  trailing[3] = static_cast<uint8_t>(trailing[3] + 1);
  EXPECT_FALSE(parse_client_hello(trailing, &ch, &alert));
  EXPECT_EQ(alert, Alert::kDecodeError);
  // An extension header cut short.
  EXPECT_FALSE(parse_client_hello(MinimalHello({0, 10, 0}), &ch, &alert));
  EXPECT_EQ(alert, Alert::kDecodeError);
}

}  // namespace
}  // namespace dptls::tls
