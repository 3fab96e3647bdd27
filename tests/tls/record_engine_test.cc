// The worker's record engine: two engines talking through a byte pipe cut
// into random TCP-like pieces, an independent record sealer/opener built on
// OpenSSL EVP, KeyUpdate both ways (including records that follow a
// KeyUpdate in the same batch), and every malformed-record alert.
#include "dptls/tls/record_engine.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dptls/tls/key_schedule.h"

namespace dptls::tls {
namespace {

using crypto::AeadBackend;
using crypto::BackendKind;
using crypto::IoSegment;
using Bytes = std::vector<uint8_t>;

Bytes Random(std::mt19937_64& rng, size_t n) {
  Bytes b(n);
  for (auto& x : b) {
    x = static_cast<uint8_t>(rng());
  }
  return b;
}

Bytes Concat(std::span<const IoSegment> segs) {
  Bytes out;
  for (const IoSegment& s : segs) {
    out.insert(out.end(), s.data, s.data + s.len);
  }
  return out;
}

// Owns the pieces pushed into a stream and counts their release.
struct Pieces {
  std::vector<std::unique_ptr<uint8_t[]>> live;
  size_t released = 0;

  static void Release(void* ctx, void* owner) {
    auto* self = static_cast<Pieces*>(ctx);
    ++self->released;
    for (auto& p : self->live) {
      if (p.get() == owner) {
        p.reset();
        return;
      }
    }
    ADD_FAILURE() << "released a piece twice or one never pushed";
  }
  size_t outstanding() const {
    return static_cast<size_t>(std::count_if(
        live.begin(), live.end(), [](const auto& p) { return p != nullptr; }));
  }
};

struct Event {
  enum Kind { kNone, kData, kPostHandshake, kKeyUpdate, kClose, kError } kind;
  Bytes bytes;
  Alert alert = Alert::kCloseNotify;
  bool flag = false;
};

struct Recorder : RecordSink {
  std::vector<Event> events;
  Bytes data;  // every on_data concatenated

  void on_data(RecordConn&, std::span<const IoSegment> d) override {
    Bytes b = Concat(d);
    data.insert(data.end(), b.begin(), b.end());
    events.push_back({Event::kData, std::move(b)});
  }
  void on_post_handshake(RecordConn&, std::span<const uint8_t> m) override {
    events.push_back({Event::kPostHandshake, Bytes(m.begin(), m.end())});
  }
  void on_key_update(RecordConn&, bool respond) override {
    events.push_back({Event::kKeyUpdate, {}, Alert::kCloseNotify, respond});
  }
  void on_close_notify(RecordConn&) override {
    events.push_back({Event::kClose, {}});
  }
  void on_error(RecordConn&, Alert alert, bool from_peer) override {
    events.push_back({Event::kError, {}, alert, from_peer});
  }
  size_t count(Event::Kind k) const {
    return static_cast<size_t>(
        std::count_if(events.begin(), events.end(),
                      [k](const Event& e) { return e.kind == k; }));
  }
  // The first event of kind `k`, or one of kind kNone.
  Event first(Event::Kind k) const {
    for (const Event& e : events) {
      if (e.kind == k) {
        return e;
      }
    }
    return Event{Event::kNone, {}};
  }
};

// One side of a connection: its backend, engine and record state.
struct Side {
  explicit Side(BackendKind kind, RecordConfig config = {}) {
    std::string err;
    backend = crypto::make_backend(kind, {}, &err);
    EXPECT_NE(backend, nullptr) << err;
    engine = std::make_unique<RecordEngine>(*backend, config);
  }
  ~Side() { conn.reset(&Pieces::Release, &pieces); }

  // Seals `plaintext` as records of at most `max` bytes with `padding`,
  // appending the wire bytes to `wire`.
  void Send(const Bytes& plaintext, Bytes* wire, size_t max = kMaxPlaintext,
            size_t padding = 0,
            ContentType type = ContentType::kApplicationData) {
    size_t off = 0;
    std::vector<std::pair<size_t, size_t>> spans;  // buf index, length
    std::vector<Bytes> bufs;
    do {
      // Content, type byte and padding fit in 2^14 + 1.
      const size_t n =
          std::min({max, plaintext.size() - off, kMaxPlaintext - padding});
      Bytes buf(n + padding + RecordEngine::kSealOverhead);
      std::copy_n(plaintext.begin() + static_cast<long>(off), n,
                  buf.begin() + kRecordHeaderLen);
      const size_t len =
          engine->queue_seal(conn, type, buf.data(), n, buf.size(), padding);
      ASSERT_NE(len, 0u);
      bufs.push_back(std::move(buf));
      spans.emplace_back(bufs.size() - 1, len);
      off += n;
    } while (off < plaintext.size());
    EXPECT_EQ(engine->seal_flush(), spans.size());
    for (auto [i, len] : spans) {
      wire->insert(wire->end(), bufs[i].begin(),
                   bufs[i].begin() + static_cast<long>(len));
    }
  }

