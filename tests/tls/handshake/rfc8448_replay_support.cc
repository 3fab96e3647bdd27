#include "tls/handshake/rfc8448_replay_support.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "dptls/tls/record_engine.h"
#include "support/aead_test_support.h"

namespace dptls::tls::testing {

namespace {

using ::dptls::crypto::testing::HexDecode;
using ::dptls::crypto::testing::VectorsDir;

// Section 2's parameters, by label ("modulus (public)", "prime1", ...):
// "label:  hex" lines and their hex continuations, across page breaks.
std::map<std::string, Bytes> Section2Parameters() {
  std::ifstream in(VectorsDir() / "rfc8448" / "rfc8448.txt");
  std::stringstream ss;
  ss << in.rdbuf();
  static const std::regex kStart(
      R"(^   ([a-z0-9 ()]+):\s+([0-9a-f]{2}( [0-9a-f]{2})*)\s*$)");
  static const std::regex kHex(R"(^\s+([0-9a-f]{2}( [0-9a-f]{2})*)\s*$)");
  std::map<std::string, Bytes> params;
  std::string line;
  bool inside = false;
  std::string current;
  auto append = [&](const std::string& hex) {
    std::string compact;
    for (char c : hex) {
      if (c != ' ') {
        compact.push_back(c);
      }
    }
    Bytes b;
    if (!HexDecode(compact, &b)) {
      ADD_FAILURE() << "bad hex in section 2: " << hex;
    }
    params[current].insert(params[current].end(), b.begin(), b.end());
  };
  while (std::getline(ss, line)) {
    if (line.rfind("2.  Private Keys", 0) == 0) {
      inside = true;
      continue;
    }
    if (line.rfind("3.  Simple 1-RTT", 0) == 0) {
      break;
    }
    if (!inside) {
      continue;
    }
    std::smatch m;
    if (std::regex_match(line, m, kStart)) {
      current = m[1].str();
      append(m[2].str());
    } else if (!current.empty() && std::regex_match(line, m, kHex)) {
      append(m[1].str());
    }
  }
  return params;
}

}  // namespace

const Rfc8448Trace& Trace() {
  static const Rfc8448Trace* trace = [] {
    auto* t = new Rfc8448Trace;
    std::string error;
    if (!LoadRfc8448(t, &error)) {
      ADD_FAILURE() << error;
    }
    return t;
  }();
  return *trace;
}

Bytes Field(int section, const char* who, const std::string& action,
            const char* label, size_t nth) {
  const auto steps = Trace().find(section, who, action);
  if (steps.size() <= nth || steps[nth]->field(label) == nullptr) {
    ADD_FAILURE() << "RFC 8448 section " << section << ": no {" << who << "} '"
                  << action << "' #" << nth << " field '" << label << "'";
    return {};
  }
  return steps[nth]->field(label)->value;
}

Bytes TraceSecret(int section, const char* label) {
  return Field(section, "server",
               std::string("derive secret \"tls13 ") + label + "\"",
               "expanded");
}

Ptr<EVP_PKEY> Section2RsaKey() {
  const std::map<std::string, Bytes> p = Section2Parameters();
  // The RFC's labels and the OpenSSL 3 parameter each one is.
  const std::pair<const char*, const char*> kNames[] = {
      {"modulus (public)", OSSL_PKEY_PARAM_RSA_N},
      {"public exponent", OSSL_PKEY_PARAM_RSA_E},
      {"private exponent", OSSL_PKEY_PARAM_RSA_D},
      {"prime1", OSSL_PKEY_PARAM_RSA_FACTOR1},
      {"prime2", OSSL_PKEY_PARAM_RSA_FACTOR2},
      {"exponent1", OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {"exponent2", OSSL_PKEY_PARAM_RSA_EXPONENT2},
      {"coefficient", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
  };
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::vector<BIGNUM*> bns;
  bool ok = bld != nullptr;
  for (const auto& [label, name] : kNames) {
    const auto it = p.find(label);
    if (it == p.end() || it->second.empty()) {
      ADD_FAILURE() << "RFC 8448 section 2: no '" << label << "'";
      ok = false;
      break;
    }
    BIGNUM* bn = BN_bin2bn(it->second.data(),
                           static_cast<int>(it->second.size()), nullptr);
    bns.push_back(bn);
    ok = ok && bn != nullptr && OSSL_PARAM_BLD_push_BN(bld, name, bn) == 1;
  }
  // 1024 bits: a modulus of 128 octets.
  const auto n = p.find("modulus (public)");
  EXPECT_TRUE(n != p.end() && n->second.size() == 128);
  OSSL_PARAM* params = ok ? OSSL_PARAM_BLD_to_param(bld) : nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* key = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1) {
    ADD_FAILURE() << "EVP_PKEY_fromdata refused RFC 8448's RSA key";
    key = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  for (BIGNUM* bn : bns) {
    BN_clear_free(bn);
  }
  Ptr<EVP_PKEY> out(key);
  if (out != nullptr) {
    // The primes, exponents and coefficient are consistent with n and d.
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
    EXPECT_EQ(EVP_PKEY_pairwise_check(check), 1);
    EXPECT_EQ(EVP_PKEY_private_check(check), 1);
    EVP_PKEY_CTX_free(check);
  }
  return out;
}

std::vector<Bytes> CertificatesOf(const Bytes& msg) {
  // Handshake header (4), certificate_request_context<0..255>,
  // certificate_list<0..2^24-1> of (cert_data<1..2^24-1>,
  // extensions<0..2^16-1>).
  std::vector<Bytes> out;
  size_t at = 4;
  auto u24 = [&](size_t i) {
    return (size_t{msg[i]} << 16) | (size_t{msg[i + 1]} << 8) | msg[i + 2];
  };
  if (msg.size() < 5 || msg[0] != 11) {
    ADD_FAILURE() << "not a Certificate message";
    return out;
  }
  at += 1 + msg[4];
  if (at + 3 > msg.size()) {
    ADD_FAILURE() << "truncated Certificate";
    return out;
  }
  const size_t end = at + 3 + u24(at);
  at += 3;
  while (at < end && end <= msg.size()) {
    if (at + 3 > end) {
      break;
    }
    const size_t len = u24(at);
    at += 3;
    if (at + len + 2 > end) {
      break;
    }
    out.emplace_back(msg.begin() + static_cast<ptrdiff_t>(at),
                     msg.begin() + static_cast<ptrdiff_t>(at + len));
    at += len;
    at += 2 + ((size_t{msg[at]} << 8) | msg[at + 1]);
  }
  if (at != end || end != msg.size() || out.empty()) {
    ADD_FAILURE() << "malformed Certificate";
    out.clear();
  }
  return out;
}

TestSigner TraceSigner(const Bytes& leaf_der, const Bytes& cv, SignerLog* log,
                       bool mismatch_is_failure) {
  return [leaf_der, cv, log, mismatch_is_failure](
             SignatureScheme scheme, std::span<const uint8_t> content,
             std::vector<uint8_t>* sig) {
    if (log != nullptr) {
      ++log->calls;
    }
    // CertificateVerify: header (4), scheme (2), signature<0..2^16-1>.
    if (cv.size() < 8 || cv[0] != 15) {
      ADD_FAILURE() << "not a CertificateVerify";
      return false;
    }
    const uint16_t trace_scheme = static_cast<uint16_t>((cv[4] << 8) | cv[5]);
    const Bytes trace_sig(cv.begin() + 8, cv.end());
    if (static_cast<uint16_t>(scheme) != trace_scheme) {
      ADD_FAILURE() << "our scheme " << static_cast<uint16_t>(scheme)
                    << " is not the trace's " << trace_scheme;
      return false;
    }
    const uint8_t* p = leaf_der.data();
    Ptr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(leaf_der.size())));
    EVP_PKEY* pub = cert != nullptr ? X509_get0_pubkey(cert.get()) : nullptr;
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = pub != nullptr && md != nullptr &&
              EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), nullptr, pub) == 1;
    if (ok && scheme == SignatureScheme::kRsaPssRsaeSha256) {
      ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    } else if (ok && scheme != SignatureScheme::kEcdsaSecp256r1Sha256) {
      ADD_FAILURE() << "TraceSigner: unexpected scheme";
      ok = false;
    }
    ok = ok && EVP_DigestVerify(md, trace_sig.data(), trace_sig.size(),
                                content.data(), content.size()) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
      ERR_clear_error();
      if (!mismatch_is_failure) {
        return false;
      }
      ADD_FAILURE() << "the trace's CertificateVerify signature does not "
                       "verify over the content we sign: our transcript "
                       "differs from the trace's";
      return false;
    }
    if (log != nullptr) {
      log->verified = true;
    }
    sig->assign(trace_sig.begin(), trace_sig.end());
    return true;
  };
}

