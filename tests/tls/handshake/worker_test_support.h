// Test support: the worker's side after the hand-off (a RecordEngine
// installed with a HandshakeResult) and application data to and from the
// OpenSSL client. Header-only; for the handshake tests.
#pragma once

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dptls/tls/handshake/server.h"
#include "dptls/tls/record_engine.h"
#include "tls/handshake/handshake_test_support.h"

namespace dptls::tls::testing {

// Deterministic filler bytes.
inline Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) {
    b[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
  }
  return b;
}

// The worker's side after the hand-off: a RecordEngine with the keys the
// handshake produced, fed the bytes the client writes.
class Worker : public RecordSink {
 public:
  Worker() {
    std::string err;
    backend_ = crypto::make_backend(crypto::BackendKind::kIpsecMb, {}, &err);
    if (backend_ == nullptr) {
      backend_ = crypto::make_backend(crypto::BackendKind::kOpenSsl, {}, &err);
    }
    EXPECT_NE(backend_, nullptr) << err;
    engine_ = std::make_unique<RecordEngine>(*backend_, RecordConfig{});
  }
  ~Worker() override { conn_.reset(&Worker::Release, this); }

  bool Install(const HandshakeResult& r) {
    return engine_->install(conn_, r.suite, r.rx(), r.tx(),
                            r.peer_record_size_limit, r.own_record_size_limit);
  }

  // Pushes bytes from the client and opens every whole record.
  void Receive(const Bytes& wire) {
    if (wire.empty()) {
      return;
    }
    auto piece = std::make_unique<uint8_t[]>(wire.size());
    std::memcpy(piece.get(), wire.data(), wire.size());
    ASSERT_TRUE(conn_.rx.push(tls::RxChunk{
        piece.get(), static_cast<uint32_t>(wire.size()), piece.get()}));
    pieces_.push_back(std::move(piece));
    while (engine_->collect(conn_) != 0) {
      engine_->open_flush(*this, &Worker::Release, this);
    }
    engine_->open_flush(*this, &Worker::Release, this);
  }

  // Seals `data` as application data records (0 bytes: one empty record).
  Bytes Send(const Bytes& payload) {
    Bytes wire;
    size_t off = 0;
    const size_t max = engine_->max_record_plaintext(conn_);
    do {
      const size_t n = std::min(max, payload.size() - off);
      Bytes buf(n + RecordEngine::kSealOverhead);
      std::copy_n(payload.begin() + static_cast<long>(off), n,
                  buf.begin() + kRecordHeaderLen);
      const size_t len = engine_->queue_seal(
          conn_, ContentType::kApplicationData, buf.data(), n, buf.size());
      EXPECT_NE(len, 0u);
      EXPECT_EQ(engine_->seal_flush(), 1u);
      wire.insert(wire.end(), buf.begin(),
                  buf.begin() + static_cast<long>(len));
      off += n;
    } while (off < payload.size());
    return wire;
  }

  Bytes KeyUpdate(bool request) {
    Bytes buf(64);
    const size_t len =
        engine_->write_key_update(conn_, buf.data(), buf.size(), request);
    EXPECT_NE(len, 0u);
    buf.resize(len);
    return buf;
  }

  Bytes CloseNotify() {
    Bytes buf(64);
    const size_t len = engine_->write_alert(conn_, Alert::kCloseNotify,
                                            buf.data(), buf.size());
    EXPECT_NE(len, 0u);
    buf.resize(len);
    return buf;
  }

  const RecordConn& conn() const { return conn_; }
  size_t max_plaintext() const { return engine_->max_record_plaintext(conn_); }

  // RecordSink.
  void on_data(RecordConn&, std::span<const crypto::IoSegment> d) override {
    ++records;
    for (const crypto::IoSegment& s : d) {
      data.insert(data.end(), s.data, s.data + s.len);
    }
  }
  void on_post_handshake(RecordConn&, std::span<const uint8_t>) override {
    ++post_handshake;
  }
  void on_key_update(RecordConn&, bool respond) override {
    ++key_updates;
    update_requested = respond;
  }
  void on_close_notify(RecordConn&) override { closed = true; }
  void on_error(RecordConn&, Alert alert, bool) override {
    ADD_FAILURE() << "record engine error: " << alert_name(alert);
    error = true;
  }

  Bytes data;
  size_t records = 0;
  size_t post_handshake = 0;
  size_t key_updates = 0;
  bool update_requested = false;
  bool closed = false;
  bool error = false;

 private:
  static void Release(void* ctx, void* owner) {
    auto* self = static_cast<Worker*>(ctx);
    for (auto& p : self->pieces_) {
      if (p.get() == owner) {
        p.reset();
      }
    }
  }

  std::unique_ptr<crypto::AeadBackend> backend_;
  std::unique_ptr<RecordEngine> engine_;
  RecordConn conn_;
  std::vector<std::unique_ptr<uint8_t[]>> pieces_;
};

// Reads exactly `n` bytes of application data from the client.
inline Bytes ClientRead(TestClient& client, size_t n) {
  Bytes out(n);
  size_t got = 0;
  while (got < n) {
    const int r =
        SSL_read(client.ssl(), out.data() + got, static_cast<int>(n - got));
    if (r <= 0) {
      ADD_FAILURE() << "SSL_read: " << SSL_get_error(client.ssl(), r);
      break;
    }
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

// Writes `data` from the client and returns the records it produced.
inline Bytes ClientWrite(TestClient& client, const Bytes& data) {
  size_t written = 0;
  EXPECT_EQ(SSL_write_ex(client.ssl(), data.data(), data.size(), &written), 1);
  EXPECT_EQ(written, data.size());
  return client.TakeOutput();
}

}  // namespace dptls::tls::testing
