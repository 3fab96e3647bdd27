// AeadFailPolicy::kRestoreCiphertext: a failed open puts the ciphertext back
// exactly (so the record engine can open it again under the next key after a
// KeyUpdate) and never leaves plaintext behind.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"

namespace dptls::crypto {
namespace {

using ::dptls::crypto::testing::Bytes;
using ::dptls::crypto::testing::MakeBackendOrFail;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSegments;
using ::dptls::crypto::testing::SanitizedName;
using ::dptls::crypto::testing::ScatteredMessage;

using Param = std::tuple<BackendKind, AeadAlg>;

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return SanitizedName(backend_kind_name(std::get<0>(info.param))) + "_" +
         SanitizedName(aead_alg_name(std::get<1>(info.param)));
}

class RestoreTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    backend_ = MakeBackendOrFail(std::get<0>(GetParam()));
    ASSERT_NE(backend_, nullptr);
    const size_t key_len = aead_key_len(alg());
    ASSERT_EQ(backend_->init_key(old_key_, alg(), RandomBytes(rng_, key_len)),
              AeadStatus::kOk);
    ASSERT_EQ(backend_->init_key(new_key_, alg(), RandomBytes(rng_, key_len)),
              AeadStatus::kOk);
  }

  AeadAlg alg() const { return std::get<1>(GetParam()); }

  // Seals `plaintext` under `key` in `msg` (in place) and returns the tag.
  Bytes SealIn(const AeadKey& key, ScatteredMessage& msg, const Bytes& nonce,
               const Bytes& aad) {
    Bytes tag(kAeadTagLen);
    AeadOp op{&key, AeadDir::kSeal, nonce, aad, msg.segs(), tag.data()};
    EXPECT_EQ(backend_->run_one(op), AeadStatus::kOk);
    return tag;
  }

  std::mt19937_64 rng_{0x7e57};
  std::unique_ptr<AeadBackend> backend_;
  AeadKey old_key_;
  AeadKey new_key_;
};

// The KeyUpdate case: a record sealed under the new key is first opened
// (speculatively) under the old one, fails, comes back byte for byte, and
// then opens under the right key.
TEST_P(RestoreTest, WrongKeyOpenRestoresCiphertextAndRetrySucceeds) {
  for (size_t size : {0, 1, 15, 16, 17, 255, 1448, 4096, 16401}) {
    SCOPED_TRACE(size);
    const Bytes plaintext = RandomBytes(rng_, size);
    const Bytes nonce = RandomBytes(rng_, kAeadNonceLen);
    const Bytes aad = RandomBytes(rng_, 5);
    ScatteredMessage msg(plaintext, RandomSegments(size, rng_), rng_);
    Bytes tag = SealIn(new_key_, msg, nonce, aad);
    const Bytes ciphertext = msg.Gather();

    AeadOp wrong{&old_key_, AeadDir::kOpen, nonce, aad, msg.segs(), tag.data()};
    wrong.on_auth_failure = AeadFailPolicy::kRestoreCiphertext;
    EXPECT_EQ(backend_->run_one(wrong), AeadStatus::kAuthFailed);
    EXPECT_EQ(msg.Gather(), ciphertext) << msg.Layout();
    EXPECT_TRUE(msg.GuardsIntact());

    AeadOp right{&new_key_, AeadDir::kOpen, nonce, aad, msg.segs(), tag.data()};
    EXPECT_EQ(backend_->run_one(right), AeadStatus::kOk);
    EXPECT_EQ(msg.Gather(), plaintext);
  }
}

// A tampered record under the restore policy: still refused, and what is
// left is the (tampered) ciphertext that came in, never plaintext.
TEST_P(RestoreTest, TamperedRecordFailsAndLeavesItsCiphertext) {
  const Bytes plaintext = RandomBytes(rng_, 3000);
  const Bytes nonce = RandomBytes(rng_, kAeadNonceLen);
  const Bytes aad = RandomBytes(rng_, 5);
  ScatteredMessage msg(plaintext, RandomSegments(plaintext.size(), rng_), rng_);
  Bytes tag = SealIn(old_key_, msg, nonce, aad);
  tag[3] ^= 0x10;
  const Bytes ciphertext = msg.Gather();
  AeadOp op{&old_key_, AeadDir::kOpen, nonce, aad, msg.segs(), tag.data()};
  op.on_auth_failure = AeadFailPolicy::kRestoreCiphertext;
  EXPECT_EQ(backend_->run_one(op), AeadStatus::kAuthFailed);
  EXPECT_EQ(msg.Gather(), ciphertext);
  EXPECT_NE(msg.Gather(), plaintext);
}

// The default policy is still to wipe.
TEST_P(RestoreTest, DefaultPolicyWipes) {
  const Bytes plaintext = RandomBytes(rng_, 100);
  const Bytes nonce = RandomBytes(rng_, kAeadNonceLen);
  ScatteredMessage msg(plaintext, RandomSegments(plaintext.size(), rng_), rng_);
  Bytes tag = SealIn(new_key_, msg, nonce, {});
  AeadOp op{&old_key_, AeadDir::kOpen, nonce, {}, msg.segs(), tag.data()};
  EXPECT_EQ(op.on_auth_failure, AeadFailPolicy::kWipe);
  EXPECT_EQ(backend_->run_one(op), AeadStatus::kAuthFailed);
  EXPECT_TRUE(msg.AllSegmentBytesZero());
}

INSTANTIATE_TEST_SUITE_P(AllBackendsAndAlgs, RestoreTest,
                         ::testing::Combine(::testing::ValuesIn(kAllBackends),
                                            ::testing::ValuesIn(kAllAeadAlgs)),
                         ParamName);

}  // namespace
}  // namespace dptls::crypto
