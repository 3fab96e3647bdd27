#include "tls/handshake/handshake_test_support.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "dptls/tls/key_schedule.h"
#include "support/aead_test_support.h"

namespace dptls::tls::testing {

namespace {

void Put8(Bytes* b, size_t v) { b->push_back(static_cast<uint8_t>(v)); }
void Put16(Bytes* b, size_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}
void Put24(Bytes* b, size_t v) {
  b->push_back(static_cast<uint8_t>(v >> 16));
  Put16(b, v & 0xffff);
}
void Append(Bytes* b, const Bytes& x) {
  b->insert(b->end(), x.begin(), x.end());
}

std::string BioString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

void AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  ASSERT_NE(ext, nullptr) << "extension " << nid << " = " << value;
  ASSERT_EQ(X509_add_ext(cert, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

}  // namespace

// ---- PKI ----

Ptr<EVP_PKEY> MakeKey(const std::string& kind) {
  EVP_PKEY* key = nullptr;
  if (kind == "ec") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else if (kind == "rsa") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  } else if (kind == "ed25519") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  }
  EXPECT_NE(key, nullptr) << kind;
  return Ptr<EVP_PKEY>(key);
}

Ptr<X509> IssueCert(EVP_PKEY* key, const std::string& cn,
                    const std::vector<std::string>& dns_names, bool ca,
                    const Identity* issuer) {
  static long serial = 1;
  Ptr<X509> cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>(cn.c_str()), -1,
                             -1, 0);
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : x;
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : key;
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, x, nullptr, nullptr, 0);
  AddExt(x, &ctx, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    AddExt(x, &ctx, NID_authority_key_identifier, "keyid");
  }
  if (ca) {
    AddExt(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(x, &ctx, NID_key_usage, "critical,digitalSignature");
    AddExt(x, &ctx, NID_ext_key_usage, "serverAuth");
    std::string san;
    for (const std::string& n : dns_names) {
      san += (san.empty() ? "DNS:" : ",DNS:") + n;
    }
    if (!san.empty()) {
      AddExt(x, &ctx, NID_subject_alt_name, san);
    }
  }
  const EVP_MD* md = EVP_PKEY_is_a(signer, "ED25519") ? nullptr : EVP_sha256();
  EXPECT_GT(X509_sign(x, signer, md), 0);
  return cert;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  std::string s = BioString(bio);
  BIO_free(bio);
  return s;
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::string s = BioString(bio);
  BIO_free(bio);
  return s;
}

TestPki::Leaf TestPki::MakeLeaf(const std::string& kind,
                                const std::vector<std::string>& names) const {
  Ptr<EVP_PKEY> key = MakeKey(kind);
  Ptr<X509> cert = IssueCert(key.get(), names.empty() ? "leaf" : names[0],
                             names, false, &intermediate);
  return {CertPem(cert.get()) + CertPem(intermediate.cert.get()),
          KeyPem(key.get())};
}

std::shared_ptr<const Credential> TestPki::Load(const Leaf& leaf) const {
  std::string error;
  std::shared_ptr<const Credential> cred =
      Credential::from_pem(leaf.chain_pem, leaf.key_pem, &error);
  EXPECT_NE(cred, nullptr) << error;
  return cred;
}

const TestPki& Pki() {
  static const TestPki* pki = [] {
    auto* p = new TestPki;
    p->root.key = MakeKey("ec");
    p->root.cert =
        IssueCert(p->root.key.get(), "dptls test root", {}, true, nullptr);
    p->intermediate.key = MakeKey("ec");
    p->intermediate.cert =
        IssueCert(p->intermediate.key.get(), "dptls test intermediate", {},
                  true, &p->root);
    for (const char* kind : {"ec", "rsa", "ed25519"}) {
      p->leaves[kind] = p->MakeLeaf(kind, {"server.test", "*.wild.test"});
    }
    return p;
  }();
  return *pki;
}