  // Pushes `wire` in random pieces of 600 to max_piece bytes (1-byte
  // pieces at the very end), framing and opening as the stream fills.
  // Pieces are at least 600 bytes because TCP coalesces small segments
  // before they reach the stream (rx_stream.h), so a 16 KB record spans at
  // most 29 of them.
  void Receive(const Bytes& wire, std::mt19937_64& rng, Recorder& sink,
               size_t max_piece = 1500) {
    size_t off = 0;
    while (off < wire.size()) {
      const size_t n =
          std::min<size_t>(600 + rng() % (max_piece - 599), wire.size() - off);
      auto piece = std::make_unique<uint8_t[]>(n);
      std::memcpy(piece.get(), wire.data() + off, n);
      if (!conn.rx.push(
              RxChunk{piece.get(), static_cast<uint32_t>(n), piece.get()})) {
        Drain(sink);
        ASSERT_TRUE(conn.rx.push(
            RxChunk{piece.get(), static_cast<uint32_t>(n), piece.get()}))
            << "stream still full after draining";
      }
      pieces.live.push_back(std::move(piece));
      off += n;
    }
    Drain(sink);
  }

  void Drain(Recorder& sink) {
    while (engine->collect(conn) != 0) {
      engine->open_flush(sink, &Pieces::Release, &pieces);
    }
    engine->open_flush(sink, &Pieces::Release, &pieces);
  }

  std::unique_ptr<AeadBackend> backend;
  std::unique_ptr<RecordEngine> engine;
  RecordConn conn;
  Pieces pieces;
};

struct Secrets {
  Bytes c2s, s2c;
};

Secrets MakeSecrets(std::mt19937_64& rng, CipherSuite suite) {
  const size_t n = hash_len(cipher_suite_info(suite)->hash);
  return {Random(rng, n), Random(rng, n)};
}

// Installs keys so `a` sends with c2s and `b` receives it, and back.
void Pair(Side& a, Side& b, CipherSuite suite, const Secrets& s,
          uint64_t seq = 0) {
  ASSERT_TRUE(a.engine->install(a.conn, suite, {s.s2c, seq}, {s.c2s, seq}));
  ASSERT_TRUE(b.engine->install(b.conn, suite, {s.c2s, seq}, {s.s2c, seq}));
}

// ---- an independent TLS 1.3 record layer on OpenSSL EVP ----

const EVP_CIPHER* EvpFor(crypto::AeadAlg alg) {
  switch (alg) {
    case crypto::AeadAlg::kAes128Gcm:
      return EVP_aes_128_gcm();
    case crypto::AeadAlg::kAes256Gcm:
      return EVP_aes_256_gcm();
    case crypto::AeadAlg::kChaCha20Poly1305:
      return EVP_chacha20_poly1305();
  }
  return nullptr;
}

// Seals or opens one TLS 1.3 record (RFC 8446 section 5.2) the textbook
// way. For open, `record` is the whole record and the return value is the
// TLSInnerPlaintext, or empty on failure.
class EvpRecordLayer {
 public:
  EvpRecordLayer(CipherSuite suite, const Bytes& secret) {
    const CipherSuiteInfo* info = cipher_suite_info(suite);
    cipher_ = EvpFor(info->aead);
    TrafficKeys keys;
    EXPECT_EQ(derive_traffic_keys(info->hash, info->aead, secret, &keys),
              KdfStatus::kOk);
    key_.assign(keys.key.begin(), keys.key.begin() + keys.key_len);
    iv_.assign(keys.iv.begin(), keys.iv.end());
  }

  Bytes Seal(ContentType type, const Bytes& content, size_t padding = 0) {
    Bytes inner = content;
    inner.push_back(static_cast<uint8_t>(type));
    inner.resize(inner.size() + padding, 0);
    const size_t len = inner.size() + 16;
    Bytes rec = {23, 3, 3, static_cast<uint8_t>(len >> 8),
                 static_cast<uint8_t>(len)};
    Bytes out(inner.size());
    uint8_t tag[16];
    Crypt(1, rec, inner, &out, tag);
    rec.insert(rec.end(), out.begin(), out.end());
    rec.insert(rec.end(), tag, tag + 16);
    return rec;
  }

  bool Open(const Bytes& record, Bytes* inner) {
    if (record.size() < 5 + 16) {
      return false;
    }
    Bytes header(record.begin(), record.begin() + 5);
    Bytes ct(record.begin() + 5, record.end() - 16);
    Bytes tag(record.end() - 16, record.end());
    inner->resize(ct.size());
    return Crypt(0, header, ct, inner, tag.data());
  }

