// Client authentication (mTLS) on the server (RFC 8446 sections 4.3.2,
// 4.4.2, 4.4.3): the CA store the client's chain is verified against, the
// verified identity handed to the application, and the check of the
// client's CertificateVerify signature.
//
// A ClientCertVerifier is immutable once built and shared by every
// handshake thread of a listener (X509_STORE is safe for concurrent
// verification; each call makes its own X509_STORE_CTX).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/record.h"

struct x509_store_st;  // X509_STORE, kept out of the public headers.

namespace dptls::tls {

// Who the client proved to be.
struct ClientIdentity {
  // The leaf's subject, one line in RFC 2253 form ("CN=alice,O=Example").
  std::string subject;
  // The leaf's subjectAltNames as "DNS:host", "email:a@b", "URI:...",
  // "IP:192.0.2.1" (others are left out), in certificate order.
  std::vector<std::string> sans;
};

class ClientCertVerifier {
 public:
  // Builds the store from `ca_pem` (one or more CERTIFICATE blocks: the
  // trust anchors, and any intermediates the clients do not send) and
  // `crl_pem` (zero or more X509 CRL blocks; when any is given, every
  // certificate of the chain must have a CRL from its issuer, and a
  // revoked one is refused). Returns nullptr with *error set when a PEM
  // block does not parse or `ca_pem` holds no certificate.
  static std::shared_ptr<const ClientCertVerifier> create(
      std::string_view ca_pem, std::string_view crl_pem, std::string* error);
  ~ClientCertVerifier();
  ClientCertVerifier(const ClientCertVerifier&) = delete;
  ClientCertVerifier& operator=(const ClientCertVerifier&) = delete;

  // Verifies `chain` (DER, leaf first, as the client's Certificate carried
  // it) with X509_verify_cert at `now_s` (seconds since the Unix epoch),
  // for the TLS client purpose. On success fills *out and returns true.
  // Otherwise returns false with *alert (RFC 8446 section 6.2):
  // bad_certificate for DER that does not parse, a broken chain or a
  // signature that does not verify; unknown_ca when no trust anchor is
  // reached; certificate_expired outside the validity period;
  // certificate_revoked for a revoked certificate; unsupported_certificate
  // for a wrong key usage or purpose.
  bool verify_chain(std::span<const std::span<const uint8_t>> chain,
                    int64_t now_s, ClientIdentity* out, Alert* alert) const;

 private:
  ClientCertVerifier() = default;
  x509_store_st* store_ = nullptr;
};

// Verifies a client's CertificateVerify signature (RFC 8446 section 4.4.3)
// of `content` (build_certificate_verify_content(false, ...)) with the
// public key of `leaf_der` under `scheme`. false when the leaf does not
// parse, its key type does not fit the scheme, or the signature does not
// verify.
bool verify_client_signature(std::span<const uint8_t> leaf_der,
                             SignatureScheme scheme,
                             std::span<const uint8_t> content,
                             std::span<const uint8_t> signature);

// Reads a Certificate message (RFC 8446 section 4.4.2): the DER
// certificates, leaf first, into *out (borrowing `message`); extensions
// are skipped. Returns false with *alert: decode_error for a malformed
// length or an empty cert_data, illegal_parameter for a non-empty
// certificate_request_context (the handshake's CertificateRequest sent an
// empty one).
bool parse_certificate(std::span<const uint8_t> message,
                       std::vector<std::span<const uint8_t>>* out,
                       Alert* alert);

// Reads a CertificateVerify message (RFC 8446 section 4.4.3). Returns
// false with *alert = decode_error when malformed or the signature is
// empty.
bool parse_certificate_verify(std::span<const uint8_t> message,
                              uint16_t* scheme,
                              std::span<const uint8_t>* signature,
                              Alert* alert);

}  // namespace dptls::tls
