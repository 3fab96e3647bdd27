// Private helpers for the handshake message writers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dptls/tls/handshake/messages.h"
#include "dptls/util/bytes.h"

namespace dptls::tls::internal {

// Writes the handshake header's type and a 24-bit length placeholder
// (RFC 8446 section 4); returns the placeholder's offset for end_message().
inline size_t begin_message(HandshakeType type, ByteWriter* out) {
  out->u8(static_cast<uint8_t>(type));
  return out->open(3);
}

// Fills in the length begun by begin_message(); returns out->ok().
inline bool end_message(size_t at, ByteWriter* out) {
  return out->close(at, 3) && out->ok();
}

// Writes an extension with an empty body.
inline void empty_extension(ExtensionType type, ByteWriter* out) {
  out->u16(static_cast<uint16_t>(type));
  out->u16(0);
}

// Writes the cookie extension (RFC 8446 section 4.2.2): cookie<1..2^16-1>.
inline void cookie_extension(std::span<const uint8_t> cookie, ByteWriter* out) {
  out->u16(static_cast<uint16_t>(ExtensionType::kCookie));
  const size_t ext = out->open(2);
  const size_t body = out->open(2);
  out->bytes(cookie);
  out->close(body, 2);
  out->close(ext, 2);
}

// Writes a vector of 16-bit values with a `width`-byte length prefix.
inline void u16_vector(std::span<const uint16_t> values, size_t width,
                       ByteWriter* out) {
  const size_t at = out->open(width);
  for (uint16_t v : values) {
    out->u16(v);
  }
  out->close(at, width);
}

}  // namespace dptls::tls::internal