 private:
  bool Crypt(int enc, const Bytes& aad, const Bytes& in, Bytes* out,
             uint8_t* tag) {
    uint8_t nonce[12];
    std::memcpy(nonce, iv_.data(), 12);
    for (int i = 0; i < 8; ++i) {
      nonce[11 - i] ^= static_cast<uint8_t>(seq_ >> (8 * i));
    }
    ++seq_;
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = EVP_CipherInit_ex(ctx, cipher_, nullptr, key_.data(), nonce,
                                enc) == 1 &&
              EVP_CipherUpdate(ctx, nullptr, &n, aad.data(),
                               static_cast<int>(aad.size())) == 1 &&
              EVP_CipherUpdate(ctx, out->data(), &n, in.data(),
                               static_cast<int>(in.size())) == 1;
    if (ok && enc == 0) {
      ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1;
    }
    uint8_t fin[16];
    ok = ok && EVP_CipherFinal_ex(ctx, fin, &n) == 1;
    if (ok && enc == 1) {
      ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok;
  }

  const EVP_CIPHER* cipher_ = nullptr;
  Bytes key_, iv_;
  uint64_t seq_ = 0;
};

// Splits a byte string of back-to-back records into records.
std::vector<Bytes> SplitRecords(const Bytes& wire) {
  std::vector<Bytes> out;
  size_t off = 0;
  while (off + 5 <= wire.size()) {
    const size_t len = (size_t{wire[off + 3]} << 8) | wire[off + 4];
    out.emplace_back(wire.begin() + static_cast<long>(off),
                     wire.begin() + static_cast<long>(off + 5 + len));
    off += 5 + len;
  }
  return out;
}

struct Param {
  BackendKind backend;
  CipherSuite suite;
};

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  std::string s = std::string(crypto::backend_kind_name(info.param.backend)) +
                  "_" + std::string(cipher_suite_info(info.param.suite)->name);
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

std::vector<Param> AllParams() {
  std::vector<Param> out;
  for (BackendKind b : crypto::kAllBackends) {
    for (CipherSuite s : kAllCipherSuites) {
      out.push_back({b, s});
    }
  }
  return out;
}

class RecordEngineTest : public ::testing::TestWithParam<Param> {
 protected:
  CipherSuite suite() const { return GetParam().suite; }
  BackendKind kind() const { return GetParam().backend; }
  std::mt19937_64 rng_{0x5eed};
};

TEST_P(RecordEngineTest, RoundTripsEverySizeThroughRandomPieces) {
  Side a(kind()), b(kind());
  const Secrets s = MakeSecrets(rng_, suite());
  Pair(a, b, suite(), s);
  Recorder sink;
  Bytes sent;
  for (size_t size : {0, 1, 15, 16, 17, 1000, 1448, 4096, 16383, 16384, 16385,
                      40000, 65536}) {
    const Bytes msg = Random(rng_, size);
    Bytes wire;
    a.Send(msg, &wire, kMaxPlaintext, rng_() % 40);
    b.Receive(wire, rng_, sink, 600 + rng_() % 3000);
    sent.insert(sent.end(), msg.begin(), msg.end());
  }
  EXPECT_EQ(sink.data, sent);
  EXPECT_EQ(sink.count(Event::kError), 0u);
  EXPECT_EQ(b.pieces.outstanding(), 0u) << "every piece must be released";
  EXPECT_EQ(b.conn.rx_seq(), a.conn.tx_seq());
}

TEST_P(RecordEngineTest, OpensRecordsOfAnIndependentSealer) {
  Side b(kind());
  const Secrets s = MakeSecrets(rng_, suite());
  ASSERT_TRUE(b.engine->install(b.conn, suite(), {s.c2s, 0}, {s.s2c, 0}));
  EvpRecordLayer ref(suite(), s.c2s);
  Bytes wire, sent;
  for (size_t size : {0, 1, 100, 1448, 16384}) {
    const Bytes msg = Random(rng_, size);
    const Bytes rec = ref.Seal(ContentType::kApplicationData, msg,
                               size >= kMaxPlaintext ? 0 : rng_() % 300);
    wire.insert(wire.end(), rec.begin(), rec.end());
    sent.insert(sent.end(), msg.begin(), msg.end());
  }
  Recorder sink;
  b.Receive(wire, rng_, sink);
  EXPECT_EQ(sink.data, sent);
  EXPECT_EQ(sink.count(Event::kData), 5u);
  EXPECT_EQ(sink.count(Event::kError), 0u);
}

TEST_P(RecordEngineTest, SealsRecordsAnIndependentOpenerAccepts) {
  Side a(kind());
  const Secrets s = MakeSecrets(rng_, suite());
  ASSERT_TRUE(a.engine->install(a.conn, suite(), {s.s2c, 0}, {s.c2s, 0}));
  EvpRecordLayer ref(suite(), s.c2s);
  for (size_t padding : {0, 7, 200}) {
    const Bytes msg = Random(rng_, 3000);
    Bytes wire;
    a.Send(msg, &wire, 1000, padding);
    Bytes got;
    for (const Bytes& rec : SplitRecords(wire)) {
      ASSERT_EQ(rec[0], 23);
      ASSERT_EQ(rec[1], 3);
      ASSERT_EQ(rec[2], 3);
      Bytes inner;
      ASSERT_TRUE(ref.Open(rec, &inner));
      ASSERT_EQ(inner.size(), std::min<size_t>(1000, 3000) + 1 + padding);
      // Inner type then exactly `padding` zeros.
      EXPECT_EQ(inner[1000], 23);
      EXPECT_TRUE(std::all_of(inner.begin() + 1001, inner.end(),
                              [](uint8_t x) { return x == 0; }));
      got.insert(got.end(), inner.begin(), inner.begin() + 1000);
    }
    EXPECT_EQ(got, msg);
  }
}

TEST_P(RecordEngineTest, HandOffSequenceNumbersAreUsed) {
  Side a(kind()), b(kind());
  const Secrets s = MakeSecrets(rng_, suite());
  Pair(a, b, suite(), s, /*seq=*/2);
  Bytes wire;
  a.Send(Random(rng_, 10), &wire);
  // An independent opener at sequence 0 must fail: the nonce used seq 2.
  EvpRecordLayer ref(suite(), s.c2s);
  Bytes inner;
  EXPECT_FALSE(ref.Open(wire, &inner));
  Recorder sink;
  b.Receive(wire, rng_, sink);
  EXPECT_EQ(sink.count(Event::kData), 1u);
  EXPECT_EQ(b.conn.rx_seq(), 3u);
}

TEST_P(RecordEngineTest, ManyConnectionsOpenInOneBatch) {
  constexpr size_t kConns = 40;
  std::string err;
  auto backend = crypto::make_backend(kind(), {}, &err);
  RecordEngine rx_engine(*backend, {});
  std::vector<std::unique_ptr<Side>> senders;
  std::vector<std::unique_ptr<RecordConn>> conns;
  std::vector<Bytes> sent(kConns);
  Pieces pieces;
  for (size_t i = 0; i < kConns; ++i) {
    senders.push_back(std::make_unique<Side>(kind()));
    conns.push_back(std::make_unique<RecordConn>());
    const Secrets s = MakeSecrets(rng_, suite());
    ASSERT_TRUE(senders[i]->engine->install(senders[i]->conn, suite(),
                                            {s.s2c, 0}, {s.c2s, 0}));
    ASSERT_TRUE(rx_engine.install(*conns[i], suite(), {s.c2s, 0}, {s.s2c, 0}));
    conns[i]->user = reinterpret_cast<void*>(i);
    sent[i] = Random(rng_, 500 + i * 100);
    Bytes wire;
    senders[i]->Send(sent[i], &wire, 700);
    auto piece = std::make_unique<uint8_t[]>(wire.size());
    std::memcpy(piece.get(), wire.data(), wire.size());
    ASSERT_TRUE(conns[i]->rx.push(
        {piece.get(), static_cast<uint32_t>(wire.size()), piece.get()}));
    pieces.live.push_back(std::move(piece));
  }
  for (auto& c : conns) {
    rx_engine.collect(*c);
  }
  struct PerConn : Recorder {
    std::vector<Bytes> by_conn = std::vector<Bytes>(kConns);
    void on_data(RecordConn& c, std::span<const IoSegment> d) override {
      Bytes b = Concat(d);
      Bytes& dst = by_conn[reinterpret_cast<size_t>(c.user)];
      dst.insert(dst.end(), b.begin(), b.end());
    }
  } sink;
  rx_engine.open_flush(sink, &Pieces::Release, &pieces);
  EXPECT_EQ(rx_engine.stats().open_batches, 1u) << "one AEAD call per burst";
  for (size_t i = 0; i < kConns; ++i) {
    EXPECT_EQ(sink.by_conn[i], sent[i]) << "connection " << i;
  }
  EXPECT_EQ(pieces.outstanding(), 0u);
  for (auto& c : conns) {
    c->reset(&Pieces::Release, &pieces);
  }
}

// The peer sends data, a KeyUpdate asking for ours, and more data, all in
// one burst: the records after the KeyUpdate were framed and opened under
// the old key in the same batch, and must be opened again under the new one.
TEST_P(RecordEngineTest, KeyUpdateMidBatchReopensLaterRecords) {
  Side a(kind()), b(kind());
  const Secrets s = MakeSecrets(rng_, suite());
  Pair(a, b, suite(), s);
  Bytes wire;
  const Bytes before = Random(rng_, 3000), after = Random(rng_, 5000);
  a.Send(before, &wire, 1000);
  uint8_t ku[64];
  const size_t n = a.engine->write_key_update(a.conn, ku, sizeof(ku), true);
  ASSERT_NE(n, 0u);
  wire.insert(wire.end(), ku, ku + n);
  a.Send(after, &wire, 1000);
  Recorder sink;
  b.Receive(wire, rng_, sink, 20000);
  Bytes all = before;
  all.insert(all.end(), after.begin(), after.end());
  EXPECT_EQ(sink.data, all);
  EXPECT_EQ(sink.count(Event::kError), 0u);
  ASSERT_EQ(sink.count(Event::kKeyUpdate), 1u);
  EXPECT_TRUE(sink.first(Event::kKeyUpdate).flag) << "update_requested";
  EXPECT_EQ(b.engine->stats().speculative_retries, 5u);
  EXPECT_EQ(b.engine->stats().key_updates_received, 1u);
  EXPECT_TRUE(b.conn.key_update_owed());
  EXPECT_TRUE(b.engine->needs_key_update(b.conn));
  EXPECT_EQ(b.pieces.outstanding(), 0u);

  // b answers; a must now read b's records under b's next key.
  Bytes back;
  const size_t m = b.engine->write_key_update(b.conn, ku, sizeof(ku), false);
  ASSERT_NE(m, 0u);
  back.insert(back.end(), ku, ku + m);
  EXPECT_FALSE(b.conn.key_update_owed());
  const Bytes reply = Random(rng_, 2000);
  b.Send(reply, &back);
  Recorder a_sink;
  a.Receive(back, rng_, a_sink);
  EXPECT_EQ(a_sink.data, reply);
  ASSERT_EQ(a_sink.count(Event::kKeyUpdate), 1u);
  EXPECT_FALSE(a_sink.first(Event::kKeyUpdate).flag);
  EXPECT_EQ(a_sink.count(Event::kError), 0u);
}

TEST_P(RecordEngineTest, KeyUpdateMatchesAnIndependentNextSecret) {
  Side a(kind());
  const Secrets s = MakeSecrets(rng_, suite());
  ASSERT_TRUE(a.engine->install(a.conn, suite(), {s.s2c, 0}, {s.c2s, 0}));
  uint8_t ku[64];
  const size_t n = a.engine->write_key_update(a.conn, ku, sizeof(ku), false);
  ASSERT_NE(n, 0u);
  Bytes wire;
  const Bytes msg = Random(rng_, 77);
  a.Send(msg, &wire);
  // Reference: the old key opens the KeyUpdate, the next secret (section
  // 7.2: HKDF-Expand-Label(secret, "traffic upd", "", Hash.length)) opens
  // what follows.
  EvpRecordLayer old_key(suite(), s.c2s);
  Bytes inner;
  ASSERT_TRUE(old_key.Open(Bytes(ku, ku + n), &inner));
  EXPECT_EQ(inner, (Bytes{24, 0, 0, 1, 0, 22}));
  const HashAlg hash = cipher_suite_info(suite())->hash;
  Bytes next(hash_len(hash));
  ASSERT_EQ(hkdf_expand_label(hash, s.c2s, "traffic upd", {}, next),
            KdfStatus::kOk);
  EvpRecordLayer new_key(suite(), next);
  ASSERT_TRUE(new_key.Open(wire, &inner));
  EXPECT_EQ(Bytes(inner.begin(), inner.end() - 1), msg);
}

TEST_P(RecordEngineTest, KeyUpdateIsDueAfterTheConfiguredRecordCount) {
  RecordConfig config;
  config.key_update_after_records = 3;
  Side a(kind(), config), b(kind());
  Pair(a, b, suite(), MakeSecrets(rng_, suite()));
  Bytes wire;
  a.Send(Random(rng_, 20), &wire, 10);
  EXPECT_FALSE(a.engine->needs_key_update(a.conn));
  a.Send(Random(rng_, 5), &wire);
  EXPECT_TRUE(a.engine->needs_key_update(a.conn));
  uint8_t ku[64];
  ASSERT_NE(a.engine->write_key_update(a.conn, ku, sizeof(ku), false), 0u);
  EXPECT_FALSE(a.engine->needs_key_update(a.conn));
  EXPECT_EQ(a.conn.tx_seq(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllBackendsAndSuites, RecordEngineTest,
                         ::testing::ValuesIn(AllParams()), ParamName);

// ---- malformed input: the right alert, nothing after it delivered ----

class RecordErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secrets_ = MakeSecrets(rng_, kSuite);
    ASSERT_TRUE(b_.engine->install(b_.conn, kSuite, {secrets_.c2s, 0},
                                   {secrets_.s2c, 0}, 0, own_limit_));
  }
  // Feeds `wire` and returns the first error event (kind kNone if none).
  Event Feed(const Bytes& wire) {
    b_.Receive(wire, rng_, sink_);
    return sink_.first(Event::kError);
  }
  Bytes SealRef(ContentType type, const Bytes& content, size_t padding = 0) {
    return ref_->Seal(type, content, padding);
  }

  static constexpr CipherSuite kSuite = CipherSuite::kAes128GcmSha256;
  std::mt19937_64 rng_{42};
  Secrets secrets_;
  uint16_t own_limit_ = 0;
  Side b_{BackendKind::kIpsecMb};
  Recorder sink_;
  // The peer: an independent sealer under the same keys.
  std::unique_ptr<EvpRecordLayer> ref_;
};

class RecordErrorRefTest : public RecordErrorTest {
 protected:
  void SetUp() override {
    RecordErrorTest::SetUp();
    ref_ = std::make_unique<EvpRecordLayer>(kSuite, secrets_.c2s);
  }
};

TEST_F(RecordErrorRefTest, TamperedTagIsBadRecordMacAndStopsDelivery) {
  Bytes wire = SealRef(ContentType::kApplicationData, Bytes(100, 1));
  Bytes bad = SealRef(ContentType::kApplicationData, Bytes(100, 2));
  bad.back() ^= 1;
  Bytes after = SealRef(ContentType::kApplicationData, Bytes(100, 3));
  wire.insert(wire.end(), bad.begin(), bad.end());
  wire.insert(wire.end(), after.begin(), after.end());
  const Event e = Feed(wire);
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kBadRecordMac);
  EXPECT_FALSE(e.flag);
  EXPECT_EQ(sink_.data, Bytes(100, 1)) << "only the record before it";
  EXPECT_TRUE(b_.conn.failed());
  EXPECT_EQ(b_.engine->stats().auth_failures, 1u);
}

TEST_F(RecordErrorRefTest, TamperedCiphertextAndHeaderFail) {
  // Byte 0: the outer type; 4: the length's low byte (the tag lands
  // elsewhere); 5 and 60: ciphertext.
  for (size_t pos : {0u, 4u, 5u, 60u}) {
    SCOPED_TRACE(pos);
    Side side(BackendKind::kOpenSsl);
    ASSERT_TRUE(side.engine->install(side.conn, kSuite, {secrets_.c2s, 0},
                                     {secrets_.s2c, 0}));
    EvpRecordLayer ref(kSuite, secrets_.c2s);
    Bytes rec = ref.Seal(ContentType::kApplicationData, Bytes(100, 9));
    rec[pos] ^= pos == 0 ? 0x02 : 0x01;  // type 23 -> 21 at pos 0
    Recorder sink;
    side.Receive(rec, rng_, sink);
    const Event e = sink.first(Event::kError);
    ASSERT_EQ(e.kind, Event::kError);
    if (pos == 0) {
      EXPECT_EQ(e.alert, Alert::kUnexpectedMessage);
    } else {
      EXPECT_EQ(e.alert, Alert::kBadRecordMac);
    }
    EXPECT_TRUE(sink.data.empty());
  }
}

TEST_F(RecordErrorRefTest, LongerLengthWaitsForTheRest) {
  Bytes rec = SealRef(ContentType::kApplicationData, Bytes(100, 9));
  rec[3] ^= 1;  // 256 bytes longer than what is there
  EXPECT_EQ(Feed(rec).kind, Event::kNone);
  EXPECT_TRUE(sink_.events.empty());
  EXPECT_FALSE(b_.conn.failed());
  EXPECT_EQ(b_.conn.rx.uncut(), rec.size());
}

TEST_F(RecordErrorRefTest, OversizedRecordIsRecordOverflow) {
  Bytes header = {23, 3, 3, 0x41, 0x01};  // 2^14 + 256 + 1
  const Event e = Feed(header);
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kRecordOverflow);
}

TEST_F(RecordErrorRefTest, PlaintextOverTwoToTheFourteenIsRecordOverflow) {
  // 2^14 + 2 bytes of inner plaintext: within the ciphertext limit, over
  // the plaintext one.
  const Event e =
      Feed(SealRef(ContentType::kApplicationData, Bytes(kMaxPlaintext + 1, 5)));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kRecordOverflow);
}

