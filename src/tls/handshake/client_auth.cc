// Client certificate verification and the client's Certificate and
// CertificateVerify readers (RFC 8446 sections 4.4.2, 4.4.3).
#include "dptls/tls/handshake/client_auth.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "dptls/util/bytes.h"
#include "tls/handshake/ossl_ptr.h"
#include "tls/handshake/x509_store.h"

namespace dptls::tls {

namespace {

using internal::add_pem_certificates;
using internal::OsslPtr;

struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};

// DER to X509; nullptr unless `der` is exactly one certificate.
OsslPtr<X509> parse_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  OsslPtr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x == nullptr || p != der.data() + der.size()) {
    ERR_clear_error();
    return nullptr;
  }
  return x;
}

// The alert for an X509_verify_cert error (RFC 8446 section 6.2).
Alert alert_for(int err) {
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return Alert::kCertificateExpired;
    case X509_V_ERR_CERT_REVOKED:
      return Alert::kCertificateRevoked;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return Alert::kUnknownCa;
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
      return Alert::kUnsupportedCertificate;
    default:
      return Alert::kBadCertificate;
  }
}

std::string subject_of(X509* leaf) {
  OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(leaf), 0,
                         XN_FLAG_RFC2253) < 0) {
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

std::string ia5(const ASN1_IA5STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::vector<std::string> sans_of(X509* leaf) {
  std::vector<std::string> out;
  OsslPtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) {
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    switch (n->type) {
      case GEN_DNS:
        out.push_back("DNS:" + ia5(n->d.dNSName));
        break;
      case GEN_EMAIL:
        out.push_back("email:" + ia5(n->d.rfc822Name));
        break;
      case GEN_URI:
        out.push_back("URI:" + ia5(n->d.uniformResourceIdentifier));
        break;
      case GEN_IPADD: {
        char* ip =
            OPENSSL_buf2hexstr(n->d.iPAddress->data, n->d.iPAddress->length);
        if (ip != nullptr) {
          out.push_back(std::string("IP:") + ip);
          OPENSSL_free(ip);
        }
        break;
      }
      default:
        break;
    }
  }
  return out;
}

}  // namespace

ClientCertVerifier::~ClientCertVerifier() { X509_STORE_free(store_); }

std::shared_ptr<const ClientCertVerifier> ClientCertVerifier::create(
    std::string_view ca_pem, std::string_view crl_pem, std::string* error) {
  std::shared_ptr<ClientCertVerifier> v(new ClientCertVerifier());
  v->store_ = X509_STORE_new();
  if (v->store_ == nullptr) {
    *error = "X509_STORE_new failed";
    return nullptr;
  }
  if (!add_pem_certificates(v->store_, ca_pem, "client_ca", error)) {
    return nullptr;
  }
  if (!crl_pem.empty()) {
    OsslPtr<BIO> cb(
        BIO_new_mem_buf(crl_pem.data(), static_cast<int>(crl_pem.size())));
    int crls = 0;
    while (cb != nullptr) {
      X509_CRL* crl =
          PEM_read_bio_X509_CRL(cb.get(), nullptr, nullptr, nullptr);
      if (crl == nullptr) {
        break;
      }
      const int ok = X509_STORE_add_crl(v->store_, crl);
      X509_CRL_free(crl);
      if (ok != 1) {
        *error = "client_crl: cannot add a CRL to the store";
        ERR_clear_error();
        return nullptr;
      }
      ++crls;
    }
    ERR_clear_error();
    if (crls == 0) {
      *error = "client_crl: no X509 CRL in the PEM bundle";
      return nullptr;
    }
    X509_STORE_set_flags(v->store_,
                         X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  return v;
}

bool ClientCertVerifier::verify_chain(
    std::span<const std::span<const uint8_t>> chain, int64_t now_s,
    ClientIdentity* out, Alert* alert) const {
  if (chain.empty()) {
    *alert = Alert::kCertificateRequired;
    return false;
  }
  OsslPtr<X509> leaf = parse_der(chain[0]);
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  if (leaf == nullptr || untrusted == nullptr) {
    *alert = Alert::kBadCertificate;
    return false;
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    OsslPtr<X509> x = parse_der(chain[i]);
    if (x == nullptr || sk_X509_push(untrusted.get(), x.get()) == 0) {
      *alert = Alert::kBadCertificate;
      return false;
    }
    static_cast<void>(x.release());  // owned by the stack now
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store_, leaf.get(),
                                            untrusted.get()) != 1) {
    ERR_clear_error();
    *alert = Alert::kInternalError;
    return false;
  }
  // A certificate for TLS clients (extendedKeyUsage clientAuth when it has
  // one), at the handshake's clock.
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                             static_cast<time_t>(now_s));
  if (X509_verify_cert(ctx.get()) != 1) {
    *alert = alert_for(X509_STORE_CTX_get_error(ctx.get()));
    ERR_clear_error();
    return false;
  }
  out->subject = subject_of(leaf.get());
  out->sans = sans_of(leaf.get());
  return true;
}