Bytes MakeOcspResponse() {
  const TestPki& pki = Pki();
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), pki.intermediate.cert.get(),
                                    pki.root.cert.get());
  OCSP_BASICRESP* basic = OCSP_BASICRESP_new();
  ASN1_TIME* now = X509_gmtime_adj(nullptr, 0);
  ASN1_TIME* next = X509_gmtime_adj(nullptr, 7 * 24 * 3600);
  Bytes der;
  if (id != nullptr && basic != nullptr && now != nullptr && next != nullptr &&
      OCSP_basic_add1_status(basic, id, V_OCSP_CERTSTATUS_GOOD, 0, nullptr, now,
                             next) != nullptr &&
      OCSP_basic_sign(basic, pki.root.cert.get(), pki.root.key.get(),
                      EVP_sha256(), nullptr, OCSP_NOCERTS) == 1) {
    OCSP_RESPONSE* resp =
        OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
    const int len = resp != nullptr ? i2d_OCSP_RESPONSE(resp, nullptr) : 0;
    if (len > 0) {
      der.resize(static_cast<size_t>(len));
      uint8_t* p = der.data();
      i2d_OCSP_RESPONSE(resp, &p);
    }
    OCSP_RESPONSE_free(resp);
  }
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  OCSP_BASICRESP_free(basic);
  OCSP_CERTID_free(id);
  EXPECT_FALSE(der.empty()) << "could not make an OCSP response";
  return der;
}

std::shared_ptr<const ServerContext> MakeContext(
    ServerConfig config, std::vector<std::shared_ptr<const Credential>> creds) {
  if (creds.empty()) {
    for (const char* kind : {"ec", "rsa", "ed25519"}) {
      creds.push_back(Pki().Load(Pki().leaves.at(kind)));
    }
  }
  auto store = std::make_shared<CertificateStore>();
  for (auto& c : creds) {
    store->add(c);
  }
  std::string error;
  auto ctx = ServerContext::create(std::move(config), store, &error);
  EXPECT_NE(ctx, nullptr) << error;
  return ctx;
}

crypto::AeadBackend& Backend() {
  static crypto::AeadBackend* backend = [] {
    std::string error;
    auto b = crypto::make_backend(crypto::BackendKind::kOpenSsl, {}, &error);
    EXPECT_NE(b, nullptr) << error;
    return b.release();
  }();
  return *backend;
}

// ---- the OpenSSL client ----

namespace {

TestClient* ClientOf(const SSL* ssl) {
  return static_cast<TestClient*>(SSL_get_app_data(ssl));
}

void KeylogCallback(const SSL* ssl, const char* line) {
  std::string label;
  std::string random;
  std::string secret_hex;
  const std::string s(line);
  const size_t a = s.find(' ');
  const size_t b = s.find(' ', a + 1);
  if (a == std::string::npos || b == std::string::npos) {
    return;
  }
  Bytes secret;
  if (crypto::testing::HexDecode(s.substr(b + 1), &secret)) {
    ClientOf(ssl)->keylog[s.substr(0, a)] = secret;
  }
}

void InfoCallback(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0) {
    return;
  }
  if ((where & SSL_CB_READ) != 0) {
    ClientOf(ssl)->alert_received = ret & 0xff;
  } else {
    ClientOf(ssl)->alert_sent = ret & 0xff;
  }
}

int CustomAdd(SSL*, unsigned int, unsigned int context,
              const unsigned char** out, size_t* outlen, X509*, size_t, int*,
              void* arg) {
  if ((context & SSL_EXT_CLIENT_HELLO) == 0) {
    return 0;
  }
  const auto* body = static_cast<const Bytes*>(arg);
  *out = body->data();
  *outlen = body->size();
  return 1;
}

int CustomParse(SSL* ssl, unsigned int type, unsigned int,
                const unsigned char* in, size_t inlen, X509*, size_t, int*,
                void*) {
  if (type == 28 && inlen == 2) {
    ClientOf(ssl)->ee_record_size_limit = (in[0] << 8) | in[1];
  }
  return 1;
}

}  // namespace

