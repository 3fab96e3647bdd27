// X25519 on the provider's own functions (see x25519_direct.h).
#include "tls/handshake/x25519_direct.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include <array>
#include <atomic>
#include <string_view>

#include "dptls/crypto/aead.h"
#include "tls/handshake/thread_spares.h"

namespace dptls::tls::internal {
namespace {

constexpr size_t kLen = 32;

// The u-coordinate 9 of the base point (RFC 7748 section 4.1).
constexpr std::array<uint8_t, kLen> kBasePoint = {9};

// The provider functions, found once per process; `ok` false when any is
// missing. The fetched EVP objects are kept, so the provider stays loaded.
struct Functions {
  bool ok = false;
  void* provctx = nullptr;
  OSSL_FUNC_keymgmt_new_fn* new_data = nullptr;
  OSSL_FUNC_keymgmt_free_fn* free_data = nullptr;
  OSSL_FUNC_keymgmt_import_fn* import = nullptr;
  OSSL_FUNC_keymgmt_get_params_fn* get_params = nullptr;
  OSSL_FUNC_keyexch_newctx_fn* new_ctx = nullptr;
  OSSL_FUNC_keyexch_freectx_fn* free_ctx = nullptr;
  OSSL_FUNC_keyexch_init_fn* init = nullptr;
  OSSL_FUNC_keyexch_set_peer_fn* set_peer = nullptr;
  OSSL_FUNC_keyexch_derive_fn* derive = nullptr;
};

// Whether `names` (an algorithm's "NAME:alias:OID" list) holds `name`.
bool has_name(std::string_view names, std::string_view name) {
  while (!names.empty()) {
    const size_t colon = names.find(':');
    if (names.substr(0, colon) == name) {
      return true;
    }
    if (colon == std::string_view::npos) {
      break;
    }
    names.remove_prefix(colon + 1);
  }
  return false;
}

// The dispatch table of the one implementation of `op` named X25519 that
// `prov` offers; nullptr when there is none or more than one.
const OSSL_DISPATCH* implementation(const OSSL_PROVIDER* prov, int op) {
  int no_cache = 0;
  const OSSL_ALGORITHM* algs =
      OSSL_PROVIDER_query_operation(prov, op, &no_cache);
  const OSSL_DISPATCH* found = nullptr;
  int matches = 0;
  for (const OSSL_ALGORITHM* a = algs;
       a != nullptr && a->algorithm_names != nullptr; ++a) {
    if (has_name(a->algorithm_names, "X25519")) {
      found = a->implementation;
      ++matches;
    }
  }
  if (algs != nullptr) {
    OSSL_PROVIDER_unquery_operation(prov, op, algs);
  }
  return matches == 1 ? found : nullptr;
}

Functions find_functions() {
  Functions f;
  // Never freed: they keep the provider, whose functions are used, loaded.
  EVP_KEYEXCH* kx = EVP_KEYEXCH_fetch(nullptr, "X25519", nullptr);
  EVP_KEYMGMT* km = EVP_KEYMGMT_fetch(nullptr, "X25519", nullptr);
  const OSSL_PROVIDER* prov =
      kx != nullptr ? EVP_KEYEXCH_get0_provider(kx) : nullptr;
  if (prov == nullptr || km == nullptr ||
      EVP_KEYMGMT_get0_provider(km) != prov) {
    ERR_clear_error();
    return f;
  }
  f.provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
  for (const OSSL_DISPATCH* d = implementation(prov, OSSL_OP_KEYMGMT);
       d != nullptr && d->function_id != 0; ++d) {
    switch (d->function_id) {
      case OSSL_FUNC_KEYMGMT_NEW:
        f.new_data = OSSL_FUNC_keymgmt_new(d);
        break;
      case OSSL_FUNC_KEYMGMT_FREE:
        f.free_data = OSSL_FUNC_keymgmt_free(d);
        break;
      case OSSL_FUNC_KEYMGMT_IMPORT:
        f.import = OSSL_FUNC_keymgmt_import(d);
        break;
      case OSSL_FUNC_KEYMGMT_GET_PARAMS:
        f.get_params = OSSL_FUNC_keymgmt_get_params(d);
        break;
      default:
        break;
    }
  }
  for (const OSSL_DISPATCH* d = implementation(prov, OSSL_OP_KEYEXCH);
       d != nullptr && d->function_id != 0; ++d) {
    switch (d->function_id) {
      case OSSL_FUNC_KEYEXCH_NEWCTX:
        f.new_ctx = OSSL_FUNC_keyexch_newctx(d);
        break;
      case OSSL_FUNC_KEYEXCH_FREECTX:
        f.free_ctx = OSSL_FUNC_keyexch_freectx(d);
        break;
      case OSSL_FUNC_KEYEXCH_INIT:
        f.init = OSSL_FUNC_keyexch_init(d);
        break;
      case OSSL_FUNC_KEYEXCH_SET_PEER:
        f.set_peer = OSSL_FUNC_keyexch_set_peer(d);
        break;
      case OSSL_FUNC_KEYEXCH_DERIVE:
        f.derive = OSSL_FUNC_keyexch_derive(d);
        break;
      default:
        break;
    }
  }
  f.ok = f.provctx != nullptr && f.new_data != nullptr &&
         f.free_data != nullptr && f.import != nullptr &&
         f.get_params != nullptr && f.new_ctx != nullptr &&
         f.free_ctx != nullptr && f.init != nullptr && f.set_peer != nullptr &&
         f.derive != nullptr;
  return f;
}

// The functions, or nullptr when they were not all found.
const Functions* functions() {
  static const Functions f = find_functions();
  return f.ok ? &f : nullptr;
}

std::atomic<bool> enabled{true};

// Imports `priv` (empty: none) and `pub` into key data `data`.
bool import(const Functions& f, void* data, std::span<const uint8_t> priv,
            std::span<const uint8_t> pub) {
  // OSSL_PARAM wants non-const pointers; the bytes are only read.
  std::array<OSSL_PARAM, 3> params{};
  size_t n = 0;
  if (!priv.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(priv.data()),
        priv.size());
  }
  params[n++] = OSSL_PARAM_construct_octet_string(
      OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(pub.data()), pub.size());
  params[n] = OSSL_PARAM_construct_end();
  const int selection = priv.empty() ? OSSL_KEYMGMT_SELECT_PUBLIC_KEY
                                     : OSSL_KEYMGMT_SELECT_KEYPAIR;
  return f.import(data, selection, params.data()) == 1;
}

// Public-key-only key data made once per thread: the base point, and the
// peer of the derive in progress (its value replaced by each derive).
class PeerKeys {
 public:
  PeerKeys() {
    const Functions* f = functions();
    if (f != nullptr) {
      base_ = f->new_data(f->provctx);
      peer_ = f->new_data(f->provctx);
      if (base_ != nullptr && !import(*f, base_, {}, kBasePoint)) {
        f->free_data(base_);
        base_ = nullptr;
      }
    }
  }
  ~PeerKeys() {
    const Functions* f = functions();
    if (f == nullptr) {
      return;  // nothing was made
    }
    if (base_ != nullptr) {
      f->free_data(base_);
    }
    if (peer_ != nullptr) {
      f->free_data(peer_);
    }
  }
  PeerKeys(const PeerKeys&) = delete;
  PeerKeys& operator=(const PeerKeys&) = delete;
  void* base() const { return base_; }
  void* peer() const { return peer_; }

