#include "tls/handshake/x509_store.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "tls/handshake/ossl_ptr.h"

namespace dptls::tls::internal {

bool add_pem_certificates(X509_STORE* store, std::string_view pem,
                          std::string_view what, std::string* error) {
  OsslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  int certs = 0;
  while (bio != nullptr) {
    OsslPtr<X509> x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (x == nullptr) {
      break;
    }
    if (X509_STORE_add_cert(store, x.get()) != 1) {
      ERR_clear_error();
      *error = std::string(what) + ": cannot add a certificate to the store";
      return false;
    }
    ++certs;
  }
  // The loop ends at the first block that is not a certificate: only the
  // "no more PEM" error means the bundle was read to its end.
  const unsigned long last = ERR_peek_last_error();
  ERR_clear_error();
  if (certs == 0) {
    *error = std::string(what) + ": no CERTIFICATE in the PEM bundle";
    return false;
  }
  if (last != 0 && ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
    *error = std::string(what) + ": a PEM block does not parse";
    return false;
  }
  return true;
}

}  // namespace dptls::tls::internal
