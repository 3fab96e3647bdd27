// Hashes, HMAC, HKDF and HKDF-Expand-Label: names, limits, failure
// behaviour, Secret's wiping, and Expand-Label for both hashes against
// OpenSSL's own TLS13-KDF (an implementation we did not write).
#include "dptls/tls/hkdf.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dptls/tls/digest.h"
#include "support/aead_test_support.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::testing::HexEncode;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSize;
using Bytes = std::vector<uint8_t>;

// A HashAlg outside the enum, as a corrupted or uninitialised value would be.
const HashAlg kBogusHash = static_cast<HashAlg>(7);

std::string HashName(const ::testing::TestParamInfo<HashAlg>& param_info) {
  return std::string(hash_alg_name(param_info.param));
}

const char* OsslName(HashAlg alg) {
  return alg == HashAlg::kSha256 ? "SHA2-256" : "SHA2-384";
}

// HKDF-Expand-Label by OpenSSL's TLS13-KDF in EXPAND_ONLY mode.
Bytes OpenSslExpandLabel(HashAlg alg, const Bytes& secret,
                         const std::string& label, const Bytes& context,
                         size_t len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "TLS13-KDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  static const char kPrefix[] = "tls13 ";
  Bytes key = secret;
  std::string lab = label;
  Bytes data = context;
  unsigned char empty_byte = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                       const_cast<char*>(OsslName(alg)), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key.data(),
                                        key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX,
                                        const_cast<char*>(kPrefix), 6),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, lab.data(),
                                        lab.size()),
      // OpenSSL refuses a null pointer even with size 0.
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_DATA, data.empty() ? &empty_byte : data.data(),
          data.size()),
      OSSL_PARAM_construct_end(),
  };
  Bytes out(len);
  const int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  EXPECT_EQ(ok, 1) << "OpenSSL TLS13-KDF failed";
  return out;
}

class HkdfTest : public ::testing::TestWithParam<HashAlg> {};

TEST(HashAlgTest, NamesLengthsAndParsing) {
  EXPECT_EQ(hash_len(HashAlg::kSha256), 32u);
  EXPECT_EQ(hash_len(HashAlg::kSha384), 48u);
  EXPECT_EQ(hash_alg_name(HashAlg::kSha256), "sha256");
  EXPECT_EQ(hash_alg_name(HashAlg::kSha384), "sha384");
  for (HashAlg alg : kAllHashAlgs) {
    EXPECT_EQ(parse_hash_alg(hash_alg_name(alg)), alg);
    EXPECT_LE(hash_len(alg), kMaxHashLen);
  }
  EXPECT_EQ(hash_len(kBogusHash), 0u);
  EXPECT_EQ(hash_alg_name(kBogusHash), "unknown");
  EXPECT_FALSE(parse_hash_alg("sha512").has_value());
  EXPECT_FALSE(parse_hash_alg("").has_value());
}

TEST(KdfStatusTest, EveryStatusHasADistinctName) {
  const KdfStatus all[] = {
#define DPTLS_X(e, name) KdfStatus::e,
      DPTLS_KDF_STATUSES(DPTLS_X)
#undef DPTLS_X
  };
  std::set<std::string_view> names;
  for (KdfStatus s : all) {
    EXPECT_NE(kdf_status_name(s), "unknown");
    names.insert(kdf_status_name(s));
  }
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_EQ(kdf_status_name(static_cast<KdfStatus>(200)), "unknown");
}

TEST_P(HkdfTest, HashOfNothingIsTheKnownEmptyDigest) {
  HashValue h;
  ASSERT_EQ(hash_bytes(GetParam(), {}, &h), KdfStatus::kOk);
  // FIPS 180-4 digests of the empty string.
  EXPECT_EQ(HexEncode(h.span()),
            GetParam() == HashAlg::kSha256
                ? "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                  "7852b855"
                : "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf"
                  "63f6e1da274edebfe76f65fbd51ad2f14898b95b");
}

