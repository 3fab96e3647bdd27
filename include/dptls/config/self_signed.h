// A self-signed ECDSA P-256 certificate for trying dptls out (`dptls certs`)
// and for tests. Not for production: nothing vouches for it.
#pragma once

#include <string>
#include <vector>

namespace dptls::config {

struct SelfSignedOptions {
  std::string common_name = "dptls.test";
  // DNS names and IP addresses for subjectAltName; the common name is added
  // as a DNS name when it is not already listed.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  int days = 30;
};

// Generates a P-256 key and a self-signed X.509 v3 certificate (SHA-256,
// serverAuth, CA:FALSE) and returns both as PEM. Returns false and sets
// *error on failure (e.g. an IP address that does not parse).
bool make_self_signed(const SelfSignedOptions& options, std::string* cert_pem,
                      std::string* key_pem, std::string* error);

}  // namespace dptls::config
