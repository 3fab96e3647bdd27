// The handshake threads' side of the hand-off (architecture.md, "Handshake
// hand-off"; the protocol is in hs_channel.h): per listener a
// tls::ServerContext built from the configuration, and per handshake thread
// one HandshakeService holding the ServerHandshake of every connection that
// thread serves.
//
//   std::string err;
//   auto contexts = build_server_contexts(config, &err);   // at start
//   HandshakeService svc(contexts, options);                // per thread
//   svc.set_contexts(reloaded);     // a certificate reload (cert_reload.h)
//   // for each HsRequest taken from a worker's request ring:
//   svc.handle(req, [&](const HsResponse& r) { /* copy into the response
//                                                 ring and publish */ });
//   svc.sweep(now_ms);                                      // now and then
//
// The control plane may allocate, lock and make syscalls; nothing here ever
// runs on a worker. No exceptions cross this API: failures are strings or
// kFailed answers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dptls/config/config.h"
#include "dptls/crypto/aead.h"
#include "dptls/engine/hs_channel.h"
#include "dptls/tls/handshake/server.h"

namespace dptls::engine {

using ServerContexts = std::vector<std::shared_ptr<const tls::ServerContext>>;

// One context per config.listeners entry (same order): certificates per SNI
// from their chain/key files, ALPN, cipher suites and server_preference,
// groups, client_ca
// (mTLS, certificate required) and one TicketKeys shared by every listener,
// loaded from tickets.key_file when set (created 0600 and saved there when
// the file does not exist yet; refused, with the chmod or chown that fixes
// it, unless it is a regular file of the effective uid that group and
// others cannot access), lifetime tickets.lifetime_s, rotation interval
// tickets.rotate_s. Returns an empty vector with *error set
// ("listener[1] (0.0.0.0:443): certificate[0]: ...") on any failure.
ServerContexts build_server_contexts(const config::Config& config,
                                     std::string* error);
// The same with the given ticket keys instead of tickets.key_file's (a
// certificate reload keeps the running keys, so tickets issued before it
// still resume). `ticket_keys` must not be null.
ServerContexts build_server_contexts(
    const config::Config& config,
    const std::shared_ptr<tls::TicketKeys>& ticket_keys, std::string* error);

// How errors and logs name listener `i` of `config`: "listener[1]
// (0.0.0.0:443)".
std::string listener_name(const config::Config& config, size_t i);

// The ticket-key schedule while the engine runs (tickets.rotate_s,
// tickets.key_file), ticked by the control plane, never a worker. Each
// tick: when the key file changed on disk (another instance rotated it),
// its keys are taken; then, when the current key is rotate_s old, a fresh
// one becomes current, the old one stays able to open tickets, and the
// key file (if any) is written again for the other instances. Instances
// sharing a file should tick at similar times; if two rotate at once the
// last write wins and the other's newest tickets fall back to full
// handshakes (nothing worse).
class TicketKeyRotation {
 public:
  enum class Tick : uint8_t { kNothing, kRotated, kReloaded, kFailed };

  // `keys`: the contexts' shared keys (config().ticket_keys); `key_file`
  // empty when the keys live in this process only.
  TicketKeyRotation(std::shared_ptr<tls::TicketKeys> keys,
                    std::string key_file);

  // One step of the schedule at `now_ms` (ms since the Unix epoch).
  // kFailed with *error set when the file could not be read or written,
  // or is not private to us (TicketKeys::load's checks; the keys in use
  // are then unchanged, or rotated but not saved). A file refused is
  // reported once, then again after it changes (a chmod counts).
  Tick tick(uint64_t now_ms, std::string* error);
  // Ticks that returned kFailed.
  uint64_t failures() const { return failures_; }

 private:
  // The key file's identity on disk (inode, size, mtime, ctime: a chmod
  // that makes a refused file acceptable counts as a change); 0 when
  // absent.
  struct FileStamp {
    uint64_t ino = 0, size = 0, mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  FileStamp stamp() const;

  std::shared_ptr<tls::TicketKeys> keys_;
  std::string file_;
  FileStamp seen_;
  uint64_t failures_ = 0;
};

// SSLKEYLOGFILE writer (NSS key log format): one
// "LABEL <client_random hex> <secret hex>" line per secret, each appended
// with one write(2) on an O_APPEND descriptor (no stdio buffer holds it).
// Thread-safe (a mutex): the handshake threads share one. Secrets are written
// nowhere else.
class KeylogFile {
 public:
  // Opens `path` for appending (created 0600). nullptr with *error set when
  // it cannot be opened.
  static std::shared_ptr<KeylogFile> open(const std::string& path,
                                          std::string* error);
  ~KeylogFile();
  KeylogFile(const KeylogFile&) = delete;
  KeylogFile& operator=(const KeylogFile&) = delete;

