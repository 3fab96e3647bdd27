// KeySchedule, traffic keys, Finished, binders, resumption PSK, exporters
// and TrafficSecret: stage rules and refusals, wiping, and the main chain
// for both hashes against OpenSSL's TLS13-KDF (whose EXTRACT_ONLY mode does
// the "derived" step itself: an independent implementation of RFC 8446
// 7.1, and the only SHA-384 reference RFC 8448 lacks).
#include "dptls/tls/key_schedule.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <new>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/aead_test_support.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::AeadAlg;
using ::dptls::crypto::kAllAeadAlgs;
using ::dptls::crypto::testing::HexEncode;
using ::dptls::crypto::testing::RandomBytes;
using Bytes = std::vector<uint8_t>;

std::string Hex(std::span<const uint8_t> b) { return HexEncode(b); }

const char* OsslName(HashAlg alg) {
  return alg == HashAlg::kSha256 ? "SHA2-256" : "SHA2-384";
}

// OpenSSL TLS13-KDF. EXTRACT_ONLY: HKDF-Extract(salt', key) where salt' is
// Derive-Secret(salt, "derived", "") when a salt is given, zeros when not;
// a missing key means Hash.length zeros. EXPAND_ONLY: Expand-Label(key,
// label, data, len).
Bytes OpenSslTls13Kdf(HashAlg alg, int mode, const Bytes* salt,
                      const Bytes* key, const std::string& label,
                      const Bytes& data, size_t len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "TLS13-KDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  static const char kPrefix[] = "tls13 ";
  unsigned char empty_byte = 0;  // OpenSSL refuses null octet strings
  Bytes salt_copy = salt != nullptr ? *salt : Bytes();
  Bytes key_copy = key != nullptr ? *key : Bytes();
  std::string lab = label;
  Bytes data_copy = data;
  std::vector<OSSL_PARAM> params = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                       const_cast<char*>(OsslName(alg)), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX,
                                        const_cast<char*>(kPrefix), 6),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, lab.data(),
                                        lab.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_DATA,
          data_copy.empty() ? &empty_byte : data_copy.data(), data_copy.size()),
  };
  if (salt != nullptr) {
    params.push_back(OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, salt_copy.data(), salt_copy.size()));
  }
  if (key != nullptr) {
    params.push_back(OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, key_copy.data(), key_copy.size()));
  }
  params.push_back(OSSL_PARAM_construct_end());
  Bytes out(len);
  const int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params.data());
  EVP_KDF_CTX_free(ctx);
  EXPECT_EQ(ok, 1) << "OpenSSL TLS13-KDF failed";
  return out;
}

Bytes ToBytes(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

std::string HashName(const ::testing::TestParamInfo<HashAlg>& p) {
  return std::string(hash_alg_name(p.param));
}

class KeyScheduleTest : public ::testing::TestWithParam<HashAlg> {};

TEST_P(KeyScheduleTest, MainChainMatchesOpenSslTls13Kdf) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  std::mt19937_64 rng(0x71 + static_cast<int>(alg));
  struct Case {
    bool psk;
    bool dhe;
  };
  for (Case c : {Case{false, true}, Case{true, true}, Case{true, false}}) {
    SCOPED_TRACE(::testing::Message() << "psk " << c.psk << " dhe " << c.dhe);
    const Bytes psk = c.psk ? RandomBytes(rng, len) : Bytes();
    const Bytes dhe = c.dhe ? RandomBytes(rng, 32) : Bytes();
    const int extract = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
    KeySchedule ks;
    ASSERT_EQ(ks.start(alg, psk), KdfStatus::kOk);
    const Bytes early = OpenSslTls13Kdf(
        alg, extract, nullptr, c.psk ? &psk : nullptr, "derived", {}, len);
    EXPECT_EQ(Hex(ks.stage_secret()), Hex(early)) << "early secret";
    ASSERT_EQ(ks.advance_to_handshake(dhe), KdfStatus::kOk);
    const Bytes handshake = OpenSslTls13Kdf(
        alg, extract, &early, c.dhe ? &dhe : nullptr, "derived", {}, len);
    EXPECT_EQ(Hex(ks.stage_secret()), Hex(handshake)) << "handshake secret";
    ASSERT_EQ(ks.advance_to_master(), KdfStatus::kOk);
    const Bytes master =
        OpenSslTls13Kdf(alg, extract, &handshake, nullptr, "derived", {}, len);
    EXPECT_EQ(Hex(ks.stage_secret()), Hex(master)) << "master secret";
  }
}

