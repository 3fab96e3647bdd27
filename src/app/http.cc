#include "dptls/app/http.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <iterator>
#include <new>
#include <type_traits>

namespace dptls::app {

namespace {

// The body is written from a buffer holding the pattern repeated, so one
// write() covers up to ~16 KB (a TLS record's worth) whatever the offset.
constexpr size_t kPatternPeriod = kHttpBodyPattern.size();
constexpr size_t kPatternBufBytes = kPatternPeriod * 443;
static_assert(HttpApp::kJoinedBodyBytes <= kPatternBufBytes);
constexpr std::array<uint8_t, kPatternBufBytes> kPatternBuf = [] {
  std::array<uint8_t, kPatternBufBytes> buf{};
  for (size_t i = 0; i < buf.size(); ++i) {
    buf[i] = http_body_byte(i);
  }
  return buf;
}();

// Where the request parser is.
enum ParseState : uint8_t {
  kReqStart = 0,  // before the method; empty lines are skipped here
  kReqStartLf,    // LF after an empty line's CR
  kMethod,
  kTarget,
  kVersion,       // matching "HTTP/1." (pos = bytes matched)
  kVersionMinor,  // the x of HTTP/1.x
  kReqLineEnd,    // CR or LF after the version
  kReqLineLf,     // LF after the request line's CR
  kLineStart,     // start of a header line, or the empty line
  kName,
  kValueLead,  // optional whitespace after the colon
  kValue,
  kValueLf,    // LF after a header line's CR
  kHeadEndLf,  // LF after the empty line's CR
  kBody,       // skipping Content-Length bytes (num = bytes left)
  // A chunked body (RFC 9112 7.1), read after the response is owed, as a
  // Content-Length body is; head_bytes counts each chunk line, then the
  // trailers.
  kChunkSize,       // hex digits (num = the size so far, digits = count)
  kChunkExt,        // after the size: extensions (pos = 1 after ';')
  kChunkSizeLf,     // LF after a chunk line's CR
  kChunkData,       // skipping chunk data (num = bytes left)
  kChunkDataEnd,    // CR or LF after the chunk data
  kChunkDataLf,     // LF after the chunk data's CR
  kTrailerStart,    // start of a trailer line, or the empty line
  kTrailerName,     // a trailer field's name
  kTrailerValue,    // its value, skipped
  kTrailerValueLf,  // LF after a trailer line's CR
  kTrailerEndLf,    // LF after the final empty line's CR
};

// Response variants: the three 200 heads (HttpApp::heads_), then the error
// responses. An error response always closes the connection.
enum Variant : uint8_t {
  kOkPlain = 0,
  kOkKeepAlive,  // HTTP/1.0 request with Connection: keep-alive
  kOkClose,
  kErr400,
  kErr414,
  kErr431,
  kErr501,
};

// ConnState::error when no error response is owed.
constexpr uint8_t kNoErrorResponse = 0;

// Every head: the status line, the Date line, then the rest.
constexpr std::string_view kErrorStatus[] = {
    "HTTP/1.1 400 Bad Request\r\n",
    "HTTP/1.1 414 URI Too Long\r\n",
    "HTTP/1.1 431 Request Header Fields Too Large\r\n",
    "HTTP/1.1 501 Not Implemented\r\n",
};
constexpr std::string_view kErrorRest =
    "Server: dptls\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
constexpr std::string_view kOkStatus = "HTTP/1.1 200 OK\r\n";
constexpr std::string_view kOkRest =
    "Server: dptls\r\n"
    "Content-Type: application/octet-stream\r\nContent-Length: ";
constexpr std::string_view kDatePrefix = "Date: ";
// The Date line's length.
constexpr size_t kDateLineBytes = kDatePrefix.size() + kHttpDateBytes + 2;

// Copies `parts` to `out` one after the other; the length.
template <size_t N>
size_t join(uint8_t* out, const std::string_view (&parts)[N]) {
  size_t len = 0;
  for (std::string_view part : parts) {
    std::memcpy(out + len, part.data(), part.size());
    len += part.size();
  }
  return len;
}

// Kind of an owed response (bits).
constexpr uint8_t kKindHead = 1;
constexpr uint8_t kKindKeepAlive10 = 2;

// Per-request flags.
constexpr uint16_t kReqHttp10 = 1;
constexpr uint16_t kReqHead = 2;
constexpr uint16_t kReqConnClose = 4;
constexpr uint16_t kReqConnKeepAlive = 8;
constexpr uint16_t kReqHaveLength = 16;
// Transfer-Encoding: present; `chunked` listed; another coding listed;
// something listed after chunked, chunked twice included (the body's
// length cannot be known).
constexpr uint16_t kReqTe = 32;
constexpr uint16_t kReqTeChunked = 64;
constexpr uint16_t kReqTeOther = 128;
constexpr uint16_t kReqTeBad = 256;
constexpr uint16_t kReqMethodNotServed = 512;  // 501 if the head is good
constexpr uint16_t kReqHost = 1024;            // a Host line was read

// Per-connection flags.
constexpr uint8_t kConnClosing = 1;  // input ignored; close after owed
constexpr uint8_t kConnDone = 2;     // shutdown() called

// Headers and tokens recognised, lowercase; a candidate's bit in the match
// mask is its index.
constexpr std::string_view kHeaderNames[] = {"content-length", "connection",
                                             "transfer-encoding", "host"};
enum Header : uint8_t {
  kHdrContentLength = 0,
  kHdrConnection,
  kHdrTransferEncoding,
  kHdrHost,
  kHdrOther,
};
constexpr std::string_view kConnTokens[] = {"close", "keep-alive"};
constexpr std::string_view kTeTokens[] = {"chunked"};
// The methods served (case-sensitive, RFC 9110 9.1); any other, CONNECT
// and TRACE among them, gets 501. kMethodHead is HEAD's index.
constexpr std::string_view kMethods[] = {"GET", "HEAD",   "POST",
                                         "PUT", "DELETE", "OPTIONS"};
constexpr size_t kMethodHead = 1;
constexpr std::string_view kVersionPrefix = "HTTP/1.";
// The commonest method with its space, taken whole by plain_run().
constexpr std::string_view kGetSp = "GET ";
// " HTTP/1.x" CRLF: a request line's end after the target.
constexpr size_t kLineTailBytes = 1 + kVersionPrefix.size() + 1 + 2;

// 19 digits always fit in uint64_t; so do 16 hex digits.
constexpr uint8_t kMaxLengthDigits = 19;
constexpr uint8_t kMaxChunkSizeDigits = 16;

// RFC 9110 5.6.2 tchar, as a table: the parser asks once per byte.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
               std::string_view::npos;
  }
  return t;
}();

