#include "dptls/tls/key_schedule.h"

#include <openssl/crypto.h>

#include <array>
#include <iterator>
#include <utility>

namespace dptls::tls {

using crypto::secure_wipe;

namespace {

struct SecretLabelInfo {
  std::string_view label;
  KeyStage stage;
  bool from_transcript;
};

constexpr SecretLabelInfo kSecretLabels[] = {
#define DPTLS_X(e, label, stage, transcript) \
  {label, KeyStage::stage, transcript},
    DPTLS_TLS13_SECRETS(DPTLS_X)
#undef DPTLS_X
};

constexpr std::string_view kStageNames[] = {
#define DPTLS_X(e, name) name,
    DPTLS_KEY_STAGES(DPTLS_X)
#undef DPTLS_X
};

const SecretLabelInfo* label_info(SecretLabel label) {
  const auto i = static_cast<size_t>(label);
  return i < std::size(kSecretLabels) ? &kSecretLabels[i] : nullptr;
}

constexpr uint8_t kZeros[kMaxHashLen] = {};

// The values of the schedule that depend on the hash alone, computed once
// per process: Hash("") (the context of every Derive-Secret over no
// messages), and, for a handshake without a PSK, the Early Secret
// HKDF-Extract(0, 0) and the salt Derive-Secret(Early Secret, "derived", "")
// of the Handshake Secret. All three are public constants (RFC 8448 section
// 3 prints them), so keeping them keeps no secret, and a full handshake
// skips two HMACs and two hashes.
// The salt is kept keyed for HMAC as well (its padded blocks hashed once:
// the Handshake Secret's Extract is then two compressions less).
struct HashConstants {
  HashValue empty_hash;
  Secret no_psk_early;
  Secret no_psk_derived;
  internal::HmacKey no_psk_derived_keyed;
  bool ok = false;
};

HashConstants compute_constants(HashAlg alg) {
  HashConstants c{};
  const size_t len = hash_len(alg);
  c.ok =
      len != 0 && hash_bytes(alg, {}, &c.empty_hash) == KdfStatus::kOk &&
      hkdf_extract(alg, {}, std::span<const uint8_t>(kZeros, len),
                   &c.no_psk_early) == KdfStatus::kOk &&
      derive_secret(alg, c.no_psk_early.span(), "derived", c.empty_hash.span(),
                    &c.no_psk_derived) == KdfStatus::kOk &&
      c.no_psk_derived_keyed.init(alg, c.no_psk_derived.span());
  return c;
}

// The constants of `alg`, or nullptr (a value outside the enum, or libcrypto
// failed the first time: the callers then compute what they need).
const HashConstants* constants(HashAlg alg) {
  // Function-local statics: initialised once, thread-safely, on first use.
  static const std::array<HashConstants, std::size(kAllHashAlgs)> table = [] {
    std::array<HashConstants, std::size(kAllHashAlgs)> t{};
    size_t i = 0;
    for (const HashAlg each : kAllHashAlgs) {
      t[i++] = compute_constants(each);
    }
    return t;
  }();
  const auto i = static_cast<size_t>(alg);
  return i < table.size() && table[i].ok ? &table[i] : nullptr;
}

// Hash("") of `alg` into *out.
KdfStatus empty_hash(HashAlg alg, HashValue* out) {
  if (const HashConstants* c = constants(alg)) {
    *out = c->empty_hash;
    return KdfStatus::kOk;
  }
  return hash_bytes(alg, {}, out);
}

// HKDF-Expand-Label(secret, label, context, Hash.length) into `out`, with
// `secret` required to be Hash.length bytes. Computed into a local first so
// `secret` may point into `out`.
KdfStatus expand_label_to_secret(HashAlg hash, std::span<const uint8_t> secret,
                                 std::string_view label,
                                 std::span<const uint8_t> context,
                                 Secret* out) {
  const size_t len = hash_len(hash);
  if (len == 0) {
    out->wipe();
    return KdfStatus::kBadAlg;
  }
  if (secret.size() != len) {
    out->wipe();
    return KdfStatus::kBadLength;
  }
  Secret result;
  const KdfStatus status = hkdf_expand_label(hash, secret, label, context,
                                             result.resize_for_overwrite(len));
  if (status != KdfStatus::kOk) {
    out->wipe();
    return status;
  }
  *out = std::move(result);
  return KdfStatus::kOk;
}

// HKDF-Expand-Label(keyed secret, label, context, Hash.length) into `out`.
// Computed into a local first, as above.
KdfStatus expand_label_to_secret(const internal::HmacKey& keyed,
                                 std::string_view label,
                                 std::span<const uint8_t> context,
                                 Secret* out) {
  Secret result;
  const KdfStatus status = internal::hkdf_expand_label(
      keyed, label, context,
      result.resize_for_overwrite(hash_len(keyed.alg())));
  if (status != KdfStatus::kOk) {
    out->wipe();
    return status;
  }
  *out = std::move(result);
  return KdfStatus::kOk;
}

// Constant-time comparison of a computed MAC with a received one.
KdfStatus check_mac(const Secret& expected, std::span<const uint8_t> received) {
  if (received.size() != expected.size()) {
    return KdfStatus::kMismatch;
  }
  return CRYPTO_memcmp(expected.span().data(), received.data(),
                       received.size()) == 0
             ? KdfStatus::kOk
             : KdfStatus::kMismatch;
}

}  // namespace

std::string_view key_stage_name(KeyStage stage) {
  const auto i = static_cast<size_t>(stage);
  return i < std::size(kStageNames) ? kStageNames[i] : "unknown";
}

std::string_view secret_label_name(SecretLabel label) {
  const SecretLabelInfo* info = label_info(label);
  return info != nullptr ? info->label : "unknown";
}

KeyStage secret_label_stage(SecretLabel label) {
  const SecretLabelInfo* info = label_info(label);
  return info != nullptr ? info->stage : KeyStage::kNone;
}

// KeySchedule -------------------------------------------------------------

KeySchedule::KeySchedule(KeySchedule&& other) noexcept
    : secret_(std::move(other.secret_)),
      keyed_(std::move(other.keyed_)),
      alg_(other.alg_),
      stage_(std::exchange(other.stage_, KeyStage::kNone)),
      no_psk_(std::exchange(other.no_psk_, false)) {}

KeySchedule& KeySchedule::operator=(KeySchedule&& other) noexcept {
  if (this != &other) {
    secret_ = std::move(other.secret_);
    keyed_ = std::move(other.keyed_);
    alg_ = other.alg_;
    stage_ = std::exchange(other.stage_, KeyStage::kNone);
    no_psk_ = std::exchange(other.no_psk_, false);
  }
  return *this;
}

void KeySchedule::reset() {
  secret_.wipe();
  keyed_.wipe();
  stage_ = KeyStage::kNone;
  no_psk_ = false;
}

KdfStatus KeySchedule::start(HashAlg alg, std::span<const uint8_t> psk) {
  reset();
  const size_t len = hash_len(alg);
  if (len == 0) {
    return KdfStatus::kBadAlg;
  }
  // RFC 8446 section 7.1: "If a given secret is not available, then the
  // 0-value consisting of a string of Hash.length bytes set to zeros is
  // used." The salt of the first Extract is that 0 as well.
  const HashConstants* c = psk.empty() ? constants(alg) : nullptr;
  if (psk.empty()) {
    psk = std::span<const uint8_t>(kZeros, len);
  }
  KdfStatus status = KdfStatus::kOk;
  if (c != nullptr) {
    secret_ = c->no_psk_early;
  } else {
    status = hkdf_extract(alg, {}, psk, &secret_);
    if (status == KdfStatus::kOk && !keyed_.init(alg, secret_.span())) {
      status = KdfStatus::kLibcrypto;
    }
  }
  if (status != KdfStatus::kOk) {
    reset();
    return status;
  }
  alg_ = alg;
  stage_ = KeyStage::kEarly;
  no_psk_ = c != nullptr;
  return KdfStatus::kOk;
}

KdfStatus KeySchedule::derive(SecretLabel label,
                              std::span<const uint8_t> transcript_hash,
                              Secret* out) const {
  out->wipe();
  const SecretLabelInfo* info = label_info(label);
  if (info == nullptr) {
    return KdfStatus::kBadLabel;
  }
  if (stage_ == KeyStage::kNone || info->stage != stage_) {
    return KdfStatus::kBadState;
  }
  HashValue empty;
  if (info->from_transcript) {
    if (transcript_hash.size() != hash_len(alg_)) {
      return KdfStatus::kBadLength;
    }
  } else {
    // Derive-Secret(., "ext binder" | "res binder", ""): Messages is empty.
    if (!transcript_hash.empty()) {
      return KdfStatus::kBadLength;
    }
    const KdfStatus status = empty_hash(alg_, &empty);
    if (status != KdfStatus::kOk) {
      return status;
    }
    transcript_hash = empty.span();
  }
  if (!keyed_.ready()) {
    return derive_secret(alg_, secret_.span(), info->label, transcript_hash,
                         out);
  }
  return expand_label_to_secret(keyed_, info->label, transcript_hash, out);
}

KdfStatus KeySchedule::advance_to_handshake(
    std::span<const uint8_t> shared_secret) {
  if (stage_ != KeyStage::kEarly) {
    return KdfStatus::kBadState;
  }
  return advance(shared_secret, KeyStage::kHandshake);
}

KdfStatus KeySchedule::advance_to_master() {
  if (stage_ != KeyStage::kHandshake) {
    return KdfStatus::kBadState;
  }
  return advance({}, KeyStage::kMaster);
}

KdfStatus KeySchedule::advance(std::span<const uint8_t> ikm, KeyStage next) {
  // next secret = HKDF-Extract(Derive-Secret(current, "derived", ""), IKM)
  const size_t len = hash_len(alg_);
  if (ikm.empty()) {
    ikm = std::span<const uint8_t>(kZeros, len);
  }
  Secret salt;
  KdfStatus status = KdfStatus::kOk;
  const HashConstants* c =
      stage_ == KeyStage::kEarly && no_psk_ ? constants(alg_) : nullptr;
  if (c != nullptr) {
    // HKDF-Extract(salt, IKM) = HMAC(salt, IKM), the salt keyed already.
    std::span<uint8_t> dst = secret_.resize_for_overwrite(len);
    status = c->no_psk_derived_keyed.mac({ikm}, dst.data())
                 ? KdfStatus::kOk
                 : KdfStatus::kLibcrypto;
  } else {
    HashValue empty;
    status = empty_hash(alg_, &empty);
    if (status == KdfStatus::kOk && keyed_.ready()) {
      status = expand_label_to_secret(keyed_, "derived", empty.span(), &salt);
    } else if (status == KdfStatus::kOk) {
      status =
          derive_secret(alg_, secret_.span(), "derived", empty.span(), &salt);
    }
  }
  if (status == KdfStatus::kOk && c == nullptr) {
    // Overwrites (after wiping) the superseded stage secret.
    status = hkdf_extract(alg_, salt.span(), ikm, &secret_);
  }
  if (status == KdfStatus::kOk && !keyed_.init(alg_, secret_.span())) {
    status = KdfStatus::kLibcrypto;
  }
  if (status != KdfStatus::kOk) {
    reset();
    return status;
  }
  stage_ = next;
  no_psk_ = false;
  return KdfStatus::kOk;
}

// Traffic keys ------------------------------------------------------------

void TrafficKeys::wipe() noexcept {
  secure_wipe(key.data(), key.size());
  secure_wipe(iv.data(), iv.size());
  key_len = 0;
}

KdfStatus derive_traffic_keys(HashAlg hash, crypto::AeadAlg aead,
                              std::span<const uint8_t> secret,
                              TrafficKeys* out) {
  out->wipe();
  const size_t len = hash_len(hash);
  const size_t key_len = crypto::aead_key_len(aead);
  if (len == 0 || key_len == 0 || key_len > out->key.size()) {
    return KdfStatus::kBadAlg;
  }
  if (secret.size() != len) {
    return KdfStatus::kBadLength;
  }
  // One keyed secret for both labels; its destructor cleanses it.
  internal::HmacKey keyed;
  if (!keyed.init(hash, secret)) {
    return KdfStatus::kLibcrypto;
  }
  KdfStatus status = internal::hkdf_expand_label(
      keyed, "key", {}, std::span(out->key.data(), key_len));
  if (status == KdfStatus::kOk) {
    status = internal::hkdf_expand_label(keyed, "iv", {}, out->iv);
  }
  if (status != KdfStatus::kOk) {
    out->wipe();
    return status;
  }
  out->aead = aead;
  out->key_len = static_cast<uint8_t>(key_len);
  return KdfStatus::kOk;
}

KdfStatus derive_next_traffic_secret(HashAlg hash,
                                     std::span<const uint8_t> secret,
                                     Secret* out) {
  return expand_label_to_secret(hash, secret, "traffic upd", {}, out);
}

KdfStatus derive_finished_key(HashAlg hash, std::span<const uint8_t> base_key,
                              Secret* out) {
  return expand_label_to_secret(hash, base_key, "finished", {}, out);
}

KdfStatus compute_verify_data(HashAlg hash, std::span<const uint8_t> base_key,
                              std::span<const uint8_t> transcript_hash,
                              Secret* out) {
  Secret finished_key;
  KdfStatus status = derive_finished_key(hash, base_key, &finished_key);
  if (status != KdfStatus::kOk) {
    out->wipe();
    return status;
  }
  if (transcript_hash.size() != hash_len(hash)) {
    out->wipe();
    return KdfStatus::kBadLength;
  }
  return hmac(hash, finished_key.span(), transcript_hash, out);
}

KdfStatus verify_finished(HashAlg hash, std::span<const uint8_t> base_key,
                          std::span<const uint8_t> transcript_hash,
                          std::span<const uint8_t> received) {
  Secret expected;
  const KdfStatus status =
      compute_verify_data(hash, base_key, transcript_hash, &expected);
  if (status != KdfStatus::kOk) {
    return status;
  }
  return check_mac(expected, received);
}

KdfStatus compute_psk_binder(HashAlg hash, std::span<const uint8_t> binder_key,
                             std::span<const uint8_t> truncated_hash,
                             Secret* out) {
  return compute_verify_data(hash, binder_key, truncated_hash, out);
}

KdfStatus verify_psk_binder(HashAlg hash, std::span<const uint8_t> binder_key,
                            std::span<const uint8_t> truncated_hash,
                            std::span<const uint8_t> received) {
  return verify_finished(hash, binder_key, truncated_hash, received);
}

KdfStatus derive_resumption_psk(HashAlg hash,
                                std::span<const uint8_t> resumption_master,
                                std::span<const uint8_t> ticket_nonce,
                                Secret* out) {
  // ticket_nonce<0..255> (RFC 8446 section 4.6.1); the Expand-Label context
  // limit is the same, checked here for a clear failure.
  if (ticket_nonce.size() > kMaxContextLen) {
    out->wipe();
    return KdfStatus::kBadLength;
  }
  return expand_label_to_secret(hash, resumption_master, "resumption",
                                ticket_nonce, out);
}

KdfStatus export_keying_material(HashAlg hash,
                                 std::span<const uint8_t> exporter_master,
                                 std::string_view label,
                                 std::span<const uint8_t> context,
                                 std::span<uint8_t> out) {
  auto fail = [&out](KdfStatus status) {
    secure_wipe(out.data(), out.size());
    return status;
  };
  HashValue empty;
  KdfStatus status = empty_hash(hash, &empty);
  if (status != KdfStatus::kOk) {
    return fail(status);
  }
  Secret exporter_secret;
  status = derive_secret(hash, exporter_master, label, empty.span(),
                         &exporter_secret);
  if (status != KdfStatus::kOk) {
    return fail(status);
  }
  HashValue context_hash;
  status = hash_bytes(hash, context, &context_hash);
  if (status != KdfStatus::kOk) {
    return fail(status);
  }
  return hkdf_expand_label(hash, exporter_secret.span(), "exporter",
                           context_hash.span(), out);
}

// TrafficSecret -----------------------------------------------------------

KdfStatus TrafficSecret::init(HashAlg hash, crypto::AeadAlg aead,
                              std::span<const uint8_t> secret) {
  // Copied first: `secret` may be this object's own secret().span().
  Secret copy;
  if (!copy.assign(secret)) {
    wipe();
    return KdfStatus::kBadLength;
  }
  wipe();
  const KdfStatus status = derive_traffic_keys(hash, aead, copy.span(), &keys_);
  if (status != KdfStatus::kOk) {
    wipe();
    return status;
  }
  secret_ = std::move(copy);
  hash_ = hash;
  return KdfStatus::kOk;
}

KdfStatus TrafficSecret::update() {
  if (!ready()) {
    return KdfStatus::kBadState;
  }
  Secret next;
  TrafficKeys next_keys;
  KdfStatus status = derive_next_traffic_secret(hash_, secret_.span(), &next);
  if (status == KdfStatus::kOk) {
    status = derive_traffic_keys(hash_, keys_.aead, next.span(), &next_keys);
  }
  if (status != KdfStatus::kOk) {
    wipe();
    return status;
  }
  secret_ = std::move(next);  // wipes the old secret first
  keys_.wipe();
  keys_ = next_keys;
  ++generation_;
  return KdfStatus::kOk;
}

void TrafficSecret::wipe() noexcept {
  secret_.wipe();
  keys_.wipe();
  generation_ = 0;
}

}  // namespace dptls::tls