TEST_P(HkdfTest, EmptySaltAndEmptyKeyMeanHashLenZeros) {
  const HashAlg alg = GetParam();
  const Bytes zeros(hash_len(alg), 0);
  const Bytes ikm = {1, 2, 3};
  Secret a;
  Secret b;
  Secret c;
  ASSERT_EQ(hkdf_extract(alg, {}, ikm, &a), KdfStatus::kOk);
  ASSERT_EQ(hkdf_extract(alg, zeros, ikm, &b), KdfStatus::kOk);
  ASSERT_EQ(hmac(alg, {}, ikm, &c), KdfStatus::kOk);
  EXPECT_EQ(HexEncode(a.span()), HexEncode(b.span()));
  EXPECT_EQ(HexEncode(a.span()), HexEncode(c.span()));
  EXPECT_EQ(a.size(), hash_len(alg));
}

TEST_P(HkdfTest, ExpandLengthLimits) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  const Bytes prk(len, 0x0B);
  // 0 and exactly 255 * HashLen are fine.
  EXPECT_EQ(hkdf_expand(alg, prk, {}, {}), KdfStatus::kOk);
  Bytes max(255 * len);
  EXPECT_EQ(hkdf_expand(alg, prk, {}, max), KdfStatus::kOk);
  // One more is refused and the output zeroed, never partly written.
  Bytes over(255 * len + 1, 0xEE);
  EXPECT_EQ(hkdf_expand(alg, prk, {}, over), KdfStatus::kBadLength);
  EXPECT_EQ(over, Bytes(over.size(), 0));
  // The first 255 * HashLen bytes agree with a shorter request's: HKDF's
  // output is a stream.
  Bytes shorter(len + 1);
  ASSERT_EQ(hkdf_expand(alg, prk, {}, shorter), KdfStatus::kOk);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), max.begin()));
}

TEST_P(HkdfTest, ExpandRefusesAPrkShorterThanHashLen) {
  const HashAlg alg = GetParam();
  const Bytes short_prk(hash_len(alg) - 1, 1);
  Bytes out(16, 0xEE);
  EXPECT_EQ(hkdf_expand(alg, short_prk, {}, out), KdfStatus::kBadLength);
  EXPECT_EQ(out, Bytes(16, 0));
  // Longer PRKs are allowed by RFC 5869.
  const Bytes long_prk(hash_len(alg) + 1, 1);
  EXPECT_EQ(hkdf_expand(alg, long_prk, {}, out), KdfStatus::kOk);
}

TEST_P(HkdfTest, ExpandLabelMatchesOpenSslTls13Kdf) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(0x8446 + static_cast<int>(alg));
  const std::string labels[] = {
      "key",     "iv",           "finished", "traffic upd",
      "derived", "c hs traffic", "exporter", std::string(kMaxLabelLen, 'x')};
  size_t compared = 0;
  for (const std::string& label : labels) {
    for (int i = 0; i < 8; ++i) {
      const Bytes secret = RandomBytes(rng, hash_len(alg));
      const Bytes context = RandomBytes(rng, RandomSize(rng, 0, 255));
      const size_t len = RandomSize(rng, 1, 3 * hash_len(alg) + 7);
      Bytes ours(len);
      ASSERT_EQ(hkdf_expand_label(alg, secret, label, context, ours),
                KdfStatus::kOk);
      EXPECT_EQ(HexEncode(ours),
                HexEncode(OpenSslExpandLabel(alg, secret, label, context, len)))
          << "label '" << label << "' context " << context.size() << " length "
          << len;
      ++compared;
    }
  }
  EXPECT_EQ(compared, std::size(labels) * 8);
}

