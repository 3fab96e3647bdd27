// TLS record layer constants and wire helpers shared by the worker's record
// engine and the control plane's handshake (RFC 8446 section 5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "dptls/crypto/aead.h"

namespace dptls::tls {

// RFC 8446 section 5.1.
enum class ContentType : uint8_t {
  kInvalid = 0,
  kChangeCipherSpec = 20,
  kAlert = 21,
  kHandshake = 22,
  kApplicationData = 23,
};

inline constexpr size_t kRecordHeaderLen = 5;
// TLSPlaintext.length limit (section 5.1).
inline constexpr size_t kMaxPlaintext = size_t{1} << 14;
// TLSCiphertext.length limit for TLS 1.3 (section 5.2).
inline constexpr size_t kMaxCiphertext13 = kMaxPlaintext + 256;
// legacy_record_version on every protected TLS 1.3 record.
inline constexpr uint16_t kLegacyRecordVersion = 0x0303;

// RFC 8446 section 6 (plus RFC 8449's record_size_limit is a handshake
// matter). X(enumerator, code, printable name)
#define DPTLS_TLS_ALERTS(X)                                                \
  X(kCloseNotify, 0, "close_notify")                                       \
  X(kUnexpectedMessage, 10, "unexpected_message")                          \
  X(kBadRecordMac, 20, "bad_record_mac")                                   \
  X(kRecordOverflow, 22, "record_overflow")                                \
  X(kHandshakeFailure, 40, "handshake_failure")                            \
  X(kBadCertificate, 42, "bad_certificate")                                \
  X(kUnsupportedCertificate, 43, "unsupported_certificate")                \
  X(kCertificateRevoked, 44, "certificate_revoked")                        \
  X(kCertificateExpired, 45, "certificate_expired")                        \
  X(kCertificateUnknown, 46, "certificate_unknown")                        \
  X(kIllegalParameter, 47, "illegal_parameter")                            \
  X(kUnknownCa, 48, "unknown_ca")                                          \
  X(kAccessDenied, 49, "access_denied")                                    \
  X(kDecodeError, 50, "decode_error")                                      \
  X(kDecryptError, 51, "decrypt_error")                                    \
  X(kProtocolVersion, 70, "protocol_version")                              \
  X(kInsufficientSecurity, 71, "insufficient_security")                    \
  X(kInternalError, 80, "internal_error")                                  \
  X(kInappropriateFallback, 86, "inappropriate_fallback")                  \
  X(kUserCanceled, 90, "user_canceled")                                    \
  X(kMissingExtension, 109, "missing_extension")                           \
  X(kUnsupportedExtension, 110, "unsupported_extension")                   \
  X(kUnrecognizedName, 112, "unrecognized_name")                           \
  X(kBadCertificateStatusResponse, 113, "bad_certificate_status_response") \
  X(kUnknownPskIdentity, 115, "unknown_psk_identity")                      \
  X(kCertificateRequired, 116, "certificate_required")                     \
  X(kNoApplicationProtocol, 120, "no_application_protocol")

enum class Alert : uint8_t {
#define DPTLS_X(e, code, name) e = code,
  DPTLS_TLS_ALERTS(DPTLS_X)
#undef DPTLS_X
};

// Returns the RFC name, e.g. "bad_record_mac", or "unknown" for a code this
// table does not list.
std::string_view alert_name(Alert alert);

// RFC 8446 section 6: level fatal (2) for everything but close_notify and
// user_canceled, which are warnings (1).
inline uint8_t alert_level(Alert alert) {
  return alert == Alert::kCloseNotify || alert == Alert::kUserCanceled ? 1 : 2;
}

// Handshake message types the record engine itself looks at (section 4).
inline constexpr uint8_t kHandshakeNewSessionTicket = 4;
inline constexpr uint8_t kHandshakeKeyUpdate = 24;
// KeyUpdateRequest (section 4.6.3).
inline constexpr uint8_t kKeyUpdateNotRequested = 0;
inline constexpr uint8_t kKeyUpdateRequested = 1;

// The per-record nonce (section 5.3): the 64-bit sequence number, big-endian
// and left-padded to the IV length, XORed with the static IV.
inline void record_nonce(const uint8_t (&iv)[crypto::kAeadNonceLen],
                         uint64_t seq, uint8_t (&out)[crypto::kAeadNonceLen]) {
  for (size_t i = 0; i < crypto::kAeadNonceLen; ++i) {
    out[i] = iv[i];
  }
  for (size_t i = 0; i < 8; ++i) {
    out[crypto::kAeadNonceLen - 1 - i] ^= static_cast<uint8_t>(seq >> (8 * i));
  }
}

// Writes a record header: type, legacy version, length.
inline void write_record_header(ContentType type, uint16_t length,
                                uint8_t (&out)[kRecordHeaderLen]) {
  out[0] = static_cast<uint8_t>(type);
  out[1] = static_cast<uint8_t>(kLegacyRecordVersion >> 8);
  out[2] = static_cast<uint8_t>(kLegacyRecordVersion & 0xff);
  out[3] = static_cast<uint8_t>(length >> 8);
  out[4] = static_cast<uint8_t>(length & 0xff);
}

// How many records one key may protect before it must be updated (section
// 5.5 and the AEAD limits it cites): 2^24.5 full-size records for AES-GCM;
// ChaCha20-Poly1305's limit is above 2^64, so the sequence number is what
// bounds it. dptls starts a KeyUpdate well before either.
uint64_t aead_record_limit(crypto::AeadAlg alg);

}  // namespace dptls::tls