constexpr bool is_tchar(uint8_t c) { return kTchar[c]; }

// The Host field value (RFC 9110 7.2: Host = uri-host [ ":" port ], with
// uri-host and port from RFC 3986 3.2.2 and 3.2.3):
//   uri-host    = IP-literal / IPv4address / reg-name
//   IP-literal  = "[" ( IPv6address / IPvFuture ) "]"
//   reg-name    = *( unreserved / pct-encoded / sub-delims )
//   port        = *DIGIT
// reg-name may be empty, so an empty value (RFC 9112 3.2: what a client
// sends when the target has no authority) and ":443" are valid; IPv4address
// is a reg-name. Checked byte by byte: the parts in order, each byte of the
// part's set, "%" followed by two hex digits; inside the brackets only that
// every byte is one an IPv6address or IPvFuture can hold (HEXDIG ":" "."
// "v" and the rest of unreserved / sub-delims / ":"), not the address's
// structure. Whitespace around the value is not part of it (RFC 9110 5.5);
// anything else (whitespace within, "@", "/", a control byte, obs-text,
// an unclosed "[") makes the value invalid.
enum HostPart : uint8_t {
  kHostStart = 0,   // nothing yet
  kHostRegName,     // in a reg-name (or IPv4address)
  kHostLiteral,     // after "[" (pos = 1 once a byte is inside)
  kHostLiteralEnd,  // after "]"
  kHostPort,        // after ":"
  kHostTrailingWs,  // whitespace after the value: only more may follow
};

// unreserved / sub-delims (RFC 3986 2.3, 2.2).
constexpr std::array<bool, 256> kRegNameByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=").find(static_cast<char>(c)) !=
               std::string_view::npos;
  }
  return t;
}();

// A byte step() accepts in a field value without doing anything with it:
// visible, obs-text, SP or HTAB (RFC 9110 5.5); CR, LF, the other controls
// and DEL end the run.
constexpr bool is_plain_value_byte(uint8_t c) {
  return c < 0x20 ? c == '\t' : c != 0x7f;
}

// A hex digit's value, else 16.
constexpr uint8_t hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') {
    return static_cast<uint8_t>(c - '0');
  }
  const uint8_t l = static_cast<uint8_t>(c | 0x20);
  return l >= 'a' && l <= 'f' ? static_cast<uint8_t>(l - 'a' + 10) : 16;
}

constexpr uint8_t to_lower(uint8_t c) {
  return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
}

// Month and weekday names of IMF-fixdate (RFC 9110 5.6.7).
constexpr std::string_view kMonthNames = "JanFebMarAprMayJunJulAugSepOctNovDec";
constexpr std::string_view kDayNames = "SunMonTueWedThuFriSat";

constexpr uint8_t saturating_inc(uint8_t v) {
  return v == UINT8_MAX ? v : static_cast<uint8_t>(v + 1);
}

// Keeps the candidates whose byte `pos` is `c`.
template <size_t N>
uint8_t narrow(uint8_t match, const std::string_view (&cands)[N], uint8_t pos,
               uint8_t c) {
  for (size_t k = 0; k < N; ++k) {
    if (pos >= cands[k].size() || static_cast<uint8_t>(cands[k][pos]) != c) {
      match = static_cast<uint8_t>(match & ~(1u << k));
    }
  }
  return match;
}

// The candidate matched whole by `len` bytes, else N.
template <size_t N>
size_t matched(uint8_t match, const std::string_view (&cands)[N], uint8_t len) {
  for (size_t k = 0; k < N; ++k) {
    if ((match & (1u << k)) != 0 && cands[k].size() == len) {
      return k;
    }
  }
  return N;
}

