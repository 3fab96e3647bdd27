// Ticket keys and sealed session tickets (RFC 8446 section 4.6.1).
#include "dptls/tls/handshake/session_ticket.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "dptls/crypto/aead.h"
#include "dptls/crypto/secret_file.h"
#include "dptls/util/bytes.h"

namespace dptls::tls {

namespace {

constexpr std::string_view kMagic = "DPTLSTK1";
constexpr size_t kKeyRecordLen = kTicketKeyNameLen + kTicketAesKeyLen + 8;
constexpr uint8_t kContentsFormat = 2;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

bool random_key(uint64_t now_ms, TicketKey* out) {
  out->created_ms = now_ms;
  return RAND_bytes(out->name.data(), static_cast<int>(out->name.size())) ==
             1 &&
         RAND_bytes(out->key.data(), static_cast<int>(out->key.size())) == 1;
}

// AES-256-GCM over `in` with `aad`; seal writes the tag to `tag`, open
// checks it. Returns false on any failure (including a bad tag).
bool gcm(bool seal, const TicketKey& key, std::span<const uint8_t> nonce,
         std::span<const uint8_t> aad, std::span<const uint8_t> in,
         uint8_t* out, uint8_t* tag) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.key.data(),
                        nonce.data(), seal ? 1 : 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(),
                       static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (!in.empty() && EVP_CipherUpdate(ctx.get(), out, &len, in.data(),
                                      static_cast<int>(in.size())) != 1) {
    return false;
  }
  if (!seal && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                                   static_cast<int>(kTicketTagLen), tag) != 1) {
    return false;
  }
  int fin = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out + len, &fin) != 1) {
    return false;
  }
  return !seal ||
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG,
                             static_cast<int>(kTicketTagLen), tag) == 1;
}

void wipe_vector(std::vector<uint8_t>* v) {
  crypto::secure_wipe(v->data(), v->size());
  v->clear();
}

}  // namespace

void TicketKey::wipe() noexcept {
  crypto::secure_wipe(key.data(), key.size());
  crypto::secure_wipe(name.data(), name.size());
  created_ms = 0;
}

std::shared_ptr<TicketKeys> TicketKeys::generate(uint64_t now_ms,
                                                 uint64_t rotation_interval_ms,
                                                 std::string* error) {
  if (rotation_interval_ms == 0) {
    *error = "ticket key rotation interval must be positive";
    return nullptr;
  }
  std::shared_ptr<TicketKeys> keys(new TicketKeys());
  keys->interval_ms_ = rotation_interval_ms;
  if (!random_key(now_ms, &keys->current_)) {
    *error = "RAND_bytes failed";
    return nullptr;
  }
  return keys;
}

