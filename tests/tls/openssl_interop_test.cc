// dptls's key derivation against a live TLS 1.3 stack nobody here wrote:
// an OpenSSL libssl client and server in memory, for every cipher suite,
// with and without a HelloRetryRequest. From the secrets OpenSSL logs
// (SSLKEYLOGFILE format) our code must
//  - derive the traffic keys and IVs that open every encrypted record on
//    the wire, both directions, with dptls's own AEAD layer;
//  - follow the server's KeyUpdate (RFC 8446 7.2) to the next keys, and
//    derive the same next secret OpenSSL logs (SERVER_TRAFFIC_SECRET_N);
//  - rebuild the transcript from the decrypted handshake messages
//    (message_hash rule included) and verify both Finished messages;
//  - give the same exporter output as SSL_export_keying_material (7.5).
// RFC 8448 covers only TLS_AES_128_GCM_SHA256; this covers SHA-384,
// AES-256-GCM and ChaCha20-Poly1305.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/key_schedule.h"
#include "dptls/tls/transcript.h"
#include "dptls/util/bytes.h"
#include "support/aead_test_support.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::AeadBackend;
using ::dptls::crypto::AeadDir;
using ::dptls::crypto::AeadKey;
using ::dptls::crypto::AeadOp;
using ::dptls::crypto::AeadStatus;
using ::dptls::crypto::IoSegment;
using ::dptls::crypto::kAeadNonceLen;
using ::dptls::crypto::kAeadTagLen;
using ::dptls::crypto::testing::HexDecode;
using ::dptls::crypto::testing::HexEncode;
using Bytes = std::vector<uint8_t>;

struct SslDeleter {
  void operator()(SSL* p) const { SSL_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, SslDeleter>;

// Secrets by keylog label ("SERVER_TRAFFIC_SECRET_0", ...).
using Keylog = std::map<std::string, Bytes>;

void KeylogLine(const SSL* ssl, const char* line) {
  auto* log = static_cast<Keylog*>(SSL_get_app_data(ssl));
  std::istringstream in(line);
  std::string label;
  std::string random;
  std::string secret_hex;
  in >> label >> random >> secret_hex;
  Bytes secret;
  if (HexDecode(secret_hex, &secret)) {
    (*log)[label] = secret;
  }
}

// A throwaway P-256 key and self-signed certificate for the server.
void MakeServerIdentity(Ptr<EVP_PKEY>* key, Ptr<X509>* cert) {
  key->reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ASSERT_NE(*key, nullptr);
  cert->reset(X509_new());
  X509* x = cert->get();
  ASSERT_EQ(X509_set_version(x, 2), 1);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  ASSERT_EQ(X509_set_pubkey(x, key->get()), 1);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("dptls"),
                             -1, -1, 0);
  ASSERT_EQ(X509_set_issuer_name(x, name), 1);
  ASSERT_GT(X509_sign(x, key->get(), EVP_sha256()), 0);
}

Bytes Drain(BIO* bio) {
  Bytes out(static_cast<size_t>(BIO_ctrl_pending(bio)));
  if (!out.empty()) {
    EXPECT_EQ(BIO_read(bio, out.data(), static_cast<int>(out.size())),
              static_cast<int>(out.size()));
  }
  return out;
}

// One direction's wire bytes decrypted with keys we derived.
struct Decoded {
  std::vector<Bytes> handshake;  // whole handshake messages, in order
  Bytes app_data;
  size_t records_opened = 0;
  size_t key_updates = 0;
  bool all_opened = true;
};

// Walks a TLS 1.3 record stream: plaintext handshake records, CCS skipped,
// encrypted records opened with the handshake keys until the sender's
// Finished, then with application traffic secret 0, then with each
// KeyUpdate's next secret. Uses dptls's OpenSSL AEAD backend.
class StreamDecoder {
 public:
  StreamDecoder(const CipherSuiteInfo& suite, const Bytes& hs_secret,
                const Bytes& ap_secret)
      : suite_(suite), ap_secret_(ap_secret) {
    std::string error;
    backend_ = crypto::make_backend(crypto::BackendKind::kOpenSsl, {}, &error);
    EXPECT_NE(backend_, nullptr) << error;
    SetEpoch(hs_secret);
  }

