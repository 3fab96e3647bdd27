// The TLS 1.3 cipher suites dptls speaks (RFC 8446 appendix B.4): each
// names the record AEAD and the hash of the key schedule and transcript.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "dptls/crypto/aead.h"
#include "dptls/tls/hkdf.h"

namespace dptls::tls {

// X(enumerator, IANA code point, IANA name, AeadAlg, HashAlg)
#define DPTLS_TLS13_CIPHER_SUITES(X)                                         \
  X(kAes128GcmSha256, 0x1301, "TLS_AES_128_GCM_SHA256", kAes128Gcm, kSha256) \
  X(kAes256GcmSha384, 0x1302, "TLS_AES_256_GCM_SHA384", kAes256Gcm, kSha384) \
  X(kChaCha20Poly1305Sha256, 0x1303, "TLS_CHACHA20_POLY1305_SHA256",         \
    kChaCha20Poly1305, kSha256)

// The enumerators' values are the wire code points.
enum class CipherSuite : uint16_t {
#define DPTLS_X(e, code, name, aead, hash) e = code,
  DPTLS_TLS13_CIPHER_SUITES(DPTLS_X)
#undef DPTLS_X
};

inline constexpr CipherSuite kAllCipherSuites[] = {
#define DPTLS_X(e, code, name, aead, hash) CipherSuite::e,
    DPTLS_TLS13_CIPHER_SUITES(DPTLS_X)
#undef DPTLS_X
};

struct CipherSuiteInfo {
  CipherSuite suite;
  uint16_t code;
  std::string_view name;  // IANA name, static storage
  crypto::AeadAlg aead;
  HashAlg hash;
};

// Looks up a code point read off the wire; nullptr for any suite dptls does
// not implement (the caller skips it when choosing, RFC 8446 4.1.2). The
// pointer is to static storage.
const CipherSuiteInfo* find_cipher_suite(uint16_t code);
// Returns the table entry of a valid enumerator; nullptr for a value outside
// the enum.
const CipherSuiteInfo* cipher_suite_info(CipherSuite suite);
// Parses an IANA name ("TLS_AES_128_GCM_SHA256"); nullopt for anything else.
std::optional<CipherSuite> parse_cipher_suite(std::string_view name);

}  // namespace dptls::tls
