// Server certificates: a chain (leaf + intermediates) with its private key,
// loaded from PEM, and the store that picks one per handshake by SNI (exact
// name, then wildcard, then any) and by what the client can verify
// (signature_algorithms, RFC 8446 section 4.2.3 and 4.4.2.2).
//
// Both are immutable once built and may be shared by every handshake
// thread: signing creates its own libcrypto context per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dptls/tls/handshake/messages.h"

struct evp_pkey_st;      // EVP_PKEY, kept out of the public headers.
struct evp_pkey_ctx_st;  // EVP_PKEY_CTX, likewise.

namespace dptls::tls {

namespace internal {
class EcdsaP256Key;
}  // namespace internal

// X(enumerator, printable name)
#define DPTLS_KEY_TYPES(X)    \
  X(kEcdsaP256, "ecdsa-p256") \
  X(kRsa, "rsa")              \
  X(kEd25519, "ed25519")

enum class KeyType : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_KEY_TYPES(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name ("rsa"), or "unknown".
std::string_view key_type_name(KeyType type);

// True when a key of `type` produces signatures of `scheme`:
// ecdsa_secp256r1_sha256 for P-256, rsa_pss_rsae_* for RSA (the
// rsaEncryption key type, RFC 8446 section 4.2.3), ed25519 for Ed25519.
bool key_type_can_sign(KeyType type, SignatureScheme scheme);

// The largest stapled OCSP response: the leaf's CertificateEntry
// extensions<0..2^16-1> hold it after 8 bytes of headers (extension type
// and length, CertificateStatusType, the u24 length).
inline constexpr size_t kMaxOcspResponseLen = 0xFFFF - 8;

// One certificate chain and its private key.
class Credential {
 public:
  ~Credential();
  Credential(const Credential&) = delete;
  Credential& operator=(const Credential&) = delete;

  // Loads `chain_pem` (one or more CERTIFICATE blocks, leaf first) and
  // `key_pem` (a PRIVATE KEY block, unencrypted). `names` are the DNS names
  // to serve it for (lower-cased here; "*.example.com" is a wildcard for
  // one label); when empty they come from the leaf's subjectAltName
  // dNSNames, or its CN when it has none. Returns nullptr with *error set
  // when the PEM does not parse, the key does not match the leaf, or the key
  // is not P-256, RSA of 2048 bits or more, or Ed25519.
  static std::unique_ptr<Credential> from_pem(
      std::string_view chain_pem, std::string_view key_pem, std::string* error,
      const std::vector<std::string>& names = {});

  // The private key's type (decides the signature schemes).
  KeyType key_type() const { return key_type_; }
  // DER certificates, leaf first. Valid as long as the credential.
  std::span<const std::vector<uint8_t>> chain() const { return chain_; }
  // The lower-case DNS names (or wildcards) it serves.
  const std::vector<std::string>& names() const { return names_; }
  bool can_sign(SignatureScheme scheme) const {
    return key_type_can_sign(key_type_, scheme);
  }
  // True when every certificate of the chain is signed with a scheme in
  // `schemes` (the client's signature_algorithms_cert, 4.2.3); a chain
  // signed with a scheme that has no TLS 1.3 code point does not fit.
  bool chain_signed_with(const U16List& schemes) const;

  // Signs `content` (the CertificateVerify content, 4.4.3) with `scheme`
  // into *sig. Returns false, *sig empty, when the key cannot sign with
  // the scheme or libcrypto fails.
  bool sign(SignatureScheme scheme, std::span<const uint8_t> content,
            std::vector<uint8_t>* sig) const;

  // The DER OCSPResponse (RFC 6960 section 4.2.1) stapled to the leaf's
  // CertificateEntry when a client asks with status_request (RFC 8446
  // section 4.4.2.1, RFC 6066 section 8); empty: none. Not parsed here
  // (the configuration checks it at load); set before the credential is
  // shared, since a credential is otherwise immutable. Returns false,
  // unchanged, when it is longer than kMaxOcspResponseLen (the leaf's
  // extensions<0..2^16-1> must hold it).
  bool set_ocsp_response(std::vector<uint8_t> der) {
    if (der.size() > kMaxOcspResponseLen) {
      return false;
    }
    ocsp_response_ = std::move(der);
    return true;
  }
  std::span<const uint8_t> ocsp_response() const { return ocsp_response_; }

 private:
  Credential() = default;
  bool make_sign_templates();

  evp_pkey_st* key_ = nullptr;
  // Per hashed scheme the key can sign with (ECDSA P-256 SHA-256, RSA-PSS
  // SHA-256 and SHA-384), a signing context with its digest and padding
  // set, made once in from_pem() and only ever duplicated by sign(), so it
  // may be shared between threads. nullptr where the key cannot sign.
  evp_pkey_ctx_st* sign_templates_[3] = {};
  // A P-256 key for ECDSA_do_sign, skipping EVP's per-signature overhead
  // (tls/handshake/ecdsa_direct.h); null where libcrypto has no such path.
  std::unique_ptr<internal::EcdsaP256Key> ecdsa_;
  KeyType key_type_ = KeyType::kEcdsaP256;
  std::vector<std::vector<uint8_t>> chain_;
  // The TLS SignatureScheme code of each certificate's own signature (0
  // when it has none).
  std::vector<uint16_t> chain_sig_schemes_;
  std::vector<std::string> names_;
  std::vector<uint8_t> ocsp_response_;
};

// What the store picked for one handshake.
struct CredentialChoice {
  const Credential* credential = nullptr;
  SignatureScheme scheme = SignatureScheme::kEcdsaSecp256r1Sha256;
  // The client's server_name matched one of the credential's names (so
  // the server acknowledges it in EncryptedExtensions, RFC 6066 section 3).
  bool name_matched = false;
};

// The certificates of one listener.
class CertificateStore {
 public:
  // Adds a credential; the order of adding is the order of preference
  // among equally good candidates, and any credential may serve a client
  // whose name matches none.
  void add(std::shared_ptr<const Credential> credential);
  // True when no credential was added.
  bool empty() const { return credentials_.empty(); }
  // The credentials in the order they were added.
  std::span<const std::shared_ptr<const Credential>> credentials() const {
    return credentials_;
  }

  // Picks a credential and signature scheme for a ClientHello:
  // candidates are those whose name equals `server_name` (case-insensitive),
  // then those matching it by wildcard, then (unless `require_name_match`)
  // every credential. Within that order, the first credential able to sign
  // with a scheme the client offers in `client_schemes` (in the server's
  // order `server_schemes`) wins, a chain signed only with algorithms in
  // `client_cert_schemes` (signature_algorithms_cert, or
  // signature_algorithms when that is absent) preferred (4.4.2.2).
  // Returns false when nothing fits; *out is then unchanged.
  bool select(std::string_view server_name, const U16List& client_schemes,
              const U16List& client_cert_schemes,
              std::span<const SignatureScheme> server_schemes,
              bool require_name_match, CredentialChoice* out) const;

 private:
  std::vector<std::shared_ptr<const Credential>> credentials_;
};

// Lower-cases ASCII letters; other bytes unchanged.
std::string ascii_lower(std::string_view s);

// True when `pattern` ("host.example.com" or "*.example.com") matches the
// lower-case `name`: exactly, or for a wildcard, with one non-empty label
// in place of the star. `wildcard` selects which kind is tried.
bool dns_name_matches(std::string_view pattern, std::string_view name,
                      bool wildcard);

}  // namespace dptls::tls
