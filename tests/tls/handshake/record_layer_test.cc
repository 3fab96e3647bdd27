// The handshake thread's record layer: reassembly of handshake messages
// fragmented across records and coalesced in one, protected records both
// ways (checked against an independent EVP implementation), the
// record_size_limit on what it writes, rejected 0-RTT skipping and its
// budget, and the alert for every malformed record.
#include "dptls/tls/handshake/record_layer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dptls/tls/handshake/messages.h"
#include "tls/handshake/handshake_test_support.h"

namespace dptls::tls {
namespace {

using testing::Bytes;
using testing::Cat;
using testing::EvpRecordCipher;
using testing::Record;
using testing::SplitRecords;
using testing::Sub;

constexpr size_t kMax = 1 << 17;

Bytes HsMessage(uint8_t type, size_t len, uint8_t fill) {
  Bytes m = {type, static_cast<uint8_t>(len >> 16),
             static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  return Cat(m, Bytes(len, fill));
}

Bytes PlainRecord(uint8_t type, const Bytes& body) {
  return Cat({type, 3, 3, static_cast<uint8_t>(body.size() >> 8),
              static_cast<uint8_t>(body.size())},
             body);
}

Bytes SecretFor(const CipherSuiteInfo& suite, uint8_t fill) {
  return Bytes(hash_len(suite.hash), fill);
}

// Reads every message available; stops at the first non-message status.
struct Drained {
  std::vector<Bytes> messages;
  HsReadStatus last = HsReadStatus::kNeedMore;
  Alert alert = Alert::kCloseNotify;
};
Drained Drain(HandshakeRecordLayer& layer, size_t max_len = kMax) {
  Drained d;
  while (true) {
    std::span<const uint8_t> msg;
    d.last = layer.next_message(max_len, &msg, &d.alert);
    if (d.last != HsReadStatus::kMessage) {
      return d;
    }
    d.messages.emplace_back(msg.begin(), msg.end());
  }
}

TEST(RecordLayerTest, FragmentedAndCoalescedPlaintext) {
  HandshakeRecordLayer layer(testing::Backend());
  const Bytes a = HsMessage(1, 300, 0xa1);
  const Bytes b = HsMessage(1, 10, 0xb2);
  const Bytes c = HsMessage(1, 0, 0);
  // a in three records; b and c together in one.
  Bytes wire =
      Cat(PlainRecord(22, Sub(a, 0, 1)), PlainRecord(22, Sub(a, 1, 200)));
  wire = Cat(wire, PlainRecord(22, Sub(a, 201, a.size() - 201)));
  wire = Cat(wire, PlainRecord(22, Cat(b, c)));
  // Pushed one byte at a time, read as they come.
  std::vector<Bytes> got;
  for (uint8_t byte : wire) {
    layer.push(Bytes{byte});
    const Drained d = Drain(layer);
    ASSERT_EQ(d.last, HsReadStatus::kNeedMore);
    got.insert(got.end(), d.messages.begin(), d.messages.end());
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], a);
  EXPECT_EQ(got[1], b);
  EXPECT_EQ(got[2], c);
  EXPECT_TRUE(layer.at_record_boundary());
}

TEST(RecordLayerTest, BoundaryAndUnread) {
  HandshakeRecordLayer layer(testing::Backend());
  const Bytes a = HsMessage(1, 5, 1);
  const Bytes tail = {23, 3, 3, 0, 4, 9, 9, 9};  // and a partial record
  layer.push(Cat(PlainRecord(22, Cat(a, {20, 0})), tail));
  std::span<const uint8_t> msg;
  Alert alert;
  ASSERT_EQ(layer.next_message(kMax, &msg, &alert), HsReadStatus::kMessage);
  EXPECT_FALSE(layer.at_record_boundary()) << "2 bytes of a next message";
  Bytes unread;
  layer.take_unread(&unread);
  EXPECT_EQ(unread, tail);
}

class ProtectedTest : public ::testing::TestWithParam<CipherSuite> {
 protected:
  const CipherSuiteInfo& suite() const {
    return *cipher_suite_info(GetParam());
  }
};

TEST_P(ProtectedTest, RoundTripAgainstEvp) {
  const Bytes secret = SecretFor(suite(), 0x42);
  HandshakeRecordLayer writer(testing::Backend());
  HandshakeRecordLayer reader(testing::Backend());
  ASSERT_TRUE(writer.set_write_secret(suite(), secret));
  ASSERT_TRUE(reader.set_read_secret(suite(), secret));
  EXPECT_TRUE(writer.write_protected());
  const Bytes big = HsMessage(11, 40000, 0x5c);
  const Bytes fin = HsMessage(20, hash_len(suite().hash), 0x11);
  Bytes wire;
  ASSERT_TRUE(writer.write(ContentType::kHandshake, Cat(big, fin), &wire));
  const auto records = SplitRecords(wire);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(writer.write_seq(), 3u);
  // Opened independently: full records carry 2^14 bytes of content.
  EvpRecordCipher evp(suite(), secret);
  Bytes content_all;
  for (const Record& r : records) {
    EXPECT_EQ(r.type, 23);
    EXPECT_EQ(Bytes(r.header.begin() + 1, r.header.begin() + 3), (Bytes{3, 3}));
    ContentType type;
    Bytes content;
    ASSERT_TRUE(evp.Open(r, &type, &content));
    EXPECT_EQ(type, ContentType::kHandshake);
    EXPECT_LE(content.size(), kMaxPlaintext);
    content_all = Cat(content_all, content);
  }
  EXPECT_EQ(content_all, Cat(big, fin));
  reader.push(wire);
  const Drained d = Drain(reader);
  ASSERT_EQ(d.messages.size(), 2u);
  EXPECT_EQ(d.messages[0], big);
  EXPECT_EQ(d.messages[1], fin);
  // And the other way: records sealed by EVP, with padding, open here.
  EvpRecordCipher evp_writer(suite(), secret);
  HandshakeRecordLayer reader2(testing::Backend());
  ASSERT_TRUE(reader2.set_read_secret(suite(), secret));
  const Bytes r1 = evp_writer.Seal(ContentType::kHandshake, Sub(fin, 0, 3), 7);
  const Bytes r2 = evp_writer.Seal(ContentType::kHandshake,
                                   Sub(fin, 3, fin.size() - 3), 100);
  reader2.push(Cat(r1, r2));
  const Drained d2 = Drain(reader2);
  ASSERT_EQ(d2.messages.size(), 1u)
      << hs_read_status_name(d2.last) << " " << alert_name(d2.alert);
  EXPECT_EQ(d2.messages[0], fin);
}

TEST_P(ProtectedTest, WriteLimit) {
  const Bytes secret = SecretFor(suite(), 1);
  HandshakeRecordLayer writer(testing::Backend());
  ASSERT_TRUE(writer.set_write_secret(suite(), secret));
  writer.set_write_limit(100);  // RFC 8449: 99 bytes of content + type
  Bytes wire;
  ASSERT_TRUE(writer.write(ContentType::kHandshake, Bytes(1000, 3), &wire));
  const auto records = SplitRecords(wire);
  EXPECT_EQ(records.size(), 11u);
  for (const Record& r : records) {
    EXPECT_LE(r.body.size(), 100u + 16u);
  }
}

TEST_P(ProtectedTest, TamperedRecordIsBadRecordMacAndSticky) {
  const Bytes secret = SecretFor(suite(), 2);
  EvpRecordCipher evp(suite(), secret);
  Bytes rec = evp.Seal(ContentType::kHandshake, HsMessage(20, 32, 1));
  rec[10] ^= 1;
  HandshakeRecordLayer reader(testing::Backend());
  ASSERT_TRUE(reader.set_read_secret(suite(), secret));
  reader.push(rec);
  Drained d = Drain(reader);
  EXPECT_EQ(d.last, HsReadStatus::kError);
  EXPECT_EQ(d.alert, Alert::kBadRecordMac);
  reader.push(evp.Seal(ContentType::kHandshake, HsMessage(20, 32, 1)));
  d = Drain(reader);
  EXPECT_EQ(d.last, HsReadStatus::kError) << "an error is final";
}

TEST_P(ProtectedTest, EarlyDataSkippedWithinBudgetUntilARecordOpens) {
  const Bytes secret = SecretFor(suite(), 3);
  const Bytes early_secret = SecretFor(suite(), 4);
  EvpRecordCipher early(suite(), early_secret);
  EvpRecordCipher hs(suite(), secret);
  HandshakeRecordLayer reader(testing::Backend());
  ASSERT_TRUE(reader.set_read_secret(suite(), secret));
  const Bytes e1 = early.Seal(ContentType::kApplicationData, Bytes(30, 1));
  const Bytes e2 = early.Seal(ContentType::kApplicationData, Bytes(30, 2));
  // Budget: exactly the two records' payloads (30 + 1 + 16 each).
  reader.skip_early_data(EarlyDataSkip::kUndecryptable, size_t{2} * 47);
  reader.push(
      Cat(Cat(e1, e2), hs.Seal(ContentType::kHandshake, HsMessage(20, 32, 5))));
  Drained d = Drain(reader);
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.last, HsReadStatus::kNeedMore);
  // Once a record opened, early data is over: the next failure is fatal.
  reader.push(early.Seal(ContentType::kApplicationData, Bytes(1, 3)));
  d = Drain(reader);
  EXPECT_EQ(d.alert, Alert::kBadRecordMac);

