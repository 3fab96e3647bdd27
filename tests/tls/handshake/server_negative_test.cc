// The server handshake's failures: each malformed, forbidden or
// out-of-order input ends the handshake with the alert RFC 8446 section 6.2
// names, and the exact alert byte is on the wire (plaintext before the
// ServerHello; protected with the server handshake key after it, opened
// here with an independent EVP record layer and by libssl itself).
//
// Inputs are a libssl client (tampered where needed) or ClientHellos built
// by hand. A seeded fuzz loop checks that no input crashes or hangs and that
// every failure still sends its alert.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/handshake/server.h"
#include "tls/handshake/handshake_test_support.h"

namespace dptls::tls {
namespace {

using testing::Bytes;
using testing::Cat;
using testing::ChBuilder;
using testing::ClientOptions;
using testing::EvpRecordCipher;
using testing::Exchange;
using testing::FeedFresh;
using testing::KeyShareBody;
using testing::MakeContext;
using testing::Record;
using testing::ServerRun;
using testing::SplitRecords;
using testing::Sub;
using testing::TestClient;
using testing::TrailingPlaintextAlert;
using testing::U16ListBody;

int AlertCode(Alert a) { return static_cast<int>(a); }

std::shared_ptr<const ServerContext> DefaultContext() {
  static const auto ctx = MakeContext(ServerConfig{});
  return ctx;
}

// Feeds a hand-built ClientHello and expects the handshake to fail with
// `want`, sent as a plaintext alert record.
void ExpectPlaintextAlert(
    const Bytes& input, Alert want,
    const std::shared_ptr<const ServerContext>& ctx = nullptr) {
  const ServerRun run = FeedFresh(ctx ? ctx : DefaultContext(), input);
  EXPECT_EQ(run.result.state, HandshakeState::kFailed);
  EXPECT_FALSE(run.result.alert_from_peer);
  EXPECT_EQ(alert_name(run.result.alert), alert_name(want));
  EXPECT_EQ(TrailingPlaintextAlert(run.out), AlertCode(want))
      << "the alert record on the wire";
  // Nothing but the alert went out.
  EXPECT_EQ(run.out.size(), 7u);
  if (run.out.size() == 7u) {
    EXPECT_EQ(run.out[5], 2) << "fatal";
  }
}

// True when the server answered with a ServerHello.
bool AnsweredWithServerHello(const ServerRun& run) {
  const auto records = SplitRecords(run.out);
  return run.result.state == HandshakeState::kNeedMore && !records.empty() &&
         records[0].type == 22 && !records[0].body.empty() &&
         records[0].body[0] == 2;
}

// ---- the baseline ----

TEST(ClientHelloTest, BaselineGetsServerHello) {
  ChBuilder ch;
  EXPECT_TRUE(
      AnsweredWithServerHello(FeedFresh(DefaultContext(), ch.Record())));
}

TEST(ClientHelloTest, GreaseAndUnknownValuesIgnored) {
  ChBuilder ch;
  ch.suites = {0x2a2a, 0x1301, 0x1302, 0x1303};
  ch.Set(10, U16ListBody({0x5a5a, 0x001d, 0x0017}));
  ch.Set(43, testing::SupportedVersionsBody({0x3a3a, 0x0304, 0x0303}));
  ch.Set(13, U16ListBody({0x6a6a, 0x0403, 0x0807}));
  ch.Prepend(0x0a0a, Bytes{});
  ch.extensions.push_back({0xfafa, Bytes{0}});
  ch.extensions.push_back({0x4444, Bytes{1, 2, 3}});
  ch.extensions.push_back({21, Bytes(100, 0)});  // padding
  EXPECT_TRUE(
      AnsweredWithServerHello(FeedFresh(DefaultContext(), ch.Record())));
}

TEST(ClientHelloTest, ShareForAGreaseGroupIgnored) {
  ChBuilder ch;
  ch.Set(10, U16ListBody({0x8a8a, 0x001d}));
  Bytes x = testing::PublicShare(NamedGroup::kX25519, &ch.x25519);
  ch.Set(51, KeyShareBody({{0x8a8a, Bytes{0}}, {0x001d, x}}));
  EXPECT_TRUE(
      AnsweredWithServerHello(FeedFresh(DefaultContext(), ch.Record())));
}

// ---- decode_error: every truncation ----

TEST(ClientHelloTest, EveryTruncationIsADecodeError) {
  const Bytes full = ChBuilder().Message();
  const size_t body_len = full.size() - 4;
  // The body ends right after legacy_compression_methods here: a
  // well-formed hello without extensions, i.e. TLS 1.2 or older.
  const size_t no_ext_len = 2 + 32 + 1 + 32 + 2 + 6 + 1 + 1;
  for (size_t len = 0; len < body_len; ++len) {
    const Bytes msg =
        Cat({1, static_cast<uint8_t>(len >> 16), static_cast<uint8_t>(len >> 8),
             static_cast<uint8_t>(len)},
            Sub(full, 4, len));
    const Bytes rec = Cat({22, 3, 1, static_cast<uint8_t>(msg.size() >> 8),
                           static_cast<uint8_t>(msg.size())},
                          msg);
    SCOPED_TRACE("body length " + std::to_string(len));
    // (len 0 is an empty message in a 4-byte record: a decode_error too.)
    ExpectPlaintextAlert(
        rec, len == no_ext_len ? Alert::kProtocolVersion : Alert::kDecodeError);
  }
}

TEST(ClientHelloTest, EveryExtensionCutShortIsADecodeError) {
  const ChBuilder base;
  for (size_t i = 0; i < base.extensions.size(); ++i) {
    ChBuilder ch;
    ch.extensions = base.extensions;
    ch.extensions[i].second.pop_back();
    SCOPED_TRACE("extension " + std::to_string(ch.extensions[i].first));
    ExpectPlaintextAlert(ch.Record(), Alert::kDecodeError);
  }
}

TEST(ClientHelloTest, MalformedVectorsAreDecodeErrors) {
  auto expect = [](const std::function<void(ChBuilder*)>& mutate,
                   const char* what) {
    ChBuilder ch;
    mutate(&ch);
    SCOPED_TRACE(what);
    ExpectPlaintextAlert(ch.Record(), Alert::kDecodeError);
  };
  expect([](ChBuilder* c) { c->session_id = Bytes(33, 1); }, "session id 33");
  expect([](ChBuilder* c) { c->suites.clear(); }, "no cipher suites");
  expect([](ChBuilder* c) { c->compression.clear(); }, "no compression");
  expect([](ChBuilder* c) { c->Set(10, Bytes{0, 0}); }, "empty groups");
  expect(
      [](ChBuilder* c) {
        c->Set(10, Bytes{0, 3, 0, 0x1d, 0});
      },
      "odd groups");
  expect([](ChBuilder* c) { c->Set(43, Bytes{0}); }, "empty versions");
  expect(
      [](ChBuilder* c) {
        c->Set(51, KeyShareBody({{0x1d, Bytes{}}}));
      },
      "empty key_exchange");
  expect(
      [](ChBuilder* c) {
        c->Set(16, testing::AlpnBody({"h2", ""}));
      },
      "empty ALPN name");
  expect([](ChBuilder* c) { c->Set(16, Bytes{0, 0}); }, "empty ALPN list");
  expect([](ChBuilder* c) { c->Set(42, Bytes{0}); }, "early_data with data");
  expect([](ChBuilder* c) { c->Set(44, Bytes{0, 0}); }, "empty cookie");
  expect([](ChBuilder* c) { c->Set(28, Bytes{0x40}); }, "1-byte size limit");
  expect([](ChBuilder* c) { c->Set(45, Bytes{0}); }, "no psk modes");
  expect(
      [](ChBuilder* c) {
        c->Set(0, Bytes{0, 3, 1, 0, 0});
      },
      "SNI of type 1");
  expect([](ChBuilder* c) { c->Set(0, testing::SniBody("")); }, "empty SNI");
  expect([](ChBuilder* c) { c->Set(5, Bytes{1, 0, 1}); }, "status_request cut");
  expect(
      [](ChBuilder* c) {
        // identities<7..> of one identity, binders vector absent.
        c->Set(41, Bytes{0, 7, 0, 1, 'a', 0, 0, 0, 0});
      },
      "psk without binders");
  expect(
      [](ChBuilder* c) {
        c->Set(41, Bytes{0, 7, 0, 1, 'a', 0, 0, 0, 0, 0, 2, 1, 0});
      },
      "psk binder shorter than 32");
}

// ---- illegal_parameter ----

TEST(ClientHelloTest, DuplicatedExtensionIsIllegalParameter) {
  for (uint16_t type : {uint16_t{10}, uint16_t{0}, uint16_t{51}}) {
    ChBuilder ch;
    ch.extensions.push_back({type, *ch.Find(type)});
    SCOPED_TRACE(type);
    ExpectPlaintextAlert(ch.Record(), Alert::kIllegalParameter);
  }
  ChBuilder unknown;
  unknown.extensions.push_back({0x1234, Bytes{}});
  unknown.extensions.push_back({0x1234, Bytes{}});
  ExpectPlaintextAlert(unknown.Record(), Alert::kIllegalParameter);
}

TEST(ClientHelloTest, PreSharedKeyNotLastIsIllegalParameter) {
  ChBuilder ch;
  Bytes psk = {0, 7, 0, 1, 'a', 0, 0, 0, 0, 0, 33, 32};
  psk.resize(psk.size() + 32, 0xab);
  ch.Set(41, psk);
  ch.extensions.push_back({0x4444, Bytes{}});
  ExpectPlaintextAlert(ch.Record(), Alert::kIllegalParameter);
  // As the last extension it is fine (and ignored: no PSK support yet).
  ChBuilder last;
  last.Set(41, psk);
  EXPECT_TRUE(
      AnsweredWithServerHello(FeedFresh(DefaultContext(), last.Record())));
  // One binder per identity.
  ChBuilder two;
  Bytes psk2 = {0, 14, 0, 1, 'a', 0, 0, 0, 0, 0, 1, 'b', 0, 0, 0, 0, 0, 33, 32};
  psk2.resize(psk2.size() + 32, 0xab);
  two.Set(41, psk2);
  ExpectPlaintextAlert(two.Record(), Alert::kIllegalParameter);
}

TEST(ClientHelloTest, ForbiddenValuesAreIllegalParameter) {
  auto expect = [](const std::function<void(ChBuilder*)>& mutate,
                   const char* what) {
    ChBuilder ch;
    mutate(&ch);
    SCOPED_TRACE(what);
    ExpectPlaintextAlert(ch.Record(), Alert::kIllegalParameter);
  };
  expect([](ChBuilder* c) { c->compression = {1}; }, "compression 1");
  expect([](ChBuilder* c) { c->compression = {0, 1}; }, "compression 0,1");
  expect([](ChBuilder* c) { c->Set(28, Bytes{0, 63}); }, "size limit 63");
  expect(
      [](ChBuilder* c) {
        c->Set(51, KeyShareBody({{0x1d, Bytes(31, 9)}}));
      },
      "x25519 share of 31 bytes");
  expect(
      [](ChBuilder* c) {
        c->Set(51, KeyShareBody({{0x1d, Bytes(32, 0)}}));
      },
      "x25519 share of zeros");
  expect(
      [](ChBuilder* c) {
        const Bytes x = testing::PublicShare(NamedGroup::kX25519);
        c->Set(51, KeyShareBody({{0x1d, x}, {0x1d, x}}));
      },
      "two shares for one group");
  expect(
      [](ChBuilder* c) {
        c->Set(51, KeyShareBody(
                       {{0x18, Bytes(97, 4)},
                        {0x1d, testing::PublicShare(NamedGroup::kX25519)}}));
      },
      "share for a group not in supported_groups");
}

TEST(ClientHelloTest, BadP256PointsAreIllegalParameter) {
  ServerConfig cfg;
  cfg.groups = {NamedGroup::kSecp256r1};
  const auto ctx = MakeContext(cfg);
  Bytes good = testing::PublicShare(NamedGroup::kSecp256r1);
  auto with_share = [](const Bytes& share) {
    ChBuilder ch;
    ch.Set(51, KeyShareBody({{0x17, share}}));
    return ch.Record();
  };
  EXPECT_TRUE(AnsweredWithServerHello(FeedFresh(ctx, with_share(good))));
  Bytes off_curve = good;
  off_curve[64] ^= 1;
  ExpectPlaintextAlert(with_share(off_curve), Alert::kIllegalParameter, ctx);
  Bytes compressed(good.begin(), good.begin() + 33);
  compressed[0] = 2 + (good[64] & 1);
  ExpectPlaintextAlert(with_share(compressed), Alert::kIllegalParameter, ctx);
  Bytes hybrid = good;
  hybrid[0] = 6;
  ExpectPlaintextAlert(with_share(hybrid), Alert::kIllegalParameter, ctx);
  ExpectPlaintextAlert(with_share(Bytes(65, 0)), Alert::kIllegalParameter, ctx);
}

TEST(ClientHelloTest, SniWithNulIsUnrecognizedName) {
  ChBuilder ch;
  ch.Set(0, testing::SniBody(std::string("a\0b", 3)));
  ExpectPlaintextAlert(ch.Record(), Alert::kUnrecognizedName);
}

// ---- missing_extension, protocol_version, handshake_failure ----

TEST(ClientHelloTest, MandatoryExtensionsMissing) {
  for (uint16_t type : {uint16_t{13}, uint16_t{10}, uint16_t{51}}) {
    ChBuilder ch;
    ch.Remove(type);
    SCOPED_TRACE(type);
    ExpectPlaintextAlert(ch.Record(), Alert::kMissingExtension);
  }
  ChBuilder psk_without_modes;
  psk_without_modes.Remove(45);
  Bytes psk = {0, 7, 0, 1, 'a', 0, 0, 0, 0, 0, 33, 32};
  psk.resize(psk.size() + 32, 0xab);
  psk_without_modes.Set(41, psk);
  ExpectPlaintextAlert(psk_without_modes.Record(), Alert::kMissingExtension);
}

TEST(ClientHelloTest, NoTls13IsProtocolVersion) {
  ChBuilder no_ext;
  no_ext.no_extension_block = true;
  ExpectPlaintextAlert(no_ext.Record(), Alert::kProtocolVersion);
  ChBuilder tls12;
  tls12.Remove(43);
  ExpectPlaintextAlert(tls12.Record(), Alert::kProtocolVersion);
  ChBuilder only12;
  only12.Set(43, testing::SupportedVersionsBody({0x0303, 0x0302}));
  ExpectPlaintextAlert(only12.Record(), Alert::kProtocolVersion);
}

// A libssl client against our server; both the alert we sent and the one
// the client read.
void ExpectClientGetsAlert(
    const ServerConfig& cfg, const ClientOptions& o, Alert want,
    std::vector<std::shared_ptr<const Credential>> creds = {}) {
  TestClient client(o);
  ServerHandshake server(MakeContext(cfg, std::move(creds)),
                         testing::Backend());
  const Exchange ex = testing::RunHandshake(client, server);
  EXPECT_EQ(ex.server.state, HandshakeState::kFailed);
  EXPECT_FALSE(ex.server.alert_from_peer);
  EXPECT_EQ(alert_name(ex.server.alert), alert_name(want));
  EXPECT_EQ(TrailingPlaintextAlert(ex.server_wire), AlertCode(want));
  EXPECT_EQ(client.alert_received, AlertCode(want));
  EXPECT_FALSE(client.handshake_done());
}

TEST(ServerFailureTest, Tls12OnlyClientGetsProtocolVersion) {
  ClientOptions o;
  o.max_version = TLS1_2_VERSION;
  ExpectClientGetsAlert(ServerConfig{}, o, Alert::kProtocolVersion);
}

TEST(ServerFailureTest, NoCommonGroupIsHandshakeFailure) {
  ClientOptions o;
  o.groups = "P-521";
  ExpectClientGetsAlert(ServerConfig{}, o, Alert::kHandshakeFailure);
}

TEST(ServerFailureTest, NoCommonSuiteIsHandshakeFailure) {
  ServerConfig cfg;
  cfg.cipher_suites = {CipherSuite::kAes128GcmSha256};
  ClientOptions o;
  o.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384";
  ExpectClientGetsAlert(cfg, o, Alert::kHandshakeFailure);
}

TEST(ServerFailureTest, NoCommonSignatureIsHandshakeFailure) {
  ClientOptions o;
  o.sigalgs = "ed25519";
  ExpectClientGetsAlert(ServerConfig{}, o, Alert::kHandshakeFailure,
                        {testing::Pki().Load(testing::Pki().leaves.at("ec")),
                         testing::Pki().Load(testing::Pki().leaves.at("rsa"))});
  // The server's schemes limit it too.
  ServerConfig cfg;
  cfg.signature_schemes = {SignatureScheme::kRsaPssRsaeSha256};
  o.sigalgs = "ecdsa_secp256r1_sha256:ed25519";
  ExpectClientGetsAlert(cfg, o, Alert::kHandshakeFailure);
}

TEST(ServerFailureTest, NoCommonAlpnIsNoApplicationProtocol) {
  ServerConfig cfg;
  cfg.alpn_protocols = {"h2"};
  ClientOptions o;
  o.alpn = {"http/1.1", "spdy/3"};
  ExpectClientGetsAlert(cfg, o, Alert::kNoApplicationProtocol);
}

TEST(ServerFailureTest, StrictSniWithoutMatchIsUnrecognizedName) {
  ServerConfig cfg;
  cfg.require_sni_match = true;
  ClientOptions o;
  o.sni = "other.test";
  o.verify = false;
  ExpectClientGetsAlert(cfg, o, Alert::kUnrecognizedName);
  // A wildcard match is a match.
  ChBuilder ch;
  ch.Set(0, testing::SniBody("Any.Wild.Test"));
  EXPECT_TRUE(
      AnsweredWithServerHello(FeedFresh(MakeContext(cfg), ch.Record())));
}

// ---- record layer and message order before the keys ----

TEST(MessageOrderTest, FirstMessageMustBeClientHello) {
  // A Finished where the ClientHello should be.
  ExpectPlaintextAlert(Bytes{22, 3, 3, 0, 8, 20, 0, 0, 4, 1, 2, 3, 4},
                       Alert::kUnexpectedMessage);
  // change_cipher_spec before any ClientHello (RFC 8446 section 5).
  ExpectPlaintextAlert(Bytes{20, 3, 3, 0, 1, 1}, Alert::kUnexpectedMessage);
  // Application data in the plaintext epoch.
  ExpectPlaintextAlert(Bytes{23, 3, 3, 0, 3, 1, 2, 3},
                       Alert::kUnexpectedMessage);
  // An unknown content type.
  ExpectPlaintextAlert(Bytes{99, 3, 3, 0, 1, 0}, Alert::kUnexpectedMessage);
}

TEST(MessageOrderTest, RecordLevelErrors) {
  // Longer than any TLS 1.3 record (2^14 + 256).
  ExpectPlaintextAlert(Bytes{22, 3, 1, 0x41, 0x01}, Alert::kRecordOverflow);
  // A plaintext record over 2^14.
  Bytes big = {22, 3, 1, 0x40, 0x01};
  big.resize(big.size() + 0x4001, 0);
  ExpectPlaintextAlert(big, Alert::kRecordOverflow);
  // A zero-length handshake fragment.
  ExpectPlaintextAlert(Bytes{22, 3, 1, 0, 0}, Alert::kDecodeError);
  // A ClientHello claiming more than the largest one allowed.
  ExpectPlaintextAlert(Bytes{22, 3, 1, 0, 4, 1, 0x02, 0x10, 0x00},
                       Alert::kDecodeError);
  // A plaintext alert from the client ends the handshake, sending nothing.
  const ServerRun run =
      FeedFresh(DefaultContext(), Bytes{21, 3, 3, 0, 2, 2, 40});
  EXPECT_EQ(run.result.state, HandshakeState::kFailed);
  EXPECT_TRUE(run.result.alert_from_peer);
  EXPECT_EQ(run.result.alert, Alert::kHandshakeFailure);
  EXPECT_TRUE(run.out.empty());
}

TEST(MessageOrderTest, ClientHelloSplitAcrossRecordsAndCalls) {
  const Bytes msg = ChBuilder().Message();
  Bytes wire;
  for (size_t off = 0; off < msg.size(); off += 50) {
    const size_t n = std::min<size_t>(50, msg.size() - off);
    wire = Cat(wire,
               Cat({22, 3, 1, 0, static_cast<uint8_t>(n)}, Sub(msg, off, n)));
  }
  ServerHandshake hs(DefaultContext(), testing::Backend());
  Bytes out;
  for (size_t off = 0; off < wire.size(); off += 7) {
    const size_t n = std::min<size_t>(7, wire.size() - off);
    hs.feed(std::span<const uint8_t>(wire).subspan(off, n), &out);
  }
  EXPECT_EQ(hs.state(), HandshakeState::kNeedMore);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(SplitRecords(out)[0].body[0], 2) << "ServerHello";
}

TEST(MessageOrderTest, KeyChangeMustBeAtARecordBoundary) {
  // The ClientHello and the start of another message in one record
  // (RFC 8446 section 5.1).
  const Bytes msg = Cat(ChBuilder().Message(), {20, 0, 0, 32});
  const Bytes rec = Cat({22, 3, 1, static_cast<uint8_t>(msg.size() >> 8),
                         static_cast<uint8_t>(msg.size())},
                        msg);
  ExpectPlaintextAlert(rec, Alert::kUnexpectedMessage);
}

TEST(MessageOrderTest, PlaintextHandshakeAfterServerHello) {
  ServerHandshake hs(DefaultContext(), testing::Backend());
  Bytes out;
  hs.feed(ChBuilder().Record(), &out);
  ASSERT_EQ(hs.state(), HandshakeState::kNeedMore);
  out.clear();
  // The client's next handshake message must be protected.
  const FeedResult r = hs.feed(ChBuilder().Record(), &out);
  EXPECT_EQ(r.state, HandshakeState::kFailed);
  EXPECT_EQ(r.alert, Alert::kUnexpectedMessage);
  // The alert goes out protected now: one application_data record.
  const auto records = SplitRecords(out);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].type, 23);
  EXPECT_EQ(records[0].body.size(), 2u + 1u + 16u);
  // Nothing more after a failure.
  out.clear();
  EXPECT_EQ(hs.feed(Bytes{1, 2, 3}, &out).state, HandshakeState::kFailed);
  EXPECT_TRUE(out.empty());
}

