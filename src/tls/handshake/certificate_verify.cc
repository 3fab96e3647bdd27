// CertificateVerify writer and the content it signs (RFC 8446 section
// 4.4.3).
#include <string_view>

#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/wire.h"

namespace dptls::tls {

bool write_certificate_verify(SignatureScheme scheme,
                              std::span<const uint8_t> signature,
                              ByteWriter* out) {
  if (signature.empty()) {
    return false;
  }
  const size_t msg =
      internal::begin_message(HandshakeType::kCertificateVerify, out);
  out->u16(static_cast<uint16_t>(scheme));
  const size_t sig = out->open(2);
  out->bytes(signature);
  out->close(sig, 2);
  return internal::end_message(msg, out);
}

bool build_certificate_verify_content(bool server,
                                      std::span<const uint8_t> transcript_hash,
                                      ByteWriter* out) {
  // "The content that is covered under the signature is the hash output
  // ... namely: a string that consists of octet 32 (0x20) repeated 64
  // times, the context string, a single 0 byte which serves as the
  // separator, the content to be signed" (4.4.3).
  constexpr std::string_view kServer = "TLS 1.3, server CertificateVerify";
  constexpr std::string_view kClient = "TLS 1.3, client CertificateVerify";
  const std::string_view context = server ? kServer : kClient;
  if (transcript_hash.size() > 64) {
    return false;
  }
  uint8_t* spaces = out->reserve(64);
  if (spaces == nullptr) {
    return false;
  }
  for (size_t i = 0; i < 64; ++i) {
    spaces[i] = 0x20;
  }
  out->bytes(
      {reinterpret_cast<const uint8_t*>(context.data()), context.size()});
  out->u8(0);
  out->bytes(transcript_hash);
  return out->ok();
}

}  // namespace dptls::tls