TEST_F(RecordErrorRefTest, TooShortForATagIsBadRecordMac) {
  const Event e = Feed(Bytes{23, 3, 3, 0, 16});
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kBadRecordMac);
}

TEST_F(RecordErrorRefTest, ChangeCipherSpecAfterHandshakeIsUnexpected) {
  const Event e = Feed(Bytes{20, 3, 3, 0, 1, 1});
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kUnexpectedMessage);
}

TEST_F(RecordErrorRefTest, AllZeroInnerPlaintextIsUnexpected) {
  const Event e = Feed(SealRef(ContentType::kInvalid, {}, 10));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kUnexpectedMessage);
}

TEST_F(RecordErrorRefTest, AlertOfWrongLengthIsDecodeError) {
  const Event e = Feed(SealRef(ContentType::kAlert, {2, 40, 0}));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kDecodeError);
}

TEST_F(RecordErrorRefTest, CloseNotifyIsReportedAndEndsReading) {
  Bytes wire = SealRef(ContentType::kApplicationData, Bytes(10, 1));
  Bytes cn = SealRef(ContentType::kAlert, {1, 0});
  wire.insert(wire.end(), cn.begin(), cn.end());
  EXPECT_EQ(Feed(wire).kind, Event::kNone);
  EXPECT_EQ(sink_.count(Event::kClose), 1u);
  EXPECT_TRUE(b_.conn.rx_closed());
  EXPECT_EQ(sink_.data, Bytes(10, 1));
}