// The Header a whole name (`len` tchar bytes) is, case-insensitively.
size_t header_of(const uint8_t* name, size_t len) {
  for (size_t k = 0; k < std::size(kHeaderNames); ++k) {
    const std::string_view cand = kHeaderNames[k];
    if (cand.size() != len) {
      continue;
    }
    size_t i = 0;
    while (i < len && to_lower(name[i]) == static_cast<uint8_t>(cand[i])) {
      ++i;
    }
    if (i == len) {
      return k;
    }
  }
  return kHdrOther;
}

}  // namespace

// What the parser and the response writer keep per connection. Zero is the
// state of a new connection.
struct HttpApp::ConnState {
  // Response side.
  uint64_t resp_pos;  // bytes of the current response written
  uint64_t resp_len;  // its length; 0 when none is in progress
  // Request side.
  uint64_t num;             // Content-Length digits so far; body bytes left
  uint64_t content_length;  // the request's Content-Length
  uint64_t resp_clock;      // the second the current response's date spells
  uint32_t owed;            // responses owed and not started
  uint32_t head_bytes;      // bytes of the current request head so far
  // Owed responses as runs of one kind, a ring.
  uint32_t run_count[kMaxRuns];
  uint8_t run_kind[kMaxRuns];
  uint8_t run_first;
  uint8_t run_len;
  uint8_t resp_variant;  // Variant of the current response
  uint8_t error;         // Variant of the error response owed after, or 0
  uint8_t parse;         // ParseState
  uint8_t pos;           // bytes of the current token (saturating)
  uint8_t match;         // candidates the current token still matches
  uint8_t header;        // Header whose value is being read
  uint8_t digits;        // Content-Length or chunk size digits
  uint8_t conn_flags;
  uint16_t req_flags;
};

void format_http_date(uint64_t unix_seconds,
                      std::span<uint8_t, kHttpDateBytes> out) {
  const uint64_t t = std::min(unix_seconds, kHttpDateMaxSeconds);
  const uint64_t days = t / 86400;
  const uint64_t secs = t % 86400;
  // Days to a civil date (H. Hinnant's days_from_civil, inverted), in
  // eras of 400 years counted from 0000-03-01.
  const uint64_t z = days + 719468;
  const uint64_t era = z / 146097;
  const uint64_t doe = z - era * 146097;
  const uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const uint64_t mp = (5 * doy + 2) / 153;
  const uint64_t day = doy - (153 * mp + 2) / 5 + 1;
  const uint64_t month = mp < 10 ? mp + 3 : mp - 9;  // 1-12
  const uint64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  // 1970-01-01 was a Thursday.
  const uint64_t weekday = (days + 4) % 7;
  uint8_t* p = out.data();
  const auto put = [&p](std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    p += text.size();
  };
  const auto put_digits = [&p](uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      p[i] = static_cast<uint8_t>('0' + v % 10);
      v /= 10;
    }
    p += width;
  };
  put(kDayNames.substr(weekday * 3, 3));
  put(", ");
  put_digits(day, 2);
  put(" ");
  put(kMonthNames.substr((month - 1) * 3, 3));
  put(" ");
  put_digits(year, 4);
  put(" ");
  put_digits(secs / 3600, 2);
  put(":");
  put_digits(secs / 60 % 60, 2);
  put(":");
  put_digits(secs % 60, 2);
  put(" GMT");
}

