// Flipping any single bit of ciphertext, tag, AAD or nonce must make open
// fail with kAuthFailed and wipe every byte of every segment.
#include <gmock/gmock.h>
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
using ::dptls::crypto::testing::OneShot;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSegments;
using ::dptls::crypto::testing::RunScattered;
using ::dptls::crypto::testing::SanitizedName;
using ::dptls::crypto::testing::SingleSegment;

using Param = std::tuple<BackendKind, AeadAlg>;

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return SanitizedName(backend_kind_name(std::get<0>(info.param))) + "_" +
         SanitizedName(aead_alg_name(std::get<1>(info.param)));
}

// One sealed message and the inputs that produced it.
struct Sealed {
  Bytes nonce, aad, plaintext, ciphertext, tag;
};

class TamperTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    backend_ = MakeBackendOrFail(std::get<0>(GetParam()));
    ASSERT_NE(backend_, nullptr);
    ASSERT_EQ(
        backend_->init_key(key_, alg(), RandomBytes(rng_, aead_key_len(alg()))),
        AeadStatus::kOk);
  }

  AeadAlg alg() const { return std::get<1>(GetParam()); }

  Sealed Seal(size_t size, size_t aad_size) {
    Sealed s;
    s.nonce = RandomBytes(rng_, kAeadNonceLen);
    s.aad = RandomBytes(rng_, aad_size);
    s.plaintext = RandomBytes(rng_, size);
    OneShot r = RunScattered(*backend_, key_, AeadDir::kSeal, s.nonce, s.aad,
                             s.plaintext, SingleSegment(size), {}, rng_);
    EXPECT_EQ(r.status, AeadStatus::kOk);
    s.ciphertext = std::move(r.data);
    s.tag = std::move(r.tag);
    return s;
  }

  // Opens `s`, scattered at random, and expects kOk and the plaintext.
  void ExpectOpens(const Sealed& s) {
    OneShot r = RunScattered(
        *backend_, key_, AeadDir::kOpen, s.nonce, s.aad, s.ciphertext,
        RandomSegments(s.ciphertext.size(), rng_), s.tag, rng_);
    EXPECT_EQ(r.status, AeadStatus::kOk);
    EXPECT_TRUE(r.data == s.plaintext);
  }

  // Opens `s` (already tampered with), scattered at random, and expects
  // kAuthFailed with every segment byte zeroed. Returns false on failure so
  // callers can stop early instead of flooding the log.
  bool ExpectRejected(const Sealed& s, const char* field, size_t bit) {
    SCOPED_TRACE(::testing::Message()
                 << "flipped bit " << bit << " of " << field << ", message "
                 << s.ciphertext.size() << " bytes");
    OneShot r = RunScattered(
        *backend_, key_, AeadDir::kOpen, s.nonce, s.aad, s.ciphertext,
        RandomSegments(s.ciphertext.size(), rng_), s.tag, rng_);
    EXPECT_EQ(r.status, AeadStatus::kAuthFailed);
    if (!r.all_zero) {
      // The matcher is slow; only use it to explain a failure.
      EXPECT_THAT(r.data, ::testing::Each(0))
          << "a segment byte survived a failed open";
    }
    EXPECT_TRUE(r.guards_intact) << "open wrote outside its segments";
    return r.status == AeadStatus::kAuthFailed && r.all_zero && r.guards_intact;
  }

  // Flips each chosen bit of the field selected by `member` in turn.
  void FlipEachBit(const Sealed& original, Bytes Sealed::*member,
                   const char* field, size_t stride) {
    const size_t bits = (original.*member).size() * 8;
    for (size_t bit = 0; bit < bits; bit += stride) {
      Sealed tampered = original;
      (tampered.*member)[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      if (!ExpectRejected(tampered, field, bit)) {
        return;
      }
    }
    if (bits != 0 && (bits - 1) % stride != 0) {
      Sealed tampered = original;
      (tampered.*member)[(bits - 1) / 8] ^= 0x80;
      ExpectRejected(tampered, field, bits - 1);
    }
  }

  std::mt19937_64 rng_{0x7A3E};
  std::unique_ptr<AeadBackend> backend_;
  AeadKey key_;
};

TEST_P(TamperTest, AnyFlippedBitFailsAuthAndZeroesSegments) {
  // (message size, aad size, stride over message bits): short messages get
  // every bit flipped, the long one every 13th bit.
  struct Shape {
    size_t size, aad_size, stride;
  };
  for (Shape shape : {Shape{0, 0, 1}, Shape{0, 13, 1}, Shape{1, 0, 1},
                      Shape{33, 21, 1}, Shape{4099, 5, 13}}) {
    const Sealed s = Seal(shape.size, shape.aad_size);
    ExpectOpens(s);
    FlipEachBit(s, &Sealed::ciphertext, "ciphertext", shape.stride);
    FlipEachBit(s, &Sealed::tag, "tag", 1);
    FlipEachBit(s, &Sealed::aad, "aad", 1);
    FlipEachBit(s, &Sealed::nonce, "nonce", 1);
    if (HasFailure()) {
      return;
    }
  }
}

TEST_P(TamperTest, TruncatedOrExtendedAadFailsAuth) {
  Sealed s = Seal(40, 16);
  Sealed shorter = s;
  shorter.aad.pop_back();
  ExpectRejected(shorter, "aad (dropped last byte)", 0);
  Sealed longer = s;
  longer.aad.push_back(0);
  ExpectRejected(longer, "aad (appended zero byte)", 0);
  Sealed none = s;
  none.aad.clear();
  ExpectRejected(none, "aad (removed)", 0);
}

INSTANTIATE_TEST_SUITE_P(AllBackendsAllAlgs, TamperTest,
                         ::testing::Combine(::testing::ValuesIn(kAllBackends),
                                            ::testing::ValuesIn(kAllAeadAlgs)),
                         ParamName);

}  // namespace
}  // namespace dptls::crypto
