// Stateless session tickets (RFC 8446 sections 4.6.1 and 2.2, RFC 5077
// section 4 for the sealed-blob idea): the server keeps no session cache;
// each ticket is the session's resumption state sealed with AES-256-GCM
// under a ticket key only the servers of a listener know.
//
//   TicketKeys     the current key (seals new tickets) and the previous one
//                  (still opens tickets), rotated on a schedule and
//                  shareable between instances through a key file.
//   TicketContents what a ticket carries; seal_ticket() / open_ticket().
//
// Sealed ticket (the bytes of NewSessionTicket.ticket):
//   key_name[16] || nonce[12] || AES-256-GCM(contents) || tag[16]
// with key_name as the additional data. The contents:
//   u8  format (1)            u16 version (0x0304)   u16 cipher suite
//   u8  psk length, psk       u64 issue time (ms since the Unix epoch)
//   u32 ticket_age_add        u32 ticket_lifetime (s)
//   u8  ALPN length, ALPN     u8  SNI length, SNI
//   u16 client subject length, subject   (empty without client auth)
//   u16 length of the client's subjectAltNames, each u16 length, name
//
// Anti-replay (RFC 8446 section 8): for 1-RTT resumption, which a
// replayed ClientHello cannot complete, a ticket may be used many times.
// 0-RTT data can be replayed, so the server accepts it only once per
// ticket (single-use tickets, 8.1): EarlyDataReplayCache remembers the
// tickets already used for 0-RTT for as long as their ClientHello could
// still pass the freshness check (8.3), and refuses a second use.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dptls/tls/hkdf.h"

namespace dptls::tls {

inline constexpr size_t kTicketKeyNameLen = 16;
inline constexpr size_t kTicketAesKeyLen = 32;
inline constexpr size_t kTicketNonceLen = 12;
inline constexpr size_t kTicketTagLen = 16;
// key name + nonce + tag around the contents.
inline constexpr size_t kTicketOverhead =
    kTicketKeyNameLen + kTicketNonceLen + kTicketTagLen;

// One ticket key: its public name (in clear at the start of every ticket
// it seals) and the AES-256-GCM key. Wiped by the destructor.
struct TicketKey {
  TicketKey() = default;
  ~TicketKey() { wipe(); }
  TicketKey(const TicketKey&) = default;
  TicketKey& operator=(const TicketKey&) = default;
  void wipe() noexcept;

  std::array<uint8_t, kTicketKeyNameLen> name{};
  std::array<uint8_t, kTicketAesKeyLen> key{};
  uint64_t created_ms = 0;  // when it became the current key
};

// The ticket keys of a listener: the current key seals, the current and
// the previous key open. Thread-safe (a mutex; handshake threads only,
// never a worker). Keys are wiped when rotated out and on destruction.
//
// Key file (binary, all integers big-endian, through ByteWriter):
//   "DPTLSTK1"                 8-byte magic and format version
//   u8 count                   1 (current only) or 2 (current, previous)
//   count x { name[16] key[32] u64 created_ms }
// and nothing after. Written 0600 (whatever the umask) to a fresh
// `path`.tmp and renamed over `path`, so a reader never sees half a file.
// Read only when it is a regular file (a symbolic link is followed) owned
// by the effective uid with no access for group or others: it decrypts
// every ticket. Every instance that loads the same
// file seals and opens with the same keys; whichever instance rotates must
// save it again (the others reload).
class TicketKeys {
 public:
  // A fresh random current key created at `now_ms`, no previous key.
  // `rotation_interval_ms` (> 0) is how long a key seals before rotate()
  // replaces it. Returns nullptr with *error set when RAND_bytes fails or
  // the interval is 0.
  static std::shared_ptr<TicketKeys> generate(uint64_t now_ms,
                                              uint64_t rotation_interval_ms,
                                              std::string* error);
  // Reads a key file (format above). Returns nullptr with *error saying
  // what is wrong ("cannot open ...", "... is not a regular file", "... is
  // owned by uid N, not by uid M that runs dptls: chown M 'path'",
  // "permissions 0644 for 'path' are too open: ... chmod 600 'path'", "bad
  // magic", "bad key count", "truncated", "trailing bytes") otherwise.
  static std::shared_ptr<TicketKeys> load(const std::string& path,
                                          uint64_t rotation_interval_ms,
                                          std::string* error);
  // Writes the key file. false with *error set on any I/O failure (the old
  // file, if any, is then unchanged).
  bool save(const std::string& path, std::string* error) const;

