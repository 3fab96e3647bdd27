// Printable names of algorithms, statuses, backend kinds and CPU paths, and
// the per-algorithm constants.
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"

namespace dptls::crypto {
namespace {

using ::dptls::crypto::testing::kAllCpuPaths;
using ::dptls::crypto::testing::kAllStatuses;

// Names that must never parse as anything.
constexpr std::string_view kUnknownNames[] = {
    "",         " ",           "?",           "aes",
    "aes-128",  "aes-192-gcm", "AES-128-GCM", "aes-128-gcm ",
    " openssl", "openssl\n",   "OpenSSL",     "ipsec",
    "ipsec_mb", "ipsec-mb-x",  "chacha20",    "chacha20-poly1305x",
    "Auto",     "avx-512",     "avx512f",     "sse4",
    "ok",
};

TEST(AeadNamesTest, AlgorithmNamesRoundTripAndMatchTheTable) {
  const std::pair<AeadAlg, std::string_view> expected[] = {
      {AeadAlg::kAes128Gcm, "aes-128-gcm"},
      {AeadAlg::kAes256Gcm, "aes-256-gcm"},
      {AeadAlg::kChaCha20Poly1305, "chacha20-poly1305"},
  };
  ASSERT_EQ(std::size(kAllAeadAlgs), std::size(expected));
  for (auto [alg, name] : expected) {
    EXPECT_EQ(aead_alg_name(alg), name);
    EXPECT_EQ(parse_aead_alg(name), alg) << name;
  }
}

TEST(AeadNamesTest, KeyLengthsAndLimitsAreTheSpecified) {
  EXPECT_EQ(aead_key_len(AeadAlg::kAes128Gcm), 16u);
  EXPECT_EQ(aead_key_len(AeadAlg::kAes256Gcm), 32u);
  EXPECT_EQ(aead_key_len(AeadAlg::kChaCha20Poly1305), 32u);
  for (AeadAlg alg : kAllAeadAlgs) {
    EXPECT_LE(aead_key_len(alg), kAeadMaxKeyLen);
  }
  EXPECT_EQ(aead_max_plaintext(AeadAlg::kAes128Gcm), (uint64_t{1} << 36) - 32);
  EXPECT_EQ(aead_max_plaintext(AeadAlg::kAes256Gcm), (uint64_t{1} << 36) - 32);
  EXPECT_EQ(aead_max_plaintext(AeadAlg::kChaCha20Poly1305),
            (uint64_t{1} << 38) - 64);
  EXPECT_EQ(kAeadNonceLen, 12u);
  EXPECT_EQ(kAeadTagLen, 16u);
}

// The header has no parse function for statuses: check the names are the
// specified ones and distinct.
TEST(AeadNamesTest, StatusNamesAreDistinctAndTheSpecified) {
  const std::pair<AeadStatus, std::string_view> expected[] = {
      {AeadStatus::kOk, "ok"},
      {AeadStatus::kAuthFailed, "auth-failed"},
      {AeadStatus::kBadKey, "bad-key"},
      {AeadStatus::kBadNonce, "bad-nonce"},
      {AeadStatus::kTooLong, "too-long"},
      {AeadStatus::kBadArgument, "bad-argument"},
      {AeadStatus::kUnsupported, "unsupported"},
      {AeadStatus::kNotRun, "not-run"},
  };
  ASSERT_EQ(std::size(kAllStatuses), std::size(expected));
  std::set<std::string_view> seen;
  for (auto [status, name] : expected) {
    EXPECT_EQ(aead_status_name(status), name);
    EXPECT_TRUE(seen.insert(aead_status_name(status)).second) << name;
  }
}

TEST(AeadNamesTest, BackendKindNamesRoundTrip) {
  EXPECT_EQ(backend_kind_name(BackendKind::kIpsecMb), "ipsec-mb");
  EXPECT_EQ(backend_kind_name(BackendKind::kOpenSsl), "openssl");
  std::set<std::string_view> seen;
  for (BackendKind kind : kAllBackends) {
    const std::string_view name = backend_kind_name(kind);
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(seen.insert(name).second) << name;
    EXPECT_EQ(parse_backend_kind(name), kind) << name;
  }
}

TEST(AeadNamesTest, CpuPathNamesRoundTrip) {
  const std::pair<CpuPath, std::string_view> expected[] = {
      {CpuPath::kAuto, "auto"},     {CpuPath::kSse, "sse"},
      {CpuPath::kAvx, "avx"},       {CpuPath::kAvx2, "avx2"},
      {CpuPath::kAvx512, "avx512"},
  };
  ASSERT_EQ(std::size(kAllCpuPaths), std::size(expected));
  for (auto [path, name] : expected) {
    EXPECT_EQ(cpu_path_name(path), name);
    EXPECT_EQ(parse_cpu_path(name), path) << name;
  }
}

TEST(AeadNamesTest, UnknownNamesParseToNullopt) {
  for (std::string_view name : kUnknownNames) {
    SCOPED_TRACE(::testing::Message() << "'" << name << "'");
    EXPECT_EQ(parse_aead_alg(name), std::nullopt);
    EXPECT_EQ(parse_backend_kind(name), std::nullopt);
    EXPECT_EQ(parse_cpu_path(name), std::nullopt);
  }
  // A valid name followed by more bytes within the same buffer.
  const std::string padded("openssl\0x", 9);
  EXPECT_EQ(parse_backend_kind(padded), std::nullopt);
  EXPECT_EQ(parse_backend_kind(std::string_view(padded.data(), 7)),
            BackendKind::kOpenSsl);
}

TEST(AeadNamesTest, NamesOfOneKindDoNotParseAsAnother) {
  for (AeadAlg alg : kAllAeadAlgs) {
    EXPECT_EQ(parse_backend_kind(aead_alg_name(alg)), std::nullopt);
    EXPECT_EQ(parse_cpu_path(aead_alg_name(alg)), std::nullopt);
  }
  for (BackendKind kind : kAllBackends) {
    EXPECT_EQ(parse_aead_alg(backend_kind_name(kind)), std::nullopt);
    EXPECT_EQ(parse_cpu_path(backend_kind_name(kind)), std::nullopt);
  }
  for (CpuPath path : kAllCpuPaths) {
    EXPECT_EQ(parse_aead_alg(cpu_path_name(path)), std::nullopt);
    EXPECT_EQ(parse_backend_kind(cpu_path_name(path)), std::nullopt);
  }
}

}  // namespace
}  // namespace dptls::crypto
