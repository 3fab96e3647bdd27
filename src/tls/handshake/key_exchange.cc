// (EC)DHE key shares on EVP_PKEY (RFC 8446 sections 4.2.8 and 7.4).
#include "dptls/tls/handshake/key_exchange.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "dptls/crypto/aead.h"
#include "tls/handshake/ossl_ptr.h"
#include "tls/handshake/thread_spares.h"
#include "tls/handshake/x25519_direct.h"

namespace dptls::tls {

using internal::OsslPtr;
using internal::X25519Direct;

namespace {

// The OpenSSL curve name of a NIST group, or nullptr for X25519.
const char* ec_curve_name(NamedGroup group) {
  switch (group) {
    case NamedGroup::kSecp256r1:
      return "P-256";
    case NamedGroup::kSecp384r1:
      return "P-384";
    case NamedGroup::kX25519:
      return nullptr;
  }
  return nullptr;
}

// Builds a NIST curve peer's public key from its key_exchange value;
// nullptr when it is not a valid public key of `own`'s group.
OsslPtr<EVP_PKEY> ec_peer_key(EVP_PKEY* own, std::span<const uint8_t> peer) {
  // UncompressedPointRepresentation: legacy_form = 4 (4.2.8.2); the
  // compressed and hybrid forms are not allowed in TLS 1.3.
  if (peer.empty() || peer[0] != 0x04) {
    return nullptr;
  }
  OsslPtr<EVP_PKEY> key(EVP_PKEY_new());
  // Decoding the point checks that it lies on the curve.
  if (key == nullptr || EVP_PKEY_copy_parameters(key.get(), own) != 1 ||
      EVP_PKEY_set1_encoded_public_key(key.get(), peer.data(), peer.size()) !=
          1) {
    return nullptr;
  }
  return key;
}

// A NIST curve key pair from its private scalar (big-endian, the curve's
// order size): the public point is computed here, since libcrypto's import
// does not derive it. nullptr on any failure.
EVP_PKEY* ec_key_from_scalar(NamedGroup group, std::span<const uint8_t> priv) {
  const char* curve = ec_curve_name(group);
  const size_t scalar_len = (key_share_len(group) - 1) / 2;
  if (curve == nullptr || priv.size() != scalar_len) {
    return nullptr;
  }
  const int nid =
      group == NamedGroup::kSecp256r1 ? NID_X9_62_prime256v1 : NID_secp384r1;
  EC_GROUP* ec_group = EC_GROUP_new_by_curve_name(nid);
  BIGNUM* d = BN_secure_new();
  EC_POINT* point = ec_group != nullptr ? EC_POINT_new(ec_group) : nullptr;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* pkey = nullptr;
  std::array<uint8_t, 97> pub{};
  size_t pub_len = 0;
  if (ec_group != nullptr && d != nullptr && point != nullptr &&
      bld != nullptr &&
      BN_bin2bn(priv.data(), static_cast<int>(priv.size()), d) != nullptr &&
      EC_POINT_mul(ec_group, point, d, nullptr, nullptr, nullptr) == 1) {
    pub_len = EC_POINT_point2oct(ec_group, point, POINT_CONVERSION_UNCOMPRESSED,
                                 pub.data(), pub.size(), nullptr);
  }
  if (pub_len == key_share_len(group) &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve,
                                      0) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub.data(),
                                       pub_len) == 1 &&
      (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr &&
      (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)) != nullptr &&
      EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
      pkey = nullptr;
    }
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EC_POINT_free(point);
  BN_clear_free(d);
  EC_GROUP_free(ec_group);
  return pkey;
}

// The u-coordinate 9 of the X25519 base point (RFC 7748 section 4.1),
// little-endian.
constexpr std::array<uint8_t, 32> kX25519BasePoint = {9};

// An X25519 EVP_PKEY holding `priv` and, as its public half, `pub` taken
// as given (libcrypto does not recompute or check it). A fromdata context
// per thread spares the by-name lookup of a new one per key.
// With *pkey an X25519 key already, the key data is replaced in it (the
// old key data is released); otherwise a new EVP_PKEY is made. False on
// failure.
bool x25519_from_data(std::span<const uint8_t> priv,
                      std::span<const uint8_t> pub, EVP_PKEY** pkey) {
  thread_local const OsslPtr<EVP_PKEY_CTX> fromdata = [] {
    OsslPtr<EVP_PKEY_CTX> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr));
    if (ctx != nullptr && EVP_PKEY_fromdata_init(ctx.get()) != 1) {
      ctx.reset();
    }
    return ctx;
  }();
  if (fromdata == nullptr) {
    return false;
  }
  // OSSL_PARAM wants non-const pointers; the bytes are only read.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
                                        const_cast<uint8_t*>(priv.data()),
                                        priv.size()),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<uint8_t*>(pub.data()),
                                        pub.size()),
      OSSL_PARAM_construct_end(),
  };
  return EVP_PKEY_fromdata(fromdata.get(), pkey, EVP_PKEY_KEYPAIR, params) == 1;
}