bool verify_client_signature(std::span<const uint8_t> leaf_der,
                             SignatureScheme scheme,
                             std::span<const uint8_t> content,
                             std::span<const uint8_t> signature) {
  OsslPtr<X509> leaf = parse_der(leaf_der);
  EVP_PKEY* key = leaf != nullptr ? X509_get0_pubkey(leaf.get()) : nullptr;
  if (key == nullptr) {
    ERR_clear_error();
    return false;
  }
  // The key must be of the scheme's type (RFC 8446 section 4.2.3).
  const char* md = nullptr;
  bool pss = false;
  bool fits = false;
  switch (scheme) {
    case SignatureScheme::kEcdsaSecp256r1Sha256: {
      char group[32] = {};
      size_t len = 0;
      fits = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
             EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 &&
             std::string_view(group, len) == "prime256v1";
      md = "SHA256";
      break;
    }
    case SignatureScheme::kRsaPssRsaeSha256:
    case SignatureScheme::kRsaPssRsaeSha384:
      fits = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
      md = scheme == SignatureScheme::kRsaPssRsaeSha256 ? "SHA256" : "SHA384";
      pss = true;
      break;
    case SignatureScheme::kEd25519:
      fits = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
      break;
  }
  if (!fits) {
    return false;
  }
  OsslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  bool ok =
      ctx != nullptr && EVP_DigestVerifyInit_ex(ctx.get(), &pctx, md, nullptr,
                                                nullptr, key, nullptr) == 1;
  if (ok && pss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, nullptr) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                              content.data(), content.size()) == 1;
  ERR_clear_error();
  return ok;
}

bool parse_certificate(std::span<const uint8_t> message,
                       std::vector<std::span<const uint8_t>>* out,
                       Alert* alert) {
  out->clear();
  *alert = Alert::kDecodeError;
  ByteReader r(message);
  uint8_t type = 0;
  ByteReader body;
  ByteReader context;
  ByteReader list;
  // Certificate: certificate_request_context<0..2^8-1>,
  // CertificateEntry certificate_list<0..2^24-1> (4.4.2).
  if (!r.u8(&type) || !r.prefixed24(&body) || !r.empty() ||
      !body.prefixed8(&context) || !body.prefixed24(&list) || !body.empty()) {
    return false;
  }
  while (!list.empty()) {
    ByteReader cert;
    ByteReader exts;
    // cert_data<1..2^24-1>, extensions<0..2^16-1>.
    if (!list.prefixed24(&cert) || cert.empty() || !list.prefixed16(&exts)) {
      out->clear();
      return false;
    }
    out->push_back(cert.rest());
  }
  // 4.4.2: the context echoes the CertificateRequest's (empty here).
  if (!context.empty()) {
    *alert = Alert::kIllegalParameter;
    out->clear();
    return false;
  }
  return true;
}

bool parse_certificate_verify(std::span<const uint8_t> message,
                              uint16_t* scheme,
                              std::span<const uint8_t>* signature,
                              Alert* alert) {
  *alert = Alert::kDecodeError;
  ByteReader r(message);
  uint8_t type = 0;
  ByteReader body;
  ByteReader sig;
  // CertificateVerify: algorithm, signature<0..2^16-1> (4.4.3).
  if (!r.u8(&type) || !r.prefixed24(&body) || !r.empty() || !body.u16(scheme) ||
      !body.prefixed16(&sig) || !body.empty() || sig.empty()) {
    return false;
  }
  *signature = sig.rest();
  return true;
}

}  // namespace dptls::tls