TEST_P(HkdfTest, ExpandLabelLimits) {
  const HashAlg alg = GetParam();
  const Bytes secret(hash_len(alg), 7);
  Bytes out(32, 0xEE);
  // The largest HkdfLabel: a 249-byte label and a 255-byte context.
  EXPECT_EQ(hkdf_expand_label(alg, secret, std::string(kMaxLabelLen, 'a'),
                              Bytes(kMaxContextLen, 1), out),
            KdfStatus::kOk);
  EXPECT_EQ(hkdf_expand_label(alg, secret, std::string(kMaxLabelLen + 1, 'a'),
                              {}, out),
            KdfStatus::kBadLabel);
  EXPECT_EQ(out, Bytes(32, 0)) << "failure must zero the output";
  EXPECT_EQ(hkdf_expand_label(alg, secret, "", {}, out), KdfStatus::kBadLabel);
  EXPECT_EQ(
      hkdf_expand_label(alg, secret, "key", Bytes(kMaxContextLen + 1, 1), out),
      KdfStatus::kBadLength);
  // Output above 255 * HashLen, and above the uint16 length field.
  Bytes too_long(255 * hash_len(alg) + 1);
  EXPECT_EQ(hkdf_expand_label(alg, secret, "key", {}, too_long),
            KdfStatus::kBadLength);
  Bytes way_too_long(65536);
  EXPECT_EQ(hkdf_expand_label(alg, secret, "key", {}, way_too_long),
            KdfStatus::kBadLength);
}

TEST(HkdfLabelTest, EncodingIsLengthPrefixedTls13Label) {
  uint8_t buf[kMaxHkdfLabelLen];
  ByteWriter w(buf);
  const Bytes context = {0xAA, 0xBB};
  ASSERT_EQ(build_hkdf_label(0x0102, "key", context, &w), KdfStatus::kOk);
  EXPECT_EQ(HexEncode(w.written()),
            "0102"  // uint16 length
            "09"
            "746c73313320"
            "6b6579"  // label<7..255> = "tls13 key"
            "02"
            "aabb");  // context<0..255>
}

TEST(HkdfLabelTest, RefusesWhatDoesNotFitAndBadParameters) {
  uint8_t buf[8];
  ByteWriter small(buf);
  EXPECT_EQ(build_hkdf_label(16, "key", {}, &small), KdfStatus::kBadLength);
  EXPECT_FALSE(small.ok());
  uint8_t big[kMaxHkdfLabelLen];
  ByteWriter w(big);
  EXPECT_EQ(build_hkdf_label(65536, "key", {}, &w), KdfStatus::kBadLength);
  EXPECT_EQ(build_hkdf_label(16, "", {}, &w), KdfStatus::kBadLabel);
  EXPECT_EQ(w.size(), 0u) << "a parameter failure wrote";
  EXPECT_TRUE(w.ok());
}

TEST_P(HkdfTest, DeriveSecretRefusesWrongLengthsAndWipesItsOutput) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  const Bytes secret(len, 1);
  const Bytes hash(len, 2);
  Secret out;
  ASSERT_TRUE(out.assign(Bytes(len, 0x77)));
  EXPECT_EQ(derive_secret(alg, Bytes(len - 1, 1), "derived", hash, &out),
            KdfStatus::kBadLength);
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(out.assign(Bytes(len, 0x77)));
  EXPECT_EQ(derive_secret(alg, secret, "derived", Bytes(len + 1, 2), &out),
            KdfStatus::kBadLength);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(derive_secret(alg, secret, "", hash, &out), KdfStatus::kBadLabel);
  EXPECT_EQ(derive_secret(alg, secret, "derived", hash, &out), KdfStatus::kOk);
  EXPECT_EQ(out.size(), len);
}

TEST(HkdfTest, ASecretOfTheOtherHashIsRefused) {
  // A SHA-384 secret handed to SHA-256 Derive-Secret (and back) is a
  // length error, not a silent truncation.
  Secret out;
  EXPECT_EQ(derive_secret(HashAlg::kSha256, Bytes(48, 1), "derived",
                          Bytes(32, 2), &out),
            KdfStatus::kBadLength);
  EXPECT_EQ(derive_secret(HashAlg::kSha384, Bytes(32, 1), "derived",
                          Bytes(48, 2), &out),
            KdfStatus::kBadLength);
}

