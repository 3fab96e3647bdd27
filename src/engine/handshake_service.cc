// The handshake threads' side of the hand-off: contexts from the
// configuration, the per-thread service answering the workers (protocol in
// hs_channel.h), its counters, and the key log.
#include "dptls/engine/handshake_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "dptls/tls/cipher_suite.h"
#include "dptls/tls/handshake/credentials.h"
#include "dptls/tls/handshake/messages.h"
#include "dptls/tls/handshake/session_ticket.h"
#include "dptls/tls/record.h"

namespace dptls::engine {

namespace {

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return false;
  }
  *out = ss.str();
  return true;
}

uint64_t wall_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

uint64_t steady_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// The shared ticket keys: from the key file (created there when missing)
// or random.
std::shared_ptr<tls::TicketKeys> make_ticket_keys(
    const config::TicketsSection& t, std::string* error) {
  const uint64_t interval_ms =
      std::max<uint64_t>(1, uint64_t{t.rotate_s} * 1000);
  std::string err;
  if (t.key_file.empty()) {
    auto keys = tls::TicketKeys::generate(wall_ms(), interval_ms, &err);
    if (keys == nullptr) {
      *error = "tickets: " + err;
    }
    return keys;
  }
  // lstat, not stat: a symlink whose target is missing (a secrets volume
  // not mounted yet) is not a missing file. Load fails on it with the
  // reason; saving would replace the link with fresh keys of our own.
  struct stat st {};
  if (::lstat(t.key_file.c_str(), &st) != 0 && errno == ENOENT) {
    auto keys = tls::TicketKeys::generate(wall_ms(), interval_ms, &err);
    if (keys == nullptr || !keys->save(t.key_file, &err)) {
      *error = "tickets.key_file '" + t.key_file + "': " + err;
      return nullptr;
    }
    return keys;
  }
  auto keys = tls::TicketKeys::load(t.key_file, interval_ms, &err);
  if (keys == nullptr) {
    *error = "tickets.key_file '" + t.key_file + "': " + err;
  }
  return keys;
}

template <size_t N, typename LenT>
void copy_truncated(std::string_view s, char (&dst)[N], LenT* len) {
  const size_t n = std::min(s.size(), N);
  std::memcpy(dst, s.data(), n);
  *len = static_cast<LenT>(n);
}

}  // namespace

std::string listener_name(const config::Config& cfg, size_t i) {
  std::string s = "listener[" + std::to_string(i) + "]";
  const std::string& addr = cfg.listeners[i].address.text;
  if (!addr.empty()) {
    s += " (" + addr + ")";
  }
  return s;
}

// ---- ticket key rotation ----

TicketKeyRotation::TicketKeyRotation(std::shared_ptr<tls::TicketKeys> keys,
                                     std::string key_file)
    : keys_(std::move(keys)), file_(std::move(key_file)) {
  seen_ = stamp();
}

TicketKeyRotation::FileStamp TicketKeyRotation::stamp() const {
  struct stat st {};
  if (file_.empty() || ::stat(file_.c_str(), &st) != 0) {
    return {};
  }
  const auto ns = [](const timespec& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u +
           static_cast<uint64_t>(t.tv_nsec);
  };
  return {static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          ns(st.st_mtim), ns(st.st_ctim)};
}

TicketKeyRotation::Tick TicketKeyRotation::tick(uint64_t now_ms,
                                                std::string* error) {
  Tick result = Tick::kNothing;
  if (!file_.empty()) {
    const FileStamp now_stamp = stamp();
    if (now_stamp.ino != 0 && !(now_stamp == seen_)) {
      seen_ = now_stamp;
      std::string err;
      if (!keys_->reload(file_, &err)) {
        *error = "tickets.key_file: " + err + " (the keys in use are kept)";
        ++failures_;
        return Tick::kFailed;
      }
      result = Tick::kReloaded;
    }
  }
  if (!keys_->rotate(now_ms)) {
    return result;
  }
  if (!file_.empty()) {
    std::string err;
    if (!keys_->save(file_, &err)) {
      *error = "tickets.key_file: rotated but not saved: " + err;
      ++failures_;
      return Tick::kFailed;
    }
    seen_ = stamp();
  }
  return Tick::kRotated;
}

// ---- contexts ----

ServerContexts build_server_contexts(const config::Config& cfg,
                                     std::string* error) {
  std::string err;
  std::shared_ptr<tls::TicketKeys> keys = make_ticket_keys(cfg.tickets, &err);
  if (keys == nullptr) {
    *error = err;
    return {};
  }
  return build_server_contexts(cfg, keys, error);
}