KeylogMap ExpectedKeylog(int section) {
  return {
      {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", TraceSecret(section, "c hs traffic")},
      {"SERVER_HANDSHAKE_TRAFFIC_SECRET", TraceSecret(section, "s hs traffic")},
      {"CLIENT_TRAFFIC_SECRET_0", TraceSecret(section, "c ap traffic")},
      {"SERVER_TRAFFIC_SECRET_0", TraceSecret(section, "s ap traffic")},
      {"EXPORTER_SECRET", TraceSecret(section, "exp master")},
  };
}

namespace {

// Records what the engine delivers.
class LogSink : public RecordSink {
 public:
  explicit LogSink(EngineReplayLog* log) : log_(log) {}
  void on_data(RecordConn&, std::span<const crypto::IoSegment> data) override {
    for (const crypto::IoSegment& seg : data) {
      log_->data.insert(log_->data.end(), seg.data, seg.data + seg.len);
    }
  }
  void on_post_handshake(RecordConn&,
                         std::span<const uint8_t> message) override {
    log_->post_handshake.emplace_back(message.begin(), message.end());
  }
  void on_key_update(RecordConn&, bool) override {
    ADD_FAILURE() << "unexpected KeyUpdate";
  }
  void on_close_notify(RecordConn&) override { log_->close_notify = true; }
  void on_error(RecordConn&, Alert alert, bool from_peer) override {
    ADD_FAILURE() << "record engine error: " << alert_name(alert)
                  << (from_peer ? " (from the peer)" : "");
  }

 private:
  EngineReplayLog* log_;
};

void NoRelease(void*, void*) {}

// The last step of `section` by `who` doing `action`, field `label`.
Bytes LastField(int section, const char* who, const char* action,
                const char* label) {
  const auto steps = Trace().find(section, who, action);
  if (steps.empty() || steps.back()->field(label) == nullptr) {
    ADD_FAILURE() << "RFC 8448 section " << section << ": no {" << who << "} '"
                  << action << "' field '" << label << "'";
    return {};
  }
  return steps.back()->field(label)->value;
}

}  // namespace

void ExpectTraceApplicationRecords(int section, const HandshakeResult& res,
                                   const Bytes& peer_prefix,
                                   EngineReplayLog* log) {
  const char* self = res.is_client ? "client" : "server";
  const char* peer = res.is_client ? "server" : "client";
  RecordEngine engine(Backend(), RecordConfig{});
  RecordConn conn;
  ASSERT_TRUE(engine.install(conn, res.suite, res.rx(), res.tx(),
                             res.peer_record_size_limit,
                             res.own_record_size_limit));

  // Ours: the application data, then close_notify.
  const Bytes plain =
      LastField(section, self, "send application_data record", "payload");
  ASSERT_FALSE(plain.empty());
  Bytes buf(plain.size() + RecordEngine::kSealOverhead);
  std::copy(plain.begin(), plain.end(), buf.begin() + kRecordHeaderLen);
  const size_t n = engine.queue_seal(conn, ContentType::kApplicationData,
                                     buf.data(), plain.size(), buf.size());
  ASSERT_NE(n, 0u);
  EXPECT_EQ(engine.seal_flush(), 1u);
  EXPECT_EQ(
      crypto::testing::HexEncode({buf.data(), n}),
      crypto::testing::HexEncode(LastField(
          section, self, "send application_data record", "complete record")))
      << "section " << section << " " << self << " application data";
  Bytes alert(2 + RecordEngine::kSealOverhead);
  const size_t an =
      engine.write_alert(conn, Alert::kCloseNotify, alert.data(), alert.size());
  ASSERT_NE(an, 0u);
  EXPECT_EQ(crypto::testing::HexEncode({alert.data(), an}),
            crypto::testing::HexEncode(LastField(
                section, self, "send alert record", "complete record")))
      << "section " << section << " " << self << " close_notify";

  // The peer's: opened where they lie.
  Bytes in = peer_prefix;
  for (const char* action :
       {"send application_data record", "send alert record"}) {
    const Bytes r = LastField(section, peer, action, "complete record");
    in.insert(in.end(), r.begin(), r.end());
  }
  ASSERT_TRUE(
      conn.rx.push({in.data(), static_cast<uint32_t>(in.size()), nullptr}));
  LogSink sink(log);
  engine.collect(conn);
  engine.open_flush(sink, &NoRelease, nullptr);
  EXPECT_EQ(crypto::testing::HexEncode(log->data),
            crypto::testing::HexEncode(LastField(
                section, peer, "send application_data record", "payload")))
      << "section " << section << " " << peer << " application data";
  EXPECT_TRUE(log->close_notify);
  EXPECT_TRUE(conn.rx_closed());
  conn.reset(&NoRelease, nullptr);
}

}  // namespace dptls::tls::testing
