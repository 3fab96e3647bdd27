// The worker's TLS 1.3 record engine (RFC 8446 section 5): frames records
// out of the received stream where they lie, opens every record of a burst,
// from every connection, in one batched AEAD call, and seals outgoing records
// in one call too. Handles the inner content type and padding, the plaintext
// and record_size_limit bounds, KeyUpdate both ways (section 4.6.3),
// close_notify and alerts.
//
// Sans-IO: bytes come in as RxChunks, records go out as bytes in buffers the
// caller supplies; nothing here allocates, throws, locks or makes a syscall
// after the engine is constructed. One engine per worker thread, with that
// thread's AEAD backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/hkdf.h"
#include "dptls/tls/record.h"
#include "dptls/tls/rx_stream.h"

namespace dptls::tls {

// X(counter) — every counter of RecordStats, for metrics.
#define DPTLS_RECORD_COUNTERS(X) \
  X(records_opened)              \
  X(records_sealed)              \
  X(plaintext_bytes_opened)      \
  X(plaintext_bytes_sealed)      \
  X(open_batches)                \
  X(seal_batches)                \
  X(auth_failures)               \
  X(speculative_retries)         \
  X(key_updates_received)        \
  X(key_updates_sent)            \
  X(alerts_received)             \
  X(alerts_sent)                 \
  X(close_notify_received)       \
  X(record_overflows)            \
  X(decode_errors)               \
  X(unexpected_messages)         \
  X(post_handshake_messages)

struct RecordStats {
#define DPTLS_X(name) uint64_t name = 0;
  DPTLS_RECORD_COUNTERS(DPTLS_X)
#undef DPTLS_X
};

// How big the records we send are. kFixed: always `fixed_size` (capped by the
// protocol and the peer's limit). kDynamic: after the connection starts or
// has been idle for `idle_reset_ns`, the first `small_bytes` go out in
// records of `small_size`, which fit one TCP segment so the peer can
// decrypt the first bytes of a response without waiting for 16 KB; then
// records grow to the maximum for throughput.
struct RecordSizePolicy {
  enum class Mode : uint8_t { kFixed, kDynamic };
  Mode mode = Mode::kDynamic;
  uint32_t fixed_size = kMaxPlaintext;
  // 1500-byte MTU: 1460 MSS - 12 timestamps - 22 record overhead - slack.
  uint32_t small_size = 1400;
  uint32_t small_bytes = 64 * 1024;
  uint64_t idle_reset_ns = 1'000'000'000;
};

struct RecordConfig {
  // Records per AEAD call; collect() stops at this many.
  uint32_t max_batch = 256;
  RecordSizePolicy record_size;
  // Records sent under one key before the engine asks for a KeyUpdate
  // (needs_key_update()). 0 means half the AEAD's limit (RFC 8446 section
  // 5.5), e.g. 2^23.5 for AES-GCM.
  uint64_t key_update_after_records = 0;
};

// One direction's keys as the handshake hands them over: the traffic secret
// (the key and IV are derived from it, and KeyUpdate needs it) and the next
// sequence number (NewSessionTicket records the handshake thread sent count).
struct DirectionSecret {
  std::span<const uint8_t> traffic_secret;
  uint64_t next_seq = 0;
};

// The record state of one connection. Lives in the connection's slot; fixed
// size. Owned by one worker.
class RecordConn {
 public:
  RecordConn() = default;
  RecordConn(const RecordConn&) = delete;
  RecordConn& operator=(const RecordConn&) = delete;

  // The stream the transport feeds (push) and the engine frames.
  RxStream rx;
  // Free for the owner (the worker's connection handle).
  void* user = nullptr;

  // True once install() succeeded and until the connection failed.
  bool established() const { return suite_ != nullptr && !failed_; }
  bool failed() const { return failed_; }
  // The peer sent close_notify: nothing more will be read.
  bool rx_closed() const { return rx_closed_; }
  // We sent close_notify or a fatal alert: nothing more will be sealed.
  bool tx_closed() const { return tx_closed_; }
  // The peer asked for a KeyUpdate that has not been sent yet.
  bool key_update_owed() const { return key_update_owed_; }
  uint64_t rx_seq() const { return rx_seq_; }
  uint64_t tx_seq() const { return tx_seq_; }
  const CipherSuiteInfo* suite() const { return suite_; }

