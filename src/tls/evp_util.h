// Private helpers shared by the tls/ key-derivation code: owning pointers
// for libcrypto objects and the digests fetched once per process.
#pragma once

#include <openssl/evp.h>

#include <memory>

#include "dptls/tls/hkdf.h"

namespace dptls::tls::internal {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

// The digest for `alg`, fetched from the default provider on first use and
// kept for the life of the process (an explicit fetch once, rather than the
// implicit fetch EVP_sha256() costs on every EVP_DigestInit_ex). nullptr for
// a value outside the enum or when the fetch failed.
const EVP_MD* evp_md(HashAlg alg);

// The OpenSSL name of the digest ("SHA2-256"), or nullptr outside the enum.
const char* ossl_digest_name(HashAlg alg);

// Drops whatever libcrypto queued on this thread's error stack, so a failure
// here never shows up as a stale error in an unrelated later call.
void clear_libcrypto_errors();

}  // namespace dptls::tls::internal