TEST_F(RecordErrorRefTest, FatalAlertFromPeerIsReportedAsFromPeer) {
  const Event e = Feed(SealRef(ContentType::kAlert, {2, 40}));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kHandshakeFailure);
  EXPECT_TRUE(e.flag);
}

TEST_F(RecordErrorRefTest, KeyUpdateNotEndingItsRecordIsUnexpected) {
  const Event e =
      Feed(SealRef(ContentType::kHandshake, {24, 0, 0, 1, 0, 24, 0, 0, 1, 0}));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kUnexpectedMessage);
}

TEST_F(RecordErrorRefTest, KeyUpdateWithBadRequestValueIsIllegalParameter) {
  const Event e = Feed(SealRef(ContentType::kHandshake, {24, 0, 0, 1, 2}));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kIllegalParameter);
}

TEST_F(RecordErrorRefTest, TruncatedHandshakeMessageIsDecodeError) {
  const Event e = Feed(SealRef(ContentType::kHandshake, {4, 0, 0, 9, 1}));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kDecodeError);
}

TEST_F(RecordErrorRefTest, OtherPostHandshakeMessagesGoUp) {
  const Bytes nst = {4, 0, 0, 3, 7, 8, 9};
  EXPECT_EQ(Feed(SealRef(ContentType::kHandshake, nst)).kind, Event::kNone);
  ASSERT_EQ(sink_.count(Event::kPostHandshake), 1u);
  EXPECT_EQ(sink_.first(Event::kPostHandshake).bytes, nst);
}

