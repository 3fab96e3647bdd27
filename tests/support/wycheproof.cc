#include "support/wycheproof.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace dptls::crypto::testing {

namespace {

using nlohmann::json;

bool GetString(const json& obj, const char* name, std::string* out) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) {
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool GetSize(const json& obj, const char* name, size_t* out) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number_unsigned()) {
    return false;
  }
  *out = it->get<size_t>();
  return true;
}

bool GetHex(const json& obj, const char* name, Bytes* out) {
  std::string hex;
  return GetString(obj, name, &hex) && HexDecode(hex, out);
}

}  // namespace

namespace {

// The parts every Wycheproof file shares: the header, the groups of one
// `type`, and per test tcId, comment, flags and result. `fn` reads the
// type-specific fields of each test. Nothing is skipped: any malformed entry
// is an error.
using TestFn =
    std::function<bool(const json& group, const json& test,
                       const WycheproofCommon& common, std::string* error)>;

// `acceptable`: whether the file's tests may have the result "acceptable"
// (WycheproofCommon::acceptable), which only some schemas use.
bool ForEachTest(const std::filesystem::path& path, std::string_view type,
                 std::string* algorithm, size_t* number_of_tests,
                 const TestFn& fn, std::string* error,
                 bool acceptable = false) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path.string();
    return false;
  }
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = "not a JSON object: " + path.string();
    return false;
  }
  if (!GetString(doc, "algorithm", algorithm) ||
      !GetSize(doc, "numberOfTests", number_of_tests)) {
    *error = "missing algorithm or numberOfTests";
    return false;
  }
  auto groups = doc.find("testGroups");
  if (groups == doc.end() || !groups->is_array()) {
    *error = "missing testGroups";
    return false;
  }
  int last_tc_id = 0;
  for (const json& group : *groups) {
    std::string group_type;
    if (!group.is_object() || !GetString(group, "type", &group_type) ||
        group_type != type) {
      *error = "malformed test group (want type " + std::string(type) + ")";
      return false;
    }
    auto tests = group.find("tests");
    if (tests == group.end() || !tests->is_array()) {
      *error = "test group without tests";
      return false;
    }
    for (const json& t : *tests) {
      WycheproofCommon common;
      size_t tc_id = 0;
      std::string result;
      if (!t.is_object() || !GetSize(t, "tcId", &tc_id) ||
          !GetString(t, "comment", &common.comment) ||
          !GetString(t, "result", &result)) {
        *error = "malformed test after tcId " + std::to_string(last_tc_id);
        return false;
      }
      common.tc_id = static_cast<int>(tc_id);
      last_tc_id = common.tc_id;
      if (result == "valid") {
        common.valid = true;
      } else if (result == "invalid") {
        common.valid = false;
      } else if (acceptable && result == "acceptable") {
        common.acceptable = true;
      } else {
        // "acceptable" does not occur in the AEAD and HKDF files; refuse
        // rather than guess.
        *error = "tcId " + std::to_string(tc_id) + ": unexpected result '" +
                 result + "'";
        return false;
      }
      auto flags = t.find("flags");
      if (flags != t.end() && flags->is_array()) {
        for (const json& f : *flags) {
          if (f.is_string()) {
            common.flags.push_back(f.get<std::string>());
          }
        }
      }
      if (!fn(group, t, common, error)) {
        if (error->empty()) {
          *error = "malformed test";
        }
        *error = "tcId " + std::to_string(tc_id) + ": " + *error;
        return false;
      }
    }
  }
  return true;
}

}  // namespace

bool LoadWycheproof(const std::filesystem::path& path, WycheproofFile* out,
                    std::string* error) {
  *out = WycheproofFile();
  error->clear();
  auto read = [out](const json& group, const json& t,
                    const WycheproofCommon& common, std::string* err) {
    WycheproofCase c;
    c.tc_id = common.tc_id;
    c.comment = common.comment;
    c.flags = common.flags;
    c.valid = common.valid;
    if (!GetSize(group, "ivSize", &c.iv_bits) ||
        !GetSize(group, "keySize", &c.key_bits) ||
        !GetSize(group, "tagSize", &c.tag_bits)) {
      *err = "malformed test group";
      return false;
    }
    if (!GetHex(t, "key", &c.key) || !GetHex(t, "iv", &c.iv) ||
        !GetHex(t, "aad", &c.aad) || !GetHex(t, "msg", &c.msg) ||
        !GetHex(t, "ct", &c.ct) || !GetHex(t, "tag", &c.tag)) {
      *err = "missing or bad hex field";
      return false;
    }
    if (c.key.size() * 8 != c.key_bits) {
      *err = "key is not keySize";
      return false;
    }
    if (c.iv.size() * 8 != c.iv_bits) {
      *err = "iv is not ivSize";
      return false;
    }
    out->cases.push_back(std::move(c));
    return true;
  };
  return ForEachTest(path, "AeadTest", &out->algorithm, &out->number_of_tests,
                     read, error);
}

