#include "dptls/tls/record_engine.h"

#include <algorithm>
#include <cstring>

#include "dptls/tls/key_schedule.h"

namespace dptls::tls {

using crypto::AeadDir;
using crypto::AeadOp;
using crypto::AeadStatus;
using crypto::IoSegment;
using crypto::kAeadNonceLen;
using crypto::kAeadTagLen;

// One record framed out of a connection's stream, or an error to report in
// its place.
struct RecordEngine::PendingOpen {
  RecordConn* conn = nullptr;
  // Bytes the record occupies in the stream (header included); 0 for an
  // error entry.
  uint32_t record_len = 0;
  Alert error = Alert::kCloseNotify;
  bool is_error = false;
  // Not the first of its connection in this round: opened speculatively, in
  // case an earlier record of the round is a KeyUpdate.
  bool speculative = false;
  uint8_t nsegs = 0;
  uint8_t header[kRecordHeaderLen];
  uint8_t tag[kAeadTagLen];
  uint8_t nonce[kAeadNonceLen];
  IoSegment segs[RxStream::kMaxChunks];
};

struct RecordEngine::PendingSeal {
  uint8_t nonce[kAeadNonceLen];
  IoSegment seg;
};

namespace {

// Derives key and IV for `suite` from `secret` into `key`/`iv`.
bool install_direction(crypto::AeadBackend& backend,
                       const CipherSuiteInfo& suite,
                       std::span<const uint8_t> secret, crypto::AeadKey& key,
                       uint8_t (&iv)[kAeadNonceLen]) {
  TrafficKeys keys;
  if (derive_traffic_keys(suite.hash, suite.aead, secret, &keys) !=
      KdfStatus::kOk) {
    return false;
  }
  const bool ok =
      backend.init_key(key, suite.aead, keys.key_span()) == AeadStatus::kOk;
  std::memcpy(iv, keys.iv.data(), kAeadNonceLen);
  keys.wipe();
  return ok;
}

// Total length of a segment list.
size_t total_len(std::span<const IoSegment> segs) {
  size_t n = 0;
  for (const IoSegment& s : segs) {
    n += s.len;
  }
  return n;
}

// Finds the TLSInnerPlaintext's content type: the last non-zero byte (RFC
// 8446 section 5.4). Sets *content_len to the bytes before it. Returns
// kInvalid when every byte is zero.
ContentType inner_type(std::span<const IoSegment> segs, size_t* content_len) {
  size_t end = total_len(segs);
  for (size_t i = segs.size(); i-- > 0;) {
    const IoSegment& s = segs[i];
    for (size_t j = s.len; j-- > 0;) {
      --end;
      if (s.data[j] != 0) {
        *content_len = end;
        return static_cast<ContentType>(s.data[j]);
      }
    }
  }
  *content_len = 0;
  return ContentType::kInvalid;
}

// Copies the first out.size() bytes of `segs`.
void gather(std::span<const IoSegment> segs, std::span<uint8_t> out) {
  size_t done = 0;
  for (const IoSegment& s : segs) {
    if (done == out.size()) {
      break;
    }
    const size_t n = std::min(s.len, out.size() - done);
    std::memcpy(out.data() + done, s.data, n);
    done += n;
  }
}

// Trims a segment list to its first `len` bytes; returns the new count.
size_t trim(std::span<IoSegment> segs, size_t len) {
  size_t n = 0;
  for (IoSegment& s : segs) {
    if (len == 0) {
      break;
    }
    s.len = std::min(s.len, len);
    len -= s.len;
    ++n;
  }
  return n;
}

}  // namespace

void RecordConn::reset(ReleaseFn release, void* ctx) {
  rx.clear(release, ctx);
  rx_key_.release();
  tx_key_.release();
  rx_secret_.wipe();
  tx_secret_.wipe();
  crypto::secure_wipe(rx_iv_, sizeof(rx_iv_));
  crypto::secure_wipe(tx_iv_, sizeof(tx_iv_));
  suite_ = nullptr;
  rx_seq_ = tx_seq_ = 0;
  rx_inner_limit_ = tx_inner_limit_ = kMaxPlaintext + 1;
  queued_ = 0;
  window_bytes_ = 0;
  last_sized_ns_ = 0;
  failed_ = rx_closed_ = tx_closed_ = key_update_owed_ = rekeyed_ = false;
  stop_framing_ = false;
}

RecordEngine::RecordEngine(crypto::AeadBackend& backend,
                           const RecordConfig& config)
    : backend_(backend),
      config_(config),
      open_(std::max<uint32_t>(config.max_batch, 1)),
      open_ops_(open_.size()),
      seal_(open_.size()),
      seal_ops_(open_.size()),
      scratch_(kMaxPlaintext + 1) {
  config_.max_batch = static_cast<uint32_t>(open_.size());
  // At most one KeyUpdate per connection per round (later records wait).
  rekeyed_.reserve(open_.size());
}

RecordEngine::~RecordEngine() = default;

bool RecordEngine::install(RecordConn& conn, CipherSuite suite,
                           const DirectionSecret& rx, const DirectionSecret& tx,
                           uint16_t peer_limit, uint16_t own_limit) {
  const CipherSuiteInfo* info = cipher_suite_info(suite);
  if (info == nullptr || rx.traffic_secret.size() != hash_len(info->hash) ||
      tx.traffic_secret.size() != hash_len(info->hash)) {
    return false;
  }
  if (!install_direction(backend_, *info, rx.traffic_secret, conn.rx_key_,
                         conn.rx_iv_) ||
      !install_direction(backend_, *info, tx.traffic_secret, conn.tx_key_,
                         conn.tx_iv_) ||
      !conn.rx_secret_.assign(rx.traffic_secret) ||
      !conn.tx_secret_.assign(tx.traffic_secret)) {
    conn.rx_key_.release();
    conn.tx_key_.release();
    conn.rx_secret_.wipe();
    conn.tx_secret_.wipe();
    return false;
  }
  conn.suite_ = info;
  conn.rx_seq_ = rx.next_seq;
  conn.tx_seq_ = tx.next_seq;
  // RFC 8449 section 4: in TLS 1.3 the limit counts the content type and
  // padding; it never raises the protocol's own 2^14 + 1.
  auto limit = [](uint16_t v) -> uint32_t {
    return v == 0 ? kMaxPlaintext + 1
                  : std::min<uint32_t>(v, kMaxPlaintext + 1);
  };
  conn.tx_inner_limit_ = limit(peer_limit);
  conn.rx_inner_limit_ = limit(own_limit);
  conn.failed_ = conn.rx_closed_ = conn.tx_closed_ = false;
  conn.key_update_owed_ = conn.rekeyed_ = conn.stop_framing_ = false;
  return true;
}

// ---- receive ----

bool RecordEngine::queue_error(RecordConn& conn, Alert alert) {
  PendingOpen& p = open_[open_count_++];
  p.conn = &conn;
  p.is_error = true;
  p.error = alert;
  p.record_len = 0;
  ++conn.queued_;
  // Nothing more is framed for this connection; it fails when the entry is
  // delivered, after the records before it.
  conn.stop_framing_ = true;
  return false;
}

size_t RecordEngine::collect(RecordConn& conn) {
  size_t added = 0;
  while (conn.established() && !conn.stop_framing_ && !conn.rx_closed_ &&
         open_count_ < config_.max_batch &&
         conn.rx.uncut() >= kRecordHeaderLen) {
    uint8_t header[kRecordHeaderLen];
    conn.rx.peek(0, header);
    const size_t length = (size_t{header[3]} << 8) | header[4];
    // After the handshake only protected records may arrive (RFC 8446
    // section 5: a change_cipher_spec after Finished, or any other outer
    // type, is an unexpected_message).
    if (header[0] != static_cast<uint8_t>(ContentType::kApplicationData)) {
      ++stats_.unexpected_messages;
      queue_error(conn, Alert::kUnexpectedMessage);
      break;
    }
    if (length > kMaxCiphertext13 ||
        length - kAeadTagLen > conn.rx_inner_limit_) {
      ++stats_.record_overflows;
      queue_error(conn, Alert::kRecordOverflow);
      break;
    }
    // Too short for a tag and a content type: it cannot authenticate.
    if (length < kAeadTagLen + 1) {
      ++stats_.auth_failures;
      queue_error(conn, Alert::kBadRecordMac);
      break;
    }
    if (conn.rx.uncut() < kRecordHeaderLen + length) {
      break;  // the rest has not arrived yet
    }
    PendingOpen& p = open_[open_count_];
    const size_t body = length - kAeadTagLen;
    const size_t nsegs = conn.rx.segments(kRecordHeaderLen, body, p.segs);
    if (nsegs == 0) {
      // More pieces than a record may span: the layer below did not
      // coalesce small segments.
      queue_error(conn, Alert::kInternalError);
      break;
    }
    p.conn = &conn;
    p.is_error = false;
    p.record_len = static_cast<uint32_t>(kRecordHeaderLen + length);
    p.nsegs = static_cast<uint8_t>(nsegs);
    std::memcpy(p.header, header, kRecordHeaderLen);
    conn.rx.peek(kRecordHeaderLen + body, p.tag);
    conn.rx.cut(p.record_len);
    prepare_open(open_count_, conn.rx_seq_ + conn.queued_, conn.queued_ != 0);
    ++conn.queued_;
    ++open_count_;
    ++added;
  }
  return added;
}

void RecordEngine::prepare_open(size_t i, uint64_t seq, bool speculative) {
  PendingOpen& p = open_[i];
  RecordConn& conn = *p.conn;
  p.speculative = speculative;
  record_nonce(conn.rx_iv_, seq, p.nonce);
  AeadOp& op = open_ops_[i];
  op = AeadOp{};
  op.key = &conn.rx_key_;
  op.dir = AeadDir::kOpen;
  op.nonce = p.nonce;
  op.aad = p.header;
  op.segs = std::span<const IoSegment>(p.segs, p.nsegs);
  op.tag = p.tag;
  op.on_auth_failure = speculative ? crypto::AeadFailPolicy::kRestoreCiphertext
                                   : crypto::AeadFailPolicy::kWipe;
}

void RecordEngine::fail(RecordConn& conn, Alert alert, RecordSink& sink) {
  conn.failed_ = true;
  sink.on_error(conn, alert, false);
}

void RecordEngine::open_flush(RecordSink& sink, ReleaseFn release,
                              void* release_ctx) {
  while (open_count_ != 0) {
    // Error entries carry no op; an empty one is refused at once.
    for (size_t i = 0; i < open_count_; ++i) {
      if (open_[i].is_error) {
        open_ops_[i] = AeadOp{};
      }
    }
    ++stats_.open_batches;
    backend_.run(std::span<AeadOp>(open_ops_.data(), open_count_));

    // Deliver in order. A connection that received a KeyUpdate in this
    // round has its later records (opened under the old key, failed, and
    // restored) moved to the front for the next round.
    size_t retry = 0;
    for (size_t i = 0; i < open_count_; ++i) {
      PendingOpen& p = open_[i];
      RecordConn& conn = *p.conn;
      const AeadStatus status = open_ops_[i].status;
      --conn.queued_;
      if (conn.failed_) {
        continue;
      }
      if (conn.rekeyed_) {
        if (!p.is_error && status == AeadStatus::kOk) {
          // Authenticated under the replaced key: cannot happen unless the
          // peer reused a key; never deliver it.
          fail(conn, Alert::kInternalError, sink);
          continue;
        }
        stats_.speculative_retries += p.is_error ? 0 : 1;
        open_[retry++] = p;
        continue;
      }
      if (p.is_error) {
        fail(conn, p.error, sink);
      } else if (status != AeadStatus::kOk) {
        ++stats_.auth_failures;
        fail(conn, Alert::kBadRecordMac, sink);
      } else if (deliver(p, sink)) {
        conn.rx.consume(p.record_len, release, release_ctx);
      }
    }
    for (RecordConn* conn : rekeyed_) {
      conn->rekeyed_ = false;
    }
    rekeyed_.clear();
    // The next round: the deferred entries under their connections' new
    // keys; the first of each is no longer speculative.
    for (size_t i = 0; i < retry; ++i) {
      RecordConn& conn = *open_[i].conn;
      if (!open_[i].is_error) {
        prepare_open(i, conn.rx_seq_ + conn.queued_, conn.queued_ != 0);
      }
      ++conn.queued_;
    }
    open_count_ = retry;
  }
}

bool RecordEngine::deliver(PendingOpen& p, RecordSink& sink) {
  RecordConn& conn = *p.conn;
  ++conn.rx_seq_;
  ++stats_.records_opened;
  std::span<IoSegment> segs(p.segs, p.nsegs);
  size_t content_len = 0;
  const ContentType type = inner_type(segs, &content_len);
  const size_t nsegs = trim(segs, content_len);
  std::span<const IoSegment> content(p.segs, nsegs);
  switch (type) {
    case ContentType::kApplicationData:
      stats_.plaintext_bytes_opened += content_len;
      sink.on_data(conn, content);
      return !conn.failed_;
    case ContentType::kAlert: {
      // Exactly one two-byte alert per record (RFC 8446 section 5.1).
      if (content_len != 2) {
        ++stats_.decode_errors;
        fail(conn, Alert::kDecodeError, sink);
        return false;
      }
      uint8_t alert[2];
      gather(content, alert);
      ++stats_.alerts_received;
      if (alert[1] == static_cast<uint8_t>(Alert::kCloseNotify)) {
        ++stats_.close_notify_received;
        conn.rx_closed_ = true;
        sink.on_close_notify(conn);
        return true;
      }
      // Every other alert ends the connection in TLS 1.3 (section 6),
      // user_canceled included once close_notify does not follow it.
      conn.failed_ = true;
      sink.on_error(conn, static_cast<Alert>(alert[1]), true);
      return false;
    }
    case ContentType::kHandshake:
      return deliver_handshake(conn, content, content_len, sink);
    default:
      // change_cipher_spec inside protection, all-zero plaintext, or an
      // unknown type.
      ++stats_.unexpected_messages;
      fail(conn, Alert::kUnexpectedMessage, sink);
      return false;
  }
}

bool RecordEngine::deliver_handshake(RecordConn& conn,
                                     std::span<const IoSegment> content,
                                     size_t len, RecordSink& sink) {
  std::span<uint8_t> msgs(scratch_.data(), len);
  gather(content, msgs);
  ByteReader r(msgs);
  if (r.empty()) {
    ++stats_.unexpected_messages;
    fail(conn, Alert::kUnexpectedMessage, sink);
    return false;
  }
  while (!r.empty()) {
    const size_t start = r.position();
    uint8_t type = 0;
    ByteReader body;
    // Messages are taken whole from one record; one split across records is
    // refused (post-handshake messages are small; see docs).
    if (!r.u8(&type) || !r.prefixed24(&body)) {
      ++stats_.decode_errors;
      fail(conn, Alert::kDecodeError, sink);
      return false;
    }
    if (type != kHandshakeKeyUpdate) {
      ++stats_.post_handshake_messages;
      sink.on_post_handshake(conn, msgs.subspan(start, r.position() - start));
      if (conn.failed_) {
        return false;
      }
      continue;
    }
    uint8_t request = 0;
    if (!body.u8(&request) || !body.empty()) {
      ++stats_.decode_errors;
      fail(conn, Alert::kDecodeError, sink);
      return false;
    }
    if (request > kKeyUpdateRequested) {
      fail(conn, Alert::kIllegalParameter, sink);
      return false;
    }
    // The key changes after this message, so it must end the record
    // (section 5.1: handshake messages MUST NOT span key changes).
    if (!r.empty()) {
      ++stats_.unexpected_messages;
      fail(conn, Alert::kUnexpectedMessage, sink);
      return false;
    }
    if (!rekey(conn.rx_key_, conn.rx_iv_, conn.rx_secret_, *conn.suite_)) {
      fail(conn, Alert::kInternalError, sink);
      return false;
    }
    conn.rx_seq_ = 0;
    conn.rekeyed_ = true;
    rekeyed_.push_back(&conn);
    ++stats_.key_updates_received;
    // Answer a request once, even if several arrive before we send (section
    // 4.6.3).
    const bool respond = request == kKeyUpdateRequested;
    if (respond) {
      conn.key_update_owed_ = true;
    }
    sink.on_key_update(conn, respond);
  }
  return !conn.failed_;
}

bool RecordEngine::rekey(crypto::AeadKey& key, uint8_t (&iv)[kAeadNonceLen],
                         Secret& secret, const CipherSuiteInfo& suite) {
  Secret next;
  if (derive_next_traffic_secret(suite.hash, secret.span(), &next) !=
      KdfStatus::kOk) {
    return false;
  }
  // The old secret is wiped by the assignment (Secret wipes on overwrite).
  secret = next;
  return install_direction(backend_, suite, secret.span(), key, iv);
}

// ---- send ----

size_t RecordEngine::max_record_plaintext(const RecordConn& conn) const {
  return std::min<size_t>(kMaxPlaintext, conn.tx_inner_limit_ - 1);
}

size_t RecordEngine::next_record_size(RecordConn& conn, uint64_t now_ns) const {
  const RecordSizePolicy& p = config_.record_size;
  const size_t max = max_record_plaintext(conn);
  if (p.mode == RecordSizePolicy::Mode::kFixed) {
    return std::clamp<size_t>(p.fixed_size, 1, max);
  }
  if (conn.last_sized_ns_ == 0 ||
      now_ns - conn.last_sized_ns_ > p.idle_reset_ns) {
    conn.window_bytes_ = 0;
  }
  conn.last_sized_ns_ = now_ns == 0 ? 1 : now_ns;
  return conn.window_bytes_ < p.small_bytes
             ? std::clamp<size_t>(p.small_size, 1, max)
             : max;
}

uint64_t RecordEngine::key_update_limit(const RecordConn& conn) const {
  if (config_.key_update_after_records != 0) {
    return config_.key_update_after_records;
  }
  return conn.suite_ == nullptr ? 0 : aead_record_limit(conn.suite_->aead) / 2;
}

bool RecordEngine::needs_key_update(const RecordConn& conn) const {
  return conn.established() && !conn.tx_closed_ &&
         (conn.key_update_owed_ || conn.tx_seq_ >= key_update_limit(conn));
}

size_t RecordEngine::queue_seal(RecordConn& conn, ContentType type,
                                uint8_t* buf, size_t len, size_t cap,
                                size_t padding) {
  if (!conn.established() || conn.tx_closed_ || buf == nullptr ||
      len > max_record_plaintext(conn) ||
      len + 1 + padding > conn.tx_inner_limit_ ||
      cap < len + padding + kSealOverhead || conn.tx_seq_ == UINT64_MAX) {
    return 0;
  }
  if (seal_count_ == seal_.size()) {
    seal_flush();
  }
  const size_t inner = len + 1 + padding;
  const size_t record_len = kRecordHeaderLen + inner + kAeadTagLen;
  uint8_t header[kRecordHeaderLen];
  write_record_header(ContentType::kApplicationData,
                      static_cast<uint16_t>(inner + kAeadTagLen), header);
  std::memcpy(buf, header, kRecordHeaderLen);
  buf[kRecordHeaderLen + len] = static_cast<uint8_t>(type);
  if (padding != 0) {
    std::memset(buf + kRecordHeaderLen + len + 1, 0, padding);
  }
  PendingSeal& s = seal_[seal_count_];
  record_nonce(conn.tx_iv_, conn.tx_seq_++, s.nonce);
  s.seg = IoSegment{buf + kRecordHeaderLen, inner};
  AeadOp& op = seal_ops_[seal_count_];
  op = AeadOp{};
  op.key = &conn.tx_key_;
  op.dir = AeadDir::kSeal;
  op.nonce = s.nonce;
  op.aad = std::span<const uint8_t>(buf, kRecordHeaderLen);
  op.segs = std::span<const IoSegment>(&s.seg, 1);
  op.tag = buf + kRecordHeaderLen + inner;
  ++seal_count_;
  ++stats_.records_sealed;
  stats_.plaintext_bytes_sealed += len;
  conn.window_bytes_ = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{conn.window_bytes_} + len, UINT32_MAX));
  return record_len;
}