TEST_F(RecordErrorRefTest, ZeroLengthApplicationDataIsDelivered) {
  EXPECT_EQ(Feed(SealRef(ContentType::kApplicationData, {}, 30)).kind,
            Event::kNone);
  EXPECT_EQ(sink_.count(Event::kData), 1u);
  EXPECT_TRUE(sink_.data.empty());
}

class RecordLimitTest : public RecordErrorRefTest {
 protected:
  void SetUp() override {
    own_limit_ = 1001;
    RecordErrorRefTest::SetUp();
  }
};

TEST_F(RecordLimitTest, OwnRecordSizeLimitIsEnforced) {
  EXPECT_EQ(Feed(SealRef(ContentType::kApplicationData, Bytes(1000, 1))).kind,
            Event::kNone);
  const Event e = Feed(SealRef(ContentType::kApplicationData, Bytes(1001, 1)));
  ASSERT_EQ(e.kind, Event::kError);
  EXPECT_EQ(e.alert, Alert::kRecordOverflow);
}

TEST(RecordSendTest, PeerRecordSizeLimitBoundsWhatIsSealed) {
  std::mt19937_64 rng(7);
  Side a(BackendKind::kIpsecMb);
  const Secrets s = MakeSecrets(rng, CipherSuite::kAes128GcmSha256);
  ASSERT_TRUE(a.engine->install(a.conn, CipherSuite::kAes128GcmSha256,
                                {s.s2c, 0}, {s.c2s, 0}, /*peer_limit=*/512));
  EXPECT_EQ(a.engine->max_record_plaintext(a.conn), 511u);
  Bytes buf(2000);
  EXPECT_EQ(a.engine->queue_seal(a.conn, ContentType::kApplicationData,
                                 buf.data(), 512, buf.size()),
            0u);
  EXPECT_EQ(a.engine->queue_seal(a.conn, ContentType::kApplicationData,
                                 buf.data(), 500, buf.size(), 20),
            0u)
      << "padding counts toward the limit";
  EXPECT_NE(a.engine->queue_seal(a.conn, ContentType::kApplicationData,
                                 buf.data(), 511, buf.size()),
            0u);
  EXPECT_EQ(a.engine->queue_seal(a.conn, ContentType::kApplicationData,
                                 buf.data(), 10, 10 + 21),
            0u)
      << "buffer too small";
}