TEST_P(KeyScheduleTest, EveryDerivedSecretMatchesOpenSslTls13Kdf) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  std::mt19937_64 rng(0x72 + static_cast<int>(alg));
  const Bytes psk = RandomBytes(rng, len);
  const Bytes dhe = RandomBytes(rng, 48);
  const Bytes transcript = RandomBytes(rng, len);
  HashValue empty;
  ASSERT_EQ(hash_bytes(alg, {}, &empty), KdfStatus::kOk);
  KeySchedule ks;
  ASSERT_EQ(ks.start(alg, psk), KdfStatus::kOk);
  size_t checked = 0;
  for (KeyStage stage :
       {KeyStage::kEarly, KeyStage::kHandshake, KeyStage::kMaster}) {
    if (stage == KeyStage::kHandshake) {
      ASSERT_EQ(ks.advance_to_handshake(dhe), KdfStatus::kOk);
    } else if (stage == KeyStage::kMaster) {
      ASSERT_EQ(ks.advance_to_master(), KdfStatus::kOk);
    }
    const Bytes stage_secret = ToBytes(ks.stage_secret());
    for (SecretLabel label : kAllSecretLabels) {
      if (secret_label_stage(label) != stage) {
        continue;
      }
      SCOPED_TRACE(secret_label_name(label));
      const bool binder =
          label == SecretLabel::kExtBinder || label == SecretLabel::kResBinder;
      Secret ours;
      ASSERT_EQ(ks.derive(label, binder ? Bytes() : transcript, &ours),
                KdfStatus::kOk);
      const Bytes theirs =
          OpenSslTls13Kdf(alg, EVP_KDF_HKDF_MODE_EXPAND_ONLY, nullptr,
                          &stage_secret, std::string(secret_label_name(label)),
                          binder ? ToBytes(empty.span()) : transcript, len);
      EXPECT_EQ(Hex(ours.span()), Hex(theirs));
      ++checked;
    }
  }
  EXPECT_EQ(checked, std::size(kAllSecretLabels));
}

TEST_P(KeyScheduleTest, StagesMustComeInOrder) {
  const HashAlg alg = GetParam();
  const Bytes h(hash_len(alg), 1);
  KeySchedule ks;
  Secret out;
  EXPECT_EQ(ks.stage(), KeyStage::kNone);
  EXPECT_EQ(ks.derive(SecretLabel::kClientEarlyTraffic, h, &out),
            KdfStatus::kBadState);
  EXPECT_EQ(ks.advance_to_handshake({}), KdfStatus::kBadState);
  EXPECT_EQ(ks.advance_to_master(), KdfStatus::kBadState);

  ASSERT_EQ(ks.start(alg, {}), KdfStatus::kOk);
  EXPECT_EQ(ks.stage(), KeyStage::kEarly);
  EXPECT_EQ(ks.alg(), alg);
  EXPECT_EQ(ks.advance_to_master(), KdfStatus::kBadState);
  ASSERT_TRUE(out.assign(h));
  EXPECT_EQ(ks.derive(SecretLabel::kClientHandshakeTraffic, h, &out),
            KdfStatus::kBadState);
  EXPECT_TRUE(out.empty()) << "a refused derive must wipe its output";
  EXPECT_EQ(ks.derive(SecretLabel::kResumptionMaster, h, &out),
            KdfStatus::kBadState);

  ASSERT_EQ(ks.advance_to_handshake({}), KdfStatus::kOk);
  EXPECT_EQ(ks.stage(), KeyStage::kHandshake);
  EXPECT_EQ(ks.advance_to_handshake({}), KdfStatus::kBadState);
  EXPECT_EQ(ks.derive(SecretLabel::kResBinder, {}, &out), KdfStatus::kBadState)
      << "binder keys belong to the early stage";
  EXPECT_EQ(ks.derive(SecretLabel::kServerApplicationTraffic, h, &out),
            KdfStatus::kBadState);

  ASSERT_EQ(ks.advance_to_master(), KdfStatus::kOk);
  EXPECT_EQ(ks.stage(), KeyStage::kMaster);
  EXPECT_EQ(ks.derive(SecretLabel::kServerHandshakeTraffic, h, &out),
            KdfStatus::kBadState);
  EXPECT_EQ(ks.derive(SecretLabel::kExporterMaster, h, &out), KdfStatus::kOk);

  // start() restarts from any stage.
  ASSERT_EQ(ks.start(alg, {}), KdfStatus::kOk);
  EXPECT_EQ(ks.stage(), KeyStage::kEarly);
  ks.reset();
  EXPECT_EQ(ks.stage(), KeyStage::kNone);
  EXPECT_TRUE(ks.stage_secret().empty());
}

