// The TLS 1.3 client handshake (RFC 8446 sections 2, 4 and 7), sans-IO: the
// mirror of ServerHandshake (server.h), for dptls as a client (load
// generation, upstream connections).
//
//   ClientHandshake hs(context, backend);
//   std::vector<uint8_t> out;
//   hs.start(&out);                            // send the ClientHello
//   FeedResult r = hs.feed(received, &out);    // send `out` as it is
//   if (r.state == HandshakeState::kDone) {
//     HandshakeResult res;                     // res.is_client is true
//     hs.take_result(&res);
//     engine.install(conn, res.suite, res.rx(), res.tx(),
//                    res.peer_record_size_limit, res.own_record_size_limit);
//     // then feed res.post_finished to the engine first
//   }
//
// With kDone, `out` ends with the client's Finished. The server's
// NewSessionTickets arrive after it, under the server's application key:
// the record engine hands them over as post-handshake messages
// (RecordSink::on_post_handshake), and whoever owns the handshake passes
// them to on_post_handshake(), which stores the session for the next
// connection (ClientConfig::session_cache). The handshake object is kept
// for that; it holds only the resumption master secret by then.
//
// The message order is data (s2n style): a table of message sequences per
// handshake kind (the HandshakeKind of server.h), walked by one loop that
// calls each message's reader or writer. The kind is learnt as the server's
// messages arrive: HelloRetryRequest or ServerHello, a pre_shared_key in
// the ServerHello, a CertificateRequest before the Certificate.
//
// Failures never throw: every error ends in kFailed with the alert of RFC
// 8446 section 6.2, and the alert record is among the bytes to send.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/handshake/credentials.h"
#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/handshake/server.h"
#include "dptls/tls/hkdf.h"
#include "dptls/tls/record.h"

struct x509_store_st;  // X509_STORE, kept out of the public headers.

namespace dptls::tls {

// A resumable session: one NewSessionTicket and the PSK derived for it
// (RFC 8446 section 4.6.1). The PSK is wiped by the destructor.
struct ClientSession {
  CipherSuite suite = CipherSuite::kAes128GcmSha256;  // its hash binds the PSK
  Secret psk;
  std::vector<uint8_t> ticket;
  uint32_t age_add = 0;
  uint32_t lifetime_s = 0;
  uint64_t received_ms = 0;  // when the ticket arrived (client clock)
  uint32_t max_early_data_size = 0;
  std::string server_name;  // the name it was issued under (cache key)
  std::string alpn;         // the protocol of the original connection
};

// Tickets by server name, shared by the handshakes of one ClientContext
// (thread-safe: a mutex; handshake threads only). Each ticket is offered
// once (RFC 8446 appendix C.4: a client SHOULD NOT reuse a ticket), newest
// first; at most `per_name` are kept per name (the oldest are dropped).
class ClientSessionCache {
 public:
  explicit ClientSessionCache(size_t per_name = 4) : per_name_(per_name) {}

  void put(ClientSession session);
  // Removes and returns the newest ticket for `server_name` still within its
  // lifetime at `now_ms` (expired ones are dropped). false when none.
  bool take(std::string_view server_name, uint64_t now_ms, ClientSession* out);
  // Tickets held, over all names.
  size_t size() const;

 private:
  mutable std::mutex mu_;
  size_t per_name_;
  std::map<std::string, std::deque<ClientSession>, std::less<>> sessions_;
};

// The client's handshake policy.
struct ClientConfig {
  // Offered in this order (the order of preference).
  std::vector<CipherSuite> cipher_suites = {
      CipherSuite::kAes128GcmSha256, CipherSuite::kAes256GcmSha384,
      CipherSuite::kChaCha20Poly1305Sha256};
  // supported_groups, in order of preference; the ClientHello carries a key
  // share for the first only (a server preferring another asks for it with
  // a HelloRetryRequest).
  std::vector<NamedGroup> groups = {NamedGroup::kX25519,
                                    NamedGroup::kSecp256r1};
  // signature_algorithms: the schemes the server's CertificateVerify may
  // use (and, for a client certificate, ours).
  std::vector<SignatureScheme> signature_schemes = {
      SignatureScheme::kEcdsaSecp256r1Sha256, SignatureScheme::kEd25519,
      SignatureScheme::kRsaPssRsaeSha256, SignatureScheme::kRsaPssRsaeSha384};
  // ALPN protocols offered (RFC 7301); empty: no extension.
  std::vector<std::string> alpn_protocols;
  // The server's name: a DNS host name (sent as SNI, RFC 6066, and checked
  // against the certificate with X509_check_host) or an IPv4/IPv6 literal
  // (no SNI, RFC 6066 section 3; checked with X509_check_ip).
  std::string server_name;

