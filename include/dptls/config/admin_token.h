// The admin endpoint's bearer token ([admin] token_file,
// docs/configuration.md): read from a private file at start-up, held for
// the process lifetime, compared in constant time with the credentials of
// a request's "Authorization: Bearer <token>" header (RFC 6750 section
// 2.1), and wiped when destroyed. Control plane only.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace dptls::config {

class AdminToken {
 public:
  // A token is 16 to 256 visible ASCII characters (0x21-0x7e: what can
  // travel in an Authorization header without quoting).
  static constexpr size_t kMinLength = 16;
  static constexpr size_t kMaxLength = 256;

  enum class Verdict : uint8_t { kOk, kMissing, kWrong };

  AdminToken() = default;  // no token: empty()
  ~AdminToken() { wipe(); }
  AdminToken(const AdminToken&) = delete;
  AdminToken& operator=(const AdminToken&) = delete;

  // Reads the token from `path`: the whole file, trailing whitespace (a
  // newline) stripped. false with *error (naming the file, never the
  // token) when the file cannot be opened or read, is not private
  // (crypto::check_private_file: a regular file of the effective uid, no
  // access for group or others), or the token is empty, shorter than
  // kMinLength, longer than kMaxLength or holds other characters; the
  // token held until then is kept.
  bool load(const std::string& path, std::string* error);

  bool empty() const { return length_ == 0; }

  // Whether `presented` is the token. Constant time in the token's
  // content: CRYPTO_memcmp over the token's length whatever `presented`
  // holds (a length mismatch compares the token with itself and says no).
  // An empty token matches nothing.
  bool matches(std::string_view presented) const;
  // Whether `other` holds the same token (matches()); false when either is
  // empty.
  bool same(const AdminToken& other) const {
    return matches({other.bytes_.data(), other.length_});
  }

  // Whether the HTTP request `request` (its request line and headers)
  // carries this token in an "Authorization: Bearer" header (field name
  // and scheme case-insensitive): kMissing without such a header, kWrong
  // when its credentials are not the token.
  Verdict check(std::string_view request) const;

  // Overwrites the token (secure_wipe); empty() afterwards.
  void wipe() noexcept;

  // A short reason for a refusal, for the 401 body and the log.
  static const char* reason(Verdict v);

 private:
  std::array<char, kMaxLength> bytes_{};
  size_t length_ = 0;
};

// The credentials of the request's "Authorization: Bearer <credentials>"
// header, a view into `request`; empty when there is no such header (or
// another scheme). Only the header block (before the first empty line) is
// searched.
std::string_view bearer_credentials(std::string_view request);

}  // namespace dptls::config