 private:
  void* base_ = nullptr;
  void* peer_ = nullptr;
};

PeerKeys& peer_keys() {
  thread_local PeerKeys keys;
  return keys;
}

void free_key(X25519Direct::Key& key) {
  const Functions* f = functions();
  if (f != nullptr && key.ctx != nullptr) {
    f->free_ctx(key.ctx);
  }
  if (f != nullptr && key.data != nullptr) {
    f->free_data(key.data);
  }
  key = {};
}

// Wiped key objects of this thread, for the next key: a handshake thread
// needs one at a time (a server's key lives for one feed() call).
using Spares = ThreadSpares<X25519Direct::Key, free_key>;

// Whether the private key `data` holds reads back as all zeros.
bool private_key_is_zero(const Functions& f, void* data) {
  std::array<uint8_t, kLen> got{};
  got.fill(0xff);
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, got.data(),
                                        got.size()),
      OSSL_PARAM_construct_end(),
  };
  if (f.get_params(data, params.data()) != 1 || params[0].return_size != kLen) {
    return false;
  }
  uint8_t any = 0;
  for (const uint8_t b : got) {
    any |= b;
  }
  crypto::secure_wipe(got.data(), got.size());
  return any == 0;
}

}  // namespace

bool X25519Direct::available() {
  return enabled.load(std::memory_order_relaxed) && functions() != nullptr;
}

void X25519Direct::set_enabled_for_testing(bool on) {
  enabled.store(on, std::memory_order_relaxed);
}

bool X25519Direct::acquire(Key* key) {
  *key = {};
  Spares* s = Spares::mine();
  if (s != nullptr && s->take(key)) {
    return true;
  }
  const Functions* f = functions();
  if (f == nullptr) {
    return false;
  }
  key->data = f->new_data(f->provctx);
  key->ctx = key->data != nullptr ? f->new_ctx(f->provctx) : nullptr;
  if (key->ctx == nullptr || f->init(key->ctx, key->data, nullptr) != 1) {
    ERR_clear_error();
    free_key(*key);
    return false;
  }
  return true;
}

bool X25519Direct::set_private(const Key& key, std::span<const uint8_t> priv,
                               std::span<uint8_t> pub) {
  const Functions* f = functions();
  void* base = peer_keys().base();
  // The base point stands in as the public half (see the header); the
  // real public key is derived against it.
  if (f == nullptr || key.data == nullptr || base == nullptr ||
      priv.size() != kLen || pub.size() != kLen ||
      !import(*f, key.data, priv, kBasePoint) ||
      f->set_peer(key.ctx, base) != 1) {
    ERR_clear_error();
    return false;
  }
  size_t len = 0;
  if (f->derive(key.ctx, pub.data(), &len, pub.size()) != 1 || len != kLen) {
    ERR_clear_error();
    return false;
  }
  return true;
}

bool X25519Direct::derive(const Key& key, std::span<const uint8_t> peer,
                          std::span<uint8_t> out) {
  const Functions* f = functions();
  void* theirs = peer_keys().peer();
  if (f == nullptr || key.data == nullptr || theirs == nullptr ||
      peer.size() != kLen || out.size() != kLen ||
      !import(*f, theirs, {}, peer) || f->set_peer(key.ctx, theirs) != 1) {
    ERR_clear_error();
    return false;
  }
  size_t len = 0;
  if (f->derive(key.ctx, out.data(), &len, out.size()) != 1 || len != kLen) {
    ERR_clear_error();
    return false;
  }
  return true;
}

void X25519Direct::release(Key* key) {
  if (key->data == nullptr) {
    return;
  }
  const Functions* f = functions();
  static constexpr std::array<uint8_t, kLen> kZeros{};
  Spares* s = Spares::mine();
  if (f != nullptr && s != nullptr &&
      import(*f, key->data, kZeros, kBasePoint) &&
      private_key_is_zero(*f, key->data) && s->put(*key)) {
    *key = {};
    return;
  }
  ERR_clear_error();
  free_key(*key);
}

}  // namespace dptls::tls::internal
