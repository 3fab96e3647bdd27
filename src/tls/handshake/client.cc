// The TLS 1.3 client handshake state machine (RFC 8446 sections 2, 4 and
// 7), s2n style like server.cc: one table of message sequences per
// handshake kind, one handler per message.
#include "dptls/tls/handshake/client.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "dptls/tls/handshake/client_auth.h"
#include "dptls/tls/handshake/key_exchange.h"
#include "dptls/tls/handshake/record_layer.h"
#include "dptls/tls/key_schedule.h"
#include "dptls/tls/transcript.h"
#include "tls/handshake/ossl_ptr.h"
#include "tls/handshake/x509_store.h"

namespace dptls::tls {

namespace {

using internal::add_pem_certificates;
using internal::OsslPtr;

// The messages of a client handshake. X(enumerator, printable name)
#define DPTLS_CLIENT_HS_MESSAGES(X)                      \
  X(kClientHello, "ClientHello")                         \
  X(kServerHello, "ServerHello")                         \
  X(kClientChangeCipherSpec, "ChangeCipherSpec")         \
  X(kClientHello2, "ClientHello2")                       \
  X(kEncryptedExtensions, "EncryptedExtensions")         \
  X(kCertificateRequest, "CertificateRequest")           \
  X(kServerCertificate, "Certificate")                   \
  X(kServerCertificateVerify, "CertificateVerify")       \
  X(kServerFinished, "ServerFinished")                   \
  X(kClientCertificate, "ClientCertificate")             \
  X(kClientCertificateVerify, "ClientCertificateVerify") \
  X(kClientFinished, "ClientFinished")                   \
  X(kApplicationData, "ApplicationData")

enum class Msg : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_CLIENT_HS_MESSAGES(DPTLS_X)
#undef DPTLS_X
};

// The message sequences (RFC 8446 section 2, figures 1 to 3) as the client
// walks them. kInitial holds the ClientHello and the server's first
// message, whose reader picks the kind; the index carries on in it. Kinds
// sharing a prefix switch into each other at the message that tells them
// apart (a CertificateRequest where a Certificate was expected; our empty
// Certificate). The client's change_cipher_spec (middlebox compatibility,
// appendix D.4) is listed before each possible second flight; its writer
// sends at most one. The server's change_cipher_spec is dropped by the
// record layer.
constexpr Msg kInitialSequence[] = {Msg::kClientHello, Msg::kServerHello};
constexpr Msg kFullSequence[] = {Msg::kClientHello,
                                 Msg::kServerHello,
                                 Msg::kEncryptedExtensions,
                                 Msg::kServerCertificate,
                                 Msg::kServerCertificateVerify,
                                 Msg::kServerFinished,
                                 Msg::kClientChangeCipherSpec,
                                 Msg::kClientFinished,
                                 Msg::kApplicationData};
constexpr Msg kHelloRetrySequence[] = {Msg::kClientHello,
                                       Msg::kServerHello,
                                       Msg::kClientChangeCipherSpec,
                                       Msg::kClientHello2,
                                       Msg::kServerHello,
                                       Msg::kEncryptedExtensions,
                                       Msg::kServerCertificate,
                                       Msg::kServerCertificateVerify,
                                       Msg::kServerFinished,
                                       Msg::kClientChangeCipherSpec,
                                       Msg::kClientFinished,
                                       Msg::kApplicationData};
constexpr Msg kPskSequence[] = {Msg::kClientHello,
                                Msg::kServerHello,
                                Msg::kEncryptedExtensions,
                                Msg::kServerFinished,
                                Msg::kClientChangeCipherSpec,
                                Msg::kClientFinished,
                                Msg::kApplicationData};
constexpr Msg kHelloRetryPskSequence[] = {Msg::kClientHello,
                                          Msg::kServerHello,
                                          Msg::kClientChangeCipherSpec,
                                          Msg::kClientHello2,
                                          Msg::kServerHello,
                                          Msg::kEncryptedExtensions,
                                          Msg::kServerFinished,
                                          Msg::kClientChangeCipherSpec,
                                          Msg::kClientFinished,
                                          Msg::kApplicationData};
constexpr Msg kFullClientAuthSequence[] = {
    Msg::kClientHello,         Msg::kServerHello,
    Msg::kEncryptedExtensions, Msg::kCertificateRequest,
    Msg::kServerCertificate,   Msg::kServerCertificateVerify,
    Msg::kServerFinished,      Msg::kClientChangeCipherSpec,
    Msg::kClientCertificate,   Msg::kClientCertificateVerify,
    Msg::kClientFinished,      Msg::kApplicationData};
constexpr Msg kHelloRetryClientAuthSequence[] = {Msg::kClientHello,
                                                 Msg::kServerHello,
                                                 Msg::kClientChangeCipherSpec,
                                                 Msg::kClientHello2,
                                                 Msg::kServerHello,
                                                 Msg::kEncryptedExtensions,
                                                 Msg::kCertificateRequest,
                                                 Msg::kServerCertificate,
                                                 Msg::kServerCertificateVerify,
                                                 Msg::kServerFinished,
                                                 Msg::kClientChangeCipherSpec,
                                                 Msg::kClientCertificate,
                                                 Msg::kClientCertificateVerify,
                                                 Msg::kClientFinished,
                                                 Msg::kApplicationData};
// We answer the CertificateRequest with an empty Certificate: no
// CertificateVerify (4.4.2, 4.4.3).
constexpr Msg kFullNoClientCertSequence[] = {
    Msg::kClientHello,         Msg::kServerHello,
    Msg::kEncryptedExtensions, Msg::kCertificateRequest,
    Msg::kServerCertificate,   Msg::kServerCertificateVerify,
    Msg::kServerFinished,      Msg::kClientChangeCipherSpec,
    Msg::kClientCertificate,   Msg::kClientFinished,
    Msg::kApplicationData};
constexpr Msg kHelloRetryNoClientCertSequence[] = {
    Msg::kClientHello,
    Msg::kServerHello,
    Msg::kClientChangeCipherSpec,
    Msg::kClientHello2,
    Msg::kServerHello,
    Msg::kEncryptedExtensions,
    Msg::kCertificateRequest,
    Msg::kServerCertificate,
    Msg::kServerCertificateVerify,
    Msg::kServerFinished,
    Msg::kClientChangeCipherSpec,
    Msg::kClientCertificate,
    Msg::kClientFinished,
    Msg::kApplicationData};

std::span<const Msg> sequence(HandshakeKind kind) {
  switch (kind) {
    case HandshakeKind::kInitial:
      return kInitialSequence;
    case HandshakeKind::kFull:
      return kFullSequence;
    case HandshakeKind::kHelloRetry:
      return kHelloRetrySequence;
    case HandshakeKind::kPsk:
      return kPskSequence;
    case HandshakeKind::kHelloRetryPsk:
      return kHelloRetryPskSequence;
    case HandshakeKind::kFullClientAuth:
      return kFullClientAuthSequence;
    case HandshakeKind::kHelloRetryClientAuth:
      return kHelloRetryClientAuthSequence;
    case HandshakeKind::kFullNoClientCert:
      return kFullNoClientCertSequence;
    case HandshakeKind::kHelloRetryNoClientCert:
      return kHelloRetryNoClientCertSequence;
    case HandshakeKind::kPskEarlyData:
      break;  // the client does not send 0-RTT (yet)
  }
  return kInitialSequence;
}

// The largest server messages accepted: a certificate chain of a few
// certificates, and the rest far below it.
constexpr size_t kMaxServerHelloLen = 4096;
constexpr size_t kMaxEncryptedExtensionsLen = 16384;
constexpr size_t kMaxCertificateRequestLen = 16384;
constexpr size_t kMaxCertificateLen = 131072;
constexpr size_t kMaxCertificateVerifyLen = kHandshakeHeaderLen + 4 + 1024;
constexpr size_t kMaxNewSessionTicketLen =
    kHandshakeHeaderLen + 13 + 255 + 0xffff + 0xffff;

uint64_t system_now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

bool is_ip_literal(const std::string& name) {
  uint8_t buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// The alert for an X509_verify_cert error (RFC 8446 section 6.2).
Alert alert_for_verify_error(int err) {
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return Alert::kCertificateExpired;
    case X509_V_ERR_CERT_REVOKED:
      return Alert::kCertificateRevoked;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return Alert::kUnknownCa;
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
      return Alert::kUnsupportedCertificate;
    default:
      return Alert::kBadCertificate;
  }
}

OsslPtr<X509> parse_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  OsslPtr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x == nullptr || p != der.data() + der.size()) {
    ERR_clear_error();
    return nullptr;
  }
  return x;
}

struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};

// Verifies the server's chain (DER, leaf first) against `store` at `now_s`
// for the TLS server purpose, then the leaf against `name`.
bool verify_server_chain(x509_store_st* store,
                         std::span<const std::span<const uint8_t>> chain,
                         const std::string& name, bool is_ip, int64_t now_s,
                         Alert* alert) {
  OsslPtr<X509> leaf = parse_der(chain[0]);
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  if (leaf == nullptr || untrusted == nullptr) {
    *alert = Alert::kBadCertificate;
    return false;
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    OsslPtr<X509> x = parse_der(chain[i]);
    if (x == nullptr || sk_X509_push(untrusted.get(), x.get()) == 0) {
      *alert = Alert::kBadCertificate;
      return false;
    }
    static_cast<void>(x.release());  // owned by the stack now
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store, leaf.get(), untrusted.get()) != 1) {
    ERR_clear_error();
    *alert = Alert::kInternalError;
    return false;
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                             static_cast<time_t>(now_s));
  if (X509_verify_cert(ctx.get()) != 1) {
    *alert = alert_for_verify_error(X509_STORE_CTX_get_error(ctx.get()));
    ERR_clear_error();
    return false;
  }
  // The identity check (RFC 6125 via libcrypto): subjectAltName dNSName or
  // iPAddress; wildcards only as a whole left-most label.
  const int match =
      is_ip ? X509_check_ip_asc(leaf.get(), name.c_str(), 0)
            : X509_check_host(leaf.get(), name.data(), name.size(),
                              X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
  ERR_clear_error();
  if (match != 1) {
    *alert = Alert::kBadCertificate;
    return false;
  }
  return true;
}

uint16_t code(CipherSuite s) { return static_cast<uint16_t>(s); }

}  // namespace

// ---- ClientSessionCache ----

void ClientSessionCache::put(ClientSession session) {
  std::lock_guard<std::mutex> lock(mu_);
  std::deque<ClientSession>& q = sessions_[session.server_name];
  q.push_front(std::move(session));
  while (q.size() > per_name_) {
    q.pop_back();
  }
}

bool ClientSessionCache::take(std::string_view server_name, uint64_t now_ms,
                              ClientSession* out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(server_name);
  if (it == sessions_.end()) {
    return false;
  }
  std::deque<ClientSession>& q = it->second;
  while (!q.empty()) {
    ClientSession s = std::move(q.front());
    q.pop_front();
    const uint64_t lifetime_ms = uint64_t{s.lifetime_s} * 1000;
    if (now_ms >= s.received_ms && now_ms - s.received_ms < lifetime_ms) {
      *out = std::move(s);
      return true;
    }
  }
  return false;
}

size_t ClientSessionCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [name, q] : sessions_) {
    n += q.size();
  }
  return n;
}

// ---- ClientContext ----

ClientContext::~ClientContext() { X509_STORE_free(store_); }

std::shared_ptr<const ClientContext> ClientContext::create(ClientConfig config,
                                                           std::string* error) {
  if (config.cipher_suites.empty() || config.groups.empty() ||
      config.signature_schemes.empty()) {
    *error = "cipher_suites, groups and signature_schemes must not be empty";
    return nullptr;
  }
  for (CipherSuite s : config.cipher_suites) {
    if (cipher_suite_info(s) == nullptr) {
      *error = "unknown cipher suite";
      return nullptr;
    }
  }
  if (config.record_size_limit != 0 &&
      (config.record_size_limit < kMinRecordSizeLimit ||
       config.record_size_limit > kMaxRecordSizeLimit13)) {
    *error = "record_size_limit must be 0 or 64 to 16385";
    return nullptr;
  }
  for (const std::string& p : config.alpn_protocols) {
    if (p.empty() || p.size() > 255) {
      *error = "ALPN protocol names are 1 to 255 bytes";
      return nullptr;
    }
  }
  if (config.server_name.size() > 255 ||
      config.server_name.find('\0') != std::string::npos) {
    *error = "server_name must be at most 255 bytes, without NUL";
    return nullptr;
  }
  if (!config.offer_psk_dhe_ke && !config.offer_psk_ke) {
    *error = "offer_psk_dhe_ke or offer_psk_ke must be set (RFC 8446 4.2.9)";
    return nullptr;
  }
  std::shared_ptr<ClientContext> ctx(new ClientContext());
  ctx->is_ip_ = is_ip_literal(config.server_name);
  if (config.verify_peer) {
    if (config.server_name.empty()) {
      *error = "verify_peer needs a server_name to check the certificate";
      return nullptr;
    }
    ctx->store_ = X509_STORE_new();
    if (ctx->store_ == nullptr) {
      *error = "X509_STORE_new failed";
      return nullptr;
    }
    if (config.trust_pem.empty()) {
      if (X509_STORE_set_default_paths(ctx->store_) != 1) {
        ERR_clear_error();
        *error = "cannot load the system's default CA paths";
        return nullptr;
      }
    } else {
      if (!add_pem_certificates(ctx->store_, config.trust_pem, "trust_pem",
                                error)) {
        return nullptr;
      }
    }
  }
  ctx->config_ = std::move(config);
  return ctx;
}

uint64_t ClientContext::now_ms() const {
  return config_.clock_ms ? config_.clock_ms() : system_now_ms();
}

// ---- the state machine ----

struct ClientHandshake::State {
  State(std::shared_ptr<const ClientContext> context,
        crypto::AeadBackend& backend)
      : ctx(std::move(context)), cfg(ctx->config()), records(backend) {}

