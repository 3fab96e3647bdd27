// EchoApp: bytes come back in order across segments and records, the
// write-space gate in wants_data(), abort on a short write, shutdown when
// the peer closes, and the counters.
#include "dptls/app/echo.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "fake_conn.h"

namespace dptls::app {
namespace {

class EchoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_.reset();
    app_.on_open(conn_);
  }

  void feed(const std::vector<std::string>& pieces) {
    const Segments segs(pieces);
    app_.on_data(conn_, segs.span());
  }

  EchoApp app_;
  FakeConn conn_;
};

TEST_F(EchoTest, EchoesEveryByteInOrder) {
  feed({"hello", "", " ", "world"});
  feed({std::string("\0\xff\r\n", 4)});
  EXPECT_EQ(conn_.out, std::string("hello world\0\xff\r\n", 15));
  EXPECT_EQ(conn_.shutdowns, 0u);
  EXPECT_EQ(conn_.aborts, 0u);
}

TEST_F(EchoTest, OneByteSegments) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text.push_back(static_cast<char>(i * 7));
  }
  const Segments segs = Segments::split(text, 1);
  app_.on_data(conn_, segs.span());
  EXPECT_EQ(conn_.out, text);
}

TEST_F(EchoTest, WantsDataOnlyWhenTheRecordFits) {
  conn_.space = 100;
  EXPECT_TRUE(app_.wants_data(conn_, 0));
  EXPECT_TRUE(app_.wants_data(conn_, 99));
  EXPECT_TRUE(app_.wants_data(conn_, 100));
  EXPECT_FALSE(app_.wants_data(conn_, 101));
  conn_.space = 0;
  EXPECT_TRUE(app_.wants_data(conn_, 0));
  EXPECT_FALSE(app_.wants_data(conn_, 1));
}

// A worker that opens a record only when wants_data() says so: with a
// small, slowly draining send queue every byte still comes back in order
// and no write() is ever short.
TEST_F(EchoTest, BackpressureKeepsRecordsQueuedUntilTheyFit) {
  std::deque<std::string> records;
  std::string sent;
  for (int i = 0; i < 200; ++i) {
    std::string r(static_cast<size_t>(1 + (i * 37) % 300), '\0');
    for (size_t j = 0; j < r.size(); ++j) {
      r[j] = static_cast<char>('a' + (i + j) % 26);
    }
    sent += r;
    records.push_back(r);
  }
  conn_.space = 0;
  size_t drained = 0;
  size_t refusals = 0;
  while (!records.empty()) {
    if (app_.wants_data(conn_, records.front().size())) {
      feed({records.front()});
      records.pop_front();
    } else {
      ++refusals;
      // The peer acknowledges: some space opens up.
      drained += 64;
      conn_.space += 64;
      app_.on_writable(conn_);
    }
  }
  EXPECT_GT(refusals, 0u);
  EXPECT_EQ(conn_.out, sent);
  EXPECT_EQ(conn_.over_space, 0u);
  EXPECT_EQ(conn_.aborts, 0u);
  EXPECT_LE(conn_.out.size(), drained);
}

TEST_F(EchoTest, ShortWriteAborts) {
  conn_.short_by = 1;
  feed({"abc", "def"});
  EXPECT_EQ(conn_.aborts, 1u);
  EXPECT_EQ(conn_.out, "ab");
  EXPECT_FALSE(app_.wants_data(conn_, 0));
  // Nothing more is written, and the close does not become a shutdown.
  conn_.short_by = 0;
  feed({"ghi"});
  app_.on_peer_closed(conn_);
  EXPECT_EQ(conn_.out, "ab");
  EXPECT_EQ(conn_.aborts, 1u);
  EXPECT_EQ(conn_.shutdowns, 0u);
}

TEST_F(EchoTest, WriteSpaceTooSmallAborts) {
  // A worker that ignored wants_data(): the tail cannot be kept.
  conn_.space = 4;
  feed({"abcdef"});
  EXPECT_EQ(conn_.out, "abcd");
  EXPECT_EQ(conn_.aborts, 1u);
}

TEST_F(EchoTest, PeerClosedShutsDownOnce) {
  feed({"last words"});
  app_.on_peer_closed(conn_);
  EXPECT_EQ(conn_.out, "last words");
  EXPECT_EQ(conn_.shutdowns, 1u);
  EXPECT_FALSE(app_.wants_data(conn_, 0));
  app_.on_peer_closed(conn_);
  EXPECT_EQ(conn_.shutdowns, 1u);
  app_.on_close(conn_);
}

TEST_F(EchoTest, CountsRecordsAndBytes) {
  feed({"abc", "de"});
  feed({});
  feed({""});
  feed({"f"});
  EXPECT_EQ(app_.stats().requests, 2u);
  EXPECT_EQ(app_.stats().responses_bytes, 6u);
  for (uint64_t e : app_.stats().errors) {
    EXPECT_EQ(e, 0u);
  }
}

TEST_F(EchoTest, ConnectionsAreIndependent) {
  FakeConn other;
  other.reset();
  app_.on_open(other);
  conn_.short_by = 1;
  feed({"xy"});
  ASSERT_EQ(conn_.aborts, 1u);
  const Segments segs({"still here"});
  EXPECT_TRUE(app_.wants_data(other, 10));
  app_.on_data(other, segs.span());
  EXPECT_EQ(other.out, "still here");
  EXPECT_EQ(other.aborts, 0u);
}

}  // namespace
}  // namespace dptls::app
