// The key schedule, transcript hash, traffic keys, Finished, PSK binder and
// resumption PSK reproduced byte for byte from RFC 8448's traces. Every
// expected value and every handshake message is read from the RFC text
// (tests/vectors/rfc8448/rfc8448.txt) by rfc8448_trace.cc; nothing is
// pasted here.
//
//  - EveryHkdfStepOfTheRfc...: each Extract, Expand-Label (with its encoded
//    HkdfLabel "info"), traffic key/IV and binder the RFC prints, in all
//    five traces, from the inputs printed next to it.
//  - Section3/4/5/6/7...: the whole handshake walked with KeySchedule and
//    Transcript fed the RFC's messages, checking every transcript hash,
//    secret, key, IV and verify_data against the trace, plus the pieces
//    particular to each (ticket PSK, binder, 0-RTT keys, HelloRetryRequest).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "dptls/tls/hkdf.h"
#include "dptls/tls/key_schedule.h"
#include "dptls/tls/transcript.h"
#include "dptls/util/bytes.h"
#include "support/aead_test_support.h"
#include "tls/rfc8448_trace.h"

namespace dptls::tls {
namespace {

using ::dptls::crypto::AeadAlg;
using ::dptls::crypto::testing::HexEncode;
using testing::Bytes;
using testing::Rfc8448Trace;
using testing::TraceField;
using testing::TraceStep;

constexpr HashAlg kSha256 = HashAlg::kSha256;

std::string Hex(std::span<const uint8_t> b) { return HexEncode(b); }

class Rfc8448Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    trace_ = new Rfc8448Trace;
    std::string error;
    loaded_ = testing::LoadRfc8448(trace_, &error);
    error_ = new std::string(error);
  }
  static void TearDownTestSuite() {
    delete trace_;
    delete error_;
  }
  void SetUp() override { ASSERT_TRUE(loaded_) << *error_; }

  // The one step of `section` by `who` doing `action` (the `nth` when the
  // RFC has several, e.g. two ClientHellos in section 5). Records a failure
  // and returns nullptr when there is no such step.
  static const TraceStep* Step(int section, const char* who,
                               const std::string& action, size_t nth = 0) {
    const auto steps = trace_->find(section, who, action);
    if (steps.size() <= nth) {
      ADD_FAILURE() << "RFC 8448 section " << section << ": no {" << who
                    << "} step '" << action << "' #" << nth;
      return nullptr;
    }
    return steps[nth];
  }

  // A field of that step, or an empty vector and a recorded failure.
  static Bytes Value(int section, const char* who, const std::string& action,
                     const char* label, size_t nth = 0) {
    const TraceStep* step = Step(section, who, action, nth);
    if (step == nullptr) {
      return {};
    }
    const TraceField* f = step->field(label);
    if (f == nullptr) {
      ADD_FAILURE() << "RFC 8448 line " << step->line << ": no field '" << label
                    << "' in '" << action << "'";
      return {};
    }
    return f->value;
  }

  // A handshake message the RFC constructs ("construct a Certificate
  // handshake message" -> field "Certificate").
  static Bytes Message(int section, const char* who, const std::string& type,
                       size_t nth = 0) {
    const char* article = (type[0] == 'E' || type[0] == 'A') ? "an " : "a ";
    return Value(
        section, who,
        "construct " + std::string(article) + type + " handshake message",
        type.c_str(), nth);
  }

  static Rfc8448Trace* trace_;
  static std::string* error_;
  static bool loaded_;
};

Rfc8448Trace* Rfc8448Test::trace_ = nullptr;
std::string* Rfc8448Test::error_ = nullptr;
bool Rfc8448Test::loaded_ = false;

std::span<const uint8_t> Body(const Bytes& message) {
  return std::span<const uint8_t>(message).subspan(4);
}

std::string Quoted(const char* label) {
  return std::string("\"tls13 ") + label + "\"";
}

// ---------------------------------------------------------------------------
// Every HKDF computation the RFC prints, from the inputs it prints.