TEST(MessageOrderTest, ChangeCipherSpecRules) {
  auto after_hello = [](const Bytes& ccs, HandshakeState want) {
    ServerHandshake hs(DefaultContext(), testing::Backend());
    Bytes wire = ChBuilder().Record();
    wire.insert(wire.end(), ccs.begin(), ccs.end());
    Bytes out;
    const FeedResult r = hs.feed(wire, &out);
    EXPECT_EQ(r.state, want);
    return r;
  };
  // One is dropped (middlebox compatibility).
  after_hello({20, 3, 3, 0, 1, 1}, HandshakeState::kNeedMore);
  // A second one, or a value other than 1, is unexpected_message.
  EXPECT_EQ(after_hello({20, 3, 3, 0, 1, 1, 20, 3, 3, 0, 1, 1},
                        HandshakeState::kFailed)
                .alert,
            Alert::kUnexpectedMessage);
  EXPECT_EQ(after_hello({20, 3, 3, 0, 1, 2}, HandshakeState::kFailed).alert,
            Alert::kUnexpectedMessage);
  EXPECT_EQ(after_hello({20, 3, 3, 0, 2, 1, 1}, HandshakeState::kFailed).alert,
            Alert::kUnexpectedMessage);
}

// ---- HelloRetryRequest: the second ClientHello ----

