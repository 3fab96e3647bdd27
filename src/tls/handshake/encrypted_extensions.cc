// EncryptedExtensions writer (RFC 8446 section 4.3.1).
#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/wire.h"

namespace dptls::tls {

bool write_encrypted_extensions(const EncryptedExtensionsParams& p,
                                ByteWriter* out) {
  if (p.alpn.size() > 255 ||
      (p.record_size_limit != 0 && p.record_size_limit < kMinRecordSizeLimit)) {
    return false;
  }
  const size_t msg =
      internal::begin_message(HandshakeType::kEncryptedExtensions, out);
  const size_t exts = out->open(2);
  // Order as in RFC 8448: supported_groups, record_size_limit,
  // server_name, (alpn), early_data.
  if (!p.supported_groups.empty()) {
    out->u16(static_cast<uint16_t>(ExtensionType::kSupportedGroups));
    const size_t ext = out->open(2);
    internal::u16_vector(p.supported_groups, 2, out);
    out->close(ext, 2);
  }
  if (p.record_size_limit != 0) {
    out->u16(static_cast<uint16_t>(ExtensionType::kRecordSizeLimit));
    out->u16(2);
    out->u16(p.record_size_limit);
  }
  if (p.server_name_ack) {
    // RFC 6066 section 3: "the extension_data field ... SHALL be empty".
    internal::empty_extension(ExtensionType::kServerName, out);
  }
  if (!p.alpn.empty()) {
    // RFC 7301 section 3.1: a ProtocolNameList of exactly one name.
    out->u16(static_cast<uint16_t>(ExtensionType::kAlpn));
    const size_t ext = out->open(2);
    const size_t list = out->open(2);
    out->u8(static_cast<uint8_t>(p.alpn.size()));
    out->bytes(
        {reinterpret_cast<const uint8_t*>(p.alpn.data()), p.alpn.size()});
    out->close(list, 2);
    out->close(ext, 2);
  }
  if (p.early_data) {
    internal::empty_extension(ExtensionType::kEarlyData, out);
  }
  out->close(exts, 2);
  return internal::end_message(msg, out);
}

}  // namespace dptls::tls
