// libFuzzer target for the worker's record engine: arbitrary bytes as what
// a peer sends after the handshake, cut into pieces the way TCP hands them
// up, framed and opened by a RecordEngine with fixed keys. Every input must
// end with its records delivered, a connection error with an alert, or
// bytes waiting for more; every piece pushed must be released once; the
// sanitizers catch the rest.
//
// Input: byte 0 = suite (mod 3), byte 1 = piece size - 1 (1..256), the rest
// = the stream. Half the inputs (byte 0 bit 7) are first prefixed with a
// valid record sealed by a second engine, so the fuzzer starts past the
// tag check too.
//
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true && ninja -C
// build-fuzz fuzz/tls_record_fuzz; run: build-fuzz/fuzz/tls_record_fuzz
// /tmp/record-corpus
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/record_engine.h"

namespace {

using dptls::crypto::IoSegment;
using dptls::tls::Alert;
using dptls::tls::CipherSuite;
using dptls::tls::RecordConn;
using dptls::tls::RecordEngine;

struct Sink : dptls::tls::RecordSink {
  size_t bytes = 0;
  void on_data(RecordConn&, std::span<const IoSegment> d) override {
    for (const IoSegment& s : d) {
      // Touch every byte so the sanitizers see any bad segment.
      for (size_t i = 0; i < s.len; ++i) {
        bytes += s.data[i];
      }
    }
  }
  void on_post_handshake(RecordConn&, std::span<const uint8_t> m) override {
    bytes += m.size();
  }
  void on_key_update(RecordConn&, bool) override {}
  void on_close_notify(RecordConn&) override {}
  void on_error(RecordConn&, Alert, bool) override {}
};

struct Pieces {
  size_t pushed = 0;
  size_t released = 0;
  static void Release(void* ctx, void* owner) {
    auto* self = static_cast<Pieces*>(ctx);
    ++self->released;
    std::free(owner);
  }
};

constexpr CipherSuite kSuites[] = {CipherSuite::kAes128GcmSha256,
                                   CipherSuite::kAes256GcmSha384,
                                   CipherSuite::kChaCha20Poly1305Sha256};

dptls::crypto::AeadBackend& Backend() {
  static std::unique_ptr<dptls::crypto::AeadBackend> b = [] {
    std::string err;
    return dptls::crypto::make_backend(dptls::crypto::BackendKind::kOpenSsl, {},
                                       &err);
  }();
  return *b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  const CipherSuite suite = kSuites[(data[0] & 0x7f) % 3];
  const size_t piece = size_t{data[1]} + 1;
  const size_t hash = suite == CipherSuite::kAes256GcmSha384 ? 48 : 32;
  std::vector<uint8_t> rx_secret(hash, 0x11), tx_secret(hash, 0x22);

  dptls::tls::RecordConfig config;
  config.max_batch = 8;
  RecordEngine engine(Backend(), config);
  RecordConn conn;
  if (!engine.install(conn, suite, {rx_secret, 0}, {tx_secret, 0})) {
    std::abort();
  }
  std::vector<uint8_t> stream;
  if ((data[0] & 0x80) != 0) {
    // A valid record from a peer with the mirrored keys.
    RecordEngine peer_engine(Backend(), config);
    RecordConn peer;
    if (!peer_engine.install(peer, suite, {tx_secret, 0}, {rx_secret, 0})) {
      std::abort();
    }
    std::vector<uint8_t> buf(64 + RecordEngine::kSealOverhead, 0x5a);
    const size_t n =
        peer_engine.queue_seal(peer, dptls::tls::ContentType::kApplicationData,
                               buf.data(), 64, buf.size());
    peer_engine.seal_flush();
    stream.assign(buf.begin(), buf.begin() + static_cast<long>(n));
  }
  stream.insert(stream.end(), data + 2, data + size);

  Sink sink;
  Pieces pieces;
  size_t off = 0;
  while (off < stream.size()) {
    const size_t n = std::min(piece, stream.size() - off);
    auto* p = static_cast<uint8_t*>(std::malloc(n));
    std::memcpy(p, stream.data() + off, n);
    if (!conn.rx.push({p, static_cast<uint32_t>(n), p})) {
      // Full: frame and open what is there, then try once more.
      while (engine.collect(conn) != 0) {
        engine.open_flush(sink, &Pieces::Release, &pieces);
      }
      engine.open_flush(sink, &Pieces::Release, &pieces);
      if (!conn.rx.push({p, static_cast<uint32_t>(n), p})) {
        std::free(p);
        break;  // a record spans more pieces than the stream holds
      }
    }
    ++pieces.pushed;
    off += n;
  }
  while (engine.collect(conn) != 0) {
    engine.open_flush(sink, &Pieces::Release, &pieces);
  }
  engine.open_flush(sink, &Pieces::Release, &pieces);
  conn.reset(&Pieces::Release, &pieces);
  if (pieces.released != pieces.pushed) {
    std::fprintf(stderr, "pushed %zu pieces, released %zu\n", pieces.pushed,
                 pieces.released);
    std::abort();
  }
  return 0;
}