  HandshakeRecordLayer over(testing::Backend());
  ASSERT_TRUE(over.set_read_secret(suite(), secret));
  over.skip_early_data(EarlyDataSkip::kUndecryptable, size_t{2} * 47 - 1);
  over.push(Cat(e1, e2));
  d = Drain(over);
  EXPECT_EQ(d.alert, Alert::kBadRecordMac) << "budget exceeded";
}

TEST_P(ProtectedTest, MalformedProtectedRecords) {
  const Bytes secret = SecretFor(suite(), 5);
  auto run = [&](const std::function<Bytes(EvpRecordCipher&)>& make,
                 size_t read_limit = kMaxPlaintext + 1) {
    EvpRecordCipher evp(suite(), secret);
    HandshakeRecordLayer reader(testing::Backend());
    EXPECT_TRUE(reader.set_read_secret(suite(), secret));
    reader.set_read_limit(static_cast<uint32_t>(read_limit));
    reader.push(make(evp));
    return Drain(reader);
  };
  // All padding, no content type.
  Drained d = run([](EvpRecordCipher& e) {
    Bytes r = e.Seal(ContentType::kInvalid, {}, 5);
    return r;
  });
  EXPECT_EQ(d.alert, Alert::kUnexpectedMessage);
  d = run([](EvpRecordCipher& e) {
    return e.Seal(ContentType::kApplicationData, Bytes{1});
  });
  EXPECT_EQ(d.alert, Alert::kUnexpectedMessage) << "data before Finished";
  d = run([](EvpRecordCipher& e) {
    return e.Seal(ContentType::kChangeCipherSpec, Bytes{1});
  });
  EXPECT_EQ(d.alert, Alert::kUnexpectedMessage) << "protected CCS";
  d = run(
      [](EvpRecordCipher& e) { return e.Seal(ContentType::kHandshake, {}); });
  EXPECT_EQ(d.alert, Alert::kDecodeError) << "empty handshake fragment";
  d = run([](EvpRecordCipher& e) {
    return e.Seal(ContentType::kAlert, Bytes{2, 80});
  });
  EXPECT_EQ(d.last, HsReadStatus::kPeerAlert);
  EXPECT_EQ(d.alert, Alert::kInternalError);
  d = run(
      [](EvpRecordCipher& e) { return e.Seal(ContentType::kAlert, Bytes{2}); });
  EXPECT_EQ(d.alert, Alert::kDecodeError) << "1-byte alert";
  d = run(
      [](EvpRecordCipher& e) {
        return e.Seal(ContentType::kHandshake, Bytes(200, 0), 0);
      },
      100);
  EXPECT_EQ(d.alert, Alert::kRecordOverflow) << "over our record_size_limit";
  d = run([](EvpRecordCipher&) {
    return Bytes{23, 3, 3, 0, 16, 0, 0, 0, 0, 0, 0,
                 0,  0, 0, 0, 0,  0, 0, 0, 0, 0};
  });
  EXPECT_EQ(d.alert, Alert::kBadRecordMac) << "shorter than tag + type";
  d = run(
      [](EvpRecordCipher&) { return PlainRecord(22, HsMessage(20, 1, 0)); });
  EXPECT_EQ(d.alert, Alert::kUnexpectedMessage) << "plaintext handshake";
}

INSTANTIATE_TEST_SUITE_P(All, ProtectedTest,
                         ::testing::ValuesIn(kAllCipherSuites),
                         [](const ::testing::TestParamInfo<CipherSuite>& p) {
                           return std::string(cipher_suite_info(p.param)->name);
                         });

TEST(RecordLayerTest, PlaintextErrors) {
  auto run = [](const Bytes& wire, size_t max_len = kMax) {
    HandshakeRecordLayer layer(testing::Backend());
    layer.push(wire);
    return Drain(layer, max_len);
  };
  EXPECT_EQ(run({22, 3, 3, 0x41, 0x01}).alert, Alert::kRecordOverflow);
  EXPECT_EQ(run(Cat({22, 3, 3, 0x40, 0x01}, Bytes(0x4001, 1))).alert,
            Alert::kRecordOverflow);
  EXPECT_EQ(run({22, 3, 3, 0, 0}).alert, Alert::kDecodeError);
  EXPECT_EQ(run({24, 3, 3, 0, 1, 0}).alert, Alert::kUnexpectedMessage);
  EXPECT_EQ(run({20, 3, 3, 0, 1, 1}).alert, Alert::kUnexpectedMessage)
      << "change_cipher_spec before any handshake record";
  EXPECT_EQ(run({21, 3, 3, 0, 3, 2, 40, 0}).alert, Alert::kDecodeError);
  const Drained alert = run({21, 3, 3, 0, 2, 1, 0});
  EXPECT_EQ(alert.last, HsReadStatus::kPeerAlert);
  EXPECT_EQ(alert.alert, Alert::kCloseNotify);
  EXPECT_EQ(run(PlainRecord(22, HsMessage(1, 100, 0)), 99).alert,
            Alert::kDecodeError)
      << "message over max_len";
  // Application data in the plaintext epoch: skipped only in the mode for
  // after a HelloRetryRequest, within the budget.
  EXPECT_EQ(run({23, 3, 3, 0, 2, 0, 0}).alert, Alert::kUnexpectedMessage);
  HandshakeRecordLayer layer(testing::Backend());
  layer.skip_early_data(EarlyDataSkip::kApplicationData, 4);
  layer.push(Cat({23, 3, 3, 0, 2, 0, 0, 23, 3, 3, 0, 2, 0, 0},
                 PlainRecord(22, HsMessage(1, 3, 1))));
  Drained d = Drain(layer);
  EXPECT_EQ(d.messages.size(), 1u);
  layer.push(Bytes{23, 3, 3, 0, 1, 0});
  d = Drain(layer);
  EXPECT_EQ(d.alert, Alert::kUnexpectedMessage) << "budget spent";
}

TEST(RecordLayerTest, Writes) {
  HandshakeRecordLayer layer(testing::Backend());
  Bytes out;
  layer.write_change_cipher_spec(&out);
  EXPECT_EQ(out, (Bytes{20, 3, 3, 0, 1, 1}));
  out.clear();
  layer.write_alert(Alert::kProtocolVersion, &out);
  EXPECT_EQ(out, (Bytes{21, 3, 3, 0, 2, 2, 70}));
  out.clear();
  layer.write_alert(Alert::kCloseNotify, &out);
  EXPECT_EQ(out, (Bytes{21, 3, 3, 0, 2, 1, 0})) << "warning level";
  out.clear();
  ASSERT_TRUE(layer.write(ContentType::kHandshake, Bytes(20000, 7), &out));
  const auto records = SplitRecords(out);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].body.size(), kMaxPlaintext);
  EXPECT_EQ(layer.write_seq(), 0u) << "plaintext records have no sequence";
  // Protected alert.
  const CipherSuiteInfo& suite =
      *cipher_suite_info(CipherSuite::kAes256GcmSha384);
  const Bytes secret = SecretFor(suite, 9);
  ASSERT_TRUE(layer.set_write_secret(suite, secret));
  out.clear();
  layer.write_alert(Alert::kDecryptError, &out);
  EvpRecordCipher evp(suite, secret);
  const auto recs = SplitRecords(out);
  ASSERT_EQ(recs.size(), 1u);
  ContentType type;
  Bytes content;
  ASSERT_TRUE(evp.Open(recs[0], &type, &content));
  EXPECT_EQ(type, ContentType::kAlert);
  EXPECT_EQ(content, (Bytes{2, 51}));
  EXPECT_EQ(hs_read_status_name(HsReadStatus::kPeerAlert), "peer-alert");
}

}  // namespace
}  // namespace dptls::tls
