// TLS 1.3 handshake message codecs (RFC 8446 section 4): the ClientHello
// reader with every extension a server must understand, and the writers for
// the server's messages.
//
// Sans-IO and allocation-free: the reader returns views (spans) into the
// message it was given, the writers append to a caller's ByteWriter. Every
// wire byte goes through ByteReader/ByteWriter (util/bytes.h).
//
// Failure: the reader returns false and sets the alert to send (RFC 8446
// section 6.2): decode_error for any malformed length, illegal_parameter
// for a well-formed but forbidden value (a duplicated extension,
// pre_shared_key not last, ...). The writers return false when the writer
// ran out of room or a parameter is out of its wire range; what they wrote
// is then unusable (ByteWriter::ok() is false or the length is partial).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "dptls/tls/record.h"
#include "dptls/util/bytes.h"

namespace dptls::tls {

// ---- code points ----

// HandshakeType (RFC 8446 section 4). X(enumerator, code, printable name)
#define DPTLS_HANDSHAKE_TYPES(X)                     \
  X(kClientHello, 1, "client_hello")                 \
  X(kServerHello, 2, "server_hello")                 \
  X(kNewSessionTicket, 4, "new_session_ticket")      \
  X(kEndOfEarlyData, 5, "end_of_early_data")         \
  X(kEncryptedExtensions, 8, "encrypted_extensions") \
  X(kCertificate, 11, "certificate")                 \
  X(kCertificateRequest, 13, "certificate_request")  \
  X(kCertificateVerify, 15, "certificate_verify")    \
  X(kFinished, 20, "finished")                       \
  X(kKeyUpdate, 24, "key_update")                    \
  X(kMessageHash, 254, "message_hash")

enum class HandshakeType : uint8_t {
#define DPTLS_X(e, code, name) e = code,
  DPTLS_HANDSHAKE_TYPES(DPTLS_X)
#undef DPTLS_X
};

// Returns the RFC name ("client_hello"), or "unknown".
std::string_view handshake_type_name(uint8_t type);

// Handshake message header: msg_type (1) and a 24-bit length.
inline constexpr size_t kHandshakeHeaderLen = 4;

// ExtensionType values the server reads or writes (RFC 8446 section 4.2,
// RFC 6066, RFC 7301, RFC 8449). X(enumerator, code, printable name)
#define DPTLS_EXTENSION_TYPES(X)                                     \
  X(kServerName, 0, "server_name")                                   \
  X(kMaxFragmentLength, 1, "max_fragment_length")                    \
  X(kStatusRequest, 5, "status_request")                             \
  X(kSupportedGroups, 10, "supported_groups")                        \
  X(kSignatureAlgorithms, 13, "signature_algorithms")                \
  X(kUseSrtp, 14, "use_srtp")                                        \
  X(kHeartbeat, 15, "heartbeat")                                     \
  X(kAlpn, 16, "application_layer_protocol_negotiation")             \
  X(kSignedCertificateTimestamp, 18, "signed_certificate_timestamp") \
  X(kClientCertificateType, 19, "client_certificate_type")           \
  X(kServerCertificateType, 20, "server_certificate_type")           \
  X(kPadding, 21, "padding")                                         \
  X(kRecordSizeLimit, 28, "record_size_limit")                       \
  X(kPreSharedKey, 41, "pre_shared_key")                             \
  X(kEarlyData, 42, "early_data")                                    \
  X(kSupportedVersions, 43, "supported_versions")                    \
  X(kCookie, 44, "cookie")                                           \
  X(kPskKeyExchangeModes, 45, "psk_key_exchange_modes")              \
  X(kCertificateAuthorities, 47, "certificate_authorities")          \
  X(kOidFilters, 48, "oid_filters")                                  \
  X(kPostHandshakeAuth, 49, "post_handshake_auth")                   \
  X(kSignatureAlgorithmsCert, 50, "signature_algorithms_cert")       \
  X(kKeyShare, 51, "key_share")

enum class ExtensionType : uint16_t {
#define DPTLS_X(e, code, name) e = code,
  DPTLS_EXTENSION_TYPES(DPTLS_X)
#undef DPTLS_X
};

// Returns the RFC name ("key_share"), or "unknown".
std::string_view extension_type_name(uint16_t type);

// NamedGroup values dptls implements for (EC)DHE (RFC 8446 section
// 4.2.7). X(enumerator, code, printable name)
#define DPTLS_NAMED_GROUPS(X)        \
  X(kSecp256r1, 0x0017, "secp256r1") \
  X(kSecp384r1, 0x0018, "secp384r1") \
  X(kX25519, 0x001d, "x25519")

enum class NamedGroup : uint16_t {
#define DPTLS_X(e, code, name) e = code,
  DPTLS_NAMED_GROUPS(DPTLS_X)
#undef DPTLS_X
};

inline constexpr NamedGroup kAllNamedGroups[] = {
#define DPTLS_X(e, code, name) NamedGroup::e,
    DPTLS_NAMED_GROUPS(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name ("x25519"), or "unknown".
std::string_view named_group_name(NamedGroup group);
// Maps a wire code point to a group dptls implements; nullopt otherwise.
std::optional<NamedGroup> find_named_group(uint16_t code);
// Parses a printable name; nullopt for anything else.
std::optional<NamedGroup> parse_named_group(std::string_view name);

// SignatureScheme values dptls can sign with (RFC 8446 section 4.2.3).
// X(enumerator, code, printable name)
#define DPTLS_SIGNATURE_SCHEMES(X)                           \
  X(kEcdsaSecp256r1Sha256, 0x0403, "ecdsa_secp256r1_sha256") \
  X(kRsaPssRsaeSha256, 0x0804, "rsa_pss_rsae_sha256")        \
  X(kRsaPssRsaeSha384, 0x0805, "rsa_pss_rsae_sha384")        \
  X(kEd25519, 0x0807, "ed25519")

enum class SignatureScheme : uint16_t {
#define DPTLS_X(e, code, name) e = code,
  DPTLS_SIGNATURE_SCHEMES(DPTLS_X)
#undef DPTLS_X
};

inline constexpr SignatureScheme kAllSignatureSchemes[] = {
#define DPTLS_X(e, code, name) SignatureScheme::e,
    DPTLS_SIGNATURE_SCHEMES(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name ("ed25519"), or "unknown".
std::string_view signature_scheme_name(SignatureScheme scheme);
// Maps a wire code point to a scheme dptls implements; nullopt otherwise.
std::optional<SignatureScheme> find_signature_scheme(uint16_t code);
// Parses a printable name; nullopt for anything else.
std::optional<SignatureScheme> parse_signature_scheme(std::string_view name);

// ProtocolVersion values (RFC 8446 section 4.2.1).
inline constexpr uint16_t kVersionTls12 = 0x0303;
inline constexpr uint16_t kVersionTls13 = 0x0304;

// PskKeyExchangeMode (RFC 8446 section 4.2.9).
inline constexpr uint8_t kPskKe = 0;
inline constexpr uint8_t kPskDheKe = 1;

// RFC 8701: GREASE values for 16-bit code points are 0x0A0A, 0x1A1A, ...,
// 0xFAFA. They are ignored wherever they appear.
inline bool is_grease(uint16_t v) {
  return (v & 0x0f0f) == 0x0a0a && (v >> 12) == ((v >> 4) & 0x0f);
}

// The HelloRetryRequest's fixed ServerHello.random: SHA-256 of
// "HelloRetryRequest" (RFC 8446 section 4.1.3).
extern const std::array<uint8_t, 32> kHelloRetryRequestRandom;

// RFC 8449 section 4: a record_size_limit below 64 is illegal_parameter;
// in TLS 1.3 the useful maximum is 2^14 + 1 (content type included).
inline constexpr uint16_t kMinRecordSizeLimit = 64;
inline constexpr uint16_t kMaxRecordSizeLimit13 = (1u << 14) + 1;

// The largest ClientHello accepted: every vector at its maximum (RFC 8446
// section 4.1.2), as OpenSSL bounds it.
inline constexpr size_t kMaxClientHelloLen = 131396;

// ---- views over validated wire lists ----

// A list of 16-bit values as it lies on the wire (borrowed). Built by the
// parser only from a validated, even-length vector.
class U16List {
 public:
  U16List() = default;
  // `raw` must have even length (the parser checked); an odd trailing byte
  // is ignored.
  explicit U16List(std::span<const uint8_t> raw) : raw_(raw) {}

  // The number of values.
  size_t size() const { return raw_.size() / 2; }
  bool empty() const { return size() == 0; }
  // The i-th value; 0 when i is out of range.
  uint16_t at(size_t i) const;
  // True when `v` is in the list (a linear scan).
  bool contains(uint16_t v) const;
  // The list's wire bytes.
  std::span<const uint8_t> raw() const { return raw_; }

 private:
  std::span<const uint8_t> raw_;
};

// One KeyShareEntry (RFC 8446 section 4.2.8), borrowed.
struct KeyShareEntry {
  uint16_t group = 0;
  std::span<const uint8_t> key_exchange;
};

// The validated client_shares vector (borrowed).
class KeyShareList {
 public:
  KeyShareList() = default;
  explicit KeyShareList(std::span<const uint8_t> raw) : raw_(raw) {}

  // The number of entries (one pass).
  size_t size() const;
  // The i-th entry; false when i is out of range. Walks from the start:
  // use for_each() to visit them all.
  bool at(size_t i, KeyShareEntry* out) const;
  // The entry for `group`; false when the client sent none.
  bool find(uint16_t group, KeyShareEntry* out) const;
  // Calls f(const KeyShareEntry&) for each entry in order, in one pass.
  template <typename F>
  void for_each(F&& f) const {
    ByteReader r(raw_);
    KeyShareEntry e;
    ByteReader key;
    while (r.u16(&e.group) && r.prefixed16(&key)) {
      e.key_exchange = key.rest();
      f(e);
    }
  }

 private:
  std::span<const uint8_t> raw_;
};

// The validated ProtocolNameList of ALPN (RFC 7301 section 3.1), borrowed.
class ProtocolNameList {
 public:
  ProtocolNameList() = default;
  explicit ProtocolNameList(std::span<const uint8_t> raw) : raw_(raw) {}

  // The number of names.
  size_t size() const;
  bool empty() const { return raw_.empty(); }
  // The i-th name; empty when i is out of range.
  std::string_view at(size_t i) const;
  // True when `name` is one of the names (exact, case-sensitive).
  bool contains(std::string_view name) const;

 private:
  std::span<const uint8_t> raw_;
};

// The pre_shared_key extension of a ClientHello (RFC 8446 section
// 4.2.11), validated; the server state machine interprets it.
struct OfferedPsks {
  // The identities and binders vectors' contents.
  std::span<const uint8_t> identities;
  std::span<const uint8_t> binders;
  size_t count = 0;
  // Bytes of the ClientHello message (header included) before the binders
  // vector: Truncated(ClientHello) for the binder transcript (4.2.11.2).
  size_t truncated_len = 0;
};

// ---- ClientHello ----

// A parsed ClientHello (RFC 8446 section 4.1.2). Every span borrows the
// message given to parse_client_hello() and is valid as long as it is.
struct ClientHello {
  // The whole message, header included (for the transcript).
  std::span<const uint8_t> message;
  uint16_t legacy_version = 0;
  std::span<const uint8_t> random;  // 32 bytes
  std::span<const uint8_t> legacy_session_id;
  U16List cipher_suites;
  std::span<const uint8_t> compression_methods;
  // False for a ClientHello with no extensions block at all (SSL 3.0 /
  // TLS 1.0-1.2 style); then every extension below is absent.
  bool has_extension_block = false;

  // Which known extensions were present: see has().
  uint64_t present = 0;

  // server_name: the host_name entry (RFC 6066 section 3); empty if none.
  std::string_view server_name;
  U16List supported_versions;
  U16List supported_groups;
  KeyShareList key_shares;
  U16List signature_algorithms;
  U16List signature_algorithms_cert;
  ProtocolNameList alpn;
  std::span<const uint8_t> psk_key_exchange_modes;
  OfferedPsks pre_shared_key;
  std::span<const uint8_t> cookie;
  // RFC 8449; meaningful when has(kRecordSizeLimit).
  uint16_t record_size_limit = 0;
  // status_request's CertificateStatusType (RFC 6066 section 8; 1 = ocsp).
  uint8_t status_type = 0;

  // True when the extension was present (known types only).
  bool has(ExtensionType type) const;
};

// Parses a whole ClientHello handshake message (the 4-byte header and the
// body) into *out. Unknown extensions and GREASE values are skipped (RFC
// 8446 section 4.2, RFC 8701). Returns false with *out_alert set on any
// error: decode_error for a malformed length or a vector outside its
// bounds; illegal_parameter for a duplicated extension (4.2), a
// pre_shared_key that is not the last extension (4.2.11), a record size
// limit below 64 (RFC 8449), a key share for a group twice or for a group
// missing from supported_groups (4.2.8); unrecognized_name for a host name
// over 255 bytes or with a NUL. Runs in time linear in the message whatever
// it holds. *out is unspecified on failure.
bool parse_client_hello(std::span<const uint8_t> message, ClientHello* out,
                        Alert* out_alert);

// ---- server message writers ----
// Each writes one whole handshake message, header included, and returns
// out->ok() (false when it did not fit or a parameter is out of range).

// ServerHello (RFC 8446 section 4.1.3) of a TLS 1.3 handshake.
struct ServerHelloParams {
  std::span<const uint8_t> random;  // 32 bytes
  std::span<const uint8_t> legacy_session_id_echo;
  uint16_t cipher_suite = 0;
  // key_share (4.2.8): the server's share; omitted when group is 0 (psk_ke).
  uint16_t key_share_group = 0;
  std::span<const uint8_t> key_share;
  // pre_shared_key (4.2.11): the selected identity, when set.
  std::optional<uint16_t> selected_psk_identity;
};
bool write_server_hello(const ServerHelloParams& params, ByteWriter* out);

// HelloRetryRequest (RFC 8446 section 4.1.4): a ServerHello with the
// special random and supported_versions, key_share (selected_group only)
// and cookie extensions.
struct HelloRetryRequestParams {
  std::span<const uint8_t> legacy_session_id_echo;
  uint16_t cipher_suite = 0;
  uint16_t selected_group = 0;      // 0: no key_share extension
  std::span<const uint8_t> cookie;  // empty: no cookie extension
};
bool write_hello_retry_request(const HelloRetryRequestParams& params,
                               ByteWriter* out);

// EncryptedExtensions (RFC 8446 section 4.3.1).
struct EncryptedExtensionsParams {
  // supported_groups (4.2.7): the server's groups (wire code points), for
  // the client's next connection; omitted when empty.
  std::span<const uint16_t> supported_groups;
  // record_size_limit (RFC 8449); omitted when 0.
  uint16_t record_size_limit = 0;
  // An empty server_name, acknowledging that the SNI was used (RFC 6066
  // section 3).
  bool server_name_ack = false;
  // The selected ALPN protocol (RFC 7301 section 3.1); omitted when empty.
  std::string_view alpn;
  // early_data (4.2.10): 0-RTT accepted.
  bool early_data = false;
};
bool write_encrypted_extensions(const EncryptedExtensionsParams& params,
                                ByteWriter* out);

// CertificateRequest (RFC 8446 section 4.3.2), for client authentication.
struct CertificateRequestParams {
  std::span<const uint8_t> context;  // empty during the handshake
  // Wire code points of SignatureScheme; must not be empty.
  std::span<const uint16_t> signature_algorithms;
  // signature_algorithms_cert (4.2.3); omitted when empty.
  std::span<const uint16_t> signature_algorithms_cert;
};
bool write_certificate_request(const CertificateRequestParams& params,
                               ByteWriter* out);

// Certificate (RFC 8446 section 4.4.2): `chain` holds DER certificates,
// leaf first. `leaf_ocsp` (optional) becomes the leaf entry's
// status_request extension (OCSP stapling, 4.4.2.1).
bool write_certificate(std::span<const uint8_t> context,
                       std::span<const std::span<const uint8_t>> chain,
                       std::span<const uint8_t> leaf_ocsp, ByteWriter* out);

// CertificateVerify (RFC 8446 section 4.4.3).
bool write_certificate_verify(SignatureScheme scheme,
                              std::span<const uint8_t> signature,
                              ByteWriter* out);

// Finished (RFC 8446 section 4.4.4).
bool write_finished(std::span<const uint8_t> verify_data, ByteWriter* out);

// NewSessionTicket (RFC 8446 section 4.6.1).
struct NewSessionTicketParams {
  uint32_t lifetime = 0;  // seconds, at most 604800 (7 days)
  uint32_t age_add = 0;
  std::span<const uint8_t> nonce;   // <0..255>
  std::span<const uint8_t> ticket;  // <1..2^16-1>
  // early_data's max_early_data_size; no extension when 0.
  uint32_t max_early_data_size = 0;
};
bool write_new_session_ticket(const NewSessionTicketParams& params,
                              ByteWriter* out);

// ---- client side: the ClientHello writer and the server message readers ----

// An extension written as given, right after the extension `after` (tests:
// RFC 8448's renegotiation_info and session_ticket).
struct RawExtension {
  uint16_t type = 0;
  std::span<const uint8_t> body;
  ExtensionType after = ExtensionType::kServerName;
};

// One KeyShareEntry the client offers (RFC 8446 section 4.2.8).
struct KeyShareOffer {
  uint16_t group = 0;
  std::span<const uint8_t> key_exchange;
};

// A TLS 1.3 ClientHello (RFC 8446 section 4.1.2). Extensions are written in
// RFC 8448's order: server_name, supported_groups, key_share,
// supported_versions (0x0304 only), signature_algorithms, cookie,
// psk_key_exchange_modes, record_size_limit, then ALPN, and
// pre_shared_key last (4.2.11); each of extra_extensions after the one it
// names (server_name, supported_groups, key_share, supported_versions,
// signature_algorithms or record_size_limit; after server_name even when
// that is omitted).
struct ClientHelloParams {
  std::span<const uint8_t> random;             // 32 bytes
  std::span<const uint8_t> legacy_session_id;  // 0 to 32 bytes
  std::span<const uint16_t> cipher_suites;     // non-empty
  // server_name (RFC 6066 section 3) host_name; omitted when empty.
  std::string_view server_name;
  std::span<const RawExtension> extra_extensions;
  std::span<const uint16_t> supported_groups;  // non-empty
  std::span<const KeyShareOffer> key_shares;
  std::span<const uint16_t> signature_algorithms;  // non-empty
  // psk_key_exchange_modes with psk_dhe_ke and/or psk_ke, in that order
  // (4.2.9): lets the server send tickets, and is required with
  // pre_shared_key. Omitted when both are false.
  bool psk_dhe_ke = true;
  bool psk_ke = false;
  uint16_t record_size_limit = 0;          // RFC 8449; 0: omitted
  std::span<const std::string_view> alpn;  // RFC 7301; empty: omitted
  std::span<const uint8_t> cookie;         // 4.2.2; empty: omitted
  // early_data (4.2.10), empty, when 0-RTT data follows; only with a PSK.
  bool early_data = false;
  // pre_shared_key (4.2.11) with one identity; omitted when the identity
  // is empty. The binder is written as psk_binder_len zeros, for the caller
  // to fill in (see write_client_hello's binder_offset).
  std::span<const uint8_t> psk_identity;
  uint32_t obfuscated_ticket_age = 0;
  size_t psk_binder_len = 0;
};
// Writes the ClientHello. With a PSK, *binder_offset (non-null then) is the
// offset in the message of the binder value; the message before the
// binders vector (Truncated(ClientHello), 4.2.11.2) is the first
// *binder_offset - 3 bytes.
bool write_client_hello(const ClientHelloParams& params, ByteWriter* out,
                        size_t* binder_offset);

// A parsed ServerHello or HelloRetryRequest (RFC 8446 sections 4.1.3,
// 4.1.4). Spans borrow the message.
struct ServerHello {
  std::span<const uint8_t> message;  // header included
  uint16_t legacy_version = 0;
  std::span<const uint8_t> random;  // 32 bytes
  std::span<const uint8_t> legacy_session_id_echo;
  uint16_t cipher_suite = 0;
  uint8_t legacy_compression_method = 0;
  // random == kHelloRetryRequestRandom.
  bool hello_retry_request = false;
  uint64_t present = 0;  // see has()
  uint16_t selected_version = 0;
  // key_share: the server's entry; in a HelloRetryRequest, selected_group
  // with an empty key_exchange.
  uint16_t key_share_group = 0;
  std::span<const uint8_t> key_exchange;
  uint16_t selected_psk_identity = 0;
  std::span<const uint8_t> cookie;  // HelloRetryRequest only

  bool has(ExtensionType type) const;
};
// Parses a ServerHello. Fails with decode_error for a malformed message,
// illegal_parameter for a duplicated extension or a known extension that
// does not belong in a ServerHello (or HelloRetryRequest), and
// unsupported_extension for an unknown one (the client never offers those,
// 4.2). A message without an extensions block or without
// supported_versions is TLS 1.2 or older: only its framing is checked and
// nothing is present, so the caller can refuse the version.
bool parse_server_hello(std::span<const uint8_t> message, ServerHello* out,
                        Alert* out_alert);

// A parsed EncryptedExtensions (RFC 8446 section 4.3.1).
struct EncryptedExtensions {
  uint64_t present = 0;   // see has()
  std::string_view alpn;  // the one protocol selected (RFC 7301)
  uint16_t record_size_limit = 0;

  bool has(ExtensionType type) const;
};
// Parses EncryptedExtensions: decode_error when malformed (including an
// ALPN list not of exactly one name, a non-empty server_name, a
// record_size_limit that is not 2 bytes), illegal_parameter for a
// duplicate or a known extension that does not belong there (4.2),
// unsupported_extension for an unknown one. Whether each was offered is
// the caller's check.
bool parse_encrypted_extensions(std::span<const uint8_t> message,
                                EncryptedExtensions* out, Alert* out_alert);

// A parsed CertificateRequest (RFC 8446 section 4.3.2).
struct CertificateRequest {
  std::span<const uint8_t> context;
  U16List signature_algorithms;  // mandatory
};
// decode_error when malformed, missing_extension without
// signature_algorithms; other extensions are ignored (4.3.2).
bool parse_certificate_request(std::span<const uint8_t> message,
                               CertificateRequest* out, Alert* out_alert);

// A parsed NewSessionTicket (RFC 8446 section 4.6.1).
struct NewSessionTicket {
  uint32_t lifetime = 0;
  uint32_t age_add = 0;
  std::span<const uint8_t> nonce;
  std::span<const uint8_t> ticket;
  uint32_t max_early_data_size = 0;
};
// decode_error when malformed or the ticket is empty; illegal_parameter
// for a lifetime over 604800 s.
bool parse_new_session_ticket(std::span<const uint8_t> message,
                              NewSessionTicket* out, Alert* out_alert);

// The downgrade sentinels a TLS 1.3 server puts at the end of its random
// when it negotiates TLS 1.2 or below (RFC 8446 section 4.1.3).
bool has_downgrade_sentinel(std::span<const uint8_t> server_random);

// The content a CertificateVerify signs (RFC 8446 section 4.4.3): 64 spaces,
// the context string, a zero byte and the transcript hash. `server` picks
// "TLS 1.3, server CertificateVerify" over the client's string. Returns
// false when `out` is too small (kCertificateVerifyContentMax fits any).
inline constexpr size_t kCertificateVerifyContentMax = 64 + 34 + 1 + 64;
bool build_certificate_verify_content(bool server,
                                      std::span<const uint8_t> transcript_hash,
                                      ByteWriter* out);

}  // namespace dptls::tls