TEST_F(Rfc8448Test, EveryHkdfStepOfTheRfcReproducesFromItsInputs) {
  size_t extracts = 0;
  size_t expands = 0;
  size_t key_steps = 0;
  size_t binders = 0;
  for (const TraceStep& step : trace_->steps) {
    SCOPED_TRACE(::testing::Message() << "RFC 8448 line " << step.line << " {"
                                      << step.who << "} " << step.action);
    const TraceField* prk = step.field("PRK");
    const TraceField* ikm = step.field("IKM");
    if (ikm != nullptr) {
      // {..}  extract secret "...": salt, IKM, secret.
      const TraceField* salt = step.field("salt");
      const TraceField* secret = step.field("secret");
      ASSERT_NE(salt, nullptr);
      ASSERT_NE(secret, nullptr);
      ASSERT_TRUE(salt->all_zero_salt || !salt->value.empty());
      Secret out;
      ASSERT_EQ(hkdf_extract(kSha256, salt->value, ikm->value, &out),
                KdfStatus::kOk);
      EXPECT_EQ(Hex(out.span()), Hex(secret->value));
      ++extracts;
      continue;
    }
    if (prk == nullptr) {
      continue;  // messages, records, key pairs
    }
    if (const TraceField* key = step.field("key expanded")) {
      // {..}  derive write/read traffic keys: "key info", "key expanded",
      // "iv info", "iv expanded" from the traffic secret in PRK.
      const TraceField* key_info = step.field("key info");
      const TraceField* iv_info = step.field("iv info");
      const TraceField* iv = step.field("iv expanded");
      ASSERT_NE(key_info, nullptr);
      ASSERT_NE(iv_info, nullptr);
      ASSERT_NE(iv, nullptr);
      ASSERT_EQ(key->value.size(), 16u) << "every RFC 8448 trace is AES-128";
      uint8_t info[kMaxHkdfLabelLen];
      ByteWriter w(info);
      ASSERT_EQ(build_hkdf_label(16, "key", {}, &w), KdfStatus::kOk);
      EXPECT_EQ(Hex(w.written()), Hex(key_info->value));
      ByteWriter w2(info);
      ASSERT_EQ(build_hkdf_label(12, "iv", {}, &w2), KdfStatus::kOk);
      EXPECT_EQ(Hex(w2.written()), Hex(iv_info->value));
      TrafficKeys keys;
      ASSERT_EQ(
          derive_traffic_keys(kSha256, AeadAlg::kAes128Gcm, prk->value, &keys),
          KdfStatus::kOk);
      EXPECT_EQ(Hex(keys.key_span()), Hex(key->value));
      EXPECT_EQ(Hex(keys.iv_span()), Hex(iv->value));
      ++key_steps;
      continue;
    }
    // Expand-Label steps: PRK, hash (the context), info, expanded.
    const TraceField* hash = step.field("hash");
    const TraceField* info_field = step.field("info");
    const TraceField* expanded = step.field("expanded");
    ASSERT_NE(hash, nullptr);
    ASSERT_NE(info_field, nullptr);
    ASSERT_NE(expanded, nullptr);
    std::string label = step.quoted_label();
    const TraceField* binder_hash = step.field("binder hash");
    if (binder_hash != nullptr) {
      label = "finished";  // "calculate PSK binder": labelled as Finished
    }
    ASSERT_FALSE(label.empty()) << "no label in the action";
    uint8_t info[kMaxHkdfLabelLen];
    ByteWriter w(info);
    ASSERT_EQ(build_hkdf_label(expanded->value.size(), label, hash->value, &w),
              KdfStatus::kOk);
    EXPECT_EQ(Hex(w.written()), Hex(info_field->value)) << "HkdfLabel";
    std::vector<uint8_t> out(expanded->value.size());
    ASSERT_EQ(hkdf_expand_label(kSha256, prk->value, label, hash->value, out),
              KdfStatus::kOk);
    EXPECT_EQ(Hex(out), Hex(expanded->value));
    ++expands;
    if (label == "finished") {
      Secret finished_key;
      ASSERT_EQ(derive_finished_key(kSha256, prk->value, &finished_key),
                KdfStatus::kOk);
      EXPECT_EQ(Hex(finished_key.span()), Hex(expanded->value));
    }
    if (binder_hash != nullptr) {
      // binder = HMAC(finished_key(binder_key), Hash(Truncated(CH))).
      const TraceField* binder = step.field("finished");
      ASSERT_NE(binder, nullptr);
      Secret computed;
      ASSERT_EQ(compute_psk_binder(kSha256, prk->value, binder_hash->value,
                                   &computed),
                KdfStatus::kOk);
      EXPECT_EQ(Hex(computed.span()), Hex(binder->value));
      ++binders;
    }
  }
  // All of them, in all five traces (3 to 7): a step the loop skipped
  // would show here.
  EXPECT_EQ(extracts, 15u);
  EXPECT_EQ(expands, 59u);
  EXPECT_EQ(key_steps, 21u);
  EXPECT_EQ(binders, 1u);
}

