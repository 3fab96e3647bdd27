// Intel IPsec-MB backend.
//
// Uses the library's direct GCM and ChaCha20-Poly1305 API rather than the
// job or burst API: a record whose payload is one contiguous buffer goes
// through the single-call function, and a record spread over TCP segments goes
// through init / update per segment / finalize. The project's design notes
// (docs/architecture.md) measured the multi-call path keeping about 92 % of
// the contiguous speed for a 16 KB record in 1448-byte segments, where the
// job API's GCM_SGL mode keeps about 83 %, and the single call beating the
// job API's plain GCM by about 13 % at 16 KB. GCM has no multi-buffer kernel
// in the job manager, so the job API would add queueing and nothing else.
#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include <cstring>
#include <new>

#include "crypto/backends.h"
#include "dptls/crypto/aead.h"

namespace dptls::crypto {

namespace {

static_assert(sizeof(gcm_key_data) <= AeadKey::kStorageSize);
static_assert(alignof(gcm_key_data) <= alignof(AeadKey));
static_assert(IMB_GCM_IV_DATA_LEN == kAeadNonceLen);

// The direct-API entry points for one AES key size, taken from the manager
// once so the per-op path is a table lookup.
struct GcmFns {
  aes_gcm_pre_t pre;
  aes_gcm_enc_dec_t enc;
  aes_gcm_enc_dec_t dec;
  aes_gcm_init_t init;
  aes_gcm_enc_dec_update_t enc_update;
  aes_gcm_enc_dec_update_t dec_update;
  aes_gcm_enc_dec_finalize_t enc_finalize;
  aes_gcm_enc_dec_finalize_t dec_finalize;
};

// The library's parameter checks reject null pointers even for zero lengths;
// empty messages and AAD point here instead.
alignas(16) uint8_t g_empty[16];

// Returns the only non-empty segment, or nullptr when there are several.
// With no non-empty segment at all, returns a zero-length one.
const IoSegment* single_segment(std::span<const IoSegment> segs,
                                IoSegment* empty) {
  const IoSegment* found = nullptr;
  for (const IoSegment& seg : segs) {
    if (seg.len == 0) {
      continue;
    }
    if (found != nullptr) {
      return nullptr;
    }
    found = &seg;
  }
  if (found == nullptr) {
    *empty = IoSegment{g_empty, 0};
    return empty;
  }
  return found;
}

std::string features_string(uint64_t f) {
  std::string s;
  auto add = [&](uint64_t bit, const char* name) {
    if ((f & bit) != 0) {
      s += s.empty() ? "" : ", ";
      s += name;
    }
  };
  add(IMB_FEATURE_AESNI, "aesni");
  add(IMB_FEATURE_VAES, "vaes");
  add(IMB_FEATURE_VPCLMULQDQ, "vpclmulqdq");
  add(IMB_FEATURE_GFNI, "gfni");
  return s;
}

const char* arch_name(IMB_ARCH arch) {
  switch (arch) {
    case IMB_ARCH_NOAESNI:
      return "no-aesni";
    case IMB_ARCH_SSE:
      return "sse";
    case IMB_ARCH_AVX:
      return "avx";
    case IMB_ARCH_AVX2:
      return "avx2";
    case IMB_ARCH_AVX512:
      return "avx512";
    default:
      return "none";
  }
}

class IpsecMbBackend final : public BatchBackend<IpsecMbBackend> {
 public:
  IpsecMbBackend(IMB_MGR* mgr, IMB_ARCH arch)
      : BatchBackend(BackendKind::kIpsecMb), mgr_(mgr), arch_(arch) {
    gcm_[0] = {mgr->gcm128_pre,          mgr->gcm128_enc,
               mgr->gcm128_dec,          mgr->gcm128_init,
               mgr->gcm128_enc_update,   mgr->gcm128_dec_update,
               mgr->gcm128_enc_finalize, mgr->gcm128_dec_finalize};
    gcm_[1] = {mgr->gcm256_pre,          mgr->gcm256_enc,
               mgr->gcm256_dec,          mgr->gcm256_init,
               mgr->gcm256_enc_update,   mgr->gcm256_dec_update,
               mgr->gcm256_enc_finalize, mgr->gcm256_dec_finalize};
  }

  ~IpsecMbBackend() override { free_mb_mgr(mgr_); }

  // Names the path in use, then what the CPU offers: the forced sse/avx/avx2
  // paths do not use VAES even where the CPU has it.
  std::string describe() const override {
    std::string s = std::string("IPsec-MB ") + imb_get_version_str() +
                    ", path " + arch_name(arch_);
    std::string f = features_string(mgr_->features);
    if (!f.empty()) {
      s += "; CPU has " + f;
    }
    return s;
  }