TEST_P(KeyScheduleTest, DeriveChecksTheTranscriptHashLength) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  KeySchedule ks;
  ASSERT_EQ(ks.start(alg, {}), KdfStatus::kOk);
  Secret out;
  EXPECT_EQ(
      ks.derive(SecretLabel::kClientEarlyTraffic, Bytes(len - 1, 1), &out),
      KdfStatus::kBadLength);
  EXPECT_EQ(ks.derive(SecretLabel::kClientEarlyTraffic, {}, &out),
            KdfStatus::kBadLength);
  // The binder keys hash no messages: a hash passed in is a caller bug.
  EXPECT_EQ(ks.derive(SecretLabel::kExtBinder, Bytes(len, 1), &out),
            KdfStatus::kBadLength);
  EXPECT_EQ(ks.derive(static_cast<SecretLabel>(99), Bytes(len, 1), &out),
            KdfStatus::kBadLabel);
  Secret ext;
  Secret res;
  ASSERT_EQ(ks.derive(SecretLabel::kExtBinder, {}, &ext), KdfStatus::kOk);
  ASSERT_EQ(ks.derive(SecretLabel::kResBinder, {}, &res), KdfStatus::kOk);
  EXPECT_NE(Hex(ext.span()), Hex(res.span()));
  EXPECT_EQ(ext.size(), len);
}

TEST_P(KeyScheduleTest, NoPskAndPskKeAreHashLenZeros) {
  const HashAlg alg = GetParam();
  const Bytes zeros(hash_len(alg), 0);
  KeySchedule a;
  KeySchedule b;
  ASSERT_EQ(a.start(alg, {}), KdfStatus::kOk);
  ASSERT_EQ(b.start(alg, zeros), KdfStatus::kOk);
  EXPECT_EQ(Hex(a.stage_secret()), Hex(b.stage_secret()));
  ASSERT_EQ(a.advance_to_handshake({}), KdfStatus::kOk);
  ASSERT_EQ(b.advance_to_handshake(zeros), KdfStatus::kOk);
  EXPECT_EQ(Hex(a.stage_secret()), Hex(b.stage_secret()));
}

TEST(KeyScheduleStateTest, UnknownHashIsRefused) {
  KeySchedule ks;
  EXPECT_EQ(ks.start(static_cast<HashAlg>(5), {}), KdfStatus::kBadAlg);
  EXPECT_EQ(ks.stage(), KeyStage::kNone);
}