// ---------------------------------------------------------------------------
// Whole handshakes through KeySchedule + Transcript.

// What a section's trace needs besides its messages.
struct Walk {
  int section = 0;
  Bytes psk;                  // empty: no PSK
  const char* early_by = "";  // who prints extract secret "early"
  // Messages in the order they enter the transcript. A HelloRetryRequest
  // is recognised by its random and triggers the message_hash rule.
  std::vector<Bytes> messages;
  // Filled by the walk for the section-specific checks.
  Secret early_secret;
  Secret resumption_master;
};

// The SHA-256 of "HelloRetryRequest": a ServerHello with this random is a
// HelloRetryRequest (RFC 8446 section 4.1.3).
const Bytes kHrrRandom = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11,
                          0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
                          0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
                          0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

bool IsHelloRetryRequest(const Bytes& message) {
  // type(1) length(3) legacy_version(2) random(32)
  return message.size() >= 38 && message[0] == 2 &&
         Bytes(message.begin() + 6, message.begin() + 38) == kHrrRandom;
}

class HandshakeWalkTest : public Rfc8448Test {
 protected:
  // Feeds the messages to a Transcript and walks the KeySchedule alongside,
  // checking each value the trace prints for that point of the handshake.
  void WalkHandshake(Walk* walk) {
    const int s = walk->section;
    SCOPED_TRACE(::testing::Message() << "RFC 8448 section " << s);
    const auto derive_step = [](const char* label) {
      return "derive secret " + Quoted(label);
    };

    // Early Secret.
    KeySchedule ks;
    ASSERT_EQ(ks.start(kSha256, walk->psk), KdfStatus::kOk);
    EXPECT_EQ(
        Hex(ks.stage_secret()),
        Hex(Value(s, walk->early_by, "extract secret \"early\"", "secret")));
    walk->early_secret.assign(ks.stage_secret());
    // "derived" for the handshake secret: Derive-Secret(early, "derived",
    // "") is the salt of the next Extract.
    HashValue empty_hash;
    ASSERT_EQ(hash_bytes(kSha256, {}, &empty_hash), KdfStatus::kOk);
    Secret derived;
    ASSERT_EQ(derive_secret(kSha256, ks.stage_secret(), "derived",
                            empty_hash.span(), &derived),
              KdfStatus::kOk);
    EXPECT_EQ(Hex(derived.span()),
              Hex(Value(s, "server",
                        "derive secret for handshake " + Quoted("derived"),
                        "expanded")));
    EXPECT_EQ(Hex(derived.span()),
              Hex(Value(s, "server", "extract secret \"handshake\"", "salt")));

    Transcript transcript;
    ASSERT_EQ(transcript.init(kSha256), KdfStatus::kOk);
    Secret c_hs;
    Secret s_hs;
    HashValue h;
    int finished_seen = 0;
    bool saw_hrr = false;
    for (const Bytes& m : walk->messages) {
      ASSERT_GE(m.size(), 4u);
      const uint8_t type = m[0];
      if (type == 20) {
        // Finished: verify_data = HMAC(finished_key(base), hash so far).
        const bool server = finished_seen == 0;
        const char* who = server ? "server" : "client";
        const Secret& base = server ? s_hs : c_hs;
        SCOPED_TRACE(who);
        ASSERT_EQ(transcript.current_hash(&h), KdfStatus::kOk);
        const std::string step = "calculate finished " + Quoted("finished");
        Secret finished_key;
        ASSERT_EQ(derive_finished_key(kSha256, base.span(), &finished_key),
                  KdfStatus::kOk);
        EXPECT_EQ(Hex(finished_key.span()),
                  Hex(Value(s, who, step, "expanded")));
        Secret verify_data;
        ASSERT_EQ(
            compute_verify_data(kSha256, base.span(), h.span(), &verify_data),
            KdfStatus::kOk);
        EXPECT_EQ(Hex(verify_data.span()),
                  Hex(Value(s, who, step, "finished")));
        EXPECT_EQ(Hex(verify_data.span()), Hex(Body(m)))
            << "the Finished message the RFC sends";
        EXPECT_EQ(verify_finished(kSha256, base.span(), h.span(), Body(m)),
                  KdfStatus::kOk);
        ++finished_seen;
      }
      if (type == 2 && IsHelloRetryRequest(m)) {
        // RFC 8446 section 4.4.1: ClientHello1 becomes message_hash.
        ASSERT_EQ(transcript.replace_with_message_hash(), KdfStatus::kOk);
        saw_hrr = true;
      }
      ASSERT_EQ(transcript.add(m), KdfStatus::kOk);

      if (type == 2 && !IsHelloRetryRequest(m)) {
        // After ServerHello: handshake traffic secrets.
        ASSERT_EQ(transcript.current_hash(&h), KdfStatus::kOk);
        EXPECT_EQ(Hex(h.span()),
                  Hex(Value(s, "server", derive_step("c hs traffic"), "hash")))
            << "Transcript-Hash(ClientHello..ServerHello)";
        const Bytes dhe =
            Value(s, "server", "extract secret \"handshake\"", "IKM");
        ASSERT_EQ(ks.advance_to_handshake(dhe), KdfStatus::kOk);
        EXPECT_EQ(
            Hex(ks.stage_secret()),
            Hex(Value(s, "server", "extract secret \"handshake\"", "secret")));
        ASSERT_EQ(
            ks.derive(SecretLabel::kClientHandshakeTraffic, h.span(), &c_hs),
            KdfStatus::kOk);
        ASSERT_EQ(
            ks.derive(SecretLabel::kServerHandshakeTraffic, h.span(), &s_hs),
            KdfStatus::kOk);
        EXPECT_EQ(
            Hex(c_hs.span()),
            Hex(Value(s, "server", derive_step("c hs traffic"), "expanded")));
        EXPECT_EQ(
            Hex(s_hs.span()),
            Hex(Value(s, "server", derive_step("s hs traffic"), "expanded")));
        ExpectKeys(s_hs, s, "server",
                   "derive write traffic keys for handshake data");
        // The client's handshake write keys are printed by the server as
        // its read keys, except in section 4 (the client prints them).
        if (!trace_
                 ->find(s, "server",
                        "derive read traffic keys for handshake data")
                 .empty()) {
          ExpectKeys(c_hs, s, "server",
                     "derive read traffic keys for handshake data");
        } else {
          ExpectKeys(c_hs, s, "client",
                     "derive write traffic keys for handshake data");
        }
        // Master Secret, with its own "derived" salt.
        Secret derived_master;
        ASSERT_EQ(derive_secret(kSha256, ks.stage_secret(), "derived",
                                empty_hash.span(), &derived_master),
                  KdfStatus::kOk);
        EXPECT_EQ(Hex(derived_master.span()),
                  Hex(Value(s, "server",
                            "derive secret for master " + Quoted("derived"),
                            "expanded")));
        ASSERT_EQ(ks.advance_to_master(), KdfStatus::kOk);
        EXPECT_EQ(
            Hex(ks.stage_secret()),
            Hex(Value(s, "server", "extract secret \"master\"", "secret")));
      }
      if (type == 20 && finished_seen == 1) {
        // After the server Finished: application secrets, exporter.
        ASSERT_EQ(transcript.current_hash(&h), KdfStatus::kOk);
        EXPECT_EQ(Hex(h.span()),
                  Hex(Value(s, "server", derive_step("c ap traffic"), "hash")))
            << "Transcript-Hash(ClientHello..server Finished)";
        Secret c_ap;
        Secret s_ap;
        Secret exp;
        ASSERT_EQ(
            ks.derive(SecretLabel::kClientApplicationTraffic, h.span(), &c_ap),
            KdfStatus::kOk);
        ASSERT_EQ(
            ks.derive(SecretLabel::kServerApplicationTraffic, h.span(), &s_ap),
            KdfStatus::kOk);
        ASSERT_EQ(ks.derive(SecretLabel::kExporterMaster, h.span(), &exp),
                  KdfStatus::kOk);
        EXPECT_EQ(
            Hex(c_ap.span()),
            Hex(Value(s, "server", derive_step("c ap traffic"), "expanded")));
        EXPECT_EQ(
            Hex(s_ap.span()),
            Hex(Value(s, "server", derive_step("s ap traffic"), "expanded")));
        EXPECT_EQ(
            Hex(exp.span()),
            Hex(Value(s, "server", derive_step("exp master"), "expanded")));
        ExpectKeys(s_ap, s, "server",
                   "derive write traffic keys for application data");
        ExpectKeys(c_ap, s, "client",
                   "derive write traffic keys for application data");
      }
      if (type == 20 && finished_seen == 2) {
        // After the client Finished: resumption master secret.
        ASSERT_EQ(transcript.current_hash(&h), KdfStatus::kOk);
        EXPECT_EQ(Hex(h.span()),
                  Hex(Value(s, "client", derive_step("res master"), "hash")))
            << "Transcript-Hash(ClientHello..client Finished)";
        ASSERT_EQ(ks.derive(SecretLabel::kResumptionMaster, h.span(),
                            &walk->resumption_master),
                  KdfStatus::kOk);
        EXPECT_EQ(
            Hex(walk->resumption_master.span()),
            Hex(Value(s, "client", derive_step("res master"), "expanded")));
      }
    }
    EXPECT_EQ(finished_seen, 2);
    EXPECT_EQ(saw_hrr, s == 5) << "only section 5 has a HelloRetryRequest";
  }