  // Server authentication. true: the chain must verify (X509_verify_cert,
  // TLS server purpose) against trust_pem, or the system's default CA
  // paths (X509_STORE_set_default_paths) when trust_pem is empty, and the
  // leaf must match server_name (required then). The CertificateVerify
  // signature and the Finished are always checked.
  // false: UNSAFE -- any certificate is accepted, so an active attacker can
  // impersonate the server. For load generation and tests only.
  bool verify_peer = true;
  // PEM CA bundle (CERTIFICATE blocks: trust anchors).
  std::string trust_pem;

  // record_size_limit (RFC 8449) offered: the largest TLSInnerPlaintext we
  // accept, 64 to 2^14 + 1; 0: not offered.
  uint16_t record_size_limit = 0;

  // Middlebox compatibility (RFC 8446 appendix D.4): a random 32-byte
  // legacy_session_id and one change_cipher_spec before our second flight.
  bool middlebox_compat = true;

  // Session resumption (RFC 8446 section 2.2): when set, a ticket for
  // server_name is offered as a PSK (psk_dhe_ke, with its binder) and the
  // tickets on_post_handshake() receives are stored here.
  std::shared_ptr<ClientSessionCache> session_cache;
  // psk_key_exchange_modes offered (RFC 8446 section 4.2.9): psk_dhe_ke
  // ((EC)DHE with the PSK, forward secret) and psk_ke (the PSK alone: the
  // resumed keys depend only on it, no forward secrecy, but no (EC)DHE
  // either). With both, the server picks; at least one must be set.
  bool offer_psk_dhe_ke = true;
  bool offer_psk_ke = false;

  // Client authentication (RFC 8446 section 4.3.2): the certificate chain
  // and key sent when the server asks for one. nullptr: an empty
  // Certificate is sent (the server may go on or refuse, 4.4.2.4).
  std::shared_ptr<const Credential> client_credential;

  // The wall clock in ms since the Unix epoch (certificate validity, ticket
  // ages). nullptr: the system clock. Tests inject a fake one.
  std::function<uint64_t()> clock_ms;

  // Key logging for debugging with Wireshark (SSLKEYLOGFILE), as
  // ServerConfig::keylog: each secret under its NSS key log label
  // (CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET,
  // CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0, EXPORTER_SECRET, and
  // with early data sent CLIENT_EARLY_TRAFFIC_SECRET and
  // EARLY_EXPORTER_SECRET) with our ClientHello.random; spans valid during
  // the call only. Empty: off.
  std::function<void(std::string_view label,
                     std::span<const uint8_t> client_random,
                     std::span<const uint8_t> secret)>
      keylog;
};

// A validated configuration with its trust store: immutable, shared by the
// handshakes of one client, on any thread (X509_STORE verification is safe
// concurrently; each handshake makes its own X509_STORE_CTX).
class ClientContext {
 public:
  // Checks the configuration (non-empty suites, groups and schemes, a
  // record_size_limit of 0 or 64 to 16385, ALPN names of 1 to 255 bytes, a
  // server_name when verify_peer) and loads the trust store. Returns
  // nullptr with *error set otherwise.
  static std::shared_ptr<const ClientContext> create(ClientConfig config,
                                                     std::string* error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  const ClientConfig& config() const { return config_; }
  // True when server_name is an IP literal.
  bool server_name_is_ip() const { return is_ip_; }
  // The trust store; nullptr without verify_peer.
  x509_store_st* store() const { return store_; }
  uint64_t now_ms() const;

 private:
  ClientContext() = default;

  ClientConfig config_;
  x509_store_st* store_ = nullptr;
  bool is_ip_ = false;
};

// Deterministic inputs for tests (RFC 8448 replays): they replace the
// random ClientHello.random and the ephemeral key (X25519 only), and may
// change what the ClientHello lists, so RFC 8448's ClientHello can be
// written byte for byte.
//
// Like ServerTestHooks, test-only: each costs one emptiness check when
// unset, and none relaxes a check of what the server sends.
struct ClientTestHooks {
  std::optional<std::array<uint8_t, 32>> client_random;
  // The legacy_session_id of compatibility mode (appendix D.4), instead of
  // a random one; only with ClientConfig::middlebox_compat.
  std::optional<std::array<uint8_t, 32>> legacy_session_id;
  std::vector<uint8_t> x25519_private_key;
  // The P-256 private scalar used when a HelloRetryRequest asks for a
  // secp256r1 share (see EphemeralKey::set_private_key).
  std::vector<uint8_t> secp256r1_private_key;
  // Client authentication: DER certificates (leaf first) sent instead of
  // ClientConfig::client_credential's chain (the credential still decides
  // the scheme), and a signer for our CertificateVerify instead of the
  // credential's key (see TestSigner in server.h).
  std::vector<std::vector<uint8_t>> certificate_chain;
  TestSigner sign;
  // Sent instead of the configured lists when non-empty (wire code
  // points, including ones dptls does not implement).
  std::vector<uint16_t> supported_groups;
  std::vector<uint16_t> signature_algorithms;
  // Extensions written as given: (type, body, the extension they follow
  // -- server_name, supported_groups, key_share, supported_versions,
  // signature_algorithms or record_size_limit), in the first ClientHello
  // only, the second (after a HelloRetryRequest) only, or both.
  struct Extra {
    uint16_t type = 0;
    std::vector<uint8_t> body;
    ExtensionType after = ExtensionType::kServerName;
    enum class In : uint8_t { kBoth, kFirst, kRetry };
    In in = In::kBoth;
  };
  std::vector<Extra> extra_extensions;
};

// One connection's client handshake. Owned by one thread at a time.
class ClientHandshake {
 public:
  // `context` and `backend` must outlive the handshake; `backend` belongs
  // to the calling thread (it expands the handshake traffic keys).
  ClientHandshake(std::shared_ptr<const ClientContext> context,
                  crypto::AeadBackend& backend);
  ~ClientHandshake();
  ClientHandshake(const ClientHandshake&) = delete;
  ClientHandshake& operator=(const ClientHandshake&) = delete;