  // The schedule: when the current key is at least the rotation interval
  // old at `now_ms`, it becomes the previous key (the old previous key is
  // wiped, so its tickets no longer open) and a fresh random key becomes
  // current. Returns true when it rotated. false when it was not due, or
  // when RAND_bytes failed (the keys are then unchanged).
  bool rotate(uint64_t now_ms);

  // Takes the keys of a key file another instance rotated and saved
  // (load()'s checks); the keys held until now are wiped. false with
  // *error set, and the keys unchanged, when the file is not valid.
  bool reload(const std::string& path, std::string* error);

  // Seals `contents` into *out (resized to contents + kTicketOverhead)
  // under the current key with a random nonce. false on a libcrypto
  // failure (*out is then empty).
  bool seal(std::span<const uint8_t> contents, std::vector<uint8_t>* out) const;
  // Opens a sealed ticket into *out. false (and *out empty) when the key
  // name is neither the current nor the previous key, the ticket is too
  // short, or the tag does not verify.
  bool open(std::span<const uint8_t> ticket, std::vector<uint8_t>* out) const;

  // The current key's name (for tests and diagnostics).
  std::array<uint8_t, kTicketKeyNameLen> current_name() const;
  // Whether a previous key is held.
  bool has_previous() const;

 private:
  TicketKeys() = default;

  mutable std::mutex mu_;
  TicketKey current_;
  TicketKey previous_;
  bool has_previous_ = false;
  uint64_t interval_ms_ = 0;
};

// The tickets already used for 0-RTT (RFC 8446 section 8.1), shared by
// every handshake thread of the listeners that share the ticket keys
// (thread-safe: a mutex). Entries are a digest of the ticket and the time
// after which a ClientHello carrying it is no longer fresh (8.3), so a
// replay is refused by the freshness check anyway and the entry can go.
// Bounded: when full of entries that are still live, a new ticket is not
// recorded and its 0-RTT is refused (fails closed; never accepted twice).
// Across processes or machines the cache is not shared: each instance
// must have its own ticket keys for 0-RTT to stay single-use (8.1).
class EarlyDataReplayCache {
 public:
  // `max_entries` > 0.
  explicit EarlyDataReplayCache(size_t max_entries = 65536)
      : max_entries_(max_entries == 0 ? 1 : max_entries) {}

  // Records the first 0-RTT use of `ticket` (the PSK identity bytes), to
  // be remembered until `expires_ms`. Returns true when it was not seen
  // before (0-RTT may be accepted); false when it was (a replay) or when
  // the cache is full of live entries. Expired entries are dropped as it
  // goes, at `now_ms`.
  bool first_use(std::span<const uint8_t> ticket, uint64_t now_ms,
                 uint64_t expires_ms);
  // Entries held (for tests and metrics).
  size_t size() const;

 private:
  using Digest = std::array<uint8_t, 16>;
  void expire(uint64_t now_ms);

  mutable std::mutex mu_;
  size_t max_entries_;
  // digest -> expiry, and expiry -> digest for expiring in order.
  std::map<Digest, uint64_t> entries_;
  std::multimap<uint64_t, Digest> by_expiry_;
};

// What a ticket carries (RFC 8446 section 4.6.1): enough to resume and to
// check the ticket's use. The PSK is wiped by the destructor.
struct TicketContents {
  uint16_t version = 0x0304;
  uint16_t cipher_suite = 0;
  // HKDF-Expand-Label(resumption_master_secret, "resumption",
  // ticket_nonce, Hash.length).
  Secret psk;
  uint64_t issued_ms = 0;
  uint32_t age_add = 0;
  uint32_t lifetime_s = 0;
  std::string alpn;         // at most 255 bytes
  std::string server_name;  // at most 255 bytes
  // The verified client certificate's identity (client authentication),
  // empty without one: the subject and the subjectAltNames (each at most
  // 2^16 - 1 bytes).
  std::string client_subject;
  std::vector<std::string> client_sans;
  // What that identity was verified against: the issuing server's
  // ServerContext::client_trust() (empty without client authentication).
  // A server whose client CAs differ does not resume the ticket.
  std::string client_trust;
};

// Encodes `contents` and seals it with `keys`. false when a field is out
// of its range or sealing fails; *out is then empty.
bool seal_ticket(const TicketKeys& keys, const TicketContents& contents,
                 std::vector<uint8_t>* out);
// Opens and decodes a ticket. false when it does not open (see
// TicketKeys::open) or its contents are malformed or of another format;
// *out is then unspecified (its PSK empty). The plaintext copy is wiped.
bool open_ticket(const TicketKeys& keys, std::span<const uint8_t> ticket,
                 TicketContents* out);

}  // namespace dptls::tls
