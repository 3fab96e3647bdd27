// Parameter checks, key life cycle and limits, for every backend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <random>
#include <vector>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"

namespace dptls::crypto {
namespace {

using ::dptls::crypto::testing::BackendParamName;
using ::dptls::crypto::testing::BackendTest;
using ::dptls::crypto::testing::Bytes;
using ::dptls::crypto::testing::MakeBackendOrFail;
using ::dptls::crypto::testing::MakeOp;
using ::dptls::crypto::testing::OneShot;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSegments;
using ::dptls::crypto::testing::RunScattered;
using ::dptls::crypto::testing::ScatteredMessage;
using ::dptls::crypto::testing::SingleSegment;

constexpr AeadDir kBothDirs[] = {AeadDir::kSeal, AeadDir::kOpen};

const char* DirName(AeadDir dir) {
  return dir == AeadDir::kSeal ? "seal" : "open";
}

class ParamsTest : public BackendTest {
 protected:
  // Runs a seal and an open of 100 random bytes (with a random tag) on
  // `key`, expecting `want` and the segments and tag untouched.
  void ExpectRefusedUntouched(const AeadKey& key,
                              std::span<const uint8_t> nonce, AeadStatus want) {
    const Bytes input = RandomBytes(rng_, 100);
    const Bytes tag_in = RandomBytes(rng_, kAeadTagLen);
    const Bytes aad = RandomBytes(rng_, 7);
    for (AeadDir dir : kBothDirs) {
      SCOPED_TRACE(DirName(dir));
      OneShot r =
          RunScattered(*backend_, key, dir, nonce, aad, input,
                       RandomSegments(input.size(), rng_), tag_in, rng_);
      EXPECT_EQ(aead_status_name(r.status), aead_status_name(want));
      EXPECT_TRUE(r.data == input) << "refused op changed its segments";
      EXPECT_EQ(r.tag, tag_in) << "refused op changed its tag";
      EXPECT_TRUE(r.guards_intact);
    }
  }

  // Seals a fixed message with `key` and returns ciphertext || tag.
  Bytes SealFixed(const AeadKey& key) {
    const Bytes nonce(kAeadNonceLen, 0x42);
    const Bytes plaintext(77, 0x17);
    OneShot r =
        RunScattered(*backend_, key, AeadDir::kSeal, nonce, {}, plaintext,
                     SingleSegment(plaintext.size()), {}, rng_);
    EXPECT_EQ(r.status, AeadStatus::kOk);
    r.data.insert(r.data.end(), r.tag.begin(), r.tag.end());
    return r.data;
  }