// Spare X25519 key objects of this thread (the EVP path): an EVP_PKEY with a
// derivation context on it, both wiped of their private key. A new key per
// handshake costs an EVP_PKEY and an EVP_PKEY_CTX (key management and key
// exchange fetched by name, scans of libcrypto's name map); a spare takes the
// next private key by an import into the same EVP_PKEY and a re-initialisation
// of its context. At most four are kept (one is what a handshake thread needs:
// a server key lives for one feed() call).
struct X25519Spare {
  EVP_PKEY* pkey;
  EVP_PKEY_CTX* derive;
};

void free_spare(X25519Spare& spare) {
  EVP_PKEY_CTX_free(spare.derive);
  EVP_PKEY_free(spare.pkey);
}

using X25519Spares = internal::ThreadSpares<X25519Spare, free_spare>;

// Removes the private key from an X25519 EVP_PKEY in place: setting its
// encoded public key makes libcrypto's X25519 key management clear and
// free the private key (ecx_set_params). The derivation context holds the
// same key data, so it loses the private key too. True only when the key
// then reports no private key (checked rather than assumed, since this is
// the behaviour of libcrypto 3.0's provider, not a documented promise).
// The check asks the key management's get_params for the private key,
// which answers only while there is one; EVP_PKEY_get_raw_private_key
// would ask the same through an export, which builds (allocates) a
// parameter array of the whole key.
bool x25519_wipe_in_place(EVP_PKEY* pkey) {
  std::array<uint8_t, 32> priv{};
  size_t len = 0;
  const bool gone =
      EVP_PKEY_set1_encoded_public_key(pkey, kX25519BasePoint.data(),
                                       kX25519BasePoint.size()) == 1 &&
      EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY,
                                      priv.data(), priv.size(), &len) != 1;
  crypto::secure_wipe(priv.data(), priv.size());
  ERR_clear_error();
  return gone;
}

// The X25519 base point as a peer key, made once per thread.
EVP_PKEY* x25519_base_point() {
  thread_local const OsslPtr<EVP_PKEY> base(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr, kX25519BasePoint.data(),
      kX25519BasePoint.size()));
  return base.get();
}

// An X25519 peer's public key (32 bytes) in an EVP_PKEY made once per
// thread, whose public half is replaced for each derive: a new EVP_PKEY
// per peer costs a context fetched by name and a scan of libcrypto's name
// map (EVP_PKEY_set_type_by_keymgmt), while the ecx provider sets an
// encoded public key in place. Only a derive context that sets it as its
// peer right before deriving may use it (EphemeralKey::derive does), since
// the next derive on this thread overwrites it. nullptr on failure.
EVP_PKEY* x25519_peer_key(std::span<const uint8_t> peer) {
  thread_local const OsslPtr<EVP_PKEY> key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr, kX25519BasePoint.data(),
      kX25519BasePoint.size()));
  if (key == nullptr || EVP_PKEY_set1_encoded_public_key(key.get(), peer.data(),
                                                         peer.size()) != 1) {
    return nullptr;
  }
  return key.get();
}

// RFC 8446 section 7.4.2: an all-zero X25519 output is refused. OpenSSL
// refuses it itself; checking here makes it hold whatever the library does.
bool is_all_zero(std::span<const uint8_t> secret) {
  uint8_t any = 0;
  for (const uint8_t b : secret) {
    any |= b;
  }
  return any == 0;
}

}  // namespace

size_t key_share_len(NamedGroup group) {
  switch (group) {
    case NamedGroup::kX25519:
      return 32;
    case NamedGroup::kSecp256r1:
      return 65;
    case NamedGroup::kSecp384r1:
      return 97;
  }
  return 0;
}

EphemeralKey::~EphemeralKey() { reset(); }

