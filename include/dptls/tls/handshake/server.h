// The TLS 1.3 server handshake (RFC 8446 section 2 and 4), sans-IO.
//
// The handshake thread feeds it the raw records a worker forwarded and sends
// back what it returns; when the client's Finished verifies it hands over one
// HandshakeResult for RecordEngine::install (architecture.md, "Handshake
// hand-off"):
//
//   ServerHandshake hs(context, backend);
//   std::vector<uint8_t> out;
//   FeedResult r = hs.feed(received, &out);   // send `out` as it is
//   if (r.state == HandshakeState::kDone) {
//     HandshakeResult res;
//     hs.take_result(&res);
//     engine.install(conn, res.suite, res.rx(), res.tx(),
//                    res.peer_record_size_limit, res.own_record_size_limit);
//   }
//
// With kDone, `out` ends with the NewSessionTickets, already protected
// under the server's application key: send them before anything the worker
// seals (res.tx() starts at the sequence number after them).
//
// The message order is data (s2n style): a table of message sequences per
// handshake kind (FULL, HELLO_RETRY, PSK, ...), walked by one loop that
// calls each message's reader or writer.
//
// Failures never throw: every error ends in kFailed with the alert of RFC
// 8446 section 6.2, and the alert record is among the bytes to send.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/handshake/client_auth.h"
#include "dptls/tls/handshake/credentials.h"
#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/handshake/session_ticket.h"
#include "dptls/tls/hkdf.h"
#include "dptls/tls/record.h"
#include "dptls/tls/record_engine.h"

namespace dptls::tls {

// The listener's handshake policy.
struct ServerConfig {
  // Cipher suites the server accepts, in its order of preference.
  std::vector<CipherSuite> cipher_suites = {
      CipherSuite::kAes128GcmSha256, CipherSuite::kAes256GcmSha384,
      CipherSuite::kChaCha20Poly1305Sha256};
  // true: the first of cipher_suites the client offers; false: the first
  // of the client's list the server accepts.
  bool server_cipher_preference = true;

  // (EC)DHE groups, in order of preference.
  std::vector<NamedGroup> groups = {NamedGroup::kX25519,
                                    NamedGroup::kSecp256r1};
  // false: use any share the client sent for a group both support (the
  // server's preference among those), and send a HelloRetryRequest only
  // when none fits. true: always use the server's most preferred mutual
  // group, with a HelloRetryRequest when the client sent no share for it.
  bool hello_retry_for_preferred_group = false;

  // Signature schemes for CertificateVerify, in order of preference.
  std::vector<SignatureScheme> signature_schemes = {
      SignatureScheme::kEcdsaSecp256r1Sha256, SignatureScheme::kEd25519,
      SignatureScheme::kRsaPssRsaeSha256, SignatureScheme::kRsaPssRsaeSha384};

  // ALPN protocols (RFC 7301), in order of preference. Empty: the client's
  // ALPN extension is ignored. Otherwise a client offering ALPN with no
  // protocol in common gets no_application_protocol (section 3.2).
  std::vector<std::string> alpn_protocols;

  // The record_size_limit (RFC 8449) sent when the client sends one: the
  // largest TLSInnerPlaintext we accept, 64 to 2^14 + 1.
  uint16_t record_size_limit = kMaxRecordSizeLimit13;

  // Send the server's groups (groups, in order) in EncryptedExtensions
  // (RFC 8446 section 4.2.7), so a client can offer a share for the
  // preferred one next time. Clients MUST NOT act on them before the
  // handshake completes.
  bool advertise_groups = false;

  // Middlebox compatibility (RFC 8446 appendix D.4): echo the session ID
  // and, when the client sent a non-empty one, send one change_cipher_spec
  // after the first ServerHello or HelloRetryRequest.
  bool middlebox_compat = true;

  // true: a client whose server_name matches no certificate gets
  // unrecognized_name (RFC 6066 section 3); false: any certificate serves.
  bool require_sni_match = false;

