// Certificate chains, private keys, CertificateVerify signatures and the
// per-handshake choice of a credential.
#include "dptls/tls/handshake/credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include "tls/evp_util.h"
#include "tls/handshake/ecdsa_direct.h"
#include "tls/handshake/ossl_ptr.h"

namespace dptls::tls {

using internal::OsslPtr;

namespace {

// The TLS 1.3 SignatureScheme code of a certificate's signature algorithm
// (RFC 8446 section 4.2.3), 0 when it has none (e.g. SHA-1, or RSA-PSS
// with parameters not read here).
uint16_t cert_signature_scheme(const X509* cert) {
  switch (X509_get_signature_nid(cert)) {
    case NID_ecdsa_with_SHA256:
      return 0x0403;
    case NID_ecdsa_with_SHA384:
      return 0x0503;
    case NID_ecdsa_with_SHA512:
      return 0x0603;
    case NID_sha256WithRSAEncryption:
      return 0x0401;
    case NID_sha384WithRSAEncryption:
      return 0x0501;
    case NID_sha512WithRSAEncryption:
      return 0x0601;
    case NID_ED25519:
      return 0x0807;
    case NID_ED448:
      return 0x0808;
    default:
      return 0;
  }
}

// The DNS names in the leaf's subjectAltName, or its CN when it has none.
std::vector<std::string> cert_names(X509* leaf) {
  std::vector<std::string> names;
  OsslPtr<GENERAL_NAMES> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gen = sk_GENERAL_NAME_value(sans.get(), i);
      if (gen->type != GEN_DNS) {
        continue;
      }
      const ASN1_STRING* s = gen->d.dNSName;
      names.push_back(
          ascii_lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s))}));
    }
  }
  if (!names.empty()) {
    return names;
  }
  const X509_NAME* subject = X509_get_subject_name(leaf);
  const int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx >= 0) {
    const ASN1_STRING* cn =
        X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    names.push_back(
        ascii_lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                     static_cast<size_t>(ASN1_STRING_length(cn))}));
  }
  return names;
}

// The digest of a scheme (nullptr for Ed25519, which signs the message
// itself), and whether it is RSA-PSS.
const char* scheme_digest(SignatureScheme scheme, bool* pss) {
  *pss = false;
  switch (scheme) {
    case SignatureScheme::kEcdsaSecp256r1Sha256:
      return "SHA256";
    case SignatureScheme::kRsaPssRsaeSha256:
      *pss = true;
      return "SHA256";
    case SignatureScheme::kRsaPssRsaeSha384:
      *pss = true;
      return "SHA384";
    case SignatureScheme::kEd25519:
      return nullptr;
  }
  return nullptr;
}

// The slot of a hashed scheme in Credential::sign_templates_, or -1 for a
// scheme signed without a separate digest (Ed25519).
int sign_template_slot(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSecp256r1Sha256:
      return 0;
    case SignatureScheme::kRsaPssRsaeSha256:
      return 1;
    case SignatureScheme::kRsaPssRsaeSha384:
      return 2;
    case SignatureScheme::kEd25519:
      return -1;
  }
  return -1;
}

HashAlg scheme_hash(SignatureScheme scheme) {
  return scheme == SignatureScheme::kRsaPssRsaeSha384 ? HashAlg::kSha384
                                                      : HashAlg::kSha256;
}

bool set_error(std::string* error, std::string msg) {
  ERR_clear_error();
  *error = std::move(msg);
  return false;
}

}  // namespace

