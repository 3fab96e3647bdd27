// dptls AEAD layer: batched, scatter-gather, in-place AES-GCM and
// ChaCha20-Poly1305 with interchangeable backends (Intel IPsec-MB, OpenSSL
// EVP).
//
// The record engine calls AeadBackend::run() once per burst with every record
// of the burst, from many connections, each spread over the TCP segments it
// arrived in. Nothing here allocates, throws, locks or makes a syscall after a
// key has been initialised.
//
// Threading: an AeadBackend and the keys it initialised belong to one thread.
// Key material crosses threads as raw bytes; each worker expands it with its
// own backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace dptls::crypto {

// X(enumerator, printable name, key length in bytes)
#define DPTLS_AEAD_ALGS(X)         \
  X(kAes128Gcm, "aes-128-gcm", 16) \
  X(kAes256Gcm, "aes-256-gcm", 32) \
  X(kChaCha20Poly1305, "chacha20-poly1305", 32)

enum class AeadAlg : uint8_t {
#define DPTLS_X(e, name, keylen) e,
  DPTLS_AEAD_ALGS(DPTLS_X)
#undef DPTLS_X
};

inline constexpr AeadAlg kAllAeadAlgs[] = {
#define DPTLS_X(e, name, keylen) AeadAlg::e,
    DPTLS_AEAD_ALGS(DPTLS_X)
#undef DPTLS_X
};

// Every algorithm here takes a 96-bit nonce (RFC 5116 section 3.2, which TLS
// 1.2 and 1.3 both use) and produces a 128-bit tag.
inline constexpr size_t kAeadNonceLen = 12;
inline constexpr size_t kAeadTagLen = 16;
inline constexpr size_t kAeadMaxKeyLen = 32;

// Returns the algorithm's key length in bytes.
size_t aead_key_len(AeadAlg alg);
// Returns the largest plaintext, in bytes, the algorithm may seal under one
// nonce: 2^36 - 32 for GCM (NIST SP 800-38D), 2^38 - 64 for ChaCha20-Poly1305
// (RFC 8439 section 2.8).
uint64_t aead_max_plaintext(AeadAlg alg);
// Returns the printable name, e.g. "aes-128-gcm".
std::string_view aead_alg_name(AeadAlg alg);
// Parses a printable name; returns nullopt for anything else.
std::optional<AeadAlg> parse_aead_alg(std::string_view name);

// X(enumerator, printable name)
#define DPTLS_AEAD_STATUSES(X)                                           \
  X(kOk, "ok")                                                           \
  X(kAuthFailed, "auth-failed")   /* open: tag mismatch, buffer wiped */ \
  X(kBadKey, "bad-key")           /* key empty, wrong size or foreign */ \
  X(kBadNonce, "bad-nonce")       /* nonce is not kAeadNonceLen bytes */ \
  X(kTooLong, "too-long")         /* beyond aead_max_plaintext() */      \
  X(kBadArgument, "bad-argument") /* null tag, null segment data, ... */ \
  X(kUnsupported, "unsupported")  /* backend cannot do this algorithm */ \
  X(kNotRun, "not-run")           /* initial value, never returned */

enum class AeadStatus : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_AEAD_STATUSES(DPTLS_X)
#undef DPTLS_X
};

// Returns the printable name, e.g. "auth-failed".
std::string_view aead_status_name(AeadStatus status);

enum class AeadDir : uint8_t { kSeal, kOpen };

// One contiguous piece of a message. Borrowed: the caller owns the memory,
// which must stay valid until run() returns. A segment may be empty.
struct IoSegment {
  uint8_t* data = nullptr;
  size_t len = 0;
};

class AeadBackend;

// An expanded key. Fixed size and cache-aligned so it can live inside a
// connection slot: creating one never allocates. It is filled by
// AeadBackend::init_key() and belongs to that backend (and so to its thread);
// the backend must outlive it. The destructor and release() wipe it.
// Not copyable or movable: backends may hold pointers into it.
class alignas(64) AeadKey {
 public:
  AeadKey() = default;
  ~AeadKey() { release(); }
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;

  // True once init_key() succeeded and until release().
  bool ready() const { return owner_ != nullptr; }
  AeadAlg alg() const { return alg_; }
  const AeadBackend* owner() const { return owner_; }

  // Wipes the key material and returns the key to the empty state. Safe to
  // call on an empty key.
  void release() noexcept;

  // Room for the largest backend state: IPsec-MB's gcm_key_data is 1008
  // bytes, 64-byte aligned.
  static constexpr size_t kStorageSize = 1024;

 private:
  friend class AeadBackend;
  alignas(64) unsigned char storage_[kStorageSize];
  AeadBackend* owner_ = nullptr;
  AeadAlg alg_ = AeadAlg::kAes128Gcm;
};