  // Rejected 0-RTT data skipped before a record that fails to open is a
  // bad_record_mac (RFC 8446 section 4.2.10), in bytes of record payload.
  size_t max_early_data_skip = size_t{64} * 1024;

  // 0-RTT (RFC 8446 sections 2.3, 4.2.10). 0 (the default): refused, the
  // early records skipped. Otherwise NewSessionTickets carry early_data
  // with this max_early_data_size, and a resumption ClientHello with
  // early_data is accepted when its first PSK identity is a usable ticket
  // of the same cipher suite and ALPN protocol, its reported age agrees
  // with ours within early_data_age_tolerance_ms (8.3), and the ticket was
  // never used for 0-RTT before (replay_cache, 8.1). The early data (at
  // most this many bytes; more is unexpected_message) is handed to the
  // caller (FeedResult::early_data_bytes, take_early_data()); it may be a
  // replay of a ClientHello whose 0-RTT was never delivered elsewhere, so
  // the application must only act on it when that is safe (8, E.5).
  uint32_t max_early_data = 0;
  // How far the client's view of a ticket's age may be from ours (8.3).
  uint32_t early_data_age_tolerance_ms = 10000;
  // The tickets already used for 0-RTT; shared by every context that
  // shares ticket_keys. nullptr with max_early_data: ServerContext::create
  // makes one of its own.
  std::shared_ptr<EarlyDataReplayCache> replay_cache;

  // Session resumption (RFC 8446 sections 2.2, 4.6.1). NewSessionTickets
  // sent after the client's Finished, each in its own record under the
  // server's application key (0: none). At most 16.
  uint8_t session_tickets = 2;
  // ticket_lifetime in seconds: 1 to 604800 (7 days, RFC 8446 4.6.1). A
  // ticket is refused once it is older (by the server's clock or by the
  // age the client reports).
  uint32_t ticket_lifetime_s = 86400;
  // The keys tickets are sealed with, shared by every listener instance
  // that should resume the others' sessions; whoever owns them calls
  // rotate() (and save()). nullptr: ServerContext::create makes random
  // keys of its own (12 h rotation interval, never rotated by dptls).
  std::shared_ptr<TicketKeys> ticket_keys;
  // psk_ke (RFC 8446 section 4.2.9): resuming without (EC)DHE. The
  // resumed connection's keys then depend on the ticket's PSK alone, so
  // whoever later learns it (or the ticket key) reads the traffic: no
  // forward secrecy. false: only psk_dhe_ke; a client offering only psk_ke
  // gets a full handshake. true: psk_dhe_ke when the client offers both,
  // psk_ke when it offers only that (no key_share in the ServerHello, the
  // (EC)DHE input of the key schedule is zeros, 7.1).
  bool allow_psk_ke = false;
  // The wall clock, in milliseconds since the Unix epoch (tickets carry
  // their issue time across instances). nullptr: the system clock. Tests
  // inject a fake one.
  std::function<uint64_t()> clock_ms;

  // Client authentication (mTLS, RFC 8446 section 4.3.2). Non-empty: a
  // PEM bundle of the CAs client certificates must chain to; the server
  // sends a CertificateRequest (signature_algorithms = signature_schemes),
  // and a certificate the client sends must verify against them. A
  // resumed session skips the request (4.3.2: none with a PSK); its ticket
  // carries the identity, and while certificates are required, tickets
  // without one are not resumed.
  std::string client_ca_pem;
  // true: a client sending no certificate gets certificate_required
  // (4.4.2.4); false: it is served without a client identity.
  bool client_cert_required = true;
  // Optional PEM CRLs for the client chains (with any, every certificate
  // of the chain needs its issuer's CRL).
  std::string client_crl_pem;

