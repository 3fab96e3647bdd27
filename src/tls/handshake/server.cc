// The TLS 1.3 server handshake state machine (RFC 8446 sections 2, 4 and
// 7), s2n style: one table of message sequences per handshake kind, one
// handler per message.
#include "dptls/tls/handshake/server.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "dptls/tls/handshake/key_exchange.h"
#include "dptls/tls/handshake/record_layer.h"
#include "dptls/tls/key_schedule.h"
#include "dptls/tls/transcript.h"

namespace dptls::tls {

namespace {

// The messages of a server handshake. X(enumerator, printable name)
#define DPTLS_SERVER_HS_MESSAGES(X)                      \
  X(kClientHello, "ClientHello")                         \
  X(kHelloRetryRequest, "HelloRetryRequest")             \
  X(kServerHello, "ServerHello")                         \
  X(kServerChangeCipherSpec, "ChangeCipherSpec")         \
  X(kEncryptedExtensions, "EncryptedExtensions")         \
  X(kServerCertificate, "Certificate")                   \
  X(kServerCertificateVerify, "CertificateVerify")       \
  X(kServerFinished, "ServerFinished")                   \
  X(kClientFinished, "ClientFinished")                   \
  X(kCertificateRequest, "CertificateRequest")           \
  X(kClientCertificate, "ClientCertificate")             \
  X(kClientCertificateVerify, "ClientCertificateVerify") \
  X(kEndOfEarlyData, "EndOfEarlyData")                   \
  X(kApplicationData, "ApplicationData")

enum class Msg : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_SERVER_HS_MESSAGES(DPTLS_X)
#undef DPTLS_X
};

// The message sequences (RFC 8446 section 2, figures 1 and 2). kInitial
// holds only the first ClientHello, whose handler picks the real kind; the
// index carries on in the kind it picked. Client change_cipher_spec
// records are not messages: the record layer drops them.
constexpr Msg kInitialSequence[] = {Msg::kClientHello};
constexpr Msg kFullSequence[] = {Msg::kClientHello,
                                 Msg::kServerHello,
                                 Msg::kServerChangeCipherSpec,
                                 Msg::kEncryptedExtensions,
                                 Msg::kServerCertificate,
                                 Msg::kServerCertificateVerify,
                                 Msg::kServerFinished,
                                 Msg::kClientFinished,
                                 Msg::kApplicationData};
constexpr Msg kHelloRetrySequence[] = {Msg::kClientHello,
                                       Msg::kHelloRetryRequest,
                                       Msg::kServerChangeCipherSpec,
                                       Msg::kClientHello,
                                       Msg::kServerHello,
                                       Msg::kEncryptedExtensions,
                                       Msg::kServerCertificate,
                                       Msg::kServerCertificateVerify,
                                       Msg::kServerFinished,
                                       Msg::kClientFinished,
                                       Msg::kApplicationData};

// Resumption (RFC 8446 section 2.2, figure 3): the PSK authenticates the
// server, so no Certificate or CertificateVerify (psk_dhe_ke still does
// (EC)DHE).
constexpr Msg kPskSequence[] = {Msg::kClientHello,
                                Msg::kServerHello,
                                Msg::kServerChangeCipherSpec,
                                Msg::kEncryptedExtensions,
                                Msg::kServerFinished,
                                Msg::kClientFinished,
                                Msg::kApplicationData};
constexpr Msg kHelloRetryPskSequence[] = {
    Msg::kClientHello,    Msg::kHelloRetryRequest, Msg::kServerChangeCipherSpec,
    Msg::kClientHello,    Msg::kServerHello,       Msg::kEncryptedExtensions,
    Msg::kServerFinished, Msg::kClientFinished,    Msg::kApplicationData};

// Resumption with accepted 0-RTT (RFC 8446 section 2.3, figure 4): the
// client's early data and EndOfEarlyData under the
// client_early_traffic_secret, then its Finished under its handshake key.
// (Never after a HelloRetryRequest: 4.2.10.)
constexpr Msg kPskEarlyDataSequence[] = {Msg::kClientHello,
                                         Msg::kServerHello,
                                         Msg::kServerChangeCipherSpec,
                                         Msg::kEncryptedExtensions,
                                         Msg::kServerFinished,
                                         Msg::kEndOfEarlyData,
                                         Msg::kClientFinished,
                                         Msg::kApplicationData};

// Client authentication (RFC 8446 section 4.3.2, figure 1's
// CertificateRequest and the client's Certificate and CertificateVerify).
constexpr Msg kFullClientAuthSequence[] = {Msg::kClientHello,
                                           Msg::kServerHello,
                                           Msg::kServerChangeCipherSpec,
                                           Msg::kEncryptedExtensions,
                                           Msg::kCertificateRequest,
                                           Msg::kServerCertificate,
                                           Msg::kServerCertificateVerify,
                                           Msg::kServerFinished,
                                           Msg::kClientCertificate,
                                           Msg::kClientCertificateVerify,
                                           Msg::kClientFinished,
                                           Msg::kApplicationData};
constexpr Msg kHelloRetryClientAuthSequence[] = {Msg::kClientHello,
                                                 Msg::kHelloRetryRequest,
                                                 Msg::kServerChangeCipherSpec,
                                                 Msg::kClientHello,
                                                 Msg::kServerHello,
                                                 Msg::kEncryptedExtensions,
                                                 Msg::kCertificateRequest,
                                                 Msg::kServerCertificate,
                                                 Msg::kServerCertificateVerify,
                                                 Msg::kServerFinished,
                                                 Msg::kClientCertificate,
                                                 Msg::kClientCertificateVerify,
                                                 Msg::kClientFinished,
                                                 Msg::kApplicationData};

// The client answered the CertificateRequest with an empty Certificate
// and the server does not require one: no client CertificateVerify
// (4.4.2.4). Same prefix as the client-auth kinds.
constexpr Msg kFullNoClientCertSequence[] = {Msg::kClientHello,
                                             Msg::kServerHello,
                                             Msg::kServerChangeCipherSpec,
                                             Msg::kEncryptedExtensions,
                                             Msg::kCertificateRequest,
                                             Msg::kServerCertificate,
                                             Msg::kServerCertificateVerify,
                                             Msg::kServerFinished,
                                             Msg::kClientCertificate,
                                             Msg::kClientFinished,
                                             Msg::kApplicationData};
constexpr Msg kHelloRetryNoClientCertSequence[] = {
    Msg::kClientHello,
    Msg::kHelloRetryRequest,
    Msg::kServerChangeCipherSpec,
    Msg::kClientHello,
    Msg::kServerHello,
    Msg::kEncryptedExtensions,
    Msg::kCertificateRequest,
    Msg::kServerCertificate,
    Msg::kServerCertificateVerify,
    Msg::kServerFinished,
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
      return kPskEarlyDataSequence;
  }
  return kInitialSequence;
}

// The wire code of a cipher suite.
uint16_t code(CipherSuite s) { return static_cast<uint16_t>(s); }

// Ticket key rotation interval of the keys a context makes for itself.
constexpr uint64_t kDefaultTicketRotationMs = uint64_t{12} * 3600 * 1000;
// The most PSK identities of one ClientHello tried as tickets.
constexpr uint16_t kMaxPskIdentitiesTried = 8;
// The most NewSessionTickets one handshake sends.
constexpr uint8_t kMaxSessionTickets = 16;

uint64_t system_now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

