// The TLS 1.3 key schedule (RFC 8446 section 7), sans-IO.
//
//   KeySchedule  walks 7.1: Early Secret -> Handshake Secret -> Master
//                Secret, deriving the named secrets of each stage from the
//                transcript hashes the handshake gives it.
//   free functions  traffic key and IV (7.3), Finished (4.4.4), PSK binder
//                (4.2.11.2), KeyUpdate (7.2), resumption PSK (4.6.1),
//                exporters (7.5).
//   TrafficSecret  one direction's traffic secret with its key and IV: what
//                the handshake thread hands a worker, and what the worker
//                updates on KeyUpdate.
//
// A typical server handshake:
//   ks.start(suite.hash, psk_or_empty);
//   [ks.derive(kResBinder, {}, &binder_key); verify_psk_binder(...)]
//   ks.advance_to_handshake(ecdhe_shared_secret);
//   ks.derive(kClientHandshakeTraffic, Hash(CH..SH), &c_hs);   // and s_hs
//   ks.advance_to_master();
//   ks.derive(kServerApplicationTraffic, Hash(CH..server Fin), &s_ap);
//   ks.derive(kResumptionMaster, Hash(CH..client Fin), &rms);
//
// Every secret lives in fixed storage (Secret: 48 bytes, no heap) and is
// wiped when superseded and on destruction. No exceptions: each call
// returns a KdfStatus and leaves its outputs wiped on failure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dptls/crypto/aead.h"
#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/digest.h"  // internal::HmacKey, held by KeySchedule
#include "dptls/tls/hkdf.h"