size_t RecordEngine::seal_flush() {
  if (seal_count_ == 0) {
    return 0;
  }
  ++stats_.seal_batches;
  const size_t n =
      backend_.run(std::span<AeadOp>(seal_ops_.data(), seal_count_));
  seal_count_ = 0;
  return n;
}

size_t RecordEngine::write_key_update(RecordConn& conn, uint8_t* buf,
                                      size_t cap, bool request_peer_update) {
  // Queued records reference the current key, which is about to change.
  seal_flush();
  buf[kRecordHeaderLen + 0] = kHandshakeKeyUpdate;
  buf[kRecordHeaderLen + 1] = 0;
  buf[kRecordHeaderLen + 2] = 0;
  buf[kRecordHeaderLen + 3] = 1;
  buf[kRecordHeaderLen + 4] =
      request_peer_update ? kKeyUpdateRequested : kKeyUpdateNotRequested;
  const size_t n = queue_seal(conn, ContentType::kHandshake, buf, 5, cap);
  if (n == 0) {
    return 0;
  }
  seal_flush();
  if (!rekey(conn.tx_key_, conn.tx_iv_, conn.tx_secret_, *conn.suite_)) {
    conn.failed_ = true;
    return 0;
  }
  conn.tx_seq_ = 0;
  conn.key_update_owed_ = false;
  ++stats_.key_updates_sent;
  return n;
}

size_t RecordEngine::write_alert(RecordConn& conn, Alert alert, uint8_t* buf,
                                 size_t cap) {
  seal_flush();
  if (cap < 2 + kSealOverhead) {
    return 0;
  }
  buf[kRecordHeaderLen + 0] = alert_level(alert);
  buf[kRecordHeaderLen + 1] = static_cast<uint8_t>(alert);
  // A failed connection may still send its alert.
  const bool failed = conn.failed_;
  conn.failed_ = false;
  const size_t n = queue_seal(conn, ContentType::kAlert, buf, 2, cap);
  conn.failed_ = failed;
  if (n == 0) {
    return 0;
  }
  seal_flush();
  conn.tx_closed_ = true;
  ++stats_.alerts_sent;
  return n;
}

}  // namespace dptls::tls