TEST(RecordSendTest, NothingIsSealedAfterAnAlert) {
  std::mt19937_64 rng(8);
  Side a(BackendKind::kOpenSsl);
  const Secrets s = MakeSecrets(rng, CipherSuite::kAes256GcmSha384);
  ASSERT_TRUE(a.engine->install(a.conn, CipherSuite::kAes256GcmSha384,
                                {s.s2c, 0}, {s.c2s, 0}));
  uint8_t buf[64];
  const size_t n =
      a.engine->write_alert(a.conn, Alert::kCloseNotify, buf, sizeof(buf));
  ASSERT_EQ(n, 5u + 2 + 1 + 16);
  EXPECT_TRUE(a.conn.tx_closed());
  EXPECT_EQ(a.engine->queue_seal(a.conn, ContentType::kApplicationData, buf, 1,
                                 sizeof(buf)),
            0u);
  EvpRecordLayer ref(CipherSuite::kAes256GcmSha384, s.c2s);
  Bytes inner;
  ASSERT_TRUE(ref.Open(Bytes(buf, buf + n), &inner));
  EXPECT_EQ(inner, (Bytes{1, 0, 21}));
}

TEST(RxStreamTest, FullStreamRefusesMoreAndNothingIsLost) {
  RxStream rx;
  Pieces pieces;
  uint8_t bytes[RxStream::kMaxChunks + 1][4] = {};
  for (size_t i = 0; i < RxStream::kMaxChunks; ++i) {
    bytes[i][0] = static_cast<uint8_t>(i);
    ASSERT_TRUE(rx.push({bytes[i], 4, bytes[i]}));
  }
  EXPECT_TRUE(rx.full());
  EXPECT_FALSE(rx.push({bytes[RxStream::kMaxChunks], 4, nullptr}));
  EXPECT_FALSE(rx.push({bytes[0], 0, nullptr})) << "empty pieces refused";
  EXPECT_EQ(rx.buffered(), 4 * RxStream::kMaxChunks);
  // Segments across every piece, then a partial consume releases whole
  // pieces only.
  IoSegment segs[RxStream::kMaxChunks];
  EXPECT_EQ(rx.segments(2, 4 * RxStream::kMaxChunks - 2, segs),
            RxStream::kMaxChunks);
  EXPECT_EQ(segs[0].data, bytes[0] + 2);
  EXPECT_EQ(segs[0].len, 2u);
  EXPECT_EQ(rx.segments(0, 4 * RxStream::kMaxChunks, std::span(segs, 3)), 0u)
      << "more segments than room";
  struct Count {
    static void Release(void* ctx, void*) { ++*static_cast<size_t*>(ctx); }
  };
  size_t released = 0;
  rx.cut(10);
  rx.consume(10, &Count::Release, &released);
  EXPECT_EQ(released, 2u);
  uint8_t b = 0;
  ASSERT_TRUE(rx.peek(0, std::span(&b, 1)));
  EXPECT_EQ(b, 0u) << "byte 10 is byte 2 of piece 2, which is zero";
  EXPECT_EQ(rx.buffered(), 4 * RxStream::kMaxChunks - 10);
  rx.clear(&Count::Release, &released);
  EXPECT_EQ(released, RxStream::kMaxChunks);
}