HttpApp::HttpApp(const HttpConfig& config) : config_(config) {
  // A response's length (head + body) must fit in uint64_t.
  config_.body_bytes = std::min(config_.body_bytes, UINT64_MAX - kHeadCapacity);
  // 20 digits at most; the longest Connection line is 24 bytes.
  static_assert(kOkStatus.size() + kDateLineBytes + kOkRest.size() + 20 + 2 +
                    24 + 2 <=
                kHeadCapacity);
  char digits[24];
  const auto res =
      std::to_chars(digits, digits + sizeof(digits), config_.body_bytes);
  const std::string_view length(digits, static_cast<size_t>(res.ptr - digits));
  const std::string_view connection[kOkHeads] = {
      "", "Connection: keep-alive\r\n", "Connection: close\r\n"};
  // The date is a placeholder until on_clock() below writes it.
  const std::string_view date_line("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
  static_assert(
      std::string_view("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n").size() ==
      kDateLineBytes);
  for (size_t v = 0; v < kOkHeads; ++v) {
    const std::string_view parts[] = {kOkStatus, date_line,     kOkRest, length,
                                      "\r\n",    connection[v], "\r\n"};
    const size_t len = join(heads_[v].data(), parts);
    head_lens_[v] = static_cast<uint8_t>(len);
    // The body's first bytes right after the head: a short response is
    // one write().
    std::memcpy(heads_[v].data() + len, kPatternBuf.data(), kJoinedBodyBytes);
  }
  static_assert(std::size(kErrorStatus) == kErrorHeads);
  static_assert(kErrorHeads == kErr501 - kErr400 + 1);
  for (size_t e = 0; e < kErrorHeads; ++e) {
    static_assert(kErrorStatus[2].size() + kDateLineBytes + kErrorRest.size() <=
                  kErrorHeadCapacity);
    const std::string_view parts[] = {kErrorStatus[e], date_line, kErrorRest};
    error_head_lens_[e] =
        static_cast<uint8_t>(join(error_heads_[e].data(), parts));
  }
  clock_ = 1;  // differs: on_clock() formats every date
  on_clock(0);
}

void HttpApp::on_clock(uint64_t unix_seconds) {
  if (unix_seconds == clock_) {
    return;
  }
  clock_ = unix_seconds;
  std::array<uint8_t, kHttpDateBytes> date;
  format_http_date(unix_seconds, date);
  for (uint8_t v = 0; v < kOkHeads + kErrorHeads; ++v) {
    uint8_t* head =
        v < kOkHeads ? heads_[v].data() : error_heads_[v - kOkHeads].data();
    std::memcpy(head + date_offset(v), date.data(), date.size());
  }
}

size_t HttpApp::date_offset(uint8_t variant) {
  const size_t status = variant < kOkHeads
                            ? kOkStatus.size()
                            : kErrorStatus[variant - kErr400].size();
  return status + kDatePrefix.size();
}

std::string_view HttpApp::response_head(uint8_t variant) const {
  if (variant < kOkHeads) {
    return {reinterpret_cast<const char*>(heads_[variant].data()),
            head_lens_[variant]};
  }
  return {reinterpret_cast<const char*>(error_heads_[variant - kErr400].data()),
          error_head_lens_[variant - kErr400]};
}

void HttpApp::on_open(AppConn& conn) {
  // The slot is reused without a destructor call and may be copied.
  static_assert(sizeof(ConnState) <= kAppStateBytes);
  static_assert(std::is_trivially_destructible_v<ConnState>);
  static_assert(std::is_trivially_copyable_v<ConnState>);
  new (conn.state()) ConnState{};
}

bool HttpApp::wants_data(AppConn& conn, size_t pending) {
  const ConnState& s = conn.state_as<ConnState>();
  if ((s.conn_flags & (kConnClosing | kConnDone)) != 0) {
    return false;
  }
  // A request already begun can complete with one byte, so `pending` bytes
  // complete at most pending / kMinRequestBytes + 1 requests.
  const uint64_t could_owe = pending / kMinRequestBytes + 1;
  return could_owe <= kMaxOwed - s.owed;
}

void HttpApp::on_data(AppConn& conn, std::span<const crypto::IoSegment> data) {
  ConnState& s = conn.state_as<ConnState>();
  for (const crypto::IoSegment& seg : data) {
    parse(s, seg.data, seg.len);
  }
  pump(conn, s);
}

void HttpApp::on_writable(AppConn& conn) {
  pump(conn, conn.state_as<ConnState>());
}

void HttpApp::on_peer_closed(AppConn& conn) {
  ConnState& s = conn.state_as<ConnState>();
  s.conn_flags |= kConnClosing;
  pump(conn, s);
}

void HttpApp::on_close(AppConn& conn) {
  conn.state_as<ConnState>().conn_flags |= kConnClosing | kConnDone;
}

bool HttpApp::idle(AppConn& conn) {
  const ConnState& s = conn.state_as<ConnState>();
  // Between requests: nothing owed or being written, and no request head
  // or body partly read.
  return s.resp_len == 0 && s.owed == 0 && s.parse == kReqStart &&
         s.head_bytes == 0 && s.error == 0;
}

void HttpApp::parse(ConnState& s, const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n && (s.conn_flags & kConnClosing) == 0) {
    if (s.parse == kBody || s.parse == kChunkData) {
      const size_t skip = static_cast<size_t>(std::min<uint64_t>(s.num, n - i));
      s.num -= skip;
      i += skip;
      if (s.num == 0) {
        s.parse = s.parse == kBody ? kReqStart : kChunkDataEnd;
      }
      continue;
    }
    // Counted before parsing so an endless line is cut at the limit. Cut
    // within the request line after the method, it is the target that is
    // too long: 414 (RFC 9112 3); else 431. In a chunked body the request
    // is answered already: an endless chunk line (kBadRequest) or trailer
    // section (kTooLarge) just closes.
    if (s.head_bytes >= config_.max_header_bytes) {
      if (s.parse >= kTarget && s.parse <= kReqLineLf) {
        fail(s, AppError::kTooLarge, kErr414);
      } else if (s.parse >= kChunkSize && s.parse <= kChunkDataLf) {
        fail(s, AppError::kBadRequest, kNoErrorResponse);
      } else if (s.parse >= kChunkSize) {
        fail(s, AppError::kTooLarge, kNoErrorResponse);
      } else {
        fail(s, AppError::kTooLarge, kErr431);
      }
      return;
    }
    // Bytes that only extend the current token (a request target, a
    // header name that matches nothing we look for, the value of such a
    // header) and the fixed pieces of a common request are taken in one
    // go (plain_run): what step() would do for each, without a call per
    // byte. They count towards the limit alike.
    const size_t room =
        std::min<size_t>(n - i, config_.max_header_bytes - s.head_bytes);
    if (const size_t run = plain_run(s, p + i, room); run != 0) {
      s.head_bytes += static_cast<uint32_t>(run);
      i += run;
      continue;
    }
    ++s.head_bytes;
    if (!step(s, p[i++])) {
      // A malformed chunked body closes without a 400: its request has
      // its response.
      fail(s, AppError::kBadRequest,
           s.parse >= kChunkSize ? kNoErrorResponse
                                 : static_cast<uint8_t>(kErr400));
      return;
    }
  }
}

