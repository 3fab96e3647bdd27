// libFuzzer target for the HTTP/1.1 application's request parser
// (src/app/http.cc): the input is fed to an HttpApp through a fake
// connection in several ways, which must all give the same bytes, and the
// bytes must be a well-formed sequence of responses.
//
// Input: byte 0 = config, bytes 1-2 = a split point (little-endian, taken
// modulo the request bytes' length + 1), then the request bytes.
//   config bit 0: max_header_bytes 64 (else the default 8192)
//         bit 1: body_bytes 0 (else 5)
//         bits 2-3: write space per on_writable() while draining the
//               split run: unlimited, 1, 7 or 100 bytes
//         bit 4: the clock moves by a second between the two records of
//               the split run (responses already started keep their date;
//               only the Date values may then differ from the whole run)
// Runs, each on a new HttpApp and connection:
//   whole  the request bytes as one record, unlimited write space
//   split  two records cut at the split point, write space as configured
//   bytes  one record of one-byte segments
// then on_peer_closed(). Checked:
//   - the three runs wrote the same bytes, made the same shutdown() calls
//     and counted the same requests and errors; the split run may differ in
//     Date values when the clock moved, and in which response says
//     "Connection: close" (see comparable());
//   - no write() after shutdown(), none larger than write_space();
//     shutdown() exactly once after on_peer_closed(), never abort();
//   - the output is a sequence of responses: "HTTP/1.1 " status SP reason
//     CRLF, "Date: " and an IMF-fixdate CRLF, header lines, CRLF, then a
//     body of Content-Length bytes of the body pattern or none (HEAD); a
//     status of 200, 400, 414, 431 or 501; anything but a 200 and any
//     response with "Connection: close" is the last; as many responses as
//     stats().requests.
//
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true && ninja -C
// build-fuzz fuzz/http_request_fuzz; run: build-fuzz/fuzz/http_request_fuzz
// tests/app/http_corpus (add a scratch directory first to keep new
// inputs). The seeds are written by fuzz/gen_http_corpus.py.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dptls/app/http.h"

namespace {

using dptls::app::AppConn;
using dptls::app::HttpApp;
using dptls::app::HttpConfig;
using dptls::crypto::IoSegment;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", what);
  if (!detail.empty()) {
    std::fprintf(stderr, "output (%zu bytes): %.*s\n", detail.size(),
                 static_cast<int>(std::min<size_t>(detail.size(), 2000)),
                 detail.data());
  }
  std::abort();
}

class Conn final : public AppConn {
 public:
  static constexpr size_t kUnlimited = SIZE_MAX;

  size_t write_space() const override { return shutdowns != 0 ? 0 : space; }
  size_t write(std::span<const uint8_t> bytes) override {
    if (shutdowns != 0) {
      fail("write() after shutdown()");
    }
    if (bytes.size() > space) {
      fail("write() larger than write_space()");
    }
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (space != kUnlimited) {
      space -= bytes.size();
    }
    return bytes.size();
  }
  void shutdown() override { ++shutdowns; }
  void abort() override { fail("abort()"); }
  std::string_view alpn() const override { return {}; }
  std::string_view server_name() const override { return {}; }
  std::string_view peer_identity() const override { return {}; }

  std::string out;
  size_t space = kUnlimited;
  size_t shutdowns = 0;
};

struct Result {
  std::string out;
  size_t shutdowns_before_close = 0;
  uint64_t requests = 0;
  std::vector<uint64_t> errors;
};

constexpr uint64_t kClock = 1764000000;

