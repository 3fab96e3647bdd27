// AeadBackend::run() over a burst of mixed ops must give each op exactly what
// run_one() gives it alone, and a bad op must not disturb its neighbours.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
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
using ::dptls::crypto::testing::RandomSize;
using ::dptls::crypto::testing::RunScattered;
using ::dptls::crypto::testing::ScatteredMessage;
using ::dptls::crypto::testing::SingleSegment;

enum class Fault {
  kNone,
  kBadTag,      // open with a corrupted tag
  kBadNonce,    // 8-byte nonce
  kNullTag,     // tag == nullptr
  kForeignKey,  // key initialised by the other backend
  kEmptyKey,    // key never initialised
  kTooLong,     // segment lengths sum past aead_max_plaintext
};

constexpr Fault kAllFaults[] = {Fault::kBadTag,   Fault::kBadNonce,
                                Fault::kNullTag,  Fault::kForeignKey,
                                Fault::kEmptyKey, Fault::kTooLong};

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kNone:
      return "none";
    case Fault::kBadTag:
      return "bad tag";
    case Fault::kBadNonce:
      return "bad nonce";
    case Fault::kNullTag:
      return "null tag";
    case Fault::kForeignKey:
      return "foreign key";
    case Fault::kEmptyKey:
      return "empty key";
    case Fault::kTooLong:
      return "too long";
  }
  return "?";
}

AeadStatus ExpectedStatus(Fault f) {
  switch (f) {
    case Fault::kNone:
      return AeadStatus::kOk;
    case Fault::kBadTag:
      return AeadStatus::kAuthFailed;
    case Fault::kBadNonce:
      return AeadStatus::kBadNonce;
    case Fault::kNullTag:
      return AeadStatus::kBadArgument;
    case Fault::kForeignKey:
    case Fault::kEmptyKey:
      return AeadStatus::kBadKey;
    case Fault::kTooLong:
      return AeadStatus::kTooLong;
  }
  return AeadStatus::kNotRun;
}

// Everything needed to build one op twice, identically.
struct OpSpec {
  size_t key_index = 0;
  AeadDir dir = AeadDir::kSeal;
  Fault fault = Fault::kNone;
  Bytes nonce, aad;
  Bytes input;      // plaintext (seal) or ciphertext (open)
  Bytes tag_in;     // initial tag buffer
  Bytes plaintext;  // what an open must give back
  uint64_t layout_seed = 0;
};

// One built op with the buffers it borrows.
struct BuiltOp {
  std::unique_ptr<ScatteredMessage> msg;
  std::vector<IoSegment> huge_segs;  // kTooLong only
  Bytes small;                       // what huge_segs point at
  Bytes tag;
  AeadOp op;

  Bytes Data() const { return msg != nullptr ? msg->Gather() : small; }
};

class BatchTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    ASSERT_NE(backend_, nullptr);
    for (AeadAlg alg : kAllAeadAlgs) {
      for (int i = 0; i < 2; ++i) {
        keys_.push_back(std::make_unique<AeadKey>());
        ASSERT_EQ(backend_->init_key(*keys_.back(), alg,
                                     RandomBytes(rng_, aead_key_len(alg))),
                  AeadStatus::kOk);
      }
    }
    const BackendKind other_kind = GetParam() == BackendKind::kIpsecMb
                                       ? BackendKind::kOpenSsl
                                       : BackendKind::kIpsecMb;
    other_backend_ = MakeBackendOrFail(other_kind);
    ASSERT_NE(other_backend_, nullptr);
    ASSERT_EQ(other_backend_->init_key(foreign_key_, AeadAlg::kAes128Gcm,
                                       RandomBytes(rng_, 16)),
              AeadStatus::kOk);
  }

  void TearDown() override {
    // Keys go before the backend that owns them.
    foreign_key_.release();
    keys_.clear();
  }

  // A random valid op; opens get a ciphertext sealed beforehand.
  OpSpec RandomSpec(Fault fault, std::optional<size_t> key_index = {}) {
    OpSpec s;
    s.fault = fault;
    s.key_index = key_index.value_or(RandomSize(rng_, 0, keys_.size() - 1));
    s.dir = (fault == Fault::kBadTag || RandomSize(rng_, 0, 1) == 0)
                ? AeadDir::kOpen
                : AeadDir::kSeal;
    s.nonce = RandomBytes(rng_, kAeadNonceLen);
    s.aad = RandomBytes(rng_, RandomSize(rng_, 0, 40));
    const size_t size = RandomSize(rng_, 0, 9) == 0 ? RandomSize(rng_, 0, 20000)
                                                    : RandomSize(rng_, 0, 700);
    s.plaintext = RandomBytes(rng_, size);
    s.layout_seed = rng_();
    if (s.dir == AeadDir::kSeal) {
      s.input = s.plaintext;
      s.tag_in = Bytes(kAeadTagLen, 0xEE);
    } else {
      OneShot sealed =
          RunScattered(*backend_, *keys_[s.key_index], AeadDir::kSeal, s.nonce,
                       s.aad, s.plaintext, SingleSegment(size), {}, rng_);
      EXPECT_EQ(sealed.status, AeadStatus::kOk);
      s.input = std::move(sealed.data);
      s.tag_in = std::move(sealed.tag);
    }
    if (fault == Fault::kBadTag) {
      s.tag_in[RandomSize(rng_, 0, kAeadTagLen - 1)] ^= 0x10;
    } else if (fault == Fault::kBadNonce) {
      s.nonce.resize(8);
    }
    return s;
  }

  std::unique_ptr<BuiltOp> Build(const OpSpec& s) {
    auto b = std::make_unique<BuiltOp>();
    std::mt19937_64 layout_rng(s.layout_seed);
    b->tag = s.tag_in;
    const AeadKey* key = keys_[s.key_index].get();
    if (s.fault == Fault::kForeignKey) {
      key = &foreign_key_;
    } else if (s.fault == Fault::kEmptyKey) {
      key = &empty_key_;
    }
    std::span<const IoSegment> segs;
    if (s.fault == Fault::kTooLong) {
      // Far more than any algorithm allows, pointing at 32 real bytes; it
      // must be refused before a byte is read.
      b->small = RandomBytes(layout_rng, 32);
      const uint64_t limit = aead_max_plaintext(key->alg());
      b->huge_segs = {{b->small.data(), 16},
                      {b->small.data() + 16, static_cast<size_t>(limit)}};
      segs = b->huge_segs;
    } else {
      b->msg = std::make_unique<ScatteredMessage>(
          s.input, RandomSegments(s.input.size(), layout_rng), layout_rng);
      segs = b->msg->segs();
    }
    b->op = MakeOp(*key, s.dir, s.nonce, s.aad, segs,
                   s.fault == Fault::kNullTag ? nullptr : b->tag.data());
    return b;
  }

  // Runs `specs` once op by op with run_one() and once as one run() batch,
  // then checks both agree and each op got what its spec calls for.
  void RunAndCompare(const std::vector<OpSpec>& specs) {
    std::vector<std::unique_ptr<BuiltOp>> alone;
    std::vector<std::unique_ptr<BuiltOp>> batched;
    std::vector<AeadOp> batch_ops;
    for (const OpSpec& s : specs) {
      alone.push_back(Build(s));
      batched.push_back(Build(s));
      batch_ops.push_back(batched.back()->op);
    }
    for (auto& b : alone) {
      backend_->run_one(b->op);
    }
    const size_t ok = backend_->run(batch_ops);

    size_t expected_ok = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
      const OpSpec& s = specs[i];
      const BuiltOp& a = *alone[i];
      const AeadOp& op = batch_ops[i];
      SCOPED_TRACE(::testing::Message()
                   << "op " << i << ": "
                   << (s.dir == AeadDir::kSeal ? "seal" : "open") << " "
                   << aead_alg_name(keys_[s.key_index]->alg()) << ", "
                   << s.input.size() << " bytes, fault " << FaultName(s.fault));
      const AeadStatus want = ExpectedStatus(s.fault);
      expected_ok += want == AeadStatus::kOk ? 1 : 0;
      EXPECT_EQ(aead_status_name(op.status), aead_status_name(want));
      EXPECT_EQ(aead_status_name(a.op.status), aead_status_name(want));
      // Same bytes batched as alone.
      const Bytes data = batched[i]->Data();
      EXPECT_TRUE(data == a.Data()) << "batched bytes differ from run_one";
      EXPECT_EQ(batched[i]->tag, a.tag) << "batched tag differs from run_one";
      if (batched[i]->msg != nullptr) {
        EXPECT_TRUE(batched[i]->msg->GuardsIntact());
      }
      // And the right bytes.
      if (want == AeadStatus::kOk && s.dir == AeadDir::kOpen) {
        EXPECT_TRUE(data == s.plaintext) << "open gave the wrong plaintext";
      } else if (want == AeadStatus::kOk) {
        OneShot reopened = RunScattered(
            *backend_, *keys_[s.key_index], AeadDir::kOpen, s.nonce, s.aad,
            data, SingleSegment(data.size()), batched[i]->tag, rng_);
        EXPECT_EQ(reopened.status, AeadStatus::kOk);
        EXPECT_TRUE(reopened.data == s.plaintext) << "seal output is wrong";
      } else if (want == AeadStatus::kAuthFailed) {
        EXPECT_THAT(data, ::testing::Each(0));
      } else if (s.fault == Fault::kTooLong) {
        EXPECT_TRUE(data == batched[i]->small);
        EXPECT_EQ(batched[i]->tag, s.tag_in);
      } else {
        EXPECT_TRUE(data == s.input) << "refused op changed its segments";
        EXPECT_EQ(batched[i]->tag, s.tag_in) << "refused op changed its tag";
      }
    }
    EXPECT_EQ(ok, expected_ok) << "run() must return the number of kOk ops";
  }

  std::mt19937_64 rng_{0xBA7C4};
  std::vector<std::unique_ptr<AeadKey>> keys_;
  std::unique_ptr<AeadBackend> other_backend_;
  AeadKey foreign_key_;
  AeadKey empty_key_;
};

