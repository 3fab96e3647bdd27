// The RFC 8448 text reader the key schedule tests depend on: it must find
// every value the RFC prints, read hex across page breaks, refuse what does
// not add up, and agree with Botan's independent transcription.
#include "tls/rfc8448_trace.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "support/aead_test_support.h"

namespace dptls::tls::testing {
namespace {

using ::dptls::crypto::testing::HexEncode;

class Rfc8448TraceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    trace_ = new Rfc8448Trace;
    std::string error;
    loaded_ = LoadRfc8448(trace_, &error);
    error_ = new std::string(error);
  }
  static void TearDownTestSuite() {
    delete trace_;
    delete error_;
  }
  void SetUp() override { ASSERT_TRUE(loaded_) << *error_; }

  static Rfc8448Trace* trace_;
  static std::string* error_;
  static bool loaded_;
};

Rfc8448Trace* Rfc8448TraceTest::trace_ = nullptr;
std::string* Rfc8448TraceTest::error_ = nullptr;
bool Rfc8448TraceTest::loaded_ = false;

TEST_F(Rfc8448TraceTest, FindsTheFiveTraceSections) {
  EXPECT_EQ(trace_->section_titles.at(3), "Simple 1-RTT Handshake");
  EXPECT_EQ(trace_->section_titles.at(4), "Resumed 0-RTT Handshake");
  EXPECT_EQ(trace_->section_titles.at(5), "HelloRetryRequest");
  EXPECT_EQ(trace_->section_titles.at(6), "Client Authentication");
  EXPECT_EQ(trace_->section_titles.at(7), "Compatibility Mode");
  std::map<int, size_t> steps_per_section;
  for (const TraceStep& s : trace_->steps) {
    ++steps_per_section[s.section];
  }
  for (int section = 3; section <= 7; ++section) {
    EXPECT_GT(steps_per_section[section], 30u) << "section " << section;
  }
}

// The RFC's own totals (counted with grep on the text): a parser that
// dropped a block would miss one of these.
TEST_F(Rfc8448TraceTest, FieldCountsMatchTheText) {
  std::map<std::string, size_t> count;
  for (const TraceStep& s : trace_->steps) {
    for (const TraceField& f : s.fields) {
      ++count[f.label];
    }
  }
  EXPECT_EQ(count["PRK"], 80u);
  EXPECT_EQ(count["expanded"], 59u);
  EXPECT_EQ(count["info"], 59u);
  EXPECT_EQ(count["hash"], 59u);
  EXPECT_EQ(count["key expanded"], 21u);
  EXPECT_EQ(count["iv expanded"], 21u);
  EXPECT_EQ(count["IKM"], 15u);
  EXPECT_EQ(count["secret"], 15u);
  EXPECT_EQ(count["salt"], 15u);  // 10 printed, 5 "0 (all zero octets)"
  EXPECT_EQ(count["finished"], 11u);
  EXPECT_EQ(count["payload"], 41u);
  EXPECT_EQ(count["complete record"], 41u);
  EXPECT_EQ(count["ClientHello"], 6u);
  EXPECT_EQ(count["ServerHello"], 6u);
}

TEST_F(Rfc8448TraceTest, ReadsAValueThatSpansAPageBreak) {
  // Section 3's server Certificate (445 octets) crosses pages 7 and 8.
  const auto steps =
      trace_->find(3, "server", "construct a Certificate handshake message");
  ASSERT_EQ(steps.size(), 1u);
  const TraceField* cert = steps[0]->field("Certificate");
  ASSERT_NE(cert, nullptr);
  ASSERT_EQ(cert->value.size(), 445u);
  EXPECT_EQ(HexEncode(std::span(cert->value).first(4)), "0b0001b9");
  EXPECT_EQ(HexEncode(std::span(cert->value).last(4)), "4de10000");
}

TEST_F(Rfc8448TraceTest, JoinsWrappedActionsAndKeepsQuotedLabels) {
  EXPECT_EQ(trace_
                ->find(3, "client",
                       "extract secret \"handshake\" (same as server "
                       "handshake secret)")
                .size(),
            1u);
  const auto steps =
      trace_->find(3, "server", "derive secret \"tls13 c hs traffic\"");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0]->quoted_label(), "c hs traffic");
  EXPECT_EQ(steps[0]->fields.size(), 4u);  // PRK, hash, info, expanded
}

TEST(Rfc8448ParserTest, RefusesAnOctetCountThatDoesNotMatchTheHex) {
  const std::string text =
      "3.  Simple\n"
      "\n"
      "   {server}  derive secret \"tls13 x\":\n"
      "\n"
      "      PRK (3 octets):  01 02\n"
      "\n"
      "   {server}  next:\n";
  Rfc8448Trace trace;
  std::string error;
  EXPECT_FALSE(ParseRfc8448(text, &trace, &error));
  EXPECT_NE(error.find("line 5"), std::string::npos) << error;
}