class RetryTest : public ::testing::Test {
 protected:
  RetryTest() {
    ServerConfig cfg;
    cfg.groups = {NamedGroup::kX25519};
    ctx_ = MakeContext(cfg);
    // ClientHello1: supports x25519 and P-256, shares P-256 only.
    ch1_.Set(51, KeyShareBody(
                     {{0x17, testing::PublicShare(NamedGroup::kSecp256r1)}}));
    ch1_.Set(42, Bytes{});  // early_data offered in ClientHello1 is fine
  }

  // Sends ClientHello1, checks the HelloRetryRequest and returns its cookie.
  Bytes Start(ServerHandshake* hs) {
    Bytes out;
    EXPECT_EQ(hs->feed(ch1_.Record(), &out).state, HandshakeState::kNeedMore);
    const auto records = SplitRecords(out);
    EXPECT_EQ(records.size(), 2u) << "HelloRetryRequest and one CCS";
    if (records.size() != 2) {
      return {};
    }
    EXPECT_EQ(records[1].type, 20);
    const Bytes& hrr = records[0].body;
    // ... selected_group x25519, cookie, supported_versions (RFC 8448
    // order): find the cookie by its type.
    for (size_t i = 4 + 2 + 32 + 1 + 32 + 2 + 1 + 2; i + 4 <= hrr.size();) {
      const size_t type = (size_t{hrr[i]} << 8) | hrr[i + 1];
      const size_t len = (size_t{hrr[i + 2]} << 8) | hrr[i + 3];
      if (type == 44) {
        return Bytes(hrr.begin() + static_cast<long>(i + 4),
                     hrr.begin() + static_cast<long>(i + 4 + len));
      }
      i += 4 + len;
    }
    ADD_FAILURE() << "no cookie in the HelloRetryRequest";
    return {};
  }

