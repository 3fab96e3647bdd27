// Credential::sign for ECDSA P-256 on both of its paths: ECDSA_do_sign with
// the signature DER-encoded here (ecdsa_direct.h, the default) and
// EVP_PKEY_sign (the fallback); and that DER encoder against libcrypto's.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dptls/tls/handshake/credentials.h"
#include "handshake_test_support.h"
#include "tls/handshake/ecdsa_direct.h"

namespace dptls::tls {
namespace {

using internal::EcdsaP256Key;
using internal::encode_ecdsa_signature;
using testing::Bytes;
using testing::Pki;

// libcrypto's DER of { r, s } (big-endian magnitudes).
Bytes LibcryptoDer(const Bytes& r, const Bytes& s) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* br = BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr);
  BIGNUM* bs = BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr);
  EXPECT_EQ(ECDSA_SIG_set0(sig, br, bs), 1);
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  Bytes out(der, der + (len > 0 ? len : 0));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

Bytes Encode(const Bytes& r, const Bytes& s) {
  std::array<uint8_t, EcdsaP256Key::kMaxSignatureLen> out{};
  const size_t len = encode_ecdsa_signature(r, s, out);
  return Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len));
}

TEST(EcdsaDer, MatchesLibcryptoForEveryShape) {
  std::mt19937 rng(3);
  size_t checked = 0;
  // Values with 0 to 32 leading zero bytes, the first non-zero byte with
  // its high bit set or clear, and the all-zero value.
  for (size_t zeros = 0; zeros <= 32; ++zeros) {
    for (const uint8_t top :
         {uint8_t{0x01}, uint8_t{0x7f}, uint8_t{0x80}, uint8_t{0xff}}) {
      Bytes r(32);
      Bytes s(32);
      for (size_t i = 0; i < 32; ++i) {
        r[i] = static_cast<uint8_t>(rng());
        s[i] = static_cast<uint8_t>(rng());
      }
      for (size_t i = 0; i < zeros; ++i) {
        r[i] = 0;
      }
      if (zeros < 32) {
        r[zeros] = top;
      }
      s[0] = static_cast<uint8_t>(top ^ 0x80);
      ASSERT_EQ(Encode(r, s), LibcryptoDer(r, s))
          << "zeros " << zeros << " top " << int{top};
      ASSERT_EQ(Encode(s, r), LibcryptoDer(s, r));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 33u * 4u);
  // Both at their longest: 72 bytes.
  const Bytes high(32, 0xff);
  EXPECT_EQ(Encode(high, high).size(), EcdsaP256Key::kMaxSignatureLen);
}

TEST(EcdsaDer, RefusesWhatDoesNotFit) {
  const Bytes r(32, 0x80);
  std::array<uint8_t, 40> small{};
  EXPECT_EQ(encode_ecdsa_signature(r, r, small), 0u);
  std::array<uint8_t, EcdsaP256Key::kMaxSignatureLen> out{};
  EXPECT_EQ(encode_ecdsa_signature(Bytes(33, 1), r, out), 0u);
  EXPECT_EQ(encode_ecdsa_signature(r, Bytes(33, 1), out), 0u);
}

TEST(EcdsaDirect, AvailableWithThisLibcryptoAndOnlyForP256) {
  EXPECT_TRUE(EcdsaP256Key::available());
  EcdsaP256Key ec;
  EXPECT_TRUE(ec.init(Pki().root.key.get()));  // the test root is P-256
  for (const char* kind : {"rsa", "ed25519"}) {
    testing::Ptr<EVP_PKEY> key = testing::MakeKey(kind);
    EcdsaP256Key other;
    EXPECT_FALSE(other.init(key.get())) << kind;
    EXPECT_FALSE(other.ready());
  }
}

// Runs the body with the direct path on (true) and off (false), and
// leaves it on.
class EcdsaPathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { EcdsaP256Key::set_enabled_for_testing(GetParam()); }
  void TearDown() override { EcdsaP256Key::set_enabled_for_testing(true); }
};

// 400 signatures over different contents: each verifies with the leaf's
// public key (EVP_DigestVerify, SHA-256) and is the DER libcrypto would
// write for it; the lengths vary (an r or s with its high bit set takes a
// zero byte more); a signature with one bit flipped does not verify.
TEST_P(EcdsaPathTest, SignaturesVerifyAndAreCanonicalDer) {
  const std::shared_ptr<const Credential> cred =
      Pki().Load(Pki().leaves.at("ec"));
  ASSERT_NE(cred, nullptr);
  const std::vector<uint8_t>& leaf_der = cred->chain()[0];
  const unsigned char* p = leaf_der.data();
  testing::Ptr<X509> leaf(
      d2i_X509(nullptr, &p, static_cast<long>(leaf_der.size())));
  ASSERT_NE(leaf, nullptr);
  EVP_PKEY* pub = X509_get0_pubkey(leaf.get());
  ASSERT_NE(pub, nullptr);
  std::set<size_t> lengths;
  Bytes content(130, 0x20);
  for (uint32_t i = 0; i < 400; ++i) {
    content[128] = static_cast<uint8_t>(i);
    content[129] = static_cast<uint8_t>(i >> 8);
    std::vector<uint8_t> sig;
    ASSERT_TRUE(
        cred->sign(SignatureScheme::kEcdsaSecp256r1Sha256, content, &sig));
    lengths.insert(sig.size());
    const auto verify = [&](const std::vector<uint8_t>& s) {
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      const bool ok =
          EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub) == 1 &&
          EVP_DigestVerify(ctx, s.data(), s.size(), content.data(),
                           content.size()) == 1;
      EVP_MD_CTX_free(ctx);
      return ok;
    };
    ASSERT_TRUE(verify(sig)) << i;
    const unsigned char* q = sig.data();
    ECDSA_SIG* parsed =
        d2i_ECDSA_SIG(nullptr, &q, static_cast<long>(sig.size()));
    ASSERT_NE(parsed, nullptr);
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(parsed, &der);
    ASSERT_EQ(Bytes(der, der + len), sig) << "not canonical DER";
    OPENSSL_free(der);
    ECDSA_SIG_free(parsed);
    if (i % 50 == 0) {
      std::vector<uint8_t> bad = sig;
      bad[sig.size() - 1 - (i / 50)] ^= 0x01;
      EXPECT_FALSE(verify(bad)) << i;
    }
  }
  EXPECT_GE(lengths.size(), 2u) << "every signature had the same length";
  EXPECT_EQ(*lengths.rbegin(), EcdsaP256Key::kMaxSignatureLen);
}

std::string PathName(const ::testing::TestParamInfo<bool>& path) {
  return path.param ? "Direct" : "Evp";
}

INSTANTIATE_TEST_SUITE_P(Paths, EcdsaPathTest, ::testing::Bool(), PathName);

}  // namespace
}  // namespace dptls::tls