bool LoadWycheproofHkdf(const std::filesystem::path& path,
                        WycheproofHkdfFile* out, std::string* error) {
  *out = WycheproofHkdfFile();
  error->clear();
  auto read = [out](const json& /*group*/, const json& t,
                    const WycheproofCommon& common, std::string* err) {
    WycheproofHkdfCase c;
    c.tc_id = common.tc_id;
    c.comment = common.comment;
    c.flags = common.flags;
    c.valid = common.valid;
    if (!GetHex(t, "ikm", &c.ikm) || !GetHex(t, "salt", &c.salt) ||
        !GetHex(t, "info", &c.info) || !GetHex(t, "okm", &c.okm) ||
        !GetSize(t, "size", &c.size)) {
      *err = "missing or bad ikm/salt/info/okm/size";
      return false;
    }
    if (c.valid && c.okm.size() != c.size) {
      *err = "okm is not size bytes";
      return false;
    }
    out->cases.push_back(std::move(c));
    return true;
  };
  return ForEachTest(path, "HkdfTest", &out->algorithm, &out->number_of_tests,
                     read, error);
}

bool LoadWycheproofXdh(const std::filesystem::path& path,
                       WycheproofXdhFile* out, std::string* error) {
  *out = WycheproofXdhFile();
  error->clear();
  auto read = [out](const json& group, const json& t,
                    const WycheproofCommon& common, std::string* err) {
    WycheproofXdhCase c;
    c.common = common;
    if (!GetString(group, "curve", &c.curve) ||
        !GetHex(t, "public", &c.public_key) ||
        !GetHex(t, "private", &c.private_key) ||
        !GetHex(t, "shared", &c.shared)) {
      *err = "missing or bad curve/public/private/shared";
      return false;
    }
    out->cases.push_back(std::move(c));
    return true;
  };
  return ForEachTest(path, "XdhComp", &out->algorithm, &out->number_of_tests,
                     read, error, /*acceptable=*/true);
}

namespace {

// The layouts every vector is run with: whole, 1-byte pieces, and random
// splits (which always contain an empty and a 1-byte segment when the
// message is not empty).
std::vector<std::vector<size_t>> Layouts(size_t len, std::mt19937_64& rng) {
  std::vector<std::vector<size_t>> layouts = {SingleSegment(len),
                                              OneByteSegments(len)};
  for (int i = 0; i < 3; ++i) {
    layouts.push_back(RandomSegments(len, rng));
  }
  if (len == 0) {
    layouts.push_back({});  // no segment at all
  }
  return layouts;
}

std::optional<AeadAlg> AlgFor(WycheproofFamily family, size_t key_bits) {
  if (family == WycheproofFamily::kAesGcm) {
    if (key_bits == 128) {
      return AeadAlg::kAes128Gcm;
    }
    if (key_bits == 256) {
      return AeadAlg::kAes256Gcm;
    }
    return std::nullopt;
  }
  if (key_bits == 256) {
    return AeadAlg::kChaCha20Poly1305;
  }
  return std::nullopt;
}

// dptls has no AES-192 suite: a 24-byte secret must be refused by both AES
// algorithms and leave the key empty.
void ExpectAes192Refused(AeadBackend& backend, const WycheproofCase& c) {
  for (AeadAlg alg : {AeadAlg::kAes128Gcm, AeadAlg::kAes256Gcm}) {
    AeadKey key;
    EXPECT_EQ(backend.init_key(key, alg, c.key), AeadStatus::kBadKey)
        << aead_alg_name(alg);
    EXPECT_FALSE(key.ready());
  }
}

// A nonce of the wrong size must be refused on seal and open with the
// buffer and tag untouched.
void ExpectBadNonce(AeadBackend& backend, const AeadKey& key,
                    const WycheproofCase& c, std::mt19937_64& rng) {
  Bytes tag_in(kAeadTagLen, 0x5C);
  std::copy_n(c.tag.begin(), std::min(c.tag.size(), tag_in.size()),
              tag_in.begin());
  for (AeadDir dir : {AeadDir::kSeal, AeadDir::kOpen}) {
    const Bytes& input = dir == AeadDir::kSeal ? c.msg : c.ct;
    OneShot r = RunScattered(backend, key, dir, c.iv, c.aad, input,
                             RandomSegments(input.size(), rng), tag_in, rng);
    EXPECT_EQ(r.status, AeadStatus::kBadNonce)
        << (dir == AeadDir::kSeal ? "seal" : "open");
    EXPECT_EQ(r.data, input) << "buffer changed by a refused op";
    EXPECT_EQ(r.tag, tag_in) << "tag changed by a refused op";
    EXPECT_TRUE(r.guards_intact);
  }
}

void ExpectValid(AeadBackend& backend, const AeadKey& key,
                 const WycheproofCase& c, std::mt19937_64& rng) {
  const Bytes junk_tag(kAeadTagLen, 0xEE);
  for (const std::vector<size_t>& layout : Layouts(c.msg.size(), rng)) {
    SCOPED_TRACE(::testing::Message() << layout.size() << " segments");
    OneShot sealed = RunScattered(backend, key, AeadDir::kSeal, c.iv, c.aad,
                                  c.msg, layout, junk_tag, rng);
    EXPECT_EQ(sealed.status, AeadStatus::kOk);
    EXPECT_EQ(HexEncode(sealed.data), HexEncode(c.ct)) << "ciphertext";
    EXPECT_EQ(HexEncode(sealed.tag), HexEncode(c.tag)) << "tag";
    EXPECT_TRUE(sealed.guards_intact) << "seal wrote outside its segments";

    OneShot opened = RunScattered(backend, key, AeadDir::kOpen, c.iv, c.aad,
                                  c.ct, layout, c.tag, rng);
    EXPECT_EQ(opened.status, AeadStatus::kOk);
    EXPECT_EQ(HexEncode(opened.data), HexEncode(c.msg)) << "plaintext";
    EXPECT_EQ(opened.tag, c.tag) << "open changed the received tag";
    EXPECT_TRUE(opened.guards_intact) << "open wrote outside its segments";
  }
}

void ExpectInvalid(AeadBackend& backend, const AeadKey& key,
                   const WycheproofCase& c, std::mt19937_64& rng) {
  for (const std::vector<size_t>& layout : Layouts(c.ct.size(), rng)) {
    SCOPED_TRACE(::testing::Message() << layout.size() << " segments");
    OneShot opened = RunScattered(backend, key, AeadDir::kOpen, c.iv, c.aad,
                                  c.ct, layout, c.tag, rng);
    EXPECT_EQ(opened.status, AeadStatus::kAuthFailed);
    EXPECT_TRUE(opened.all_zero)
        << "unauthenticated bytes released: " << HexEncode(opened.data);
    EXPECT_TRUE(opened.guards_intact) << "open wrote outside its segments";
  }
}

}  // namespace