  // Wipes every key and secret and returns to the empty state; releases the
  // stream's pieces.
  void reset(ReleaseFn release, void* ctx);

 private:
  friend class RecordEngine;

  const CipherSuiteInfo* suite_ = nullptr;
  crypto::AeadKey rx_key_;
  crypto::AeadKey tx_key_;
  Secret rx_secret_;
  Secret tx_secret_;
  uint8_t rx_iv_[crypto::kAeadNonceLen] = {};
  uint8_t tx_iv_[crypto::kAeadNonceLen] = {};
  uint64_t rx_seq_ = 0;
  uint64_t tx_seq_ = 0;
  // Largest TLSInnerPlaintext (content + type + padding) each way.
  uint32_t rx_inner_limit_ = kMaxPlaintext + 1;
  uint32_t tx_inner_limit_ = kMaxPlaintext + 1;
  // Records of this connection in the open batch being built.
  uint32_t queued_ = 0;
  // Dynamic record sizing: bytes sealed since the window began, and when
  // the last record was sized.
  uint32_t window_bytes_ = 0;
  uint64_t last_sized_ns_ = 0;
  bool failed_ = false;
  bool rx_closed_ = false;
  bool tx_closed_ = false;
  bool key_update_owed_ = false;
  // The receive key changed in the current open_flush() round.
  bool rekeyed_ = false;
  // A malformed header was framed; nothing after it is.
  bool stop_framing_ = false;
};

// What the engine tells the layer above, in record order per connection.
// Every span is borrowed until the callback returns.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Application data (possibly empty: a zero-length record).
  virtual void on_data(RecordConn& conn,
                       std::span<const crypto::IoSegment> data) = 0;
  // A post-handshake message other than KeyUpdate, whole (type, length,
  // body): a NewSessionTicket on a client; for the control plane.
  virtual void on_post_handshake(RecordConn& conn,
                                 std::span<const uint8_t> message) = 0;
  // The peer updated its sending key; when `respond` is set it asked for
  // ours to be updated too: call RecordEngine::write_key_update().
  virtual void on_key_update(RecordConn& conn, bool respond) = 0;
  // The peer sent close_notify.
  virtual void on_close_notify(RecordConn& conn) = 0;
  // The connection failed. from_peer: the peer sent this fatal alert.
  // Otherwise the engine found the error and the caller should send `alert`
  // (write_alert()) and close. No further callback comes for the connection.
  virtual void on_error(RecordConn& conn, Alert alert, bool from_peer) = 0;
};

class RecordEngine {
 public:
  // Bytes a sealed record adds to its plaintext: header, inner content type
  // and tag (padding comes on top).
  static constexpr size_t kSealOverhead =
      kRecordHeaderLen + 1 + crypto::kAeadTagLen;

  // Sizes the batches (start-up allocation). `backend` must outlive the
  // engine and belong to the calling thread.
  RecordEngine(crypto::AeadBackend& backend, const RecordConfig& config);
  ~RecordEngine();
  RecordEngine(const RecordEngine&) = delete;
  RecordEngine& operator=(const RecordEngine&) = delete;

  // The hand-off: installs both directions' traffic keys. record size limits
  // are the RFC 8449 values (0 = none negotiated): `peer_limit` bounds what
  // we send, `own_limit` what we accept. Returns false, leaving `conn`
  // unchanged, for an unknown suite or a secret of the wrong length. Does
  // not keep the secrets' spans.
  bool install(RecordConn& conn, CipherSuite suite, const DirectionSecret& rx,
               const DirectionSecret& tx, uint16_t peer_limit = 0,
               uint16_t own_limit = 0);

  // ---- receive ----