TEST_P(BatchTest, MixedBatchMatchesRunOneForEveryOp) {
  std::vector<OpSpec> specs;
  for (int i = 0; i < 64; ++i) {
    specs.push_back(RandomSpec(Fault::kNone));
  }
  RunAndCompare(specs);
}

TEST_P(BatchTest, MixedBatchWithBadOpsMatchesRunOneAndCountsOk) {
  std::vector<OpSpec> specs;
  for (int i = 0; i < 64; ++i) {
    // A bad op of each kind, spread through the middle of the batch.
    const Fault fault =
        (i % 9 == 4 && i / 9 < static_cast<int>(std::size(kAllFaults)))
            ? kAllFaults[i / 9]
            : Fault::kNone;
    specs.push_back(RandomSpec(fault));
  }
  RunAndCompare(specs);
}

TEST_P(BatchTest, EachBadOpInMiddleLeavesNeighboursIntact) {
  for (Fault fault : kAllFaults) {
    SCOPED_TRACE(FaultName(fault));
    std::vector<OpSpec> specs;
    for (int i = 0; i < 9; ++i) {
      specs.push_back(RandomSpec(i == 4 ? fault : Fault::kNone));
    }
    RunAndCompare(specs);
  }
}

TEST_P(BatchTest, ConsecutiveBadOpsOfEveryKindGetTheirOwnStatus) {
  std::vector<OpSpec> specs = {RandomSpec(Fault::kNone)};
  for (Fault fault : kAllFaults) {
    specs.push_back(RandomSpec(fault));
  }
  specs.push_back(RandomSpec(Fault::kNone));
  RunAndCompare(specs);
}

// The same key before and after each kind of failure: a failed op must not
// leave state behind in the key (the OpenSSL backend keeps one cipher
// context per key).
TEST_P(BatchTest, FailedOpsDoNotDisturbLaterOpsOnTheSameKey) {
  for (size_t k = 0; k < keys_.size(); ++k) {
    SCOPED_TRACE(::testing::Message() << "key " << k);
    std::vector<OpSpec> specs;
    for (Fault fault : kAllFaults) {
      if (fault == Fault::kForeignKey || fault == Fault::kEmptyKey) {
        continue;  // those do not use the key
      }
      specs.push_back(RandomSpec(Fault::kNone, k));
      specs.push_back(RandomSpec(fault, k));
      specs.push_back(RandomSpec(Fault::kNone, k));
    }
    RunAndCompare(specs);
  }
}

TEST_P(BatchTest, EmptyBatchReturnsZero) { EXPECT_EQ(backend_->run({}), 0u); }

INSTANTIATE_TEST_SUITE_P(AllBackends, BatchTest,
                         ::testing::ValuesIn(kAllBackends), BackendParamName);

}  // namespace
}  // namespace dptls::crypto
