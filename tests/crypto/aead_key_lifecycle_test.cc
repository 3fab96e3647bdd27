// The backend-independent key life cycle (AeadKey, AeadBackend::init_key,
// run_one) checked with a fake backend that records every hook call.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"

namespace dptls::crypto {
namespace {

constexpr unsigned char kPattern = 0xC3;

// Supports AES only; expand_key() fills the storage with kPattern and can be
// told to fail; wipe_key() and run() are counted.
class FakeBackend final : public AeadBackend {
 public:
  FakeBackend() : AeadBackend(BackendKind::kOpenSsl) {}

  std::string describe() const override { return "fake"; }
  bool supports(AeadAlg alg) const override {
    return alg != AeadAlg::kChaCha20Poly1305;
  }
  size_t run(std::span<AeadOp> ops) noexcept override {
    ++run_calls;
    ops_seen += ops.size();
    for (AeadOp& op : ops) {
      op.status = AeadStatus::kOk;
    }
    return ops.size();
  }

  int expand_calls = 0;
  int wipe_calls = 0;
  int run_calls = 0;
  size_t ops_seen = 0;
  bool fail_expand = false;

 protected:
  AeadStatus expand_key(void* storage, AeadAlg /*alg*/,
                        std::span<const uint8_t> /*secret*/) noexcept override {
    ++expand_calls;
    std::memset(storage, kPattern, AeadKey::kStorageSize);
    return fail_expand ? AeadStatus::kBadKey : AeadStatus::kOk;
  }
  void wipe_key(void* storage, AeadAlg /*alg*/) noexcept override {
    ++wipe_calls;
    secure_wipe(storage, AeadKey::kStorageSize);
  }
};

const std::vector<uint8_t> kSecret16(16, 0x11);
const std::vector<uint8_t> kSecret32(32, 0x22);

bool ContainsPattern(std::span<const unsigned char> bytes) {
  return std::search_n(bytes.begin(), bytes.end(), 64, kPattern) != bytes.end();
}

TEST(AeadKeyLifecycleTest, UnsupportedAlgorithmGivesUnsupportedAndEmptyKey) {
  FakeBackend backend;
  AeadKey key;
  EXPECT_EQ(backend.init_key(key, AeadAlg::kChaCha20Poly1305, kSecret32),
            AeadStatus::kUnsupported);
  EXPECT_FALSE(key.ready());
  EXPECT_EQ(backend.expand_calls, 0);
  // Also from a ready key: the old key is released, the new one refused.
  ASSERT_EQ(backend.init_key(key, AeadAlg::kAes128Gcm, kSecret16),
            AeadStatus::kOk);
  EXPECT_EQ(backend.init_key(key, AeadAlg::kChaCha20Poly1305, kSecret32),
            AeadStatus::kUnsupported);
  EXPECT_FALSE(key.ready());
  EXPECT_EQ(backend.wipe_calls, 1);
}

TEST(AeadKeyLifecycleTest, WrongSecretLengthNeverReachesTheBackend) {
  FakeBackend backend;
  AeadKey key;
  EXPECT_EQ(backend.init_key(key, AeadAlg::kAes128Gcm, kSecret32),
            AeadStatus::kBadKey);
  EXPECT_EQ(backend.init_key(key, AeadAlg::kAes256Gcm, kSecret16),
            AeadStatus::kBadKey);
  EXPECT_EQ(backend.expand_calls, 0);
  EXPECT_FALSE(key.ready());
}

TEST(AeadKeyLifecycleTest, FailedExpansionLeavesKeyEmptyAndStorageWiped) {
  FakeBackend backend;
  backend.fail_expand = true;
  alignas(AeadKey) unsigned char raw[sizeof(AeadKey)];
  std::memset(raw, 0, sizeof(raw));
  AeadKey* key = new (raw) AeadKey;
  EXPECT_EQ(backend.init_key(*key, AeadAlg::kAes128Gcm, kSecret16),
            AeadStatus::kBadKey);
  EXPECT_EQ(backend.expand_calls, 1);
  EXPECT_FALSE(key->ready());
  EXPECT_FALSE(ContainsPattern(raw))
      << "what expand_key() wrote before failing was left in the key";
  key->~AeadKey();
  EXPECT_EQ(backend.wipe_calls, 0) << "an empty key has nothing to wipe";
}

TEST(AeadKeyLifecycleTest, ReleaseWipesOnceThroughTheOwner) {
  FakeBackend backend;
  AeadKey key;
  ASSERT_EQ(backend.init_key(key, AeadAlg::kAes256Gcm, kSecret32),
            AeadStatus::kOk);
  EXPECT_TRUE(key.ready());
  EXPECT_EQ(key.owner(), &backend);
  EXPECT_EQ(key.alg(), AeadAlg::kAes256Gcm);
  key.release();
  EXPECT_EQ(backend.wipe_calls, 1);
  EXPECT_FALSE(key.ready());
  key.release();
  EXPECT_EQ(backend.wipe_calls, 1) << "releasing an empty key wiped again";
}

TEST(AeadKeyLifecycleTest, DestructorWipesAReadyKeyOnly) {
  FakeBackend backend;
  {
    AeadKey key;
    ASSERT_EQ(backend.init_key(key, AeadAlg::kAes128Gcm, kSecret16),
              AeadStatus::kOk);
  }
  EXPECT_EQ(backend.wipe_calls, 1);
  {
    AeadKey key;
    ASSERT_EQ(backend.init_key(key, AeadAlg::kAes128Gcm, kSecret16),
              AeadStatus::kOk);
    key.release();
  }
  EXPECT_EQ(backend.wipe_calls, 2) << "a released key was wiped again";
  { AeadKey never_used; }
  EXPECT_EQ(backend.wipe_calls, 2);
}

TEST(AeadKeyLifecycleTest, DestructorLeavesNoKeyMaterialBehind) {
  FakeBackend backend;
  alignas(AeadKey) unsigned char raw[sizeof(AeadKey)];
  std::memset(raw, 0, sizeof(raw));
  AeadKey* key = new (raw) AeadKey;
  ASSERT_EQ(backend.init_key(*key, AeadAlg::kAes128Gcm, kSecret16),
            AeadStatus::kOk);
  ASSERT_TRUE(ContainsPattern(raw));
  key->~AeadKey();
  EXPECT_FALSE(ContainsPattern(raw));
}

TEST(AeadKeyLifecycleTest, ReinitialisingReleasesThePreviousKeyFirst) {
  FakeBackend first;
  FakeBackend second;
  AeadKey key;
  ASSERT_EQ(first.init_key(key, AeadAlg::kAes128Gcm, kSecret16),
            AeadStatus::kOk);
  ASSERT_EQ(first.init_key(key, AeadAlg::kAes256Gcm, kSecret32),
            AeadStatus::kOk);
  EXPECT_EQ(first.wipe_calls, 1);
  EXPECT_EQ(key.alg(), AeadAlg::kAes256Gcm);
  ASSERT_EQ(second.init_key(key, AeadAlg::kAes128Gcm, kSecret16),
            AeadStatus::kOk);
  EXPECT_EQ(first.wipe_calls, 2) << "the old owner must wipe its own key";
  EXPECT_EQ(second.wipe_calls, 0);
  EXPECT_EQ(key.owner(), &second);
  key.release();
  EXPECT_EQ(second.wipe_calls, 1);
}

TEST(AeadKeyLifecycleTest, RunOneGoesThroughRunWithOneOp) {
  FakeBackend backend;
  AeadKey key;
  AeadOp op;
  op.key = &key;
  EXPECT_EQ(backend.run_one(op), AeadStatus::kOk);
  EXPECT_EQ(op.status, AeadStatus::kOk);
  EXPECT_EQ(backend.run_calls, 1);
  EXPECT_EQ(backend.ops_seen, 1u);
}

}  // namespace
}  // namespace dptls::crypto
