// Every Wycheproof HKDF-SHA-256 and HKDF-SHA-384 vector through
// hkdf_extract + hkdf_expand: "valid" must give the OKM byte for byte,
// "invalid" (an output longer than 255 * HashLen) must be refused.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dptls/tls/hkdf.h"
#include "support/aead_test_support.h"
#include "support/wycheproof.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::testing::HexEncode;
using ::dptls::crypto::testing::LoadWycheproofHkdf;
using ::dptls::crypto::testing::VectorsDir;
using ::dptls::crypto::testing::WycheproofHkdfCase;
using ::dptls::crypto::testing::WycheproofHkdfFile;

struct FileParam {
  const char* file;
  HashAlg alg;
  const char* algorithm;  // the file's "algorithm"
};

class HkdfWycheproofTest : public ::testing::TestWithParam<FileParam> {};

TEST_P(HkdfWycheproofTest, EveryVectorMatchesOrIsRefused) {
  const FileParam& p = GetParam();
  WycheproofHkdfFile file;
  std::string error;
  ASSERT_TRUE(
      LoadWycheproofHkdf(VectorsDir() / "wycheproof" / p.file, &file, &error))
      << error;
  EXPECT_EQ(file.algorithm, p.algorithm);
  EXPECT_EQ(file.cases.size(), file.number_of_tests)
      << "loader dropped or invented tests";
  size_t valid = 0;
  size_t invalid = 0;
  size_t max_size = 0;
  for (const WycheproofHkdfCase& c : file.cases) {
    SCOPED_TRACE(::testing::Message()
                 << p.file << " tcId " << c.tc_id << " (" << c.comment << ")");
    Secret prk;
    ASSERT_EQ(hkdf_extract(p.alg, c.salt, c.ikm, &prk), KdfStatus::kOk);
    ASSERT_EQ(prk.size(), hash_len(p.alg));
    std::vector<uint8_t> okm(c.size, 0xEE);
    const KdfStatus status = hkdf_expand(p.alg, prk.span(), c.info, okm);
    if (c.valid) {
      EXPECT_EQ(status, KdfStatus::kOk);
      EXPECT_EQ(HexEncode(okm), HexEncode(c.okm));
      max_size = std::max(max_size, c.size);
      ++valid;
    } else {
      EXPECT_EQ(status, KdfStatus::kBadLength);
      EXPECT_GT(c.size, 255 * hash_len(p.alg)) << "an unexpected invalid case";
      EXPECT_EQ(okm, std::vector<uint8_t>(c.size, 0))
          << "a refused expand must leave zeros, not partial output";
      ++invalid;
    }
  }
  std::printf("[ vectors  ] %s: %zu exercised (%zu valid, %zu invalid)\n",
              p.file, valid + invalid, valid, invalid);
  ::testing::Test::RecordProperty("vectors_exercised",
                                  static_cast<int>(valid + invalid));
  EXPECT_GT(valid, 0u);
  EXPECT_GT(invalid, 0u);
  EXPECT_EQ(valid + invalid, file.number_of_tests);
  // The maximal-size vectors (255 * HashLen) are among the valid ones.
  EXPECT_EQ(max_size, 255 * hash_len(p.alg));
}

INSTANTIATE_TEST_SUITE_P(
    Files, HkdfWycheproofTest,
    ::testing::Values(
        FileParam{"hkdf_sha256_test.json", HashAlg::kSha256, "HKDF-SHA-256"},
        FileParam{"hkdf_sha384_test.json", HashAlg::kSha384, "HKDF-SHA-384"}),
    [](const ::testing::TestParamInfo<FileParam>& param_info) {
      return std::string(hash_alg_name(param_info.param.alg));
    });

TEST(HkdfWycheproofLoaderTest, MissingFileIsAnError) {
  WycheproofHkdfFile file;
  std::string error;
  EXPECT_FALSE(LoadWycheproofHkdf(VectorsDir() / "wycheproof" / "no_such.json",
                                  &file, &error));
  EXPECT_FALSE(error.empty());
}

TEST(HkdfWycheproofLoaderTest, AnAeadFileIsNotAnHkdfFile) {
  WycheproofHkdfFile file;
  std::string error;
  EXPECT_FALSE(LoadWycheproofHkdf(
      VectorsDir() / "wycheproof" / "aes_gcm_test.json", &file, &error));
  EXPECT_NE(error.find("HkdfTest"), std::string::npos) << error;
}

}  // namespace
}  // namespace dptls::tls