std::string_view key_type_name(KeyType type) {
  switch (type) {
#define DPTLS_X(e, name) \
  case KeyType::e:       \
    return name;
    DPTLS_KEY_TYPES(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

bool key_type_can_sign(KeyType type, SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSecp256r1Sha256:
      return type == KeyType::kEcdsaP256;
    case SignatureScheme::kRsaPssRsaeSha256:
    case SignatureScheme::kRsaPssRsaeSha384:
      return type == KeyType::kRsa;
    case SignatureScheme::kEd25519:
      return type == KeyType::kEd25519;
  }
  return false;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool dns_name_matches(std::string_view pattern, std::string_view name,
                      bool wildcard) {
  if (!wildcard) {
    return pattern == name;
  }
  // "*.example.com" matches "a.example.com", not "example.com" nor
  // "a.b.example.com" (RFC 6125 section 6.4.3, leftmost label only).
  if (pattern.size() < 3 || pattern.substr(0, 2) != "*.") {
    return false;
  }
  const size_t dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos) {
    return false;
  }
  return name.substr(dot) == pattern.substr(1);
}

Credential::~Credential() {
  for (EVP_PKEY_CTX* ctx : sign_templates_) {
    EVP_PKEY_CTX_free(ctx);
  }
  EVP_PKEY_free(key_);
}

// Signing through EVP_DigestSign costs, per signature, a digest fetched by
// name, a signature context set up from scratch and, in
// EVP_DigestSignFinal, a duplicate of it; a prepared context per scheme
// duplicated per signature, over a digest computed with the digest fetched
// once, gives the same signature for less.
bool Credential::make_sign_templates() {
  for (SignatureScheme scheme : kAllSignatureSchemes) {
    const int slot = sign_template_slot(scheme);
    if (slot < 0 || !can_sign(scheme)) {
      continue;
    }
    bool pss = false;
    scheme_digest(scheme, &pss);
    const EVP_MD* md = internal::evp_md(scheme_hash(scheme));
    OsslPtr<EVP_PKEY_CTX> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, key_, nullptr));
    bool ok = md != nullptr && ctx != nullptr &&
              EVP_PKEY_sign_init(ctx.get()) == 1 &&
              EVP_PKEY_CTX_set_signature_md(ctx.get(), md) == 1;
    // RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash
    // (RFC 8446 section 4.2.3).
    if (ok && pss) {
      ok =
          EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1 &&
          EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) ==
              1 &&
          EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) == 1;
    }
    if (!ok) {
      return false;
    }
    sign_templates_[slot] = ctx.release();
  }
  return true;
}

std::unique_ptr<Credential> Credential::from_pem(
    std::string_view chain_pem, std::string_view key_pem, std::string* error,
    const std::vector<std::string>& names) {
  std::unique_ptr<Credential> cred(new Credential());
  OsslPtr<BIO> chain_bio(
      BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  if (chain_bio == nullptr) {
    set_error(error, "out of memory");
    return nullptr;
  }
  OsslPtr<X509> leaf;
  while (true) {
    OsslPtr<X509> cert(
        PEM_read_bio_X509(chain_bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) {
      break;
    }
    const int len = i2d_X509(cert.get(), nullptr);
    if (len <= 0) {
      set_error(error, "certificate does not encode");
      return nullptr;
    }
    std::vector<uint8_t> der(static_cast<size_t>(len));
    uint8_t* p = der.data();
    i2d_X509(cert.get(), &p);
    cred->chain_.push_back(std::move(der));
    cred->chain_sig_schemes_.push_back(cert_signature_scheme(cert.get()));
    if (leaf == nullptr) {
      leaf = std::move(cert);
    }
  }
  ERR_clear_error();  // the end of the PEM stream reads as an error
  if (leaf == nullptr) {
    set_error(error, "no certificate in the chain PEM");
    return nullptr;
  }
  OsslPtr<BIO> key_bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  if (key_bio != nullptr) {
    cred->key_ =
        PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  }
  if (cred->key_ == nullptr) {
    set_error(error, "private key PEM does not parse");
    return nullptr;
  }
  if (X509_check_private_key(leaf.get(), cred->key_) != 1) {
    set_error(error, "private key does not match the leaf certificate");
    return nullptr;
  }
  if (EVP_PKEY_is_a(cred->key_, "EC")) {
    char curve[32] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(cred->key_, curve, sizeof(curve), &len) != 1 ||
        std::string_view(curve, len) != "prime256v1") {
      set_error(error, "EC keys must be on P-256");
      return nullptr;
    }
    cred->key_type_ = KeyType::kEcdsaP256;
  } else if (EVP_PKEY_is_a(cred->key_, "RSA")) {
    if (EVP_PKEY_get_bits(cred->key_) < 2048) {
      set_error(error, "RSA keys must have at least 2048 bits");
      return nullptr;
    }
    cred->key_type_ = KeyType::kRsa;
  } else if (EVP_PKEY_is_a(cred->key_, "ED25519")) {
    cred->key_type_ = KeyType::kEd25519;
  } else {
    set_error(error, "unsupported key type (P-256, RSA or Ed25519)");
    return nullptr;
  }
  if (!cred->make_sign_templates()) {
    set_error(error, "libcrypto cannot set up signing with the key");
    return nullptr;
  }
  if (cred->key_type_ == KeyType::kEcdsaP256) {
    // Where libcrypto cannot give the EC_KEY, signing stays on EVP.
    cred->ecdsa_ = std::make_unique<internal::EcdsaP256Key>();
    if (!cred->ecdsa_->init(cred->key_)) {
      cred->ecdsa_.reset();
    }
  }
  if (names.empty()) {
    cred->names_ = cert_names(leaf.get());
  } else {
    for (const std::string& n : names) {
      cred->names_.push_back(ascii_lower(n));
    }
  }
  return cred;
}

bool Credential::chain_signed_with(const U16List& schemes) const {
  for (uint16_t s : chain_sig_schemes_) {
    if (s == 0 || !schemes.contains(s)) {
      return false;
    }
  }
  return true;
}

bool Credential::sign(SignatureScheme scheme, std::span<const uint8_t> content,
                      std::vector<uint8_t>* sig) const {
  sig->clear();
  if (!can_sign(scheme)) {
    return false;
  }
  if (scheme == SignatureScheme::kEcdsaSecp256r1Sha256 && ecdsa_ != nullptr &&
      internal::EcdsaP256Key::available()) {
    HashValue digest;
    std::array<uint8_t, internal::EcdsaP256Key::kMaxSignatureLen> der{};
    const size_t len =
        hash_bytes(HashAlg::kSha256, content, &digest) == KdfStatus::kOk
            ? ecdsa_->sign({digest.bytes.data(), digest.len}, der)
            : 0;
    sig->assign(der.begin(), der.begin() + static_cast<std::ptrdiff_t>(len));
    return len != 0;
  }
  const int slot = sign_template_slot(scheme);
  if (slot >= 0 && sign_templates_[slot] != nullptr) {
    HashValue digest;
    OsslPtr<EVP_PKEY_CTX> ctx;
    size_t len = static_cast<size_t>(EVP_PKEY_get_size(key_));
    bool ok =
        hash_bytes(scheme_hash(scheme), content, &digest) == KdfStatus::kOk &&
        (ctx.reset(EVP_PKEY_CTX_dup(sign_templates_[slot])), ctx != nullptr);
    if (ok) {
      sig->resize(len);
      ok = EVP_PKEY_sign(ctx.get(), sig->data(), &len, digest.bytes.data(),
                         digest.len) == 1;
      sig->resize(ok ? len : 0);
    }
    if (!ok) {
      ERR_clear_error();
    }
    return ok;
  }
  bool pss = false;
  const char* md = scheme_digest(scheme, &pss);
  OsslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  size_t len = 0;
  bool ok =
      ctx != nullptr && EVP_DigestSignInit_ex(ctx.get(), &pctx, md, nullptr,
                                              nullptr, key_, nullptr) == 1;
  // RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash
  // (RFC 8446 section 4.2.3).
  if (ok && pss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, nullptr) == 1;
  }
  ok = ok && EVP_DigestSign(ctx.get(), nullptr, &len, content.data(),
                            content.size()) == 1;
  if (ok) {
    sig->resize(len);
    ok = EVP_DigestSign(ctx.get(), sig->data(), &len, content.data(),
                        content.size()) == 1;
    sig->resize(ok ? len : 0);
  }
  if (!ok) {
    ERR_clear_error();
  }
  return ok;
}

