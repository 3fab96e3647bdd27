// The load generator's HTTP/1.1 response reader: one response at a time
// (the generator never pipelines), fed the plaintext of each record as it
// is opened. It reads the status line and headers (Content-Length,
// Connection), then counts the body and, when asked, checks every byte
// against the server's pattern (app/http.h: byte i of a body is
// http_body_byte(i)). Fixed size, no allocation, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dptls::gen {

// What went wrong with a response.
enum class ResponseError : uint8_t {
  kNone,
  kBadStatus,    // a status other than 200
  kBadResponse,  // malformed head, no Content-Length, bytes after the end
  kBadBody,      // a body byte differs from the pattern
};

class ResponseReader {
 public:
  // The longest response head accepted.
  static constexpr size_t kMaxHead = 1024;

  explicit ResponseReader(bool check_body = true) : check_body_(check_body) {}

  // Starts a new response.
  void reset();
  // Feeds the next bytes. Returns the error, if any (sticky). done() turns
  // true once the whole body has arrived; bytes after that are an error.
  ResponseError feed(const uint8_t* p, size_t n);

  bool done() const { return state_ == State::kDone; }
  bool in_progress() const { return state_ != State::kIdle; }
  // The server said Connection: close.
  bool close() const { return close_; }
  uint64_t content_length() const { return content_length_; }
  // Head and body bytes of the current response so far.
  uint64_t bytes() const { return head_len_total_ + body_off_; }
  ResponseError error() const { return error_; }
  void set_check_body(bool on) { check_body_ = on; }

 private:
  enum class State : uint8_t { kIdle, kHead, kBody, kDone, kFailed };

  ResponseError fail(ResponseError e);
  bool parse_head();
  bool check(const uint8_t* p, size_t n) const;

  State state_ = State::kIdle;
  ResponseError error_ = ResponseError::kNone;
  bool check_body_ = true;
  bool close_ = false;
  uint32_t head_len_ = 0;
  uint32_t head_len_total_ = 0;
  uint64_t content_length_ = 0;
  uint64_t body_off_ = 0;
  char head_[kMaxHead] = {};
};

}  // namespace dptls::gen