TEST(HkdfTest, AnUnknownHashIsRefusedEverywhere) {
  Secret s;
  HashValue h;
  Bytes out(16, 0xEE);
  const Bytes x(48, 1);
  EXPECT_EQ(hash_bytes(kBogusHash, x, &h), KdfStatus::kBadAlg);
  EXPECT_EQ(h.len, 0u);
  EXPECT_EQ(hmac(kBogusHash, x, x, &s), KdfStatus::kBadAlg);
  EXPECT_EQ(hkdf_extract(kBogusHash, x, x, &s), KdfStatus::kBadAlg);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(hkdf_expand(kBogusHash, x, x, out), KdfStatus::kBadAlg);
  EXPECT_EQ(out, Bytes(16, 0));
  EXPECT_EQ(hkdf_expand_label(kBogusHash, x, "key", {}, out),
            KdfStatus::kBadAlg);
  EXPECT_EQ(derive_secret(kBogusHash, x, "derived", x, &s), KdfStatus::kBadAlg);
}

// hash_bytes (libcrypto's block functions) against libcrypto's EVP digest
// at lengths either side of one and two blocks of both hashes, where the
// padding spills into another block.
TEST_P(HkdfTest, HashMatchesLibcryptoEvpDigest) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(7);
  for (size_t len :
       {1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 255, 256, 257, 1000}) {
    const Bytes data = RandomBytes(rng, len);
    HashValue ours;
    ASSERT_EQ(hash_bytes(alg, data, &ours), KdfStatus::kOk) << len;
    uint8_t want[EVP_MAX_MD_SIZE];
    size_t want_len = 0;
    ASSERT_EQ(EVP_Q_digest(nullptr, OsslName(alg), nullptr, data.data(),
                           data.size(), want, &want_len),
              1)
        << len;
    EXPECT_EQ(HexEncode(ours.span()),
              HexEncode(std::span<const uint8_t>(want, want_len)))
        << len;
  }
}

// HMAC against libcrypto's own (EVP_Q_mac) at key lengths either side of
// SHA-256's 64-byte and SHA-384's 128-byte block, where RFC 2104's K0 is
// the key zero-padded or, when longer, the key's hash.
TEST_P(HkdfTest, HmacMatchesLibcrypto) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(42);
  for (size_t key_len : {0, 1, 32, 48, 63, 64, 65, 127, 128, 129, 200}) {
    const Bytes key = RandomBytes(rng, key_len);
    const Bytes data = RandomBytes(rng, 77);
    Secret ours;
    ASSERT_EQ(hmac(alg, key, data, &ours), KdfStatus::kOk) << key_len;
    const uint8_t no_key[1] = {0};
    uint8_t want[EVP_MAX_MD_SIZE];
    size_t want_len = 0;
    ASSERT_NE(
        EVP_Q_mac(nullptr, "HMAC", nullptr, OsslName(alg), nullptr,
                  key.empty() ? no_key : key.data(), key.size(), data.data(),
                  data.size(), want, sizeof(want), &want_len),
        nullptr)
        << key_len;
    EXPECT_EQ(HexEncode(ours.span()),
              HexEncode(std::span<const uint8_t>(want, want_len)))
        << key_len;
  }
}

TEST_P(HkdfTest, OutputsMayAliasInputs) {
  const HashAlg alg = GetParam();
  Secret key;
  ASSERT_TRUE(key.assign(Bytes(hash_len(alg), 3)));
  const Bytes data = {9, 9, 9};
  Secret expected;
  ASSERT_EQ(hmac(alg, key.span(), data, &expected), KdfStatus::kOk);
  ASSERT_EQ(hmac(alg, key.span(), data, &key), KdfStatus::kOk);
  EXPECT_EQ(HexEncode(key.span()), HexEncode(expected.span()));
  Secret again;
  ASSERT_EQ(
      derive_secret(alg, key.span(), "x", Bytes(hash_len(alg), 0), &expected),
      KdfStatus::kOk);
  ASSERT_EQ(derive_secret(alg, key.span(), "x", Bytes(hash_len(alg), 0), &key),
            KdfStatus::kOk);
  EXPECT_EQ(HexEncode(key.span()), HexEncode(expected.span()));
}