  // ClientHello2 as it should be: x25519 share, cookie echoed, no
  // early_data.
  ChBuilder Second(const Bytes& cookie_ext) {
    ChBuilder ch2;
    ch2.random = ch1_.random;
    ch2.session_id = ch1_.session_id;
    ch2.Set(44, cookie_ext);
    return ch2;
  }

  FeedResult FeedSecond(ServerHandshake* hs, const ChBuilder& ch2, Bytes* out) {
    return hs->feed(ch2.Record(), out);
  }

  std::shared_ptr<const ServerContext> ctx_;
  ChBuilder ch1_;
};

TEST_F(RetryTest, CorrectSecondHelloGetsServerHello) {
  ServerHandshake hs(ctx_, testing::Backend());
  const Bytes cookie = Start(&hs);
  Bytes out;
  ASSERT_EQ(FeedSecond(&hs, Second(cookie), &out).state,
            HandshakeState::kNeedMore);
  const auto records = SplitRecords(out);
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records[0].body[0], 2);
  EXPECT_EQ(records[1].type, 23) << "no second change_cipher_spec";
  EXPECT_EQ(hs.kind(), HandshakeKind::kHelloRetry);
}

TEST_F(RetryTest, SecondHelloViolations) {
  struct Case {
    const char* what;
    std::function<void(ChBuilder*)> mutate;
    Alert want;
  };
  const std::vector<Case> cases = {
      {"no cookie", [](ChBuilder* c) { c->Remove(44); },
       Alert::kMissingExtension},
      {"wrong cookie", [](ChBuilder* c) { c->Find(44)->back() ^= 1; },
       Alert::kIllegalParameter},
      {"share for another group",
       [](ChBuilder* c) {
         c->Set(51,
                KeyShareBody(
                    {{0x17, testing::PublicShare(NamedGroup::kSecp256r1)}}));
       },
       Alert::kIllegalParameter},
      {"two shares",
       [](ChBuilder* c) {
         c->Set(51,
                KeyShareBody(
                    {{0x1d, testing::PublicShare(NamedGroup::kX25519)},
                     {0x17, testing::PublicShare(NamedGroup::kSecp256r1)}}));
       },
       Alert::kIllegalParameter},
      {"early_data", [](ChBuilder* c) { c->Set(42, Bytes{}); },
       Alert::kIllegalParameter},
      {"other session id", [](ChBuilder* c) { c->session_id[0] ^= 1; },
       Alert::kIllegalParameter},
      {"suite dropped", [](ChBuilder* c) { c->suites = {0x1302}; },
       Alert::kIllegalParameter},
      {"TLS 1.2 now", [](ChBuilder* c) { c->Remove(43); },
       Alert::kProtocolVersion},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ServerHandshake hs(ctx_, testing::Backend());
    const Bytes cookie = Start(&hs);
    ChBuilder ch2 = Second(cookie);
    c.mutate(&ch2);
    Bytes out;
    const FeedResult r = FeedSecond(&hs, ch2, &out);
    EXPECT_EQ(r.state, HandshakeState::kFailed);
    EXPECT_EQ(alert_name(r.alert), alert_name(c.want));
    EXPECT_EQ(TrailingPlaintextAlert(out), AlertCode(c.want));
  }
}