  const Bytes nonce_ = Bytes(kAeadNonceLen, 0x01);
  std::mt19937_64 rng_{0x9A7A};
};

TEST_P(ParamsTest, DescribesItselfAndSupportsEveryAlgorithm) {
  EXPECT_FALSE(backend_->describe().empty());
  EXPECT_EQ(backend_->name(), backend_kind_name(GetParam()));
  for (AeadAlg alg : kAllAeadAlgs) {
    EXPECT_TRUE(backend_->supports(alg)) << aead_alg_name(alg);
  }
  std::printf("[ backend  ] %s: %s\n", std::string(backend_->name()).c_str(),
              backend_->describe().c_str());
}

TEST_P(ParamsTest, NeverInitialisedKeyGivesBadKey) {
  AeadKey key;
  EXPECT_FALSE(key.ready());
  EXPECT_EQ(key.owner(), nullptr);
  ExpectRefusedUntouched(key, nonce_, AeadStatus::kBadKey);
}

TEST_P(ParamsTest, NullKeyPointerGivesBadKey) {
  const Bytes input = RandomBytes(rng_, 10);
  for (AeadDir dir : kBothDirs) {
    ScatteredMessage msg(input, SingleSegment(input.size()), rng_);
    Bytes tag(kAeadTagLen, 0x33);
    AeadOp op;
    op.dir = dir;
    op.nonce = nonce_;
    op.segs = msg.segs();
    op.tag = tag.data();
    EXPECT_EQ(backend_->run_one(op), AeadStatus::kBadKey) << DirName(dir);
    EXPECT_TRUE(msg.Gather() == input);
  }
}

TEST_P(ParamsTest, ReleasedKeyIsEmptyAndGivesBadKey) {
  for (AeadAlg alg : kAllAeadAlgs) {
    SCOPED_TRACE(aead_alg_name(alg));
    AeadKey key;
    ASSERT_EQ(
        backend_->init_key(key, alg, RandomBytes(rng_, aead_key_len(alg))),
        AeadStatus::kOk);
    EXPECT_TRUE(key.ready());
    EXPECT_EQ(key.alg(), alg);
    EXPECT_EQ(key.owner(), backend_.get());
    key.release();
    EXPECT_FALSE(key.ready());
    EXPECT_EQ(key.owner(), nullptr);
    ExpectRefusedUntouched(key, nonce_, AeadStatus::kBadKey);
    key.release();  // releasing an empty key is safe
    EXPECT_FALSE(key.ready());
  }
}

TEST_P(ParamsTest, KeyOfAnotherBackendInstanceGivesBadKey) {
  for (BackendKind other_kind : kAllBackends) {
    SCOPED_TRACE(backend_kind_name(other_kind));
    std::unique_ptr<AeadBackend> other = MakeBackendOrFail(other_kind);
    ASSERT_NE(other, nullptr);
    for (AeadAlg alg : kAllAeadAlgs) {
      SCOPED_TRACE(aead_alg_name(alg));
      AeadKey key;
      ASSERT_EQ(other->init_key(key, alg, RandomBytes(rng_, aead_key_len(alg))),
                AeadStatus::kOk);
      EXPECT_EQ(key.owner(), other.get());
      ExpectRefusedUntouched(key, nonce_, AeadStatus::kBadKey);
    }
  }
}

TEST_P(ParamsTest, NonceOtherThanTwelveBytesGivesBadNonce) {
  for (AeadAlg alg : kAllAeadAlgs) {
    SCOPED_TRACE(aead_alg_name(alg));
    AeadKey key;
    ASSERT_EQ(
        backend_->init_key(key, alg, RandomBytes(rng_, aead_key_len(alg))),
        AeadStatus::kOk);
    for (size_t len : {0, 1, 8, 11, 13, 16, 24, 64}) {
      SCOPED_TRACE(::testing::Message() << "nonce of " << len << " bytes");
      const Bytes nonce = RandomBytes(rng_, len);
      ExpectRefusedUntouched(key, nonce, AeadStatus::kBadNonce);
    }
    // An empty span with a null pointer, too.
    ExpectRefusedUntouched(key, std::span<const uint8_t>(),
                           AeadStatus::kBadNonce);
  }
}

TEST_P(ParamsTest, NullTagGivesBadArgument) {
  for (AeadAlg alg : kAllAeadAlgs) {
    SCOPED_TRACE(aead_alg_name(alg));
    AeadKey key;
    ASSERT_EQ(
        backend_->init_key(key, alg, RandomBytes(rng_, aead_key_len(alg))),
        AeadStatus::kOk);
    for (size_t size : {0, 1, 100}) {
      const Bytes input = RandomBytes(rng_, size);
      for (AeadDir dir : kBothDirs) {
        SCOPED_TRACE(::testing::Message() << DirName(dir) << " " << size);
        ScatteredMessage msg(input, RandomSegments(size, rng_), rng_);
        AeadOp op = MakeOp(key, dir, nonce_, {}, msg.segs(), nullptr);
        EXPECT_EQ(backend_->run_one(op), AeadStatus::kBadArgument);
        EXPECT_TRUE(msg.Gather() == input);
        EXPECT_TRUE(msg.GuardsIntact());
      }
    }
  }
}

TEST_P(ParamsTest, NullSegmentDataWithLengthGivesBadArgument) {
  AeadKey key;
  ASSERT_EQ(backend_->init_key(key, AeadAlg::kAes128Gcm, RandomBytes(rng_, 16)),
            AeadStatus::kOk);
  Bytes a = RandomBytes(rng_, 20);
  Bytes b = RandomBytes(rng_, 20);
  const Bytes a0 = a;
  const Bytes b0 = b;
  // The null segment first, in the middle, last.
  const std::vector<std::vector<IoSegment>> layouts = {
      {{nullptr, 5}, {a.data(), a.size()}, {b.data(), b.size()}},
      {{a.data(), a.size()}, {nullptr, 1}, {b.data(), b.size()}},
      {{a.data(), a.size()}, {b.data(), b.size()}, {nullptr, 20}},
  };
  for (size_t i = 0; i < layouts.size(); ++i) {
    for (AeadDir dir : kBothDirs) {
      SCOPED_TRACE(::testing::Message()
                   << "layout " << i << " " << DirName(dir));
      Bytes tag(kAeadTagLen, 0x77);
      AeadOp op = MakeOp(key, dir, nonce_, {}, layouts[i], tag.data());
      EXPECT_EQ(backend_->run_one(op), AeadStatus::kBadArgument);
      EXPECT_EQ(a, a0);
      EXPECT_EQ(b, b0);
      EXPECT_EQ(tag, Bytes(kAeadTagLen, 0x77));
    }
  }
}

TEST_P(ParamsTest, EmptySegmentsAndNoSegmentsAreValid) {
  for (AeadAlg alg : kAllAeadAlgs) {
    SCOPED_TRACE(aead_alg_name(alg));
    AeadKey key;
    ASSERT_EQ(
        backend_->init_key(key, alg, RandomBytes(rng_, aead_key_len(alg))),
        AeadStatus::kOk);
    const Bytes aad = RandomBytes(rng_, 9);
    // No segment at all, and three empty ones (null and non-null data): the
    // same empty message, so the same tag.
    uint8_t byte = 0;
    const std::vector<IoSegment> empties = {
        {nullptr, 0}, {&byte, 0}, {nullptr, 0}};
    Bytes tag_none(kAeadTagLen, 0);
    Bytes tag_empties(kAeadTagLen, 0);
    AeadOp none = MakeOp(key, AeadDir::kSeal, nonce_, aad, {}, tag_none.data());
    AeadOp some =
        MakeOp(key, AeadDir::kSeal, nonce_, aad, empties, tag_empties.data());
    EXPECT_EQ(backend_->run_one(none), AeadStatus::kOk);
    EXPECT_EQ(backend_->run_one(some), AeadStatus::kOk);
    EXPECT_EQ(tag_none, tag_empties);
    EXPECT_EQ(byte, 0);
    AeadOp open = MakeOp(key, AeadDir::kOpen, nonce_, aad, {}, tag_none.data());
    EXPECT_EQ(backend_->run_one(open), AeadStatus::kOk);
  }
}

TEST_P(ParamsTest, InitKeyWithWrongSecretLengthGivesBadKeyAndEmptyKey) {
  for (AeadAlg alg : kAllAeadAlgs) {
    const size_t good = aead_key_len(alg);
    for (size_t len : {size_t{0}, size_t{1}, good - 1, good + 1, size_t{24},
                       size_t{kAeadMaxKeyLen + 1}, size_t{64}}) {
      if (len == good) {
        continue;
      }
      SCOPED_TRACE(::testing::Message()
                   << aead_alg_name(alg) << " with " << len << " bytes");
      // Both from empty and from a ready key: a failed init leaves it empty.
      AeadKey fresh;
      EXPECT_EQ(backend_->init_key(fresh, alg, RandomBytes(rng_, len)),
                AeadStatus::kBadKey);
      EXPECT_FALSE(fresh.ready());
      AeadKey used;
      ASSERT_EQ(backend_->init_key(used, alg, RandomBytes(rng_, good)),
                AeadStatus::kOk);
      EXPECT_EQ(backend_->init_key(used, alg, RandomBytes(rng_, len)),
                AeadStatus::kBadKey);
      EXPECT_FALSE(used.ready());
      ExpectRefusedUntouched(used, nonce_, AeadStatus::kBadKey);
    }
  }
}

TEST_P(ParamsTest, InitKeyReplacesThePreviousKey) {
  const Bytes secret_a = RandomBytes(rng_, 32);
  const Bytes secret_b = RandomBytes(rng_, 32);
  AeadKey reused;
  ASSERT_EQ(backend_->init_key(reused, AeadAlg::kAes256Gcm, secret_a),
            AeadStatus::kOk);
  ASSERT_EQ(backend_->init_key(reused, AeadAlg::kChaCha20Poly1305, secret_b),
            AeadStatus::kOk);
  EXPECT_EQ(reused.alg(), AeadAlg::kChaCha20Poly1305);
  AeadKey fresh;
  ASSERT_EQ(backend_->init_key(fresh, AeadAlg::kChaCha20Poly1305, secret_b),
            AeadStatus::kOk);
  EXPECT_EQ(SealFixed(reused), SealFixed(fresh));
}

// Re-initialising a key with another backend releases it through its old
// owner first; afterwards only the new owner accepts it.
TEST_P(ParamsTest, InitKeyByAnotherBackendMovesOwnership) {
  for (BackendKind other_kind : kAllBackends) {
    SCOPED_TRACE(backend_kind_name(other_kind));
    std::unique_ptr<AeadBackend> other = MakeBackendOrFail(other_kind);
    ASSERT_NE(other, nullptr);
    const Bytes secret = RandomBytes(rng_, 32);
    AeadKey key;
    ASSERT_EQ(backend_->init_key(key, AeadAlg::kAes256Gcm, secret),
              AeadStatus::kOk);
    ASSERT_EQ(other->init_key(key, AeadAlg::kAes256Gcm, secret),
              AeadStatus::kOk);
    EXPECT_EQ(key.owner(), other.get());
    ExpectRefusedUntouched(key, nonce_, AeadStatus::kBadKey);
    AeadKey mine;
    ASSERT_EQ(backend_->init_key(mine, AeadAlg::kAes256Gcm, secret),
              AeadStatus::kOk);
    Bytes tag_other(kAeadTagLen, 0);
    Bytes tag_mine(kAeadTagLen, 0);
    Bytes buf_other(50, 0x21);
    Bytes buf_mine(50, 0x21);
    const std::vector<IoSegment> seg_other = {{buf_other.data(), 50}};
    const std::vector<IoSegment> seg_mine = {{buf_mine.data(), 50}};
    AeadOp op_other =
        MakeOp(key, AeadDir::kSeal, nonce_, {}, seg_other, tag_other.data());
    AeadOp op_mine =
        MakeOp(mine, AeadDir::kSeal, nonce_, {}, seg_mine, tag_mine.data());
    EXPECT_EQ(other->run_one(op_other), AeadStatus::kOk);
    EXPECT_EQ(backend_->run_one(op_mine), AeadStatus::kOk);
    EXPECT_EQ(buf_other, buf_mine);
    EXPECT_EQ(tag_other, tag_mine);
    key.release();  // before `other` goes
  }
}

TEST_P(ParamsTest, SameSecretGivesSameOutputAndDifferentSecretDoesNot) {
  for (AeadAlg alg : kAllAeadAlgs) {
    SCOPED_TRACE(aead_alg_name(alg));
    const Bytes secret = RandomBytes(rng_, aead_key_len(alg));
    Bytes other = secret;
    other.back() ^= 1;
    AeadKey k1;
    AeadKey k2;
    AeadKey k3;
    ASSERT_EQ(backend_->init_key(k1, alg, secret), AeadStatus::kOk);
    ASSERT_EQ(backend_->init_key(k2, alg, secret), AeadStatus::kOk);
    ASSERT_EQ(backend_->init_key(k3, alg, other), AeadStatus::kOk);
    EXPECT_EQ(SealFixed(k1), SealFixed(k2));
    EXPECT_NE(SealFixed(k1), SealFixed(k3));
  }
}

// Returns true when `needle` occurs in `hay`.
bool Contains(std::span<const unsigned char> hay,
              std::span<const uint8_t> needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) !=
         hay.end();
}

// The key's own bytes may hold the secret (IPsec-MB keeps the raw ChaCha key
// and the first AES round key, which is the AES key). After release() and
// after the destructor, no copy of the secret may remain in them.
TEST_P(ParamsTest, ReleaseAndDestructorLeaveNoSecretInTheKey) {
  for (AeadAlg alg : kAllAeadAlgs) {
    SCOPED_TRACE(aead_alg_name(alg));
    const Bytes secret = RandomBytes(rng_, aead_key_len(alg));
    alignas(AeadKey) unsigned char raw[sizeof(AeadKey)];
    std::memset(raw, 0, sizeof(raw));
    const std::span<const unsigned char> bytes(raw, sizeof(raw));

    // release()
    AeadKey* key = new (raw) AeadKey;
    ASSERT_EQ(backend_->init_key(*key, alg, secret), AeadStatus::kOk);
    const bool held = Contains(bytes, secret);
    key->release();
    EXPECT_FALSE(key->ready());
    EXPECT_FALSE(Contains(bytes, secret)) << "release() left the secret";
    ExpectRefusedUntouched(*key, nonce_, AeadStatus::kBadKey);
    key->~AeadKey();

    // The destructor.
    std::memset(raw, 0, sizeof(raw));
    key = new (raw) AeadKey;
    ASSERT_EQ(backend_->init_key(*key, alg, secret), AeadStatus::kOk);
    key->~AeadKey();
    EXPECT_FALSE(Contains(bytes, secret)) << "~AeadKey() left the secret";
    std::printf("[ wipe     ] %s %s: secret %s held in the key storage\n",
                std::string(backend_->name()).c_str(),
                std::string(aead_alg_name(alg)).c_str(),
                held ? "is" : "is not");
  }
}

// Lengths that sum past aead_max_plaintext() point at a 32-byte buffer: the
// check must refuse them before reading or writing anything.
TEST_P(ParamsTest, SegmentsLongerThanTheLimitGiveTooLongBeforeTouchingMemory) {
  constexpr size_t kMax = std::numeric_limits<size_t>::max();
  for (AeadAlg alg : kAllAeadAlgs) {
    SCOPED_TRACE(aead_alg_name(alg));
    AeadKey key;
    ASSERT_EQ(
        backend_->init_key(key, alg, RandomBytes(rng_, aead_key_len(alg))),
        AeadStatus::kOk);
    const size_t limit = static_cast<size_t>(aead_max_plaintext(alg));
    Bytes small = RandomBytes(rng_, 32);
    const Bytes small0 = small;
    uint8_t* p = small.data();
    struct Case {
      const char* what;
      std::vector<IoSegment> segs;
      AeadStatus want;
    };
    const std::vector<Case> cases = {
        {"one segment of limit + 1", {{p, limit + 1}}, AeadStatus::kTooLong},
        {"limit, then 1 byte", {{p, limit}, {p, 1}}, AeadStatus::kTooLong},
        {"16 bytes, then limit",
         {{p, 16}, {p + 16, limit}},
         AeadStatus::kTooLong},
        {"empty, 1 byte, limit",
         {{p, 0}, {p, 1}, {p, limit}},
         AeadStatus::kTooLong},
        {"sum wraps around 2^64", {{p, kMax}, {p, 2}}, AeadStatus::kTooLong},
        {"two halves of 2^64",
         {{p, kMax / 2 + 1}, {p, kMax / 2 + 1}},
         AeadStatus::kTooLong},
        {"2^63 segments summing to 0 mod 2^64",
         {{p, 16}, {p, size_t{1} << 63}, {p, size_t{1} << 63}},
         AeadStatus::kTooLong},
        // Exactly the limit is allowed: with a null 1-byte segment making up
        // the total, the only complaint may be that null segment (and still
        // nothing is touched).
        {"limit - 1 bytes, then a null byte",
         {{p, limit - 16}, {p, 15}, {nullptr, 1}},
         AeadStatus::kBadArgument},
    };
    for (const Case& c : cases) {
      for (AeadDir dir : kBothDirs) {
        SCOPED_TRACE(::testing::Message() << c.what << ", " << DirName(dir));
        Bytes tag(kAeadTagLen, 0x66);
        AeadOp op = MakeOp(key, dir, nonce_, {}, c.segs, tag.data());
        EXPECT_EQ(aead_status_name(backend_->run_one(op)),
                  aead_status_name(c.want));
        EXPECT_EQ(small, small0);
        EXPECT_EQ(tag, Bytes(kAeadTagLen, 0x66));
      }
    }
  }
}

TEST_P(ParamsTest, RunOneSetsTheOpStatusAndNeverReturnsNotRun) {
  AeadKey key;
  ASSERT_EQ(backend_->init_key(key, AeadAlg::kAes128Gcm, RandomBytes(rng_, 16)),
            AeadStatus::kOk);
  Bytes buf = RandomBytes(rng_, 40);
  const std::vector<IoSegment> segs = {{buf.data(), buf.size()}};
  Bytes tag(kAeadTagLen, 0);
  AeadOp op = MakeOp(key, AeadDir::kSeal, nonce_, {}, segs, tag.data());
  EXPECT_EQ(op.status, AeadStatus::kNotRun);
  EXPECT_EQ(backend_->run_one(op), AeadStatus::kOk);
  EXPECT_EQ(op.status, AeadStatus::kOk);
  tag[0] ^= 1;
  op.dir = AeadDir::kOpen;
  EXPECT_EQ(backend_->run_one(op), AeadStatus::kAuthFailed);
  EXPECT_EQ(op.status, AeadStatus::kAuthFailed);
  EXPECT_THAT(buf, ::testing::Each(0));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ParamsTest,
                         ::testing::ValuesIn(kAllBackends), BackendParamName);

}  // namespace
}  // namespace dptls::crypto