  // Writes the ClientHello record to *out (non-null). Call once, first.
  // kNeedMore on success; kFailed (internal_error, nothing appended) when
  // called twice or on a libcrypto failure.
  FeedResult start(std::vector<uint8_t>* out);

  // Feeds received bytes (whole records or any split of them) and runs the
  // state machine as far as they allow. Records to send are appended to
  // *out (including the alert record on failure). Bytes after the
  // server's Finished are not read: they go to the result's post_finished.
  // After kDone or kFailed, further calls take nothing, append nothing and
  // repeat the result.
  FeedResult feed(std::span<const uint8_t> in, std::vector<uint8_t>* out);

  HandshakeState state() const;
  // kInitial until the server's first message is read, then the kind.
  HandshakeKind kind() const;

  // Moves the result out once the state is kDone (once; false otherwise).
  // is_client is set: rx() is server_application_traffic_secret_0, tx()
  // client_application_traffic_secret_0. The handshake keeps only the
  // resumption master secret (for on_post_handshake()).
  bool take_result(HandshakeResult* out);

  // A post-handshake message from the server (type, length, body), as the
  // record engine delivered it, after kDone. A NewSessionTicket becomes a
  // ClientSession: stored in the config's session_cache (when set) and
  // copied to *session (when non-null). Returns false with *alert set:
  // decode_error for a malformed message, unexpected_message for a
  // CertificateRequest (post_handshake_auth is not offered) or any other
  // type, internal_error before kDone.
  bool on_post_handshake(std::span<const uint8_t> message,
                         ClientSession* session, Alert* alert);

  // Whether the server accepted our PSK (valid once kDone).
  bool resumed() const;

  // 0-RTT (RFC 8446 section 4.2.10): `data` (copied) is sent as early data
  // right after the ClientHello when the ticket offered allows that much
  // (its max_early_data_size); otherwise it is not sent at all. Call
  // before start(). Once kDone, HandshakeResult::early_data_accepted says
  // whether the server took it; if not (or if it was not sent), the
  // application must send it again over the established connection.
  // Early data is replayable (section 8): only what is safe to repeat.
  void set_early_data(std::span<const uint8_t> data);

  // Replaces the random inputs; call before start().
  void set_test_hooks(const ClientTestHooks& hooks);

  // Opaque state, defined in client.cc.
  struct State;

 private:
  std::unique_ptr<State> s_;
};

}  // namespace dptls::tls