TEST_F(RetryTest, EarlyDataSkippedBetweenTheHellos) {
  ServerHandshake hs(ctx_, testing::Backend());
  Bytes out;
  // ClientHello1 offered early_data: its 0-RTT records (application_data
  // in the plaintext epoch) are dropped (RFC 8446 section 4.2.10) ...
  Bytes wire = ch1_.Record();
  for (int i = 0; i < 3; ++i) {
    wire = Cat(wire, Cat({23, 3, 3, 0, 20}, Bytes(20, 0x5a)));
  }
  ASSERT_EQ(hs.feed(wire, &out).state, HandshakeState::kNeedMore);
  const auto records = SplitRecords(out);
  ASSERT_FALSE(records.empty());
  // ... and the retry goes on.
}

// ---- after the ServerHello: tampering with a libssl client's flight ----

// The client's second flight with its protected records opened with the
// secrets libssl logged, rewritten by `edit`, and sealed again.
struct FinishedTamper {
  TestClient* client;
  std::function<void(Bytes* plaintext_messages)> edit;
  bool flip_ciphertext = false;

  void operator()(size_t flight, Bytes* bytes) const {
    if (flight != 1) {
      return;
    }
    const CipherSuiteInfo& suite = *find_cipher_suite(
        static_cast<uint16_t>(CipherSuite::kAes128GcmSha256));
    const Bytes secret = client->keylog["CLIENT_HANDSHAKE_TRAFFIC_SECRET"];
    EvpRecordCipher opener(suite, secret);
    EvpRecordCipher sealer(suite, secret);
    std::vector<Record> records = SplitRecords(*bytes);
    Bytes out;
    for (Record& r : records) {
      if (r.type != 23) {
        out.insert(out.end(), r.header.begin(), r.header.end());
        out.insert(out.end(), r.body.begin(), r.body.end());
        continue;
      }
      if (flip_ciphertext) {
        r.body[3] ^= 0x40;
        out.insert(out.end(), r.header.begin(), r.header.end());
        out.insert(out.end(), r.body.begin(), r.body.end());
        continue;
      }
      ContentType type;
      Bytes content;
      ASSERT_TRUE(opener.Open(r, &type, &content));
      if (edit) {
        edit(&content);
      }
      const Bytes sealed = sealer.Seal(type, content);
      out.insert(out.end(), sealed.begin(), sealed.end());
    }
    *bytes = out;
  }
};