TEST(KeyScheduleStateTest, NamesAndLabelTable) {
  EXPECT_EQ(key_stage_name(KeyStage::kNone), "none");
  EXPECT_EQ(key_stage_name(KeyStage::kMaster), "master");
  EXPECT_EQ(key_stage_name(static_cast<KeyStage>(9)), "unknown");
  // RFC 8446 section 7.1's labels, each in its stage.
  EXPECT_EQ(secret_label_name(SecretLabel::kExtBinder), "ext binder");
  EXPECT_EQ(secret_label_name(SecretLabel::kResBinder), "res binder");
  EXPECT_EQ(secret_label_name(SecretLabel::kClientEarlyTraffic), "c e traffic");
  EXPECT_EQ(secret_label_name(SecretLabel::kEarlyExporterMaster),
            "e exp master");
  EXPECT_EQ(secret_label_name(SecretLabel::kClientHandshakeTraffic),
            "c hs traffic");
  EXPECT_EQ(secret_label_name(SecretLabel::kServerHandshakeTraffic),
            "s hs traffic");
  EXPECT_EQ(secret_label_name(SecretLabel::kClientApplicationTraffic),
            "c ap traffic");
  EXPECT_EQ(secret_label_name(SecretLabel::kServerApplicationTraffic),
            "s ap traffic");
  EXPECT_EQ(secret_label_name(SecretLabel::kExporterMaster), "exp master");
  EXPECT_EQ(secret_label_name(SecretLabel::kResumptionMaster), "res master");
  EXPECT_EQ(secret_label_stage(SecretLabel::kEarlyExporterMaster),
            KeyStage::kEarly);
  EXPECT_EQ(secret_label_stage(SecretLabel::kServerHandshakeTraffic),
            KeyStage::kHandshake);
  EXPECT_EQ(secret_label_stage(SecretLabel::kResumptionMaster),
            KeyStage::kMaster);
  EXPECT_EQ(secret_label_name(static_cast<SecretLabel>(99)), "unknown");
  EXPECT_EQ(secret_label_stage(static_cast<SecretLabel>(99)), KeyStage::kNone);
}

// Wiping ----------------------------------------------------------------

// True when any `window`-byte run of `secret` occurs in `bytes`.
bool ContainsAnyWindow(std::span<const unsigned char> bytes,
                       std::span<const uint8_t> secret, size_t window = 8) {
  for (size_t i = 0; i + window <= secret.size(); ++i) {
    if (std::search(bytes.begin(), bytes.end(), secret.begin() + i,
                    secret.begin() + i + window) != bytes.end()) {
      return true;
    }
  }
  return false;
}

TEST_P(KeyScheduleTest, SupersededAndDestroyedSecretsAreWiped) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(0x73);
  const Bytes psk = RandomBytes(rng, hash_len(alg));
  const Bytes dhe = RandomBytes(rng, 32);
  alignas(KeySchedule) unsigned char raw[sizeof(KeySchedule)];
  std::memset(raw, 0, sizeof(raw));
  auto* ks = new (raw) KeySchedule;
  ASSERT_EQ(ks->start(alg, psk), KdfStatus::kOk);
  const Bytes early = ToBytes(ks->stage_secret());
  ASSERT_TRUE(ContainsAnyWindow(raw, early)) << "the check cannot see it";
  ASSERT_EQ(ks->advance_to_handshake(dhe), KdfStatus::kOk);
  const Bytes handshake = ToBytes(ks->stage_secret());
  EXPECT_FALSE(ContainsAnyWindow(raw, early)) << "early secret left behind";
  ASSERT_EQ(ks->advance_to_master(), KdfStatus::kOk);
  const Bytes master = ToBytes(ks->stage_secret());
  EXPECT_FALSE(ContainsAnyWindow(raw, handshake))
      << "handshake secret left behind";
  ASSERT_TRUE(ContainsAnyWindow(raw, master));
  ks->~KeySchedule();
  EXPECT_FALSE(ContainsAnyWindow(raw, master))
      << "master secret left after destruction";
  // Nor the master secret's HMAC key states (dptls/tls/digest.h): all but a
  // few enum and flag bytes are zeros.
  EXPECT_LE(std::count_if(std::begin(raw), std::end(raw),
                          [](unsigned char b) { return b != 0; }),
            8)
      << "keyed states left after destruction";

  // reset() and a failed advance wipe too.
  ks = new (raw) KeySchedule;
  ASSERT_EQ(ks->start(alg, psk), KdfStatus::kOk);
  ks->reset();
  EXPECT_FALSE(ContainsAnyWindow(raw, early)) << "reset() left the secret";
  // Moving out leaves nothing in the source.
  ASSERT_EQ(ks->start(alg, psk), KdfStatus::kOk);
  KeySchedule taken(std::move(*ks));
  EXPECT_FALSE(ContainsAnyWindow(raw, early)) << "moved-from kept the secret";
  EXPECT_EQ(ks->stage(), KeyStage::kNone);
  EXPECT_EQ(Hex(taken.stage_secret()), Hex(early));
  EXPECT_LE(std::count_if(std::begin(raw), std::end(raw),
                          [](unsigned char b) { return b != 0; }),
            8)
      << "moved-from kept keyed states";
  // The moved schedule derives as the one it came from would.
  KeySchedule same;
  ASSERT_EQ(same.start(alg, psk), KdfStatus::kOk);
  Secret want;
  Secret got;
  ASSERT_EQ(same.derive(SecretLabel::kResBinder, {}, &want), KdfStatus::kOk);
  ASSERT_EQ(taken.derive(SecretLabel::kResBinder, {}, &got), KdfStatus::kOk);
  EXPECT_EQ(Hex(got.span()), Hex(want.span()));
  ks->~KeySchedule();
}