  static void ExpectKeys(const Secret& secret, int section, const char* who,
                         const std::string& step) {
    SCOPED_TRACE(step);
    TrafficKeys keys;
    ASSERT_EQ(
        derive_traffic_keys(kSha256, AeadAlg::kAes128Gcm, secret.span(), &keys),
        KdfStatus::kOk);
    EXPECT_EQ(Hex(keys.key_span()),
              Hex(Value(section, who, step, "key expanded")));
    EXPECT_EQ(Hex(keys.iv_span()),
              Hex(Value(section, who, step, "iv expanded")));
  }
};

TEST_F(HandshakeWalkTest, Section3SimpleOneRttHandshake) {
  Walk walk;
  walk.section = 3;
  walk.early_by = "server";
  for (const char* m : {"ClientHello"}) {
    walk.messages.push_back(Message(3, "client", m));
  }
  for (const char* m : {"ServerHello", "EncryptedExtensions", "Certificate",
                        "CertificateVerify", "Finished"}) {
    walk.messages.push_back(Message(3, "server", m));
  }
  walk.messages.push_back(Message(3, "client", "Finished"));
  WalkHandshake(&walk);

  // The ticket's PSK (RFC 8446 section 4.6.1) from the resumption master
  // secret and the ticket_nonce of the NewSessionTicket the server sends.
  const Bytes nst = Message(3, "server", "NewSessionTicket");
  ByteReader r(nst);
  uint8_t type = 0;
  uint32_t len = 0;
  uint32_t lifetime = 0;
  uint32_t age_add = 0;
  ByteReader nonce;
  ByteReader ticket;
  ByteReader extensions;
  ASSERT_TRUE(r.u8(&type) && r.u24(&len) && r.u32(&lifetime) &&
              r.u32(&age_add) && r.prefixed8(&nonce) && r.prefixed16(&ticket) &&
              r.prefixed16(&extensions) && r.empty());
  ASSERT_EQ(type, 4);
  Secret psk;
  ASSERT_EQ(derive_resumption_psk(kSha256, walk.resumption_master.span(),
                                  nonce.rest(), &psk),
            KdfStatus::kOk);
  const std::string step = "generate resumption secret " + Quoted("resumption");
  EXPECT_EQ(Hex(nonce.rest()), Hex(Value(3, "server", step, "hash")));
  EXPECT_EQ(Hex(psk.span()), Hex(Value(3, "server", step, "expanded")));
}

