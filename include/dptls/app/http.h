// The HTTP/1.1 application: a keep-alive responder for load generators
// (curl, wrk, h2load --h1). Every request with a method served (GET, HEAD,
// POST, PUT, DELETE, OPTIONS) gets the same response, a fixed body of
// HttpConfig::body_bytes bytes:
//
//   HTTP/1.1 200 OK\r\n
//   Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n
//   Server: dptls\r\n
//   Content-Type: application/octet-stream\r\n
//   Content-Length: <body_bytes>\r\n
//   [Connection: close | keep-alive\r\n]
//   \r\n
//   <body>
//
// Body byte i (counted from 0 within each response) is
// kHttpBodyPattern[i % kHttpBodyPattern.size()] (http_body_byte(i)), so a
// client can check every byte it downloads. HEAD gets the headers only.
// "Connection: close" is sent on the response after which the connection
// closes; "Connection: keep-alive" answers an HTTP/1.0 request that asked
// for it (HTTP/1.0 clients close otherwise).
//
// Every response, errors included, carries Date (RFC 9110 6.6.1) in
// IMF-fixdate form, from the clock the worker gives on_clock(): the date
// is formatted once a second into the precomputed heads (it has a fixed
// length, so nothing else moves). A response whose head is still being
// written when the second changes keeps the date it started with.
//
// Requests: `METHOD SP target SP HTTP/1.x CRLF`, header lines, an empty
// line; bare LF line ends are accepted and empty lines before a request are
// skipped (RFC 9112 2.2); a bare CR in a head gets 400. Recognised headers
// (names case-insensitive):
//   Content-Length     that many body bytes follow and are skipped
//   Connection         tokens `close` / `keep-alive` (case-insensitive)
//   Transfer-Encoding  `chunked` (case-insensitive) alone: the request is
//                      answered, then its chunked body read through (chunk
//                      extensions and trailer fields passed over), as a
//                      Content-Length body is; other codings before it: 501 Not
//                      Implemented (kUnsupported); chunked not the final
//                      coding, or twice, or no chunked, or with Content-Length,
//                      or in HTTP/1.0: 400 (RFC 9112 6.1, 6.3)
//   Host               RFC 9112 3.2: an HTTP/1.1 request without one, any
//                      request with two Host lines, or with a value that
//                      is not `uri-host [ ":" port ]` (RFC 9110 7.2; an
//                      empty value is valid) gets 400 (kBadRequest);
//                      HTTP/1.0 may leave it out
// HTTP/1.1 keeps the connection open unless `Connection: close`; HTTP/1.0
// closes unless `Connection: keep-alive`. A malformed request line or header
// line (missing colon, whitespace before the colon, obs-fold, control bytes,
// a version other than HTTP/1.x, a bad, over-long (more than 19 digits) or
// conflicting Content-Length) gets 400 Bad Request (kBadRequest); a request
// head (request line, headers and leading empty lines) longer than
// max_header_bytes gets 414 URI Too Long when the limit falls within the
// request line after the method (the target is too long), else 431 Request
// Header Fields Too Large (both kTooLarge). Each chunk line and the
// trailer section are held to the same limit; over it (kBadRequest for a
// chunk line, kTooLarge for trailers), or with a malformed chunked body (a
// size that is not 1-16 hex digits, data not followed by CRLF, a bad
// trailer line: kBadRequest), the connection closes after the responses
// owed, with no error response (the request has its 200 already).
// A well-formed request with a method not served (CONNECT, TRACE, an
// unknown or lowercase one) gets 501 Not Implemented (kUnsupported): a 2xx
// to CONNECT would open a tunnel.
// After an error response, or once a close is decided, further input is
// ignored: the responses owed are written, then shutdown().
//
// Pipelining: requests are answered in order. The connection state keeps a
// count of responses owed, as runs of responses of one kind (GET or HEAD,
// HTTP/1.0 keep-alive or not); when a client pipelines more than kMaxRuns
// changes of kind while its responses are held up, the requests that do not
// fit get no response and the connection closes after the ones that do (a
// server may close a pipelined connection; RFC 9112 9.3.2 has the client
// retry).
//
// Responses are streamed: never more than write_space() is written, the
// position in the current response is kept in the connection state and
// on_writable() continues it, so bodies of any size stream through a small
// send queue.
//
// Per-connection state fits in kAppStateBytes; no callback allocates,
// throws, locks or makes a syscall.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dptls/app/app.h"

