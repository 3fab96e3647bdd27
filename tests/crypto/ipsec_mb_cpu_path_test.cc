// Each IPsec-MB instruction-set path either works, byte for byte like
// OpenSSL, or is refused with a reason.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"
#include "support/wycheproof.h"

namespace dptls::crypto {
namespace {

using ::dptls::crypto::testing::Bytes;
using ::dptls::crypto::testing::HexEncode;
using ::dptls::crypto::testing::kAllCpuPaths;
using ::dptls::crypto::testing::MakeBackendOrFail;
using ::dptls::crypto::testing::OneShot;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSegments;
using ::dptls::crypto::testing::RunScattered;
using ::dptls::crypto::testing::RunWycheproofFile;
using ::dptls::crypto::testing::SanitizedName;
using ::dptls::crypto::testing::SingleSegment;
using ::dptls::crypto::testing::WycheproofCounts;
using ::dptls::crypto::testing::WycheproofFamily;

// Sizes around block and vector-width edges (16, 64, 128, 256, 512 bytes
// per iteration for the SSE .. AVX-512 code).
constexpr size_t kSizes[] = {0,    1,    15,       16,        17,   63,  64,
                             65,   127,  255,      256,       257,  511, 512,
                             1023, 1500, 4096 + 7, 16384 + 3, 65536};

class IpsecMbCpuPathTest : public ::testing::TestWithParam<CpuPath> {};

// Seals with `backend` and with OpenSSL and expects the same bytes, then
// opens each with the other.
void ExpectMatchesOpenSsl(AeadBackend& backend, AeadBackend& openssl,
                          std::mt19937_64& rng) {
  for (AeadAlg alg : kAllAeadAlgs) {
    const Bytes secret = RandomBytes(rng, aead_key_len(alg));
    AeadKey key;
    AeadKey ref_key;
    ASSERT_EQ(backend.init_key(key, alg, secret), AeadStatus::kOk)
        << aead_alg_name(alg);
    ASSERT_EQ(openssl.init_key(ref_key, alg, secret), AeadStatus::kOk);
    for (size_t size : kSizes) {
      SCOPED_TRACE(::testing::Message()
                   << aead_alg_name(alg) << ", " << size << " bytes");
      const Bytes nonce = RandomBytes(rng, kAeadNonceLen);
      const Bytes aad = RandomBytes(rng, size % 37);
      const Bytes plaintext = RandomBytes(rng, size);
      const std::vector<size_t> layout =
          size % 2 == 0 ? SingleSegment(size) : RandomSegments(size, rng);
      OneShot mine = RunScattered(backend, key, AeadDir::kSeal, nonce, aad,
                                  plaintext, layout, {}, rng);
      OneShot ref = RunScattered(openssl, ref_key, AeadDir::kSeal, nonce, aad,
                                 plaintext, SingleSegment(size), {}, rng);
      ASSERT_EQ(mine.status, AeadStatus::kOk);
      ASSERT_EQ(ref.status, AeadStatus::kOk);
      EXPECT_TRUE(mine.data == ref.data) << "ciphertext differs from OpenSSL";
      EXPECT_EQ(HexEncode(mine.tag), HexEncode(ref.tag));
      EXPECT_TRUE(mine.guards_intact);
      OneShot opened =
          RunScattered(backend, key, AeadDir::kOpen, nonce, aad, ref.data,
                       RandomSegments(size, rng), ref.tag, rng);
      EXPECT_EQ(opened.status, AeadStatus::kOk);
      EXPECT_TRUE(opened.data == plaintext);
      OneShot ref_opened =
          RunScattered(openssl, ref_key, AeadDir::kOpen, nonce, aad, mine.data,
                       SingleSegment(size), mine.tag, rng);
      EXPECT_EQ(ref_opened.status, AeadStatus::kOk);
      if (::testing::Test::HasFailure()) {
        return;
      }
    }
  }
}

TEST_P(IpsecMbCpuPathTest, PathWorksLikeOpenSslOrIsRefusedWithAReason) {
  const CpuPath path = GetParam();
  BackendOptions options;
  options.cpu_path = path;
  std::string error;
  std::unique_ptr<AeadBackend> backend =
      make_backend(BackendKind::kIpsecMb, options, &error);
  if (backend == nullptr) {
    EXPECT_NE(path, CpuPath::kAuto)
        << "the auto path must always work: " << error;
    EXPECT_FALSE(error.empty()) << "refused without a reason";
    std::printf("[ cpu path ] %s: refused: %s\n",
                std::string(cpu_path_name(path)).c_str(), error.c_str());
    return;
  }
  EXPECT_EQ(backend->kind(), BackendKind::kIpsecMb);
  const std::string description = backend->describe();
  EXPECT_FALSE(description.empty());
  std::printf("[ cpu path ] %s: %s\n", std::string(cpu_path_name(path)).c_str(),
              description.c_str());
  std::unique_ptr<AeadBackend> openssl =
      MakeBackendOrFail(BackendKind::kOpenSsl);
  ASSERT_NE(openssl, nullptr);
  std::mt19937_64 rng(0xC9 + static_cast<int>(path));
  ExpectMatchesOpenSsl(*backend, *openssl, rng);
}

// The Wycheproof files again, on each available path (the IPsec-MB kernels
// differ per path).
TEST_P(IpsecMbCpuPathTest, WycheproofVectorsPassOnThisPath) {
  BackendOptions options;
  options.cpu_path = GetParam();
  std::string error;
  std::unique_ptr<AeadBackend> backend =
      make_backend(BackendKind::kIpsecMb, options, &error);
  if (backend == nullptr) {
    GTEST_SKIP() << "path not available here: " << error;
  }
  const WycheproofCounts gcm = RunWycheproofFile(*backend, "aes_gcm_test.json",
                                                 WycheproofFamily::kAesGcm);
  const WycheproofCounts chacha =
      RunWycheproofFile(*backend, "chacha20_poly1305_test.json",
                        WycheproofFamily::kChaCha20Poly1305);
  EXPECT_GT(gcm.exercised(), 0u);
  EXPECT_GT(chacha.exercised(), 0u);
}

std::string CpuPathParamName(const ::testing::TestParamInfo<CpuPath>& info) {
  return SanitizedName(cpu_path_name(info.param));
}

INSTANTIATE_TEST_SUITE_P(AllCpuPaths, IpsecMbCpuPathTest,
                         ::testing::ValuesIn(kAllCpuPaths), CpuPathParamName);

}  // namespace
}  // namespace dptls::crypto