std::shared_ptr<TicketKeys> TicketKeys::load(const std::string& path,
                                             uint64_t rotation_interval_ms,
                                             std::string* error) {
  if (rotation_interval_ms == 0) {
    *error = "ticket key rotation interval must be positive";
    return nullptr;
  }
  // O_NONBLOCK: a FIFO put there is refused below instead of blocking.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *error =
        "cannot open ticket key file " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (!crypto::check_private_file(fd, path, "ticket key file",
                                  "the ticket keys decrypt every session "
                                  "ticket",
                                  error)) {
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<FILE, int (*)(FILE*)> f(::fdopen(fd, "rb"), &std::fclose);
  if (f == nullptr) {
    *error =
        "cannot read ticket key file " + path + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  // The largest valid file is 8 + 1 + 2 records; read one byte more to
  // see trailing garbage.
  std::array<uint8_t, kMagic.size() + 1 + 2 * kKeyRecordLen + 1> buf{};
  const size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
  ByteReader r(std::span<const uint8_t>(buf.data(), n));
  std::shared_ptr<TicketKeys> keys(new TicketKeys());
  keys->interval_ms_ = rotation_interval_ms;
  std::span<const uint8_t> magic;
  uint8_t count = 0;
  bool ok = true;
  if (!r.bytes(kMagic.size(), &magic) ||
      std::memcmp(magic.data(), kMagic.data(), kMagic.size()) != 0) {
    *error = "ticket key file " + path + ": bad magic (not a DPTLSTK1 file)";
    ok = false;
  } else if (!r.u8(&count) || count < 1 || count > 2) {
    *error = "ticket key file " + path + ": bad key count (1 or 2)";
    ok = false;
  } else {
    TicketKey* slots[2] = {&keys->current_, &keys->previous_};
    for (uint8_t i = 0; i < count && ok; ++i) {
      ok = r.copy(slots[i]->name) && r.copy(slots[i]->key) &&
           r.u64(&slots[i]->created_ms);
    }
    if (!ok) {
      *error = "ticket key file " + path + ": truncated";
    } else if (!r.empty()) {
      *error = "ticket key file " + path + ": trailing bytes";
      ok = false;
    }
    keys->has_previous_ = count == 2;
  }
  crypto::secure_wipe(buf.data(), buf.size());
  return ok ? keys : nullptr;
}

bool TicketKeys::save(const std::string& path, std::string* error) const {
  std::array<uint8_t, kMagic.size() + 1 + 2 * kKeyRecordLen> buf{};
  ByteWriter w(buf);
  {
    std::lock_guard<std::mutex> lock(mu_);
    w.bytes({reinterpret_cast<const uint8_t*>(kMagic.data()), kMagic.size()});
    w.u8(has_previous_ ? 2 : 1);
    for (const TicketKey* k : {&current_, &previous_}) {
      if (k == &previous_ && !has_previous_) {
        break;
      }
      w.bytes(k->name);
      w.bytes(k->key);
      w.u64(k->created_ms);
    }
  }
  // Where the bytes go: through a symbolic link to its target, so that
  // instances sharing the file through a link (a secrets volume) keep
  // sharing it; the rename below would otherwise replace the link with a
  // file of our own. A missing file is created at `path`; a link to
  // nothing is an error, not a file to create in its place.
  std::string target = path;
  bool ok = false;
  bool resolved = true;
  if (std::unique_ptr<char, decltype(&std::free)> real(
          ::realpath(path.c_str(), nullptr), &std::free);
      real != nullptr) {
    target = real.get();
  } else {
    const int err = errno;
    struct stat st {};
    if (err != ENOENT || ::lstat(path.c_str(), &st) == 0) {
      *error =
          "cannot write " + path + ": " + std::strerror(err) +
          (S_ISLNK(st.st_mode) ? " (a symbolic link to a missing file)" : "");
      resolved = false;
    }
  }
  const std::string tmp = target + ".tmp";
  // A fresh file of ours, 0600 whatever the umask: a leftover temporary
  // file (another owner or mode, or a symbolic link) is removed first, and
  // O_EXCL makes sure the file written is the one created here.
  if (!resolved) {
    // *error is set
  } else if (!w.ok()) {
    *error = "cannot encode the ticket keys";
  } else if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
    *error = "cannot remove " + tmp + ": " + std::strerror(errno);
  } else {
    const int fd =
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      *error = "cannot create " + tmp + ": " + std::strerror(errno);
    } else {
      const std::span<const uint8_t> bytes = w.written();
      ok = ::fchmod(fd, 0600) == 0 &&
           ::write(fd, bytes.data(), bytes.size()) ==
               static_cast<ssize_t>(bytes.size()) &&
           ::fsync(fd) == 0;
      ok = (::close(fd) == 0) && ok;
      if (!ok || std::rename(tmp.c_str(), target.c_str()) != 0) {
        *error = "cannot write " + target + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        ok = false;
      }
    }
  }
  crypto::secure_wipe(buf.data(), buf.size());
  return ok;
}