// Feeds `records` (each a list of segments) to a new app; drains with
// `step` bytes of write space at a time.
Result run(const HttpConfig& config,
           const std::vector<std::vector<std::string_view>>& records,
           size_t step, bool tick) {
  HttpApp app(config);
  app.on_clock(kClock);
  Conn conn;
  app.on_open(conn);
  conn.space = step;
  const auto drain = [&] {
    for (;;) {
      const size_t before = conn.out.size();
      conn.space = step;
      app.on_writable(conn);
      if (conn.out.size() == before) {
        return;
      }
    }
  };
  for (size_t r = 0; r < records.size(); ++r) {
    if (r != 0 && tick) {
      app.on_clock(kClock + 1);
    }
    // Each segment in a buffer of its own: ASan sees a read past its end.
    std::vector<std::vector<uint8_t>> bufs;
    std::vector<IoSegment> segs;
    for (std::string_view s : records[r]) {
      bufs.emplace_back(s.begin(), s.end());
    }
    for (std::vector<uint8_t>& b : bufs) {
      segs.push_back({b.data(), b.size()});
    }
    app.wants_data(conn, 0);
    app.on_data(conn, segs);
    drain();
  }
  Result res;
  res.shutdowns_before_close = conn.shutdowns;
  app.on_peer_closed(conn);
  drain();
  if (conn.shutdowns != 1) {
    fail("not one shutdown() after on_peer_closed()", conn.out);
  }
  if (app.wants_data(conn, 0)) {
    fail("wants_data() after shutdown()");
  }
  app.on_close(conn);
  res.out = std::move(conn.out);
  res.requests = app.stats().requests;
  const auto& e = app.stats().errors;
  res.errors.assign(std::begin(e), std::end(e));
  if (app.stats().responses_bytes != res.out.size()) {
    fail("responses_bytes differs from the bytes written", res.out);
  }
  return res;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// An IMF-fixdate's shape: "Sun, 06 Nov 1994 08:49:37 GMT".
bool is_imf_fixdate(std::string_view d) {
  constexpr std::string_view kDays = "SunMonTueWedThuFriSat";
  constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (d.size() != dptls::app::kHttpDateBytes) {
    return false;
  }
  const std::string_view day = d.substr(0, 3);
  const std::string_view month = d.substr(8, 3);
  const size_t di = kDays.find(day);
  const size_t mi = kMonths.find(month);
  if (di == std::string_view::npos || di % 3 != 0 ||
      mi == std::string_view::npos || mi % 3 != 0) {
    return false;
  }
  // d: a digit; w, m: the names checked above; anything else as is.
  const std::string_view shape = "www, dd mmm dddd dd:dd:dd GMT";
  for (size_t i = 0; i < d.size(); ++i) {
    const char s = shape[i];
    if (s == 'd' ? !is_digit(d[i]) : s != 'w' && s != 'm' && s != d[i]) {
      return false;
    }
  }
  return true;
}

// Checks the response sequence; returns how many responses it holds.
uint64_t check_responses(const std::string& out, uint64_t body_bytes) {
  std::string_view rest = out;
  uint64_t n = 0;
  bool last = false;
  while (!rest.empty()) {
    if (last) {
      fail("a response after an error or Connection: close", out);
    }
    const size_t end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      fail("a response head without its end", out);
    }
    const std::string_view head = rest.substr(0, end + 2);
    rest.remove_prefix(end + 4);
    ++n;
    if (!head.starts_with("HTTP/1.1 ") || head.size() < 13 ||
        !is_digit(head[9]) || !is_digit(head[10]) || !is_digit(head[11]) ||
        head[12] != ' ') {
      fail("a malformed status line", out);
    }
    const std::string_view status = head.substr(9, 3);
    if (status != "200" && status != "400" && status != "414" &&
        status != "431" && status != "501") {
      fail("an unexpected status", out);
    }
    last = status != "200";
    size_t pos = head.find("\r\n") + 2;
    if (head.substr(pos, 6) != "Date: " ||
        !is_imf_fixdate(head.substr(pos + 6, dptls::app::kHttpDateBytes)) ||
        head.substr(pos + 6 + dptls::app::kHttpDateBytes, 2) != "\r\n") {
      fail("no well-formed Date right after the status line", out);
    }
    uint64_t length = UINT64_MAX;
    while (pos < head.size()) {
      const size_t eol = head.find("\r\n", pos);
      const std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      const size_t colon = line.find(": ");
      if (colon == std::string_view::npos || colon == 0) {
        fail("a malformed header line", out);
      }
      if (line == "Connection: close") {
        last = true;
      }
      if (line.starts_with("Content-Length: ")) {
        length =
            std::strtoull(std::string(line.substr(16)).c_str(), nullptr, 10);
      }
    }
    if (length == UINT64_MAX || (status == "200" && length != body_bytes) ||
        (status != "200" && length != 0)) {
      fail("a wrong or missing Content-Length", out);
    }
    // A body, unless HEAD: then the next response or the end follows.
    if (length != 0 && !rest.starts_with("HTTP/1.1 ") && !rest.empty()) {
      if (rest.size() < length) {
        fail("a body cut short", out);
      }
      for (uint64_t i = 0; i < length; ++i) {
        if (static_cast<uint8_t>(rest[i]) != dptls::app::http_body_byte(i)) {
          fail("a body byte not of the pattern", out);
        }
      }
      rest.remove_prefix(length);
    }
  }
  return n;
}

