#include "dptls/tls/record.h"

namespace dptls::tls {

std::string_view alert_name(Alert alert) {
  switch (alert) {
#define DPTLS_X(e, code, name) \
  case Alert::e:               \
    return name;
    DPTLS_TLS_ALERTS(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

uint64_t aead_record_limit(crypto::AeadAlg alg) {
  switch (alg) {
    case crypto::AeadAlg::kAes128Gcm:
    case crypto::AeadAlg::kAes256Gcm:
      // 2^24.5 full-size records (RFC 8446 section 5.5), rounded down.
      return 23726566;
    case crypto::AeadAlg::kChaCha20Poly1305:
      break;
  }
  // Beyond 2^64 records: the 64-bit sequence number is the bound.
  return UINT64_MAX;
}

}  // namespace dptls::tls