bool TicketKeys::reload(const std::string& path, std::string* error) {
  std::shared_ptr<TicketKeys> fresh = load(path, interval_ms_, error);
  if (fresh == nullptr) {
    return false;
  }
  std::scoped_lock lock(mu_, fresh->mu_);
  current_ = fresh->current_;
  previous_ = fresh->previous_;
  has_previous_ = fresh->has_previous_;
  return true;  // fresh's copies are wiped by its destructor
}

bool TicketKeys::rotate(uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (now_ms < current_.created_ms ||
      now_ms - current_.created_ms < interval_ms_) {
    return false;
  }
  TicketKey fresh;
  if (!random_key(now_ms, &fresh)) {
    return false;
  }
  previous_ = current_;
  current_ = fresh;
  has_previous_ = true;
  return true;
}

bool TicketKeys::seal(std::span<const uint8_t> contents,
                      std::vector<uint8_t>* out) const {
  out->assign(contents.size() + kTicketOverhead, 0);
  ByteWriter w(*out);
  std::lock_guard<std::mutex> lock(mu_);
  w.bytes(current_.name);
  uint8_t* nonce = w.reserve(kTicketNonceLen);
  uint8_t* body = w.reserve(contents.size());
  uint8_t* tag = w.reserve(kTicketTagLen);
  const bool ok = w.ok() &&
                  RAND_bytes(nonce, static_cast<int>(kTicketNonceLen)) == 1 &&
                  gcm(true, current_, {nonce, kTicketNonceLen}, current_.name,
                      contents, body, tag);
  if (!ok) {
    out->clear();
  }
  return ok;
}

bool TicketKeys::open(std::span<const uint8_t> ticket,
                      std::vector<uint8_t>* out) const {
  out->clear();
  ByteReader r(ticket);
  std::span<const uint8_t> name;
  std::span<const uint8_t> nonce;
  std::span<const uint8_t> body;
  std::span<const uint8_t> tag;
  if (ticket.size() < kTicketOverhead || !r.bytes(kTicketKeyNameLen, &name) ||
      !r.bytes(kTicketNonceLen, &nonce) ||
      !r.bytes(r.remaining() - kTicketTagLen, &body) ||
      !r.bytes(kTicketTagLen, &tag)) {
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  const TicketKey* key = nullptr;
  // Key names are public; a plain comparison leaks nothing.
  if (std::memcmp(name.data(), current_.name.data(), name.size()) == 0) {
    key = &current_;
  } else if (has_previous_ && std::memcmp(name.data(), previous_.name.data(),
                                          name.size()) == 0) {
    key = &previous_;
  } else {
    return false;
  }
  out->resize(body.size() + 16);
  std::array<uint8_t, kTicketTagLen> tag_copy{};
  std::memcpy(tag_copy.data(), tag.data(), tag.size());
  if (!gcm(false, *key, nonce, name, body, out->data(), tag_copy.data())) {
    wipe_vector(out);
    return false;
  }
  out->resize(body.size());
  return true;
}

std::array<uint8_t, kTicketKeyNameLen> TicketKeys::current_name() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_.name;
}

bool TicketKeys::has_previous() const {
  std::lock_guard<std::mutex> lock(mu_);
  return has_previous_;
}

// ---- contents ----

// ---- EarlyDataReplayCache ----

void EarlyDataReplayCache::expire(uint64_t now_ms) {
  auto it = by_expiry_.begin();
  while (it != by_expiry_.end() && it->first <= now_ms) {
    entries_.erase(it->second);
    it = by_expiry_.erase(it);
  }
}

