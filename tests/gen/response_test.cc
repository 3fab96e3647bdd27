// The load generator's response reader: heads ending in CRLF or bare LF,
// fed whole, byte by byte and in every two-piece split; Content-Length and
// Connection; the body checked against the server's pattern; and each
// refusal (a status other than 200, no Content-Length, a head over
// kMaxHead, bytes after the end, a wrong body byte).
#include "dptls/gen/response.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "dptls/app/http.h"

namespace dptls::gen {
namespace {

std::string Body(size_t n, size_t from = 0) {
  std::string b(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    b[i] = static_cast<char>(app::http_body_byte(from + i));
  }
  return b;
}

std::string Response(size_t body_len, const std::string& eol = "\r\n",
                     const std::string& extra = "") {
  return "HTTP/1.1 200 OK" + eol +
         "Content-Length: " + std::to_string(body_len) + eol + extra + eol +
         Body(body_len);
}

ResponseError Feed(ResponseReader& r, const std::string& s) {
  return r.feed(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(ResponseReader, WholeByteByByteAndEverySplit) {
  for (const std::string eol : {"\r\n", "\n"}) {
    const std::string resp = Response(300, eol);
    const size_t head_len = resp.size() - 300;
    ResponseReader whole;
    whole.reset();
    ASSERT_EQ(Feed(whole, resp), ResponseError::kNone);
    EXPECT_TRUE(whole.done());
    EXPECT_EQ(whole.content_length(), 300u);
    EXPECT_EQ(whole.bytes(), resp.size());
    EXPECT_FALSE(whole.close());

    ResponseReader bytewise;
    bytewise.reset();
    for (size_t i = 0; i < resp.size(); ++i) {
      ASSERT_FALSE(bytewise.done()) << i;
      ASSERT_EQ(Feed(bytewise, resp.substr(i, 1)), ResponseError::kNone) << i;
    }
    EXPECT_TRUE(bytewise.done());

    for (size_t cut = 0; cut <= resp.size(); ++cut) {
      ResponseReader split;
      split.reset();
      ASSERT_EQ(Feed(split, resp.substr(0, cut)), ResponseError::kNone) << cut;
      EXPECT_EQ(split.done(), cut == resp.size()) << cut;
      ASSERT_EQ(Feed(split, resp.substr(cut)), ResponseError::kNone) << cut;
      ASSERT_TRUE(split.done()) << cut;
      ASSERT_EQ(split.bytes(), resp.size()) << cut;
    }
    EXPECT_GT(head_len, 0u);
  }
}

TEST(ResponseReader, EmptyBodyAndConnectionClose) {
  ResponseReader r;
  r.reset();
  ASSERT_EQ(Feed(r, Response(0, "\r\n", "Connection: close\r\n")),
            ResponseError::kNone);
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(r.close());
  // The next response on the same reader.
  r.reset();
  ASSERT_EQ(Feed(r, Response(5)), ResponseError::kNone);
  EXPECT_TRUE(r.done());
  EXPECT_FALSE(r.close());
}

TEST(ResponseReader, Refusals) {
  const auto fed = [](const std::string& s, bool check = true) {
    ResponseReader r(check);
    r.reset();
    return Feed(r, s);
  };
  EXPECT_EQ(fed("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            ResponseError::kBadStatus);
  EXPECT_EQ(fed("HTTP/1.1 200 OK\r\nX: y\r\n\r\n"),
            ResponseError::kBadResponse);  // no Content-Length
  EXPECT_EQ(fed(Response(10) + "x"), ResponseError::kBadResponse);
  std::string bad = Response(100);
  bad[bad.size() - 7] ^= 0x01;
  EXPECT_EQ(fed(bad), ResponseError::kBadBody);
  EXPECT_EQ(fed(bad, false), ResponseError::kNone);  // not checked
  // A head of exactly kMaxHead bytes is taken; one byte more is not.
  const std::string base = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ";
  const std::string pad(ResponseReader::kMaxHead - base.size() - 4, 'a');
  EXPECT_EQ(fed(base + pad + "\r\n\r\n"), ResponseError::kNone);
  EXPECT_EQ(fed(base + pad + "a\r\n\r\n"), ResponseError::kBadResponse);
  // The error is sticky.
  ResponseReader r;
  r.reset();
  EXPECT_EQ(Feed(r, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
            ResponseError::kBadStatus);
  EXPECT_EQ(Feed(r, Response(1)), ResponseError::kBadStatus);
}

}  // namespace
}  // namespace dptls::gen