  // Appends and flushes one line. Returns false on an I/O error.
  bool write(std::string_view label, std::span<const uint8_t> client_random,
             std::span<const uint8_t> secret);
  uint64_t lines() const { return lines_.load(std::memory_order_relaxed); }

 private:
  KeylogFile() = default;
  std::mutex mu_;
  int fd_ = -1;
  std::atomic<uint64_t> lines_{0};
};

// Returns a context equal to `ctx` (same certificates, ticket keys and
// policy; its own HelloRetryRequest cookie key) whose handshakes log their
// secrets to `keylog`. nullptr with *error set on failure.
std::shared_ptr<const tls::ServerContext> with_keylog(
    const std::shared_ptr<const tls::ServerContext>& ctx,
    std::shared_ptr<KeylogFile> keylog, std::string* error);

// Counters of one service (or of several, added up). Written by the
// owning handshake thread with relaxed atomics, read by any thread.
// How many tls::HandshakeKind values there are (counted from the X-macro
// that defines them, so a new kind gets its counter).
#define DPTLS_X(e, name) +1
inline constexpr size_t kHandshakeKindCount = 0 DPTLS_HANDSHAKE_KINDS(DPTLS_X);
#undef DPTLS_X

// A plain copy of the counters, which can be added up and rendered.
struct HandshakeCounters {
  uint64_t started = 0;  // handshake states created
  std::array<uint64_t, kHandshakeKindCount> completed{};  // by HandshakeKind
  // Failed handshakes by alert code, [0] sent by us, [1] from the peer.
  std::array<std::array<uint64_t, 256>, 2> failed{};
  uint64_t timed_out = 0;     // states dropped by sweep()
  uint64_t closed = 0;        // states dropped by kClosed
  uint64_t bad_listener = 0;  // batches for a listener index out of range
  uint64_t stale = 0;         // kClosed for an unknown connection
  uint64_t refused = 0;       // new connections' batches refused at max_states
  uint64_t requests = 0;
  uint64_t responses = 0;
  uint64_t bytes_in = 0;   // kData payload
  uint64_t bytes_out = 0;  // kSend + kPostFinished payload
  uint64_t states = 0;     // current (a gauge)
  uint64_t keylog_lines = 0;

  HandshakeCounters& operator+=(const HandshakeCounters& o);

  // Calls fn(name, labels, value) for every metric, labels in Prometheus
  // form without braces ("kind=\"full\""; empty for none). Names:
  //   dptls_hs_started_total, dptls_hs_completed_total{kind},
  //   dptls_hs_failed_total{alert,from="local"|"peer"} (non-zero only),
  //   dptls_hs_timed_out_total, dptls_hs_closed_total,
  //   dptls_hs_bad_listener_total, dptls_hs_stale_total,
  //   dptls_hs_refused_total,
  //   dptls_hs_requests_total, dptls_hs_responses_total,
  //   dptls_hs_bytes_in_total, dptls_hs_bytes_out_total,
  //   dptls_hs_keylog_lines_total, dptls_hs_states (gauge).
  template <typename Fn>
  void for_each(Fn&& fn) const;
  // Appends the Prometheus text exposition of for_each() (with # TYPE
  // lines) to *out.
  void render_prometheus(std::string* out) const;
};

class HandshakeStats {
 public:
  HandshakeCounters snapshot() const;

 private:
  friend class HandshakeService;
  using C = std::atomic<uint64_t>;
  static void inc(C& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  C started_{0};
  std::array<C, kHandshakeKindCount> completed_{};
  std::array<std::array<C, 256>, 2> failed_{};
  C timed_out_{0};
  C closed_{0};
  C bad_listener_{0};
  C stale_{0};
  C refused_{0};
  C requests_{0};
  C responses_{0};
  C bytes_in_{0};
  C bytes_out_{0};
  C states_{0};
};

// A non-owning reference to a callable bool(const HsResponse&) (the
// function_ref idea): the emitter publishes the response (copies it into a
// ring slot) and returns false when it cannot (shutting down).
class EmitRef {
 public:
  // Implicit, like std::function; the requires-clause keeps it from
  // hiding the copy constructor.
  // NOLINTBEGIN(google-explicit-constructor,bugprone-forwarding-reference-overload)
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, EmitRef> &&
           std::is_invocable_r_v<bool, F&, const HsResponse&>) EmitRef(F&& f)
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, const HsResponse& r) -> bool {
          return (*static_cast<std::remove_reference_t<F>*>(o))(r);
        }) {}
  // NOLINTEND(google-explicit-constructor,bugprone-forwarding-reference-overload)
  bool operator()(const HsResponse& r) const { return call_(obj_, r); }

 private:
  void* obj_;
  bool (*call_)(void*, const HsResponse&);
};

