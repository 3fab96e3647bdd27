// The handshake thread's record layer (RFC 8446 section 5).
#include "dptls/tls/handshake/record_layer.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/key_schedule.h"
#include "dptls/util/bytes.h"

namespace dptls::tls {

using crypto::AeadDir;
using crypto::AeadOp;
using crypto::AeadStatus;
using crypto::IoSegment;
using crypto::kAeadNonceLen;
using crypto::kAeadTagLen;

namespace {

// Derives the key and IV of `secret` into `key` and `iv` (RFC 8446 section
// 7.3); the intermediate key bytes are wiped.
bool install_key(crypto::AeadBackend& backend, const CipherSuiteInfo& suite,
                 std::span<const uint8_t> secret, crypto::AeadKey& key,
                 uint8_t (&iv)[kAeadNonceLen]) {
  TrafficKeys keys;
  if (derive_traffic_keys(suite.hash, suite.aead, secret, &keys) !=
      KdfStatus::kOk) {
    key.release();
    return false;
  }
  const bool ok =
      backend.init_key(key, suite.aead, keys.key_span()) == AeadStatus::kOk;
  std::copy(keys.iv.begin(), keys.iv.end(), iv);
  keys.wipe();
  return ok;
}

}  // namespace

std::string_view hs_read_status_name(HsReadStatus status) {
  switch (status) {
#define DPTLS_X(e, name) \
  case HsReadStatus::e:  \
    return name;
    DPTLS_HS_READ_STATUSES(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

std::string_view early_data_skip_name(EarlyDataSkip mode) {
  switch (mode) {
#define DPTLS_X(e, name) \
  case EarlyDataSkip::e: \
    return name;
    DPTLS_EARLY_DATA_SKIPS(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

HandshakeRecordLayer::HandshakeRecordLayer(crypto::AeadBackend& backend)
    : backend_(backend) {}

HandshakeRecordLayer::~HandshakeRecordLayer() { reset(); }

void HandshakeRecordLayer::reset() {
  read_key_.release();
  write_key_.release();
  crypto::secure_wipe(read_iv_, sizeof(read_iv_));
  crypto::secure_wipe(write_iv_, sizeof(write_iv_));
  read_seq_ = write_seq_ = 0;
  // Decrypted handshake bytes are not secrets, but they are the peer's
  // private business: wipe them too.
  crypto::secure_wipe(hs_buf_.data(), hs_buf_.size());
  crypto::secure_wipe(scratch_.data(), scratch_.size());
  in_.clear();
  hs_buf_.clear();
  scratch_.clear();
  in_pos_ = hs_pos_ = 0;
  stop_early_data();
}

void HandshakeRecordLayer::compact() {
  if (in_pos_ > 0) {
    in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(in_pos_));
    in_pos_ = 0;
  }
}

void HandshakeRecordLayer::push(std::span<const uint8_t> bytes) {
  compact();
  in_.insert(in_.end(), bytes.begin(), bytes.end());
}

void HandshakeRecordLayer::take_unread(std::vector<uint8_t>* out) {
  out->assign(in_.begin() + static_cast<ptrdiff_t>(in_pos_), in_.end());
  in_.clear();
  in_pos_ = 0;
}

bool HandshakeRecordLayer::set_read_secret(const CipherSuiteInfo& suite,
                                           std::span<const uint8_t> secret) {
  read_seq_ = 0;
  return install_key(backend_, suite, secret, read_key_, read_iv_);
}

bool HandshakeRecordLayer::set_write_secret(const CipherSuiteInfo& suite,
                                            std::span<const uint8_t> secret,
                                            uint64_t seq) {
  write_seq_ = seq;
  return install_key(backend_, suite, secret, write_key_, write_iv_);
}

HsReadStatus HandshakeRecordLayer::fail(HsReadStatus status, Alert alert,
                                        Alert* out) {
  final_status_ = status;
  final_alert_ = alert;
  *out = alert;
  return status;
}

HsReadStatus HandshakeRecordLayer::next_message(size_t max_len,
                                                std::span<const uint8_t>* msg,
                                                Alert* alert) {
  if (final_status_ == HsReadStatus::kError ||
      final_status_ == HsReadStatus::kPeerAlert) {
    *alert = final_alert_;
    return final_status_;
  }
  if (hs_pos_ > 0) {
    hs_buf_.erase(hs_buf_.begin(),
                  hs_buf_.begin() + static_cast<ptrdiff_t>(hs_pos_));
    hs_pos_ = 0;
  }
  while (true) {
    ByteReader r(std::span<const uint8_t>(hs_buf_).subspan(hs_pos_));
    uint8_t type = 0;
    uint32_t len = 0;
    if (r.u8(&type) && r.u24(&len)) {
      if (len > max_len) {
        return fail(HsReadStatus::kError, Alert::kDecodeError, alert);
      }
      ByteReader whole(std::span<const uint8_t>(hs_buf_).subspan(hs_pos_));
      if (whole.bytes(kHandshakeHeaderLen + len, msg)) {
        hs_pos_ += msg->size();
        return HsReadStatus::kMessage;
      }
    }
    const HsReadStatus s = read_record(alert);
    if (s != HsReadStatus::kMessage) {
      return s;
    }
  }
}

HsReadStatus HandshakeRecordLayer::read_record(Alert* alert) {
  ByteReader r(std::span<const uint8_t>(in_).subspan(in_pos_));
  std::span<const uint8_t> header;
  uint8_t type = 0;
  uint16_t version = 0;
  uint16_t length = 0;
  std::span<const uint8_t> body;
  // legacy_record_version is ignored (RFC 8446 section 5.1).
  if (!r.bytes(kRecordHeaderLen, &header)) {
    return HsReadStatus::kNeedMore;
  }
  ByteReader h(header);
  h.u8(&type);
  h.u16(&version);
  h.u16(&length);
  // Judged from the header alone, so that a peer speaking another protocol
  // (plain HTTP, say) is refused at once instead of being waited for until
  // the bytes of a 'length' it never meant arrive.
  if (type < static_cast<uint8_t>(ContentType::kChangeCipherSpec) ||
      type > static_cast<uint8_t>(ContentType::kApplicationData)) {
    return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
  }
  if ((version >> 8) != 0x03) {
    return fail(HsReadStatus::kError, Alert::kDecodeError, alert);
  }
  if (length > kMaxCiphertext13) {
    return fail(HsReadStatus::kError, Alert::kRecordOverflow, alert);
  }
  if (!r.bytes(length, &body)) {
    return HsReadStatus::kNeedMore;
  }
  in_pos_ += kRecordHeaderLen + length;

  switch (static_cast<ContentType>(type)) {
    case ContentType::kChangeCipherSpec:
      // RFC 8446 section 5: a single 0x01 byte, after the first
      // ClientHello and before the peer's Finished, is dropped. We accept
      // one; anything else is unexpected_message.
      if (!handshake_seen_ || ccs_seen_ || length != 1 || body[0] != 0x01) {
        return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
      }
      ccs_seen_ = true;
      return HsReadStatus::kMessage;
    case ContentType::kAlert:
      // Plaintext even while the read side is protected: a client that
      // cannot process our ServerHello has no keys to protect it with.
      // Either way the handshake ends.
      if (length != 2) {
        return fail(HsReadStatus::kError, Alert::kDecodeError, alert);
      }
      return fail(HsReadStatus::kPeerAlert, static_cast<Alert>(body[1]), alert);
    case ContentType::kHandshake:
      if (read_key_.ready()) {
        // Handshake messages after the ServerHello are protected.
        return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
      }
      // RFC 8446 section 5.1: no zero-length handshake fragments; 2^14 at
      // most in plaintext.
      if (length == 0) {
        return fail(HsReadStatus::kError, Alert::kDecodeError, alert);
      }
      if (length > kMaxPlaintext) {
        return fail(HsReadStatus::kError, Alert::kRecordOverflow, alert);
      }
      hs_buf_.insert(hs_buf_.end(), body.begin(), body.end());
      handshake_seen_ = true;
      return HsReadStatus::kMessage;
    case ContentType::kApplicationData:
      if (read_key_.ready()) {
        return open_record(header, body, alert);
      }
      // After a HelloRetryRequest the client's 0-RTT records still arrive
      // in this epoch; they are skipped (RFC 8446 section 4.2.10).
      if (skip_mode_ == EarlyDataSkip::kApplicationData &&
          length <= skip_budget_) {
        skip_budget_ -= length;
        return HsReadStatus::kMessage;
      }
      return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
    default:
      break;
  }
  return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
}

HsReadStatus HandshakeRecordLayer::open_record(std::span<const uint8_t> header,
                                               std::span<const uint8_t> body,
                                               Alert* alert) {
  // Early data the server did not accept cannot be opened with the
  // handshake key: skip it, within the budget (RFC 8446 section 4.2.10).
  auto skip_or_fail = [&](Alert a) {
    if (skip_mode_ == EarlyDataSkip::kUndecryptable &&
        body.size() <= skip_budget_) {
      skip_budget_ -= body.size();
      return HsReadStatus::kMessage;
    }
    return fail(HsReadStatus::kError, a, alert);
  };
  // Too short for a tag and a content type: it cannot authenticate.
  if (body.size() < kAeadTagLen + 1) {
    return skip_or_fail(Alert::kBadRecordMac);
  }
  ByteReader r(body);
  std::span<const uint8_t> ciphertext;
  std::array<uint8_t, kAeadTagLen> tag{};
  r.bytes(body.size() - kAeadTagLen, &ciphertext);
  r.copy(tag);
  scratch_.assign(ciphertext.begin(), ciphertext.end());
  uint8_t nonce[kAeadNonceLen];
  record_nonce(read_iv_, read_seq_, nonce);
  const IoSegment seg{scratch_.data(), scratch_.size()};
  AeadOp op;
  op.key = &read_key_;
  op.dir = AeadDir::kOpen;
  op.nonce = nonce;
  op.aad = header;
  op.segs = {&seg, 1};
  op.tag = tag.data();
  if (backend_.run_one(op) != AeadStatus::kOk) {
    return skip_or_fail(Alert::kBadRecordMac);
  }
  ++read_seq_;
  // The first record that opens ends the early data.
  skip_mode_ = EarlyDataSkip::kNone;
  if (scratch_.size() > read_inner_limit_) {
    return fail(HsReadStatus::kError, Alert::kRecordOverflow, alert);
  }
  // TLSInnerPlaintext: content, the real type, zero padding (5.4).
  size_t end = scratch_.size();
  while (end > 0 && scratch_[end - 1] == 0) {
    --end;
  }
  if (end == 0) {
    return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
  }
  const auto inner_type = static_cast<ContentType>(scratch_[end - 1]);
  const std::span<const uint8_t> content =
      std::span<const uint8_t>(scratch_).first(end - 1);
  switch (inner_type) {
    case ContentType::kHandshake:
      if (content.empty()) {
        return fail(HsReadStatus::kError, Alert::kDecodeError, alert);
      }
      hs_buf_.insert(hs_buf_.end(), content.begin(), content.end());
      return HsReadStatus::kMessage;
    case ContentType::kAlert:
      if (content.size() != 2) {
        return fail(HsReadStatus::kError, Alert::kDecodeError, alert);
      }
      return fail(HsReadStatus::kPeerAlert, static_cast<Alert>(content[1]),
                  alert);
    case ContentType::kApplicationData:
      // Accepted 0-RTT data (4.2.10): "If the server ... receives more than
      // max_early_data_size ... it MUST terminate the connection with an
      // "unexpected_message" alert."
      if (early_sink_ == nullptr || content.size() > early_left_) {
        return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
      }
      early_left_ -= content.size();
      early_sink_->insert(early_sink_->end(), content.begin(), content.end());
      return HsReadStatus::kMessage;
    default:
      // Application data before the handshake completes, a protected
      // change_cipher_spec, or an unknown type.
      return fail(HsReadStatus::kError, Alert::kUnexpectedMessage, alert);
  }
}

bool HandshakeRecordLayer::write(ContentType type,
                                 std::span<const uint8_t> content,
                                 std::vector<uint8_t>* out) {
  const size_t start = out->size();
  ByteReader r(content);
  if (!write_key_.ready()) {
    while (!r.empty()) {
      std::span<const uint8_t> frag;
      r.bytes(std::min(r.remaining(), kMaxPlaintext), &frag);
      uint8_t header[kRecordHeaderLen];
      write_record_header(type, static_cast<uint16_t>(frag.size()), header);
      out->insert(out->end(), header, header + kRecordHeaderLen);
      out->insert(out->end(), frag.begin(), frag.end());
    }
    return true;
  }
  // RFC 8449: the peer's limit counts the inner content type.
  const size_t max_frag =
      std::min<size_t>(kMaxPlaintext, write_inner_limit_ - 1);
  // Each record is built where it goes in *out (header, fragment, inner
  // type), sealed in place, and followed by its tag: no copy through a
  // scratch buffer, and one reservation for all of them. `content` must
  // not lie in *out.
  const size_t records = (content.size() + max_frag - 1) / max_frag;
  out->reserve(start + content.size() +
               records * (kRecordHeaderLen + 1 + kAeadTagLen));
  while (!r.empty()) {
    std::span<const uint8_t> frag;
    r.bytes(std::min(r.remaining(), max_frag), &frag);
    const size_t inner = frag.size() + 1;
    const size_t at = out->size();
    out->resize(at + kRecordHeaderLen + inner + kAeadTagLen);
    uint8_t header[kRecordHeaderLen];
    write_record_header(ContentType::kApplicationData,
                        static_cast<uint16_t>(inner + kAeadTagLen), header);
    std::memcpy(out->data() + at, header, kRecordHeaderLen);
    uint8_t* body = out->data() + at + kRecordHeaderLen;
    std::memcpy(body, frag.data(), frag.size());
    body[frag.size()] = static_cast<uint8_t>(type);
    uint8_t nonce[kAeadNonceLen];
    record_nonce(write_iv_, write_seq_, nonce);
    const IoSegment seg{body, inner};
    AeadOp op;
    op.key = &write_key_;
    op.dir = AeadDir::kSeal;
    op.nonce = nonce;
    op.aad = header;
    op.segs = {&seg, 1};
    op.tag = body + inner;
    if (backend_.run_one(op) != AeadStatus::kOk) {
      crypto::secure_wipe(out->data() + start, out->size() - start);
      out->resize(start);
      return false;
    }
    ++write_seq_;
  }
  return true;
}

void HandshakeRecordLayer::write_change_cipher_spec(std::vector<uint8_t>* out) {
  static constexpr uint8_t kCcs[] = {20, 3, 3, 0, 1, 1};
  out->insert(out->end(), std::begin(kCcs), std::end(kCcs));
}

void HandshakeRecordLayer::write_alert(Alert alert, std::vector<uint8_t>* out) {
  const uint8_t body[2] = {alert_level(alert), static_cast<uint8_t>(alert)};
  write(ContentType::kAlert, body, out);
}

}  // namespace dptls::tls