TEST_F(HandshakeWalkTest, Section4ResumedZeroRttHandshake) {
  // The PSK is section 3's ticket: recompute it from section 3's
  // resumption master secret and ticket nonce, and check it is the IKM the
  // resumed handshake extracts.
  Secret psk;
  const std::string res = "generate resumption secret " + Quoted("resumption");
  ASSERT_EQ(derive_resumption_psk(kSha256, Value(3, "server", res, "PRK"),
                                  Value(3, "server", res, "hash"), &psk),
            KdfStatus::kOk);
  EXPECT_EQ(Hex(psk.span()),
            Hex(Value(4, "client", "extract secret \"early\"", "IKM")));

  KeySchedule ks;
  ASSERT_EQ(ks.start(kSha256, psk.span()), KdfStatus::kOk);
  EXPECT_EQ(Hex(ks.stage_secret()),
            Hex(Value(4, "client", "extract secret \"early\"", "secret")));

  // The binder (RFC 8446 section 4.2.11.2): binder_key = Derive-Secret(
  // early, "res binder", ""), then a Finished-style HMAC over the hash of
  // the ClientHello truncated before its binders.
  const std::string binder_step = "calculate PSK binder";
  Secret binder_key;
  ASSERT_EQ(ks.derive(SecretLabel::kResBinder, {}, &binder_key),
            KdfStatus::kOk);
  EXPECT_EQ(Hex(binder_key.span()),
            Hex(Value(4, "client", binder_step, "PRK")));
  const Bytes truncated = Value(4, "client", binder_step, "ClientHello prefix");
  EXPECT_EQ(Hex(truncated), Hex(Message(4, "client", "ClientHello")))
      << "the RFC shows the truncated ClientHello as the constructed one";
  Transcript transcript;
  ASSERT_EQ(transcript.init(kSha256), KdfStatus::kOk);
  HashValue binder_hash;
  ASSERT_EQ(transcript.hash_with(truncated, &binder_hash), KdfStatus::kOk);
  EXPECT_EQ(transcript.message_count(), 0u) << "hash_with() added a message";
  EXPECT_EQ(Hex(binder_hash.span()),
            Hex(Value(4, "client", binder_step, "binder hash")));
  Secret binder;
  ASSERT_EQ(compute_psk_binder(kSha256, binder_key.span(), binder_hash.span(),
                               &binder),
            KdfStatus::kOk);
  EXPECT_EQ(Hex(binder.span()),
            Hex(Value(4, "client", binder_step, "finished")));
  EXPECT_EQ(verify_psk_binder(kSha256, binder_key.span(), binder_hash.span(),
                              binder.span()),
            KdfStatus::kOk);

  // The ClientHello sent is the truncated one followed by
  // PskBinderEntry binders<33..2^16-1> holding our binder.
  const Bytes sent =
      Value(4, "client", "send handshake record", "payload", /*nth=*/0);
  uint8_t binders[2 + 1 + kMaxHashLen];
  ByteWriter w(binders);
  const size_t list = w.open(2);
  const size_t entry = w.open(1);
  w.bytes(binder.span());
  w.close(entry, 1);
  w.close(list, 2);
  ASSERT_TRUE(w.ok());
  Bytes full = truncated;
  full.insert(full.end(), w.written().begin(), w.written().end());
  EXPECT_EQ(Hex(full), Hex(sent));

  // 0-RTT: client_early_traffic_secret and early_exporter_master_secret over
  // the whole ClientHello, and the early data keys.
  ASSERT_EQ(transcript.add(sent), KdfStatus::kOk);
  HashValue h;
  ASSERT_EQ(transcript.current_hash(&h), KdfStatus::kOk);
  const std::string cet = "derive secret " + Quoted("c e traffic");
  const std::string eem = "derive secret " + Quoted("e exp master");
  EXPECT_EQ(Hex(h.span()), Hex(Value(4, "client", cet, "hash")));
  Secret early_traffic;
  Secret early_exporter;
  ASSERT_EQ(
      ks.derive(SecretLabel::kClientEarlyTraffic, h.span(), &early_traffic),
      KdfStatus::kOk);
  ASSERT_EQ(
      ks.derive(SecretLabel::kEarlyExporterMaster, h.span(), &early_exporter),
      KdfStatus::kOk);
  EXPECT_EQ(Hex(early_traffic.span()),
            Hex(Value(4, "client", cet, "expanded")));
  EXPECT_EQ(Hex(early_exporter.span()),
            Hex(Value(4, "client", eem, "expanded")));
  ExpectKeys(early_traffic, 4, "client",
             "derive write traffic keys for early application data");

  // The rest of the handshake, EndOfEarlyData included.
  Walk walk;
  walk.section = 4;
  walk.psk.assign(psk.span().begin(), psk.span().end());
  walk.early_by = "client";
  walk.messages.push_back(sent);
  for (const char* m : {"ServerHello", "EncryptedExtensions", "Finished"}) {
    walk.messages.push_back(Message(4, "server", m));
  }
  walk.messages.push_back(Message(4, "client", "EndOfEarlyData"));
  walk.messages.push_back(Message(4, "client", "Finished"));
  WalkHandshake(&walk);
}