  Decoded Decode(const Bytes& wire) {
    Decoded d;
    ByteReader r(wire);
    while (!r.empty()) {
      const size_t start = r.position();
      uint8_t type = 0;
      uint16_t version = 0;
      ByteReader body;
      if (!r.u8(&type) || !r.u16(&version) || !r.prefixed16(&body)) {
        ADD_FAILURE() << "truncated record at " << start;
        d.all_opened = false;
        return d;
      }
      const std::span<const uint8_t> header =
          std::span<const uint8_t>(wire).subspan(start, 5);
      if (type == 20) {
        continue;  // change_cipher_spec (middlebox compatibility)
      }
      if (type == 22) {
        AddHandshake(body.rest(), &d);
        continue;
      }
      if (type != 23) {
        ADD_FAILURE() << "unexpected record type " << int{type};
        d.all_opened = false;
        return d;
      }
      Bytes inner;
      if (!Open(header, body.rest(), &inner)) {
        d.all_opened = false;
        return d;
      }
      ++d.records_opened;
      // TLSInnerPlaintext: content, real type, zero padding.
      while (!inner.empty() && inner.back() == 0) {
        inner.pop_back();
      }
      if (inner.empty()) {
        ADD_FAILURE() << "record with no content type";
        d.all_opened = false;
        return d;
      }
      const uint8_t inner_type = inner.back();
      inner.pop_back();
      if (inner_type == 23) {
        d.app_data.insert(d.app_data.end(), inner.begin(), inner.end());
      } else if (inner_type == 22) {
        AddHandshake(inner, &d);
      }
    }
    return d;
  }

 private:
  void SetEpoch(std::span<const uint8_t> secret) {
    ASSERT_EQ(traffic_.init(suite_, secret), KdfStatus::kOk);
    ResetKey();
  }
  void ResetKey() {
    seq_ = 0;
    ASSERT_EQ(
        backend_->init_key(key_, traffic_.aead(), traffic_.keys().key_span()),
        AeadStatus::kOk);
  }

  bool Open(std::span<const uint8_t> header, std::span<const uint8_t> body,
            Bytes* out) {
    if (body.size() < kAeadTagLen) {
      ADD_FAILURE() << "record shorter than a tag";
      return false;
    }
    // nonce = iv XOR (64-bit sequence number, left-padded) (RFC 8446 5.3).
    uint8_t nonce[kAeadNonceLen];
    const auto iv = traffic_.keys().iv_span();
    for (size_t i = 0; i < kAeadNonceLen; ++i) {
      const size_t shift = 8 * (kAeadNonceLen - 1 - i);
      nonce[i] = static_cast<uint8_t>(
          iv[i] ^ (shift < 64 ? static_cast<uint8_t>(seq_ >> shift) : 0));
    }
    *out = Bytes(body.begin(), body.end() - kAeadTagLen);
    Bytes tag(body.end() - kAeadTagLen, body.end());
    IoSegment seg{out->data(), out->size()};
    AeadOp op;
    op.key = &key_;
    op.dir = AeadDir::kOpen;
    op.nonce = nonce;
    op.aad = header;
    op.segs = std::span<const IoSegment>(&seg, 1);
    op.tag = tag.data();
    const AeadStatus status = backend_->run_one(op);
    if (status != AeadStatus::kOk) {
      ADD_FAILURE() << "record " << seq_ << " (generation "
                    << traffic_.generation()
                    << ") did not open: " << crypto::aead_status_name(status);
      return false;
    }
    ++seq_;
    return true;
  }

  // Reassembles handshake messages and switches keys where the protocol
  // does: after our own Finished, and after each KeyUpdate.
  void AddHandshake(std::span<const uint8_t> bytes, Decoded* d) {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    for (;;) {
      ByteReader r(pending_);
      uint8_t type = 0;
      uint32_t len = 0;
      if (!r.u8(&type) || !r.u24(&len) || r.remaining() < len) {
        return;
      }
      Bytes message(pending_.begin(), pending_.begin() + 4 + len);
      pending_.erase(pending_.begin(), pending_.begin() + 4 + len);
      if (type == 20 && !in_application_) {
        in_application_ = true;
        d->handshake.push_back(std::move(message));
        SetEpoch(ap_secret_);
        continue;
      }
      if (type == 24) {  // KeyUpdate
        ASSERT_EQ(traffic_.update(), KdfStatus::kOk);
        ResetKey();
        ++d->key_updates;
        continue;
      }
      if (!in_application_) {
        d->handshake.push_back(std::move(message));
      }
      // NewSessionTicket: post-handshake, not in the transcript.
    }
  }