TEST_P(KeyScheduleTest, TrafficSecretWipesOnUpdateAndDestruction) {
  const HashAlg alg = GetParam();
  std::mt19937_64 rng(0x74);
  const Bytes secret0 = RandomBytes(rng, hash_len(alg));
  alignas(TrafficSecret) unsigned char raw[sizeof(TrafficSecret)];
  std::memset(raw, 0, sizeof(raw));
  auto* ts = new (raw) TrafficSecret;
  ASSERT_EQ(ts->init(alg, AeadAlg::kAes256Gcm, secret0), KdfStatus::kOk);
  const Bytes key0 = ToBytes(ts->keys().key_span());
  ASSERT_TRUE(ContainsAnyWindow(raw, secret0));
  ASSERT_TRUE(ContainsAnyWindow(raw, key0));
  ASSERT_EQ(ts->update(), KdfStatus::kOk);
  EXPECT_FALSE(ContainsAnyWindow(raw, secret0)) << "old secret left by update";
  EXPECT_FALSE(ContainsAnyWindow(raw, key0)) << "old key left by update";
  const Bytes secret1 = ToBytes(ts->secret().span());
  ts->~TrafficSecret();
  EXPECT_FALSE(ContainsAnyWindow(raw, secret1)) << "destructor left secret";
  // TrafficKeys alone.
  alignas(TrafficKeys) unsigned char raw_keys[sizeof(TrafficKeys)];
  std::memset(raw_keys, 0, sizeof(raw_keys));
  auto* keys = new (raw_keys) TrafficKeys;
  ASSERT_EQ(derive_traffic_keys(alg, AeadAlg::kAes256Gcm, secret0, keys),
            KdfStatus::kOk);
  const Bytes key = ToBytes(keys->key_span());
  const Bytes iv = ToBytes(keys->iv_span());
  keys->~TrafficKeys();
  EXPECT_FALSE(ContainsAnyWindow(raw_keys, key));
  EXPECT_FALSE(ContainsAnyWindow(raw_keys, iv));
}

// Traffic keys, KeyUpdate, TrafficSecret ---------------------------------

TEST_P(KeyScheduleTest, TrafficKeysHaveTheAeadsKeyLengthAnd12ByteIv) {
  const HashAlg alg = GetParam();
  const Bytes secret(hash_len(alg), 0x42);
  for (AeadAlg aead : kAllAeadAlgs) {
    SCOPED_TRACE(crypto::aead_alg_name(aead));
    TrafficKeys keys;
    ASSERT_EQ(derive_traffic_keys(alg, aead, secret, &keys), KdfStatus::kOk);
    EXPECT_EQ(keys.aead, aead);
    EXPECT_EQ(keys.key_span().size(), crypto::aead_key_len(aead));
    EXPECT_EQ(keys.iv_span().size(), crypto::kAeadNonceLen);
    // key = Expand-Label(secret, "key", "", key_length), iv likewise.
    Bytes key(crypto::aead_key_len(aead));
    Bytes iv(12);
    ASSERT_EQ(hkdf_expand_label(alg, secret, "key", {}, key), KdfStatus::kOk);
    ASSERT_EQ(hkdf_expand_label(alg, secret, "iv", {}, iv), KdfStatus::kOk);
    EXPECT_EQ(Hex(keys.key_span()), Hex(key));
    EXPECT_EQ(Hex(keys.iv_span()), Hex(iv));
  }
}

