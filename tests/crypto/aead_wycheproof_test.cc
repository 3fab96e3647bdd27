// Runs every test of the Wycheproof AES-GCM and ChaCha20-Poly1305 files
// against every backend, whole and split into scattered segments.
#include <gtest/gtest.h>

#include <string>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"
#include "support/wycheproof.h"

namespace dptls::crypto {
namespace {

using ::dptls::crypto::testing::BackendParamName;
using ::dptls::crypto::testing::BackendTest;
using ::dptls::crypto::testing::Bytes;
using ::dptls::crypto::testing::HexDecode;
using ::dptls::crypto::testing::LoadWycheproof;
using ::dptls::crypto::testing::RunWycheproofFile;
using ::dptls::crypto::testing::VectorsDir;
using ::dptls::crypto::testing::WycheproofCounts;
using ::dptls::crypto::testing::WycheproofFamily;
using ::dptls::crypto::testing::WycheproofFile;

using WycheproofTest = BackendTest;

TEST_P(WycheproofTest, AesGcmVectorsSealOpenAndRejectAsExpected) {
  const WycheproofCounts counts = RunWycheproofFile(
      *backend_, "aes_gcm_test.json", WycheproofFamily::kAesGcm);
  EXPECT_GT(counts.valid, 0u);
  EXPECT_GT(counts.invalid, 0u);
  EXPECT_GT(counts.bad_nonce, 0u);
  EXPECT_GT(counts.unsupported_key, 0u);
}

TEST_P(WycheproofTest, ChaCha20Poly1305VectorsSealOpenAndRejectAsExpected) {
  const WycheproofCounts counts =
      RunWycheproofFile(*backend_, "chacha20_poly1305_test.json",
                        WycheproofFamily::kChaCha20Poly1305);
  EXPECT_GT(counts.valid, 0u);
  EXPECT_GT(counts.invalid, 0u);
  EXPECT_GT(counts.bad_nonce, 0u);
}

// The loader must refuse what it cannot read rather than return nothing.
TEST(WycheproofLoaderTest, MissingFileIsAnError) {
  WycheproofFile file;
  std::string error;
  EXPECT_FALSE(LoadWycheproof(VectorsDir() / "wycheproof" / "no_such.json",
                              &file, &error));
  EXPECT_FALSE(error.empty());
}

TEST(WycheproofLoaderTest, HexDecodeRejectsOddLengthAndNonHex) {
  Bytes out;
  EXPECT_TRUE(HexDecode("00ff7A", &out));
  EXPECT_EQ(out, (Bytes{0x00, 0xFF, 0x7A}));
  EXPECT_TRUE(HexDecode("", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(HexDecode("abc", &out));
  EXPECT_FALSE(HexDecode("0g", &out));
  EXPECT_FALSE(HexDecode("0 ", &out));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, WycheproofTest,
                         ::testing::ValuesIn(kAllBackends), BackendParamName);

}  // namespace
}  // namespace dptls::crypto