  const CipherSuiteInfo& suite_;
  Bytes ap_secret_;
  std::unique_ptr<AeadBackend> backend_;
  TrafficSecret traffic_;
  AeadKey key_;
  uint64_t seq_ = 0;
  Bytes pending_;
  bool in_application_ = false;
};

struct InteropParam {
  uint16_t suite;
  bool hello_retry;
};

class OpenSslInteropTest : public ::testing::TestWithParam<InteropParam> {};

TEST_P(OpenSslInteropTest, OurKeysOpenEveryRecordAndFinishedVerifies) {
  const InteropParam p = GetParam();
  const CipherSuiteInfo* suite = find_cipher_suite(p.suite);
  ASSERT_NE(suite, nullptr);
  const std::string suite_name(suite->name);

  Ptr<EVP_PKEY> key;
  Ptr<X509> cert;
  ASSERT_NO_FATAL_FAILURE(MakeServerIdentity(&key, &cert));
  Ptr<SSL_CTX> server_ctx(SSL_CTX_new(TLS_server_method()));
  Ptr<SSL_CTX> client_ctx(SSL_CTX_new(TLS_client_method()));
  for (SSL_CTX* ctx : {server_ctx.get(), client_ctx.get()}) {
    ASSERT_EQ(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), 1);
    ASSERT_EQ(SSL_CTX_set_ciphersuites(ctx, suite_name.c_str()), 1);
    SSL_CTX_set_keylog_callback(ctx, KeylogLine);
  }
  ASSERT_EQ(SSL_CTX_use_certificate(server_ctx.get(), cert.get()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(server_ctx.get(), key.get()), 1);
  SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_NONE, nullptr);