size_t HttpApp::plain_run(ConnState& s, const uint8_t* p, size_t n) {
  size_t k = 0;
  switch (s.parse) {
    case kReqStart:
      // "GET " whole: step() would leave the same state (a method served,
      // not HEAD).
      if (n >= kGetSp.size() &&
          std::memcmp(p, kGetSp.data(), kGetSp.size()) == 0) {
        s.parse = kTarget;
        s.pos = 0;
        s.match = 0;
        return kGetSp.size();
      }
      return 0;
    case kTarget:
      while (k < n && p[k] > 0x20 && p[k] != 0x7f) {
        ++k;
      }
      if (k != 0) {
        s.pos = 1;
      }
      // " HTTP/1.x" CRLF right after a target: the rest of the request
      // line at once, as step() would take it.
      if (s.pos != 0 && n - k >= kLineTailBytes &&
          std::memcmp(p + k, " HTTP/1.", kVersionPrefix.size() + 1) == 0) {
        const uint8_t* t = p + k + kVersionPrefix.size() + 1;
        if (t[0] >= '0' && t[0] <= '9' && t[1] == '\r' && t[2] == '\n') {
          if (t[0] == '0') {
            s.req_flags |= kReqHttp10;
          }
          s.parse = kLineStart;
          s.pos = static_cast<uint8_t>(kVersionPrefix.size());
          k += kLineTailBytes;
        }
      }
      return k;
    case kLineStart: {
      // A whole header name and its colon: what step() would do byte by
      // byte, narrowing the candidates, decided at once. Anything else
      // (the empty line, a name cut by the segment's end, a bad byte)
      // goes byte by byte.
      while (k < n && is_tchar(p[k])) {
        ++k;
      }
      if (k == 0 || k == n || p[k] != ':') {
        return 0;
      }
      begin_value(s, header_of(p, k));
      return k + 1;
    }
    case kName:
      if (s.match != 0) {
        return 0;  // still narrowing the candidates: byte by byte
      }
      while (k < n && is_tchar(p[k])) {
        ++k;
      }
      s.pos = static_cast<uint8_t>(std::min<size_t>(s.pos + k, UINT8_MAX));
      return k;
    case kValueLead:
    case kValue:
      if (s.header == kHdrHost) {
        // A reg-name's bytes (the common Host value), as step_host()
        // takes them; the rest (whitespace, '[', ':', '%', the line's
        // end) byte by byte.
        if (s.digits != 0 ||
            (s.match != kHostStart && s.match != kHostRegName)) {
          return 0;
        }
        while (k < n && kRegNameByte[p[k]]) {
          ++k;
        }
        if (k != 0) {
          s.parse = kValue;
          s.match = kHostRegName;
        }
        return k;
      }
      if (s.header != kHdrOther) {
        return 0;
      }
      // For a header we do not read, leading whitespace is taken like any
      // other value byte: the two states do the same.
      s.parse = kValue;
      while (k < n && is_plain_value_byte(p[k])) {
        ++k;
      }
      // The line's CRLF: end_header_line() does nothing more for it.
      if (n - k >= 2 && p[k] == '\r' && p[k + 1] == '\n') {
        s.parse = kLineStart;
        k += 2;
      }
      return k;
    default:
      return 0;
  }
}

