// Transcript: incremental hashing equals hashing the concatenation, reading
// the hash does not finalise it, the PSK-binder partial hash, the
// HelloRetryRequest rule for both hashes, and every refusal.
#include "dptls/tls/transcript.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/aead_test_support.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::testing::HexEncode;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSize;
using Bytes = std::vector<uint8_t>;

// A handshake message of `type` with a random body of `len` bytes.
Bytes Message(uint8_t type, size_t len, std::mt19937_64& rng) {
  Bytes m = {type, static_cast<uint8_t>(len >> 16),
             static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  const Bytes body = RandomBytes(rng, len);
  m.insert(m.end(), body.begin(), body.end());
  return m;
}

std::string HashOf(HashAlg alg, const Bytes& data) {
  HashValue h;
  EXPECT_EQ(hash_bytes(alg, data, &h), KdfStatus::kOk);
  return HexEncode(h.span());
}

std::string Current(const Transcript& t) {
  HashValue h;
  EXPECT_EQ(t.current_hash(&h), KdfStatus::kOk);
  EXPECT_EQ(h.len, hash_len(t.alg()));
  return HexEncode(h.span());
}

class TranscriptTest : public ::testing::TestWithParam<HashAlg> {};

TEST_P(TranscriptTest, RunningHashEqualsTheHashOfTheConcatenation) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(44 + static_cast<int>(alg));
  Transcript t;
  ASSERT_EQ(t.init(alg), KdfStatus::kOk);
  EXPECT_TRUE(t.ready());
  EXPECT_EQ(Current(t), HashOf(alg, {})) << "empty transcript";
  Bytes all;
  for (int i = 0; i < 12; ++i) {
    const Bytes m =
        Message(static_cast<uint8_t>(1 + i), RandomSize(rng, 0, 3000), rng);
    ASSERT_EQ(t.add(m), KdfStatus::kOk);
    all.insert(all.end(), m.begin(), m.end());
    // Reading twice gives the same answer: current_hash() did not finalise.
    EXPECT_EQ(Current(t), HashOf(alg, all));
    EXPECT_EQ(Current(t), HashOf(alg, all));
  }
  EXPECT_EQ(t.message_count(), 12u);
}

TEST_P(TranscriptTest, HashWithAddsNothing) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(45);
  Transcript t;
  ASSERT_EQ(t.init(alg), KdfStatus::kOk);
  const Bytes m = Message(1, 40, rng);
  ASSERT_EQ(t.add(m), KdfStatus::kOk);
  // A truncated ClientHello is not a whole message: hash_with takes it.
  const Bytes partial = RandomBytes(rng, 17);
  HashValue h;
  ASSERT_EQ(t.hash_with(partial, &h), KdfStatus::kOk);
  Bytes both = m;
  both.insert(both.end(), partial.begin(), partial.end());
  EXPECT_EQ(HexEncode(h.span()), HashOf(alg, both));
  EXPECT_EQ(Current(t), HashOf(alg, m))
      << "hash_with() changed the running hash";
  EXPECT_EQ(t.message_count(), 1u);
}

TEST_P(TranscriptTest, HelloRetryRequestReplacesClientHello1ByMessageHash) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  std::mt19937_64 rng(46);
  const Bytes ch1 = Message(1, 200, rng);
  const Bytes hrr = Message(2, 90, rng);
  const Bytes ch2 = Message(1, 230, rng);
  Transcript t;
  ASSERT_EQ(t.init(alg), KdfStatus::kOk);
  ASSERT_EQ(t.add(ch1), KdfStatus::kOk);
  ASSERT_EQ(t.replace_with_message_hash(), KdfStatus::kOk);
  EXPECT_EQ(t.message_count(), 1u);
  ASSERT_EQ(t.add(hrr), KdfStatus::kOk);
  ASSERT_EQ(t.add(ch2), KdfStatus::kOk);
  // message_hash = 254, uint24 Hash.length, Hash(ClientHello1).
  HashValue ch1_hash;
  ASSERT_EQ(hash_bytes(alg, ch1, &ch1_hash), KdfStatus::kOk);
  Bytes expected = {kMessageHashType, 0, 0, static_cast<uint8_t>(len)};
  expected.insert(expected.end(), ch1_hash.span().begin(),
                  ch1_hash.span().end());
  expected.insert(expected.end(), hrr.begin(), hrr.end());
  expected.insert(expected.end(), ch2.begin(), ch2.end());
  EXPECT_EQ(Current(t), HashOf(alg, expected));
}

