// NewSessionTicket writer (RFC 8446 section 4.6.1); the server sends the
// tickets session_ticket.h seals.
#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/wire.h"

namespace dptls::tls {

bool write_new_session_ticket(const NewSessionTicketParams& p,
                              ByteWriter* out) {
  // "Servers MUST NOT use any value greater than 604800 seconds (7 days)";
  // ticket_nonce<0..255>, ticket<1..2^16-1>.
  if (p.lifetime > 604800 || p.nonce.size() > 255 || p.ticket.empty() ||
      p.ticket.size() > 0xffff) {
    return false;
  }
  const size_t msg =
      internal::begin_message(HandshakeType::kNewSessionTicket, out);
  out->u32(p.lifetime);
  out->u32(p.age_add);
  out->u8(static_cast<uint8_t>(p.nonce.size()));
  out->bytes(p.nonce);
  const size_t ticket = out->open(2);
  out->bytes(p.ticket);
  out->close(ticket, 2);
  const size_t exts = out->open(2);
  if (p.max_early_data_size != 0) {
    out->u16(static_cast<uint16_t>(ExtensionType::kEarlyData));
    out->u16(4);
    out->u32(p.max_early_data_size);
  }
  out->close(exts, 2);
  return internal::end_message(msg, out);
}

}  // namespace dptls::tls