EphemeralKey::EphemeralKey(EphemeralKey&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)),
      derive_ctx_(std::exchange(other.derive_ctx_, nullptr)),
      xdata_(std::exchange(other.xdata_, nullptr)),
      xctx_(std::exchange(other.xctx_, nullptr)),
      group_(other.group_),
      pub_(other.pub_),
      len_(std::exchange(other.len_, 0)) {}

EphemeralKey& EphemeralKey::operator=(EphemeralKey&& other) noexcept {
  if (this != &other) {
    reset();
    pkey_ = std::exchange(other.pkey_, nullptr);
    derive_ctx_ = std::exchange(other.derive_ctx_, nullptr);
    xdata_ = std::exchange(other.xdata_, nullptr);
    xctx_ = std::exchange(other.xctx_, nullptr);
    group_ = other.group_;
    pub_ = other.pub_;
    len_ = std::exchange(other.len_, 0);
  }
  return *this;
}

void EphemeralKey::reset() {
  if (xdata_ != nullptr) {
    X25519Direct::Key key{.data = xdata_, .ctx = xctx_};
    X25519Direct::release(&key);
    xdata_ = nullptr;
    xctx_ = nullptr;
  }
  // An X25519 key whose private key could be removed in place becomes a
  // spare of this thread (X25519Spares).
  X25519Spares* spares = group_ == NamedGroup::kX25519 && pkey_ != nullptr &&
                                 derive_ctx_ != nullptr
                             ? X25519Spares::mine()
                             : nullptr;
  if (spares != nullptr && x25519_wipe_in_place(pkey_) &&
      spares->put({pkey_, derive_ctx_})) {
    pkey_ = nullptr;
    derive_ctx_ = nullptr;
    len_ = 0;
    return;
  }
  // Freeing the context releases its reference to the key; EVP_PKEY_free
  // cleanses the private key once the last reference goes.
  EVP_PKEY_CTX_free(derive_ctx_);
  derive_ctx_ = nullptr;
  EVP_PKEY_free(pkey_);
  pkey_ = nullptr;
  len_ = 0;
}

bool EphemeralKey::generate(NamedGroup group, std::span<uint8_t> also_random) {
  reset();
  group_ = group;
  const char* curve = ec_curve_name(group);
  constexpr size_t kMaxAlso = 64;
  if (also_random.size() > kMaxAlso) {
    return false;
  }
  if (group == NamedGroup::kX25519) {
    // One draw: the private key, then the caller's bytes.
    std::array<uint8_t, 32 + kMaxAlso> draw{};
    const size_t n = 32 + also_random.size();
    const bool ok = RAND_priv_bytes(draw.data(), static_cast<int>(n)) == 1 &&
                    set_private_key(group, {draw.data(), 32});
    std::copy(draw.begin() + 32, draw.begin() + static_cast<ptrdiff_t>(n),
              also_random.begin());
    crypto::secure_wipe(draw.data(), n);
    return ok;
  }
  if (!also_random.empty() &&
      RAND_bytes(also_random.data(), static_cast<int>(also_random.size())) !=
          1) {
    return false;
  }
  if (curve != nullptr) {
    pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve);
  }
  if (pkey_ == nullptr || !load_public() || !init_derive()) {
    ERR_clear_error();
    reset();
    return false;
  }
  return true;
}

bool EphemeralKey::set_private_key(NamedGroup group,
                                   std::span<const uint8_t> priv) {
  reset();
  group_ = group;
  if (group == NamedGroup::kX25519) {
    if (priv.size() != 32 || !set_x25519_private(priv)) {
      ERR_clear_error();
      reset();
      return false;
    }
    return true;
  } else {
    pkey_ = ec_key_from_scalar(group, priv);
  }
  if (pkey_ == nullptr || !load_public() || !init_derive()) {
    ERR_clear_error();
    reset();
    return false;
  }
  return true;
}

