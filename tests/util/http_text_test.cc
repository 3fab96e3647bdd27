// The HTTP/1.x text helpers: the end of a head with CRLF and bare LF line
// ends, found again by a caller that appends.
#include "dptls/util/http_text.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace dptls {
namespace {

constexpr size_t kNone = std::string_view::npos;

TEST(HttpHeadEndTest, FindsTheEmptyLine) {
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 27U);
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\n\r\nbody"), 18U);
  EXPECT_EQ(http_head_end("GET / HTTP/1.0\n\n"), 16U);
  EXPECT_EQ(http_head_end("GET / HTTP/1.0\nHost: a\r\n\n"), 25U);
  EXPECT_EQ(http_head_end("GET / HTTP/1.0\r\nHost: a\n\r\n"), 26U);
}

TEST(HttpHeadEndTest, NoneUntilTheHeadIsComplete) {
  EXPECT_EQ(http_head_end(""), kNone);
  EXPECT_EQ(http_head_end("\n"), kNone);
  EXPECT_EQ(http_head_end("GET /hea"), kNone);
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\nHost: a\r\n"), kNone);
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r"), kNone);
  // A CR alone is not a line end.
  EXPECT_EQ(http_head_end("GET / HTTP/1.1\r\r\n"), kNone);
}

TEST(HttpHeadEndTest, AppendedPiecesAreFoundFromTheBoundary) {
  const std::string request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  // Every split, including those inside "\r\n\r\n": looking from the
  // boundary finds what looking at the whole finds.
  for (size_t cut = 0; cut <= request.size(); ++cut) {
    const std::string_view first(request.data(), cut);
    if (http_head_end(first) != kNone) {
      continue;
    }
    EXPECT_EQ(http_head_end(request, cut), request.size()) << cut;
  }
}

}  // namespace
}  // namespace dptls