bool HttpApp::step(ConnState& s, uint8_t c) {
  switch (s.parse) {
    case kReqStart:
      if (c == '\r') {
        s.parse = kReqStartLf;
        return true;
      }
      if (c == '\n') {
        return true;
      }
      s.parse = kMethod;
      s.pos = 0;
      s.match = (1u << std::size(kMethods)) - 1;
      [[fallthrough]];
    case kMethod:
      if (c == ' ') {
        if (s.pos == 0) {
          return false;
        }
        const size_t m = matched(s.match, kMethods, s.pos);
        if (m == std::size(kMethods)) {
          // 501 once the head is read, unless it is malformed (400).
          s.req_flags |= kReqMethodNotServed;
        } else if (m == kMethodHead) {
          s.req_flags |= kReqHead;
        }
        s.parse = kTarget;
        s.pos = 0;
        return true;
      }
      if (!is_tchar(c)) {
        return false;
      }
      // Methods are case-sensitive (RFC 9110 9.1).
      s.match = narrow(s.match, kMethods, s.pos, c);
      s.pos = saturating_inc(s.pos);
      return true;
    case kTarget:
      if (c == ' ') {
        if (s.pos == 0) {
          return false;
        }
        s.parse = kVersion;
        s.pos = 0;
        return true;
      }
      if (c < 0x21 || c == 0x7f) {
        return false;
      }
      s.pos = 1;
      return true;
    case kVersion:
      if (c != static_cast<uint8_t>(kVersionPrefix[s.pos])) {
        return false;
      }
      if (++s.pos == kVersionPrefix.size()) {
        s.parse = kVersionMinor;
      }
      return true;
    case kVersionMinor:
      if (c < '0' || c > '9') {
        return false;
      }
      if (c == '0') {
        s.req_flags |= kReqHttp10;
      }
      s.parse = kReqLineEnd;
      return true;
    case kReqLineEnd:
      if (c == '\r') {
        s.parse = kReqLineLf;
        return true;
      }
      if (c == '\n') {
        s.parse = kLineStart;
        return true;
      }
      return false;
    case kReqLineLf:
      if (c != '\n') {
        return false;
      }
      s.parse = kLineStart;
      return true;
    case kReqStartLf:
      // A bare CR is not an empty line (RFC 9112 2.2).
      if (c != '\n') {
        return false;
      }
      s.parse = kReqStart;
      return true;
    case kLineStart:
      if (c == '\r') {
        s.parse = kHeadEndLf;
        return true;
      }
      if (c == '\n') {
        end_request_head(s);
        return true;
      }
      // Also refuses obs-fold (a line starting with whitespace) and an
      // empty name.
      if (!is_tchar(c)) {
        return false;
      }
      s.parse = kName;
      s.pos = 0;
      s.match = (1u << std::size(kHeaderNames)) - 1;
      [[fallthrough]];
    case kName:
      if (c == ':') {
        begin_value(s, matched(s.match, kHeaderNames, s.pos));
        return true;
      }
      // Whitespace before the colon is refused too (RFC 9112 5.1).
      if (!is_tchar(c)) {
        return false;
      }
      s.match = narrow(s.match, kHeaderNames, s.pos, to_lower(c));
      s.pos = saturating_inc(s.pos);
      return true;
    case kValueLead:
      if (c == ' ' || c == '\t') {
        return true;
      }
      s.parse = kValue;
      [[fallthrough]];
    case kValue:
      if (c == '\r') {
        s.parse = kValueLf;
        return true;
      }
      if (c == '\n') {
        return end_header_line(s);
      }
      if (s.header == kHdrHost) {
        return step_host(s, c);
      }
      if (!is_plain_value_byte(c)) {
        return false;
      }
      if (s.header == kHdrContentLength) {
        // pos: whitespace seen after the digits.
        if (c >= '0' && c <= '9') {
          if (s.pos != 0 || s.digits == kMaxLengthDigits) {
            return false;
          }
          s.num = s.num * 10 + (c - '0');
          ++s.digits;
          return true;
        }
        if (c == ' ' || c == '\t') {
          s.pos = 1;
          return true;
        }
        return false;
      }
      if (s.header == kHdrConnection || s.header == kHdrTransferEncoding) {
        if (c == ',' || c == ' ' || c == '\t') {
          end_token(s);
          return true;
        }
        s.match = s.header == kHdrConnection
                      ? narrow(s.match, kConnTokens, s.pos, to_lower(c))
                      : narrow(s.match, kTeTokens, s.pos, to_lower(c));
        s.pos = saturating_inc(s.pos);
      }
      return true;
    case kValueLf:
      if (c != '\n') {
        return false;
      }
      return end_header_line(s);
    case kHeadEndLf:
      if (c != '\n') {
        return false;
      }
      end_request_head(s);
      return true;
    default:
      return step_chunked(s, c);
  }
}

bool HttpApp::step_chunked(ConnState& s, uint8_t c) {
  switch (s.parse) {
    case kChunkSize:
      if (const uint8_t h = hex_value(c); h < 16) {
        if (s.digits == kMaxChunkSizeDigits) {
          return false;
        }
        s.num = s.num * 16 + h;
        ++s.digits;
        return true;
      }
      if (s.digits == 0) {
        return false;
      }
      s.parse = kChunkExt;
      s.pos = 0;
      [[fallthrough]];
    case kChunkExt:
      // chunk-ext (RFC 9112 7.1.1): after the size only whitespace, then
      // ';' (pos = 1 once seen); what follows it is passed over to the
      // line's end.
      if (c == '\r') {
        s.parse = kChunkSizeLf;
        return true;
      }
      if (c == '\n') {
        end_chunk_line(s);
        return true;
      }
      if (s.pos == 0) {
        s.pos = c == ';' ? 1 : 0;
        return c == ';' || c == ' ' || c == '\t';
      }
      return is_plain_value_byte(c);
    case kChunkSizeLf:
      if (c != '\n') {
        return false;
      }
      end_chunk_line(s);
      return true;
    case kChunkDataEnd:
      if (c == '\r') {
        s.parse = kChunkDataLf;
        return true;
      }
      [[fallthrough]];
    case kChunkDataLf:
      if (c != '\n') {
        return false;
      }
      // The next chunk line: its own count towards the limit.
      s.parse = kChunkSize;
      s.num = 0;
      s.digits = 0;
      s.head_bytes = 0;
      return true;
    case kTrailerStart:
      if (c == '\r') {
        s.parse = kTrailerEndLf;
        return true;
      }
      if (c == '\n') {
        end_chunked_body(s);
        return true;
      }
      // Refuses obs-fold and an empty name, as in the head.
      if (!is_tchar(c)) {
        return false;
      }
      s.parse = kTrailerName;
      return true;
    case kTrailerName:
      if (c == ':') {
        s.parse = kTrailerValue;
        return true;
      }
      return is_tchar(c);
    case kTrailerValue:
      if (c == '\r') {
        s.parse = kTrailerValueLf;
        return true;
      }
      if (c == '\n') {
        s.parse = kTrailerStart;
        return true;
      }
      return is_plain_value_byte(c);
    case kTrailerValueLf:
      if (c != '\n') {
        return false;
      }
      s.parse = kTrailerStart;
      return true;
    case kTrailerEndLf:
      if (c != '\n') {
        return false;
      }
      end_chunked_body(s);
      return true;
    default:
      return false;
  }
}