  // Key logging for debugging with Wireshark (SSLKEYLOGFILE): when set,
  // called on the handshake thread with each secret as it is derived, under
  // its NSS key log label (CLIENT_HANDSHAKE_TRAFFIC_SECRET,
  // SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0,
  // SERVER_TRAFFIC_SECRET_0, EXPORTER_SECRET, and with 0-RTT accepted
  // CLIENT_EARLY_TRAFFIC_SECRET and EARLY_EXPORTER_SECRET) with the
  // ClientHello.random.
  // The spans are valid during the call only. Empty: off (no exporter
  // secret is derived then).
  std::function<void(std::string_view label,
                     std::span<const uint8_t> client_random,
                     std::span<const uint8_t> secret)>
      keylog;
};

// A validated configuration with its certificates: immutable, shared by
// every handshake of a listener, on any thread.
class ServerContext {
 public:
  // Checks the configuration (non-empty suites, groups and schemes, a
  // record_size_limit in range, ALPN names of 1 to 255 bytes, at least one
  // certificate). Returns nullptr with *error set otherwise.
  static std::shared_ptr<const ServerContext> create(
      ServerConfig config, std::shared_ptr<const CertificateStore> certs,
      std::string* error);

  // The configuration and the certificates, valid as long as the context.
  const ServerConfig& config() const { return config_; }
  const CertificateStore& certs() const { return *certs_; }
  // The key HelloRetryRequest cookies are authenticated with (random per
  // context).
  std::span<const uint8_t> cookie_key() const { return cookie_key_; }
  // The ticket keys (never null once created).
  const TicketKeys& ticket_keys() const { return *config_.ticket_keys; }
  // The configured clock's time, in ms since the Unix epoch.
  uint64_t now_ms() const;
  // The 0-RTT strike register; nullptr when max_early_data is 0.
  EarlyDataReplayCache* replay_cache() const {
    return config_.replay_cache.get();
  }
  // The client certificate verifier; nullptr without client_ca_pem.
  const ClientCertVerifier* client_verifier() const {
    return client_verifier_.get();
  }
  // SHA-256 of client_ca_pem and client_crl_pem, empty without them:
  // tickets carry it, and only a server with the same client CAs resumes
  // a session whose client certificate was verified (a listener with
  // other client CAs must not take the identity on trust).
  const std::string& client_trust() const { return client_trust_; }

  // Wipes the cookie key.
  ~ServerContext();

 private:
  ServerContext() = default;

