// Loading a PEM bundle of trusted certificates into an X509_STORE: the
// client's trust store (trust_pem) and a listener's client CA bundle.
#pragma once

#include <openssl/x509_vfy.h>

#include <string>
#include <string_view>

namespace dptls::tls::internal {

// Adds every CERTIFICATE block of `pem` to `store`. False, with
// "<what>: <reason>" in *error, when the bundle has no certificate, a block
// does not parse, or the store refuses one; libcrypto's error queue is left
// empty either way.
bool add_pem_certificates(X509_STORE* store, std::string_view pem,
                          std::string_view what, std::string* error);

}  // namespace dptls::tls::internal