TEST_F(HandshakeWalkTest, Section5HelloRetryRequest) {
  Walk walk;
  walk.section = 5;
  walk.early_by = "server";
  const Bytes ch1 = Message(5, "client", "ClientHello", 0);
  const Bytes hrr = Message(5, "server", "ServerHello", 0);
  const Bytes ch2 = Message(5, "client", "ClientHello", 1);
  const Bytes sh = Message(5, "server", "ServerHello", 1);
  ASSERT_TRUE(IsHelloRetryRequest(hrr));
  ASSERT_FALSE(IsHelloRetryRequest(sh));
  walk.messages = {ch1, hrr, ch2, sh};
  for (const char* m : {"EncryptedExtensions", "Certificate",
                        "CertificateVerify", "Finished"}) {
    walk.messages.push_back(Message(5, "server", m));
  }
  walk.messages.push_back(Message(5, "client", "Finished"));
  WalkHandshake(&walk);

  // The synthetic message by hand: message_hash(254) 00 00 20 Hash(CH1),
  // then HRR, CH2, SH gives the RFC's handshake transcript hash...
  HashValue ch1_hash;
  ASSERT_EQ(hash_bytes(kSha256, ch1, &ch1_hash), KdfStatus::kOk);
  Bytes by_hand = {254, 0, 0, 32};
  by_hand.insert(by_hand.end(), ch1_hash.span().begin(), ch1_hash.span().end());
  for (const Bytes* m : {&hrr, &ch2, &sh}) {
    by_hand.insert(by_hand.end(), m->begin(), m->end());
  }
  HashValue h;
  ASSERT_EQ(hash_bytes(kSha256, by_hand, &h), KdfStatus::kOk);
  const Bytes rfc_hash =
      Value(5, "server", "derive secret " + Quoted("c hs traffic"), "hash");
  EXPECT_EQ(Hex(h.span()), Hex(rfc_hash));
  // ...and without the rule (CH1 hashed as it is) it does not.
  Transcript plain;
  ASSERT_EQ(plain.init(kSha256), KdfStatus::kOk);
  for (const Bytes* m : {&ch1, &hrr, &ch2, &sh}) {
    ASSERT_EQ(plain.add(*m), KdfStatus::kOk);
  }
  ASSERT_EQ(plain.current_hash(&h), KdfStatus::kOk);
  EXPECT_NE(Hex(h.span()), Hex(rfc_hash));
}