  ServerConfig config_;
  std::shared_ptr<const CertificateStore> certs_;
  std::shared_ptr<const ClientCertVerifier> client_verifier_;
  std::string client_trust_;
  std::array<uint8_t, 32> cookie_key_{};
};

// X(enumerator, printable name)
#define DPTLS_HANDSHAKE_STATES(X) \
  X(kNeedMore, "need-more")       \
  X(kDone, "done")                \
  X(kFailed, "failed")

enum class HandshakeState : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_HANDSHAKE_STATES(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name ("need-more"), or "unknown".
std::string_view handshake_state_name(HandshakeState state);

// What one feed() did.
struct FeedResult {
  HandshakeState state = HandshakeState::kNeedMore;
  // kFailed: the alert sent (or, when alert_from_peer, received).
  Alert alert = Alert::kCloseNotify;
  bool alert_from_peer = false;
  // Accepted 0-RTT data (RFC 8446 section 4.2.10) waiting to be taken
  // with ServerHandshake::take_early_data(), in bytes.
  size_t early_data_bytes = 0;
};

// The handshake kinds, each a sequence of messages (the s2n model).
// X(enumerator, printable name)
#define DPTLS_HANDSHAKE_KINDS(X)                           \
  X(kInitial, "initial")                                   \
  X(kFull, "full")                                         \
  X(kHelloRetry, "hello-retry")                            \
  X(kPsk, "psk")                                           \
  X(kHelloRetryPsk, "hello-retry-psk")                     \
  X(kFullClientAuth, "full-client-auth")                   \
  X(kHelloRetryClientAuth, "hello-retry-client-auth")      \
  X(kFullNoClientCert, "full-no-client-cert")              \
  X(kHelloRetryNoClientCert, "hello-retry-no-client-cert") \
  X(kPskEarlyData, "psk-early-data")

enum class HandshakeKind : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_HANDSHAKE_KINDS(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name ("hello-retry"), or "unknown".
std::string_view handshake_kind_name(HandshakeKind kind);

// The hand-off to the worker: everything RecordEngine::install needs, and
// what the application may want to know. The traffic secrets are wiped by
// the destructor and wipe().
struct HandshakeResult {
  uint16_t version = kVersionTls13;
  CipherSuite suite = CipherSuite::kAes128GcmSha256;
  // client_application_traffic_secret_0 (what the server reads) and
  // server_application_traffic_secret_0 (what it writes), RFC 8446 7.1.
  Secret client_secret;
  Secret server_secret;
  // Next sequence numbers: 0 for what the server reads, and the records
  // the server already sent under its application key: one per
  // NewSessionTicket (see tickets_sent).
  uint64_t client_next_seq = 0;
  uint64_t server_next_seq = 0;
  // The negotiated ALPN protocol and the client's server_name (empty when
  // none).
  std::string alpn;
  std::string server_name;
  // RFC 8449 values: the client's limit (bounds what we send) and ours
  // (bounds what we accept); 0 when the extension was not negotiated.
  uint16_t peer_record_size_limit = 0;
  uint16_t own_record_size_limit = 0;
  // Raw record bytes received after the peer's Finished (the client's, or
  // on a client the server's), to be fed to the record engine before
  // anything else.
  std::vector<uint8_t> post_finished;

  // For diagnostics and tests.
  NamedGroup group = NamedGroup::kX25519;
  SignatureScheme signature_scheme = SignatureScheme::kEcdsaSecp256r1Sha256;
  HandshakeKind kind = HandshakeKind::kFull;
  // Client authentication: the verified client certificate's identity
  // (also after resumption, from the ticket); empty without one.
  ClientIdentity client_identity;
  // 0-RTT was accepted (RFC 8446 section 4.2.10; on a client: the server
  // took what ClientHandshake::set_early_data() gave), and on a server the
  // early data not yet taken with take_early_data() (all of it when never
  // taken). It precedes, in the client's stream, the records of
  // post_finished.
  bool early_data_accepted = false;
  std::vector<uint8_t> early_data;
  // Resumed with psk_ke (RFC 8446 section 4.2.9): no (EC)DHE, `group`
  // is meaningless.
  bool psk_ke = false;
  // NewSessionTickets sent. Each is one record, so this equals
  // server_next_seq, unless the client's record_size_limit (RFC 8449) was
  // too small for a ticket and split it.
  uint8_t tickets_sent = 0;

  // Which side produced the result: false for ServerHandshake, true for
  // ClientHandshake (client.h). It decides which secret each direction
  // uses; the fields above keep their RFC names on both sides.
  bool is_client = false;

  // The directions as RecordEngine::install takes them (what this side
  // reads and writes); valid as long as this result is unchanged.
  DirectionSecret rx() const {
    return is_client ? DirectionSecret{server_secret.span(), server_next_seq}
                     : DirectionSecret{client_secret.span(), client_next_seq};
  }
  DirectionSecret tx() const {
    return is_client ? DirectionSecret{client_secret.span(), client_next_seq}
                     : DirectionSecret{server_secret.span(), server_next_seq};
  }
  void wipe() noexcept {
    client_secret.wipe();
    server_secret.wipe();
  }
};

// A test-only stand-in for Credential::sign: called with the scheme and
// the exact CertificateVerify content (RFC 8446 section 4.4.3) this side
// signs, it writes the signature to *sig; false fails the handshake with
// internal_error. RSA-PSS and ECDSA signatures are randomized, so an RFC
// 8448 replay reproduces a trace's CertificateVerify only by returning the
// trace's signature (after verifying it over `content`). It only replaces
// what this side sends: the peer's signatures are always verified.
using TestSigner =
    std::function<bool(SignatureScheme scheme, std::span<const uint8_t> content,
                       std::vector<uint8_t>* sig)>;

// Deterministic inputs for tests (RFC 8448 replays), never set in
// production: each replaces a random or configured input when set, and
// costs one emptiness check when not. None of them relaxes a check of what
// the client sends.
struct ServerTestHooks {
  // ServerHello.random.
  std::optional<std::array<uint8_t, 32>> server_random;
  // The ephemeral private key for the group chosen (see
  // EphemeralKey::set_private_key): X25519, or the P-256 scalar.
  std::vector<uint8_t> x25519_private_key;
  std::vector<uint8_t> secp256r1_private_key;
  // The HelloRetryRequest cookie (4.2.2), sent and then expected back
  // instead of the HMAC one.
  std::vector<uint8_t> hello_retry_cookie;
  // supported_groups sent in EncryptedExtensions (wire code points,
  // including groups dptls does not implement), instead of
  // ServerConfig::groups; implies ServerConfig::advertise_groups.
  std::vector<uint16_t> encrypted_extensions_groups;
  // CertificateRequest.signature_algorithms (wire code points) instead of
  // ServerConfig::signature_schemes. The client's CertificateVerify must
  // still use one of signature_schemes.
  std::vector<uint16_t> certificate_request_schemes;
  // DER certificates (leaf first) sent instead of the selected
  // credential's chain; the credential still decides the scheme.
  std::vector<std::vector<uint8_t>> certificate_chain;
  // Signs the server's CertificateVerify instead of the credential.
  TestSigner sign;
  // Opens a PSK identity instead of open_ticket() (a trace's ticket was
  // sealed by someone else): true with *out filled (the PSK, its suite,
  // issue time, lifetime, age_add and server name, checked as any ticket's
  // are), false to ignore the identity. The binder is verified as always.
  std::function<bool(std::span<const uint8_t> identity, TicketContents* out)>
      open_ticket;
  // NewSessionTickets (4.6.1): the first ticket's ticket_nonce (the others
  // keep their one-octet index) and every ticket's ticket_age_add instead
  // of random ones, and a sealer called with each ticket's contents, its
  // PSK derived, instead of seal_ticket() (a trace's ticket is opaque).
  std::vector<uint8_t> ticket_nonce;
  std::optional<uint32_t> ticket_age_add;
  std::function<bool(const TicketContents& contents,
                     std::vector<uint8_t>* ticket)>
      seal_ticket;
};

// One connection's server handshake. Owned by one handshake thread.
class ServerHandshake {
 public:
  // `context` and `backend` must outlive the handshake; `backend` belongs
  // to the calling thread (it expands the handshake traffic keys).
  ServerHandshake(std::shared_ptr<const ServerContext> context,
                  crypto::AeadBackend& backend);
  ~ServerHandshake();
  ServerHandshake(const ServerHandshake&) = delete;
  ServerHandshake& operator=(const ServerHandshake&) = delete;

  // Feeds received bytes (whole records or any split of them) and runs the
  // state machine as far as they allow. Whole records to send are appended
  // to *out (non-null; including the alert record on failure). Bytes after
  // the client's Finished are not read: they go to the result's
  // post_finished. After kDone or kFailed, further calls take nothing,
  // append nothing and repeat the result.
  FeedResult feed(std::span<const uint8_t> in, std::vector<uint8_t>* out);

  // Where the handshake is; kInitial until the first ClientHello is read,
  // then the kind it chose.
  HandshakeState state() const;
  HandshakeKind kind() const;

  // Moves the result out once the state is kDone (once; false otherwise).
  // The handshake's own copies of every secret are wiped by then.
  bool take_result(HandshakeResult* out);

  // Moves the accepted 0-RTT data received so far (RFC 8446 section
  // 4.2.10) to the end of *out; FeedResult::early_data_bytes says how much
  // is waiting. The data is not yet authenticated as fresh: the client's
  // Finished has not arrived, and 0-RTT is replayable across servers that
  // do not share the replay cache (section 8).
  void take_early_data(std::vector<uint8_t>* out);

  // Replaces the random inputs; call before the first feed().
  void set_test_hooks(const ServerTestHooks& hooks);

  // Opaque state, defined in server.cc.
  struct State;

 private:
  std::unique_ptr<State> s_;
};

}  // namespace dptls::tls
