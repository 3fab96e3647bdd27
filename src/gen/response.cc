#include "dptls/gen/response.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "dptls/app/http.h"
#include "dptls/util/http_text.h"

namespace dptls::gen {

namespace {

// The body pattern repeated, so a run of body bytes is checked with memcmp
// from offset (position % 37).
constexpr size_t kPatternLen = app::kHttpBodyPattern.size();
constexpr size_t kRepeat = 4096 / kPatternLen + 2;
constexpr std::array<uint8_t, kPatternLen * kRepeat> make_repeated() {
  std::array<uint8_t, kPatternLen * kRepeat> a{};
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = app::http_body_byte(i);
  }
  return a;
}
constexpr std::array<uint8_t, kPatternLen* kRepeat> kRepeated = make_repeated();
constexpr size_t kCheckRun = kPatternLen * (kRepeat - 1);

}  // namespace

void ResponseReader::reset() {
  state_ = State::kHead;
  error_ = ResponseError::kNone;
  close_ = false;
  head_len_ = 0;
  head_len_total_ = 0;
  content_length_ = 0;
  body_off_ = 0;
}

ResponseError ResponseReader::fail(ResponseError e) {
  state_ = State::kFailed;
  error_ = e;
  return e;
}

bool ResponseReader::check(const uint8_t* p, size_t n) const {
  uint64_t off = body_off_;
  while (n != 0) {
    const size_t run = std::min(n, kCheckRun);
    if (std::memcmp(p, kRepeated.data() + off % kPatternLen, run) != 0) {
      return false;
    }
    p += run;
    n -= run;
    off += run;
  }
  return true;
}

// The head is in head_[0, head_len_), ending with the empty line.
bool ResponseReader::parse_head() {
  const std::string_view head(head_, head_len_);
  size_t eol = head.find('\n');
  const std::string_view status = trim_ows(head.substr(0, eol));
  // HTTP/1.x SP 3DIGIT SP reason
  if (status.size() < 12 || status.substr(0, 7) != "HTTP/1." ||
      status[8] != ' ') {
    return false;
  }
  const std::string_view code = status.substr(9, 3);
  if (code != "200") {
    error_ = ResponseError::kBadStatus;
    return false;
  }
  bool have_length = false;
  size_t pos = eol + 1;
  while (pos < head.size()) {
    eol = head.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = head.size();
    }
    const std::string_view line = trim_ows(head.substr(pos, eol - pos));
    pos = eol + 1;
    if (line.empty()) {
      break;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (ascii_iequals(name, "content-length")) {
      if (value.empty() || value.size() > 19) {
        return false;
      }
      uint64_t v = 0;
      for (char c : value) {
        if (c < '0' || c > '9') {
          return false;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      content_length_ = v;
      have_length = true;
    } else if (ascii_iequals(name, "connection")) {
      close_ = ascii_iequals(value, "close");
    } else if (ascii_iequals(name, "transfer-encoding")) {
      return false;  // the server never sends chunked bodies
    }
  }
  return have_length;
}

ResponseError ResponseReader::feed(const uint8_t* p, size_t n) {
  while (n != 0) {
    switch (state_) {
      case State::kIdle:
      case State::kDone:
        return fail(ResponseError::kBadResponse);  // unasked-for bytes
      case State::kFailed:
        return error_;
      case State::kHead: {
        // Copy up to the end of the head (util/http_text.h's
        // http_head_end: "\r\n\r\n", or LF alone for a line end).
        const size_t before = head_len_;
        const size_t take = std::min(n, kMaxHead - before);
        std::memcpy(head_ + before, p, take);
        const size_t end = http_head_end({head_, before + take}, before);
        if (end == std::string_view::npos) {
          head_len_ = static_cast<uint32_t>(before + take);
          if (head_len_ == kMaxHead) {
            return fail(ResponseError::kBadResponse);
          }
          p += take;
          n -= take;
          break;
        }
        head_len_ = static_cast<uint32_t>(end);
        p += end - before;
        n -= end - before;
        head_len_total_ = head_len_;
        if (!parse_head()) {
          return fail(error_ == ResponseError::kBadStatus
                          ? ResponseError::kBadStatus
                          : ResponseError::kBadResponse);
        }
        state_ = content_length_ == 0 ? State::kDone : State::kBody;
        break;
      }
      case State::kBody: {
        const size_t take = static_cast<size_t>(
            std::min<uint64_t>(n, content_length_ - body_off_));
        if (check_body_ && !check(p, take)) {
          return fail(ResponseError::kBadBody);
        }
        body_off_ += take;
        p += take;
        n -= take;
        if (body_off_ == content_length_) {
          state_ = State::kDone;
        }
        break;
      }
    }
  }
  return error_;
}

}  // namespace dptls::gen