// The keyed HMAC of the key schedule (dptls/tls/digest.h): every MAC under one
// key, at key lengths either side of the block, equals hmac() of the same
// key and text, however the text is split into parts and however many
// MACs the key made before.
TEST_P(HkdfTest, HmacKeyEqualsHmacForEveryKeyLengthAndRepeatedUse) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(11);
  for (size_t key_len : {0, 1, 32, 48, 64, 65, 127, 128, 129, 200}) {
    const Bytes key = RandomBytes(rng, key_len);
    internal::HmacKey keyed;
    ASSERT_TRUE(keyed.init(alg, key)) << key_len;
    ASSERT_TRUE(keyed.ready());
    EXPECT_EQ(keyed.alg(), alg);
    for (size_t data_len : {0, 1, 55, 56, 64, 77, 200}) {
      const Bytes data = RandomBytes(rng, data_len);
      Secret want;
      ASSERT_EQ(hmac(alg, key, data, &want), KdfStatus::kOk);
      uint8_t got[kMaxHashLen] = {};
      const size_t cut = data_len / 3;
      ASSERT_TRUE(keyed.mac({std::span<const uint8_t>(data).first(cut),
                             std::span<const uint8_t>(data).subspan(cut)},
                            got));
      EXPECT_EQ(HexEncode(std::span<const uint8_t>(got, hash_len(alg))),
                HexEncode(want.span()))
          << key_len << " " << data_len;
    }
  }
}

// The keyed HKDF-Expand-Label equals the span one (and so OpenSSL's, by
// ExpandLabelMatchesOpenSslTls13Kdf), for outputs of one and several blocks.
TEST_P(HkdfTest, KeyedExpandLabelEqualsExpandLabel) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(12);
  const Bytes secret = RandomBytes(rng, hash_len(alg));
  const Bytes context = RandomBytes(rng, hash_len(alg));
  internal::HmacKey keyed;
  ASSERT_TRUE(keyed.init(alg, secret));
  for (size_t len : {12, 16, 32, 48, 100, 255}) {
    Bytes want(len), got(len);
    ASSERT_EQ(hkdf_expand_label(alg, secret, "c hs traffic", context, want),
              KdfStatus::kOk);
    ASSERT_EQ(internal::hkdf_expand_label(keyed, "c hs traffic", context, got),
              KdfStatus::kOk);
    EXPECT_EQ(HexEncode(got), HexEncode(want)) << len;
  }
  // Over 255 * Hash.length, and a label too long, fail with the output
  // zeroed, as the span functions do.
  Bytes too_long(255 * hash_len(alg) + 1, 0xAA);
  EXPECT_EQ(internal::hkdf_expand(keyed, {}, too_long), KdfStatus::kBadLength);
  EXPECT_TRUE(std::all_of(too_long.begin(), too_long.end(),
                          [](uint8_t b) { return b == 0; }));
  Bytes out(16, 0xAA);
  EXPECT_EQ(internal::hkdf_expand_label(keyed, std::string(250, 'x'), {}, out),
            KdfStatus::kBadLabel);
  EXPECT_EQ(out, Bytes(16, 0));
}

// A key not ready (never keyed, a bad alg, or wiped) makes nothing, and
// wipe(), a move and the destructor leave the key states all zeros.
TEST_P(HkdfTest, HmacKeyStatesAreWipedAndAnUnkeyedKeyRefuses) {
  const HashAlg alg = GetParam();
  uint8_t out[kMaxHashLen];
  internal::HmacKey unkeyed;
  EXPECT_FALSE(unkeyed.ready());
  EXPECT_FALSE(unkeyed.mac({}, out));
  Bytes okm(16, 0xAA);
  EXPECT_EQ(internal::hkdf_expand(unkeyed, {}, okm), KdfStatus::kBadState);
  EXPECT_EQ(okm, Bytes(16, 0));
  internal::HmacKey bogus;
  EXPECT_FALSE(bogus.init(kBogusHash, Bytes(32, 1)));
  EXPECT_FALSE(bogus.ready());

  const Bytes key(hash_len(alg), 0x5A);
  internal::HmacKey keyed;
  ASSERT_TRUE(keyed.init(alg, key));
  EXPECT_FALSE(keyed.wiped());
  keyed.wipe();
  EXPECT_TRUE(keyed.wiped());
  EXPECT_FALSE(keyed.ready());
  EXPECT_FALSE(keyed.mac({}, out));

  ASSERT_TRUE(keyed.init(alg, key));
  internal::HmacKey moved(std::move(keyed));
  // What a move leaves in its source is what is checked here.
  // NOLINTBEGIN(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_TRUE(keyed.wiped());
  EXPECT_FALSE(keyed.ready());
  // NOLINTEND(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_TRUE(moved.ready());
  EXPECT_TRUE(moved.mac({}, out));

  // The destructor: an HmacKey in storage of our own, read after it ends.
  alignas(internal::HmacKey) unsigned char storage[sizeof(internal::HmacKey)];
  std::memset(storage, 0, sizeof(storage));
  auto* placed = new (storage) internal::HmacKey;
  ASSERT_TRUE(placed->init(alg, key));
  EXPECT_FALSE(placed->wiped());
  placed->~HmacKey();
  // The states are the only non-flag bytes: all zeros but for the flags.
  size_t nonzero = 0;
  for (unsigned char b : storage) {
    nonzero += b != 0 ? 1 : 0;
  }
  EXPECT_LE(nonzero, 4U);
}