TEST_P(KeyScheduleTest, TrafficKeysRefuseBadInputsAndWipe) {
  const HashAlg alg = GetParam();
  TrafficKeys keys;
  ASSERT_EQ(derive_traffic_keys(alg, AeadAlg::kAes128Gcm,
                                Bytes(hash_len(alg), 1), &keys),
            KdfStatus::kOk);
  EXPECT_EQ(derive_traffic_keys(alg, AeadAlg::kAes128Gcm,
                                Bytes(hash_len(alg) + 1, 1), &keys),
            KdfStatus::kBadLength);
  EXPECT_EQ(keys.key_len, 0u);
  EXPECT_EQ(keys.key, (std::array<uint8_t, 32>{}));
  EXPECT_EQ(keys.iv, (std::array<uint8_t, 12>{}));
  EXPECT_EQ(derive_traffic_keys(alg, static_cast<AeadAlg>(9),
                                Bytes(hash_len(alg), 1), &keys),
            KdfStatus::kBadAlg);
  EXPECT_EQ(derive_traffic_keys(static_cast<HashAlg>(9), AeadAlg::kAes128Gcm,
                                Bytes(32, 1), &keys),
            KdfStatus::kBadAlg);
}

TEST_P(KeyScheduleTest, TrafficSecretUpdatesLikeRfc8446Section7_2) {
  const HashAlg alg = GetParam();
  const Bytes secret0(hash_len(alg), 0x17);
  TrafficSecret ts;
  EXPECT_FALSE(ts.ready());
  EXPECT_EQ(ts.update(), KdfStatus::kBadState);
  ASSERT_EQ(ts.init(alg, AeadAlg::kChaCha20Poly1305, secret0), KdfStatus::kOk);
  EXPECT_TRUE(ts.ready());
  EXPECT_EQ(ts.hash(), alg);
  EXPECT_EQ(ts.aead(), AeadAlg::kChaCha20Poly1305);
  EXPECT_EQ(ts.generation(), 0u);
  Secret expected;
  ASSERT_TRUE(expected.assign(secret0));
  for (uint64_t n = 1; n <= 3; ++n) {
    ASSERT_EQ(ts.update(), KdfStatus::kOk);
    // secret_N+1 = Expand-Label(secret_N, "traffic upd", "", Hash.length)
    Bytes next(hash_len(alg));
    ASSERT_EQ(hkdf_expand_label(alg, expected.span(), "traffic upd", {}, next),
              KdfStatus::kOk);
    ASSERT_TRUE(expected.assign(next));
    EXPECT_EQ(Hex(ts.secret().span()), Hex(next));
    TrafficKeys keys;
    ASSERT_EQ(derive_traffic_keys(alg, AeadAlg::kChaCha20Poly1305, next, &keys),
              KdfStatus::kOk);
    EXPECT_EQ(Hex(ts.keys().key_span()), Hex(keys.key_span()));
    EXPECT_EQ(Hex(ts.keys().iv_span()), Hex(keys.iv_span()));
    EXPECT_EQ(ts.generation(), n);
  }
  // A copy is independent: updating it leaves the original.
  TrafficSecret copy = ts;
  ASSERT_EQ(copy.update(), KdfStatus::kOk);
  EXPECT_NE(Hex(copy.secret().span()), Hex(ts.secret().span()));
  // init() may be given the object's own secret.
  const std::string before = Hex(ts.secret().span());
  ASSERT_EQ(ts.init(alg, AeadAlg::kAes128Gcm, ts.secret().span()),
            KdfStatus::kOk);
  EXPECT_EQ(Hex(ts.secret().span()), before);
  EXPECT_EQ(ts.generation(), 0u);
  // And from the cipher suite table.
  const CipherSuiteInfo* suite = find_cipher_suite(0x1302);
  ASSERT_NE(suite, nullptr);
  ASSERT_EQ(ts.init(*suite, Bytes(48, 1)), KdfStatus::kOk);
  EXPECT_EQ(ts.keys().key_span().size(), 32u);
}