void CertificateStore::add(std::shared_ptr<const Credential> credential) {
  if (credential != nullptr) {
    credentials_.push_back(std::move(credential));
  }
}

bool CertificateStore::select(std::string_view server_name,
                              const U16List& client_schemes,
                              const U16List& client_cert_schemes,
                              std::span<const SignatureScheme> server_schemes,
                              bool require_name_match,
                              CredentialChoice* out) const {
  const std::string name = ascii_lower(server_name);
  // Tier 0: exact name; 1: wildcard; 2: any credential.
  for (int tier = 0; tier < 3; ++tier) {
    if (tier == 2 && require_name_match) {
      break;
    }
    if (tier < 2 && name.empty()) {
      continue;
    }
    CredentialChoice fallback;
    for (const auto& cred : credentials_) {
      bool matched = tier == 2;
      for (const std::string& pattern : cred->names()) {
        matched = matched || dns_name_matches(pattern, name, tier == 1);
      }
      if (!matched) {
        continue;
      }
      const SignatureScheme* scheme = nullptr;
      for (const SignatureScheme& s : server_schemes) {
        if (cred->can_sign(s) &&
            client_schemes.contains(static_cast<uint16_t>(s))) {
          scheme = &s;
          break;
        }
      }
      if (scheme == nullptr) {
        continue;
      }
      const CredentialChoice choice{cred.get(), *scheme, tier < 2};
      if (cred->chain_signed_with(client_cert_schemes)) {
        *out = choice;
        return true;
      }
      if (fallback.credential == nullptr) {
        fallback = choice;
      }
    }
    if (fallback.credential != nullptr) {
      // RFC 8446 4.4.2.2: with no chain the client says it can verify,
      // send one anyway and let the client decide.
      *out = fallback;
      return true;
    }
  }
  return false;
}

}  // namespace dptls::tls