// RFC 7748 section 6.1 defines the public key as X25519(k, 9). libcrypto
// 3.0 computes it, in key generation and in EVP_PKEY_new_raw_private_key
// alike, with a generic fixed-base multiplication that costs more than the
// assembly ladder behind a derive, so the key is imported as its 32
// private bytes and its public key derived against the base point. The
// EVP_PKEY's own public half stays the base point (never read: the
// derivation only reads the private key, and pub_ holds the real value).
bool EphemeralKey::set_x25519_private(std::span<const uint8_t> priv) {
  if (X25519Direct::available()) {
    X25519Direct::Key key;
    if (!X25519Direct::acquire(&key)) {
      return false;
    }
    xdata_ = key.data;
    xctx_ = key.ctx;
    if (!X25519Direct::set_private(key, priv, {pub_.data(), 32})) {
      return false;
    }
    len_ = 32;
    return true;
  }
  // A spare key of this thread takes the new private key in place, and its
  // context is initialised again to pick the new key data up.
  X25519Spare spare{};
  bool derive_ready = false;
  X25519Spares* spares = X25519Spares::mine();
  if (spares != nullptr && spares->take(&spare)) {
    pkey_ = spare.pkey;
    derive_ctx_ = spare.derive;
    derive_ready = x25519_from_data(priv, kX25519BasePoint, &pkey_) &&
                   EVP_PKEY_derive_init(derive_ctx_) == 1;
  } else if (x25519_from_data(priv, kX25519BasePoint, &pkey_)) {
    derive_ready = init_derive();
  }
  EVP_PKEY* base = x25519_base_point();
  size_t len = pub_.size();
  if (!derive_ready || base == nullptr ||
      EVP_PKEY_derive_set_peer_ex(derive_ctx_, base, 0) != 1 ||
      EVP_PKEY_derive(derive_ctx_, pub_.data(), &len) != 1 || len != 32) {
    return false;
  }
  len_ = len;
  return true;
}

bool EphemeralKey::init_derive() {
  derive_ctx_ = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr);
  return derive_ctx_ != nullptr && EVP_PKEY_derive_init(derive_ctx_) == 1;
}

bool EphemeralKey::load_public() {
  size_t len = 0;
  if (group_ == NamedGroup::kX25519) {
    len = pub_.size();
    if (EVP_PKEY_get_raw_public_key(pkey_, pub_.data(), &len) != 1) {
      return false;
    }
  } else if (EVP_PKEY_get_octet_string_param(
                 pkey_, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub_.data(),
                 pub_.size(), &len) != 1) {
    return false;
  }
  if (len != key_share_len(group_)) {
    return false;
  }
  len_ = len;
  return true;
}

bool EphemeralKey::derive(std::span<const uint8_t> peer, Secret* out,
                          Alert* out_alert) const {
  out->wipe();
  if (!ready() || (derive_ctx_ == nullptr && xdata_ == nullptr)) {
    *out_alert = Alert::kInternalError;
    return false;
  }
  *out_alert = Alert::kIllegalParameter;
  if (peer.size() != key_share_len(group_)) {
    return false;
  }
  if (xdata_ != nullptr) {
    std::span<uint8_t> secret = out->resize_for_overwrite(32);
    if (!X25519Direct::derive({.data = xdata_, .ctx = xctx_}, peer, secret) ||
        is_all_zero(secret)) {
      out->wipe();
      return false;
    }
    return true;
  }
  OsslPtr<EVP_PKEY> ec_theirs;
  EVP_PKEY* theirs = nullptr;
  if (group_ == NamedGroup::kX25519) {
    theirs = x25519_peer_key(peer);
  } else {
    ec_theirs = ec_peer_key(pkey_, peer);
    theirs = ec_theirs.get();
  }
  if (theirs == nullptr) {
    ERR_clear_error();
    return false;
  }
  EVP_PKEY_CTX* ctx = derive_ctx_;
  size_t len = 0;
  // For the NIST curves, validate_peer = 1: the EC public key check of SP
  // 800-56A (on the curve, not the identity, right order). libcrypto's
  // X25519 public key check only asks whether the key has a public half,
  // which a raw public key always has, so it is skipped there (it costs a
  // context of its own); the all-zero check below is what RFC 8446 asks.
  const int validate = group_ == NamedGroup::kX25519 ? 0 : 1;
  if (EVP_PKEY_derive_set_peer_ex(ctx, theirs, validate) != 1 ||
      EVP_PKEY_derive(ctx, nullptr, &len) != 1 || len == 0 ||
      len > kMaxHashLen) {
    ERR_clear_error();
    return false;
  }
  std::span<uint8_t> secret = out->resize_for_overwrite(len);
  if (EVP_PKEY_derive(ctx, secret.data(), &len) != 1 || len != secret.size()) {
    ERR_clear_error();
    out->wipe();
    return false;
  }
  if (is_all_zero(secret)) {
    out->wipe();
    return false;
  }
  return true;
}

}  // namespace dptls::tls