INSTANTIATE_TEST_SUITE_P(Hashes, HkdfTest, ::testing::ValuesIn(kAllHashAlgs),
                         HashName);

// Secret ----------------------------------------------------------------

bool ContainsRun(std::span<const unsigned char> bytes, unsigned char v,
                 size_t run) {
  return std::search_n(bytes.begin(), bytes.end(), run, v) != bytes.end();
}

TEST(SecretTest, AssignCopyMoveAndLimits) {
  Secret a;
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(a.assign(Bytes(kMaxHashLen, 5)));
  EXPECT_EQ(a.size(), kMaxHashLen);
  EXPECT_FALSE(a.assign(Bytes(kMaxHashLen + 1, 5)));
  EXPECT_TRUE(a.empty()) << "a refused assign must leave it empty";
  EXPECT_TRUE(a.resize_for_overwrite(kMaxHashLen + 1).empty());
  EXPECT_TRUE(a.empty());

  ASSERT_TRUE(a.assign(Bytes{1, 2, 3}));
  Secret b = a;
  ASSERT_TRUE(a.assign(Bytes{4}));
  EXPECT_EQ(Bytes(b.span().begin(), b.span().end()), (Bytes{1, 2, 3}))
      << "copies are independent";
  Secret c = std::move(b);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(b.empty()) << "moved-from secret kept its bytes";  // NOLINT
  c = c;  // self-assignment keeps it
  EXPECT_EQ(c.size(), 3u);
  c.wipe();
  EXPECT_TRUE(c.empty());
}

TEST(SecretTest, StorageIsWipedByWipeAssignMoveAndDestruction) {
  constexpr unsigned char kPattern = 0xC7;
  const Bytes pattern(kMaxHashLen, kPattern);
  alignas(Secret) unsigned char raw[sizeof(Secret)];
  std::memset(raw, 0, sizeof(raw));

  // Destruction.
  Secret* s = new (raw) Secret;
  ASSERT_TRUE(s->assign(pattern));
  ASSERT_TRUE(ContainsRun(raw, kPattern, kMaxHashLen));
  s->~Secret();
  EXPECT_FALSE(ContainsRun(raw, kPattern, 4)) << "destructor left the secret";

  // A shorter assign overwrites the whole old secret, not just its prefix.
  s = new (raw) Secret;
  ASSERT_TRUE(s->assign(pattern));
  ASSERT_TRUE(s->assign(Bytes{1}));
  EXPECT_FALSE(ContainsRun(raw, kPattern, 4)) << "old tail left behind";

  // Moving out wipes the source.
  ASSERT_TRUE(s->assign(pattern));
  Secret taken = std::move(*s);
  EXPECT_FALSE(ContainsRun(raw, kPattern, 4)) << "moved-from kept the bytes";
  EXPECT_EQ(taken.size(), kMaxHashLen);
  s->~Secret();
}

}  // namespace
}  // namespace dptls::tls
