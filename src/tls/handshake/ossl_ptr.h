// Owning pointers for the libcrypto objects the handshake uses (the
// BoringSSL bssl::UniquePtr pattern): every object is freed on every path.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace dptls::tls::internal {

struct OsslDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

template <typename T>
using OsslPtr = std::unique_ptr<T, OsslDeleter>;

}  // namespace dptls::tls::internal