  bool supports(AeadAlg alg) const override {
    // ChaCha20-Poly1305's direct API exists on every path of IPsec-MB 1.3;
    // AES-GCM needs AES-NI (the no-aesni path is never chosen here).
    (void)alg;
    return true;
  }

 protected:
  AeadStatus expand_key(void* storage, AeadAlg alg,
                        std::span<const uint8_t> secret) noexcept override {
    switch (alg) {
      case AeadAlg::kAes128Gcm:
      case AeadAlg::kAes256Gcm: {
        auto* kd = new (storage) gcm_key_data;
        gcm_fns(alg).pre(secret.data(), kd);
        break;
      }
      case AeadAlg::kChaCha20Poly1305:
        std::memcpy(storage, secret.data(), secret.size());
        break;
    }
    return AeadStatus::kOk;
  }

  void wipe_key(void* storage, AeadAlg alg) noexcept override {
    secure_wipe(storage, alg == AeadAlg::kChaCha20Poly1305
                             ? aead_key_len(alg)
                             : sizeof(gcm_key_data));
  }

 public:
  // Called by BatchBackend::run() for each op that passed check_op().
  AeadStatus process(const void* storage, AeadAlg alg, AeadOp& op) noexcept {
    const bool seal = op.dir == AeadDir::kSeal;
    uint8_t computed[kAeadTagLen];
    uint8_t* tag_out = seal ? op.tag : computed;
    bool done = true;
    if (alg == AeadAlg::kChaCha20Poly1305) {
      done = chacha(storage, op, tag_out);
    } else {
      gcm(gcm_fns(alg), static_cast<const gcm_key_data*>(storage), op, tag_out);
    }
    if (!done) {
      // Only a refused job gets here, which cannot happen for an op that
      // passed check_op(); release nothing the library may have touched.
      for (const IoSegment& seg : op.segs) {
        secure_wipe(seg.data, seg.len);
      }
      return seal ? AeadStatus::kBadArgument : AeadStatus::kAuthFailed;
    }
    // Constant-time compare of the computed tag with the received one.
    if (!seal && CRYPTO_memcmp(computed, op.tag, kAeadTagLen) != 0) {
      return reject_open(storage, alg, op);
    }
    return AeadStatus::kOk;
  }

 private:
  const GcmFns& gcm_fns(AeadAlg alg) const {
    return gcm_[alg == AeadAlg::kAes128Gcm ? 0 : 1];
  }

  static const uint8_t* aad_ptr(const AeadOp& op) {
    return op.aad.empty() ? g_empty : op.aad.data();
  }

  // Seals or opens `op` in place and writes the computed tag to `tag_out`.
  static void gcm(const GcmFns& f, const gcm_key_data* kd, const AeadOp& op,
                  uint8_t* tag_out) {
    gcm_context_data ctx;
    const bool seal = op.dir == AeadDir::kSeal;
    IoSegment empty;
    if (const IoSegment* one = single_segment(op.segs, &empty)) {
      (seal ? f.enc : f.dec)(kd, &ctx, one->data, one->data, one->len,
                             op.nonce.data(), aad_ptr(op), op.aad.size(),
                             tag_out, kAeadTagLen);
    } else {
      f.init(kd, &ctx, op.nonce.data(), aad_ptr(op), op.aad.size());
      auto update = seal ? f.enc_update : f.dec_update;
      for (const IoSegment& seg : op.segs) {
        if (seg.len != 0) {
          update(kd, &ctx, seg.data, seg.data, seg.len);
        }
      }
      (seal ? f.enc_finalize : f.dec_finalize)(kd, &ctx, tag_out, kAeadTagLen);
    }
  }

  // Seals or opens `op` in place and writes the computed tag to `tag_out`.
  // False if the library refused the job.
  bool chacha(const void* key, const AeadOp& op, uint8_t* tag_out) {
    IoSegment empty;
    if (const IoSegment* one = single_segment(op.segs, &empty)) {
      return chacha_job(key, *one, op, tag_out);
    }
    chacha20_poly1305_context_data ctx;
    const bool seal = op.dir == AeadDir::kSeal;
    mgr_->chacha20_poly1305_init(key, &ctx, op.nonce.data(), aad_ptr(op),
                                 op.aad.size());
    auto update = seal ? mgr_->chacha20_poly1305_enc_update
                       : mgr_->chacha20_poly1305_dec_update;
    for (const IoSegment& seg : op.segs) {
      if (seg.len != 0) {
        update(key, &ctx, seg.data, seg.data, seg.len);
      }
    }
    mgr_->chacha20_poly1305_finalize(&ctx, tag_out, kAeadTagLen);
    // The context holds the one-time Poly1305 key. The keystream and GHASH
    // state left in the contexts reveal nothing the caller does not hold
    // (keystream = plaintext xor ciphertext), so they are not wiped per op.
    secure_wipe(ctx.poly_key, sizeof(ctx.poly_key));
    return true;
  }

