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

}  // namespace dptls
