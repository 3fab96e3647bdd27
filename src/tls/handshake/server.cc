// The TLS 1.3 server handshake state machine (RFC 8446 sections 2, 4 and
// 7), s2n style: one table of message sequences per handshake kind, one
// handler per message.
#include "dptls/tls/handshake/server.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "dptls/tls/handshake/key_exchange.h"
#include "dptls/tls/handshake/record_layer.h"
#include "dptls/tls/key_schedule.h"
#include "dptls/tls/transcript.h"

namespace dptls::tls {

namespace {

// The messages of a server handshake. X(enumerator, printable name)
#define DPTLS_SERVER_HS_MESSAGES(X)                \
  X(kClientHello, "ClientHello")                   \
  X(kHelloRetryRequest, "HelloRetryRequest")       \
  X(kServerHello, "ServerHello")                   \
  X(kServerChangeCipherSpec, "ChangeCipherSpec")   \
  X(kEncryptedExtensions, "EncryptedExtensions")   \
  X(kServerCertificate, "Certificate")             \
  X(kServerCertificateVerify, "CertificateVerify") \
  X(kServerFinished, "ServerFinished")             \
  X(kClientFinished, "ClientFinished")             \
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

std::span<const Msg> sequence(HandshakeKind kind) {
  switch (kind) {
    case HandshakeKind::kInitial:
      return kInitialSequence;
    case HandshakeKind::kFull:
      return kFullSequence;
    case HandshakeKind::kHelloRetry:
      return kHelloRetrySequence;
  }
  return kInitialSequence;
}

// The wire code of a cipher suite.
uint16_t code(CipherSuite s) { return static_cast<uint16_t>(s); }

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
  if (certs == nullptr || certs->empty()) {
    *error = "no certificate";
    return nullptr;
  }
  std::shared_ptr<ServerContext> ctx(new ServerContext());
  if (RAND_bytes(ctx->cookie_key_.data(),
                 static_cast<int>(ctx->cookie_key_.size())) != 1) {
    *error = "RAND_bytes failed";
    return nullptr;
  }
  ctx->config_ = std::move(config);
  ctx->certs_ = std::move(certs);
  return ctx;
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

  // Negotiation steps of on_client_hello().
  bool negotiate_below_tls13(const ClientHello& ch);
  bool check_retry(const ClientHello& ch);
  bool select_suite(const ClientHello& ch);
  bool select_group(const ClientHello& ch, bool* need_retry);
  bool select_credential(const ClientHello& ch);
  bool select_alpn(const ClientHello& ch);
  bool make_cookie();

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
  bool send_ccs = false;
  bool ccs_sent = false;
  std::array<uint8_t, 32> session_id{};
  size_t session_id_len = 0;
  std::vector<uint8_t> cookie;

  // Keys.
  Transcript transcript;
  KeySchedule schedule;
  EphemeralKey ecdhe;
  Secret shared_secret;
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
  client_hs.wipe();
  server_hs.wipe();
  client_ap.wipe();
  server_ap.wipe();
  crypto::secure_wipe(msg_buf.data(), msg_buf.size());
  crypto::secure_wipe(hooks.x25519_private_key.data(),
                      hooks.x25519_private_key.size());
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
  // 4.2.10: 0-RTT is never accepted (yet); the early records are skipped.
  early_data_offered = ch.has(ExtensionType::kEarlyData);

  if (!retry && transcript.init(suite->hash) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
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
  if (!retry) {
    kind = HandshakeKind::kFull;
  }
  // (EC)DHE with the client's share (RFC 8446 section 7.4).
  if (!ch.key_shares.find(static_cast<uint16_t>(group), &share)) {
    return fail(Alert::kInternalError);
  }
  const bool fixed =
      group == NamedGroup::kX25519 && !hooks.x25519_private_key.empty();
  const bool have_key =
      fixed ? ecdhe.set_private_key(group, hooks.x25519_private_key)
            : ecdhe.generate(group);
  if (!have_key) {
    return fail(Alert::kInternalError);
  }
  Alert dh_alert = Alert::kInternalError;
  if (!ecdhe.derive(share.key_exchange, &shared_secret, &dh_alert)) {
    return fail(dh_alert);
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
  std::array<uint8_t, 32> random{};
  if (hooks.server_random.has_value()) {
    random = *hooks.server_random;
  } else if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return fail(Alert::kInternalError);
  }
  ServerHelloParams p;
  p.random = random;
  p.legacy_session_id_echo = {session_id.data(), session_id_len};
  p.cipher_suite = suite->code;
  p.key_share_group = static_cast<uint16_t>(group);
  p.key_share = ecdhe.public_key();
  if (!build(256,
             [&](ByteWriter* w) { return tls::write_server_hello(p, w); }) ||
      !flush()) {
    return false;
  }
  // Handshake secrets (RFC 8446 section 7.1).
  HashValue hash;
  const bool ok =
      schedule.start(suite->hash, {}) == KdfStatus::kOk &&
      schedule.advance_to_handshake(shared_secret.span()) == KdfStatus::kOk &&
      transcript.current_hash(&hash) == KdfStatus::kOk &&
      schedule.derive(SecretLabel::kClientHandshakeTraffic, hash.span(),
                      &client_hs) == KdfStatus::kOk &&
      schedule.derive(SecretLabel::kServerHandshakeTraffic, hash.span(),
                      &server_hs) == KdfStatus::kOk &&
      records.set_read_secret(*suite, client_hs.span()) &&
      records.set_write_secret(*suite, server_hs.span());
  shared_secret.wipe();
  ecdhe.reset();
  if (!ok) {
    return fail(Alert::kInternalError);
  }
  if (early_data_offered) {
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
  EncryptedExtensionsParams p;
  p.record_size_limit = own_record_size_limit;
  p.server_name_ack = credential.name_matched;
  p.alpn = alpn;
  return build(512, [&](ByteWriter* w) {
    return tls::write_encrypted_extensions(p, w);
  });
}

bool ServerHandshake::State::write_certificate() {
  const Credential& cred = *credential.credential;
  std::vector<std::span<const uint8_t>> chain;
  size_t cap = 16;
  for (const std::vector<uint8_t>& der : cred.chain()) {
    chain.emplace_back(der);
    cap += der.size() + 5;
  }
  return build(cap, [&](ByteWriter* w) {
    return tls::write_certificate({}, chain, {}, w);
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
      !credential.credential->sign(credential.scheme, cw.written(), &sig)) {
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
  // From here on the server writes under its application key (RFC 8446
  // section 4.4.4: it may send data before the client's Finished): an
  // alert, and later NewSessionTickets, go out under it.
  return true;
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
  const KdfStatus v = verify_finished(suite->hash, client_hs.span(),
                                      server_finished_hash.span(), verify_data);
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
  // master secret (tickets, later) is derived from.
  if (transcript.add(current) != KdfStatus::kOk) {
    return fail(Alert::kInternalError);
  }
  res.version = kVersionTls13;
  res.suite = suite->suite;
  res.client_secret = client_ap;
  res.server_secret = server_ap;
  res.client_next_seq = 0;
  // Records already sent under the application key (NewSessionTickets,
  // none yet).
  res.server_next_seq = records.write_seq();
  res.alpn = alpn;
  res.server_name = server_name;
  res.peer_record_size_limit = peer_record_size_limit;
  res.own_record_size_limit = own_record_size_limit;
  res.group = group;
  res.signature_scheme = credential.scheme;
  res.kind = kind;
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
  return s_->result;
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
