// Small helpers for HTTP/1.x header text (RFC 9110, RFC 9112): field
// names and auth schemes compare case-insensitively, values are trimmed of
// optional whitespace. ASCII only, no locale; views into the caller's
// text, no allocation.
#pragma once

#include <cstddef>
#include <string_view>

namespace dptls {

// Whether `a` and `b` are the same ignoring ASCII case.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// `s` without leading and trailing optional whitespace (SP, HTAB;
// RFC 9110 section 5.6.3) nor the CR of a CRLF line end.
constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The length of the head at the start of `s` (a request or status line
// and the header fields) up to and including the empty line that ends it:
// "\r\n\r\n", or with a bare LF for either line end (RFC 9112 section 2.2
// lets a recipient take LF alone as a line end). npos while `s` holds no
// such line. `from`: where the LF of the empty line may start, for a caller
// that appends to `s` and has looked at the bytes before (0: all of `s`).
constexpr size_t http_head_end(std::string_view s, size_t from = 0) {
  for (size_t i = from > 0 ? from : 1; i < s.size(); ++i) {
    if (s[i] == '\n' && (s[i - 1] == '\n' ||
                         (s[i - 1] == '\r' && i >= 2 && s[i - 2] == '\n'))) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace dptls
