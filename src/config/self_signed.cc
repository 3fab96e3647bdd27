#include "dptls/config/self_signed.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

namespace dptls::config {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

bool add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

bool make_self_signed(const SelfSignedOptions& options, std::string* cert_pem,
                      std::string* key_pem, std::string* error) {
  std::unique_ptr<EVP_PKEY, Free> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, Free> cert(X509_new());
  if (!key || !cert) {
    *error = "key generation failed";
    return false;
  }
  uint8_t serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_set_version(cert.get(), X509_VERSION_3);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  static_cast<long>(options.days) * 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_UTF8,
      reinterpret_cast<const unsigned char*>(options.common_name.c_str()), -1,
      -1, 0);
  X509_set_issuer_name(cert.get(), name);

  std::vector<std::string> dns = options.dns_names;
  if (std::find(dns.begin(), dns.end(), options.common_name) == dns.end()) {
    dns.insert(dns.begin(), options.common_name);
  }
  std::string san;
  auto add_name = [&san](const char* kind, const std::string& value) {
    if (!san.empty()) {
      san.push_back(',');
    }
    san.append(kind);
    san.append(value);
  };
  for (const std::string& d : dns) {
    add_name("DNS:", d);
  }
  for (const std::string& ip : options.ip_addresses) {
    add_name("IP:", ip);
  }
  if (!add_ext(cert.get(), NID_subject_alt_name, san)) {
    *error = "bad subjectAltName '" + san + "'";
    return false;
  }
  if (!add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), NID_ext_key_usage, "serverAuth,clientAuth") ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    *error = "signing the certificate failed";
    return false;
  }
  std::unique_ptr<BIO, Free> cbio(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, Free> kbio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(cbio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(kbio.get(), key.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    *error = "PEM encoding failed";
    return false;
  }
  *cert_pem = bio_string(cbio.get());
  *key_pem = bio_string(kbio.get());
  return true;
}

}  // namespace dptls::config