void HttpApp::end_chunk_line(ConnState& s) {
  // The last chunk (size 0) is followed by the trailer section.
  s.parse = s.num == 0 ? kTrailerStart : kChunkData;
}

void HttpApp::end_chunked_body(ConnState& s) {
  s.head_bytes = 0;
  s.parse = kReqStart;
}

void HttpApp::end_token(ConnState& s) {
  if (s.pos != 0) {
    if (s.header == kHdrConnection) {
      const size_t t = matched(s.match, kConnTokens, s.pos);
      if (t == 0) {
        s.req_flags |= kReqConnClose;
      } else if (t == 1) {
        s.req_flags |= kReqConnKeepAlive;
      }
    } else if (s.header == kHdrTransferEncoding) {
      // chunked must be the final coding, and only once (RFC 9112 6.1).
      if ((s.req_flags & kReqTeChunked) != 0) {
        s.req_flags |= kReqTeBad;
      }
      if (matched(s.match, kTeTokens, s.pos) == 0) {
        s.req_flags |= kReqTeChunked;
      } else {
        s.req_flags |= kReqTeOther;
      }
    }
  }
  s.pos = 0;
  s.match = UINT8_MAX;
}

void HttpApp::begin_value(ConnState& s, size_t header) {
  s.header = static_cast<uint8_t>(header);
  if (header == kHdrTransferEncoding) {
    s.req_flags |= kReqTe;
  }
  s.parse = kValueLead;
  s.pos = 0;
  // Every token candidate; for Host, the part of the value (HostPart).
  s.match = header == kHdrHost ? kHostStart : UINT8_MAX;
  s.num = 0;
  s.digits = 0;
}

bool HttpApp::step_host(ConnState& s, uint8_t c) {
  // pct-encoded: digits = hex digits still to come.
  if (s.digits != 0) {
    --s.digits;
    return hex_value(c) < 16;
  }
  if (c == ' ' || c == '\t') {
    const bool inside_literal = s.match == kHostLiteral;
    s.match = kHostTrailingWs;
    return !inside_literal;
  }
  switch (s.match) {
    case kHostStart:
      if (c == '[') {
        s.match = kHostLiteral;
        return true;
      }
      s.match = kHostRegName;
      [[fallthrough]];
    case kHostRegName:
      if (c == ':') {
        s.match = kHostPort;
        return true;
      }
      if (c == '%') {
        s.digits = 2;
        return true;
      }
      return kRegNameByte[c];
    case kHostLiteral:
      if (c == ']') {
        s.match = kHostLiteralEnd;
        return s.pos != 0;
      }
      s.pos = 1;
      return kRegNameByte[c] || c == ':';
    case kHostLiteralEnd:
      s.match = kHostPort;
      return c == ':';
    case kHostPort:
      return c >= '0' && c <= '9';
    default:  // kHostTrailingWs
      return false;
  }
}

bool HttpApp::end_header_line(ConnState& s) {
  s.parse = kLineStart;
  if (s.header == kHdrHost) {
    // One Host line only (RFC 9112 3.2), and not cut inside a
    // pct-encoded byte or an IP-literal.
    if ((s.req_flags & kReqHost) != 0 || s.digits != 0 ||
        s.match == kHostLiteral) {
      return false;
    }
    s.req_flags |= kReqHost;
    return true;
  }
  if (s.header == kHdrContentLength) {
    if (s.digits == 0) {
      return false;
    }
    // A repeated Content-Length must repeat the value (RFC 9112 6.3).
    if ((s.req_flags & kReqHaveLength) != 0 && s.content_length != s.num) {
      return false;
    }
    s.content_length = s.num;
    s.req_flags |= kReqHaveLength;
  } else {
    end_token(s);
  }
  return true;
}

void HttpApp::end_request_head(ConnState& s) {
  const uint16_t req = s.req_flags;
  const uint64_t body = s.content_length;
  s.req_flags = 0;
  s.content_length = 0;
  s.head_bytes = 0;
  s.parse = kReqStart;
  // RFC 9112 3.2: an HTTP/1.1 request MUST have a Host line; a request
  // without one is malformed, so 400 before the method's 501.
  if ((req & (kReqHttp10 | kReqHost)) == 0) {
    fail(s, AppError::kBadRequest, kErr400);
    return;
  }
  if ((req & kReqMethodNotServed) != 0) {
    fail(s, AppError::kUnsupported, kErr501);
    return;
  }
  if ((req & kReqTe) != 0) {
    // RFC 9112 6.1 and 6.3: with Content-Length too, in HTTP/1.0, or with
    // chunked not the final coding (or twice), the framing cannot be
    // trusted: 400 and close. A coding we do not know before chunked: 501.
    if ((req & (kReqHaveLength | kReqHttp10 | kReqTeBad)) != 0 ||
        (req & kReqTeChunked) == 0) {
      fail(s, AppError::kBadRequest, kErr400);
    } else if ((req & kReqTeOther) != 0) {
      fail(s, AppError::kUnsupported, kErr501);
    } else if (owe_response(s, req)) {
      // Answered now, like a Content-Length request (a client waiting for
      // 100 Continue need not wait); the body is read through after.
      s.parse = kChunkSize;
      s.num = 0;
      s.digits = 0;
    }
    return;
  }
  if (owe_response(s, req) && body != 0) {
    s.num = body;
    s.parse = kBody;
  }
}