  // A contiguous ChaCha20-Poly1305 record goes through the job API, whose
  // AVX-512 kernel was about 1.35-1.5x faster than the direct API's at
  // 256-1420 bytes here (docs/benchmarks.md). The job completes inside submit
  // (there is no multi-buffer lane for this AEAD), so the op finishes here.
  bool chacha_job(const void* key, const IoSegment& seg, const AeadOp& op,
                  uint8_t* tag_out) {
    const bool seal = op.dir == AeadDir::kSeal;
    IMB_JOB* job = IMB_GET_NEXT_JOB(mgr_);
    job->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
    job->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
    job->cipher_direction = seal ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
    job->chain_order = seal ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    job->enc_keys = key;
    job->dec_keys = key;
    job->key_len_in_bytes = 32;
    job->src = seg.data;
    job->dst = seg.data;
    job->cipher_start_src_offset_in_bytes = 0;
    job->msg_len_to_cipher_in_bytes = seg.len;
    job->hash_start_src_offset_in_bytes = 0;
    job->msg_len_to_hash_in_bytes = seg.len;
    job->iv = op.nonce.data();
    job->iv_len_in_bytes = kAeadNonceLen;
    job->u.CHACHA20_POLY1305.aad = aad_ptr(op);
    job->u.CHACHA20_POLY1305.aad_len_in_bytes = op.aad.size();
    job->auth_tag_output = tag_out;
    job->auth_tag_output_len_in_bytes = kAeadTagLen;
    job = IMB_SUBMIT_JOB(mgr_);
    if (job == nullptr) {
      job = IMB_FLUSH_JOB(mgr_);
    }
    return job != nullptr && job->status == IMB_STATUS_COMPLETED;
  }

  IMB_MGR* mgr_;
  IMB_ARCH arch_;
  GcmFns gcm_[2];
};

// Initialises `mgr` for `path`, refusing a path the CPU cannot run (calling
// into it would raise SIGILL).
bool init_path(IMB_MGR* mgr, CpuPath path, IMB_ARCH* arch, std::string* error) {
  const uint64_t have = mgr->features;
  auto need = [&](uint64_t flags, void (*init)(IMB_MGR*), IMB_ARCH a) {
    if ((have & flags) != flags) {
      *error = std::string("IPsec-MB path '") +
               std::string(cpu_path_name(path)) +
               "' needs CPU features this machine lacks";
      return false;
    }
    init(mgr);
    *arch = a;
    return true;
  };
  switch (path) {
    case CpuPath::kAuto:
      init_mb_mgr_auto(mgr, arch);
      if (*arch == IMB_ARCH_NOAESNI || *arch == IMB_ARCH_NONE) {
        *error = "IPsec-MB: this CPU has no AES-NI; use the openssl backend";
        return false;
      }
      return true;
    case CpuPath::kSse:
      return need(IMB_CPUFLAGS_SSE, init_mb_mgr_sse, IMB_ARCH_SSE);
    case CpuPath::kAvx:
      return need(IMB_CPUFLAGS_AVX, init_mb_mgr_avx, IMB_ARCH_AVX);
    case CpuPath::kAvx2:
      return need(IMB_CPUFLAGS_AVX2, init_mb_mgr_avx2, IMB_ARCH_AVX2);
    case CpuPath::kAvx512:
      return need(IMB_CPUFLAGS_AVX512, init_mb_mgr_avx512, IMB_ARCH_AVX512);
  }
  *error = "unknown CPU path";
  return false;
}

}  // namespace

std::unique_ptr<AeadBackend> make_ipsec_mb_backend(
    const BackendOptions& options, std::string* error) {
  std::string local_error;
  std::string* err = error != nullptr ? error : &local_error;
  IMB_MGR* mgr = alloc_mb_mgr(0);
  if (mgr == nullptr) {
    *err = "IPsec-MB: alloc_mb_mgr failed";
    return nullptr;
  }
  IMB_ARCH arch = IMB_ARCH_NONE;
  if (!init_path(mgr, options.cpu_path, &arch, err)) {
    free_mb_mgr(mgr);
    return nullptr;
  }
  if (int e = imb_get_errno(mgr); e != 0) {
    *err = std::string("IPsec-MB: ") + imb_get_strerror(e);
    free_mb_mgr(mgr);
    return nullptr;
  }
  return std::make_unique<IpsecMbBackend>(mgr, arch);
}

}  // namespace dptls::crypto