  Ptr<SSL> server(SSL_new(server_ctx.get()));
  Ptr<SSL> client(SSL_new(client_ctx.get()));
  Keylog server_log;
  Keylog client_log;
  SSL_set_app_data(server.get(), &server_log);
  SSL_set_app_data(client.get(), &client_log);
  if (p.hello_retry) {
    // The client's only key share is X25519; the server takes only P-256.
    ASSERT_EQ(SSL_set1_groups_list(client.get(), "X25519:P-256"), 1);
    ASSERT_EQ(SSL_set1_groups_list(server.get(), "P-256"), 1);
  }
  BIO* c_in = BIO_new(BIO_s_mem());
  BIO* c_out = BIO_new(BIO_s_mem());
  BIO* s_in = BIO_new(BIO_s_mem());
  BIO* s_out = BIO_new(BIO_s_mem());
  SSL_set_bio(client.get(), c_in, c_out);  // the SSLs own the BIOs now
  SSL_set_bio(server.get(), s_in, s_out);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  Bytes c2s;
  Bytes s2c;
  auto pump = [&] {
    Bytes b = Drain(c_out);
    c2s.insert(c2s.end(), b.begin(), b.end());
    if (!b.empty()) {
      BIO_write(s_in, b.data(), static_cast<int>(b.size()));
    }
    b = Drain(s_out);
    s2c.insert(s2c.end(), b.begin(), b.end());
    if (!b.empty()) {
      BIO_write(c_in, b.data(), static_cast<int>(b.size()));
    }
  };
  for (int i = 0; i < 10 && !(SSL_is_init_finished(client.get()) &&
                              SSL_is_init_finished(server.get()));
       ++i) {
    SSL_do_handshake(client.get());
    pump();
    SSL_do_handshake(server.get());
    pump();
  }
  ASSERT_TRUE(SSL_is_init_finished(client.get()));
  ASSERT_TRUE(SSL_is_init_finished(server.get()));
  ASSERT_EQ(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(server.get())),
            p.suite);

  // Application data both ways, with a server KeyUpdate in between.
  const std::string s_msg1 = "server says hello";
  const std::string s_msg2 = "server after KeyUpdate";
  const std::string c_msg = "client says hello";
  ASSERT_GT(SSL_write(server.get(), s_msg1.data(), int(s_msg1.size())), 0);
  ASSERT_EQ(SSL_key_update(server.get(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  ASSERT_GT(SSL_write(server.get(), s_msg2.data(), int(s_msg2.size())), 0);
  ASSERT_GT(SSL_write(client.get(), c_msg.data(), int(c_msg.size())), 0);
  pump();
  char buf[256];
  ASSERT_GT(SSL_read(client.get(), buf, sizeof(buf)), 0);  // sanity: OpenSSL
  ASSERT_GT(SSL_read(server.get(), buf, sizeof(buf)), 0);  // itself agrees

  for (const char* label :
       {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET"}) {
    ASSERT_EQ(server_log.count(label), 1u) << label;
    ASSERT_EQ(server_log[label].size(), hash_len(suite->hash)) << label;
    EXPECT_EQ(HexEncode(server_log[label]), HexEncode(client_log[label]))
        << "the two ends logged different " << label;
  }
  // The server logs the secret its KeyUpdate moved to: ours must agree.
  ASSERT_EQ(server_log.count("SERVER_TRAFFIC_SECRET_N"), 1u);
  Secret next;
  ASSERT_EQ(derive_next_traffic_secret(
                suite->hash, server_log["SERVER_TRAFFIC_SECRET_0"], &next),
            KdfStatus::kOk);
  EXPECT_EQ(HexEncode(next.span()),
            HexEncode(server_log["SERVER_TRAFFIC_SECRET_N"]));

  // Server to client: handshake flight, tickets, data, KeyUpdate, data.
  StreamDecoder from_server(*suite,
                            server_log["SERVER_HANDSHAKE_TRAFFIC_SECRET"],
                            server_log["SERVER_TRAFFIC_SECRET_0"]);
  const Decoded s = from_server.Decode(s2c);
  EXPECT_TRUE(s.all_opened);
  EXPECT_EQ(std::string(s.app_data.begin(), s.app_data.end()), s_msg1 + s_msg2);
  EXPECT_EQ(s.key_updates, 1u);
  // EE..Finished (1+), 2 NewSessionTickets, data, KeyUpdate, data.
  EXPECT_GE(s.records_opened, 5u);
  // Client to server: Finished, data.
  StreamDecoder from_client(*suite,
                            client_log["CLIENT_HANDSHAKE_TRAFFIC_SECRET"],
                            client_log["CLIENT_TRAFFIC_SECRET_0"]);
  const Decoded c = from_client.Decode(c2s);
  EXPECT_TRUE(c.all_opened);
  EXPECT_EQ(std::string(c.app_data.begin(), c.app_data.end()), c_msg);
  EXPECT_EQ(c.records_opened, 2u) << "client Finished, data";

  // The transcript, from the decrypted messages: CH1 [HRR CH2] SH EE Cert
  // CV Fin(server) Fin(client).
  const size_t client_hellos = p.hello_retry ? 2 : 1;
  const size_t server_hellos = p.hello_retry ? 2 : 1;
  ASSERT_EQ(c.handshake.size(), client_hellos + 1) << "CH[, CH2], Finished";
  ASSERT_EQ(s.handshake.size(), server_hellos + 4)
      << "[HRR,] SH EE Cert CV Fin";
  Transcript t;
  ASSERT_EQ(t.init(suite->hash), KdfStatus::kOk);
  ASSERT_EQ(t.add(c.handshake[0]), KdfStatus::kOk);
  size_t si = 0;
  if (p.hello_retry) {
    ASSERT_EQ(t.replace_with_message_hash(), KdfStatus::kOk);
    ASSERT_EQ(t.add(s.handshake[si++]), KdfStatus::kOk);  // HRR
    ASSERT_EQ(t.add(c.handshake[1]), KdfStatus::kOk);     // CH2
  }
  for (; si + 1 < s.handshake.size(); ++si) {
    ASSERT_EQ(t.add(s.handshake[si]), KdfStatus::kOk);
  }
  HashValue h;
  ASSERT_EQ(t.current_hash(&h), KdfStatus::kOk);
  const Bytes& server_finished = s.handshake.back();
  ASSERT_EQ(server_finished[0], 20);
  EXPECT_EQ(verify_finished(suite->hash,
                            server_log["SERVER_HANDSHAKE_TRAFFIC_SECRET"],
                            h.span(), std::span(server_finished).subspan(4)),
            KdfStatus::kOk)
      << "server Finished";
  ASSERT_EQ(t.add(server_finished), KdfStatus::kOk);
  ASSERT_EQ(t.current_hash(&h), KdfStatus::kOk);
  const Bytes& client_finished = c.handshake.back();
  ASSERT_EQ(client_finished[0], 20);
  EXPECT_EQ(verify_finished(suite->hash,
                            client_log["CLIENT_HANDSHAKE_TRAFFIC_SECRET"],
                            h.span(), std::span(client_finished).subspan(4)),
            KdfStatus::kOk)
      << "client Finished";

  // Exporter, with a context and with none (the same in TLS 1.3).
  const std::string label = "EXPORTER-dptls-test";
  const Bytes context = {0xC0, 0xFF, 0xEE};
  for (bool use_context : {true, false}) {
    SCOPED_TRACE(use_context ? "context" : "no context");
    Bytes theirs(40);
    ASSERT_EQ(
        SSL_export_keying_material(server.get(), theirs.data(), theirs.size(),
                                   label.data(), label.size(), context.data(),
                                   context.size(), use_context ? 1 : 0),
        1);
    Bytes ours(40);
    ASSERT_EQ(export_keying_material(
                  suite->hash, server_log["EXPORTER_SECRET"], label,
                  use_context ? std::span<const uint8_t>(context)
                              : std::span<const uint8_t>(),
                  ours),
              KdfStatus::kOk);
    EXPECT_EQ(HexEncode(ours), HexEncode(theirs));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Suites, OpenSslInteropTest,
    ::testing::Values(InteropParam{0x1301, false}, InteropParam{0x1302, false},
                      InteropParam{0x1303, false}, InteropParam{0x1301, true},
                      InteropParam{0x1302, true}, InteropParam{0x1303, true}),
    [](const ::testing::TestParamInfo<InteropParam>& param_info) {
      std::string name(find_cipher_suite(param_info.param.suite)->name);
      return name + (param_info.param.hello_retry ? "_hrr" : "");
    });

}  // namespace
}  // namespace dptls::tls
