// Certificate and CertificateRequest writers (RFC 8446 sections 4.4.2 and
// 4.3.2).
#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/wire.h"

namespace dptls::tls {

bool write_certificate(std::span<const uint8_t> context,
                       std::span<const std::span<const uint8_t>> chain,
                       std::span<const uint8_t> leaf_ocsp, ByteWriter* out) {
  if (context.size() > 255) {
    return false;
  }
  const size_t msg = internal::begin_message(HandshakeType::kCertificate, out);
  out->u8(static_cast<uint8_t>(context.size()));
  out->bytes(context);
  const size_t list = out->open(3);
  bool leaf = true;
  for (std::span<const uint8_t> der : chain) {
    if (der.empty()) {
      return false;  // cert_data<1..2^24-1>
    }
    const size_t entry = out->open(3);
    out->bytes(der);
    out->close(entry, 3);
    const size_t exts = out->open(2);
    if (leaf && !leaf_ocsp.empty()) {
      // status_request: CertificateStatus {ocsp(1), OCSPResponse<1..2^24-1>}
      // (RFC 6066 section 8, RFC 8446 section 4.4.2.1).
      out->u16(static_cast<uint16_t>(ExtensionType::kStatusRequest));
      const size_t ext = out->open(2);
      out->u8(1);
      const size_t resp = out->open(3);
      out->bytes(leaf_ocsp);
      out->close(resp, 3);
      out->close(ext, 2);
    }
    out->close(exts, 2);
    leaf = false;
  }
  out->close(list, 3);
  return internal::end_message(msg, out);
}

bool write_certificate_request(const CertificateRequestParams& p,
                               ByteWriter* out) {
  // signature_algorithms is mandatory (4.3.2); each list <2..2^16-2>.
  if (p.context.size() > 255 || p.signature_algorithms.empty()) {
    return false;
  }
  const size_t msg =
      internal::begin_message(HandshakeType::kCertificateRequest, out);
  out->u8(static_cast<uint8_t>(p.context.size()));
  out->bytes(p.context);
  const size_t exts = out->open(2);
  out->u16(static_cast<uint16_t>(ExtensionType::kSignatureAlgorithms));
  const size_t ext = out->open(2);
  internal::u16_vector(p.signature_algorithms, 2, out);
  out->close(ext, 2);
  if (!p.signature_algorithms_cert.empty()) {
    out->u16(static_cast<uint16_t>(ExtensionType::kSignatureAlgorithmsCert));
    const size_t ext_cert = out->open(2);
    internal::u16_vector(p.signature_algorithms_cert, 2, out);
    out->close(ext_cert, 2);
  }
  out->close(exts, 2);
  return internal::end_message(msg, out);
}

}  // namespace dptls::tls