// One seal or open, in place. All pointers are borrowed for the duration of
// run(). Seal: the segments hold plaintext on entry and ciphertext on return,
// and `tag` receives kAeadTagLen bytes. Open: the segments hold ciphertext on
// entry and plaintext on return when status is kOk; `tag` holds the received
// tag. When an open fails authentication no unauthenticated plaintext is
// released: every segment is wiped to zeros, or, if the op asks for it, put
// back to the ciphertext it held. When an operation fails a parameter check,
// its segments are left untouched.
enum class AeadFailPolicy : uint8_t {
  kWipe,
  // For speculative opens: the record engine opens several records of one
  // connection in one batch although one of them may turn out to be a
  // KeyUpdate, after which the rest must be opened again under the new key.
  // Costs a second pass over the segments, and only on failure.
  kRestoreCiphertext,
};

struct AeadOp {
  const AeadKey* key = nullptr;
  AeadDir dir = AeadDir::kSeal;
  std::span<const uint8_t> nonce;
  std::span<const uint8_t> aad;
  std::span<const IoSegment> segs;
  uint8_t* tag = nullptr;
  // What a failed open leaves in the segments.
  AeadFailPolicy on_auth_failure = AeadFailPolicy::kWipe;
  // Out: the outcome of this operation.
  AeadStatus status = AeadStatus::kNotRun;
};

// X(enumerator, printable name)
#define DPTLS_AEAD_BACKENDS(X) \
  X(kIpsecMb, "ipsec-mb")      \
  X(kOpenSsl, "openssl")

enum class BackendKind : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_AEAD_BACKENDS(DPTLS_X)
#undef DPTLS_X
};

inline constexpr BackendKind kAllBackends[] = {
#define DPTLS_X(e, name) BackendKind::e,
    DPTLS_AEAD_BACKENDS(DPTLS_X)
#undef DPTLS_X
};

std::string_view backend_kind_name(BackendKind kind);
std::optional<BackendKind> parse_backend_kind(std::string_view name);

// The instruction-set path of the IPsec-MB backend. kAuto picks the best the
// CPU has at run time (AVX-512 with VAES/VPCLMULQDQ where present).
#define DPTLS_CPU_PATHS(X) \
  X(kAuto, "auto")         \
  X(kSse, "sse")           \
  X(kAvx, "avx")           \
  X(kAvx2, "avx2")         \
  X(kAvx512, "avx512")

enum class CpuPath : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_CPU_PATHS(DPTLS_X)
#undef DPTLS_X
};

std::string_view cpu_path_name(CpuPath path);
std::optional<CpuPath> parse_cpu_path(std::string_view name);

// A crypto backend. One instance per thread.
class AeadBackend {
 public:
  virtual ~AeadBackend() = default;

  BackendKind kind() const { return kind_; }
  std::string_view name() const { return backend_kind_name(kind_); }
  // Describes the code path in use, e.g. "avx512 (vaes, vpclmulqdq)" or
  // "OpenSSL 3.0.19"; for logs and benchmark reports.
  virtual std::string describe() const = 0;
  // False when this backend cannot run `alg` (init_key() then returns
  // kUnsupported).
  virtual bool supports(AeadAlg alg) const = 0;

  // Expands `secret` into `key` for `alg`; done once per key, never per
  // operation. Releases whatever `key` held before. Returns kOk, kBadKey (the
  // secret is not aead_key_len(alg) bytes) or kUnsupported; on failure `key`
  // is left empty. Does not keep `secret`; the caller wipes it.
  AeadStatus init_key(AeadKey& key, AeadAlg alg,
                      std::span<const uint8_t> secret) noexcept;

  // Runs every operation of `ops` in order, setting each op's status; a
  // failure of one never affects another. Returns how many ended kOk. This is
  // the one call per burst of the data path.
  virtual size_t run(std::span<AeadOp> ops) noexcept = 0;

  // Convenience for one operation; same rules as run().
  AeadStatus run_one(AeadOp& op) noexcept;

 protected:
  explicit AeadBackend(BackendKind kind) : kind_(kind) {}

  // Backend hooks. `storage` is AeadKey::kStorageSize bytes, 64-byte aligned.
  // expand_key() is called with a secret of the right length for a supported
  // algorithm; wipe_key() must leave nothing secret behind in storage.
  virtual AeadStatus expand_key(void* storage, AeadAlg alg,
                                std::span<const uint8_t> secret) noexcept = 0;
  virtual void wipe_key(void* storage, AeadAlg alg) noexcept = 0;

  static const void* storage_of(const AeadKey& key) { return key.storage_; }

 private:
  friend class AeadKey;
  BackendKind kind_;
};

struct BackendOptions {
  CpuPath cpu_path = CpuPath::kAuto;
};

// Creates a backend. On failure (e.g. an AVX-512 path requested on a CPU
// without it) returns nullptr and sets *error to the reason.
std::unique_ptr<AeadBackend> make_backend(BackendKind kind,
                                          const BackendOptions& options,
                                          std::string* error);

// Overwrites `len` bytes at `p` with zeros in a way the compiler cannot elide.
void secure_wipe(void* p, size_t len) noexcept;

}  // namespace dptls::crypto
