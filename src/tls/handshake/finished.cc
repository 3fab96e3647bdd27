// Finished writer (RFC 8446 section 4.4.4).
#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/wire.h"

namespace dptls::tls {

bool write_finished(std::span<const uint8_t> verify_data, ByteWriter* out) {
  if (verify_data.empty()) {
    return false;
  }
  const size_t msg = internal::begin_message(HandshakeType::kFinished, out);
  out->bytes(verify_data);
  return internal::end_message(msg, out);
}

}  // namespace dptls::tls
