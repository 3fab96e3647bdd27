// The client's side of the handshake codecs: the ClientHello writer and the
// readers of the server's ServerHello / HelloRetryRequest,
// EncryptedExtensions, CertificateRequest and NewSessionTicket (RFC 8446
// sections 4.1 to 4.6).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/wire.h"

namespace dptls::tls {

using internal::begin_message;
using internal::end_message;

namespace {

// The bit of a known extension in the `present` masks, or -1 (same
// numbering as ClientHello::present).
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

bool has_bit(uint64_t present, ExtensionType type) {
  const int i = known_extension_index(static_cast<uint16_t>(type));
  return i >= 0 && ((present >> i) & 1) != 0;
}

// Records an extension in *present. Returns false with *alert set for an
// unknown type (unsupported_extension: the client never asks for one, RFC
// 8446 section 4.2), a known one not in `allowed` (illegal_parameter) or a
// duplicate (illegal_parameter).
bool note_extension(uint16_t type, std::span<const ExtensionType> allowed,
                    uint64_t* present, Alert* alert) {
  const int i = known_extension_index(type);
  if (i < 0) {
    *alert = Alert::kUnsupportedExtension;
    return false;
  }
  if (std::find(allowed.begin(), allowed.end(),
                static_cast<ExtensionType>(type)) == allowed.end() ||
      ((*present >> i) & 1) != 0) {
    *alert = Alert::kIllegalParameter;
    return false;
  }
  *present |= uint64_t{1} << i;
  return true;
}

// Reads the handshake header of `type` and returns its body.
bool message_body(std::span<const uint8_t> message, HandshakeType type,
                  ByteReader* body) {
  ByteReader r(message);
  uint8_t t = 0;
  return r.u8(&t) && t == static_cast<uint8_t>(type) && r.prefixed24(body) &&
         r.empty();
}

void write_u16_extension(ExtensionType type, std::span<const uint16_t> values,
                         size_t width, ByteWriter* out) {
  out->u16(static_cast<uint16_t>(type));
  const size_t ext = out->open(2);
  internal::u16_vector(values, width, out);
  out->close(ext, 2);
}

}  // namespace

bool ServerHello::has(ExtensionType type) const {
  return has_bit(present, type);
}

bool EncryptedExtensions::has(ExtensionType type) const {
  return has_bit(present, type);
}

bool has_downgrade_sentinel(std::span<const uint8_t> random) {
  // "44 4F 57 4E 47 52 44 01" (TLS 1.2) and "... 00" (TLS 1.1 and below).
  static constexpr std::array<uint8_t, 7> kPrefix = {0x44, 0x4f, 0x57, 0x4e,
                                                     0x47, 0x52, 0x44};
  if (random.size() != 32) {
    return false;
  }
  return std::equal(kPrefix.begin(), kPrefix.end(), random.begin() + 24) &&
         (random[31] == 0x00 || random[31] == 0x01);
}

bool write_client_hello(const ClientHelloParams& p, ByteWriter* out,
                        size_t* binder_offset) {
  if (p.random.size() != 32 || p.legacy_session_id.size() > 32 ||
      p.cipher_suites.empty() || p.supported_groups.empty() ||
      p.signature_algorithms.empty() || p.server_name.size() > 255 ||
      p.cookie.size() > 0xfffd || p.psk_identity.size() > 0xffff ||
      (!p.psk_identity.empty() &&
       (binder_offset == nullptr || p.psk_binder_len < 32 ||
        p.psk_binder_len > 255 || (!p.psk_dhe_ke && !p.psk_ke))) ||
      (p.record_size_limit != 0 && p.record_size_limit < kMinRecordSizeLimit)) {
    return false;
  }
  const size_t msg = begin_message(HandshakeType::kClientHello, out);
  out->u16(kVersionTls12);  // legacy_version (4.1.2)
  out->bytes(p.random);
  out->u8(static_cast<uint8_t>(p.legacy_session_id.size()));
  out->bytes(p.legacy_session_id);
  internal::u16_vector(p.cipher_suites, 2, out);
  out->u8(1);  // legacy_compression_methods: null only
  out->u8(0);
  const size_t exts = out->open(2);
  if (!p.server_name.empty()) {
    // ServerNameList with one host_name (RFC 6066 section 3).
    out->u16(static_cast<uint16_t>(ExtensionType::kServerName));
    const size_t ext = out->open(2);
    const size_t list = out->open(2);
    out->u8(0);
    const size_t name = out->open(2);
    out->bytes({reinterpret_cast<const uint8_t*>(p.server_name.data()),
                p.server_name.size()});
    out->close(name, 2);
    out->close(list, 2);
    out->close(ext, 2);
  }
  // The extra extensions that follow `after`.
  auto extras = [&](ExtensionType after) {
    for (const RawExtension& e : p.extra_extensions) {
      if (e.after == after) {
        out->u16(e.type);
        const size_t ext = out->open(2);
        out->bytes(e.body);
        out->close(ext, 2);
      }
    }
  };
  extras(ExtensionType::kServerName);
  write_u16_extension(ExtensionType::kSupportedGroups, p.supported_groups, 2,
                      out);
  extras(ExtensionType::kSupportedGroups);
  // key_share: client_shares<0..2^16-1> (an empty list asks the server for
  // a HelloRetryRequest).
  out->u16(static_cast<uint16_t>(ExtensionType::kKeyShare));
  const size_t ks_ext = out->open(2);
  const size_t ks_list = out->open(2);
  for (const KeyShareOffer& k : p.key_shares) {
    if (k.key_exchange.empty()) {
      return false;
    }
    out->u16(k.group);
    const size_t key = out->open(2);
    out->bytes(k.key_exchange);
    out->close(key, 2);
  }
  out->close(ks_list, 2);
  out->close(ks_ext, 2);
  // 4.2.10: 0-RTT follows, under the first (here the only) PSK. Only
  // pre_shared_key's place is fixed (last, 4.2); this is where RFC 8448's
  // client (NSS) puts early_data.
  if (p.early_data && !p.psk_identity.empty()) {
    out->u16(static_cast<uint16_t>(ExtensionType::kEarlyData));
    out->u16(0);
  }
  extras(ExtensionType::kKeyShare);
  const uint16_t versions[] = {kVersionTls13};
  write_u16_extension(ExtensionType::kSupportedVersions, versions, 1, out);
  extras(ExtensionType::kSupportedVersions);
  write_u16_extension(ExtensionType::kSignatureAlgorithms,
                      p.signature_algorithms, 2, out);
  extras(ExtensionType::kSignatureAlgorithms);
  // The cookie of a HelloRetryRequest (4.2.2), where RFC 8448's client
  // puts it.
  if (!p.cookie.empty()) {
    internal::cookie_extension(p.cookie, out);
  }
  if (p.psk_dhe_ke || p.psk_ke) {
    const uint8_t n = (p.psk_dhe_ke ? 1 : 0) + (p.psk_ke ? 1 : 0);
    out->u16(static_cast<uint16_t>(ExtensionType::kPskKeyExchangeModes));
    out->u16(static_cast<uint16_t>(1 + n));
    out->u8(n);
    if (p.psk_dhe_ke) {
      out->u8(kPskDheKe);
    }
    if (p.psk_ke) {
      out->u8(kPskKe);
    }
  }
  if (p.record_size_limit != 0) {
    out->u16(static_cast<uint16_t>(ExtensionType::kRecordSizeLimit));
    out->u16(2);
    out->u16(p.record_size_limit);
  }
  extras(ExtensionType::kRecordSizeLimit);
  if (!p.alpn.empty()) {
    out->u16(static_cast<uint16_t>(ExtensionType::kAlpn));
    const size_t ext = out->open(2);
    const size_t list = out->open(2);
    for (std::string_view name : p.alpn) {
      if (name.empty() || name.size() > 255) {
        return false;
      }
      out->u8(static_cast<uint8_t>(name.size()));
      out->bytes({reinterpret_cast<const uint8_t*>(name.data()), name.size()});
    }
    out->close(list, 2);
    out->close(ext, 2);
  }
  if (!p.psk_identity.empty()) {
    // OfferedPsks: identities<7..2^16-1>, binders<33..2^16-1> (4.2.11).
    out->u16(static_cast<uint16_t>(ExtensionType::kPreSharedKey));
    const size_t ext = out->open(2);
    const size_t ids = out->open(2);
    const size_t id = out->open(2);
    out->bytes(p.psk_identity);
    out->close(id, 2);
    out->u32(p.obfuscated_ticket_age);
    out->close(ids, 2);
    const size_t binders = out->open(2);
    out->u8(static_cast<uint8_t>(p.psk_binder_len));
    *binder_offset = out->size() - msg + 1;  // the message began one byte
                                             // before its length
    out->zeros(p.psk_binder_len);
    out->close(binders, 2);
    out->close(ext, 2);
  }
  out->close(exts, 2);
  return end_message(msg, out);
}

bool parse_server_hello(std::span<const uint8_t> message, ServerHello* out,
                        Alert* alert) {
  *out = ServerHello{};
  *alert = Alert::kDecodeError;
  out->message = message;
  ByteReader body;
  ByteReader session_id;
  if (!message_body(message, HandshakeType::kServerHello, &body) ||
      !body.u16(&out->legacy_version) || !body.bytes(32, &out->random) ||
      !body.prefixed8(&session_id) || session_id.remaining() > 32 ||
      !body.u16(&out->cipher_suite) ||
      !body.u8(&out->legacy_compression_method)) {
    return false;
  }
  out->legacy_session_id_echo = session_id.rest();
  out->hello_retry_request = std::equal(out->random.begin(), out->random.end(),
                                        kHelloRetryRequestRandom.begin());
  if (body.empty()) {
    return true;  // TLS 1.2 or older without extensions
  }
  ByteReader exts;
  if (!body.prefixed16(&exts) || !body.empty()) {
    return false;
  }
  // A ServerHello without supported_versions is TLS 1.2 or older, with
  // extensions of its own (renegotiation_info, extended_master_secret,
  // ...): only its framing is checked, so that the caller refuses the
  // version rather than an extension.
  bool tls13 = false;
  for (ByteReader scan = exts; !scan.empty();) {
    uint16_t type = 0;
    ByteReader ext;
    if (!scan.u16(&type) || !scan.prefixed16(&ext)) {
      return false;
    }
    tls13 = tls13 ||
            type == static_cast<uint16_t>(ExtensionType::kSupportedVersions);
  }
  if (!tls13) {
    return true;
  }
  // 4.1.3 and 4.1.4: what each may carry.
  static constexpr ExtensionType kServerHelloExts[] = {
      ExtensionType::kSupportedVersions, ExtensionType::kKeyShare,
      ExtensionType::kPreSharedKey};
  static constexpr ExtensionType kRetryExts[] = {
      ExtensionType::kSupportedVersions, ExtensionType::kKeyShare,
      ExtensionType::kCookie};
  const std::span<const ExtensionType> allowed =
      out->hello_retry_request
          ? std::span<const ExtensionType>(kRetryExts)
          : std::span<const ExtensionType>(kServerHelloExts);
  while (!exts.empty()) {
    uint16_t type = 0;
    ByteReader ext;
    if (!exts.u16(&type) || !exts.prefixed16(&ext)) {
      *alert = Alert::kDecodeError;
      return false;
    }
    if (!note_extension(type, allowed, &out->present, alert)) {
      return false;
    }
    *alert = Alert::kDecodeError;
    bool ok = false;
    switch (static_cast<ExtensionType>(type)) {
      case ExtensionType::kSupportedVersions:
        ok = ext.u16(&out->selected_version);
        break;
      case ExtensionType::kKeyShare:
        if (out->hello_retry_request) {
          ok = ext.u16(&out->key_share_group);
        } else {
          ByteReader key;
          ok = ext.u16(&out->key_share_group) && ext.prefixed16(&key) &&
               !key.empty();
          out->key_exchange = key.rest();
        }
        break;
      case ExtensionType::kPreSharedKey:
        ok = ext.u16(&out->selected_psk_identity);
        break;
      case ExtensionType::kCookie: {
        ByteReader cookie;
        ok = ext.prefixed16(&cookie) && !cookie.empty();
        out->cookie = cookie.rest();
        break;
      }
      default:
        break;
    }
    if (!ok || !ext.empty()) {
      return false;
    }
  }
  return true;
}

bool parse_encrypted_extensions(std::span<const uint8_t> message,
                                EncryptedExtensions* out, Alert* alert) {
  *out = EncryptedExtensions{};
  *alert = Alert::kDecodeError;
  ByteReader body;
  ByteReader exts;
  if (!message_body(message, HandshakeType::kEncryptedExtensions, &body) ||
      !body.prefixed16(&exts) || !body.empty()) {
    return false;
  }
  // RFC 8446 section 4.2's table: the extensions that may appear in EE.
  static constexpr ExtensionType kAllowed[] = {
      ExtensionType::kServerName,
      ExtensionType::kMaxFragmentLength,
      ExtensionType::kSupportedGroups,
      ExtensionType::kUseSrtp,
      ExtensionType::kHeartbeat,
      ExtensionType::kAlpn,
      ExtensionType::kClientCertificateType,
      ExtensionType::kServerCertificateType,
      ExtensionType::kRecordSizeLimit,
      ExtensionType::kEarlyData};
  while (!exts.empty()) {
    uint16_t type = 0;
    ByteReader ext;
    if (!exts.u16(&type) || !exts.prefixed16(&ext)) {
      *alert = Alert::kDecodeError;
      return false;
    }
    if (!note_extension(type, kAllowed, &out->present, alert)) {
      return false;
    }
    *alert = Alert::kDecodeError;
    bool ok = true;
    switch (static_cast<ExtensionType>(type)) {
      case ExtensionType::kServerName:
        ok = ext.empty();  // RFC 6066 section 3: empty
        break;
      case ExtensionType::kAlpn: {
        // RFC 7301 section 3.1: exactly one ProtocolName.
        ByteReader list;
        ByteReader name;
        ok = ext.prefixed16(&list) && list.prefixed8(&name) && !name.empty() &&
             list.empty();
        out->alpn =
            std::string_view(reinterpret_cast<const char*>(name.rest().data()),
                             name.rest().size());
        break;
      }
      case ExtensionType::kRecordSizeLimit:
        ok = ext.u16(&out->record_size_limit);
        break;
      case ExtensionType::kSupportedGroups: {
        ByteReader list;
        ok =
            ext.prefixed16(&list) && !list.empty() && list.remaining() % 2 == 0;
        break;
      }
      default:
        // Not offered by this client: the caller refuses them.
        ext.skip(ext.remaining());
        break;
    }
    if (!ok || !ext.empty()) {
      return false;
    }
  }
  return true;
}

bool parse_certificate_request(std::span<const uint8_t> message,
                               CertificateRequest* out, Alert* alert) {
  *out = CertificateRequest{};
  *alert = Alert::kDecodeError;
  ByteReader body;
  ByteReader context;
  ByteReader exts;
  if (!message_body(message, HandshakeType::kCertificateRequest, &body) ||
      !body.prefixed8(&context) || !body.prefixed16(&exts) || !body.empty()) {
    return false;
  }
  out->context = context.rest();
  bool have_sigalgs = false;
  while (!exts.empty()) {
    uint16_t type = 0;
    ByteReader ext;
    if (!exts.u16(&type) || !exts.prefixed16(&ext)) {
      return false;
    }
    if (type == static_cast<uint16_t>(ExtensionType::kSignatureAlgorithms)) {
      ByteReader list;
      if (have_sigalgs || !ext.prefixed16(&list) || list.empty() ||
          list.remaining() % 2 != 0 || !ext.empty()) {
        *alert = have_sigalgs ? Alert::kIllegalParameter : Alert::kDecodeError;
        return false;
      }
      out->signature_algorithms = U16List(list.rest());
      have_sigalgs = true;
    }
    // Others (certificate_authorities, oid_filters, ...) are ignored.
  }
  if (!have_sigalgs) {
    *alert = Alert::kMissingExtension;
    return false;
  }
  return true;
}

bool parse_new_session_ticket(std::span<const uint8_t> message,
                              NewSessionTicket* out, Alert* alert) {
  *out = NewSessionTicket{};
  *alert = Alert::kDecodeError;
  ByteReader body;
  ByteReader nonce;
  ByteReader ticket;
  ByteReader exts;
  if (!message_body(message, HandshakeType::kNewSessionTicket, &body) ||
      !body.u32(&out->lifetime) || !body.u32(&out->age_add) ||
      !body.prefixed8(&nonce) || !body.prefixed16(&ticket) || ticket.empty() ||
      !body.prefixed16(&exts) || !body.empty()) {
    return false;
  }
  out->nonce = nonce.rest();
  out->ticket = ticket.rest();
  while (!exts.empty()) {
    uint16_t type = 0;
    ByteReader ext;
    if (!exts.u16(&type) || !exts.prefixed16(&ext)) {
      return false;
    }
    if (type == static_cast<uint16_t>(ExtensionType::kEarlyData) &&
        (!ext.u32(&out->max_early_data_size) || !ext.empty())) {
      return false;
    }
  }
  // "Servers MUST NOT use any value greater than 604800 seconds".
  if (out->lifetime > 604800) {
    *alert = Alert::kIllegalParameter;
    return false;
  }
  return true;
}

}  // namespace dptls::tls
