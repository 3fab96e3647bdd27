// The control plane's record layer for the TLS 1.3 handshake epochs (RFC
// 8446 section 5): it frames the raw records a worker forwards, drops the
// middlebox-compatibility change_cipher_spec, opens records protected with
// the handshake traffic keys, skips rejected 0-RTT records, reassembles
// handshake messages fragmented across records or coalesced in one, and
// writes the server's plaintext and protected records.
//
// Sans-IO: bytes in through push(), whole records out into a caller's
// vector. Allocates (std::vector) — it runs on a handshake thread, never on
// a worker. Keys are expanded with the caller's AeadBackend (one per
// handshake thread) and wiped by reset() and the destructor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/record.h"

namespace dptls::tls {

// X(enumerator, printable name)
#define DPTLS_HS_READ_STATUSES(X)                                    \
  X(kMessage, "message")      /* *msg holds one handshake message */ \
  X(kNeedMore, "need-more")   /* every buffered byte consumed */     \
  X(kPeerAlert, "peer-alert") /* *alert is what the peer sent */     \
  X(kError, "error")          /* *alert is what to send */

enum class HsReadStatus : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_HS_READ_STATUSES(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name ("peer-alert"), or "unknown".
std::string_view hs_read_status_name(HsReadStatus status);

// How 0-RTT data the server rejects is skipped (RFC 8446 section 4.2.10).
// kUndecryptable: after a ServerHello, records that fail to open under the
// handshake key are dropped, up to the budget. kApplicationData: after a
// HelloRetryRequest, application_data records in the plaintext epoch are
// dropped, up to the budget. X(enumerator, printable name)
#define DPTLS_EARLY_DATA_SKIPS(X)    \
  X(kNone, "none")                   \
  X(kUndecryptable, "undecryptable") \
  X(kApplicationData, "application-data")

enum class EarlyDataSkip : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_EARLY_DATA_SKIPS(DPTLS_X)
#undef DPTLS_X
};

std::string_view early_data_skip_name(EarlyDataSkip mode);

class HandshakeRecordLayer {
 public:
  // `backend` must outlive the layer and belong to the calling thread.
  explicit HandshakeRecordLayer(crypto::AeadBackend& backend);
  ~HandshakeRecordLayer();
  HandshakeRecordLayer(const HandshakeRecordLayer&) = delete;
  HandshakeRecordLayer& operator=(const HandshakeRecordLayer&) = delete;

  // Appends received bytes, cut anywhere (copied).
  void push(std::span<const uint8_t> bytes);

  // Returns the next whole handshake message (type, length, body) read
  // under the current read epoch. On kMessage, *msg is valid until the next
  // call to next_message() or push(). Messages larger than `max_len` are a
  // decode_error. On kError and kPeerAlert the layer is done: later calls
  // repeat the status.
  HsReadStatus next_message(size_t max_len, std::span<const uint8_t>* msg,
                            Alert* alert);

  // True when no partial handshake message is buffered: a key change must
  // happen at a record boundary (RFC 8446 section 5.1).
  bool at_record_boundary() const { return hs_pos_ == hs_buf_.size(); }

  // Switches the read direction to records protected with `secret` (a
  // handshake or application traffic secret of `suite`), sequence number 0.
  // Returns false (the read side is then unusable) on a derivation or key
  // failure.
  bool set_read_secret(const CipherSuiteInfo& suite,
                       std::span<const uint8_t> secret);
  // As set_read_secret(), for the write direction, starting at sequence
  // number `seq` (a client going back to its early key for
  // EndOfEarlyData, RFC 8446 section 4.5).
  bool set_write_secret(const CipherSuiteInfo& suite,
                        std::span<const uint8_t> secret, uint64_t seq = 0);
  // Back to plaintext writes (a client's second ClientHello after 0-RTT
  // records, section 4.1.2).
  void clear_write_secret() {
    write_key_.release();
    crypto::secure_wipe(write_iv_, sizeof(write_iv_));
    write_seq_ = 0;
  }