ServerContexts build_server_contexts(
    const config::Config& cfg, const std::shared_ptr<tls::TicketKeys>& keys,
    std::string* error) {
  std::string err;
  ServerContexts out;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::ListenerSection& l = cfg.listeners[i];
    const std::string who = listener_name(cfg, i);
    if (std::find(l.tls_versions.begin(), l.tls_versions.end(), "1.3") ==
        l.tls_versions.end()) {
      *error = who +
               ": tls_versions must include \"1.3\" (TLS 1.2 is not "
               "implemented)";
      return {};
    }
    tls::ServerConfig sc;
    sc.cipher_suites.clear();
    for (const std::string& name : l.cipher_suites) {
      const std::optional<tls::CipherSuite> s = tls::parse_cipher_suite(name);
      if (!s) {
        *error = (who + ": unknown cipher suite '").append(name).append("'");
        return {};
      }
      sc.cipher_suites.push_back(*s);
    }
    sc.server_cipher_preference = l.server_preference;
    sc.groups.clear();
    for (const std::string& name : l.groups) {
      const std::optional<tls::NamedGroup> g = tls::parse_named_group(name);
      if (!g) {
        *error = (who + ": unknown group '").append(name).append("'");
        return {};
      }
      sc.groups.push_back(*g);
    }
    sc.alpn_protocols = l.alpn;
    sc.ticket_keys = keys;
    sc.ticket_lifetime_s =
        std::clamp<uint32_t>(cfg.tickets.lifetime_s, 1, 604800);
    sc.allow_psk_ke = cfg.tickets.psk_ke;
    sc.session_tickets =
        static_cast<uint8_t>(std::min<uint32_t>(cfg.tickets.per_handshake, 16));
    if (!l.client_ca_file.empty()) {
      if (!read_file(l.client_ca_file, &sc.client_ca_pem)) {
        *error = who + ": cannot read client_ca '" + l.client_ca_file + "'";
        return {};
      }
      sc.client_cert_required = true;
    }
    auto store = std::make_shared<tls::CertificateStore>();
    for (size_t c = 0; c < l.certificates.size(); ++c) {
      const config::CertificateSection& cs = l.certificates[c];
      const std::string cwho = who + ": certificate[" + std::to_string(c) + "]";
      std::string chain;
      std::string key;
      if (!read_file(cs.chain_file, &chain)) {
        *error = cwho + ": cannot read chain '" + cs.chain_file + "'";
        return {};
      }
      if (!read_file(cs.key_file, &key)) {
        *error = cwho + ": cannot read key '" + cs.key_file + "'";
        return {};
      }
      std::unique_ptr<tls::Credential> cred =
          tls::Credential::from_pem(chain, key, &err, cs.sni);
      // The key's bytes are no longer needed.
      crypto::secure_wipe(key.data(), key.size());
      if (cred == nullptr) {
        *error = (cwho + ": ").append(err);
        return {};
      }
      // OCSP stapling (RFC 8446 section 4.4.2.1): the DER response, checked
      // by the configuration loader, is sent as it is.
      if (!cs.ocsp_file.empty()) {
        std::string der;
        if (!read_file(cs.ocsp_file, &der) || der.empty()) {
          *error = (cwho + ": cannot read ocsp_response '")
                       .append(cs.ocsp_file)
                       .append("'");
          return {};
        }
        if (!cred->set_ocsp_response(
                std::vector<uint8_t>(der.begin(), der.end()))) {
          *error = (cwho + ": ocsp_response '")
                       .append(cs.ocsp_file)
                       .append("' is larger than 65527 bytes");
          return {};
        }
      }
      store->add(std::move(cred));
    }
    if (store->empty()) {
      *error = who + ": no certificate";
      return {};
    }
    std::shared_ptr<const tls::ServerContext> ctx =
        tls::ServerContext::create(std::move(sc), std::move(store), &err);
    if (ctx == nullptr) {
      *error = (who + ": ").append(err);
      return {};
    }
    out.push_back(std::move(ctx));
  }
  return out;
}

// ---- key log ----

std::shared_ptr<KeylogFile> KeylogFile::open(const std::string& path,
                                             std::string* error) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot open key log '" + path + "': " + std::strerror(errno);
    return nullptr;
  }
  std::shared_ptr<KeylogFile> k(new KeylogFile());
  k->fd_ = fd;
  return k;
}

