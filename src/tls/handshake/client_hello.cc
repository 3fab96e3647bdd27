// The ClientHello reader (RFC 8446 section 4.1.2) and the views over the
// lists it validates.
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "dptls/tls/handshake/messages.h"

namespace dptls::tls {

namespace {

// A set of 16-bit code points, for the duplicate checks of RFC 8446
// section 4.2 (extensions) and 4.2.8 (key share groups). 8 KiB, on the
// stack of the handshake thread: constant time per insert whatever the
// peer sends, so no quadratic scan can be provoked.
class CodeSet {
 public:
  // Adds `v`; false when it was already there.
  bool insert(uint16_t v) {
    uint64_t& word = bits_[v >> 6];
    const uint64_t bit = uint64_t{1} << (v & 63);
    if ((word & bit) != 0) {
      return false;
    }
    word |= bit;
    return true;
  }

 private:
  std::array<uint64_t, 1024> bits_{};
};

// The bit of a known extension in ClientHello::present, or -1.
int known_extension_index(uint16_t type) {
  int i = 0;
#define DPTLS_X(e, code, name) \
  if (type == (code)) {        \
    return i;                  \
  }                            \
  ++i;
  DPTLS_EXTENSION_TYPES(DPTLS_X)
#undef DPTLS_X
  return -1;
}

// Outcome of one extension parser: kOk, or the alert to send.
struct Result {
  bool ok = true;
  Alert alert = Alert::kDecodeError;
};
constexpr Result kOk{};
constexpr Result kDecodeError{false, Alert::kDecodeError};
Result fail(Alert alert) { return {false, alert}; }

// A vector of 16-bit values with a 16-bit length prefix and the bounds
// <2..2^16-2>: non-empty, even (supported_groups, signature_algorithms).
Result read_u16_list16(ByteReader& r, U16List* out) {
  ByteReader list;
  if (!r.prefixed16(&list) || list.empty() || list.remaining() % 2 != 0) {
    return kDecodeError;
  }
  *out = U16List(list.rest());
  return kOk;
}

// server_name (RFC 6066 section 3). Like BoringSSL and OpenSSL, exactly one
// host_name entry is accepted: RFC 6066 left unknown NameTypes
// unparseable, and no client sends another.
Result parse_server_name(ByteReader& r, ClientHello* ch) {
  ByteReader list;
  uint8_t name_type = 0;
  ByteReader host;
  if (!r.prefixed16(&list) || !list.u8(&name_type) || name_type != 0 ||
      !list.prefixed16(&host) || host.empty() || !list.empty()) {
    return kDecodeError;
  }
  const std::span<const uint8_t> name = host.rest();
  // A DNS name is at most 255 bytes; a NUL would truncate it in every
  // C-string API that sees it later.
  if (name.size() > 255) {
    return fail(Alert::kUnrecognizedName);
  }
  for (uint8_t c : name) {
    if (c == 0) {
      return fail(Alert::kUnrecognizedName);
    }
  }
  ch->server_name =
      std::string_view(reinterpret_cast<const char*>(name.data()), name.size());
  return kOk;
}

// supported_versions (RFC 8446 section 4.2.1): versions<2..254>.
Result parse_supported_versions(ByteReader& r, ClientHello* ch) {
  ByteReader list;
  if (!r.prefixed8(&list) || list.empty() || list.remaining() % 2 != 0) {
    return kDecodeError;
  }
  ch->supported_versions = U16List(list.rest());
  return kOk;
}

// key_share (RFC 8446 section 4.2.8): client_shares<0..2^16-1> of
// {NamedGroup, key_exchange<1..2^16-1>}. "Clients MUST NOT offer multiple
// KeyShareEntry values for the same group" -> illegal_parameter.
Result parse_key_share(ByteReader& r, ClientHello* ch) {
  ByteReader list;
  if (!r.prefixed16(&list)) {
    return kDecodeError;
  }
  const std::span<const uint8_t> raw = list.rest();
  CodeSet groups;
  while (!list.empty()) {
    uint16_t group = 0;
    ByteReader key;
    if (!list.u16(&group) || !list.prefixed16(&key) || key.empty()) {
      return kDecodeError;
    }
    if (!groups.insert(group)) {
      return fail(Alert::kIllegalParameter);
    }
  }
  ch->key_shares = KeyShareList(raw);
  return kOk;
}

// application_layer_protocol_negotiation (RFC 7301 section 3.1):
// protocol_name_list<2..2^16-1> of ProtocolName<1..2^8-1>.
Result parse_alpn(ByteReader& r, ClientHello* ch) {
  ByteReader list;
  if (!r.prefixed16(&list) || list.empty()) {
    return kDecodeError;
  }
  const std::span<const uint8_t> raw = list.rest();
  while (!list.empty()) {
    ByteReader name;
    if (!list.prefixed8(&name) || name.empty()) {
      return kDecodeError;
    }
  }
  ch->alpn = ProtocolNameList(raw);
  return kOk;
}

// psk_key_exchange_modes (RFC 8446 section 4.2.9): ke_modes<1..255>.
Result parse_psk_modes(ByteReader& r, ClientHello* ch) {
  ByteReader modes;
  if (!r.prefixed8(&modes) || modes.empty()) {
    return kDecodeError;
  }
  ch->psk_key_exchange_modes = modes.rest();
  return kOk;
}

// pre_shared_key (RFC 8446 section 4.2.11): identities<7..2^16-1> of
// {identity<1..2^16-1>, uint32 age}, binders<33..2^16-1> of
// PskBinderEntry<32..255>. One binder per identity, else illegal_parameter.
Result parse_pre_shared_key(ByteReader& r, size_t message_len,
                            ClientHello* ch) {
  ByteReader ids;
  ByteReader binders;
  if (!r.prefixed16(&ids) || ids.empty() || !r.prefixed16(&binders) ||
      binders.empty()) {
    return kDecodeError;
  }
  OfferedPsks psks;
  psks.identities = ids.rest();
  psks.binders = binders.rest();
  size_t n_ids = 0;
  while (!ids.empty()) {
    ByteReader identity;
    uint32_t age = 0;
    if (!ids.prefixed16(&identity) || identity.empty() || !ids.u32(&age)) {
      return kDecodeError;
    }
    ++n_ids;
  }
  size_t n_binders = 0;
  while (!binders.empty()) {
    ByteReader binder;
    if (!binders.prefixed8(&binder) || binder.remaining() < 32) {
      return kDecodeError;
    }
    ++n_binders;
  }
  if (n_ids != n_binders) {
    return fail(Alert::kIllegalParameter);
  }
  psks.count = n_ids;
  // The extension is the last thing in the message (checked by the
  // caller), so the binders vector, with its 2-byte length, ends it.
  psks.truncated_len = message_len - 2 - psks.binders.size();
  ch->pre_shared_key = psks;
  return kOk;
}

// cookie (RFC 8446 section 4.2.2): opaque cookie<1..2^16-1>.
Result parse_cookie(ByteReader& r, ClientHello* ch) {
  ByteReader cookie;
  if (!r.prefixed16(&cookie) || cookie.empty()) {
    return kDecodeError;
  }
  ch->cookie = cookie.rest();
  return kOk;
}

// record_size_limit (RFC 8449 section 4): a uint16 of at least 64.
Result parse_record_size_limit(ByteReader& r, ClientHello* ch) {
  uint16_t limit = 0;
  if (!r.u16(&limit)) {
    return kDecodeError;
  }
  if (limit < kMinRecordSizeLimit) {
    return fail(Alert::kIllegalParameter);
  }
  ch->record_size_limit = limit;
  return kOk;
}

// status_request (RFC 6066 section 8): CertificateStatusType, and for
// ocsp(1) an OCSPStatusRequest {responder_id_list<0..2^16-1>,
// request_extensions<0..2^16-1>}. Other types are recorded and skipped.
Result parse_status_request(ByteReader& r, ClientHello* ch) {
  uint8_t type = 0;
  if (!r.u8(&type)) {
    return kDecodeError;
  }
  ch->status_type = type;
  if (type != 1) {
    r.skip(r.remaining());
    return kOk;
  }
  ByteReader ids;
  ByteReader exts;
  if (!r.prefixed16(&ids) || !r.prefixed16(&exts)) {
    return kDecodeError;
  }
  while (!ids.empty()) {
    ByteReader id;
    if (!ids.prefixed16(&id) || id.empty()) {
      return kDecodeError;
    }
  }
  return kOk;
}

// Dispatches one extension's body. Unknown types and GREASE are skipped.
Result parse_extension(uint16_t type, ByteReader& body, size_t message_len,
                       ClientHello* ch) {
  switch (static_cast<ExtensionType>(type)) {
    case ExtensionType::kServerName:
      return parse_server_name(body, ch);
    case ExtensionType::kSupportedVersions:
      return parse_supported_versions(body, ch);
    case ExtensionType::kSupportedGroups:
      return read_u16_list16(body, &ch->supported_groups);
    case ExtensionType::kKeyShare:
      return parse_key_share(body, ch);
    case ExtensionType::kSignatureAlgorithms:
      return read_u16_list16(body, &ch->signature_algorithms);
    case ExtensionType::kSignatureAlgorithmsCert:
      return read_u16_list16(body, &ch->signature_algorithms_cert);
    case ExtensionType::kAlpn:
      return parse_alpn(body, ch);
    case ExtensionType::kPskKeyExchangeModes:
      return parse_psk_modes(body, ch);
    case ExtensionType::kPreSharedKey:
      return parse_pre_shared_key(body, message_len, ch);
    case ExtensionType::kEarlyData:
      // In a ClientHello the extension_data is empty (4.2.10).
      return kOk;
    case ExtensionType::kCookie:
      return parse_cookie(body, ch);
    case ExtensionType::kRecordSizeLimit:
      return parse_record_size_limit(body, ch);
    case ExtensionType::kStatusRequest:
      return parse_status_request(body, ch);
    default:
      // Ignored (4.2: "MUST ignore unrecognized extensions"); padding
      // (RFC 7685) and GREASE (RFC 8701) land here too.
      body.skip(body.remaining());
      return kOk;
  }
}

}  // namespace

uint16_t U16List::at(size_t i) const {
  ByteReader r(raw_);
  uint16_t v = 0;
  if (!r.skip(2 * i) || !r.u16(&v)) {
    return 0;
  }
  return v;
}

bool U16List::contains(uint16_t v) const {
  ByteReader r(raw_);
  uint16_t x = 0;
  while (r.u16(&x)) {
    if (x == v) {
      return true;
    }
  }
  return false;
}

size_t KeyShareList::size() const {
  size_t n = 0;
  for_each([&n](const KeyShareEntry&) { ++n; });
  return n;
}

bool KeyShareList::at(size_t i, KeyShareEntry* out) const {
  ByteReader r(raw_);
  for (size_t k = 0;; ++k) {
    uint16_t group = 0;
    ByteReader key;
    if (!r.u16(&group) || !r.prefixed16(&key)) {
      return false;
    }
    if (k == i) {
      *out = {group, key.rest()};
      return true;
    }
  }
}

bool KeyShareList::find(uint16_t group, KeyShareEntry* out) const {
  ByteReader r(raw_);
  uint16_t g = 0;
  ByteReader key;
  while (r.u16(&g) && r.prefixed16(&key)) {
    if (g == group) {
      *out = {g, key.rest()};
      return true;
    }
  }
  return false;
}

size_t ProtocolNameList::size() const {
  ByteReader r(raw_);
  ByteReader name;
  size_t n = 0;
  while (r.prefixed8(&name)) {
    ++n;
  }
  return n;
}

std::string_view ProtocolNameList::at(size_t i) const {
  ByteReader r(raw_);
  ByteReader name;
  for (size_t k = 0; r.prefixed8(&name); ++k) {
    if (k == i) {
      const std::span<const uint8_t> b = name.rest();
      return {reinterpret_cast<const char*>(b.data()), b.size()};
    }
  }
  return {};
}

bool ProtocolNameList::contains(std::string_view want) const {
  ByteReader r(raw_);
  ByteReader name;
  while (r.prefixed8(&name)) {
    const std::span<const uint8_t> b = name.rest();
    if (std::string_view(reinterpret_cast<const char*>(b.data()), b.size()) ==
        want) {
      return true;
    }
  }
  return false;
}

bool ClientHello::has(ExtensionType type) const {
  const int i = known_extension_index(static_cast<uint16_t>(type));
  return i >= 0 && ((present >> i) & 1) != 0;
}

bool parse_client_hello(std::span<const uint8_t> message, ClientHello* out,
                        Alert* out_alert) {
  *out = ClientHello{};
  *out_alert = Alert::kDecodeError;
  ByteReader r(message);
  uint8_t type = 0;
  uint32_t len = 0;
  if (!r.u8(&type) || !r.u24(&len)) {
    return false;
  }
  if (type != static_cast<uint8_t>(HandshakeType::kClientHello)) {
    *out_alert = Alert::kUnexpectedMessage;
    return false;
  }
  if (len != r.remaining() || len > kMaxClientHelloLen) {
    return false;
  }
  ClientHello& ch = *out;
  ch.message = message;
  ByteReader session_id;
  ByteReader suites;
  ByteReader compression;
  // legacy_session_id<0..32>, cipher_suites<2..2^16-2>,
  // legacy_compression_methods<1..2^8-1>.
  if (!r.u16(&ch.legacy_version) || !r.bytes(32, &ch.random) ||
      !r.prefixed8(&session_id) || session_id.remaining() > 32 ||
      !r.prefixed16(&suites) || suites.empty() || suites.remaining() % 2 != 0 ||
      !r.prefixed8(&compression) || compression.empty()) {
    return false;
  }
  ch.legacy_session_id = session_id.rest();
  ch.cipher_suites = U16List(suites.rest());
  ch.compression_methods = compression.rest();
  if (r.empty()) {
    // No extensions at all: only a pre-TLS-1.3 client sends this.
    return true;
  }
  ByteReader exts;
  if (!r.prefixed16(&exts) || !r.empty()) {
    return false;
  }
  ch.has_extension_block = true;
  CodeSet seen;
  bool psk_seen = false;
  while (!exts.empty()) {
    uint16_t ext_type = 0;
    ByteReader body;
    if (!exts.u16(&ext_type) || !exts.prefixed16(&body)) {
      return false;
    }
    // 4.2.11: pre_shared_key "MUST be the last extension in the
    // ClientHello"; 4.2: no extension type twice in one block.
    if (psk_seen || !seen.insert(ext_type)) {
      *out_alert = Alert::kIllegalParameter;
      return false;
    }
    if (ext_type == static_cast<uint16_t>(ExtensionType::kPreSharedKey)) {
      psk_seen = true;
    }
    const Result res = parse_extension(ext_type, body, message.size(), &ch);
    if (!res.ok) {
      *out_alert = res.alert;
      return false;
    }
    if (!body.empty()) {
      // Trailing bytes inside an extension: its length was wrong.
      return false;
    }
    const int bit = known_extension_index(ext_type);
    if (bit >= 0) {
      ch.present |= uint64_t{1} << bit;
    }
  }
  // 4.2.8: "Clients MUST NOT offer any KeyShareEntry values for groups not
  // listed in the client's "supported_groups" extension. Servers MAY check
  // for violations of these rules and abort the handshake with an
  // "illegal_parameter" alert". Checked through a set: the two lists may
  // hold thousands of entries each. (One without the other is the
  // server's missing_extension, RFC 8446 section 9.2.)
  if (ch.has(ExtensionType::kKeyShare) &&
      ch.has(ExtensionType::kSupportedGroups)) {
    CodeSet groups;
    ByteReader g(ch.supported_groups.raw());
    uint16_t group = 0;
    while (g.u16(&group)) {
      groups.insert(group);
    }
    bool all_offered = true;
    ch.key_shares.for_each([&](const KeyShareEntry& e) {
      // insert() returning true means the group was not in the list.
      all_offered = all_offered && !groups.insert(e.group);
    });
    if (!all_offered) {
      *out_alert = Alert::kIllegalParameter;
      return false;
    }
  }
  return true;
}

}  // namespace dptls::tls