struct HandshakeServiceOptions {
  // States older than this (since their first request) are dropped by
  // sweep(). 0: never.
  uint64_t handshake_timeout_ms = 10000;
  // Shared key log (nullptr: off). The service's contexts are then copies
  // of the given ones with the key log hook set (with_keylog()).
  std::shared_ptr<KeylogFile> keylog;
  // Monotonic milliseconds for the states' ages; nullptr: steady_clock.
  std::function<uint64_t()> clock_ms;
  // At most this many states at once (0: no limit). At the limit a new
  // connection's batch is refused as a whole: a plaintext internal_error
  // alert and kFailed, counted `refused`; no state is created for it.
  size_t max_states = 0;
};

// One handshake thread's handshakes. Not thread-safe (one owner thread),
// except stats(), readable from anywhere.
class HandshakeService {
 public:
  HandshakeService(ServerContexts contexts, HandshakeServiceOptions options);
  ~HandshakeService();
  HandshakeService(const HandshakeService&) = delete;
  HandshakeService& operator=(const HandshakeService&) = delete;

  // False when construction failed (no AEAD backend, or a key log context
  // could not be made); error() says why. handle() then answers every
  // batch with kFailed / internal_error.
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Handles one request (hs_channel.h protocol). kData chunks are gathered
  // per connection; the one with `end` set is answered through `emit`:
  // kSend chunks, then kNeedMore | kPostFinished chunks + kDone | kFailed.
  // A kData for an unknown connection starts a handshake on req.listener
  // (out of range, or options.max_states reached: a plaintext
  // internal_error alert and kFailed, once per batch). kClosed
  // drops the connection's state, unanswered. Returns false when `emit`
  // refused a response (the connection's state is then dropped).
  bool handle(const HsRequest& req, EmitRef emit);

  // Replaces the contexts new connections start on (a certificate reload;
  // one per listener, used as they are: the caller has already wrapped
  // them with the key log when options.keylog is set). Handshakes in
  // progress keep the context they started with (their ServerHandshake
  // holds it), which is freed with the last of them. Owner thread only,
  // between two handle() calls.
  void set_contexts(ServerContexts contexts) {
    contexts_ = std::move(contexts);
  }
  const ServerContexts& contexts() const { return contexts_; }

  // Drops states older than the timeout at `now_ms` (the clock of
  // options.clock_ms), except one whose batch is partly gathered (it is
  // answered first, then swept). Returns how many.
  size_t sweep(uint64_t now_ms);
  uint64_t now_ms() const;

  size_t states() const { return conns_.size(); }
  const HandshakeStats& stats() const { return stats_; }
  HandshakeCounters counters() const;

 private:
  struct Conn;
  bool finish_done(const HsRequest& req, Conn& c, EmitRef emit);
  bool emit_bytes(net::ConnHandle h, HsResponseKind kind,
                  std::span<const uint8_t> bytes, EmitRef emit);
  bool emit_failed(net::ConnHandle h, tls::Alert alert, bool from_peer,
                   EmitRef emit);
  void drop(uint64_t key);
  bool refuse(const HsRequest& req, EmitRef emit);

  ServerContexts contexts_;
  HandshakeServiceOptions options_;
  std::unique_ptr<crypto::AeadBackend> backend_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  // New connections refused at max_states whose batch has more chunks to
  // come (at most one per request ring).
  std::vector<uint64_t> refusing_;
  HsResponse scratch_;
  HandshakeStats stats_;
  std::string error_;
};

// ---- inline ----

template <typename Fn>
void HandshakeCounters::for_each(Fn&& fn) const {
  fn("dptls_hs_started_total", "", started);
  for (size_t k = 0; k < completed.size(); ++k) {
    std::string labels = "kind=\"";
    labels += tls::handshake_kind_name(static_cast<tls::HandshakeKind>(k));
    labels += '"';
    fn("dptls_hs_completed_total", labels, completed[k]);
  }
  for (size_t peer = 0; peer < 2; ++peer) {
    for (size_t a = 0; a < 256; ++a) {
      if (failed[peer][a] == 0) {
        continue;
      }
      std::string labels = "alert=\"";
      const std::string_view name = tls::alert_name(static_cast<tls::Alert>(a));
      if (name == "unknown") {
        labels += "unknown_" + std::to_string(a);
      } else {
        labels += name;
      }
      labels += peer != 0 ? "\",from=\"peer\"" : "\",from=\"local\"";
      fn("dptls_hs_failed_total", labels, failed[peer][a]);
    }
  }
  fn("dptls_hs_timed_out_total", "", timed_out);
  fn("dptls_hs_closed_total", "", closed);
  fn("dptls_hs_bad_listener_total", "", bad_listener);
  fn("dptls_hs_stale_total", "", stale);
  fn("dptls_hs_refused_total", "", refused);
  fn("dptls_hs_requests_total", "", requests);
  fn("dptls_hs_responses_total", "", responses);
  fn("dptls_hs_bytes_in_total", "", bytes_in);
  fn("dptls_hs_bytes_out_total", "", bytes_out);
  fn("dptls_hs_keylog_lines_total", "", keylog_lines);
  fn("dptls_hs_states", "", states);
}

}  // namespace dptls::engine