KeylogFile::~KeylogFile() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool KeylogFile::write(std::string_view label,
                       std::span<const uint8_t> client_random,
                       std::span<const uint8_t> secret) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string line;
  line.reserve(label.size() + 2 * (client_random.size() + secret.size()) + 3);
  line.append(label);
  line += ' ';
  for (uint8_t b : client_random) {
    line += kHex[b >> 4];
    line += kHex[b & 15];
  }
  line += ' ';
  for (uint8_t b : secret) {
    line += kHex[b >> 4];
    line += kHex[b & 15];
  }
  line += '\n';
  bool ok = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    size_t off = 0;
    while (off < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        ok = false;
        break;
      }
      off += static_cast<size_t>(n);
    }
  }
  crypto::secure_wipe(line.data(), line.size());
  if (ok) {
    lines_.fetch_add(1, std::memory_order_relaxed);
  }
  return ok;
}

std::shared_ptr<const tls::ServerContext> with_keylog(
    const std::shared_ptr<const tls::ServerContext>& ctx,
    std::shared_ptr<KeylogFile> keylog, std::string* error) {
  tls::ServerConfig cfg = ctx->config();
  cfg.keylog = [keylog = std::move(keylog)](
                   std::string_view label,
                   std::span<const uint8_t> client_random,
                   std::span<const uint8_t> secret) {
    keylog->write(label, client_random, secret);
  };
  auto certs = std::make_shared<tls::CertificateStore>(ctx->certs());
  return tls::ServerContext::create(std::move(cfg), std::move(certs), error);
}

// ---- counters ----

HandshakeCounters& HandshakeCounters::operator+=(const HandshakeCounters& o) {
  started += o.started;
  for (size_t i = 0; i < completed.size(); ++i) {
    completed[i] += o.completed[i];
  }
  for (size_t p = 0; p < 2; ++p) {
    for (size_t a = 0; a < 256; ++a) {
      failed[p][a] += o.failed[p][a];
    }
  }
  timed_out += o.timed_out;
  closed += o.closed;
  bad_listener += o.bad_listener;
  stale += o.stale;
  refused += o.refused;
  requests += o.requests;
  responses += o.responses;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  states += o.states;
  keylog_lines += o.keylog_lines;
  return *this;
}

void HandshakeCounters::render_prometheus(std::string* out) const {
  std::string last;
  for_each([&](std::string_view name, std::string_view labels, uint64_t v) {
    if (name != last) {
      last = std::string(name);
      *out += "# TYPE ";
      *out += name;
      *out += name == "dptls_hs_states" ? " gauge\n" : " counter\n";
    }
    *out += name;
    if (!labels.empty()) {
      *out += '{';
      *out += labels;
      *out += '}';
    }
    *out += ' ';
    *out += std::to_string(v);
    *out += '\n';
  });
}

HandshakeCounters HandshakeStats::snapshot() const {
  HandshakeCounters c;
  auto ld = [](const C& a) { return a.load(std::memory_order_relaxed); };
  c.started = ld(started_);
  for (size_t i = 0; i < completed_.size(); ++i) {
    c.completed[i] = ld(completed_[i]);
  }
  for (size_t p = 0; p < 2; ++p) {
    for (size_t a = 0; a < 256; ++a) {
      c.failed[p][a] = ld(failed_[p][a]);
    }
  }
  c.timed_out = ld(timed_out_);
  c.closed = ld(closed_);
  c.bad_listener = ld(bad_listener_);
  c.stale = ld(stale_);
  c.refused = ld(refused_);
  c.requests = ld(requests_);
  c.responses = ld(responses_);
  c.bytes_in = ld(bytes_in_);
  c.bytes_out = ld(bytes_out_);
  c.states = ld(states_);
  return c;
}

// ---- the service ----

struct HandshakeService::Conn {
  Conn(std::shared_ptr<const tls::ServerContext> ctx,
       crypto::AeadBackend& backend, uint64_t now)
      : hs(std::move(ctx), backend), created_ms(now) {}
  ~Conn() { crypto::secure_wipe(pending.data(), pending.size()); }

  tls::ServerHandshake hs;
  uint64_t created_ms;
  std::vector<uint8_t> pending;  // kData of the current batch
};

HandshakeService::HandshakeService(ServerContexts contexts,
                                   HandshakeServiceOptions options)
    : contexts_(std::move(contexts)), options_(std::move(options)) {
  std::string err;
  backend_ = crypto::make_backend(crypto::BackendKind::kIpsecMb, {}, &err);
  if (backend_ == nullptr) {
    backend_ = crypto::make_backend(crypto::BackendKind::kOpenSsl, {}, &err);
  }
  if (backend_ == nullptr) {
    error_ = "no AEAD backend: " + err;
    return;
  }
  if (options_.keylog != nullptr) {
    for (size_t i = 0; i < contexts_.size(); ++i) {
      auto k = with_keylog(contexts_[i], options_.keylog, &err);
      if (k == nullptr) {
        error_ = "listener[" + std::to_string(i) + "]: key log: " + err;
        return;
      }
      contexts_[i] = std::move(k);
    }
  }
}

