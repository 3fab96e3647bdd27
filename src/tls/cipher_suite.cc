#include "dptls/tls/cipher_suite.h"

namespace dptls::tls {

namespace {

constexpr CipherSuiteInfo kSuites[] = {
#define DPTLS_X(e, code, name, aead, hash) \
  {CipherSuite::e, code, name, crypto::AeadAlg::aead, HashAlg::hash},
    DPTLS_TLS13_CIPHER_SUITES(DPTLS_X)
#undef DPTLS_X
};

}  // namespace

const CipherSuiteInfo* find_cipher_suite(uint16_t code) {
  for (const CipherSuiteInfo& info : kSuites) {
    if (info.code == code) {
      return &info;
    }
  }
  return nullptr;
}

const CipherSuiteInfo* cipher_suite_info(CipherSuite suite) {
  return find_cipher_suite(static_cast<uint16_t>(suite));
}

std::optional<CipherSuite> parse_cipher_suite(std::string_view name) {
  for (const CipherSuiteInfo& info : kSuites) {
    if (info.name == name) {
      return info.suite;
    }
  }
  return std::nullopt;
}

}  // namespace dptls::tls
