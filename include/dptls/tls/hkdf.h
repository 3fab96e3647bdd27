// Hashes, HMAC and HKDF for the TLS 1.3 key schedule (RFC 5869, RFC 8446
// section 7.1), on OpenSSL libcrypto.
//
// Everything here is sans-IO and stateless. Outputs go to fixed-size,
// caller-owned objects (Secret, HashValue) or caller-provided spans. Nothing
// allocates: the hashes run on a stack copy of libcrypto's SHA-256 /
// SHA-512 state (dptls/tls/digest.h), so a worker's KeyUpdate derives its
// next keys without touching the heap.
//
// Errors are a KdfStatus, never an exception. A failed call leaves every
// output wiped (zeros, length 0), never half-written.
//
// Thread safety: every function may be called from any thread at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "dptls/util/bytes.h"

namespace dptls::tls {

// X(enumerator, printable name, digest length in bytes)
#define DPTLS_HASH_ALGS(X) \
  X(kSha256, "sha256", 32) \
  X(kSha384, "sha384", 48)

enum class HashAlg : uint8_t {
#define DPTLS_X(e, name, len) e,
  DPTLS_HASH_ALGS(DPTLS_X)
#undef DPTLS_X
};

inline constexpr HashAlg kAllHashAlgs[] = {
#define DPTLS_X(e, name, len) HashAlg::e,
    DPTLS_HASH_ALGS(DPTLS_X)
#undef DPTLS_X
};

// The longest digest of any HashAlg: the size of every fixed secret buffer.
inline constexpr size_t kMaxHashLen = 48;

// Returns the digest length in bytes, or 0 for a value outside the enum.
size_t hash_len(HashAlg alg);
// Returns the printable name ("sha256"), or "unknown" outside the enum.
std::string_view hash_alg_name(HashAlg alg);
// Parses a printable name; nullopt for anything else.
std::optional<HashAlg> parse_hash_alg(std::string_view name);

// X(enumerator, printable name)
#define DPTLS_KDF_STATUSES(X)                                            \
  X(kOk, "ok")                                                           \
  X(kBadAlg, "bad-alg")       /* HashAlg/AeadAlg outside its enum (a */  \
                              /* secret of the other hash's length is */ \
                              /* kBadLength) */                          \
  X(kBadLength, "bad-length") /* a secret, hash, context or output */    \
                              /* length out of range */                  \
  X(kBadLabel, "bad-label")   /* label empty, or over kMaxLabelLen */    \
  X(kBadState, "bad-state")   /* call out of order (KeySchedule, */      \
                              /* Transcript) */                          \
  X(kMismatch, "mismatch")    /* verify: the MAC differs */              \
  X(kLibcrypto, "libcrypto")  /* an OpenSSL call failed */

enum class KdfStatus : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_KDF_STATUSES(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name, e.g. "bad-length".
std::string_view kdf_status_name(KdfStatus status);

// A secret of at most kMaxHashLen bytes (a PRK, a traffic secret, a MAC) in
// fixed storage: no heap. Wiped (secure_wipe) by the destructor, by wipe(),
// and before every overwrite. Copying copies the bytes, each copy wiping its
// own; moving wipes the source.
class Secret {
 public:
  Secret() = default;
  ~Secret() { wipe(); }
  Secret(const Secret& other);
  Secret& operator=(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;

  // Copies `bytes` in. Returns false and leaves the secret empty when it is
  // longer than kMaxHashLen.
  bool assign(std::span<const uint8_t> bytes);
  // Wipes the storage and sets the length to 0.
  void wipe() noexcept;

  // The secret's bytes; valid until the next change to this object.
  std::span<const uint8_t> span() const { return {bytes_.data(), len_}; }
  size_t size() const { return len_; }
  bool empty() const { return len_ == 0; }

  // For the functions that fill a secret: wipes, sets the length to `len`
  // (<= kMaxHashLen, else returns an empty span) and returns the storage to
  // write.
  std::span<uint8_t> resize_for_overwrite(size_t len);

 private:
  std::array<uint8_t, kMaxHashLen> bytes_{};
  uint8_t len_ = 0;
};

// A digest (transcript hash). Not secret: no wiping.
struct HashValue {
  std::array<uint8_t, kMaxHashLen> bytes{};
  size_t len = 0;

  std::span<const uint8_t> span() const { return {bytes.data(), len}; }
};

// HkdfLabel.label is opaque label<7..255> = "tls13 " + Label (RFC 8446
// section 7.1), so a Label is 1 to 249 bytes. Context is <0..255>.
inline constexpr std::string_view kTls13LabelPrefix = "tls13 ";
inline constexpr size_t kMaxLabelLen = 255 - kTls13LabelPrefix.size();
inline constexpr size_t kMaxContextLen = 255;
// The largest encoded HkdfLabel: uint16 + (1 + 255) + (1 + 255).
inline constexpr size_t kMaxHkdfLabelLen = 2 + 1 + 255 + 1 + 255;

// out = Hash(data). Fails with kBadAlg. `out` is empty on failure.
KdfStatus hash_bytes(HashAlg alg, std::span<const uint8_t> data,
                     HashValue* out);

// out = HMAC-Hash(key, data) (RFC 2104); any key length, including 0.
// Fails with kBadAlg or kLibcrypto; `out` is empty on failure.
KdfStatus hmac(HashAlg alg, std::span<const uint8_t> key,
               std::span<const uint8_t> data, Secret* out);

// HKDF-Extract(salt, IKM) = HMAC-Hash(salt, IKM) (RFC 5869 section 2.2).
// An empty salt means Hash.length zeros. Fails with kBadAlg or kLibcrypto;
// `out` (Hash.length bytes) is empty on failure.
KdfStatus hkdf_extract(HashAlg alg, std::span<const uint8_t> salt,
                       std::span<const uint8_t> ikm, Secret* out);

// HKDF-Expand(PRK, info, L) into `out`, L = out.size() (RFC 5869 section
// 2.3). Fails with kBadLength when the PRK is shorter than Hash.length or L
// is above 255 * Hash.length; kBadAlg; kLibcrypto. `out` is zeroed on
// failure. `prk`, `info` and `out` may not overlap.
KdfStatus hkdf_expand(HashAlg alg, std::span<const uint8_t> prk,
                      std::span<const uint8_t> info, std::span<uint8_t> out);

// Encodes the HkdfLabel for HKDF-Expand-Label (RFC 8446 section 7.1):
// uint16 length, opaque label<7..255> = "tls13 " + label, opaque
// context<0..255>. Fails with kBadLabel (empty or over kMaxLabelLen),
// kBadLength (context over kMaxContextLen, length over 65535) or kBadLength
// when `out` is too small (then out->ok() is false). Nothing is written on
// a parameter failure.
KdfStatus build_hkdf_label(size_t length, std::string_view label,
                           std::span<const uint8_t> context, ByteWriter* out);

// HKDF-Expand-Label(Secret, Label, Context, Length) into `out`, Length =
// out.size() (RFC 8446 section 7.1). Fails as build_hkdf_label() and
// hkdf_expand() do; `out` is zeroed on failure.
KdfStatus hkdf_expand_label(HashAlg alg, std::span<const uint8_t> secret,
                            std::string_view label,
                            std::span<const uint8_t> context,
                            std::span<uint8_t> out);

// Derive-Secret(Secret, Label, Messages) = HKDF-Expand-Label(Secret, Label,
// Transcript-Hash(Messages), Hash.length), given the transcript hash
// (RFC 8446 section 7.1). The secret and the hash must both be Hash.length
// bytes (kBadLength). `out` is empty on failure.
KdfStatus derive_secret(HashAlg alg, std::span<const uint8_t> secret,
                        std::string_view label,
                        std::span<const uint8_t> transcript_hash, Secret* out);

}  // namespace dptls::tls