  // Frames every complete record buffered in conn.rx into the open batch.
  // Returns how many were added; stops early when the batch is full (flush
  // and call again). A malformed header fails the connection, reported in
  // order by open_flush().
  size_t collect(RecordConn& conn);
  bool open_batch_full() const { return open_count_ >= config_.max_batch; }
  size_t open_batch_size() const { return open_count_; }

  // Opens every collected record with one AEAD call (plus one more per
  // round of records that must be opened again after a KeyUpdate), then
  // delivers them to `sink` in order and consumes their bytes from each
  // connection's stream (pieces go to `release`).
  void open_flush(RecordSink& sink, ReleaseFn release, void* release_ctx);

  // ---- send ----

  // The most plaintext one record may carry for `conn` (2^14, or less under
  // the peer's record_size_limit).
  size_t max_record_plaintext(const RecordConn& conn) const;
  // The plaintext size for the next record to `conn` under the configured
  // RecordSizePolicy, at time `now_ns` (any monotonic clock in ns).
  size_t next_record_size(RecordConn& conn, uint64_t now_ns) const;

  // Queues one record for sealing. `buf` holds kRecordHeaderLen bytes of
  // room, then `len` bytes of plaintext, then room for the content type,
  // `padding` zeros and the tag: `cap` >= len + padding + kSealOverhead.
  // Returns the record's length (send that many bytes of `buf` after
  // seal_flush()), or 0 when refused: tx closed, len over
  // max_record_plaintext(), cap too small, or the sequence number exhausted.
  // Records must be sent in the order they were queued.
  size_t queue_seal(RecordConn& conn, ContentType type, uint8_t* buf,
                    size_t len, size_t cap, size_t padding = 0);
  // Seals every queued record in one AEAD call; returns how many.
  size_t seal_flush();

  // True when `conn` owes a KeyUpdate: the peer asked, or the records sent
  // under the current key reached the configured limit.
  bool needs_key_update(const RecordConn& conn) const;
  // Flushes queued seals, then writes and seals a KeyUpdate record into buf
  // (cap >= 5 + kSealOverhead) and moves the send direction to the next
  // traffic secret. Returns the record length, 0 when refused.
  size_t write_key_update(RecordConn& conn, uint8_t* buf, size_t cap,
                          bool request_peer_update);
  // Flushes queued seals, then writes and seals an alert record and closes
  // the send direction. Returns the record length, 0 when refused.
  size_t write_alert(RecordConn& conn, Alert alert, uint8_t* buf, size_t cap);

  const RecordStats& stats() const { return stats_; }

 private:
  struct PendingOpen;
  struct PendingSeal;

  bool queue_error(RecordConn& conn, Alert alert);
  void fail(RecordConn& conn, Alert alert, RecordSink& sink);
  // Builds the AEAD op of open_[i] with the connection's current key and
  // the given sequence number.
  void prepare_open(size_t i, uint64_t seq, bool speculative);
  // Delivers one opened record; returns false if the connection failed.
  bool deliver(PendingOpen& p, RecordSink& sink);
  bool deliver_handshake(RecordConn& conn,
                         std::span<const crypto::IoSegment> content, size_t len,
                         RecordSink& sink);
  bool rekey(crypto::AeadKey& key, uint8_t (&iv)[crypto::kAeadNonceLen],
             Secret& secret, const CipherSuiteInfo& suite);
  uint64_t key_update_limit(const RecordConn& conn) const;

  crypto::AeadBackend& backend_;
  RecordConfig config_;
  RecordStats stats_;

  std::vector<PendingOpen> open_;
  std::vector<crypto::AeadOp> open_ops_;
  size_t open_count_ = 0;

  std::vector<PendingSeal> seal_;
  std::vector<crypto::AeadOp> seal_ops_;
  size_t seal_count_ = 0;

  // Connections whose receive key changed in the current round.
  std::vector<RecordConn*> rekeyed_;
  // A handshake message gathered out of its segments.
  std::vector<uint8_t> scratch_;
};

}  // namespace dptls::tls
