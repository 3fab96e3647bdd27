// Seals with one backend and opens with the other, for random sizes and
// random scatter layouts; both backends must produce identical bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"

namespace dptls::crypto {
namespace {

using ::dptls::crypto::testing::AlgParamName;
using ::dptls::crypto::testing::Bytes;
using ::dptls::crypto::testing::HexEncode;
using ::dptls::crypto::testing::MakeBackendOrFail;
using ::dptls::crypto::testing::OneShot;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSegments;
using ::dptls::crypto::testing::RandomSize;
using ::dptls::crypto::testing::RunScattered;
using ::dptls::crypto::testing::SingleSegment;

constexpr size_t kMaxSize = 65536;
constexpr int kIterations = 200;
constexpr size_t kEdgeSizes[] = {0, 1, 15, 16, 17, kMaxSize};

class CrossBackendTest : public ::testing::TestWithParam<AeadAlg> {
 protected:
  void SetUp() override {
    for (BackendKind kind : kAllBackends) {
      backends_.push_back(MakeBackendOrFail(kind));
      ASSERT_NE(backends_.back(), nullptr);
      ASSERT_TRUE(backends_.back()->supports(GetParam()))
          << backends_.back()->name();
    }
    ASSERT_GE(backends_.size(), 2u);
  }

  std::vector<std::unique_ptr<AeadBackend>> backends_;
};

size_t PickSize(int iteration, std::mt19937_64& rng) {
  if (iteration < static_cast<int>(std::size(kEdgeSizes))) {
    return kEdgeSizes[iteration];
  }
  // Half small (block and segment edge cases), half anywhere up to 64 KiB.
  return RandomSize(rng, 0, 1) == 0 ? RandomSize(rng, 0, 600)
                                    : RandomSize(rng, 0, kMaxSize);
}

// A third empty, most up to 300 bytes, a few long.
size_t PickAadSize(std::mt19937_64& rng) {
  const size_t kind = RandomSize(rng, 0, 9);
  if (kind < 3) {
    return 0;
  }
  return kind < 9 ? RandomSize(rng, 1, 300) : RandomSize(rng, 301, 20000);
}

std::vector<size_t> PickLayout(size_t size, std::mt19937_64& rng) {
  return RandomSize(rng, 0, 4) == 0 ? SingleSegment(size)
                                    : RandomSegments(size, rng);
}

TEST_P(CrossBackendTest, SealOnOneOpenOnOtherRoundTripsWithIdenticalBytes) {
  const AeadAlg alg = GetParam();
  std::mt19937_64 rng(0xC805 + static_cast<int>(alg));
  for (int iter = 0; iter < kIterations && !HasFailure(); ++iter) {
    const size_t size = PickSize(iter, rng);
    const Bytes secret = RandomBytes(rng, aead_key_len(alg));
    const Bytes nonce = RandomBytes(rng, kAeadNonceLen);
    const Bytes aad = RandomBytes(rng, PickAadSize(rng));
    const Bytes plaintext = RandomBytes(rng, size);
    SCOPED_TRACE(::testing::Message() << "iteration " << iter << ", size "
                                      << size << ", aad " << aad.size());

    std::vector<std::unique_ptr<AeadKey>> keys;
    std::vector<OneShot> sealed;
    for (auto& backend : backends_) {
      keys.push_back(std::make_unique<AeadKey>());
      ASSERT_EQ(backend->init_key(*keys.back(), alg, secret), AeadStatus::kOk);
      sealed.push_back(RunScattered(*backend, *keys.back(), AeadDir::kSeal,
                                    nonce, aad, plaintext,
                                    PickLayout(size, rng), {}, rng));
      ASSERT_EQ(sealed.back().status, AeadStatus::kOk) << backend->name();
      EXPECT_TRUE(sealed.back().guards_intact) << backend->name();
    }
    for (size_t b = 1; b < backends_.size(); ++b) {
      EXPECT_TRUE(sealed[b].data == sealed[0].data)
          << "ciphertext of " << backends_[b]->name() << " differs from "
          << backends_[0]->name();
      EXPECT_EQ(HexEncode(sealed[b].tag), HexEncode(sealed[0].tag))
          << "tag of " << backends_[b]->name() << " differs from "
          << backends_[0]->name();
    }
    // Every (sealer, opener) pair, including each backend with itself.
    for (size_t s = 0; s < backends_.size(); ++s) {
      for (size_t o = 0; o < backends_.size(); ++o) {
        OneShot opened = RunScattered(
            *backends_[o], *keys[o], AeadDir::kOpen, nonce, aad, sealed[s].data,
            PickLayout(size, rng), sealed[s].tag, rng);
        EXPECT_EQ(opened.status, AeadStatus::kOk)
            << "sealed by " << backends_[s]->name() << ", opened by "
            << backends_[o]->name();
        EXPECT_TRUE(opened.data == plaintext)
            << "plaintext did not round-trip: sealed by "
            << backends_[s]->name() << ", opened by " << backends_[o]->name();
        EXPECT_TRUE(opened.guards_intact);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllAlgs, CrossBackendTest,
                         ::testing::ValuesIn(kAllAeadAlgs), AlgParamName);

}  // namespace
}  // namespace dptls::crypto