TestClient::TestClient(const ClientOptions& o) : custom_(o.custom_extensions) {
  ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = ctx_.get();
  EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx, o.min_version), 1);
  EXPECT_EQ(SSL_CTX_set_max_proto_version(ctx, o.max_version), 1);
  if (!o.ciphersuites.empty()) {
    EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()), 1);
  }
  if (!o.groups.empty()) {
    EXPECT_EQ(SSL_CTX_set1_groups_list(ctx, o.groups.c_str()), 1);
  }
  if (!o.sigalgs.empty()) {
    EXPECT_EQ(SSL_CTX_set1_sigalgs_list(ctx, o.sigalgs.c_str()), 1);
  }
  if (o.verify) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), Pki().root.cert.get());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.middlebox_compat) {
    SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
  }
  SSL_CTX_set_keylog_callback(ctx, KeylogCallback);
  SSL_CTX_set_info_callback(ctx, InfoCallback);
  for (const auto& [type, body] : custom_) {
    EXPECT_EQ(SSL_CTX_add_custom_ext(
                  ctx, type,
                  SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS,
                  CustomAdd, nullptr, const_cast<Bytes*>(&body), CustomParse,
                  nullptr),
              1)
        << "custom extension " << type;
  }
  ssl_.reset(SSL_new(ctx));
  SSL_set_app_data(ssl_.get(), this);
  BIO* inner = nullptr;
  EXPECT_EQ(BIO_new_bio_pair(&inner, 1 << 20, &net_, 1 << 20), 1);
  SSL_set_bio(ssl_.get(), inner, inner);
  SSL_set_connect_state(ssl_.get());
  if (!o.sni.empty()) {
    SSL_set_tlsext_host_name(ssl_.get(), o.sni.c_str());
    if (o.verify) {
      SSL_set1_host(ssl_.get(), o.sni.c_str());
    }
  }
  if (!o.alpn.empty()) {
    Bytes wire;
    for (const std::string& p : o.alpn) {
      wire.push_back(static_cast<uint8_t>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    EXPECT_EQ(SSL_set_alpn_protos(ssl_.get(), wire.data(),
                                  static_cast<unsigned>(wire.size())),
              0);
  }
  if (o.session != nullptr) {
    EXPECT_EQ(SSL_set_session(ssl_.get(), o.session), 1);
  }
  if (o.client_cert != nullptr) {
    EXPECT_EQ(SSL_use_certificate(ssl_.get(), o.client_cert), 1);
    EXPECT_EQ(SSL_use_PrivateKey(ssl_.get(), o.client_key), 1);
    for (X509* c : o.client_chain) {
      EXPECT_EQ(SSL_add1_chain_cert(ssl_.get(), c), 1);
    }
  }
  if (o.configure) {
    o.configure(ssl_.get());
  }
}

TestClient::~TestClient() {
  ssl_.reset();
  BIO_free(net_);
}

Bytes TestClient::TakeOutput() {
  Bytes out(static_cast<size_t>(BIO_ctrl_pending(net_)));
  if (!out.empty()) {
    EXPECT_EQ(BIO_read(net_, out.data(), static_cast<int>(out.size())),
              static_cast<int>(out.size()));
  }
  return out;
}

void TestClient::Deliver(const Bytes& bytes) {
  if (!bytes.empty()) {
    EXPECT_EQ(BIO_write(net_, bytes.data(), static_cast<int>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
}

Bytes TestClient::Step() {
  const int r = SSL_do_handshake(ssl_.get());
  if (r <= 0) {
    const int err = SSL_get_error(ssl_.get(), r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      failed_ = true;
    }
    ERR_clear_error();
  }
  return TakeOutput();
}

// ---- driving a handshake ----

Exchange RunHandshake(TestClient& client, ServerHandshake& server, size_t piece,
                      const Tamper& tamper) {
  Exchange ex;
  size_t flight = 0;
  for (int i = 0; i < 32; ++i) {
    Bytes c = client.Step();
    if (!c.empty() && server.state() == HandshakeState::kNeedMore) {
      if (tamper) {
        tamper(flight, &c);
      }
      ++flight;
      Append(&ex.client_wire, c);
      Bytes out;
      if (piece == 0) {
        ex.server = server.feed(c, &out);
      } else {
        for (size_t off = 0; off < c.size(); off += piece) {
          const size_t n = std::min(piece, c.size() - off);
          ex.server =
              server.feed(std::span<const uint8_t>(c).subspan(off, n), &out);
          if (ex.server.state != HandshakeState::kNeedMore) {
            break;
          }
        }
      }
      Append(&ex.server_wire, out);
      client.Deliver(out);
    }
    if (server.state() == HandshakeState::kDone && !ex.server_done) {
      ex.server_done = server.take_result(&ex.result);
    }
    if (client.failed()) {
      break;
    }
    if (server.state() == HandshakeState::kFailed) {
      // Let the client read the alert: in its handshake, or after it when
      // it had already finished (a rejected client Finished).
      if (client.handshake_done()) {
        uint8_t byte = 0;
        SSL_read(client.ssl(), &byte, 1);
        ERR_clear_error();
      } else {
        client.Step();
      }
      break;
    }
    if (client.handshake_done() && server.state() == HandshakeState::kDone) {
      break;
    }
  }
  return ex;
}

// ---- records ----

std::vector<Record> SplitRecords(const Bytes& wire) {
  std::vector<Record> out;
  size_t off = 0;
  while (off + 5 <= wire.size()) {
    const size_t len = (size_t{wire[off + 3]} << 8) | wire[off + 4];
    if (off + 5 + len > wire.size()) {
      break;
    }
    Record r;
    r.type = wire[off];
    r.header.assign(wire.begin() + static_cast<long>(off),
                    wire.begin() + static_cast<long>(off + 5));
    r.body.assign(wire.begin() + static_cast<long>(off + 5),
                  wire.begin() + static_cast<long>(off + 5 + len));
    out.push_back(std::move(r));
    off += 5 + len;
  }
  return out;
}

Bytes JoinRecords(const std::vector<Record>& records) {
  Bytes out;
  for (const Record& r : records) {
    Bytes header = r.header;
    header[3] = static_cast<uint8_t>(r.body.size() >> 8);
    header[4] = static_cast<uint8_t>(r.body.size());
    Append(&out, header);
    Append(&out, r.body);
  }
  return out;
}

EvpRecordCipher::EvpRecordCipher(const CipherSuiteInfo& suite,
                                 const Bytes& secret) {
  switch (suite.aead) {
    case crypto::AeadAlg::kAes128Gcm:
      cipher_ = EVP_aes_128_gcm();
      break;
    case crypto::AeadAlg::kAes256Gcm:
      cipher_ = EVP_aes_256_gcm();
      break;
    case crypto::AeadAlg::kChaCha20Poly1305:
      cipher_ = EVP_chacha20_poly1305();
      break;
  }
  TrafficKeys keys;
  EXPECT_EQ(derive_traffic_keys(suite.hash, suite.aead, secret, &keys),
            KdfStatus::kOk);
  key_.assign(keys.key.begin(), keys.key.begin() + keys.key_len);
  iv_.assign(keys.iv.begin(), keys.iv.end());
}

Bytes EvpRecordCipher::Seal(ContentType type, const Bytes& content,
                            size_t padding) {
  Bytes inner = content;
  inner.push_back(static_cast<uint8_t>(type));
  inner.resize(inner.size() + padding, 0);
  Bytes header = {23, 3, 3};
  Put16(&header, inner.size() + 16);
  Bytes ct(inner.size());
  uint8_t tag[16];
  EXPECT_TRUE(Crypt(true, header, inner, &ct, tag));
  Bytes rec = header;
  Append(&rec, ct);
  rec.insert(rec.end(), tag, tag + 16);
  return rec;
}

bool EvpRecordCipher::Open(const Record& record, ContentType* type,
                           Bytes* content) {
  if (record.body.size() < 17) {
    return false;
  }
  Bytes ct(record.body.begin(), record.body.end() - 16);
  Bytes tag(record.body.end() - 16, record.body.end());
  Bytes inner(ct.size());
  if (!Crypt(false, record.header, ct, &inner, tag.data())) {
    return false;
  }
  while (!inner.empty() && inner.back() == 0) {
    inner.pop_back();
  }
  if (inner.empty()) {
    return false;
  }
  *type = static_cast<ContentType>(inner.back());
  inner.pop_back();
  *content = std::move(inner);
  return true;
}

bool EvpRecordCipher::Crypt(bool seal, const Bytes& header, const Bytes& in,
                            Bytes* out, uint8_t* tag) {
  uint8_t nonce[12];
  std::memcpy(nonce, iv_.data(), 12);
  for (int i = 0; i < 8; ++i) {
    nonce[11 - i] ^= static_cast<uint8_t>(seq_ >> (8 * i));
  }
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  const int enc = seal ? 1 : 0;
  bool ok =
      EVP_CipherInit_ex(ctx, cipher_, nullptr, key_.data(), nonce, enc) == 1 &&
      EVP_CipherUpdate(ctx, nullptr, &n, header.data(),
                       static_cast<int>(header.size())) == 1 &&
      EVP_CipherUpdate(ctx, out->data(), &n, in.data(),
                       static_cast<int>(in.size())) == 1;
  if (ok && !seal) {
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1;
  }
  uint8_t fin[16];
  ok = ok && EVP_CipherFinal_ex(ctx, fin, &n) == 1;
  if (ok && seal) {
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
  }
  EVP_CIPHER_CTX_free(ctx);
  if (ok) {
    ++seq_;
  }
  return ok;
}

// ---- hand-built ClientHellos ----

Bytes SupportedVersionsBody(const std::vector<uint16_t>& versions) {
  Bytes b;
  Put8(&b, versions.size() * 2);
  for (uint16_t v : versions) {
    Put16(&b, v);
  }
  return b;
}

Bytes U16ListBody(const std::vector<uint16_t>& values) {
  Bytes b;
  Put16(&b, values.size() * 2);
  for (uint16_t v : values) {
    Put16(&b, v);
  }
  return b;
}

Bytes KeyShareBody(const std::vector<std::pair<uint16_t, Bytes>>& shares) {
  Bytes list;
  for (const auto& [group, key] : shares) {
    Put16(&list, group);
    Put16(&list, key.size());
    Append(&list, key);
  }
  Bytes b;
  Put16(&b, list.size());
  Append(&b, list);
  return b;
}

Bytes SniBody(const std::string& host) {
  Bytes entry = {0};
  Put16(&entry, host.size());
  entry.insert(entry.end(), host.begin(), host.end());
  Bytes b;
  Put16(&b, entry.size());
  Append(&b, entry);
  return b;
}

Bytes AlpnBody(const std::vector<std::string>& names) {
  Bytes list;
  for (const std::string& n : names) {
    Put8(&list, n.size());
    list.insert(list.end(), n.begin(), n.end());
  }
  Bytes b;
  Put16(&b, list.size());
  Append(&b, list);
  return b;
}

Bytes PublicShare(NamedGroup group, Ptr<EVP_PKEY>* out_key) {
  Ptr<EVP_PKEY> key(group == NamedGroup::kX25519
                        ? EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519")
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC",
                                            group == NamedGroup::kSecp256r1
                                                ? "P-256"
                                                : "P-384"));
  Bytes pub(97);
  size_t len = 0;
  if (group == NamedGroup::kX25519) {
    len = pub.size();
    EXPECT_EQ(EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len), 1);
  } else {
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(
                  key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub.data(),
                  pub.size(), &len),
              1);
  }
  pub.resize(len);
  if (out_key != nullptr) {
    *out_key = std::move(key);
  }
  return pub;
}

ChBuilder::ChBuilder() {
  extensions = {
      {0, SniBody("server.test")},
      {10, U16ListBody({0x001d, 0x0017})},
      {13, U16ListBody({0x0403, 0x0804, 0x0805, 0x0807})},
      {43, SupportedVersionsBody({0x0304})},
      {45, Bytes{1, 1}},
      {51, KeyShareBody({{0x001d, PublicShare(NamedGroup::kX25519, &x25519)}})},
  };
}

void ChBuilder::Set(uint16_t type, const Bytes& body) {
  if (Bytes* b = Find(type)) {
    *b = body;
  } else {
    extensions.emplace_back(type, body);
  }
}

void ChBuilder::Prepend(uint16_t type, const Bytes& body) {
  extensions.emplace_back(type, body);
  std::rotate(extensions.rbegin(), extensions.rbegin() + 1, extensions.rend());
}

void ChBuilder::Remove(uint16_t type) {
  extensions.erase(
      std::remove_if(extensions.begin(), extensions.end(),
                     [type](const auto& e) { return e.first == type; }),
      extensions.end());
}

Bytes* ChBuilder::Find(uint16_t type) {
  for (auto& e : extensions) {
    if (e.first == type) {
      return &e.second;
    }
  }
  return nullptr;
}

Bytes ChBuilder::Message() const {
  Bytes body;
  Put16(&body, legacy_version);
  Append(&body, random);
  Put8(&body, session_id.size());
  Append(&body, session_id);
  Put16(&body, suites.size() * 2);
  for (uint16_t s : suites) {
    Put16(&body, s);
  }
  Put8(&body, compression.size());
  Append(&body, compression);
  if (!no_extension_block) {
    Bytes exts;
    for (const auto& [type, ext] : extensions) {
      Put16(&exts, type);
      Put16(&exts, ext.size());
      Append(&exts, ext);
    }
    Put16(&body, exts.size());
    Append(&body, exts);
  }
  Bytes msg = {1};
  Put24(&msg, body.size());
  Append(&msg, body);
  return msg;
}

Bytes ChBuilder::Record() const {
  const Bytes msg = Message();
  Bytes rec = {22, 3, 1};
  Put16(&rec, msg.size());
  Append(&rec, msg);
  return rec;
}

Bytes Cat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  Append(&out, b);
  return out;
}

Bytes Sub(const Bytes& b, size_t off, size_t n) {
  return Bytes(b.begin() + static_cast<long>(off),
               b.begin() + static_cast<long>(off + n));
}

int TrailingPlaintextAlert(const Bytes& wire) {
  const std::vector<Record> records = SplitRecords(wire);
  if (records.empty() || records.back().type != 21 ||
      records.back().body.size() != 2) {
    return -1;
  }
  return records.back().body[1];
}

ServerRun FeedFresh(std::shared_ptr<const ServerContext> ctx,
                    const Bytes& bytes) {
  ServerHandshake hs(std::move(ctx), Backend());
  ServerRun run;
  run.result = hs.feed(bytes, &run.out);
  return run;
}

}  // namespace dptls::tls::testing
