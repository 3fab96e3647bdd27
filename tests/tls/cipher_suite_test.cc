// The TLS 1.3 cipher suite table: code points, names, AEAD and hash.
#include "dptls/tls/cipher_suite.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace dptls::tls {
namespace {

using crypto::AeadAlg;

TEST(CipherSuiteTest, TableMatchesRfc8446AppendixB4) {
  struct Want {
    uint16_t code;
    const char* name;
    AeadAlg aead;
    HashAlg hash;
  };
  const Want want[] = {
      {0x1301, "TLS_AES_128_GCM_SHA256", AeadAlg::kAes128Gcm, HashAlg::kSha256},
      {0x1302, "TLS_AES_256_GCM_SHA384", AeadAlg::kAes256Gcm, HashAlg::kSha384},
      {0x1303, "TLS_CHACHA20_POLY1305_SHA256", AeadAlg::kChaCha20Poly1305,
       HashAlg::kSha256},
  };
  ASSERT_EQ(std::size(kAllCipherSuites), std::size(want));
  for (const Want& w : want) {
    SCOPED_TRACE(w.name);
    const CipherSuiteInfo* info = find_cipher_suite(w.code);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->code, w.code);
    EXPECT_EQ(static_cast<uint16_t>(info->suite), w.code)
        << "enumerator value is the code point";
    EXPECT_EQ(info->name, w.name);
    EXPECT_EQ(info->aead, w.aead);
    EXPECT_EQ(info->hash, w.hash);
    EXPECT_EQ(cipher_suite_info(info->suite), info);
    EXPECT_EQ(parse_cipher_suite(w.name), info->suite);
  }
}

TEST(CipherSuiteTest, UnknownCodePointsAndNamesAreNotFound) {
  // TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256 (not implemented), a
  // TLS 1.2 suite, GREASE and zero.
  for (uint16_t code : {0x1304, 0x1305, 0xC02F, 0x0A0A, 0x0000, 0x1300}) {
    EXPECT_EQ(find_cipher_suite(code), nullptr) << std::hex << code;
  }
  EXPECT_EQ(cipher_suite_info(static_cast<CipherSuite>(0x1304)), nullptr);
  EXPECT_FALSE(parse_cipher_suite("TLS_AES_128_CCM_SHA256").has_value());
  EXPECT_FALSE(parse_cipher_suite("tls_aes_128_gcm_sha256").has_value());
  EXPECT_FALSE(parse_cipher_suite("").has_value());
}

TEST(CipherSuiteTest, EveryListedSuiteIsConsistent) {
  std::set<std::string_view> names;
  for (CipherSuite suite : kAllCipherSuites) {
    const CipherSuiteInfo* info = cipher_suite_info(suite);
    ASSERT_NE(info, nullptr);
    names.insert(info->name);
    EXPECT_GT(crypto::aead_key_len(info->aead), 0u);
    EXPECT_GT(hash_len(info->hash), 0u);
  }
  EXPECT_EQ(names.size(), std::size(kAllCipherSuites));
}

}  // namespace
}  // namespace dptls::tls