TEST_P(KeyScheduleTest, TrafficSecretRefusesBadInputsAndEndsNotReady) {
  const HashAlg alg = GetParam();
  TrafficSecret ts;
  ASSERT_EQ(ts.init(alg, AeadAlg::kAes128Gcm, Bytes(hash_len(alg), 1)),
            KdfStatus::kOk);
  EXPECT_EQ(ts.init(alg, AeadAlg::kAes128Gcm, Bytes(hash_len(alg) - 1, 1)),
            KdfStatus::kBadLength);
  EXPECT_FALSE(ts.ready());
  EXPECT_EQ(ts.init(alg, AeadAlg::kAes128Gcm, Bytes(kMaxHashLen + 1, 1)),
            KdfStatus::kBadLength);
  EXPECT_EQ(ts.init(alg, static_cast<AeadAlg>(7), Bytes(hash_len(alg), 1)),
            KdfStatus::kBadAlg);
  EXPECT_FALSE(ts.ready());
  EXPECT_EQ(ts.keys().key_len, 0u);
}

// Finished, binders, resumption, exporter ---------------------------------

TEST_P(KeyScheduleTest, FinishedVerifiesAndRejectsTampering) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  const Bytes base(len, 0x21);
  const Bytes transcript(len, 0x22);
  Secret verify;
  ASSERT_EQ(compute_verify_data(alg, base, transcript, &verify),
            KdfStatus::kOk);
  // verify_data = HMAC(Expand-Label(base, "finished", "", len), hash)
  Secret fk;
  ASSERT_EQ(derive_finished_key(alg, base, &fk), KdfStatus::kOk);
  Secret mac;
  ASSERT_EQ(hmac(alg, fk.span(), transcript, &mac), KdfStatus::kOk);
  EXPECT_EQ(Hex(verify.span()), Hex(mac.span()));

  EXPECT_EQ(verify_finished(alg, base, transcript, verify.span()),
            KdfStatus::kOk);
  for (size_t i = 0; i < len; ++i) {
    Bytes bad = ToBytes(verify.span());
    bad[i] ^= 0x01;
    ASSERT_EQ(verify_finished(alg, base, transcript, bad), KdfStatus::kMismatch)
        << "byte " << i;
  }
  EXPECT_EQ(
      verify_finished(alg, base, transcript, verify.span().first(len - 1)),
      KdfStatus::kMismatch);
  EXPECT_EQ(verify_finished(alg, base, transcript, {}), KdfStatus::kMismatch);
  EXPECT_EQ(verify_psk_binder(alg, base, transcript, verify.span()),
            KdfStatus::kOk)
      << "a binder is computed like Finished";
  // Wrong lengths are errors, not mismatches.
  EXPECT_EQ(verify_finished(alg, base, Bytes(len + 1, 0), verify.span()),
            KdfStatus::kBadLength);
  EXPECT_EQ(compute_verify_data(alg, Bytes(len - 1, 0), transcript, &verify),
            KdfStatus::kBadLength);
  EXPECT_TRUE(verify.empty());
}

TEST_P(KeyScheduleTest, ResumptionPskNonceLimits) {
  const HashAlg alg = GetParam();
  const Bytes rms(hash_len(alg), 3);
  Secret a;
  Secret b;
  ASSERT_EQ(derive_resumption_psk(alg, rms, {}, &a), KdfStatus::kOk);
  ASSERT_EQ(derive_resumption_psk(alg, rms, Bytes{0}, &b), KdfStatus::kOk);
  EXPECT_NE(Hex(a.span()), Hex(b.span())) << "the nonce must matter";
  EXPECT_EQ(derive_resumption_psk(alg, rms, Bytes(255, 1), &a), KdfStatus::kOk);
  EXPECT_EQ(derive_resumption_psk(alg, rms, Bytes(256, 1), &a),
            KdfStatus::kBadLength);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(derive_resumption_psk(alg, Bytes(5, 3), {}, &a),
            KdfStatus::kBadLength);
}

