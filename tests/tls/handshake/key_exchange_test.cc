// EphemeralKey's X25519 on both of its paths: the provider's functions
// called directly (x25519_direct.h, the default) and EVP_PKEY (the
// fallback), against Wycheproof's XDH vectors and each other.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "dptls/tls/handshake/key_exchange.h"
#include "support/aead_test_support.h"
#include "support/wycheproof.h"
#include "tls/handshake/x25519_direct.h"

namespace dptls::tls {
namespace {

using crypto::testing::Bytes;
using crypto::testing::HexEncode;
using crypto::testing::LoadWycheproofXdh;
using crypto::testing::VectorsDir;
using crypto::testing::WycheproofXdhFile;
using internal::X25519Direct;

// Runs the test body with the direct path on (true) and off (false), and
// leaves it on.
class X25519PathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { X25519Direct::set_enabled_for_testing(GetParam()); }
  void TearDown() override { X25519Direct::set_enabled_for_testing(true); }
};

std::string PathName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Direct" : "Evp";
}

bool IsZero(const Bytes& b) {
  for (const uint8_t x : b) {
    if (x != 0) {
      return false;
    }
  }
  return true;
}

TEST(X25519DirectTest, AvailableWithThisLibcrypto) {
  // Debian 12's libcrypto 3.0 default provider has the functions; were
  // they not found, every handshake would silently take the slower path.
  EXPECT_TRUE(X25519Direct::available());
  X25519Direct::set_enabled_for_testing(false);
  EXPECT_FALSE(X25519Direct::available());
  X25519Direct::set_enabled_for_testing(true);
}

TEST_P(X25519PathTest, WycheproofVectors) {
  WycheproofXdhFile file;
  std::string error;
  ASSERT_TRUE(LoadWycheproofXdh(
      VectorsDir() / "wycheproof" / "x25519_test.json", &file, &error))
      << error;
  EXPECT_EQ(file.algorithm, "XDH");
  ASSERT_EQ(file.cases.size(), file.number_of_tests)
      << "loader dropped or invented tests";
  size_t agreed = 0;
  size_t refused_zero = 0;
  for (const auto& c : file.cases) {
    SCOPED_TRACE("tcId " + std::to_string(c.common.tc_id) + ": " +
                 c.common.comment);
    ASSERT_EQ(c.curve, "curve25519");
    ASSERT_TRUE(c.common.valid || c.common.acceptable);
    EphemeralKey key;
    ASSERT_TRUE(key.set_private_key(NamedGroup::kX25519, c.private_key));
    Secret shared;
    Alert alert = Alert::kCloseNotify;
    const bool ok = key.derive(c.public_key, &shared, &alert);
    if (IsZero(c.shared)) {
      // RFC 8446 section 7.4.2: an all-zero shared secret is refused.
      EXPECT_FALSE(ok);
      EXPECT_EQ(alert, Alert::kIllegalParameter);
      EXPECT_TRUE(shared.empty());
      ++refused_zero;
    } else {
      // Twists, non-canonical and edge-case public keys are computed as
      // RFC 7748 says (the top bit masked), as libcrypto does.
      ASSERT_TRUE(ok);
      EXPECT_EQ(HexEncode(shared.span()), HexEncode(c.shared));
      ++agreed;
    }
  }
  EXPECT_EQ(agreed + refused_zero, file.cases.size());
  EXPECT_GT(refused_zero, 0u);
}

TEST_P(X25519PathTest, WrongPeerLengthIsIllegalParameter) {
  EphemeralKey key;
  ASSERT_TRUE(key.generate(NamedGroup::kX25519));
  Secret shared;
  Alert alert = Alert::kCloseNotify;
  EXPECT_FALSE(key.derive(Bytes(31, 9), &shared, &alert));
  EXPECT_EQ(alert, Alert::kIllegalParameter);
  EXPECT_FALSE(key.derive(Bytes(33, 9), &shared, &alert));
  EXPECT_TRUE(shared.empty());
}

TEST_P(X25519PathTest, KeysAgreeAcrossPathsThreadsAndReuse) {
  // Keys made on one path agree with keys made on the other, on a
  // thread's reused (wiped) key objects as on new ones; a reset key
  // derives nothing; a moved key keeps working.
  X25519Direct::set_enabled_for_testing(!GetParam());
  EphemeralKey other;
  ASSERT_TRUE(other.generate(NamedGroup::kX25519));
  X25519Direct::set_enabled_for_testing(GetParam());
  auto run = [&other] {
    for (int round = 0; round < 6; ++round) {
      EphemeralKey a;
      ASSERT_TRUE(a.generate(NamedGroup::kX25519));
      Secret ab;
      Secret ba;
      Alert alert = Alert::kCloseNotify;
      ASSERT_TRUE(a.derive(other.public_key(), &ab, &alert));
      ASSERT_TRUE(other.derive(a.public_key(), &ba, &alert));
      EXPECT_EQ(HexEncode(ab.span()), HexEncode(ba.span()));
      EphemeralKey moved(std::move(a));
      Secret again;
      ASSERT_TRUE(moved.derive(other.public_key(), &again, &alert));
      EXPECT_EQ(HexEncode(again.span()), HexEncode(ab.span()));
      moved.reset();
      EXPECT_FALSE(moved.ready());
      EXPECT_FALSE(moved.derive(other.public_key(), &again, &alert));
      EXPECT_EQ(alert, Alert::kInternalError);
      EXPECT_TRUE(again.empty());
    }
  };
  run();
  std::thread t(run);
  t.join();
}

INSTANTIATE_TEST_SUITE_P(Paths, X25519PathTest, ::testing::Bool(), PathName);

}  // namespace
}  // namespace dptls::tls
