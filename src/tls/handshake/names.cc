// Printable names and code point lookups for the handshake enums.
#include <string_view>

#include "dptls/tls/handshake/messages.h"

namespace dptls::tls {

// SHA-256("HelloRetryRequest") (RFC 8446 section 4.1.3).
const std::array<uint8_t, 32> kHelloRetryRequestRandom = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
    0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
    0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

std::string_view handshake_type_name(uint8_t type) {
  switch (type) {
#define DPTLS_X(e, code, name) \
  case code:                   \
    return name;
    DPTLS_HANDSHAKE_TYPES(DPTLS_X)
#undef DPTLS_X
    default:
      return "unknown";
  }
}

std::string_view extension_type_name(uint16_t type) {
  switch (type) {
#define DPTLS_X(e, code, name) \
  case code:                   \
    return name;
    DPTLS_EXTENSION_TYPES(DPTLS_X)
#undef DPTLS_X
    default:
      return "unknown";
  }
}

std::string_view named_group_name(NamedGroup group) {
  switch (group) {
#define DPTLS_X(e, code, name) \
  case NamedGroup::e:          \
    return name;
    DPTLS_NAMED_GROUPS(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

std::optional<NamedGroup> find_named_group(uint16_t code) {
  for (NamedGroup g : kAllNamedGroups) {
    if (static_cast<uint16_t>(g) == code) {
      return g;
    }
  }
  return std::nullopt;
}

std::optional<NamedGroup> parse_named_group(std::string_view name) {
  for (NamedGroup g : kAllNamedGroups) {
    if (named_group_name(g) == name) {
      return g;
    }
  }
  return std::nullopt;
}

std::string_view signature_scheme_name(SignatureScheme scheme) {
  switch (scheme) {
#define DPTLS_X(e, code, name) \
  case SignatureScheme::e:     \
    return name;
    DPTLS_SIGNATURE_SCHEMES(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

std::optional<SignatureScheme> find_signature_scheme(uint16_t code) {
  for (SignatureScheme s : kAllSignatureSchemes) {
    if (static_cast<uint16_t>(s) == code) {
      return s;
    }
  }
  return std::nullopt;
}

std::optional<SignatureScheme> parse_signature_scheme(std::string_view name) {
  for (SignatureScheme s : kAllSignatureSchemes) {
    if (signature_scheme_name(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

}  // namespace dptls::tls