TEST_P(TranscriptTest, MessageHashNeedsExactlyClientHello1) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(47);
  Transcript t;
  ASSERT_EQ(t.init(alg), KdfStatus::kOk);
  EXPECT_EQ(t.replace_with_message_hash(), KdfStatus::kBadState)
      << "no ClientHello yet";
  ASSERT_EQ(t.add(Message(1, 10, rng)), KdfStatus::kOk);
  ASSERT_EQ(t.add(Message(2, 10, rng)), KdfStatus::kOk);
  const std::string before = Current(t);
  EXPECT_EQ(t.replace_with_message_hash(), KdfStatus::kBadState)
      << "two messages: the HelloRetryRequest is already in";
  EXPECT_EQ(Current(t), before) << "a refused call changed the transcript";
}

TEST_P(TranscriptTest, RefusesAnythingButOneWholeMessage) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(48);
  Transcript t;
  ASSERT_EQ(t.init(alg), KdfStatus::kOk);
  const Bytes m = Message(11, 20, rng);
  Bytes two = m;
  two.insert(two.end(), m.begin(), m.end());
  const Bytes cases[] = {
      {},                             // nothing
      {1, 0, 0},                      // header cut short
      Bytes(m.begin(), m.end() - 1),  // body one short
      [&] {
        Bytes b = m;
        b.push_back(0);
        return b;
      }(),  // one extra byte
      two,  // two messages at once
  };
  for (const Bytes& bad : cases) {
    EXPECT_EQ(t.add(bad), KdfStatus::kBadLength) << HexEncode(bad);
  }
  EXPECT_EQ(t.message_count(), 0u);
  EXPECT_EQ(Current(t), HashOf(alg, {})) << "a refused message was hashed";
  EXPECT_EQ(t.add(Bytes{0, 0, 0, 0}), KdfStatus::kOk) << "empty body is fine";
}

TEST_P(TranscriptTest, InitRestartsAndMoveTransfers) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(49);
  Transcript t;
  ASSERT_EQ(t.init(alg), KdfStatus::kOk);
  const Bytes m = Message(1, 50, rng);
  ASSERT_EQ(t.add(m), KdfStatus::kOk);
  Transcript moved(std::move(t));
  EXPECT_FALSE(
      t.ready());  // NOLINT(bugprone-use-after-move): checked on purpose
  EXPECT_EQ(t.add(m), KdfStatus::kBadState);
  EXPECT_EQ(Current(moved), HashOf(alg, m));
  Transcript assigned;
  assigned = std::move(moved);
  EXPECT_EQ(Current(assigned), HashOf(alg, m));
  ASSERT_EQ(assigned.init(alg), KdfStatus::kOk);
  EXPECT_EQ(assigned.message_count(), 0u);
  EXPECT_EQ(Current(assigned), HashOf(alg, {})) << "init() did not restart";
}

INSTANTIATE_TEST_SUITE_P(Hashes, TranscriptTest,
                         ::testing::ValuesIn(kAllHashAlgs),
                         [](const ::testing::TestParamInfo<HashAlg>& p) {
                           return std::string(hash_alg_name(p.param));
                         });

TEST(TranscriptStateTest, EverythingBeforeInitIsBadState) {
  Transcript t;
  EXPECT_FALSE(t.ready());
  HashValue h;
  h.len = 5;
  EXPECT_EQ(t.add(Bytes{1, 0, 0, 0}), KdfStatus::kBadState);
  EXPECT_EQ(t.current_hash(&h), KdfStatus::kBadState);
  EXPECT_EQ(h.len, 0u);
  EXPECT_EQ(t.hash_with({}, &h), KdfStatus::kBadState);
  EXPECT_EQ(t.replace_with_message_hash(), KdfStatus::kBadState);
}

TEST(TranscriptStateTest, UnknownHashIsRefusedAndResetEndsIt) {
  Transcript t;
  EXPECT_EQ(t.init(static_cast<HashAlg>(9)), KdfStatus::kBadAlg);
  EXPECT_FALSE(t.ready());
  ASSERT_EQ(t.init(HashAlg::kSha256), KdfStatus::kOk);
  EXPECT_EQ(t.init(static_cast<HashAlg>(9)), KdfStatus::kBadAlg);
  EXPECT_FALSE(t.ready()) << "a failed init must not leave the old hash";
  ASSERT_EQ(t.init(HashAlg::kSha384), KdfStatus::kOk);
  t.reset();
  EXPECT_FALSE(t.ready());
  EXPECT_EQ(t.add(Bytes{1, 0, 0, 0}), KdfStatus::kBadState);
}

}  // namespace
}  // namespace dptls::tls