  // One entry of the message table: who sends it, its wire type, and the
  // handler (a reader for the server's messages, a writer for ours).
  struct Action {
    bool from_server;
    HandshakeType type;
    size_t max_len;  // server messages: the largest accepted
    bool (State::*handle)();
  };
  static const Action& action(Msg m);

  void run();
  bool fail(Alert a) {
    alert = a;
    return false;
  }
  void finish_failed(Alert a, bool from_peer);
  void wipe();

  bool queue(std::span<const uint8_t> msg);
  template <typename F>
  bool build(size_t cap, F&& write);
  bool flush();

  // Handlers.
  bool write_client_hello();
  bool on_server_hello();
  bool write_ccs();
  bool on_encrypted_extensions();
  bool on_certificate_request();
  bool on_server_certificate();
  bool on_server_certificate_verify();
  bool on_server_finished();
  bool write_client_certificate();
  bool write_client_certificate_verify();
  bool write_client_finished();

  bool on_hello_retry_request(const ServerHello& sh);
  bool send_early_data(std::span<const uint8_t> client_hello);
  bool write_end_of_early_data();
  bool fill_binder(std::span<uint8_t> message, size_t binder_offset);

  std::shared_ptr<const ClientContext> ctx;
  const ClientConfig& cfg;
  HandshakeRecordLayer records;
  ClientTestHooks hooks;

  HandshakeKind kind = HandshakeKind::kInitial;
  size_t index = 0;
  bool started = false;
  HandshakeState state = HandshakeState::kNeedMore;
  FeedResult result;
  Alert alert = Alert::kInternalError;
  std::span<const uint8_t> current;
  std::vector<uint8_t> flight;
  std::vector<uint8_t> msg_buf;
  std::vector<uint8_t>* out = nullptr;

  // What we offered.
  std::array<uint8_t, 32> random{};
  std::array<uint8_t, 32> session_id{};
  size_t session_id_len = 0;
  std::vector<uint8_t> client_hello1;  // kept until the suite is known
  EphemeralKey ecdhe;
  std::vector<uint8_t> cookie;
  bool retried = false;
  bool ccs_sent = false;
  bool sent_sni = false;
  std::optional<ClientSession> offered;  // the ticket offered as a PSK
  // 0-RTT (4.2.10): the data to send, whether it went out (with the
  // ClientHello), and whether the server took it.
  std::vector<uint8_t> early_plain;
  bool early_sent = false;
  bool early_accepted = false;
  Secret client_early;
  uint64_t early_seq = 0;  // the next sequence number under client_early

  // Negotiated.
  const CipherSuiteInfo* suite = nullptr;
  bool psk_accepted = false;
  // The server resumed with psk_ke (4.2.9): no (EC)DHE.
  bool psk_ke = false;
  std::string alpn;
  uint16_t peer_record_size_limit = 0;
  uint16_t own_record_size_limit = 0;
  std::vector<uint8_t> server_leaf;
  SignatureScheme server_scheme = SignatureScheme::kEcdsaSecp256r1Sha256;
  std::optional<SignatureScheme> client_scheme;  // our CertificateVerify's

  // Keys.
  Transcript transcript;
  KeySchedule schedule;
  Secret shared_secret;
  Secret client_hs;
  Secret server_hs;
  Secret client_ap;
  Secret server_ap;
  Secret resumption_master;  // kept after kDone for NewSessionTickets
  HashValue server_finished_hash;

  HandshakeResult res;
  bool result_taken = false;
};

const ClientHandshake::State::Action& ClientHandshake::State::action(Msg m) {
  // Indexed by Msg.
  static constexpr Action kActions[] = {
      {false, HandshakeType::kClientHello, 0, &State::write_client_hello},
      {true, HandshakeType::kServerHello, kMaxServerHelloLen,
       &State::on_server_hello},
      {false, HandshakeType::kClientHello, 0, &State::write_ccs},
      {false, HandshakeType::kClientHello, 0, &State::write_client_hello},
      {true, HandshakeType::kEncryptedExtensions, kMaxEncryptedExtensionsLen,
       &State::on_encrypted_extensions},
      {true, HandshakeType::kCertificateRequest, kMaxCertificateRequestLen,
       &State::on_certificate_request},
      {true, HandshakeType::kCertificate, kMaxCertificateLen,
       &State::on_server_certificate},
      {true, HandshakeType::kCertificateVerify, kMaxCertificateVerifyLen,
       &State::on_server_certificate_verify},
      {true, HandshakeType::kFinished, kHandshakeHeaderLen + kMaxHashLen,
       &State::on_server_finished},
      {false, HandshakeType::kCertificate, 0, &State::write_client_certificate},
      {false, HandshakeType::kCertificateVerify, 0,
       &State::write_client_certificate_verify},
      {false, HandshakeType::kFinished, 0, &State::write_client_finished},
      {false, HandshakeType::kFinished, 0, nullptr},
  };
  static_assert(std::size(kActions) ==
                static_cast<size_t>(Msg::kApplicationData) + 1);
  return kActions[static_cast<size_t>(m)];
}

void ClientHandshake::State::run() {
  while (state == HandshakeState::kNeedMore) {
    const std::span<const Msg> seq = sequence(kind);
    if (index >= seq.size()) {
      finish_failed(Alert::kInternalError, false);
      return;
    }
    const Msg m = seq[index];
    if (m == Msg::kApplicationData) {
      state = HandshakeState::kDone;
      result.state = state;
      break;
    }
    const Action* a = &action(m);
    if (a->from_server) {
      Alert read_alert = Alert::kInternalError;
      const HsReadStatus st =
          records.next_message(kMaxCertificateLen, &current, &read_alert);
      if (st == HsReadStatus::kNeedMore) {
        break;
      }
      if (st == HsReadStatus::kPeerAlert) {
        finish_failed(read_alert, true);
        return;
      }
      if (st == HsReadStatus::kError) {
        finish_failed(read_alert, false);
        return;
      }
      // A CertificateRequest where the server's Certificate was expected
      // (a full handshake: never with a PSK, 4.3.2) turns the kind into
      // its client-auth variant, whose sequence has it at this index.
      if (m == Msg::kServerCertificate && !current.empty() &&
          current[0] ==
              static_cast<uint8_t>(HandshakeType::kCertificateRequest) &&
          (kind == HandshakeKind::kFull ||
           kind == HandshakeKind::kHelloRetry)) {
        kind = kind == HandshakeKind::kFull
                   ? HandshakeKind::kFullClientAuth
                   : HandshakeKind::kHelloRetryClientAuth;
        a = &action(Msg::kCertificateRequest);
      }
      // RFC 8446 section 4: a message other than the one the state
      // expects is an unexpected_message.
      if (current.empty() || current[0] != static_cast<uint8_t>(a->type)) {
        finish_failed(Alert::kUnexpectedMessage, false);
        return;
      }
      if (current.size() > a->max_len) {
        finish_failed(Alert::kDecodeError, false);
        return;
      }
    }
    if (!(this->*a->handle)()) {
      finish_failed(alert, false);
      return;
    }
    ++index;
  }
  if (!flush()) {
    finish_failed(Alert::kInternalError, false);
  }
}