WycheproofCounts RunWycheproofFile(AeadBackend& backend, const char* file_name,
                                   WycheproofFamily family) {
  WycheproofCounts counts;
  WycheproofFile file;
  std::string error;
  const auto path = VectorsDir() / "wycheproof" / file_name;
  if (!LoadWycheproof(path, &file, &error)) {
    ADD_FAILURE() << "loading " << path << ": " << error;
    return counts;
  }
  EXPECT_EQ(file.cases.size(), file.number_of_tests)
      << "loader dropped or invented tests";
  std::mt19937_64 rng(0xD9715 + static_cast<int>(family));
  for (const WycheproofCase& c : file.cases) {
    SCOPED_TRACE(::testing::Message()
                 << file_name << " tcId " << c.tc_id << " (" << c.comment
                 << ") key " << c.key_bits << " iv " << c.iv_bits);
    if (c.tag_bits != 128) {
      ADD_FAILURE() << "unexpected tag size " << c.tag_bits;
      continue;
    }
    if (family == WycheproofFamily::kAesGcm && c.key_bits == 192) {
      ExpectAes192Refused(backend, c);
      ++counts.unsupported_key;
      continue;
    }
    const std::optional<AeadAlg> alg = AlgFor(family, c.key_bits);
    if (!alg.has_value()) {
      ADD_FAILURE() << "unexpected key size";
      continue;
    }
    AeadKey key;
    if (backend.init_key(key, *alg, c.key) != AeadStatus::kOk) {
      ADD_FAILURE() << "init_key failed";
      continue;
    }
    if (c.iv.size() != kAeadNonceLen) {
      ExpectBadNonce(backend, key, c, rng);
      ++counts.bad_nonce;
    } else if (c.valid) {
      ExpectValid(backend, key, c, rng);
      ++counts.valid;
    } else {
      ExpectInvalid(backend, key, c, rng);
      ++counts.invalid;
    }
  }
  EXPECT_EQ(counts.total(), file.cases.size());
  std::printf(
      "[ vectors  ] %s on %s (%s): %zu exercised (%zu valid, %zu invalid), "
      "%zu bad-nonce, %zu AES-192 refused, %zu total\n",
      file_name, std::string(backend.name()).c_str(),
      backend.describe().c_str(), counts.exercised(), counts.valid,
      counts.invalid, counts.bad_nonce, counts.unsupported_key, counts.total());
  ::testing::Test::RecordProperty("vectors_exercised",
                                  static_cast<int>(counts.exercised()));
  return counts;
}

}  // namespace dptls::crypto::testing