// The alert the server sent, opened independently: its records are under
// the server handshake key up to its Finished, then under its application
// key (where an alert about the client's Finished goes).
int ProtectedAlert(TestClient& client, const Bytes& server_wire) {
  const CipherSuiteInfo& suite =
      *cipher_suite_info(CipherSuite::kAes128GcmSha256);
  EvpRecordCipher hs(suite, client.keylog["SERVER_HANDSHAKE_TRAFFIC_SECRET"]);
  EvpRecordCipher ap(suite, client.keylog["SERVER_TRAFFIC_SECRET_0"]);
  bool application = false;
  int alert = -1;
  for (const Record& r : SplitRecords(server_wire)) {
    if (r.type != 23) {
      continue;
    }
    ContentType type;
    Bytes content;
    if (!application && !hs.Open(r, &type, &content)) {
      application = true;
    }
    if (application && !ap.Open(r, &type, &content)) {
      return -2;
    }
    if (type == ContentType::kAlert && content.size() == 2) {
      EXPECT_EQ(content[0], 2) << "fatal";
      EXPECT_TRUE(application) << "after the server Finished";
      alert = content[1];
    }
  }
  return alert;
}

void ExpectTamperedFlightAlert(const std::function<void(Bytes*)>& edit,
                               bool flip, Alert want) {
  ClientOptions o;
  o.ciphersuites = "TLS_AES_128_GCM_SHA256";
  TestClient client(o);
  ServerHandshake server(DefaultContext(), testing::Backend());
  FinishedTamper tamper{&client, edit, flip};
  const Exchange ex = testing::RunHandshake(client, server, 0, tamper);
  EXPECT_EQ(ex.server.state, HandshakeState::kFailed);
  EXPECT_EQ(alert_name(ex.server.alert), alert_name(want));
  EXPECT_EQ(ProtectedAlert(client, ex.server_wire), AlertCode(want));
  // libssl decrypted it too: the alert is on the wire under the right key.
  EXPECT_EQ(client.alert_received, AlertCode(want));
}