TEST_F(HandshakeWalkTest, Section6ClientAuthentication) {
  Walk walk;
  walk.section = 6;
  walk.early_by = "server";
  walk.messages.push_back(Message(6, "client", "ClientHello"));
  for (const char* m :
       {"ServerHello", "EncryptedExtensions", "CertificateRequest",
        "Certificate", "CertificateVerify", "Finished"}) {
    walk.messages.push_back(Message(6, "server", m));
  }
  for (const char* m : {"Certificate", "CertificateVerify", "Finished"}) {
    walk.messages.push_back(Message(6, "client", m));
  }
  WalkHandshake(&walk);
}

TEST_F(HandshakeWalkTest, Section7CompatibilityMode) {
  // change_cipher_spec records are not handshake messages: the transcript
  // is the same shape as section 3.
  Walk walk;
  walk.section = 7;
  walk.early_by = "server";
  walk.messages.push_back(Message(7, "client", "ClientHello"));
  for (const char* m : {"ServerHello", "EncryptedExtensions", "Certificate",
                        "CertificateVerify", "Finished"}) {
    walk.messages.push_back(Message(7, "server", m));
  }
  walk.messages.push_back(Message(7, "client", "Finished"));
  WalkHandshake(&walk);
}

}  // namespace
}  // namespace dptls::tls