  // The largest TLSInnerPlaintext accepted in a protected record (RFC 8449:
  // our advertised record_size_limit); 2^14 + 1 by default.
  void set_read_limit(uint32_t inner_limit) { read_inner_limit_ = inner_limit; }
  // The largest TLSInnerPlaintext to send (RFC 8449: the peer's limit).
  void set_write_limit(uint32_t inner_limit) {
    write_inner_limit_ = inner_limit;
  }
  // Starts skipping rejected early data of at most `budget` bytes of
  // record payload.
  void skip_early_data(EarlyDataSkip mode, size_t budget) {
    skip_mode_ = mode;
    skip_budget_ = budget;
  }

  // Accepts 0-RTT (RFC 8446 section 4.2.10): from now on, application_data
  // records that open under the current read key (the
  // client_early_traffic_secret) have their content appended to *sink
  // (borrowed until stop_early_data() or reset()), at most `max_bytes` in
  // all; more is an unexpected_message (4.2.10). Handshake records
  // (EndOfEarlyData) are read as usual.
  void accept_early_data(std::vector<uint8_t>* sink, size_t max_bytes) {
    early_sink_ = sink;
    early_left_ = max_bytes;
  }
  // Ends 0-RTT: application_data is refused again (before the read key
  // changes to the client's handshake key, at EndOfEarlyData).
  void stop_early_data() {
    early_sink_ = nullptr;
    early_left_ = 0;
  }

  // Writes `content` as records of `type` under the current write epoch:
  // plaintext records (at most 2^14 bytes each) before set_write_secret(),
  // protected ones after. Appends whole records to *out. Returns false on
  // an AEAD failure (nothing is appended then).
  bool write(ContentType type, std::span<const uint8_t> content,
             std::vector<uint8_t>* out);
  // Writes the middlebox-compatibility change_cipher_spec record (RFC 8446
  // appendix D.4), always in plaintext.
  void write_change_cipher_spec(std::vector<uint8_t>* out);
  // Writes a fatal (or, for close_notify and user_canceled, warning) alert
  // under the current write epoch.
  void write_alert(Alert alert, std::vector<uint8_t>* out);

  // Protected records written under the current write secret (the next
  // write sequence number).
  uint64_t write_seq() const { return write_seq_; }
  // True once a write secret is installed.
  bool write_protected() const { return write_key_.ready(); }

  // Moves every received byte not yet read (raw records after the last one
  // read, e.g. the ones after the client's Finished) into *out, and empties
  // the input buffer.
  void take_unread(std::vector<uint8_t>* out);

  // Wipes the keys and the buffers.
  void reset();

 private:
  // Frames and processes one record. kMessage means "a record was
  // consumed; look for a message again".
  HsReadStatus read_record(Alert* alert);
  HsReadStatus open_record(std::span<const uint8_t> header,
                           std::span<const uint8_t> body, Alert* alert);
  HsReadStatus fail(HsReadStatus status, Alert alert, Alert* out);
  void compact();

  crypto::AeadBackend& backend_;
  crypto::AeadKey read_key_;
  crypto::AeadKey write_key_;
  uint8_t read_iv_[crypto::kAeadNonceLen] = {};
  uint8_t write_iv_[crypto::kAeadNonceLen] = {};
  uint64_t read_seq_ = 0;
  uint64_t write_seq_ = 0;
  uint32_t read_inner_limit_ = kMaxPlaintext + 1;
  uint32_t write_inner_limit_ = kMaxPlaintext + 1;

  std::vector<uint8_t> in_;  // received, from in_pos_ on unread
  size_t in_pos_ = 0;
  std::vector<uint8_t> hs_buf_;  // handshake bytes, from hs_pos_ on unread
  size_t hs_pos_ = 0;
  std::vector<uint8_t> scratch_;  // one record being opened or sealed

  EarlyDataSkip skip_mode_ = EarlyDataSkip::kNone;
  size_t skip_budget_ = 0;
  // Accepted 0-RTT data goes here (nullptr: not accepting).
  std::vector<uint8_t>* early_sink_ = nullptr;
  size_t early_left_ = 0;
  bool handshake_seen_ = false;  // a handshake record arrived
  bool ccs_seen_ = false;
  // Sticky end state.
  HsReadStatus final_status_ = HsReadStatus::kNeedMore;
  Alert final_alert_ = Alert::kCloseNotify;
};

}  // namespace dptls::tls