TEST(ClientFinishedTest, WrongVerifyDataIsDecryptError) {
  ExpectTamperedFlightAlert([](Bytes* m) { m->back() ^= 1; }, false,
                            Alert::kDecryptError);
}

TEST(ClientFinishedTest, WrongLengthIsDecodeError) {
  ExpectTamperedFlightAlert(
      [](Bytes* m) {
        m->pop_back();
        (*m)[3] = static_cast<uint8_t>((*m)[3] - 1);
      },
      false, Alert::kDecodeError);
}

TEST(ClientFinishedTest, CorruptRecordIsBadRecordMac) {
  ExpectTamperedFlightAlert(nullptr, true, Alert::kBadRecordMac);
}

TEST(ClientFinishedTest, CertificateInsteadOfFinishedIsUnexpectedMessage) {
  ExpectTamperedFlightAlert([](Bytes* m) { *m = {11, 0, 0, 4, 0, 0, 0, 0}; },
                            false, Alert::kUnexpectedMessage);
}

TEST(ClientFinishedTest, ApplicationDataBeforeFinishedIsUnexpectedMessage) {
  ClientOptions o;
  o.ciphersuites = "TLS_AES_128_GCM_SHA256";
  TestClient client(o);
  ServerHandshake server(DefaultContext(), testing::Backend());
  auto tamper = [&client](size_t flight, Bytes* bytes) {
    if (flight != 1) {
      return;
    }
    const CipherSuiteInfo& suite =
        *cipher_suite_info(CipherSuite::kAes128GcmSha256);
    EvpRecordCipher sealer(suite,
                           client.keylog["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]);
    // Replace the flight: application data under the handshake key.
    *bytes = sealer.Seal(ContentType::kApplicationData, Bytes{1, 2, 3});
  };
  const Exchange ex = testing::RunHandshake(client, server, 0, tamper);
  EXPECT_EQ(ex.server.alert, Alert::kUnexpectedMessage);
  EXPECT_EQ(ProtectedAlert(client, ex.server_wire),
            AlertCode(Alert::kUnexpectedMessage));
}

TEST(ClientFinishedTest, FinishedCoalescedWithMoreHandshakeData) {
  ExpectTamperedFlightAlert(
      [](Bytes* m) {
        *m = Cat(*m, {20, 0, 0, 1});
      },
      false, Alert::kUnexpectedMessage);
}

TEST(ClientFinishedTest, ClientAlertEndsTheHandshake) {
  // The client rejects our certificate for its name and says so under its
  // handshake key: the server stops, sending nothing.
  ClientOptions o;
  o.sni = "someone-else.test";
  TestClient client(o);
  ServerHandshake server(DefaultContext(), testing::Backend());
  const Exchange ex = testing::RunHandshake(client, server);
  EXPECT_EQ(ex.server.state, HandshakeState::kFailed);
  EXPECT_TRUE(ex.server.alert_from_peer);
  EXPECT_EQ(AlertCode(ex.server.alert), client.alert_sent);
}

TEST(EarlyDataBudgetTest, UndecryptableRecordsBeyondTheBudget) {
  ServerConfig cfg;
  cfg.max_early_data_skip = 100;
  const auto ctx = MakeContext(cfg);
  ChBuilder ch;
  ch.Set(42, Bytes{});
  auto run = [&](size_t record_len) {
    const Bytes wire =
        Cat(ch.Record(), Cat({23, 3, 3, 0, static_cast<uint8_t>(record_len)},
                             Bytes(record_len, 0x77)));
    return FeedFresh(ctx, wire);
  };
  EXPECT_EQ(run(100).result.state, HandshakeState::kNeedMore);
  EXPECT_EQ(run(101).result.alert, Alert::kBadRecordMac);
  // Without early_data offered, nothing is skipped.
  ch.Remove(42);
  EXPECT_EQ(run(50).result.alert, Alert::kBadRecordMac);
}

// ---- robustness ----

TEST(FuzzTest, HugeClientHelloIsHandledInLinearTime) {
  // 6000 key shares and 6000 groups, in three records: a quadratic check
  // would take seconds.
  ChBuilder ch;
  std::vector<uint16_t> groups = {0x001d};
  std::vector<std::pair<uint16_t, Bytes>> shares = {
      {0x001d, testing::PublicShare(NamedGroup::kX25519, &ch.x25519)}};
  for (uint16_t g = 0x1000; g < 0x1000 + 6000; ++g) {
    groups.push_back(g);
    shares.emplace_back(g, Bytes{1});
  }
  ch.Set(10, U16ListBody(groups));
  ch.Set(51, KeyShareBody(shares));
  const Bytes msg = ch.Message();
  ASSERT_GT(msg.size(), 2 * kMaxPlaintext);
  Bytes wire;
  for (size_t off = 0; off < msg.size(); off += kMaxPlaintext) {
    const size_t n = std::min(kMaxPlaintext, msg.size() - off);
    wire = Cat(wire, Cat({22, 3, 1, static_cast<uint8_t>(n >> 8),
                          static_cast<uint8_t>(n)},
                         Sub(msg, off, n)));
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(AnsweredWithServerHello(FeedFresh(DefaultContext(), wire)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // The same with one share for a group it does not list.
  shares.emplace_back(0x0999, Bytes{1});
  ch.Set(51, KeyShareBody(shares));
  const Bytes bad = ch.Message();
  wire.clear();
  for (size_t off = 0; off < bad.size(); off += kMaxPlaintext) {
    const size_t n = std::min(kMaxPlaintext, bad.size() - off);
    wire = Cat(wire, Cat({22, 3, 1, static_cast<uint8_t>(n >> 8),
                          static_cast<uint8_t>(n)},
                         Sub(bad, off, n)));
  }
  const ServerRun run = FeedFresh(DefaultContext(), wire);
  EXPECT_EQ(run.result.alert, Alert::kIllegalParameter);
}

TEST(FuzzTest, MutatedClientHellosNeverCrash) {
  std::mt19937_64 rng(20261123);
  const Bytes base = ChBuilder().Record();
  size_t answered = 0;
  size_t failed = 0;
  for (int i = 0; i < 3000; ++i) {
    Bytes input = base;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t at = rng() % input.size();
      switch (rng() % 4) {
        case 0:
          input[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          input[at] = static_cast<uint8_t>(rng());
          break;
        case 2:
          input.erase(input.begin() + static_cast<long>(at));
          break;
        default:
          input.insert(input.begin() + static_cast<long>(at),
                       static_cast<uint8_t>(rng()));
          break;
      }
    }
    const ServerRun run = FeedFresh(DefaultContext(), input);
    if (run.result.state == HandshakeState::kFailed) {
      ++failed;
      const auto records = SplitRecords(run.out);
      if (run.result.alert_from_peer) {
        EXPECT_TRUE(run.out.empty());
      } else if (!records.empty() && records[0].type == 22) {
        // Failed after the ServerHello: the alert is protected.
        EXPECT_EQ(records.back().type, 23);
        EXPECT_EQ(records.back().body.size(), 2u + 1u + 16u);
      } else {
        EXPECT_EQ(TrailingPlaintextAlert(run.out), AlertCode(run.result.alert));
      }
    } else if (AnsweredWithServerHello(run)) {
      ++answered;
    }
  }
  EXPECT_GT(failed, 1000u);
  EXPECT_GT(answered, 10u);
}

TEST(FuzzTest, RandomBytesNeverCrash) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes input(rng() % 300);
    for (auto& b : input) {
      b = static_cast<uint8_t>(rng());
    }
    if (!input.empty() && rng() % 2 == 0) {
      input[0] = 22;  // mostly handshake records
    }
    ServerHandshake hs(DefaultContext(), testing::Backend());
    Bytes out;
    const FeedResult r = hs.feed(input, &out);
    if (r.state == HandshakeState::kNeedMore) {
      EXPECT_TRUE(out.empty() || AnsweredWithServerHello({r, out}));
    }
  }
}

}  // namespace
}  // namespace dptls::tls