namespace dptls::app {

// The body pattern: 37 bytes, repeated.
inline constexpr std::string_view kHttpBodyPattern =
    "abcdefghijklmnopqrstuvwxyz0123456789\n";

// Byte i of every response body.
constexpr uint8_t http_body_byte(uint64_t i) {
  return static_cast<uint8_t>(kHttpBodyPattern[i % kHttpBodyPattern.size()]);
}

// IMF-fixdate (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr size_t kHttpDateBytes = 29;
// The latest second the format can spell: 9999-12-31 23:59:59.
inline constexpr uint64_t kHttpDateMaxSeconds = 253402300799;

// Writes the IMF-fixdate of `unix_seconds` (clamped to
// kHttpDateMaxSeconds) to `out`.
void format_http_date(uint64_t unix_seconds,
                      std::span<uint8_t, kHttpDateBytes> out);

struct HttpConfig {
  // Body bytes of every 200 response (capped at UINT64_MAX - 192).
  uint64_t body_bytes = 1024;
  // Longest request head (request line through the empty line) accepted.
  uint32_t max_header_bytes = 8192;
};

class HttpApp final : public Application {
 public:
  // The shortest request that can complete ("A / HTTP/1.1\n\n"): bounds
  // how many requests `pending` bytes can hold.
  static constexpr size_t kMinRequestBytes = 14;
  // Responses a connection may owe at once.
  static constexpr uint32_t kMaxOwed = UINT32_MAX;
  // Runs of owed responses of one kind a connection can hold.
  static constexpr size_t kMaxRuns = 8;

  explicit HttpApp(const HttpConfig& config = {});

  const HttpConfig& config() const { return config_; }

  void on_open(AppConn& conn) override;
  // True unless the connection is closing (an error, Connection: close,
  // HTTP/1.0, peer closed) or `pending` bytes of requests could make the
  // count of owed responses overflow. Does not look at write_space().
  bool wants_data(AppConn& conn, size_t pending) override;
  void on_data(AppConn& conn, std::span<const crypto::IoSegment> data) override;
  void on_writable(AppConn& conn) override;
  // Finishes the owed responses (a partial request is dropped), then
  // shutdown().
  void on_peer_closed(AppConn& conn) override;
  void on_close(AppConn& conn) override;
  bool idle(AppConn& conn) override;
  // Sets the Date of the responses started from now on (0, the epoch,
  // until the first call).
  void on_clock(uint64_t unix_seconds) override;

 private:
  struct ConnState;

  // The response heads: indexed by the response variant (http.cc).
  static constexpr size_t kHeadCapacity = 192;
  static constexpr size_t kOkHeads = 3;
  static constexpr size_t kErrorHeads = 4;
  static constexpr size_t kErrorHeadCapacity = 160;

 public:
  // Body bytes kept right after each 200 head (111 pattern periods), so a
  // response of up to this much body is written in one piece.
  static constexpr size_t kJoinedBodyBytes = kHttpBodyPattern.size() * 111;

 private:
  void parse(ConnState& s, const uint8_t* p, size_t n);
  // One byte of a request head; false when the request is malformed.
  bool step(ConnState& s, uint8_t c);
  // How many of the first `n` bytes at `p` can be taken at once: a run
  // that only extends the current token, or a whole piece of a common
  // request ("GET ", " HTTP/1.1" CRLF, a header name and its colon, the
  // value and CRLF of a header not read); updates `s` as step() on each
  // byte would. 0 when the next byte needs step().
  size_t plain_run(ConnState& s, const uint8_t* p, size_t n);
  // After a header name's colon: `header` is the Header it names.
  void begin_value(ConnState& s, size_t header);
  bool end_header_line(ConnState& s);
  // One byte of a Host value (after leading whitespace); false when the
  // value cannot be valid.
  static bool step_host(ConnState& s, uint8_t c);
  // A Connection or Transfer-Encoding list element ends.
  void end_token(ConnState& s);
  void end_request_head(ConnState& s);
  // One byte of a chunked body's lines (sizes, extensions, the CRLF after
  // the data, trailers); false when it is malformed.
  bool step_chunked(ConnState& s, uint8_t c);
  void end_chunk_line(ConnState& s);
  void end_chunked_body(ConnState& s);
  // Queues the response to a request with these flags; false when the
  // connection closes after it (or it could not be queued).
  bool owe_response(ConnState& s, uint16_t req);
  // Counts `error`; the response owed after the others is the error
  // Variant `variant` (http.cc), then the connection closes.
  void fail(ConnState& s, AppError error, uint8_t variant);
  bool start_next_response(ConnState& s);
  std::string_view response_head(uint8_t variant) const;
  // Where the date sits in the head of `variant`.
  static size_t date_offset(uint8_t variant);
  // Writes owed responses while write_space() allows; shutdown() when all
  // are written and the connection is closing.
  void pump(AppConn& conn, ConnState& s);

  HttpConfig config_;
  // Each 200 head, then the first kJoinedBodyBytes of the body.
  std::array<std::array<uint8_t, kHeadCapacity + kJoinedBodyBytes>, kOkHeads>
      heads_{};
  std::array<uint8_t, kOkHeads> head_lens_{};
  // The error responses (heads only).
  std::array<std::array<uint8_t, kErrorHeadCapacity>, kErrorHeads>
      error_heads_{};
  std::array<uint8_t, kErrorHeads> error_head_lens_{};
  // The second every head's date spells.
  uint64_t clock_ = 0;
};

}  // namespace dptls::app
