// The server state machine replaying RFC 8448 section 3 ("Simple 1-RTT
// Handshake") with the deterministic test hooks (the RFC's server random
// and X25519 private key): our ServerHello is the RFC's byte for byte, and
// our protected flight opens with the RFC's server handshake traffic
// secret. (The rest differs: our certificate, and our EncryptedExtensions
// carry no supported_groups.)
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "dptls/tls/handshake/server.h"
#include "support/aead_test_support.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/rfc8448_trace.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::testing::HexEncode;
using testing::Bytes;

Bytes Field(const testing::Rfc8448Trace& trace, const char* who,
            const std::string& action, const char* label) {
  const auto steps = trace.find(3, who, action);
  if (steps.empty() || steps[0]->field(label) == nullptr) {
    ADD_FAILURE() << "RFC 8448 section 3: no {" << who << "} '" << action
                  << "' field '" << label << "'";
    return {};
  }
  return steps[0]->field(label)->value;
}

TEST(Rfc8448ReplayTest, Section3ServerHelloAndHandshakeKeys) {
  testing::Rfc8448Trace trace;
  std::string error;
  ASSERT_TRUE(testing::LoadRfc8448(&trace, &error)) << error;
  const Bytes client_record =
      Field(trace, "client", "send handshake record", "complete record");
  const Bytes server_hello =
      Field(trace, "server", "construct a ServerHello handshake message",
            "ServerHello");
  const Bytes private_key = Field(
      trace, "server", "create an ephemeral x25519 key pair", "private key");
  const Bytes s_hs = Field(trace, "server",
                           "derive secret \"tls13 s hs traffic\"", "expanded");
  ASSERT_EQ(server_hello.size(), 90u);

  ServerHandshake server(testing::MakeContext(ServerConfig{}),
                         testing::Backend());
  ServerTestHooks hooks;
  hooks.server_random.emplace();
  std::copy_n(server_hello.begin() + 6, 32, hooks.server_random->begin());
  hooks.x25519_private_key = private_key;
  server.set_test_hooks(hooks);

  Bytes out;
  const FeedResult r = server.feed(client_record, &out);
  ASSERT_EQ(r.state, HandshakeState::kNeedMore) << alert_name(r.alert);
  const auto records = testing::SplitRecords(out);
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records[0].type, 22);
  EXPECT_EQ(HexEncode(records[0].body), HexEncode(server_hello));
  // No legacy_session_id in the RFC's ClientHello: no change_cipher_spec.
  EXPECT_EQ(records[1].type, 23);
  testing::EvpRecordCipher opener(
      *cipher_suite_info(CipherSuite::kAes128GcmSha256), s_hs);
  ContentType type;
  Bytes content;
  ASSERT_TRUE(opener.Open(records[1], &type, &content))
      << "our flight is protected with the RFC's s hs traffic secret";
  EXPECT_EQ(type, ContentType::kHandshake);
  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content[0], 8) << "EncryptedExtensions first";
  // The client sent record_size_limit 0x4001; ours (the default) comes
  // back: 00 1c 00 02 40 01.
  EXPECT_NE(HexEncode(content).find("001c00024001"), std::string::npos);
}

}  // namespace
}  // namespace dptls::tls