bool HttpApp::owe_response(ConnState& s, uint16_t req) {
  const bool http10 = (req & kReqHttp10) != 0;
  const bool keep_alive =
      (req & kReqConnClose) == 0 && (!http10 || (req & kReqConnKeepAlive) != 0);
  uint8_t kind = (req & kReqHead) != 0 ? kKindHead : 0;
  if (http10 && keep_alive) {
    kind |= kKindKeepAlive10;
  }
  // Append to the last run, or open a new one.
  const size_t last = (s.run_first + s.run_len + kMaxRuns - 1) % kMaxRuns;
  if (s.owed == kMaxOwed) {
    // wants_data() keeps this from happening; answer what is owed and close.
    s.conn_flags |= kConnClosing;
    return false;
  }
  if (s.run_len != 0 && s.run_kind[last] == kind) {
    ++s.run_count[last];
  } else if (s.run_len < kMaxRuns) {
    const size_t next = (s.run_first + s.run_len) % kMaxRuns;
    s.run_kind[next] = kind;
    s.run_count[next] = 1;
    ++s.run_len;
  } else {
    // No room to remember this request's kind: it gets no response and the
    // connection closes after the ones owed (see http.h).
    s.conn_flags |= kConnClosing;
    return false;
  }
  ++s.owed;
  if (!keep_alive) {
    s.conn_flags |= kConnClosing;
    return false;
  }
  return true;
}

void HttpApp::fail(ConnState& s, AppError error, uint8_t variant) {
  s.conn_flags |= kConnClosing;
  s.error = variant;
  ++stats_.errors[static_cast<size_t>(error)];
}

bool HttpApp::start_next_response(ConnState& s) {
  if (s.owed != 0) {
    const uint8_t kind = s.run_kind[s.run_first];
    if (--s.run_count[s.run_first] == 0) {
      s.run_first = static_cast<uint8_t>((s.run_first + 1) % kMaxRuns);
      --s.run_len;
    }
    --s.owed;
    // Whether this is the last response is known now: input stops once a
    // close is decided.
    const bool last =
        s.owed == 0 && s.error == 0 && (s.conn_flags & kConnClosing) != 0;
    if (last) {
      s.resp_variant = kOkClose;
    } else if ((kind & kKindKeepAlive10) != 0) {
      s.resp_variant = kOkKeepAlive;
    } else {
      s.resp_variant = kOkPlain;
    }
    s.resp_len = head_lens_[s.resp_variant] +
                 ((kind & kKindHead) != 0 ? 0 : config_.body_bytes);
  } else if (s.error != 0) {
    s.resp_variant = s.error;
    s.error = 0;
    s.resp_len = response_head(s.resp_variant).size();
  } else {
    return false;
  }
  s.resp_pos = 0;
  s.resp_clock = clock_;
  ++stats_.requests;
  return true;
}

void HttpApp::pump(AppConn& conn, ConnState& s) {
  while ((s.conn_flags & kConnDone) == 0) {
    if (s.resp_len == 0 && !start_next_response(s)) {
      if ((s.conn_flags & kConnClosing) != 0) {
        s.conn_flags |= kConnDone;
        conn.shutdown();
      }
      return;
    }
    const size_t space = conn.write_space();
    if (space == 0) {
      return;
    }
    const std::string_view head = response_head(s.resp_variant);
    std::span<const uint8_t> chunk;
    // The head as it was when the response started, if the date changed
    // since: the rest of the head is written from here, not torn.
    std::array<uint8_t, kHeadCapacity> old_head;
    if (s.resp_pos < head.size() && s.resp_clock != clock_) {
      std::memcpy(old_head.data(), head.data(), head.size());
      format_http_date(
          s.resp_clock,
          std::span<uint8_t, kHttpDateBytes>(
              old_head.data() + date_offset(s.resp_variant), kHttpDateBytes));
      const size_t off = static_cast<size_t>(s.resp_pos);
      chunk = {old_head.data() + off, std::min(head.size() - off, space)};
    } else if (s.resp_pos < head.size()) {
      const size_t off = static_cast<size_t>(s.resp_pos);
      size_t avail = head.size() - off;
      if (s.resp_variant < kOkHeads) {
        // A 200 head is followed by the body's first bytes (heads_).
        avail += static_cast<size_t>(
            std::min<uint64_t>(s.resp_len - head.size(), kJoinedBodyBytes));
      }
      chunk = {reinterpret_cast<const uint8_t*>(head.data()) + off,
               std::min(avail, space)};
    } else {
      const uint64_t body_off = s.resp_pos - head.size();
      const size_t start = static_cast<size_t>(body_off % kPatternPeriod);
      const size_t n = static_cast<size_t>(std::min<uint64_t>(
          {s.resp_len - s.resp_pos, kPatternBufBytes - start, space}));
      chunk = {kPatternBuf.data() + start, n};
    }
    const size_t took = conn.write(chunk);
    s.resp_pos += took;
    stats_.responses_bytes += took;
    if (s.resp_pos == s.resp_len) {
      s.resp_len = 0;
    } else if (took < chunk.size()) {
      // The send queue is fuller than write_space() said: on_writable()
      // resumes.
      return;
    }
  }
}

}  // namespace dptls::app
