// libFuzzer target for the TLS 1.3 server's first flight: arbitrary bytes
// as what a client sends first (records with a ClientHello, possibly a
// change_cipher_spec, early data, a pre_shared_key, anything), fed to a
// fresh ServerHandshake. Every input must end in need-more, failed (with
// an alert record written) or -- never from one flight -- done; the
// sanitizers catch the rest. Deterministic: the server random and X25519
// key are fixed, the clock is fixed.
//
// Input: byte 0 = control bits, byte 1 = split point, the rest = the
// client's bytes.
//   bit 0: feed them in two pieces, cut at byte 1 (mod the length)
//   bit 1: client authentication on (client_ca)
//   bit 2: HelloRetryRequest for the preferred group (P-256 first)
//   bit 3: require_sni_match, ALPN "h2"
//
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true && ninja -C
// build-fuzz fuzz/tls_server_first_flight_fuzz; run:
// build-fuzz/fuzz/tls_server_first_flight_fuzz /tmp/tls-corpus
// tests/tls/handshake/corpus (seeds: real libssl ClientHellos, made by
// fuzz/gen_tls_corpus.py).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/handshake/credentials.h"
#include "dptls/tls/handshake/server.h"

namespace {

using dptls::tls::FeedResult;
using dptls::tls::HandshakeState;
using dptls::tls::ServerConfig;
using dptls::tls::ServerContext;
using dptls::tls::ServerHandshake;
using dptls::tls::ServerTestHooks;

std::unique_ptr<dptls::crypto::AeadBackend> g_backend;
std::array<std::shared_ptr<const ServerContext>, 8> g_contexts;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "tls_server_first_flight_fuzz: %s\n", what.c_str());
  std::abort();
}

std::string pem_of(X509* cert, EVP_PKEY* key, std::string* key_pem) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  n = BIO_get_mem_data(b, &data);
  key_pem->assign(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

// A self-signed P-256 certificate for "server.test" (also the client CA
// when client authentication is on).
void make_identity(std::string* cert_pem, std::string* key_pem) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  if (key == nullptr || x == nullptr) {
    die("key generation failed");
  }
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>("server.test"),
                             -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  if (X509_sign(x, key, EVP_sha256()) <= 0) {
    die("X509_sign failed");
  }
  *cert_pem = pem_of(x, key, key_pem);
  X509_free(x);
  EVP_PKEY_free(key);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::string error;
  g_backend = dptls::crypto::make_backend(dptls::crypto::BackendKind::kOpenSsl,
                                          {}, &error);
  if (g_backend == nullptr) {
    die(error);
  }
  std::string cert_pem;
  std::string key_pem;
  make_identity(&cert_pem, &key_pem);
  std::shared_ptr<const dptls::tls::Credential> cred =
      dptls::tls::Credential::from_pem(cert_pem, key_pem, &error,
                                       {"server.test"});
  if (cred == nullptr) {
    die(error);
  }
  auto store = std::make_shared<dptls::tls::CertificateStore>();
  store->add(cred);
  for (size_t v = 0; v < g_contexts.size(); ++v) {
    ServerConfig cfg;
    cfg.clock_ms = [] { return uint64_t{1767225600000}; };  // 2026-01-01
    if ((v & 1) != 0) {
      cfg.client_ca_pem = cert_pem;
    }
    if ((v & 2) != 0) {
      cfg.groups = {dptls::tls::NamedGroup::kSecp256r1,
                    dptls::tls::NamedGroup::kX25519};
      cfg.hello_retry_for_preferred_group = true;
    }
    if ((v & 4) != 0) {
      cfg.require_sni_match = true;
      cfg.alpn_protocols = {"h2"};
    }
    g_contexts[v] = ServerContext::create(cfg, store, &error);
    if (g_contexts[v] == nullptr) {
      die(error);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  const uint8_t ctl = data[0];
  const std::span<const uint8_t> flight(data + 2, size - 2);
  ServerHandshake hs(g_contexts[(ctl >> 1) & 7], *g_backend);
  ServerTestHooks hooks;
  hooks.server_random.emplace();
  hooks.server_random->fill(0x5a);
  hooks.x25519_private_key.assign(32, 0x42);
  hs.set_test_hooks(hooks);
  std::vector<uint8_t> out;
  FeedResult r;
  if ((ctl & 1) != 0 && !flight.empty()) {
    const size_t cut = data[1] % flight.size();
    r = hs.feed(flight.first(cut), &out);
    r = hs.feed(flight.subspan(cut), &out);
  } else {
    r = hs.feed(flight, &out);
  }
  // One flight never completes a handshake; a failure always writes its
  // alert; a finished handshake takes nothing more.
  if (r.state == HandshakeState::kDone || (r.state == HandshakeState::kFailed &&
                                           !r.alert_from_peer && out.empty())) {
    std::abort();
  }
  const size_t before = out.size();
  const FeedResult again = hs.feed(flight, &out);
  if (r.state == HandshakeState::kFailed &&
      (again.state != r.state || out.size() != before)) {
    std::abort();
  }
  return 0;
}