void ClientHandshake::State::finish_failed(Alert a, bool from_peer) {
  state = HandshakeState::kFailed;
  result.state = state;
  result.alert = a;
  result.alert_from_peer = from_peer;
  flight.clear();
  if (!from_peer && out != nullptr) {
    records.write_alert(a, out);
  }
  wipe();
  resumption_master.wipe();
}

void ClientHandshake::State::wipe() {
  records.reset();
  schedule.reset();
  transcript.reset();
  ecdhe.reset();
  shared_secret.wipe();
  client_early.wipe();
  client_hs.wipe();
  server_hs.wipe();
  client_ap.wipe();
  server_ap.wipe();
  crypto::secure_wipe(early_plain.data(), early_plain.size());
  early_plain.clear();
  if (offered.has_value()) {
    offered->psk.wipe();
  }
  crypto::secure_wipe(msg_buf.data(), msg_buf.size());
  crypto::secure_wipe(hooks.x25519_private_key.data(),
                      hooks.x25519_private_key.size());
  crypto::secure_wipe(hooks.secp256r1_private_key.data(),
                      hooks.secp256r1_private_key.size());
}

bool ClientHandshake::State::queue(std::span<const uint8_t> msg) {
  if (transcript.add(msg) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  flight.insert(flight.end(), msg.begin(), msg.end());
  return true;
}

template <typename F>
bool ClientHandshake::State::build(size_t cap, F&& write) {
  msg_buf.resize(cap);
  ByteWriter w(msg_buf);
  if (!write(&w)) {
    return fail(Alert::kInternalError);
  }
  return queue(w.written());
}

bool ClientHandshake::State::flush() {
  if (flight.empty()) {
    return true;
  }
  const bool ok = records.write(ContentType::kHandshake, flight, out);
  flight.clear();
  return ok || fail(Alert::kInternalError);
}

// ---- ClientHello ----

bool ClientHandshake::State::fill_binder(std::span<uint8_t> message,
                                         size_t binder_offset) {
  // 4.2.11.2: HMAC with the binder key over Transcript-Hash(Truncated(
  // ClientHello)), preceded by ClientHello1 (as message_hash) and the
  // HelloRetryRequest on a retry -- which the running transcript holds
  // then, in the ticket's hash (checked when the retry was read).
  const CipherSuiteInfo* ticket_suite = cipher_suite_info(offered->suite);
  const std::span<const uint8_t> truncated = message.first(binder_offset - 3);
  HashValue hash;
  Transcript first;
  const Transcript* t = &transcript;
  if (!retried) {
    if (first.init(ticket_suite->hash) != KdfStatus::kOk) {
      return fail(Alert::kInternalError);
    }
    t = &first;
  }
  KeySchedule early;
  Secret binder_key;
  Secret binder;
  if (t->hash_with(truncated, &hash) != KdfStatus::kOk ||
      early.start(ticket_suite->hash, offered->psk.span()) != KdfStatus::kOk ||
      early.derive(SecretLabel::kResBinder, {}, &binder_key) !=
          KdfStatus::kOk ||
      compute_psk_binder(ticket_suite->hash, binder_key.span(), hash.span(),
                         &binder) != KdfStatus::kOk ||
      binder.size() != hash_len(ticket_suite->hash)) {
    return fail(Alert::kInternalError);
  }
  std::copy(binder.span().begin(), binder.span().end(),
            message.begin() + static_cast<ptrdiff_t>(binder_offset));
  return true;
}

bool ClientHandshake::State::write_client_hello() {
  if (!retried) {
    if (hooks.client_random.has_value()) {
      random = *hooks.client_random;
    } else if (RAND_bytes(random.data(), static_cast<int>(random.size())) !=
               1) {
      return fail(Alert::kInternalError);
    }
    // Appendix D.4: a fresh 32-byte session ID in compatibility mode.
    session_id_len = cfg.middlebox_compat ? session_id.size() : 0;
    if (session_id_len != 0 && hooks.legacy_session_id.has_value()) {
      session_id = *hooks.legacy_session_id;
    } else if (session_id_len != 0 &&
               RAND_bytes(session_id.data(),
                          static_cast<int>(session_id_len)) != 1) {
      return fail(Alert::kInternalError);
    }
    const NamedGroup first = cfg.groups[0];
    const bool fixed =
        first == NamedGroup::kX25519 && !hooks.x25519_private_key.empty();
    if (!(fixed ? ecdhe.set_private_key(first, hooks.x25519_private_key)
                : ecdhe.generate(first))) {
      return fail(Alert::kInternalError);
    }
    if (cfg.session_cache != nullptr && !cfg.server_name.empty()) {
      ClientSession s;
      if (cfg.session_cache->take(cfg.server_name, ctx->now_ms(), &s) &&
          cipher_suite_info(s.suite) != nullptr &&
          s.psk.size() == hash_len(cipher_suite_info(s.suite)->hash) &&
          std::find(cfg.cipher_suites.begin(), cfg.cipher_suites.end(),
                    s.suite) != cfg.cipher_suites.end()) {
        offered = std::move(s);
      }
    }
  }
  std::vector<uint16_t> suites;
  for (CipherSuite s : cfg.cipher_suites) {
    suites.push_back(code(s));
  }
  std::vector<uint16_t> groups = hooks.supported_groups;
  if (groups.empty()) {
    for (NamedGroup g : cfg.groups) {
      groups.push_back(static_cast<uint16_t>(g));
    }
  }
  std::vector<uint16_t> schemes = hooks.signature_algorithms;
  if (schemes.empty()) {
    for (SignatureScheme sc : cfg.signature_schemes) {
      schemes.push_back(static_cast<uint16_t>(sc));
    }
  }
  std::vector<RawExtension> extra;
  for (const ClientTestHooks::Extra& e : hooks.extra_extensions) {
    using In = ClientTestHooks::Extra::In;
    if (e.in == In::kBoth || (e.in == In::kRetry) == retried) {
      extra.push_back({e.type, e.body, e.after});
    }
  }
  std::vector<std::string_view> alpn_names(cfg.alpn_protocols.begin(),
                                           cfg.alpn_protocols.end());
  const KeyShareOffer share{static_cast<uint16_t>(ecdhe.group()),
                            ecdhe.public_key()};
  ClientHelloParams p;
  p.random = random;
  p.legacy_session_id = {session_id.data(), session_id_len};
  p.cipher_suites = suites;
  // RFC 6066 section 3: "Literal IPv4 and IPv6 addresses are not permitted
  // in "HostName"."
  sent_sni = !ctx->server_name_is_ip() && !cfg.server_name.empty();
  if (sent_sni) {
    p.server_name = cfg.server_name;
  }
  p.extra_extensions = extra;
  p.supported_groups = groups;
  p.key_shares = {&share, 1};
  p.signature_algorithms = schemes;
  p.record_size_limit = cfg.record_size_limit;
  p.alpn = alpn_names;
  p.cookie = cookie;
  p.psk_dhe_ke = cfg.offer_psk_dhe_ke;
  p.psk_ke = cfg.offer_psk_ke;
  // 4.2.10: early data only in the first ClientHello, when the ticket
  // allows that much.
  early_sent = !retried && offered.has_value() && !early_plain.empty() &&
               early_plain.size() <= offered->max_early_data_size;
  p.early_data = early_sent;
  if (offered.has_value()) {
    // 4.2.11.1: the ticket's age in ms plus ticket_age_add, modulo 2^32.
    const uint64_t now = ctx->now_ms();
    const uint64_t age =
        now > offered->received_ms ? now - offered->received_ms : 0;
    p.psk_identity = offered->ticket;
    p.obfuscated_ticket_age =
        static_cast<uint32_t>(age) + offered->age_add;  // wraps, by design
    p.psk_binder_len = hash_len(cipher_suite_info(offered->suite)->hash);
  }
  size_t cap = 512 + (offered.has_value() ? offered->ticket.size() : 0) +
               cookie.size() + 256 * alpn_names.size();
  for (const RawExtension& e : extra) {
    cap += 4 + e.body.size();
  }
  msg_buf.resize(cap);
  ByteWriter w(msg_buf);
  size_t binder_offset = 0;
  if (!tls::write_client_hello(p, &w, &binder_offset)) {
    return fail(Alert::kInternalError);
  }
  const std::span<uint8_t> msg = w.written();
  if (offered.has_value() && !fill_binder(msg, binder_offset)) {
    return false;
  }
  if (retried) {
    return queue(msg) && flush();
  }
  // The transcript starts once the ServerHello names the hash (see
  // transcript.h); until then ClientHello1 is kept.
  client_hello1.assign(msg.begin(), msg.end());
  const size_t start = out->size();
  if (!records.write(ContentType::kHandshake, msg, out)) {
    return fail(Alert::kInternalError);
  }
  // 5.1: the initial ClientHello's records may say 0x0301 "for
  // compatibility purposes", as most clients (and RFC 8448) do: some
  // middleboxes refuse 0x0303 there.
  for (size_t at = start; at + kRecordHeaderLen <= out->size();) {
    (*out)[at + 2] = 0x01;
    at += kRecordHeaderLen + ((size_t{(*out)[at + 3]} << 8) | (*out)[at + 4]);
  }
  return !early_sent || send_early_data(msg);
}

bool ClientHandshake::State::send_early_data(
    std::span<const uint8_t> client_hello) {
  // Appendix D.4: with early data, the change_cipher_spec goes right after
  // the ClientHello.
  if (cfg.middlebox_compat) {
    records.write_change_cipher_spec(out);
    ccs_sent = true;
  }
  // client_early_traffic_secret = Derive-Secret(Early Secret of the PSK,
  // "c e traffic", ClientHello) in the ticket's hash (7.1); the early
  // records use the ticket's cipher suite (4.2.10).
  const CipherSuiteInfo* ticket_suite = cipher_suite_info(offered->suite);
  Transcript t;
  HashValue hash;
  KeySchedule early;
  if (t.init(ticket_suite->hash) != KdfStatus::kOk ||
      t.add(client_hello) != KdfStatus::kOk ||
      t.current_hash(&hash) != KdfStatus::kOk ||
      early.start(ticket_suite->hash, offered->psk.span()) != KdfStatus::kOk ||
      early.derive(SecretLabel::kClientEarlyTraffic, hash.span(),
                   &client_early) != KdfStatus::kOk ||
      !records.set_write_secret(*ticket_suite, client_early.span()) ||
      !records.write(ContentType::kApplicationData, early_plain, out)) {
    return fail(Alert::kInternalError);
  }
  early_seq = records.write_seq();
  if (cfg.keylog) {
    cfg.keylog("CLIENT_EARLY_TRAFFIC_SECRET", random, client_early.span());
    // early_exporter_master_secret (7.1), for the key log only.
    Secret early_exporter;  // wiped by its destructor
    if (early.derive(SecretLabel::kEarlyExporterMaster, hash.span(),
                     &early_exporter) == KdfStatus::kOk) {
      cfg.keylog("EARLY_EXPORTER_SECRET", random, early_exporter.span());
    }
  }
  return true;
}

bool ClientHandshake::State::write_end_of_early_data() {
  // 4.5: after the server's Finished, EndOfEarlyData under the early key
  // (its sequence numbers carrying on), then the handshake key.
  const CipherSuiteInfo* ticket_suite = cipher_suite_info(offered->suite);
  static constexpr uint8_t kEndOfEarlyData[] = {
      static_cast<uint8_t>(HandshakeType::kEndOfEarlyData), 0, 0, 0};
  if (!flush() ||
      !records.set_write_secret(*ticket_suite, client_early.span(),
                                early_seq) ||
      !queue(kEndOfEarlyData) || !flush() ||
      !records.set_write_secret(*suite, client_hs.span())) {
    return fail(Alert::kInternalError);
  }
  client_early.wipe();
  return true;
}

bool ClientHandshake::State::write_ccs() {
  // Appendix D.4: one change_cipher_spec before our second flight (the
  // second ClientHello, or the encrypted one), in compatibility mode.
  if (cfg.middlebox_compat && !ccs_sent) {
    if (!flush()) {
      return false;
    }
    records.write_change_cipher_spec(out);
    ccs_sent = true;
  }
  return true;
}

// ---- ServerHello / HelloRetryRequest ----

bool ClientHandshake::State::on_hello_retry_request(const ServerHello& sh) {
  // 4.1.4: one HelloRetryRequest at most.
  if (retried) {
    return fail(Alert::kUnexpectedMessage);
  }
  // It must change something: a group we support other than the one we
  // sent a share for, and/or a cookie.
  const bool new_group = sh.has(ExtensionType::kKeyShare);
  if (!new_group && !sh.has(ExtensionType::kCookie)) {
    return fail(Alert::kIllegalParameter);
  }
  if (new_group) {
    const std::optional<NamedGroup> g = find_named_group(sh.key_share_group);
    if (!g.has_value() ||
        std::find(cfg.groups.begin(), cfg.groups.end(), *g) ==
            cfg.groups.end() ||
        *g == ecdhe.group()) {
      return fail(Alert::kIllegalParameter);
    }
    const bool fixed =
        *g == NamedGroup::kSecp256r1 && !hooks.secp256r1_private_key.empty();
    if (!(fixed ? ecdhe.set_private_key(*g, hooks.secp256r1_private_key)
                : ecdhe.generate(*g))) {
      return fail(Alert::kInternalError);
    }
  }
  cookie.assign(sh.cookie.begin(), sh.cookie.end());
  // 4.4.1: ClientHello1 becomes message_hash, then the retry follows.
  if (transcript.init(suite->hash) != KdfStatus::kOk ||
      transcript.add(client_hello1) != KdfStatus::kOk ||
      transcript.replace_with_message_hash() != KdfStatus::kOk ||
      transcript.add(sh.message) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  // 4.2.11: a PSK must match the suite's hash; the one the retry chose.
  if (offered.has_value() &&
      cipher_suite_info(offered->suite)->hash != suite->hash) {
    offered.reset();
  }
  retried = true;
  kind = HandshakeKind::kHelloRetry;
  return true;
}

bool ClientHandshake::State::on_server_hello() {
  ServerHello sh;
  Alert a = Alert::kDecodeError;
  if (!parse_server_hello(current, &sh, &a)) {
    return fail(a);
  }
  // 4.2.1: without supported_versions the server chose TLS 1.2 or older.
  if (!sh.has(ExtensionType::kSupportedVersions)) {
    // 4.1.3: a TLS 1.3 server negotiating down marks its random; seeing
    // the mark here means someone removed our TLS 1.3 offer.
    if (has_downgrade_sentinel(sh.random)) {
      return fail(Alert::kIllegalParameter);
    }
    // TLS 1.2 is not implemented on the client: refuse the version.
    return fail(Alert::kProtocolVersion);
  }
  // 4.2.1: "a version not offered by the client or ... prior to TLS 1.3"
  // is illegal_parameter; legacy_version is 0x0303 (4.1.3).
  if (sh.selected_version != kVersionTls13 ||
      sh.legacy_version != kVersionTls12) {
    return fail(Alert::kIllegalParameter);
  }
  // 4.1.3: the session ID echoed, a suite we offered, no compression.
  const std::span<const uint8_t> ours(session_id.data(), session_id_len);
  const CipherSuiteInfo* chosen = find_cipher_suite(sh.cipher_suite);
  if (!std::equal(sh.legacy_session_id_echo.begin(),
                  sh.legacy_session_id_echo.end(), ours.begin(), ours.end()) ||
      chosen == nullptr ||
      std::find(cfg.cipher_suites.begin(), cfg.cipher_suites.end(),
                chosen->suite) == cfg.cipher_suites.end() ||
      sh.legacy_compression_method != 0) {
    return fail(Alert::kIllegalParameter);
  }
  // 4.1.4: the ServerHello after a retry keeps the retry's suite.
  if (retried && chosen != suite) {
    return fail(Alert::kIllegalParameter);
  }
  suite = chosen;
  // 5.1: the key change (or the retry) happens at a record boundary.
  if (!records.at_record_boundary()) {
    return fail(Alert::kUnexpectedMessage);
  }
  if (sh.hello_retry_request) {
    // 4.2.10: the 0-RTT data is rejected; the second ClientHello goes in
    // plaintext again.
    if (early_sent) {
      records.clear_write_secret();
      client_early.wipe();
    }
    return on_hello_retry_request(sh);
  }
  // 4.2.11: the selected identity must be one we offered (we offer one),
  // with a suite of the ticket's hash.
  psk_accepted = sh.has(ExtensionType::kPreSharedKey);
  if (psk_accepted &&
      (!offered.has_value() || sh.selected_psk_identity != 0 ||
       cipher_suite_info(offered->suite)->hash != suite->hash)) {
    return fail(Alert::kIllegalParameter);
  }
  // 4.2.9: with the PSK and no key_share the server chose psk_ke, which
  // must be a mode we offered; psk_dhe_ke and a full handshake need the
  // server's share (4.2.8), in our group, and a share when we offered
  // only psk_ke is a mode we did not offer.
  psk_ke = psk_accepted && !sh.has(ExtensionType::kKeyShare);
  if (psk_ke && !cfg.offer_psk_ke) {
    return fail(Alert::kMissingExtension);
  }
  if (!psk_ke) {
    if (!sh.has(ExtensionType::kKeyShare)) {
      return fail(Alert::kMissingExtension);
    }
    if (sh.key_share_group != static_cast<uint16_t>(ecdhe.group()) ||
        (psk_accepted && !cfg.offer_psk_dhe_ke)) {
      return fail(Alert::kIllegalParameter);
    }
  }
  if (!retried && (transcript.init(suite->hash) != KdfStatus::kOk ||
                   transcript.add(client_hello1) != KdfStatus::kOk)) {
    return fail(Alert::kInternalError);
  }
  if (transcript.add(sh.message) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  crypto::secure_wipe(client_hello1.data(), client_hello1.size());
  client_hello1.clear();
  Alert dh_alert = Alert::kInternalError;
  if (!psk_ke && !ecdhe.derive(sh.key_exchange, &shared_secret, &dh_alert)) {
    return fail(dh_alert);
  }
  // Handshake secrets (7.1; with psk_ke an empty shared secret, zeros);
  // from here on we write under ours (an alert included) and read under
  // the server's.
  const std::span<const uint8_t> psk =
      psk_accepted ? offered->psk.span() : std::span<const uint8_t>();
  HashValue hash;
  const bool ok =
      schedule.start(suite->hash, psk) == KdfStatus::kOk &&
      schedule.advance_to_handshake(shared_secret.span()) == KdfStatus::kOk &&
      transcript.current_hash(&hash) == KdfStatus::kOk &&
      schedule.derive(SecretLabel::kClientHandshakeTraffic, hash.span(),
                      &client_hs) == KdfStatus::kOk &&
      schedule.derive(SecretLabel::kServerHandshakeTraffic, hash.span(),
                      &server_hs) == KdfStatus::kOk &&
      records.set_read_secret(*suite, server_hs.span()) &&
      records.set_write_secret(*suite, client_hs.span());
  shared_secret.wipe();
  ecdhe.reset();
  if (!ok) {
    return fail(Alert::kInternalError);
  }
  if (cfg.keylog) {
    cfg.keylog("CLIENT_HANDSHAKE_TRAFFIC_SECRET", random, client_hs.span());
    cfg.keylog("SERVER_HANDSHAKE_TRAFFIC_SECRET", random, server_hs.span());
  }
  if (psk_accepted) {
    kind = retried ? HandshakeKind::kHelloRetryPsk : HandshakeKind::kPsk;
  } else if (!retried) {
    kind = HandshakeKind::kFull;
  }
  return true;
}

// ---- the server's encrypted flight ----

bool ClientHandshake::State::on_encrypted_extensions() {
  EncryptedExtensions ee;
  Alert a = Alert::kDecodeError;
  if (!parse_encrypted_extensions(current, &ee, &a)) {
    return fail(a);
  }
  // 4.2: no response to an extension we did not send.
  if ((ee.has(ExtensionType::kServerName) && !sent_sni) ||
      (ee.has(ExtensionType::kAlpn) && cfg.alpn_protocols.empty()) ||
      (ee.has(ExtensionType::kRecordSizeLimit) && cfg.record_size_limit == 0) ||
      ee.has(ExtensionType::kMaxFragmentLength) ||
      ee.has(ExtensionType::kUseSrtp) || ee.has(ExtensionType::kHeartbeat) ||
      ee.has(ExtensionType::kClientCertificateType) ||
      ee.has(ExtensionType::kServerCertificateType) ||
      (ee.has(ExtensionType::kEarlyData) && !early_sent)) {
    return fail(Alert::kUnsupportedExtension);
  }
  if (ee.has(ExtensionType::kAlpn)) {
    // RFC 7301 section 3.2: a protocol we did not offer.
    if (std::find(cfg.alpn_protocols.begin(), cfg.alpn_protocols.end(),
                  ee.alpn) == cfg.alpn_protocols.end()) {
      return fail(Alert::kIllegalParameter);
    }
    alpn.assign(ee.alpn);
  }
  if (ee.has(ExtensionType::kRecordSizeLimit)) {
    // RFC 8449 section 4: below 64 is illegal_parameter; each limit bounds
    // what is sent towards its owner.
    if (ee.record_size_limit < kMinRecordSizeLimit) {
      return fail(Alert::kIllegalParameter);
    }
    peer_record_size_limit = ee.record_size_limit;
    own_record_size_limit = cfg.record_size_limit;
    records.set_write_limit(
        std::min<uint32_t>(peer_record_size_limit, kMaxRecordSizeLimit13));
    records.set_read_limit(own_record_size_limit);
  }
  if (ee.has(ExtensionType::kEarlyData)) {
    // 4.2.10: accepted 0-RTT means the PSK we offered (the first, here the
    // only one) with its cipher suite and ALPN protocol; otherwise
    // illegal_parameter.
    if (!psk_accepted || retried || suite->suite != offered->suite ||
        alpn != offered->alpn) {
      return fail(Alert::kIllegalParameter);
    }
    early_accepted = true;
  }
  return transcript.add(current) == KdfStatus::kOk ||
         fail(Alert::kInternalError);
}

bool ClientHandshake::State::on_certificate_request() {
  CertificateRequest cr;
  Alert a = Alert::kDecodeError;
  if (!parse_certificate_request(current, &cr, &a)) {
    return fail(a);
  }
  // 4.3.2: empty during the handshake.
  if (!cr.context.empty()) {
    return fail(Alert::kIllegalParameter);
  }
  client_scheme.reset();
  if (cfg.client_credential != nullptr) {
    // Our preference among the schemes the server accepts.
    for (SignatureScheme sc : cfg.signature_schemes) {
      if (cr.signature_algorithms.contains(static_cast<uint16_t>(sc)) &&
          cfg.client_credential->can_sign(sc)) {
        client_scheme = sc;
        break;
      }
    }
  }
  if (!client_scheme.has_value()) {
    // 4.4.2: an empty Certificate and no CertificateVerify; the index
    // carries on in the kind without it.
    kind = kind == HandshakeKind::kFullClientAuth
               ? HandshakeKind::kFullNoClientCert
               : HandshakeKind::kHelloRetryNoClientCert;
  }
  return transcript.add(current) == KdfStatus::kOk ||
         fail(Alert::kInternalError);
}

bool ClientHandshake::State::on_server_certificate() {
  std::vector<std::span<const uint8_t>> chain;
  Alert a = Alert::kDecodeError;
  if (!parse_certificate(current, &chain, &a)) {
    return fail(a);
  }
  // 4.4.2.4: "If the server supplies an empty Certificate message, the
  // client MUST abort the handshake with a "decode_error" alert."
  if (chain.empty()) {
    return fail(Alert::kDecodeError);
  }
  if (cfg.verify_peer) {
    const auto now_s = static_cast<int64_t>(ctx->now_ms() / 1000);
    if (!verify_server_chain(ctx->store(), chain, cfg.server_name,
                             ctx->server_name_is_ip(), now_s, &a)) {
      return fail(a);
    }
  } else if (parse_der(chain[0]) == nullptr) {
    return fail(Alert::kBadCertificate);
  }
  server_leaf.assign(chain[0].begin(), chain[0].end());
  return transcript.add(current) == KdfStatus::kOk ||
         fail(Alert::kInternalError);
}

bool ClientHandshake::State::on_server_certificate_verify() {
  uint16_t scheme_code = 0;
  std::span<const uint8_t> sig;
  Alert a = Alert::kDecodeError;
  if (!parse_certificate_verify(current, &scheme_code, &sig, &a)) {
    return fail(a);
  }
  // 4.4.3: a scheme from our signature_algorithms.
  const std::optional<SignatureScheme> scheme =
      find_signature_scheme(scheme_code);
  if (!scheme.has_value() ||
      std::find(cfg.signature_schemes.begin(), cfg.signature_schemes.end(),
                *scheme) == cfg.signature_schemes.end()) {
    return fail(Alert::kIllegalParameter);
  }
  // Over Transcript-Hash(ClientHello .. Certificate) with the server's
  // context string.
  HashValue hash;
  std::array<uint8_t, kCertificateVerifyContentMax> content{};
  ByteWriter cw(content);
  if (transcript.current_hash(&hash) != KdfStatus::kOk ||
      !build_certificate_verify_content(true, hash.span(), &cw)) {
    return fail(Alert::kInternalError);
  }
  // 4.4.3: a signature that does not verify is a decrypt_error. (The
  // check is the same libcrypto verification the server applies to
  // client signatures.)
  if (!verify_client_signature(server_leaf, *scheme, cw.written(), sig)) {
    return fail(Alert::kDecryptError);
  }
  server_scheme = *scheme;
  return transcript.add(current) == KdfStatus::kOk ||
         fail(Alert::kInternalError);
}

bool ClientHandshake::State::on_server_finished() {
  ByteReader r(current);
  std::span<const uint8_t> verify_data;
  r.skip(kHandshakeHeaderLen);
  r.bytes(r.remaining(), &verify_data);
  if (verify_data.size() != hash_len(suite->hash)) {
    return fail(Alert::kDecodeError);
  }
  HashValue hash;
  if (transcript.current_hash(&hash) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  const KdfStatus v =
      verify_finished(suite->hash, server_hs.span(), hash.span(), verify_data);
  if (v == KdfStatus::kMismatch) {
    return fail(Alert::kDecryptError);
  }
  if (v != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  // 5.1: the server's next records are under its application key.
  if (!records.at_record_boundary()) {
    return fail(Alert::kUnexpectedMessage);
  }
  // Application secrets from Transcript-Hash(ClientHello .. server
  // Finished) (7.1).
  if (transcript.add(current) != KdfStatus::kOk ||
      transcript.current_hash(&server_finished_hash) != KdfStatus::kOk ||
      schedule.advance_to_master() != KdfStatus::kOk ||
      schedule.derive(SecretLabel::kClientApplicationTraffic,
                      server_finished_hash.span(),
                      &client_ap) != KdfStatus::kOk ||
      schedule.derive(SecretLabel::kServerApplicationTraffic,
                      server_finished_hash.span(),
                      &server_ap) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  if (cfg.keylog) {
    cfg.keylog("CLIENT_TRAFFIC_SECRET_0", random, client_ap.span());
    cfg.keylog("SERVER_TRAFFIC_SECRET_0", random, server_ap.span());
    Secret exporter;  // wiped by its destructor
    if (schedule.derive(SecretLabel::kExporterMaster,
                        server_finished_hash.span(),
                        &exporter) == KdfStatus::kOk) {
      cfg.keylog("EXPORTER_SECRET", random, exporter.span());
    }
  }
  return true;
}

// ---- our second flight ----

bool ClientHandshake::State::write_client_certificate() {
  std::vector<std::span<const uint8_t>> chain;
  size_t cap = 16;
  if (client_scheme.has_value()) {
    const std::span<const std::vector<uint8_t>> ders =
        hooks.certificate_chain.empty()
            ? cfg.client_credential->chain()
            : std::span<const std::vector<uint8_t>>(hooks.certificate_chain);
    for (const std::vector<uint8_t>& der : ders) {
      chain.emplace_back(der);
      cap += der.size() + 5;
    }
  }
  return build(cap, [&](ByteWriter* w) {
    return tls::write_certificate({}, chain, {}, w);
  });
}

bool ClientHandshake::State::write_client_certificate_verify() {
  HashValue hash;
  if (transcript.current_hash(&hash) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  std::array<uint8_t, kCertificateVerifyContentMax> content{};
  ByteWriter cw(content);
  std::vector<uint8_t> sig;
  if (!build_certificate_verify_content(false, hash.span(), &cw) ||
      !(hooks.sign ? hooks.sign(*client_scheme, cw.written(), &sig)
                   : cfg.client_credential->sign(*client_scheme, cw.written(),
                                                 &sig))) {
    return fail(Alert::kInternalError);
  }
  return build(sig.size() + 16, [&](ByteWriter* w) {
    return tls::write_certificate_verify(*client_scheme, sig, w);
  });
}

bool ClientHandshake::State::write_client_finished() {
  if (early_accepted && !write_end_of_early_data()) {
    return false;
  }
  HashValue hash;
  Secret verify_data;
  if (transcript.current_hash(&hash) != KdfStatus::kOk ||
      compute_verify_data(suite->hash, client_hs.span(), hash.span(),
                          &verify_data) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  if (!build(kMaxHashLen + 8,
             [&](ByteWriter* w) {
               return write_finished(verify_data.span(), w);
             }) ||
      !flush()) {
    return false;
  }
  // The resumption master secret covers our Finished (7.1); it stays for
  // the NewSessionTickets that follow.
  if (transcript.current_hash(&hash) != KdfStatus::kOk ||
      schedule.derive(SecretLabel::kResumptionMaster, hash.span(),
                      &resumption_master) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  res.version = kVersionTls13;
  res.is_client = true;
  res.suite = suite->suite;
  res.client_secret = client_ap;
  res.server_secret = server_ap;
  // Nothing was sent under our application key yet, and the server's
  // records after its Finished are in post_finished.
  res.client_next_seq = 0;
  res.server_next_seq = 0;
  res.alpn = alpn;
  res.server_name = sent_sni ? cfg.server_name : std::string();
  res.peer_record_size_limit = peer_record_size_limit;
  res.own_record_size_limit = own_record_size_limit;
  res.group = ecdhe.group();
  res.psk_ke = psk_ke;
  res.early_data_accepted = early_accepted;
  res.signature_scheme = server_scheme;
  res.kind = kind;
  records.take_unread(&res.post_finished);
  return true;
}

// ---- public surface ----

ClientHandshake::ClientHandshake(std::shared_ptr<const ClientContext> context,
                                 crypto::AeadBackend& backend)
    : s_(std::make_unique<State>(std::move(context), backend)) {}

ClientHandshake::~ClientHandshake() {
  s_->wipe();
  s_->resumption_master.wipe();
  s_->res.wipe();
}

FeedResult ClientHandshake::start(std::vector<uint8_t>* out) {
  if (s_->started) {
    FeedResult r;
    r.state = HandshakeState::kFailed;
    r.alert = Alert::kInternalError;
    return r;
  }
  s_->started = true;
  s_->out = out;
  // Runs the ClientHello writer and stops at the server's first message.
  s_->run();
  s_->out = nullptr;
  return s_->result;
}

FeedResult ClientHandshake::feed(std::span<const uint8_t> in,
                                 std::vector<uint8_t>* out) {
  if (s_->state != HandshakeState::kNeedMore) {
    return s_->result;
  }
  if (!s_->started) {
    // feed() before start(): nothing was offered, nothing can be read.
    FeedResult r;
    r.state = HandshakeState::kFailed;
    r.alert = Alert::kInternalError;
    return r;
  }
  s_->out = out;
  s_->records.push(in);
  s_->run();
  // The record layer and the ephemeral state are no longer needed once
  // done; the resumption master secret stays.
  if (s_->state == HandshakeState::kDone) {
    s_->ecdhe.reset();
    s_->wipe();
  }
  s_->out = nullptr;
  return s_->result;
}

HandshakeState ClientHandshake::state() const { return s_->state; }

HandshakeKind ClientHandshake::kind() const { return s_->kind; }

bool ClientHandshake::resumed() const {
  return s_->state == HandshakeState::kDone && s_->psk_accepted;
}

void ClientHandshake::set_early_data(std::span<const uint8_t> data) {
  if (!s_->started) {
    s_->early_plain.assign(data.begin(), data.end());
  }
}

bool ClientHandshake::take_result(HandshakeResult* out) {
  if (s_->state != HandshakeState::kDone || s_->result_taken) {
    return false;
  }
  *out = std::move(s_->res);
  s_->res.wipe();
  s_->result_taken = true;
  return true;
}

bool ClientHandshake::on_post_handshake(std::span<const uint8_t> message,
                                        ClientSession* session, Alert* alert) {
  State& s = *s_;
  if (s.state != HandshakeState::kDone || s.resumption_master.empty()) {
    *alert = Alert::kInternalError;
    return false;
  }
  if (message.empty() ||
      message[0] != static_cast<uint8_t>(HandshakeType::kNewSessionTicket)) {
    // Post-handshake authentication (4.6.2) is never offered; KeyUpdate is
    // the record engine's.
    *alert = Alert::kUnexpectedMessage;
    return false;
  }
  if (message.size() > kMaxNewSessionTicketLen) {
    *alert = Alert::kDecodeError;
    return false;
  }
  NewSessionTicket nst;
  if (!parse_new_session_ticket(message, &nst, alert)) {
    return false;
  }
  ClientSession cs;
  cs.suite = s.suite->suite;
  cs.ticket.assign(nst.ticket.begin(), nst.ticket.end());
  cs.age_add = nst.age_add;
  cs.lifetime_s = nst.lifetime;
  cs.received_ms = s.ctx->now_ms();
  cs.max_early_data_size = nst.max_early_data_size;
  cs.server_name = s.cfg.server_name;
  cs.alpn = s.alpn;
  // 4.6.1: PSK = HKDF-Expand-Label(resumption_master_secret,
  // "resumption", ticket_nonce, Hash.length).
  if (derive_resumption_psk(s.suite->hash, s.resumption_master.span(),
                            nst.nonce, &cs.psk) != KdfStatus::kOk) {
    *alert = Alert::kInternalError;
    return false;
  }
  // A lifetime of 0: "the ticket ... should be discarded immediately".
  if (nst.lifetime == 0) {
    return true;
  }
  if (session != nullptr) {
    *session = cs;
  }
  if (s.cfg.session_cache != nullptr) {
    s.cfg.session_cache->put(std::move(cs));
  }
  return true;
}

void ClientHandshake::set_test_hooks(const ClientTestHooks& hooks) {
  s_->hooks = hooks;
}

}  // namespace dptls::tls