TEST(Rfc8448ParserTest, RefusesAFieldLineItCannotRead) {
  const std::string text =
      "3.  Simple\n"
      "\n"
      "   {server}  derive:\n"
      "\n"
      "      PRK (3 octets) 01 02 03\n";
  Rfc8448Trace trace;
  std::string error;
  EXPECT_FALSE(ParseRfc8448(text, &trace, &error));
  EXPECT_NE(error.find("line 5"), std::string::npos) << error;
}

TEST(Rfc8448ParserTest, ReadsHexAcrossAPageBreakAndEmptyValues) {
  const std::string text =
      "3.  Simple\n"
      "\n"
      "   {server}  calculate finished \"tls13 finished\":\n"
      "\n"
      "      hash (0 octets):  (empty)\n"
      "\n"
      "      PRK (4 octets):  01 02\n"
      "\n"
      "\n"
      "Thomson                       Informational                     "
      "[Page 5]\n"
      "\f\n"
      "RFC 8448                     TLS 1.3 Traces                 January "
      "2019\n"
      "\n"
      "         03 04\n"
      "\n"
      "      salt:  0 (all zero octets)\n";
  Rfc8448Trace trace;
  std::string error;
  ASSERT_TRUE(ParseRfc8448(text, &trace, &error)) << error;
  ASSERT_EQ(trace.steps.size(), 1u);
  const TraceStep& s = trace.steps[0];
  EXPECT_EQ(s.action, "calculate finished \"tls13 finished\"");
  ASSERT_EQ(s.fields.size(), 3u);
  EXPECT_TRUE(s.fields[0].value.empty());
  EXPECT_EQ(s.fields[1].value, (Bytes{1, 2, 3, 4}));
  EXPECT_TRUE(s.fields[2].all_zero_salt);
}

// Botan's transcripts.vec was transcribed from the RFC separately; the
// handshake messages both give must be the same bytes.
TEST_F(Rfc8448TraceTest, AgreesWithBotansTranscriptionOfTheMessages) {
  BotanTranscripts botan;
  std::string error;
  ASSERT_TRUE(LoadBotanTranscripts(&botan, &error)) << error;
  struct Pair {
    int section;
    const char* botan_section;
    const char* who;
    const char* message;  // RFC field label = botan "Message_" suffix
    const char* botan_key;
  };
  const Pair pairs[] = {
      {3, "Simple_1RTT_Handshake", "server", "ServerHello",
       "Message_ServerHello"},
      {3, "Simple_1RTT_Handshake", "server", "EncryptedExtensions",
       "Message_EncryptedExtensions"},
      {3, "Simple_1RTT_Handshake", "server", "Certificate",
       "Message_Server_Certificate"},
      {3, "Simple_1RTT_Handshake", "server", "CertificateVerify",
       "Message_Server_CertificateVerify"},
      {3, "Simple_1RTT_Handshake", "server", "Finished",
       "Message_Server_Finished"},
      {4, "Resumed_0RTT_Handshake", "server", "ServerHello",
       "Message_ServerHello"},
      {4, "Resumed_0RTT_Handshake", "server", "Finished",
       "Message_Server_Finished"},
      {5, "HelloRetryRequest_Handshake", "server", "CertificateVerify",
       "Message_Server_CertificateVerify"},
      {5, "HelloRetryRequest_Handshake", "server", "Finished",
       "Message_Server_Finished"},
  };
  size_t compared = 0;
  for (const Pair& p : pairs) {
    SCOPED_TRACE(::testing::Message() << p.section << " " << p.message);
    const std::string action = std::string("construct ") +
                               (p.message[0] == 'E' ? "an " : "a ") +
                               p.message + " handshake message";
    const auto steps = trace_->find(p.section, p.who, action);
    ASSERT_FALSE(steps.empty());
    // Section 5 has two ServerHellos; Botan's is the second one.
    const TraceField* rfc = steps.back()->field(p.message);
    ASSERT_NE(rfc, nullptr);
    const auto& section = botan.at(p.botan_section);
    auto it = section.find(p.botan_key);
    ASSERT_NE(it, section.end());
    EXPECT_EQ(HexEncode(rfc->value), HexEncode(it->second));
    ++compared;
  }
  // The ClientHello of section 3 is in Botan as a record: 5-byte header.
  const auto ch =
      trace_->find(3, "client", "construct a ClientHello handshake message");
  ASSERT_EQ(ch.size(), 1u);
  const Bytes& record =
      botan.at("Simple_1RTT_Handshake").at("Record_ClientHello_1");
  ASSERT_GT(record.size(), 5u);
  EXPECT_EQ(HexEncode(std::span(record).subspan(5)),
            HexEncode(ch[0]->field("ClientHello")->value));
  ++compared;
  EXPECT_EQ(compared, std::size(pairs) + 1);
}

}  // namespace
}  // namespace dptls::tls::testing