HandshakeService::~HandshakeService() {
  conns_.clear();
  stats_.states_.store(0, std::memory_order_relaxed);
}

uint64_t HandshakeService::now_ms() const {
  return options_.clock_ms ? options_.clock_ms() : steady_ms();
}

HandshakeCounters HandshakeService::counters() const {
  HandshakeCounters c = stats_.snapshot();
  if (options_.keylog != nullptr) {
    c.keylog_lines = options_.keylog->lines();
  }
  return c;
}

void HandshakeService::drop(uint64_t key) {
  conns_.erase(key);
  stats_.states_.store(conns_.size(), std::memory_order_relaxed);
}

bool HandshakeService::emit_bytes(net::ConnHandle h, HsResponseKind kind,
                                  std::span<const uint8_t> bytes,
                                  EmitRef emit) {
  for (size_t off = 0; off < bytes.size(); off += kHsChunk) {
    const size_t n = std::min(kHsChunk, bytes.size() - off);
    scratch_.conn = h;
    scratch_.kind = kind;
    scratch_.alert = 0;
    scratch_.alert_from_peer = false;
    scratch_.len = static_cast<uint16_t>(n);
    std::memcpy(scratch_.data, bytes.data() + off, n);
    const bool ok = emit(scratch_);
    // The response may carry key-dependent bytes (post-Finished records):
    // no copy stays behind in the scratch slot.
    crypto::secure_wipe(scratch_.data, n);
    if (!ok) {
      return false;
    }
    HandshakeStats::inc(stats_.responses_);
    HandshakeStats::inc(stats_.bytes_out_, n);
  }
  return true;
}

bool HandshakeService::emit_failed(net::ConnHandle h, tls::Alert alert,
                                   bool from_peer, EmitRef emit) {
  HandshakeStats::inc(
      stats_.failed_[from_peer ? 1 : 0][static_cast<uint8_t>(alert)]);
  scratch_.conn = h;
  scratch_.kind = HsResponseKind::kFailed;
  scratch_.alert = static_cast<uint8_t>(alert);
  scratch_.alert_from_peer = from_peer;
  scratch_.len = 0;
  if (!emit(scratch_)) {
    return false;
  }
  HandshakeStats::inc(stats_.responses_);
  return true;
}

// A plaintext internal_error alert (a handshake that never started has no
// keys) and kFailed, at the batch's last chunk.
bool HandshakeService::refuse(const HsRequest& req, EmitRef emit) {
  if (!req.end) {
    return true;
  }
  const uint8_t alert[] = {static_cast<uint8_t>(tls::ContentType::kAlert),
                           0x03,
                           0x03,
                           0x00,
                           0x02,
                           2,
                           static_cast<uint8_t>(tls::Alert::kInternalError)};
  return emit_bytes(req.conn, HsResponseKind::kSend, alert, emit) &&
         emit_failed(req.conn, tls::Alert::kInternalError, false, emit);
}