TEST(RecordSizeTest, DynamicSizingStartsSmallGrowsAndResetsWhenIdle) {
  std::mt19937_64 rng(9);
  RecordConfig config;
  config.record_size.small_size = 1000;
  config.record_size.small_bytes = 3000;
  config.record_size.idle_reset_ns = 500;
  Side a(BackendKind::kIpsecMb, config);
  const Secrets s = MakeSecrets(rng, CipherSuite::kAes128GcmSha256);
  ASSERT_TRUE(a.engine->install(a.conn, CipherSuite::kAes128GcmSha256,
                                {s.s2c, 0}, {s.c2s, 0}));
  std::vector<size_t> sizes;
  uint64_t now = 100;
  Bytes wire;
  for (int i = 0; i < 5; ++i) {
    const size_t n = a.engine->next_record_size(a.conn, now += 10);
    sizes.push_back(n);
    a.Send(Bytes(n, 1), &wire);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{1000, 1000, 1000, 16384, 16384}));
  // Idle for longer than idle_reset_ns: small again.
  EXPECT_EQ(a.engine->next_record_size(a.conn, now + 1000), 1000u);
}

TEST(RecordSizeTest, FixedSizingIsCappedByThePeersLimit) {
  std::mt19937_64 rng(10);
  RecordConfig config;
  config.record_size.mode = RecordSizePolicy::Mode::kFixed;
  config.record_size.fixed_size = 4096;
  Side a(BackendKind::kOpenSsl, config);
  const Secrets s = MakeSecrets(rng, CipherSuite::kAes128GcmSha256);
  ASSERT_TRUE(a.engine->install(a.conn, CipherSuite::kAes128GcmSha256,
                                {s.s2c, 0}, {s.c2s, 0}, /*peer_limit=*/2049));
  EXPECT_EQ(a.engine->next_record_size(a.conn, 1), 2048u);
}

TEST(RecordInstallTest, RefusesWrongSecretLength) {
  Side a(BackendKind::kIpsecMb);
  Bytes short_secret(31), good(32);
  EXPECT_FALSE(a.engine->install(a.conn, CipherSuite::kAes128GcmSha256,
                                 {short_secret, 0}, {good, 0}));
  EXPECT_FALSE(a.conn.established());
  EXPECT_FALSE(a.engine->install(a.conn, CipherSuite::kAes256GcmSha384,
                                 {good, 0}, {good, 0}))
      << "SHA-384 suites need 48-byte secrets";
}

}  // namespace
}  // namespace dptls::tls
