// ServerHello and HelloRetryRequest writers (RFC 8446 sections 4.1.3 and
// 4.1.4).
#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/wire.h"

namespace dptls::tls {

using internal::begin_message;
using internal::end_message;

namespace {

// The fields both share: legacy_version, random, legacy_session_id_echo,
// cipher_suite, legacy_compression_method.
bool write_hello_prefix(std::span<const uint8_t> random,
                        std::span<const uint8_t> session_id, uint16_t suite,
                        ByteWriter* out) {
  if (random.size() != 32 || session_id.size() > 32) {
    return false;
  }
  out->u16(kVersionTls12);
  out->bytes(random);
  out->u8(static_cast<uint8_t>(session_id.size()));
  out->bytes(session_id);
  out->u16(suite);
  out->u8(0);
  return out->ok();
}

// supported_versions in a ServerHello: one selected_version (4.2.1).
void write_selected_version(ByteWriter* out) {
  out->u16(static_cast<uint16_t>(ExtensionType::kSupportedVersions));
  out->u16(2);
  out->u16(kVersionTls13);
}

}  // namespace

bool write_server_hello(const ServerHelloParams& p, ByteWriter* out) {
  const size_t msg = begin_message(HandshakeType::kServerHello, out);
  if (!write_hello_prefix(p.random, p.legacy_session_id_echo, p.cipher_suite,
                          out)) {
    return false;
  }
  if (p.key_share_group != 0 && p.key_share.empty()) {
    return false;
  }
  const size_t exts = out->open(2);
  // Extension order as in RFC 8448's traces: pre_shared_key, key_share,
  // supported_versions.
  if (p.selected_psk_identity.has_value()) {
    out->u16(static_cast<uint16_t>(ExtensionType::kPreSharedKey));
    out->u16(2);
    out->u16(*p.selected_psk_identity);
  }
  if (p.key_share_group != 0) {
    // KeyShareServerHello: one KeyShareEntry (4.2.8).
    out->u16(static_cast<uint16_t>(ExtensionType::kKeyShare));
    const size_t ext = out->open(2);
    out->u16(p.key_share_group);
    const size_t key = out->open(2);
    out->bytes(p.key_share);
    out->close(key, 2);
    out->close(ext, 2);
  }
  write_selected_version(out);
  out->close(exts, 2);
  return end_message(msg, out);
}

bool write_hello_retry_request(const HelloRetryRequestParams& p,
                               ByteWriter* out) {
  const size_t msg = begin_message(HandshakeType::kServerHello, out);
  if (!write_hello_prefix(kHelloRetryRequestRandom, p.legacy_session_id_echo,
                          p.cipher_suite, out)) {
    return false;
  }
  const size_t exts = out->open(2);
  // Order as in RFC 8448 section 5: key_share, cookie, supported_versions.
  if (p.selected_group != 0) {
    // KeyShareHelloRetryRequest: the selected_group only (4.2.8).
    out->u16(static_cast<uint16_t>(ExtensionType::kKeyShare));
    out->u16(2);
    out->u16(p.selected_group);
  }
  if (!p.cookie.empty()) {
    internal::cookie_extension(p.cookie, out);
  }
  write_selected_version(out);
  out->close(exts, 2);
  return end_message(msg, out);
}

}  // namespace dptls::tls
