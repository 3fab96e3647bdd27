// The admin endpoint's bearer token: read from a private file, compared in
// constant time.
#include "dptls/config/admin_token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "dptls/crypto/aead.h"
#include "dptls/crypto/secret_file.h"
#include "dptls/util/http_text.h"

namespace dptls::config {

namespace {

// Reads what the file open as `fd` holds into `buf`, up to its size;
// *n: the bytes read. false on a read error.
bool read_all(int fd, char* buf, size_t size, size_t* n) {
  *n = 0;
  while (*n < size) {
    const ssize_t r = ::read(fd, buf + *n, size - *n);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      return false;
    }
    if (r == 0) {
      break;
    }
    *n += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

bool AdminToken::load(const std::string& path, std::string* error) {
  const std::string name = "admin token file '" + path + "'";
  // O_NONBLOCK: a FIFO put there is refused below instead of blocking.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *error = "cannot open " + name + ": " + std::strerror(errno);
    return false;
  }
  if (!crypto::check_private_file(
          fd, path, "admin token file",
          "the token authorises POST /reload on the admin endpoint", error)) {
    ::close(fd);
    return false;
  }
  // Room for the longest token and some trailing whitespace; one byte more
  // tells a file that is too long.
  std::array<char, kMaxLength + 64 + 1> buf{};
  size_t n = 0;
  const bool read_ok = read_all(fd, buf.data(), buf.size(), &n);
  const int read_errno = errno;
  ::close(fd);
  const bool too_long = n == buf.size();
  while (n > 0 && std::isspace(static_cast<unsigned char>(buf[n - 1])) != 0) {
    --n;
  }
  bool ok = false;
  if (!read_ok) {
    *error = "cannot read " + name + ": " + std::strerror(read_errno);
  } else if (n == 0) {
    *error = name + " is empty: it must hold the token (" +
             std::to_string(kMinLength) + " to " + std::to_string(kMaxLength) +
             " characters)";
  } else if (n < kMinLength) {
    *error = name + ": the token is " + std::to_string(n) +
             " characters, at least " + std::to_string(kMinLength) +
             " are needed (e.g. openssl rand -hex 32)";
  } else if (too_long || n > kMaxLength) {
    *error = name + ": the token is longer than " + std::to_string(kMaxLength) +
             " characters";
  } else {
    ok = true;
    for (size_t i = 0; i < n; ++i) {
      if (buf[i] < 0x21 || buf[i] > 0x7e) {
        *error = name +
                 ": the token must be one line of visible ASCII characters, "
                 "without spaces (it travels in an Authorization header)";
        ok = false;
        break;
      }
    }
  }
  if (ok) {
    wipe();
    std::memcpy(bytes_.data(), buf.data(), n);
    length_ = n;
  }
  crypto::secure_wipe(buf.data(), buf.size());
  return ok;
}

bool AdminToken::matches(std::string_view presented) const {
  if (length_ == 0) {
    return false;
  }
  const bool same_length = presented.size() == length_;
  // The same comparison whatever the presented bytes are: on a length
  // mismatch the token is compared with itself, and the answer is no.
  const char* other = same_length ? presented.data() : bytes_.data();
  const bool same = CRYPTO_memcmp(bytes_.data(), other, length_) == 0;
  return same_length && same;
}

AdminToken::Verdict AdminToken::check(std::string_view request) const {
  const std::string_view presented = bearer_credentials(request);
  if (presented.empty()) {
    return Verdict::kMissing;
  }
  return matches(presented) ? Verdict::kOk : Verdict::kWrong;
}

void AdminToken::wipe() noexcept {
  crypto::secure_wipe(bytes_.data(), bytes_.size());
  length_ = 0;
}

const char* AdminToken::reason(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "authorised";
    case Verdict::kMissing:
      return "no Authorization: Bearer token";
    case Verdict::kWrong:
      return "wrong bearer token";
  }
  return "?";
}

std::string_view bearer_credentials(std::string_view request) {
  // The request line first, then one header per line up to an empty line
  // (RFC 9112 section 2.1); lines end in CRLF, a bare LF is taken too.
  size_t at = request.find('\n');
  while (at != std::string_view::npos && at + 1 < request.size()) {
    const size_t start = at + 1;
    const size_t end = request.find('\n', start);
    const std::string_view line = trim_ows(request.substr(
        start, end == std::string_view::npos ? end : end - start));
    at = end;
    if (line.empty()) {
      break;  // the end of the headers
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos ||
        !ascii_iequals(line.substr(0, colon), "authorization")) {
      continue;
    }
    // credentials = auth-scheme 1*SP token68 (RFC 9110 section 11.4); the
    // scheme is case-insensitive.
    std::string_view value = trim_ows(line.substr(colon + 1));
    constexpr std::string_view kScheme = "bearer";
    if (value.size() <= kScheme.size() ||
        !ascii_iequals(value.substr(0, kScheme.size()), kScheme) ||
        value[kScheme.size()] != ' ') {
      return {};
    }
    return trim_ows(value.substr(kScheme.size()));
  }
  return {};
}

}  // namespace dptls::config
