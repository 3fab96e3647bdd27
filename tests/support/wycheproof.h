// The Wycheproof vectors: loaders for the AEAD (aead_test_schema_v1), HKDF
// (hkdf_test_schema_v1) and XDH (xdh_comp_schema_v1) files on one shared
// JSON walker, and a runner that checks one AEAD backend against every test
// of a file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"

namespace dptls::crypto::testing {

// The fields every Wycheproof test has.
struct WycheproofCommon {
  int tc_id = 0;
  std::string comment;
  std::vector<std::string> flags;
  bool valid = false;  // result "valid" (else "invalid" or "acceptable")
  // Result "acceptable" (only in files whose loader allows it: a case a
  // library may accept or refuse, such as X25519's low-order points).
  bool acceptable = false;
};

struct WycheproofCase {
  int tc_id = 0;
  std::string comment;
  std::vector<std::string> flags;
  size_t iv_bits = 0;   // the group's ivSize
  size_t key_bits = 0;  // the group's keySize
  size_t tag_bits = 0;  // the group's tagSize
  Bytes key, iv, aad, msg, ct, tag;
  bool valid = false;  // result "valid" (else "invalid")
};

struct WycheproofFile {
  std::string algorithm;
  size_t number_of_tests = 0;
  std::vector<WycheproofCase> cases;
};

// Loads an AEAD Wycheproof file (aead_test_schema_v1). Returns false and
// sets *error on any malformed entry: nothing is silently skipped.
bool LoadWycheproof(const std::filesystem::path& path, WycheproofFile* out,
                    std::string* error);

// One HKDF test: OKM = HKDF(salt, IKM, info, size). "invalid" tests ask
// for more than 255 * HashLen bytes and have an empty okm.
struct WycheproofHkdfCase {
  int tc_id = 0;
  std::string comment;
  std::vector<std::string> flags;
  Bytes ikm, salt, info, okm;
  size_t size = 0;
  bool valid = false;
};

struct WycheproofHkdfFile {
  std::string algorithm;  // "HKDF-SHA-256", ...
  size_t number_of_tests = 0;
  std::vector<WycheproofHkdfCase> cases;
};

// Loads an HKDF Wycheproof file (hkdf_test_schema_v1). Returns false and
// sets *error on any malformed entry: nothing is silently skipped.
bool LoadWycheproofHkdf(const std::filesystem::path& path,
                        WycheproofHkdfFile* out, std::string* error);

// One X25519/X448 computation (xdh_comp_schema_v1): shared =
// XDH(private, public).
struct WycheproofXdhCase {
  WycheproofCommon common;
  std::string curve;  // the group's "curve25519" or "curve448"
  Bytes public_key, private_key, shared;
};

struct WycheproofXdhFile {
  std::string algorithm;  // "XDH"
  size_t number_of_tests = 0;
  std::vector<WycheproofXdhCase> cases;
};

// Loads an XDH Wycheproof file (xdh_comp_schema_v1). Returns false and sets
// *error on any malformed entry: nothing is silently skipped.
bool LoadWycheproofXdh(const std::filesystem::path& path,
                       WycheproofXdhFile* out, std::string* error);

enum class WycheproofFamily { kAesGcm, kChaCha20Poly1305 };

// How many vectors of a file went down each path; they add up to the file's
// numberOfTests.
struct WycheproofCounts {
  size_t valid = 0;            // 96-bit IV, supported key: seal and open
  size_t invalid = 0;          // 96-bit IV, supported key: open must fail
  size_t bad_nonce = 0;        // other IV size: kBadNonce
  size_t unsupported_key = 0;  // AES-192: init_key gives kBadKey
  size_t exercised() const { return valid + invalid; }
  size_t total() const { return valid + invalid + bad_nonce + unsupported_key; }
};

// Runs every test of VectorsDir()/wycheproof/`file_name` against `backend`,
// recording a gtest failure for each mismatch, and logs the counts.
//  - 96-bit IV, 128/256-bit key: "valid" must seal to ct || tag and open
//    back (kOk); "invalid" must fail to open (kAuthFailed) with every segment
//    zeroed. Each is run whole, in 1-byte segments and in random splits.
//  - other IV sizes: seal and open give kBadNonce and touch nothing.
//  - AES-192 keys: init_key for aes-128-gcm and aes-256-gcm gives kBadKey.
WycheproofCounts RunWycheproofFile(AeadBackend& backend, const char* file_name,
                                   WycheproofFamily family);

}  // namespace dptls::crypto::testing