TEST_P(KeyScheduleTest, ExporterFollowsRfc8446Section7_5) {
  const HashAlg alg = GetParam();
  const size_t len = hash_len(alg);
  const Bytes ems(len, 0x55);
  const Bytes context = {1, 2, 3};
  Bytes out(42);
  ASSERT_EQ(export_keying_material(alg, ems, "EXPORTER-test", context, out),
            KdfStatus::kOk);
  // By hand: Expand-Label(Derive-Secret(ems, label, ""), "exporter",
  // Hash(context), 42).
  HashValue empty;
  HashValue ctx_hash;
  ASSERT_EQ(hash_bytes(alg, {}, &empty), KdfStatus::kOk);
  ASSERT_EQ(hash_bytes(alg, context, &ctx_hash), KdfStatus::kOk);
  Secret inner;
  ASSERT_EQ(derive_secret(alg, ems, "EXPORTER-test", empty.span(), &inner),
            KdfStatus::kOk);
  Bytes by_hand(42);
  ASSERT_EQ(hkdf_expand_label(alg, inner.span(), "exporter", ctx_hash.span(),
                              by_hand),
            KdfStatus::kOk);
  EXPECT_EQ(Hex(out), Hex(by_hand));
  // The length is bound in: a shorter export is not a prefix.
  Bytes shorter(16);
  ASSERT_EQ(export_keying_material(alg, ems, "EXPORTER-test", context, shorter),
            KdfStatus::kOk);
  EXPECT_FALSE(std::equal(shorter.begin(), shorter.end(), out.begin()));
  // Limits: label 1..249 bytes, output up to 255 * Hash.length, secret of
  // Hash.length; failures zero the output.
  Bytes buf(32, 0xEE);
  EXPECT_EQ(
      export_keying_material(alg, ems, std::string(kMaxLabelLen, 'L'), {}, buf),
      KdfStatus::kOk);
  EXPECT_EQ(export_keying_material(alg, ems, std::string(kMaxLabelLen + 1, 'L'),
                                   {}, buf),
            KdfStatus::kBadLabel);
  EXPECT_EQ(buf, Bytes(32, 0));
  EXPECT_EQ(export_keying_material(alg, ems, "", {}, buf),
            KdfStatus::kBadLabel);
  Bytes too_long(255 * len + 1, 0xEE);
  EXPECT_EQ(export_keying_material(alg, ems, "x", {}, too_long),
            KdfStatus::kBadLength);
  EXPECT_EQ(too_long, Bytes(too_long.size(), 0));
  EXPECT_EQ(export_keying_material(alg, Bytes(len + 1, 1), "x", {}, buf),
            KdfStatus::kBadLength);
}

TEST_P(KeyScheduleTest, NextTrafficSecretRefusesTheOtherHashsLength) {
  const HashAlg alg = GetParam();
  const HashAlg other =
      alg == HashAlg::kSha256 ? HashAlg::kSha384 : HashAlg::kSha256;
  Secret out;
  EXPECT_EQ(derive_next_traffic_secret(alg, Bytes(hash_len(other), 1), &out),
            KdfStatus::kBadLength);
  EXPECT_EQ(derive_finished_key(alg, Bytes(hash_len(other), 1), &out),
            KdfStatus::kBadLength);
  EXPECT_EQ(
      derive_next_traffic_secret(static_cast<HashAlg>(3), Bytes(32, 1), &out),
      KdfStatus::kBadAlg);
}

INSTANTIATE_TEST_SUITE_P(Hashes, KeyScheduleTest,
                         ::testing::ValuesIn(kAllHashAlgs), HashName);

}  // namespace
}  // namespace dptls::tls