namespace dptls::tls {

// X(enumerator, printable name)
#define DPTLS_KEY_STAGES(X)  \
  X(kNone, "none")           \
  X(kEarly, "early")         \
  X(kHandshake, "handshake") \
  X(kMaster, "master")

enum class KeyStage : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_KEY_STAGES(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name ("handshake"), or "unknown" outside the enum.
std::string_view key_stage_name(KeyStage stage);

// The secrets Derive-Secret makes from each stage (RFC 8446 section 7.1).
// X(enumerator, HKDF label, stage, transcript: true = Transcript-Hash of the
// messages so far, false = of no message)
#define DPTLS_TLS13_SECRETS(X)                                 \
  X(kExtBinder, "ext binder", kEarly, false)                   \
  X(kResBinder, "res binder", kEarly, false)                   \
  X(kClientEarlyTraffic, "c e traffic", kEarly, true)          \
  X(kEarlyExporterMaster, "e exp master", kEarly, true)        \
  X(kClientHandshakeTraffic, "c hs traffic", kHandshake, true) \
  X(kServerHandshakeTraffic, "s hs traffic", kHandshake, true) \
  X(kClientApplicationTraffic, "c ap traffic", kMaster, true)  \
  X(kServerApplicationTraffic, "s ap traffic", kMaster, true)  \
  X(kExporterMaster, "exp master", kMaster, true)              \
  X(kResumptionMaster, "res master", kMaster, true)

enum class SecretLabel : uint8_t {
#define DPTLS_X(e, label, stage, transcript) e,
  DPTLS_TLS13_SECRETS(DPTLS_X)
#undef DPTLS_X
};

inline constexpr SecretLabel kAllSecretLabels[] = {
#define DPTLS_X(e, label, stage, transcript) SecretLabel::e,
    DPTLS_TLS13_SECRETS(DPTLS_X)
#undef DPTLS_X
};

// Returns the HKDF label without the "tls13 " prefix ("c hs traffic"), or
// "unknown" outside the enum.
std::string_view secret_label_name(SecretLabel label);
// Returns the stage a secret is derived in (kNone outside the enum).
KeyStage secret_label_stage(SecretLabel label);

// The main line of RFC 8446 section 7.1. Holds the hash and the current
// stage secret only (Early, Handshake or Master Secret; each wiped when the
// next replaces it); the derived secrets go to the caller.
//
// Not copyable. Moving moves the secret and resets the source. Belongs to
// one thread at a time.
class KeySchedule {
 public:
  KeySchedule() = default;
  ~KeySchedule() { reset(); }
  KeySchedule(const KeySchedule&) = delete;
  KeySchedule& operator=(const KeySchedule&) = delete;
  KeySchedule(KeySchedule&& other) noexcept;
  KeySchedule& operator=(KeySchedule&& other) noexcept;

  // Early Secret = HKDF-Extract(0, PSK). An empty `psk` means no PSK: the IKM
  // is Hash.length zeros. Allowed in any stage (restarts the schedule).
  // Fails with kBadAlg or kLibcrypto, leaving the schedule at kNone.
  KdfStatus start(HashAlg alg, std::span<const uint8_t> psk);

  // Derive-Secret(stage secret, label, Messages) for a secret of the current
  // stage. `transcript_hash` is Transcript-Hash(Messages), Hash.length
  // bytes, for the labels derived from the transcript, and must be empty for
  // the binder keys (whose Messages are ""; the empty hash is computed
  // here). Fails with kBadState (not the current stage), kBadLength (hash
  // length), kBadLabel (a SecretLabel outside the enum), kLibcrypto; `out`
  // is empty on failure.
  KdfStatus derive(SecretLabel label, std::span<const uint8_t> transcript_hash,
                   Secret* out) const;

  // Handshake Secret = HKDF-Extract(Derive-Secret(Early Secret, "derived",
  // ""), (EC)DHE). An empty `shared_secret` means psk_ke: Hash.length zeros.
  // Requires kEarly (kBadState). The Early Secret is wiped. On kLibcrypto the
  // schedule is reset to kNone.
  KdfStatus advance_to_handshake(std::span<const uint8_t> shared_secret);

  // Master Secret = HKDF-Extract(Derive-Secret(Handshake Secret, "derived",
  // ""), 0). Requires kHandshake (kBadState). The Handshake Secret is wiped.
  // On kLibcrypto the schedule is reset to kNone.
  KdfStatus advance_to_master();

  // Wipes the stage secret; back to kNone.
  void reset();

  KeyStage stage() const { return stage_; }
  HashAlg alg() const { return alg_; }
  // The current stage secret (empty at kNone). For tests and diagnostics;
  // valid until the next call that changes the stage.
  std::span<const uint8_t> stage_secret() const { return secret_.span(); }

 private:
  KdfStatus advance(std::span<const uint8_t> ikm, KeyStage next);

  Secret secret_;
  // secret_ keyed for HMAC (dptls/tls/digest.h), so the secrets of a stage
  // do not hash its padded blocks again each. Keyed by advance(), and by
  // start() when there is a PSK (the no-PSK Early Secret's only use is
  // the constant salt of the next stage); derive() without it works from
  // secret_.
  internal::HmacKey keyed_;
  HashAlg alg_ = HashAlg::kSha256;
  KeyStage stage_ = KeyStage::kNone;
  // The Early Secret is the no-PSK constant: the salt of the Handshake
  // Secret is a constant too (key_schedule.cc).
  bool no_psk_ = false;
};

// A record protection key and IV (RFC 8446 section 7.3). Fixed size, wiped
// by the destructor and wipe(); copies are independent.
struct TrafficKeys {
  TrafficKeys() = default;
  ~TrafficKeys() { wipe(); }
  TrafficKeys(const TrafficKeys&) = default;
  TrafficKeys& operator=(const TrafficKeys&) = default;

  void wipe() noexcept;
  std::span<const uint8_t> key_span() const { return {key.data(), key_len}; }
  std::span<const uint8_t> iv_span() const { return iv; }

  crypto::AeadAlg aead = crypto::AeadAlg::kAes128Gcm;
  uint8_t key_len = 0;  // 0 when empty
  std::array<uint8_t, crypto::kAeadMaxKeyLen> key{};
  std::array<uint8_t, crypto::kAeadNonceLen> iv{};
};

// [sender]_write_key = HKDF-Expand-Label(Secret, "key", "", key_length),
// [sender]_write_iv = HKDF-Expand-Label(Secret, "iv", "", iv_length) with
// key_length = aead_key_len(aead) and iv_length = 12 (RFC 8446 section 7.3).
// `secret` must be Hash.length bytes (kBadLength). Fails with kBadAlg,
// kLibcrypto. `out` is wiped on failure.
KdfStatus derive_traffic_keys(HashAlg hash, crypto::AeadAlg aead,
                              std::span<const uint8_t> secret,
                              TrafficKeys* out);

// application_traffic_secret_N+1 = HKDF-Expand-Label(
//     application_traffic_secret_N, "traffic upd", "", Hash.length)
// (RFC 8446 section 7.2). `secret` must be Hash.length bytes. `out` may not
// be the object `secret` points into; it is empty on failure.
KdfStatus derive_next_traffic_secret(HashAlg hash,
                                     std::span<const uint8_t> secret,
                                     Secret* out);

// finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length)
// (RFC 8446 section 4.4.4). BaseKey is a handshake traffic secret (or a
// binder key) of Hash.length bytes. `out` is empty on failure.
KdfStatus derive_finished_key(HashAlg hash, std::span<const uint8_t> base_key,
                              Secret* out);

// verify_data = HMAC(finished_key, Transcript-Hash(Handshake Context,
// Certificate*, CertificateVerify*)), finished_key from `base_key` (RFC 8446
// section 4.4.4). Both inputs Hash.length bytes (kBadLength). `out` is empty
// on failure.
KdfStatus compute_verify_data(HashAlg hash, std::span<const uint8_t> base_key,
                              std::span<const uint8_t> transcript_hash,
                              Secret* out);

// Checks a received Finished.verify_data in constant time. kOk when it
// matches, kMismatch when it differs (including in length), or a failure of
// compute_verify_data().
KdfStatus verify_finished(HashAlg hash, std::span<const uint8_t> base_key,
                          std::span<const uint8_t> transcript_hash,
                          std::span<const uint8_t> received);

// A PSK binder: computed like Finished with the binder key as BaseKey, over
// Transcript-Hash(Truncated(ClientHello)) -- preceded by ClientHello1 and
// HelloRetryRequest after a retry (RFC 8446 section 4.2.11.2; see
// Transcript::hash_with). Same failures as compute_verify_data().
KdfStatus compute_psk_binder(HashAlg hash, std::span<const uint8_t> binder_key,
                             std::span<const uint8_t> truncated_hash,
                             Secret* out);
// Checks a received binder in constant time; as verify_finished().
KdfStatus verify_psk_binder(HashAlg hash, std::span<const uint8_t> binder_key,
                            std::span<const uint8_t> truncated_hash,
                            std::span<const uint8_t> received);

// The PSK of a ticket: HKDF-Expand-Label(resumption_master_secret,
// "resumption", ticket_nonce, Hash.length) (RFC 8446 section 4.6.1). The
// nonce is opaque<0..255> (kBadLength above). `out` is empty on failure.
KdfStatus derive_resumption_psk(HashAlg hash,
                                std::span<const uint8_t> resumption_master,
                                std::span<const uint8_t> ticket_nonce,
                                Secret* out);

// TLS-Exporter(label, context_value, key_length) =
//     HKDF-Expand-Label(Derive-Secret(Secret, label, ""), "exporter",
//                       Hash(context_value), key_length)
// with Secret the (early_)exporter_master_secret (RFC 8446 section 7.5);
// key_length = out.size(), at most 255 * Hash.length. An absent context is
// the same as an empty one in TLS 1.3. Fails with kBadLabel, kBadLength,
// kBadAlg, kLibcrypto; `out` is zeroed on failure.
KdfStatus export_keying_material(HashAlg hash,
                                 std::span<const uint8_t> exporter_master,
                                 std::string_view label,
                                 std::span<const uint8_t> context,
                                 std::span<uint8_t> out);

// One direction of one epoch as the record layer uses it: the traffic
// secret (kept for KeyUpdate) and the key and IV derived from it. Fixed
// size, no heap in dptls code; wiped on destruction, wipe(), and when
// update() supersedes it. Copies are independent (the handshake thread
// builds one, the worker receives a copy).
class TrafficSecret {
 public:
  // Takes `secret` (Hash.length bytes) and derives its key and IV. Fails as
  // derive_traffic_keys(); not ready() on failure.
  KdfStatus init(HashAlg hash, crypto::AeadAlg aead,
                 std::span<const uint8_t> secret);
  KdfStatus init(const CipherSuiteInfo& suite,
                 std::span<const uint8_t> secret) {
    return init(suite.hash, suite.aead, secret);
  }

  // KeyUpdate (RFC 8446 section 7.2): replaces the secret with the next one
  // and re-derives key and IV; the old ones are wiped. kBadState when not
  // ready(). On any failure the object is wiped (not ready()): a direction
  // whose keys could not be updated must not keep using the old ones.
  KdfStatus update();

  void wipe() noexcept;
  bool ready() const { return !secret_.empty(); }
  HashAlg hash() const { return hash_; }
  crypto::AeadAlg aead() const { return keys_.aead; }
  const Secret& secret() const { return secret_; }
  const TrafficKeys& keys() const { return keys_; }
  // How many update() calls succeeded since init().
  uint64_t generation() const { return generation_; }

 private:
  Secret secret_;
  TrafficKeys keys_;
  HashAlg hash_ = HashAlg::kSha256;
  uint64_t generation_ = 0;
};

}  // namespace dptls::tls