bool HandshakeService::handle(const HsRequest& req, EmitRef emit) {
  HandshakeStats::inc(stats_.requests_);
  const uint64_t key = req.conn.v;
  auto it = conns_.find(key);
  if (req.kind == HsRequestKind::kClosed) {
    if (it == conns_.end()) {
      HandshakeStats::inc(stats_.stale_);
    } else {
      HandshakeStats::inc(stats_.closed_);
      drop(key);
    }
    return true;
  }
  if (req.kind != HsRequestKind::kData) {
    return true;  // nothing else is defined
  }
  const size_t len = std::min<size_t>(req.len, kHsChunk);
  HandshakeStats::inc(stats_.bytes_in_, len);
  if (it == conns_.end()) {
    if (req.listener >= contexts_.size() || !ok()) {
      // Nothing to run the handshake with, counted once per batch.
      if (req.end && req.listener >= contexts_.size()) {
        HandshakeStats::inc(stats_.bad_listener_);
      }
      return refuse(req, emit);
    }
    // At the limit the whole batch is refused, even when a state frees
    // before its last chunk (the rest would start a handshake mid-flight).
    const auto refusing = std::find(refusing_.begin(), refusing_.end(), key);
    if (refusing != refusing_.end() ||
        (options_.max_states != 0 && conns_.size() >= options_.max_states)) {
      if (!req.end) {
        if (refusing == refusing_.end()) {
          refusing_.push_back(key);
        }
        return true;
      }
      if (refusing != refusing_.end()) {
        refusing_.erase(refusing);
      }
      HandshakeStats::inc(stats_.refused_);
      return refuse(req, emit);
    }
    it = conns_
             .emplace(key, std::make_unique<Conn>(contexts_[req.listener],
                                                  *backend_, now_ms()))
             .first;
    HandshakeStats::inc(stats_.started_);
    stats_.states_.store(conns_.size(), std::memory_order_relaxed);
  }
  Conn& c = *it->second;
  c.pending.insert(c.pending.end(), req.data, req.data + len);
  if (!req.end) {
    return true;
  }
  // Answer the batch.
  std::vector<uint8_t> out;
  const tls::FeedResult r = c.hs.feed(c.pending, &out);
  crypto::secure_wipe(c.pending.data(), c.pending.size());
  c.pending.clear();
  bool ok = emit_bytes(req.conn, HsResponseKind::kSend, out, emit);
  switch (r.state) {
    case tls::HandshakeState::kNeedMore:
      if (ok) {
        scratch_.conn = req.conn;
        scratch_.kind = HsResponseKind::kNeedMore;
        scratch_.len = 0;
        ok = emit(scratch_);
        if (ok) {
          HandshakeStats::inc(stats_.responses_);
          return true;
        }
      }
      break;
    case tls::HandshakeState::kFailed:
      if (ok) {
        ok = emit_failed(req.conn, r.alert, r.alert_from_peer, emit);
      }
      break;
    case tls::HandshakeState::kDone:
      if (ok) {
        ok = finish_done(req, c, emit);
      }
      break;
  }
  drop(key);
  return ok;
}

bool HandshakeService::finish_done(const HsRequest& req, Conn& c,
                                   EmitRef emit) {
  tls::HandshakeResult res;
  if (!c.hs.take_result(&res)) {
    return emit_failed(req.conn, tls::Alert::kInternalError, false, emit);
  }
  if (!emit_bytes(req.conn, HsResponseKind::kPostFinished, res.post_finished,
                  emit)) {
    res.wipe();
    return false;
  }
  HsKeys& k = scratch_.keys;
  k = HsKeys{};
  k.version = res.version;
  k.suite = static_cast<uint16_t>(res.suite);
  const std::span<const uint8_t> cs = res.client_secret.span();
  const std::span<const uint8_t> ss = res.server_secret.span();
  const size_t slen = std::min({cs.size(), ss.size(), sizeof(k.client_secret)});
  k.secret_len = static_cast<uint8_t>(slen);
  std::memcpy(k.client_secret, cs.data(), slen);
  std::memcpy(k.server_secret, ss.data(), slen);
  res.wipe();
  k.client_next_seq = res.client_next_seq;
  k.server_next_seq = res.server_next_seq;
  k.peer_record_size_limit = res.peer_record_size_limit;
  k.own_record_size_limit = res.own_record_size_limit;
  k.kind = static_cast<uint8_t>(res.kind);
  copy_truncated(res.alpn, k.alpn, &k.alpn_len);
  copy_truncated(res.server_name, k.sni, &k.sni_len);
  copy_truncated(res.client_identity.subject, k.identity, &k.identity_len);
  scratch_.conn = req.conn;
  scratch_.kind = HsResponseKind::kDone;
  scratch_.alert = 0;
  scratch_.alert_from_peer = false;
  scratch_.len = 0;
  const bool ok = emit(scratch_);
  k.wipe();
  if (!ok) {
    return false;
  }
  HandshakeStats::inc(stats_.responses_);
  const auto kind = static_cast<size_t>(res.kind);
  if (kind < stats_.completed_.size()) {
    HandshakeStats::inc(stats_.completed_[kind]);
  }
  return true;
}

size_t HandshakeService::sweep(uint64_t now) {
  if (options_.handshake_timeout_ms == 0) {
    return 0;
  }
  size_t n = 0;
  for (auto it = conns_.begin(); it != conns_.end();) {
    // A state in the middle of a batch is left to be answered: the rest of
    // the batch is already in the ring (a worker publishes a batch's chunks
    // together) and would otherwise start a handshake of its own.
    if (it->second->pending.empty() && now >= it->second->created_ms &&
        now - it->second->created_ms >= options_.handshake_timeout_ms) {
      it = conns_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  if (n != 0) {
    HandshakeStats::inc(stats_.timed_out_, n);
    stats_.states_.store(conns_.size(), std::memory_order_relaxed);
  }
  return n;
}

}  // namespace dptls::engine
