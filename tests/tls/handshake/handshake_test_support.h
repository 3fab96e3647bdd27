// Test support for the server handshake: a throwaway PKI made with
// libcrypto (no key files in the tree), an OpenSSL libssl client driven in
// memory through a BIO pair, a hand-rolled ClientHello builder for inputs
// libssl will not produce, an independent TLS 1.3 record sealer/opener on
// EVP, and a loop that drives our server against the client.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dptls/crypto/aead.h"
#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/handshake/credentials.h"
#include "dptls/tls/handshake/server.h"
#include "dptls/tls/record.h"

namespace dptls::tls::testing {

using Bytes = std::vector<uint8_t>;

struct OsslFree {
  void operator()(SSL* p) const { SSL_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(SSL_SESSION* p) const { SSL_SESSION_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, OsslFree>;

// ---- PKI ----

// A key and its certificate.
struct Identity {
  Ptr<EVP_PKEY> key;
  Ptr<X509> cert;
};

// Makes a key: "ec" (P-256), "rsa" (2048 bits), "ed25519".
Ptr<EVP_PKEY> MakeKey(const std::string& kind);

// Issues a certificate for `key`: a CA when `ca` is set, else a TLS server
// leaf with `dns_names` as subjectAltName. Self-signed when `issuer` is
// null. ECDSA/RSA issuers sign with SHA-256, Ed25519 with itself.
Ptr<X509> IssueCert(EVP_PKEY* key, const std::string& cn,
                    const std::vector<std::string>& dns_names, bool ca,
                    const Identity* issuer);

std::string CertPem(X509* cert);
std::string KeyPem(EVP_PKEY* key);

// A root CA, an intermediate, and leaves under the intermediate, made once
// per process (RSA key generation is the slow part).
struct TestPki {
  Identity root;
  Identity intermediate;
  // Leaf chain PEM (leaf + intermediate) and key PEM per key kind, for
  // the names {"server.test", "*.wild.test"}.
  struct Leaf {
    std::string chain_pem;
    std::string key_pem;
  };
  std::map<std::string, Leaf> leaves;  // "ec", "rsa", "ed25519"

  // A new leaf under the intermediate for `names`.
  Leaf MakeLeaf(const std::string& kind,
                const std::vector<std::string>& names) const;
  // A credential for a leaf; fails the test on error.
  std::shared_ptr<const Credential> Load(const Leaf& leaf) const;
};
const TestPki& Pki();

// A ServerContext with `config` and a store of the given leaves (default:
// the "ec", "rsa" and "ed25519" leaves in that order).
std::shared_ptr<const ServerContext> MakeContext(
    ServerConfig config,
    std::vector<std::shared_ptr<const Credential>> creds = {});

// A DER OCSPResponse (RFC 6960): successful, a basic response for the
// intermediate's CertID with status good, signed by the root. The
// server does not parse it; tests compare the bytes the client receives.
Bytes MakeOcspResponse();

// ---- the OpenSSL client ----

struct ClientOptions {
  std::string ciphersuites;         // SSL_set_ciphersuites; empty: default
  std::string groups;               // SSL_set1_groups_list; empty: default
  std::string sigalgs;              // SSL_set1_sigalgs_list; empty: default
  std::string sni = "server.test";  // also the name verified
  std::vector<std::string> alpn;
  bool verify = true;  // verify the chain against Pki().root and the name
  int max_version = TLS1_3_VERSION;
  int min_version = TLS1_2_VERSION;
  bool middlebox_compat = true;
  // Extra extensions in the ClientHello (SSL_CTX_add_custom_ext):
  // (type, body). A record_size_limit (28) added this way is also read back
  // from EncryptedExtensions into TestClient::ee_record_size_limit.
  std::vector<std::pair<uint16_t, Bytes>> custom_extensions;
  SSL_SESSION* session = nullptr;  // to resume (0-RTT tests)
  // A client certificate (mTLS): the leaf, its key and the chain sent
  // after it (borrowed for the constructor's duration).
  X509* client_cert = nullptr;
  EVP_PKEY* client_key = nullptr;
  std::vector<X509*> client_chain;
  // Called on the SSL before the handshake, for settings the fields above
  // do not cover (status_request, SSL_OP_ALLOW_NO_DHE_KEX, ...).
  std::function<void(SSL*)> configure;
};

class TestClient {
 public:
  explicit TestClient(const ClientOptions& options);
  ~TestClient();

  // Runs SSL_do_handshake and returns what the client wrote.
  Bytes Step();
  // Delivers bytes from the server.
  void Deliver(const Bytes& bytes);
  // Bytes the client has written and not yet taken.
  Bytes TakeOutput();

  SSL* ssl() const { return ssl_.get(); }
  bool handshake_done() const { return SSL_is_init_finished(ssl_.get()) == 1; }
  // The last SSL_do_handshake() result was a fatal error.
  bool failed() const { return failed_; }

  // The last alert the client received (-1 for none) and sent.
  int alert_received = -1;
  int alert_sent = -1;
  // The record_size_limit value the server's EncryptedExtensions carried
  // (-1 when none).
  int ee_record_size_limit = -1;
  // Secrets logged by the client, by keylog label.
  std::map<std::string, Bytes> keylog;

 private:
  Ptr<SSL_CTX> ctx_;
  Ptr<SSL> ssl_;
  BIO* net_ = nullptr;  // our end of the pair
  bool failed_ = false;
  std::vector<std::pair<uint16_t, Bytes>> custom_;
};

// ---- driving a handshake ----

// Everything both sides saw.
struct Exchange {
  FeedResult server;
  Bytes server_wire;  // every byte the server sent
  Bytes client_wire;  // every byte the client sent
  HandshakeResult result;
  bool server_done = false;
};

// Runs the client and the server until both finish, one fails, or nothing
// moves. Every client flight is fed to the server in one piece, or in
// pieces of `piece` bytes when non-zero. `tamper` (optional) may rewrite
// each client flight before the server sees it (the flight's index is
// passed).
using Tamper = std::function<void(size_t flight, Bytes* bytes)>;
Exchange RunHandshake(TestClient& client, ServerHandshake& server,
                      size_t piece = 0, const Tamper& tamper = nullptr);

// ---- records, independently of dptls ----

struct Record {
  uint8_t type = 0;
  Bytes header;
  Bytes body;
};
// Splits a byte stream into records; stops at a partial one.
std::vector<Record> SplitRecords(const Bytes& wire);
Bytes JoinRecords(const std::vector<Record>& records);

// TLS 1.3 record protection for one direction on OpenSSL EVP (RFC 8446
// section 5.2), keys derived with dptls's key schedule (validated by the
// RFC 8448 tests).
class EvpRecordCipher {
 public:
  EvpRecordCipher(const CipherSuiteInfo& suite, const Bytes& secret);
  // Seals content + inner type (and `padding` zeros) as one record.
  Bytes Seal(ContentType type, const Bytes& content, size_t padding = 0);
  // Opens one record; false on failure. *type is the inner content type.
  bool Open(const Record& record, ContentType* type, Bytes* content);

 private:
  bool Crypt(bool seal, const Bytes& header, const Bytes& in, Bytes* out,
             uint8_t* tag);
  const EVP_CIPHER* cipher_ = nullptr;
  Bytes key_;
  Bytes iv_;
  uint64_t seq_ = 0;
};

// ---- hand-built ClientHellos ----

// A TLS 1.3 ClientHello, built field by field. Defaults: a valid one with
// an X25519 share (a real key, so the server answers), every suite, groups
// x25519 and secp256r1, ecdsa/rsa-pss/ed25519 signature schemes, SNI
// "server.test", a 32-byte session ID.
struct ChBuilder {
  ChBuilder();

  uint16_t legacy_version = 0x0303;
  Bytes random = Bytes(32, 0x11);
  Bytes session_id = Bytes(32, 0x22);
  std::vector<uint16_t> suites = {0x1301, 0x1302, 0x1303};
  Bytes compression = {0};
  // In order; the builder does not check anything.
  std::vector<std::pair<uint16_t, Bytes>> extensions;
  // Omit the extensions block entirely.
  bool no_extension_block = false;

  // Replaces (or appends) an extension's body.
  void Set(uint16_t type, const Bytes& body);
  // Inserts an extension first.
  void Prepend(uint16_t type, const Bytes& body);
  // Removes an extension.
  void Remove(uint16_t type);
  Bytes* Find(uint16_t type);

  Bytes Message() const;  // handshake message, header included
  Bytes Record() const;   // one plaintext record holding Message()

  Ptr<EVP_PKEY> x25519;  // the private key of the default share
};

// Extension bodies.
Bytes SupportedVersionsBody(const std::vector<uint16_t>& versions);
Bytes U16ListBody(const std::vector<uint16_t>& values);  // 2-byte length
Bytes KeyShareBody(const std::vector<std::pair<uint16_t, Bytes>>& shares);
Bytes SniBody(const std::string& host);
Bytes AlpnBody(const std::vector<std::string>& names);

// The public key of a fresh X25519 or P-256 key (uncompressed point).
Bytes PublicShare(NamedGroup group, Ptr<EVP_PKEY>* key = nullptr);

// a || b, and b[off, off + n), out of line (GCC 12's -Warray-bounds
// misfires on inlined vector inserts of small constant vectors).
Bytes Cat(const Bytes& a, const Bytes& b);
Bytes Sub(const Bytes& b, size_t off, size_t n);

// The alert a plaintext alert record at the end of `wire` carries, or -1.
int TrailingPlaintextAlert(const Bytes& wire);

// Feeds `bytes` to a fresh server with `ctx` and returns the result and
// what it sent.
struct ServerRun {
  FeedResult result;
  Bytes out;
};
ServerRun FeedFresh(std::shared_ptr<const ServerContext> ctx,
                    const Bytes& bytes);

// The process's OpenSSL AEAD backend for the handshake thread.
crypto::AeadBackend& Backend();

}  // namespace dptls::tls::testing