// What may differ between a run in one record and a run in two: `out` with
// the Date values blanked (when the clock moved between the records), and
// without "Connection: close" lines. A response is marked close when the
// close is known as it starts; with the input in two records, a response
// can start before the second record says the connection is to close (a
// malformed chunked body after its request, Connection: close on a later
// request), and then goes out without it (check_responses() still holds
// every close to be the last response).
std::string comparable(std::string out, bool dates) {
  for (size_t at = 0;
       dates && (at = out.find("\r\nDate: ", at)) != std::string::npos;
       at += 8) {
    std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at + 8),
                std::min(dptls::app::kHttpDateBytes, out.size() - at - 8), '#');
  }
  constexpr std::string_view kClose = "\r\nConnection: close";
  for (size_t at = 0; (at = out.find(kClose, at)) != std::string::npos;) {
    out.erase(at, kClose.size());
  }
  return out;
}

// `split` (in two records) is `whole` but for what comparable() drops.
void compare(const Result& a, const Result& b, const char* what, bool exact,
             bool dates) {
  if (exact ? a.out != b.out
            : comparable(a.out, dates) != comparable(b.out, dates)) {
    std::fprintf(stderr, "whole:\n%s\n", a.out.c_str());
    fail(what, b.out);
  }
  if (a.shutdowns_before_close != b.shutdowns_before_close ||
      a.requests != b.requests || a.errors != b.errors) {
    fail(what, b.out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) {
    return 0;
  }
  const uint8_t config = data[0];
  const size_t split_seed = data[1] | (size_t{data[2]} << 8);
  const std::string_view text(reinterpret_cast<const char*>(data + 3),
                              size - 3);
  HttpConfig hc;
  if ((config & 1) != 0) {
    hc.max_header_bytes = 64;
  }
  hc.body_bytes = (config & 2) != 0 ? 0 : 5;
  constexpr size_t kSteps[] = {Conn::kUnlimited, 1, 7, 100};
  const size_t step = kSteps[(config >> 2) & 3];
  const bool tick = (config & 16) != 0;
  const size_t cut = split_seed % (text.size() + 1);

  const Result whole = run(hc, {{text}}, Conn::kUnlimited, false);
  const uint64_t responses = check_responses(whole.out, hc.body_bytes);
  if (responses != whole.requests) {
    fail("responses written differ from stats().requests", whole.out);
  }
  const Result split =
      run(hc, {{text.substr(0, cut)}, {text.substr(cut)}}, step, tick);
  check_responses(split.out, hc.body_bytes);
  compare(whole, split, "the split run differs from the whole run", false,
          tick);
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) {
    bytes.push_back(text.substr(i, 1));
  }
  const Result one = run(hc, {bytes}, Conn::kUnlimited, false);
  compare(whole, one, "the one-byte-segment run differs from the whole run",
          true, false);
  return 0;
}