bool EarlyDataReplayCache::first_use(std::span<const uint8_t> ticket,
                                     uint64_t now_ms, uint64_t expires_ms) {
  // SHA-256 of the sealed ticket, truncated: tickets hold a random nonce,
  // so equal digests mean the same ticket.
  std::array<uint8_t, 32> full{};
  unsigned int len = 0;
  if (EVP_Digest(ticket.data(), ticket.size(), full.data(), &len, EVP_sha256(),
                 nullptr) != 1) {
    return false;
  }
  Digest d{};
  std::copy(full.begin(), full.begin() + d.size(), d.begin());
  std::lock_guard<std::mutex> lock(mu_);
  expire(now_ms);
  if (entries_.count(d) != 0) {
    return false;
  }
  if (entries_.size() >= max_entries_) {
    return false;
  }
  entries_.emplace(d, expires_ms);
  by_expiry_.emplace(expires_ms, d);
  return true;
}

size_t EarlyDataReplayCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

bool seal_ticket(const TicketKeys& keys, const TicketContents& c,
                 std::vector<uint8_t>* out) {
  out->clear();
  size_t sans_len = 0;
  for (const std::string& san : c.client_sans) {
    sans_len += 2 + san.size();
  }
  if (c.psk.empty() || c.alpn.size() > 255 || c.server_name.size() > 255 ||
      c.client_trust.size() > 255) {
    return false;
  }
  // Longer subjects or SAN lists fail in ByteWriter::close().
  std::vector<uint8_t> plain(64 + c.psk.size() + c.alpn.size() +
                             c.server_name.size() + c.client_subject.size() +
                             sans_len + c.client_trust.size());
  ByteWriter w(plain);
  w.u8(kContentsFormat);
  w.u16(c.version);
  w.u16(c.cipher_suite);
  w.u8(static_cast<uint8_t>(c.psk.size()));
  w.bytes(c.psk.span());
  w.u64(c.issued_ms);
  w.u32(c.age_add);
  w.u32(c.lifetime_s);
  const auto str = [&w](const std::string& s, size_t width) {
    const size_t at = w.open(width);
    w.bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    w.close(at, width);
  };
  str(c.alpn, 1);
  str(c.server_name, 1);
  str(c.client_subject, 2);
  const size_t sans = w.open(2);
  for (const std::string& san : c.client_sans) {
    str(san, 2);
  }
  w.close(sans, 2);
  str(c.client_trust, 1);
  const bool ok = w.ok() && keys.seal(w.written(), out);
  wipe_vector(&plain);
  return ok;
}

bool open_ticket(const TicketKeys& keys, std::span<const uint8_t> ticket,
                 TicketContents* out) {
  out->psk.wipe();
  std::vector<uint8_t> plain;
  if (!keys.open(ticket, &plain)) {
    return false;
  }
  ByteReader r(plain);
  uint8_t format = 0;
  ByteReader psk;
  ByteReader alpn;
  ByteReader sni;
  ByteReader subject;
  ByteReader sans;
  ByteReader trust;
  const bool ok =
      r.u8(&format) && format == kContentsFormat && r.u16(&out->version) &&
      r.u16(&out->cipher_suite) && r.prefixed8(&psk) && !psk.empty() &&
      out->psk.assign(psk.rest()) && r.u64(&out->issued_ms) &&
      r.u32(&out->age_add) && r.u32(&out->lifetime_s) && r.prefixed8(&alpn) &&
      r.prefixed8(&sni) && r.prefixed16(&subject) && r.prefixed16(&sans) &&
      r.prefixed8(&trust) && r.empty();
  if (ok) {
    const auto text = [](const ByteReader& b) {
      const std::span<const uint8_t> s = b.rest();
      return std::string(reinterpret_cast<const char*>(s.data()), s.size());
    };
    out->alpn = text(alpn);
    out->server_name = text(sni);
    out->client_subject = text(subject);
    out->client_trust = text(trust);
    out->client_sans.clear();
    ByteReader san;
    while (sans.prefixed16(&san)) {
      out->client_sans.push_back(text(san));
    }
    if (!sans.empty()) {
      out->psk.wipe();
      wipe_vector(&plain);
      return false;
    }
  } else {
    out->psk.wipe();
  }
  wipe_vector(&plain);
  return ok;
}

}  // namespace dptls::tls