std::string_view handshake_state_name(HandshakeState state) {
  switch (state) {
#define DPTLS_X(e, name)  \
  case HandshakeState::e: \
    return name;
    DPTLS_HANDSHAKE_STATES(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

std::string_view handshake_kind_name(HandshakeKind kind) {
  switch (kind) {
#define DPTLS_X(e, name) \
  case HandshakeKind::e: \
    return name;
    DPTLS_HANDSHAKE_KINDS(DPTLS_X)
#undef DPTLS_X
  }
  return "unknown";
}

// ---- ServerContext ----

ServerContext::~ServerContext() {
  crypto::secure_wipe(cookie_key_.data(), cookie_key_.size());
}

std::shared_ptr<const ServerContext> ServerContext::create(
    ServerConfig config, std::shared_ptr<const CertificateStore> certs,
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
  if (config.record_size_limit < kMinRecordSizeLimit ||
      config.record_size_limit > kMaxRecordSizeLimit13) {
    *error = "record_size_limit must be 64 to 16385";
    return nullptr;
  }
  for (const std::string& p : config.alpn_protocols) {
    if (p.empty() || p.size() > 255) {
      *error = "ALPN protocol names are 1 to 255 bytes";
      return nullptr;
    }
  }
  if (config.ticket_lifetime_s == 0 || config.ticket_lifetime_s > 604800) {
    *error = "ticket_lifetime_s must be 1 to 604800 (RFC 8446 4.6.1)";
    return nullptr;
  }
  if (config.session_tickets > kMaxSessionTickets) {
    *error = "session_tickets must be 0 to 16";
    return nullptr;
  }
  if (config.max_early_data > 0 && config.replay_cache == nullptr) {
    config.replay_cache = std::make_shared<EarlyDataReplayCache>();
  }
  if (config.ticket_keys == nullptr) {
    const uint64_t now = config.clock_ms ? config.clock_ms() : system_now_ms();
    config.ticket_keys =
        TicketKeys::generate(now, kDefaultTicketRotationMs, error);
    if (config.ticket_keys == nullptr) {
      return nullptr;
    }
  }
  std::shared_ptr<const ClientCertVerifier> verifier;
  if (!config.client_ca_pem.empty()) {
    verifier = ClientCertVerifier::create(config.client_ca_pem,
                                          config.client_crl_pem, error);
    if (verifier == nullptr) {
      return nullptr;
    }
  } else if (!config.client_crl_pem.empty()) {
    *error = "client_crl_pem without client_ca_pem";
    return nullptr;
  }
  if (certs == nullptr || certs->empty()) {
    *error = "no certificate";
    return nullptr;
  }
  std::shared_ptr<ServerContext> ctx(new ServerContext());
  if (verifier != nullptr) {
    // Length-prefixed, so the CA/CRL split is part of the digest.
    std::string both = std::to_string(config.client_ca_pem.size()) + ":" +
                       config.client_ca_pem + config.client_crl_pem;
    ctx->client_trust_.resize(SHA256_DIGEST_LENGTH);
    SHA256(reinterpret_cast<const uint8_t*>(both.data()), both.size(),
           reinterpret_cast<uint8_t*>(ctx->client_trust_.data()));
  }
  ctx->client_verifier_ = std::move(verifier);
  if (RAND_bytes(ctx->cookie_key_.data(),
                 static_cast<int>(ctx->cookie_key_.size())) != 1) {
    *error = "RAND_bytes failed";
    return nullptr;
  }
  ctx->config_ = std::move(config);
  ctx->certs_ = std::move(certs);
  return ctx;
}

uint64_t ServerContext::now_ms() const {
  return config_.clock_ms ? config_.clock_ms() : system_now_ms();
}

// ---- the state machine ----

struct ServerHandshake::State {
  State(std::shared_ptr<const ServerContext> context,
        crypto::AeadBackend& backend)
      : ctx(std::move(context)), cfg(ctx->config()), records(backend) {}

  // One entry of the message table: who sends it, its wire type, and the
  // handler (a reader for the client's messages, a writer for ours).
  struct Action {
    bool from_client;
    HandshakeType type;
    size_t max_len;  // client messages: the largest accepted
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

  // Appends a built message to the transcript and the flight.
  bool queue(std::span<const uint8_t> msg);
  // Builds a message with `write` into a buffer of `cap` bytes and queues
  // it.
  template <typename F>
  bool build(size_t cap, F&& write);
  // Sends the queued flight under the current write epoch.
  bool flush();

  // Handlers.
  bool on_client_hello();
  bool write_hello_retry();
  bool write_server_hello();
  bool write_ccs();
  bool write_encrypted_extensions();
  bool write_certificate();
  bool write_certificate_verify();
  bool write_server_finished();
  bool on_client_finished();
  bool write_certificate_request();
  bool on_client_certificate();
  bool on_client_certificate_verify();
  bool on_end_of_early_data();

  // Negotiation steps of on_client_hello().
  bool negotiate_below_tls13(const ClientHello& ch);
  bool check_retry(const ClientHello& ch);
  bool select_suite(const ClientHello& ch);
  bool select_group(const ClientHello& ch, bool* need_retry);
  bool select_credential(const ClientHello& ch);
  bool select_alpn(const ClientHello& ch);
  bool make_cookie();
  bool select_psk(const ClientHello& ch);
  bool accept_early_data();
  bool usable_ticket(const ClientHello& ch, std::span<const uint8_t> identity,
                     uint32_t obfuscated_age, TicketContents* ticket) const;
  bool send_tickets();

  std::shared_ptr<const ServerContext> ctx;
  const ServerConfig& cfg;
  HandshakeRecordLayer records;
  ServerTestHooks hooks;

  HandshakeKind kind = HandshakeKind::kInitial;
  size_t index = 0;
  HandshakeState state = HandshakeState::kNeedMore;
  FeedResult result;
  Alert alert = Alert::kInternalError;  // set by a failing handler
  std::span<const uint8_t> current;     // the client message being handled
  std::vector<uint8_t> flight;
  std::vector<uint8_t> msg_buf;
  std::vector<uint8_t>* out = nullptr;

  // Negotiated.
  const CipherSuiteInfo* suite = nullptr;
  NamedGroup group = NamedGroup::kX25519;
  CredentialChoice credential;
  std::string alpn;
  std::string server_name;
  uint16_t peer_record_size_limit = 0;
  uint16_t own_record_size_limit = 0;
  bool early_data_offered = false;
  // The client sent status_request with type ocsp (RFC 6066 section 8).
  bool ocsp_requested = false;
  bool send_ccs = false;
  bool ccs_sent = false;
  std::array<uint8_t, 32> session_id{};
  size_t session_id_len = 0;
  // ClientHello.random, for the key log only.
  std::array<uint8_t, 32> client_random{};
  // ServerHello.random when server_random_drawn: drawn with the (EC)DHE
  // key (EphemeralKey::generate).
  std::array<uint8_t, 32> server_random{};
  bool server_random_drawn = false;
  std::vector<uint8_t> cookie;
  // The resumption PSK selected (empty: none) and its index in the
  // client's list (RFC 8446 section 4.2.11).
  Secret psk;
  uint16_t psk_index = 0;
  // The selected PSK is used with psk_ke: no (EC)DHE (4.2.9).
  bool psk_ke = false;
  // What the selected ticket says, for accepting 0-RTT (4.2.10, 8.3);
  // the identity borrows the ClientHello (valid while it is handled).
  std::span<const uint8_t> psk_identity;
  uint16_t ticket_suite_code = 0;
  std::string ticket_alpn;
  uint64_t ticket_issued_ms = 0;
  uint32_t ticket_client_age_ms = 0;
  // 0-RTT accepted; its data, until taken or handed over.
  bool early_accepted = false;
  std::vector<uint8_t> early_data;
  // Client authentication: the verified leaf (DER) and identity.
  std::vector<uint8_t> client_leaf;
  ClientIdentity client_identity;

  // Keys.
  Transcript transcript;
  KeySchedule schedule;
  EphemeralKey ecdhe;
  Secret shared_secret;
  Secret client_early;
  Secret client_hs;
  Secret server_hs;
  Secret client_ap;
  Secret server_ap;
  HashValue server_finished_hash;

  HandshakeResult res;
  bool result_taken = false;
};

const ServerHandshake::State::Action& ServerHandshake::State::action(Msg m) {
  // Indexed by Msg.
  static constexpr Action kActions[] = {
      {true, HandshakeType::kClientHello, kMaxClientHelloLen,
       &State::on_client_hello},
      {false, HandshakeType::kServerHello, 0, &State::write_hello_retry},
      {false, HandshakeType::kServerHello, 0, &State::write_server_hello},
      {false, HandshakeType::kServerHello, 0, &State::write_ccs},
      {false, HandshakeType::kEncryptedExtensions, 0,
       &State::write_encrypted_extensions},
      {false, HandshakeType::kCertificate, 0, &State::write_certificate},
      {false, HandshakeType::kCertificateVerify, 0,
       &State::write_certificate_verify},
      {false, HandshakeType::kFinished, 0, &State::write_server_finished},
      {true, HandshakeType::kFinished, kMaxHashLen, &State::on_client_finished},
      {false, HandshakeType::kCertificateRequest, 0,
       &State::write_certificate_request},
      // A chain of a few certificates; bounded like the ClientHello.
      {true, HandshakeType::kCertificate, kMaxClientHelloLen,
       &State::on_client_certificate},
      {true, HandshakeType::kCertificateVerify, kHandshakeHeaderLen + 4 + 1024,
       &State::on_client_certificate_verify},
      // 4.5: struct {} EndOfEarlyData; up to a Finished's length read, so
      // that a Finished in its place is an unexpected_message.
      {true, HandshakeType::kEndOfEarlyData, kMaxHashLen,
       &State::on_end_of_early_data},
      {false, HandshakeType::kFinished, 0, nullptr},
  };
  static_assert(std::size(kActions) ==
                static_cast<size_t>(Msg::kApplicationData) + 1);
  return kActions[static_cast<size_t>(m)];
}

void ServerHandshake::State::run() {
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
    const Action& a = action(m);
    if (a.from_client) {
      Alert read_alert = Alert::kInternalError;
      const HsReadStatus st =
          records.next_message(a.max_len, &current, &read_alert);
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
      // RFC 8446 section 4: a message other than the one the state
      // expects is an unexpected_message.
      if (current.empty() || current[0] != static_cast<uint8_t>(a.type)) {
        finish_failed(Alert::kUnexpectedMessage, false);
        return;
      }
    }
    if (!(this->*a.handle)()) {
      finish_failed(alert, false);
      return;
    }
    ++index;
  }
  if (!flush()) {
    finish_failed(Alert::kInternalError, false);
  }
}

void ServerHandshake::State::finish_failed(Alert a, bool from_peer) {
  state = HandshakeState::kFailed;
  result.state = state;
  result.alert = a;
  result.alert_from_peer = from_peer;
  flight.clear();
  if (!from_peer) {
    records.write_alert(a, out);
  }
  wipe();
}

void ServerHandshake::State::wipe() {
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
  psk.wipe();
  // Early data not handed over (a failed handshake) is dropped.
  crypto::secure_wipe(early_data.data(), early_data.size());
  early_data.clear();
  crypto::secure_wipe(msg_buf.data(), msg_buf.size());
  crypto::secure_wipe(hooks.x25519_private_key.data(),
                      hooks.x25519_private_key.size());
  crypto::secure_wipe(hooks.secp256r1_private_key.data(),
                      hooks.secp256r1_private_key.size());
}

bool ServerHandshake::State::queue(std::span<const uint8_t> msg) {
  if (transcript.add(msg) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  flight.insert(flight.end(), msg.begin(), msg.end());
  return true;
}

template <typename F>
bool ServerHandshake::State::build(size_t cap, F&& write) {
  msg_buf.resize(cap);
  ByteWriter w(msg_buf);
  if (!write(&w)) {
    return fail(Alert::kInternalError);
  }
  return queue(w.written());
}

bool ServerHandshake::State::flush() {
  if (flight.empty()) {
    return true;
  }
  const bool ok = records.write(ContentType::kHandshake, flight, out);
  flight.clear();
  return ok || fail(Alert::kInternalError);
}

// ---- ClientHello ----

bool ServerHandshake::State::negotiate_below_tls13(const ClientHello& ch) {
  // The seam for TLS 1.2 (RFC 5246; RFC 8446 appendix D): a ClientHello
  // without supported_versions, or without 0x0304 in it, asks for TLS 1.2
  // or older. A TLS 1.2 server state machine takes this ClientHello here
  // when it exists (same record layer, still in plaintext). Until then:
  // "If the "supported_versions" extension is absent and the server only
  // supports TLS 1.3 ... abort the handshake with a "protocol_version"
  // alert" (RFC 8446 section 4.2.1).
  // That path must also check TLS_FALLBACK_SCSV (RFC 7507:
  // inappropriate_fallback) and put the downgrade sentinel in its
  // ServerHello.random (RFC 8446 section 4.1.3).
  (void)ch;
  return fail(Alert::kProtocolVersion);
}

bool ServerHandshake::State::check_retry(const ClientHello& ch) {
  // RFC 8446 section 4.1.2: the second ClientHello is the first with the
  // key_share replaced, early_data removed and the cookie echoed.
  if (!ch.has(ExtensionType::kCookie)) {
    return fail(Alert::kMissingExtension);
  }
  if (ch.cookie.size() != cookie.size() ||
      CRYPTO_memcmp(ch.cookie.data(), cookie.data(), cookie.size()) != 0) {
    return fail(Alert::kIllegalParameter);
  }
  if (!std::equal(ch.legacy_session_id.begin(), ch.legacy_session_id.end(),
                  session_id.begin(), session_id.begin() + session_id_len)) {
    return fail(Alert::kIllegalParameter);
  }
  // 4.2.10: "A client MUST NOT include the "early_data" extension in its
  // followup ClientHello."
  if (ch.has(ExtensionType::kEarlyData)) {
    return fail(Alert::kIllegalParameter);
  }
  // 4.1.4: the server "MUST ensure that it negotiates the same cipher
  // suite"; 4.2.8: one KeyShareEntry, for the group the HRR selected.
  KeyShareEntry share;
  if (!ch.cipher_suites.contains(suite->code) || ch.key_shares.size() != 1 ||
      !ch.key_shares.at(0, &share) ||
      share.group != static_cast<uint16_t>(group)) {
    return fail(Alert::kIllegalParameter);
  }
  return true;
}

bool ServerHandshake::State::select_suite(const ClientHello& ch) {
  if (cfg.server_cipher_preference) {
    for (CipherSuite s : cfg.cipher_suites) {
      if (ch.cipher_suites.contains(code(s))) {
        suite = cipher_suite_info(s);
        return true;
      }
    }
  } else {
    for (size_t i = 0; i < ch.cipher_suites.size(); ++i) {
      const CipherSuiteInfo* info = find_cipher_suite(ch.cipher_suites.at(i));
      if (info != nullptr &&
          std::find(cfg.cipher_suites.begin(), cfg.cipher_suites.end(),
                    info->suite) != cfg.cipher_suites.end()) {
        suite = info;
        return true;
      }
    }
  }
  return fail(Alert::kHandshakeFailure);
}

bool ServerHandshake::State::select_group(const ClientHello& ch,
                                          bool* need_retry) {
  // RFC 8446 section 4.2.8: pick a group both support; if the client sent
  // no share for it, ask for one with a HelloRetryRequest.
  std::optional<NamedGroup> best;
  std::optional<NamedGroup> best_with_share;
  KeyShareEntry share;
  for (NamedGroup g : cfg.groups) {
    const auto c = static_cast<uint16_t>(g);
    if (!ch.supported_groups.contains(c)) {
      continue;
    }
    if (!best.has_value()) {
      best = g;
    }
    if (!best_with_share.has_value() && ch.key_shares.find(c, &share)) {
      best_with_share = g;
    }
  }
  if (!best.has_value()) {
    return fail(Alert::kHandshakeFailure);
  }
  group = (cfg.hello_retry_for_preferred_group || !best_with_share)
              ? *best
              : *best_with_share;
  *need_retry = !ch.key_shares.find(static_cast<uint16_t>(group), &share);
  return true;
}

bool ServerHandshake::State::select_credential(const ClientHello& ch) {
  // signature_algorithms_cert defaults to signature_algorithms (4.2.3).
  const U16List& cert_schemes = ch.has(ExtensionType::kSignatureAlgorithmsCert)
                                    ? ch.signature_algorithms_cert
                                    : ch.signature_algorithms;
  const bool strict = cfg.require_sni_match && !ch.server_name.empty();
  if (ctx->certs().select(ch.server_name, ch.signature_algorithms, cert_schemes,
                          cfg.signature_schemes, strict, &credential)) {
    return true;
  }
  if (strict &&
      ctx->certs().select(ch.server_name, ch.signature_algorithms, cert_schemes,
                          cfg.signature_schemes, false, &credential)) {
    // A certificate the client could verify exists, just not for its name.
    return fail(Alert::kUnrecognizedName);
  }
  // No certificate the client can verify (4.4.2.2, 4.2.3).
  return fail(Alert::kHandshakeFailure);
}

bool ServerHandshake::State::select_alpn(const ClientHello& ch) {
  alpn.clear();
  if (cfg.alpn_protocols.empty() || !ch.has(ExtensionType::kAlpn)) {
    return true;
  }
  for (const std::string& p : cfg.alpn_protocols) {
    if (ch.alpn.contains(p)) {
      alpn = p;
      return true;
    }
  }
  // RFC 7301 section 3.2.
  return fail(Alert::kNoApplicationProtocol);
}

bool ServerHandshake::State::make_cookie() {
  if (!hooks.hello_retry_cookie.empty()) {
    cookie = hooks.hello_retry_cookie;
    return true;
  }
  // HMAC(cookie_key, Hash(ClientHello1) || suite || group): what a
  // stateless server would need to rebuild its state, authenticated. This
  // server keeps its state, so it only compares the echo; the format is
  // the seam for stateless retries later.
  HashValue ch1;
  if (transcript.current_hash(&ch1) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  std::array<uint8_t, kMaxHashLen + 4> data{};
  ByteWriter w(data);
  w.bytes(ch1.span());
  w.u16(suite->code);
  w.u16(static_cast<uint16_t>(group));
  Secret mac;
  if (!w.ok() || hmac(HashAlg::kSha256, ctx->cookie_key(), w.written(), &mac) !=
                     KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  cookie.assign(mac.span().begin(), mac.span().end());
  return true;
}

bool ServerHandshake::State::on_client_hello() {
  const bool retry = kind == HandshakeKind::kHelloRetry;
  ClientHello ch;
  Alert parse_alert = Alert::kDecodeError;
  if (!parse_client_hello(current, &ch, &parse_alert)) {
    return fail(parse_alert);
  }
  // RFC 8446 section 4.2.1: with supported_versions present, only it
  // negotiates the version.
  if (!ch.has(ExtensionType::kSupportedVersions) ||
      !ch.supported_versions.contains(kVersionTls13)) {
    return negotiate_below_tls13(ch);
  }
  // 5.1: a key change (or, after ClientHello1, a HelloRetryRequest the
  // client must wait for) happens at a record boundary.
  if (!records.at_record_boundary()) {
    return fail(Alert::kUnexpectedMessage);
  }
  // 4.1.2: "For every TLS 1.3 ClientHello, this vector MUST contain
  // exactly one byte, set to zero".
  if (ch.compression_methods.size() != 1 || ch.compression_methods[0] != 0) {
    return fail(Alert::kIllegalParameter);
  }
  // 9.2: without a PSK, signature_algorithms, supported_groups and
  // key_share are mandatory; supported_groups and key_share come together.
  // 4.2.9: pre_shared_key requires psk_key_exchange_modes.
  if (!ch.has(ExtensionType::kSignatureAlgorithms) ||
      !ch.has(ExtensionType::kSupportedGroups) ||
      !ch.has(ExtensionType::kKeyShare) ||
      (ch.has(ExtensionType::kPreSharedKey) &&
       !ch.has(ExtensionType::kPskKeyExchangeModes))) {
    return fail(Alert::kMissingExtension);
  }
  // (Key shares for groups missing from supported_groups were refused by
  // the parser, RFC 8446 section 4.2.8.)
  KeyShareEntry share;
  bool need_retry = false;
  if (retry) {
    if (!check_retry(ch)) {
      return false;
    }
  } else {
    if (!select_suite(ch) || !select_group(ch, &need_retry)) {
      return false;
    }
    session_id_len = ch.legacy_session_id.size();
    std::copy(ch.legacy_session_id.begin(), ch.legacy_session_id.end(),
              session_id.begin());
    send_ccs = cfg.middlebox_compat && session_id_len != 0;
  }
  if (!select_credential(ch) || !select_alpn(ch)) {
    return false;
  }
  server_name = ascii_lower(ch.server_name);
  // RFC 8446 4.4.2.1: the status goes in the leaf's CertificateEntry, and
  // only when the client asked (status_request, type ocsp(1)).
  ocsp_requested = ch.has(ExtensionType::kStatusRequest) && ch.status_type == 1;
  if (ch.random.size() == client_random.size()) {
    std::copy(ch.random.begin(), ch.random.end(), client_random.begin());
  }
  // RFC 8449: answer a client's record_size_limit with ours; each bounds
  // the protected records sent towards its owner.
  if (ch.has(ExtensionType::kRecordSizeLimit)) {
    peer_record_size_limit = ch.record_size_limit;
    own_record_size_limit = cfg.record_size_limit;
    records.set_write_limit(
        std::min<uint32_t>(peer_record_size_limit, kMaxRecordSizeLimit13));
    records.set_read_limit(own_record_size_limit);
  } else {
    peer_record_size_limit = own_record_size_limit = 0;
    records.set_write_limit(kMaxRecordSizeLimit13);
    records.set_read_limit(kMaxRecordSizeLimit13);
  }
  // 4.2.10: 0-RTT is accepted below (accept_early_data) or its records
  // are skipped.
  early_data_offered = ch.has(ExtensionType::kEarlyData);

  if (!retry && transcript.init(suite->hash) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  // The PSK is chosen for the ClientHello the ServerHello answers (after a
  // retry, the second one, whose binder covers ClientHello1 and the HRR).
  // psk_ke needs no key share, so a ClientHello resuming with it is
  // answered without a retry even when its share does not fit.
  const std::span<const uint8_t> modes = ch.psk_key_exchange_modes;
  const bool psk_ke_only =
      cfg.allow_psk_ke && !retry &&
      std::find(modes.begin(), modes.end(), kPskKe) != modes.end() &&
      std::find(modes.begin(), modes.end(), kPskDheKe) == modes.end();
  if ((!need_retry || psk_ke_only) && !select_psk(ch)) {
    return false;
  }
  if (need_retry && psk_ke) {
    need_retry = false;
  }
  // 4.2.10: 0-RTT only in the first ClientHello, answered by a ServerHello.
  early_accepted =
      early_data_offered && !retry && !need_retry && accept_early_data();
  if (transcript.add(ch.message) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  if (need_retry) {
    kind = HandshakeKind::kHelloRetry;
    if (early_data_offered) {
      records.skip_early_data(EarlyDataSkip::kApplicationData,
                              cfg.max_early_data_skip);
    }
    return make_cookie();
  }
  // 4.3.2: no CertificateRequest in a handshake authenticated by a PSK.
  const bool client_auth = ctx->client_verifier() != nullptr && psk.empty();
  if (!retry) {
    kind = early_accepted ? HandshakeKind::kPskEarlyData
           : !psk.empty() ? HandshakeKind::kPsk
           : client_auth  ? HandshakeKind::kFullClientAuth
                          : HandshakeKind::kFull;
  } else if (!psk.empty()) {
    // The same message prefix as kHelloRetry; the index carries on.
    kind = HandshakeKind::kHelloRetryPsk;
  } else if (client_auth) {
    kind = HandshakeKind::kHelloRetryClientAuth;
  }
  if (psk_ke) {
    return true;  // 4.2.9: no (EC)DHE; shared_secret stays empty
  }
  // (EC)DHE with the client's share (RFC 8446 section 7.4).
  if (!ch.key_shares.find(static_cast<uint16_t>(group), &share)) {
    return fail(Alert::kInternalError);
  }
  const std::vector<uint8_t>& fixed_key = group == NamedGroup::kX25519
                                              ? hooks.x25519_private_key
                                              : hooks.secp256r1_private_key;
  const bool fixed =
      (group == NamedGroup::kX25519 || group == NamedGroup::kSecp256r1) &&
      !fixed_key.empty();
  // ServerHello.random comes from the key's random draw unless a test
  // hook fixes it (write_server_hello).
  const bool draw_random = !fixed && !hooks.server_random.has_value();
  const bool have_key =
      fixed ? ecdhe.set_private_key(group, fixed_key)
            : ecdhe.generate(group, draw_random
                                        ? std::span<uint8_t>(server_random)
                                        : std::span<uint8_t>());
  server_random_drawn = have_key && draw_random;
  if (!have_key) {
    return fail(Alert::kInternalError);
  }
  Alert dh_alert = Alert::kInternalError;
  if (!ecdhe.derive(share.key_exchange, &shared_secret, &dh_alert)) {
    return fail(dh_alert);
  }
  return true;
}

// ---- resumption (RFC 8446 sections 4.2.11, 4.6.1) ----

bool ServerHandshake::State::usable_ticket(const ClientHello& ch,
                                           std::span<const uint8_t> identity,
                                           uint32_t obfuscated_age,
                                           TicketContents* ticket) const {
  // Every reason to refuse a ticket here means "ignore this identity"
  // (4.2.11): the client falls back to the full handshake it also offered.
  // Not ours, tampered with, or sealed by a key rotated out:
  const bool opened = hooks.open_ticket
                          ? hooks.open_ticket(identity, ticket)
                          : open_ticket(ctx->ticket_keys(), identity, ticket);
  if (!opened) {
    return false;
  }
  // 4.2.11: a PSK is only usable with a cipher suite of the same hash.
  const CipherSuiteInfo* ticket_suite = find_cipher_suite(ticket->cipher_suite);
  if (ticket->version != kVersionTls13 || ticket_suite == nullptr ||
      ticket_suite->hash != suite->hash ||
      ticket->psk.size() != hash_len(suite->hash)) {
    return false;
  }
  // 4.6.1: "Servers MUST NOT use any value greater than 604800 seconds";
  // a ticket is not used past its lifetime, by our clock (tickets issued
  // more than a minute in the future are from a broken clock) or by the
  // age the client reports (4.2.11.1: obfuscated_ticket_age minus
  // ticket_age_add, modulo 2^32).
  const uint64_t now = ctx->now_ms();
  const uint64_t lifetime_ms = uint64_t{ticket->lifetime_s} * 1000;
  const uint32_t client_age_ms = obfuscated_age - ticket->age_add;
  if (now + 60000 < ticket->issued_ms ||
      (now > ticket->issued_ms && now - ticket->issued_ms > lifetime_ms) ||
      client_age_ms > lifetime_ms) {
    return false;
  }
  // With client certificates required, only sessions whose client was
  // authenticated resume.
  if (ctx->client_verifier() != nullptr && cfg.client_cert_required &&
      ticket->client_subject.empty()) {
    return false;
  }
  // A client identity is only as good as the CAs that verified it: not
  // resumed under other ones (another listener's client_ca, or none).
  if (!ticket->client_subject.empty() &&
      ticket->client_trust != ctx->client_trust()) {
    return false;
  }
  // The certificate the original handshake showed was chosen for this
  // name; resume only under the same one (RFC 6066 section 3).
  return ticket->server_name == ascii_lower(ch.server_name);
}

bool ServerHandshake::State::select_psk(const ClientHello& ch) {
  psk.wipe();
  psk_ke = false;
  // 4.2.9: psk_dhe_ke whenever the client offers it; psk_ke (no forward
  // secrecy) only when allowed and the client offers nothing else.
  const std::span<const uint8_t> modes = ch.psk_key_exchange_modes;
  const bool dhe_ke =
      std::find(modes.begin(), modes.end(), kPskDheKe) != modes.end();
  const bool plain_ke =
      cfg.allow_psk_ke &&
      std::find(modes.begin(), modes.end(), kPskKe) != modes.end();
  if (!ch.has(ExtensionType::kPreSharedKey) || (!dhe_ke && !plain_ke)) {
    return true;
  }
  // The first identity that is one of our live tickets (the parser
  // validated both vectors and that they have as many entries).
  ByteReader ids(ch.pre_shared_key.identities);
  TicketContents ticket;
  bool found = false;
  uint16_t chosen = 0;
  std::span<const uint8_t> chosen_identity;
  uint32_t chosen_age = 0;
  // At most kMaxPskIdentitiesTried are opened: a ClientHello full of
  // identities under our (public) key name must not buy many AES-GCM
  // operations.
  for (uint16_t i = 0; !ids.empty() && !found && i < kMaxPskIdentitiesTried;
       ++i) {
    ByteReader id;
    uint32_t obfuscated_age = 0;
    if (!ids.prefixed16(&id) || !ids.u32(&obfuscated_age)) {
      return fail(Alert::kDecodeError);
    }
    if (usable_ticket(ch, id.rest(), obfuscated_age, &ticket)) {
      found = true;
      chosen = i;
      chosen_identity = id.rest();
      chosen_age = obfuscated_age;
    }
  }
  if (!found) {
    return true;  // a full handshake
  }
  ByteReader binders(ch.pre_shared_key.binders);
  ByteReader binder;
  for (uint16_t i = 0; i <= chosen; ++i) {
    if (!binders.prefixed8(&binder)) {
      return fail(Alert::kDecodeError);
    }
  }
  // 4.2.11.2: the binder is an HMAC with the binder key over the
  // transcript up to the ClientHello truncated before the binders;
  // "If this value is not present or does not validate, the server MUST
  // abort the handshake" with decrypt_error (6.2: a failed validation).
  KeySchedule early;
  Secret binder_key;
  HashValue truncated;
  if (early.start(suite->hash, ticket.psk.span()) != KdfStatus::kOk ||
      early.derive(SecretLabel::kResBinder, {}, &binder_key) !=
          KdfStatus::kOk ||
      transcript.hash_with(ch.message.first(ch.pre_shared_key.truncated_len),
                           &truncated) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  const KdfStatus v = verify_psk_binder(suite->hash, binder_key.span(),
                                        truncated.span(), binder.rest());
  if (v == KdfStatus::kMismatch) {
    return fail(Alert::kDecryptError);
  }
  if (v != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  psk = ticket.psk;
  psk_index = chosen;
  psk_ke = !dhe_ke;
  psk_identity = chosen_identity;
  ticket_suite_code = ticket.cipher_suite;
  ticket_alpn = ticket.alpn;
  ticket_issued_ms = ticket.issued_ms;
  ticket_client_age_ms = chosen_age - ticket.age_add;
  // The identity the original handshake verified.
  client_identity.subject = ticket.client_subject;
  client_identity.sans = ticket.client_sans;
  return true;
}

bool ServerHandshake::State::accept_early_data() {
  // 4.2.10: "the server MUST have accepted a PSK cipher suite and selected
  // the first key offered in the client's "pre_shared_key" extension",
  // with the version, cipher suite and ALPN protocol of the ticket's
  // connection.
  if (cfg.max_early_data == 0 || ctx->replay_cache() == nullptr ||
      psk.empty() || psk_index != 0 || ticket_suite_code != suite->code ||
      ticket_alpn != alpn) {
    return false;
  }
  // 8.3: the ClientHello is fresh when the client's view of the ticket's
  // age agrees with ours, within the tolerance.
  const uint64_t now = ctx->now_ms();
  const uint64_t server_age =
      now > ticket_issued_ms ? now - ticket_issued_ms : 0;
  const uint64_t client_age = ticket_client_age_ms;
  const uint64_t skew = server_age > client_age ? server_age - client_age
                                                : client_age - server_age;
  if (skew > cfg.early_data_age_tolerance_ms) {
    return false;
  }
  // 8.1: single use. A replay of this ClientHello passes the freshness
  // check only until issue time + client age + tolerance: that long the
  // ticket is remembered.
  const uint64_t expires =
      ticket_issued_ms + client_age + cfg.early_data_age_tolerance_ms + 1;
  return ctx->replay_cache()->first_use(psk_identity, now, expires);
}

bool ServerHandshake::State::on_end_of_early_data() {
  // 4.5: EndOfEarlyData (an empty body) ends the client's 0-RTT; then
  // the server "switches to the client's handshake traffic keys" -- at a
  // record boundary (5.1).
  if (current.size() != kHandshakeHeaderLen) {
    return fail(Alert::kDecodeError);
  }
  if (!records.at_record_boundary()) {
    return fail(Alert::kUnexpectedMessage);
  }
  records.stop_early_data();
  if (transcript.add(current) != KdfStatus::kOk ||
      !records.set_read_secret(*suite, client_hs.span())) {
    return fail(Alert::kInternalError);
  }
  client_early.wipe();
  return true;
}

bool ServerHandshake::State::send_tickets() {
  // 4.6.1: after the client's Finished, under the server's application
  // key; each ticket in its own record, so the worker's first sequence
  // number is the number of tickets.
  if (cfg.session_tickets == 0) {
    return true;
  }
  HashValue hash;
  Secret resumption_master;
  if (transcript.current_hash(&hash) != KdfStatus::kOk ||
      schedule.derive(SecretLabel::kResumptionMaster, hash.span(),
                      &resumption_master) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  const uint64_t now = ctx->now_ms();
  for (uint8_t i = 0; i < cfg.session_tickets; ++i) {
    // ticket_nonce: unique among this connection's tickets.
    const std::array<uint8_t, 1> own_nonce = {i};
    const std::span<const uint8_t> nonce =
        i == 0 && !hooks.ticket_nonce.empty()
            ? std::span<const uint8_t>(hooks.ticket_nonce)
            : std::span<const uint8_t>(own_nonce);
    TicketContents t;
    t.cipher_suite = suite->code;
    t.issued_ms = now;
    t.lifetime_s = cfg.ticket_lifetime_s;
    t.alpn = alpn;
    t.server_name = server_name;
    t.client_subject = client_identity.subject;
    t.client_sans = client_identity.sans;
    if (!t.client_subject.empty()) {
      t.client_trust = ctx->client_trust();
    }
    std::vector<uint8_t> sealed;
    if (hooks.ticket_age_add.has_value()) {
      t.age_add = *hooks.ticket_age_add;
    } else if (RAND_bytes(reinterpret_cast<uint8_t*>(&t.age_add),
                          sizeof(t.age_add)) != 1) {
      return fail(Alert::kInternalError);
    }
    if (derive_resumption_psk(suite->hash, resumption_master.span(), nonce,
                              &t.psk) != KdfStatus::kOk ||
        !(hooks.seal_ticket ? hooks.seal_ticket(t, &sealed)
                            : seal_ticket(ctx->ticket_keys(), t, &sealed))) {
      return fail(Alert::kInternalError);
    }
    NewSessionTicketParams p;
    p.lifetime = t.lifetime_s;
    p.age_add = t.age_add;
    // 4.6.1: early_data's max_early_data_size, when 0-RTT is on.
    p.max_early_data_size = cfg.max_early_data;
    p.nonce = nonce;
    p.ticket = sealed;
    msg_buf.resize(sealed.size() + nonce.size() + 64);
    ByteWriter w(msg_buf);
    if (!write_new_session_ticket(p, &w) ||
        !records.write(ContentType::kHandshake, w.written(), out)) {
      return fail(Alert::kInternalError);
    }
    ++res.tickets_sent;
  }
  return true;
}

// ---- server flight ----

bool ServerHandshake::State::write_hello_retry() {
  // 4.4.1: ClientHello1 becomes message_hash before the HRR is added.
  if (transcript.replace_with_message_hash() != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  HelloRetryRequestParams p;
  p.legacy_session_id_echo = {session_id.data(), session_id_len};
  p.cipher_suite = suite->code;
  p.selected_group = static_cast<uint16_t>(group);
  p.cookie = cookie;
  return build(
             256,
             [&](ByteWriter* w) { return write_hello_retry_request(p, w); }) &&
         flush();
}

bool ServerHandshake::State::write_server_hello() {
  // The server's flight (ServerHello to Finished, a certificate chain of a
  // few KB at most in the common case) and the largest message, grown once
  // rather than message by message.
  constexpr size_t kFlightReserve = 4096;
  flight.reserve(kFlightReserve);
  msg_buf.reserve(kFlightReserve);
  std::array<uint8_t, 32> random{};
  if (hooks.server_random.has_value()) {
    random = *hooks.server_random;
  } else if (server_random_drawn) {
    random = server_random;
  } else if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return fail(Alert::kInternalError);
  }
  ServerHelloParams p;
  p.random = random;
  p.legacy_session_id_echo = {session_id.data(), session_id_len};
  p.cipher_suite = suite->code;
  // psk_ke (4.2.9): no key_share; the (EC)DHE input is zeros (7.1).
  if (!psk_ke) {
    p.key_share_group = static_cast<uint16_t>(group);
    p.key_share = ecdhe.public_key();
  }
  if (!psk.empty()) {
    p.selected_psk_identity = psk_index;
  }
  // client_early_traffic_secret = Derive-Secret(Early Secret,
  // "c e traffic", ClientHello) (7.1), before the ServerHello joins the
  // transcript.
  if (early_accepted) {
    KeySchedule early;
    HashValue ch_hash;
    if (early.start(suite->hash, psk.span()) != KdfStatus::kOk ||
        transcript.current_hash(&ch_hash) != KdfStatus::kOk ||
        early.derive(SecretLabel::kClientEarlyTraffic, ch_hash.span(),
                     &client_early) != KdfStatus::kOk) {
      return fail(Alert::kInternalError);
    }
    if (cfg.keylog) {
      cfg.keylog("CLIENT_EARLY_TRAFFIC_SECRET", client_random,
                 client_early.span());
      // early_exporter_master_secret (7.1), for the key log only (as
      // EXPORTER_SECRET below: dptls has no exporter interface).
      Secret early_exporter;  // wiped by its destructor
      if (early.derive(SecretLabel::kEarlyExporterMaster, ch_hash.span(),
                       &early_exporter) == KdfStatus::kOk) {
        cfg.keylog("EARLY_EXPORTER_SECRET", client_random,
                   early_exporter.span());
      }
    }
  }
  if (!build(256,
             [&](ByteWriter* w) { return tls::write_server_hello(p, w); }) ||
      !flush()) {
    return false;
  }
  // Handshake secrets (RFC 8446 section 7.1).
  HashValue hash;
  const bool ok =
      schedule.start(suite->hash, psk.span()) == KdfStatus::kOk &&
      schedule.advance_to_handshake(shared_secret.span()) == KdfStatus::kOk &&
      transcript.current_hash(&hash) == KdfStatus::kOk &&
      schedule.derive(SecretLabel::kClientHandshakeTraffic, hash.span(),
                      &client_hs) == KdfStatus::kOk &&
      schedule.derive(SecretLabel::kServerHandshakeTraffic, hash.span(),
                      &server_hs) == KdfStatus::kOk &&
      // With 0-RTT accepted the client's early records come first, under
      // the early key, until EndOfEarlyData (4.2.10, 4.5).
      records.set_read_secret(
          *suite, early_accepted ? client_early.span() : client_hs.span()) &&
      records.set_write_secret(*suite, server_hs.span());
  shared_secret.wipe();
  ecdhe.reset();
  if (!ok) {
    return fail(Alert::kInternalError);
  }
  if (early_accepted) {
    records.accept_early_data(&early_data, cfg.max_early_data);
  }
  if (cfg.keylog) {
    cfg.keylog("CLIENT_HANDSHAKE_TRAFFIC_SECRET", client_random,
               client_hs.span());
    cfg.keylog("SERVER_HANDSHAKE_TRAFFIC_SECRET", client_random,
               server_hs.span());
  }
  if (early_data_offered && !early_accepted) {
    records.skip_early_data(EarlyDataSkip::kUndecryptable,
                            cfg.max_early_data_skip);
  }
  return true;
}

bool ServerHandshake::State::write_ccs() {
  // Appendix D.4: one change_cipher_spec right after our first handshake
  // message, when the client asked for compatibility mode.
  if (send_ccs && !ccs_sent) {
    records.write_change_cipher_spec(out);
    ccs_sent = true;
  }
  return true;
}

bool ServerHandshake::State::write_encrypted_extensions() {
  // 4.2.7: the server's groups, for the client's next connection.
  std::vector<uint16_t> groups = hooks.encrypted_extensions_groups;
  if (groups.empty() && cfg.advertise_groups) {
    for (NamedGroup g : cfg.groups) {
      groups.push_back(static_cast<uint16_t>(g));
    }
  }
  EncryptedExtensionsParams p;
  p.supported_groups = groups;
  p.record_size_limit = own_record_size_limit;
  // server_name (RFC 6066 section 3): acknowledged whenever the name chose
  // the certificate context, resumption included. RFC 6066's "When
  // resuming a session, the server MUST NOT include a server_name
  // extension in the server hello" is about TLS 1.2 session-ID and
  // ticket resumption, where the resumed session carries the name of the
  // original handshake and the new one is ignored. In TLS 1.3 the
  // acknowledgement moved to EncryptedExtensions (RFC 8446 4.2, 4.3.1)
  // and RFC 8446 repeats no such rule; a resumed handshake here does use
  // the name: it picks the same credential again (select_credential) and
  // the ticket is accepted only for the name it was issued under
  // (usable_ticket). So the answer is the same as the full handshake's,
  // as OpenSSL (tls_construct_stoc_server_name: only "!TLS 1.3 && hit"
  // skips it) and NSS (RFC 8448 section 4) do.
  p.server_name_ack = credential.name_matched;
  p.alpn = alpn;
  p.early_data = early_accepted;  // 4.2.10
  return build(512 + 2 * groups.size(), [&](ByteWriter* w) {
    return tls::write_encrypted_extensions(p, w);
  });
}

bool ServerHandshake::State::write_certificate() {
  const std::span<const std::vector<uint8_t>> ders =
      hooks.certificate_chain.empty()
          ? credential.credential->chain()
          : std::span<const std::vector<uint8_t>>(hooks.certificate_chain);
  std::vector<std::span<const uint8_t>> chain;
  size_t cap = 16;
  for (const std::vector<uint8_t>& der : ders) {
    chain.emplace_back(der);
    cap += der.size() + 5;
  }
  // OCSP stapling (RFC 8446 section 4.4.2.1): the configured response, in
  // the leaf's entry, for a client that sent status_request.
  const std::span<const uint8_t> ocsp =
      ocsp_requested ? credential.credential->ocsp_response()
                     : std::span<const uint8_t>();
  if (!ocsp.empty()) {
    cap += ocsp.size() + 8;
  }
  return build(cap, [&](ByteWriter* w) {
    return tls::write_certificate({}, chain, ocsp, w);
  });
}

bool ServerHandshake::State::write_certificate_verify() {
  HashValue hash;
  if (transcript.current_hash(&hash) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  std::array<uint8_t, kCertificateVerifyContentMax> content{};
  ByteWriter cw(content);
  std::vector<uint8_t> sig;
  if (!build_certificate_verify_content(true, hash.span(), &cw) ||
      !(hooks.sign ? hooks.sign(credential.scheme, cw.written(), &sig)
                   : credential.credential->sign(credential.scheme,
                                                 cw.written(), &sig))) {
    return fail(Alert::kInternalError);
  }
  return build(sig.size() + 16, [&](ByteWriter* w) {
    return tls::write_certificate_verify(credential.scheme, sig, w);
  });
}

bool ServerHandshake::State::write_server_finished() {
  HashValue hash;
  Secret verify_data;
  if (transcript.current_hash(&hash) != KdfStatus::kOk ||
      compute_verify_data(suite->hash, server_hs.span(), hash.span(),
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
  // Application secrets from Transcript-Hash(ClientHello..server
  // Finished) (7.1); the client's Finished is verified over the same hash.
  if (transcript.current_hash(&server_finished_hash) != KdfStatus::kOk ||
      schedule.advance_to_master() != KdfStatus::kOk ||
      schedule.derive(SecretLabel::kClientApplicationTraffic,
                      server_finished_hash.span(),
                      &client_ap) != KdfStatus::kOk ||
      schedule.derive(SecretLabel::kServerApplicationTraffic,
                      server_finished_hash.span(),
                      &server_ap) != KdfStatus::kOk ||
      !records.set_write_secret(*suite, server_ap.span())) {
    return fail(Alert::kInternalError);
  }
  if (cfg.keylog) {
    cfg.keylog("CLIENT_TRAFFIC_SECRET_0", client_random, client_ap.span());
    cfg.keylog("SERVER_TRAFFIC_SECRET_0", client_random, server_ap.span());
    Secret exporter;  // wiped by its destructor
    if (schedule.derive(SecretLabel::kExporterMaster,
                        server_finished_hash.span(),
                        &exporter) == KdfStatus::kOk) {
      cfg.keylog("EXPORTER_SECRET", client_random, exporter.span());
    }
  }
  // From here on the server writes under its application key (RFC 8446
  // section 4.4.4: it may send data before the client's Finished): an
  // alert, and later NewSessionTickets, go out under it.
  return true;
}

// ---- client authentication (RFC 8446 sections 4.3.2, 4.4.2, 4.4.3) ----

bool ServerHandshake::State::write_certificate_request() {
  // The schemes we verify; certificate_request_context is empty during the
  // handshake. (certificate_authorities, 4.2.4, is not sent.)
  std::vector<uint16_t> schemes = hooks.certificate_request_schemes;
  if (schemes.empty()) {
    for (SignatureScheme sc : cfg.signature_schemes) {
      schemes.push_back(static_cast<uint16_t>(sc));
    }
  }
  CertificateRequestParams p;
  p.signature_algorithms = schemes;
  return build(64 + 2 * schemes.size(), [&](ByteWriter* w) {
    return tls::write_certificate_request(p, w);
  });
}

bool ServerHandshake::State::on_client_certificate() {
  std::vector<std::span<const uint8_t>> chain;
  Alert a = Alert::kDecodeError;
  if (!parse_certificate(current, &chain, &a)) {
    return fail(a);
  }
  // 4.4.2.4: "If the client does not send any certificates (i.e., it sends
  // an empty Certificate message), the server MAY at its discretion either
  // continue the handshake without client authentication or abort the
  // handshake with a "certificate_required" alert."
  if (chain.empty()) {
    if (cfg.client_cert_required) {
      return fail(Alert::kCertificateRequired);
    }
    // On to the client's Finished: the index carries on in the kind
    // without a client CertificateVerify.
    kind = kind == HandshakeKind::kFullClientAuth
               ? HandshakeKind::kFullNoClientCert
               : HandshakeKind::kHelloRetryNoClientCert;
    return transcript.add(current) == KdfStatus::kOk ||
           fail(Alert::kInternalError);
  }
  const auto now_s = static_cast<int64_t>(ctx->now_ms() / 1000);
  if (!ctx->client_verifier()->verify_chain(chain, now_s, &client_identity,
                                            &a)) {
    return fail(a);
  }
  client_leaf.assign(chain[0].begin(), chain[0].end());
  return transcript.add(current) == KdfStatus::kOk ||
         fail(Alert::kInternalError);
}

bool ServerHandshake::State::on_client_certificate_verify() {
  uint16_t code = 0;
  std::span<const uint8_t> sig;
  Alert a = Alert::kDecodeError;
  if (!parse_certificate_verify(current, &code, &sig, &a)) {
    return fail(a);
  }
  // 4.4.3: the scheme must be one the CertificateRequest offered.
  const std::optional<SignatureScheme> scheme = find_signature_scheme(code);
  if (!scheme.has_value() ||
      std::find(cfg.signature_schemes.begin(), cfg.signature_schemes.end(),
                *scheme) == cfg.signature_schemes.end()) {
    return fail(Alert::kIllegalParameter);
  }
  // The signature covers Transcript-Hash(ClientHello .. client
  // Certificate) under the client's context string.
  HashValue hash;
  std::array<uint8_t, kCertificateVerifyContentMax> content{};
  ByteWriter cw(content);
  if (transcript.current_hash(&hash) != KdfStatus::kOk ||
      !build_certificate_verify_content(false, hash.span(), &cw)) {
    return fail(Alert::kInternalError);
  }
  // 4.4.3: "If the verification fails, the receiver MUST terminate the
  // handshake with a "decrypt_error" alert."
  if (!verify_client_signature(client_leaf, *scheme, cw.written(), sig)) {
    return fail(Alert::kDecryptError);
  }
  return transcript.add(current) == KdfStatus::kOk ||
         fail(Alert::kInternalError);
}

// ---- client Finished and the hand-off ----

bool ServerHandshake::State::on_client_finished() {
  ByteReader r(current);
  std::span<const uint8_t> verify_data;
  r.skip(kHandshakeHeaderLen);
  r.bytes(r.remaining(), &verify_data);
  // 4.4.4: verify_data is Hash.length bytes.
  if (verify_data.size() != hash_len(suite->hash)) {
    return fail(Alert::kDecodeError);
  }
  // 4.4.4: over the transcript through the message before it: the
  // server's Finished, or the client's CertificateVerify.
  HashValue hash;
  if (transcript.current_hash(&hash) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  const KdfStatus v =
      verify_finished(suite->hash, client_hs.span(), hash.span(), verify_data);
  if (v == KdfStatus::kMismatch) {
    return fail(Alert::kDecryptError);
  }
  if (v != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  // 5.1: the read key changes after Finished, at a record boundary.
  if (!records.at_record_boundary()) {
    return fail(Alert::kUnexpectedMessage);
  }
  // The transcript through the client's Finished is what the resumption
  // master secret of the tickets is derived from.
  if (transcript.add(current) != KdfStatus::kOk || !send_tickets()) {
    return fail(Alert::kInternalError);
  }
  res.version = kVersionTls13;
  res.suite = suite->suite;
  res.client_secret = client_ap;
  res.server_secret = server_ap;
  res.client_next_seq = 0;
  // Records already sent under the application key: the tickets.
  res.server_next_seq = records.write_seq();
  res.alpn = alpn;
  res.server_name = server_name;
  res.peer_record_size_limit = peer_record_size_limit;
  res.own_record_size_limit = own_record_size_limit;
  res.group = group;
  res.signature_scheme = credential.scheme;
  res.kind = kind;
  res.psk_ke = psk_ke;
  res.early_data_accepted = early_accepted;
  res.early_data = std::move(early_data);
  early_data.clear();
  res.client_identity = std::move(client_identity);
  records.take_unread(&res.post_finished);
  wipe();
  return true;
}

// ---- public surface ----

ServerHandshake::ServerHandshake(std::shared_ptr<const ServerContext> context,
                                 crypto::AeadBackend& backend)
    : s_(std::make_unique<State>(std::move(context), backend)) {}

ServerHandshake::~ServerHandshake() {
  s_->wipe();
  s_->res.wipe();
}

FeedResult ServerHandshake::feed(std::span<const uint8_t> in,
                                 std::vector<uint8_t>* out) {
  if (s_->state != HandshakeState::kNeedMore) {
    return s_->result;
  }
  s_->out = out;
  s_->records.push(in);
  s_->run();
  s_->out = nullptr;
  s_->result.early_data_bytes = s_->early_data.size();
  return s_->result;
}

void ServerHandshake::take_early_data(std::vector<uint8_t>* out) {
  out->insert(out->end(), s_->early_data.begin(), s_->early_data.end());
  crypto::secure_wipe(s_->early_data.data(), s_->early_data.size());
  s_->early_data.clear();
  s_->result.early_data_bytes = 0;
}

HandshakeState ServerHandshake::state() const { return s_->state; }

HandshakeKind ServerHandshake::kind() const { return s_->kind; }

bool ServerHandshake::take_result(HandshakeResult* out) {
  if (s_->state != HandshakeState::kDone || s_->result_taken) {
    return false;
  }
  *out = std::move(s_->res);
  s_->res.wipe();
  s_->result_taken = true;
  return true;
}

void ServerHandshake::set_test_hooks(const ServerTestHooks& hooks) {
  s_->hooks = hooks;
}

}  // namespace dptls::tls
