// The application interface: what runs on plaintext inside a worker, after
// the TLS record engine (architecture.md: "app (echo | http | proxy)").
//
// The worker calls an Application for every connection of a listener, on
// the worker's own thread, with no locks. The application answers through
// the AppConn the worker passes: write() plaintext (the worker seals it into
// records in the burst's seal batch and hands them to TCP), shutdown() or
// abort(). Per-connection state lives in a fixed slot the worker owns
// (AppConn::state()), so nothing on this path allocates from the heap,
// throws or makes a syscall.
//
// Backpressure: before the worker opens a connection's records it asks
// wants_data(); while that is false the records stay in TCP (whose window
// then closes). on_writable() says write_space() grew.
//
// The load-balancer proxy implements this interface too: its per-connection
// state holds the backend connection's handle, on_data forwards to it, and
// the backend's bytes come back through write().
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>

#include "dptls/crypto/aead.h"

namespace dptls::app {

// Bytes of per-connection application state the worker reserves.
inline constexpr size_t kAppStateBytes = 128;

// One connection as the application sees it. Implemented by the worker.
class AppConn {
 public:
  // Plaintext bytes write() accepts now (0 while TCP's send queue is full).
  virtual size_t write_space() const = 0;
  // Queues plaintext to send; returns how many bytes were taken (at most
  // write_space()). The bytes are copied: the span may be reused at once.
  virtual size_t write(std::span<const uint8_t> bytes) = 0;
  // Sends close_notify after everything written, then closes TCP. No
  // further write() is accepted; on_close() follows.
  virtual void shutdown() = 0;
  // Resets the connection now (TCP RST); on_close() follows.
  virtual void abort() = 0;
  // What the handshake negotiated (empty when none).
  virtual std::string_view alpn() const = 0;
  virtual std::string_view server_name() const = 0;
  // The verified client certificate's subject (mTLS), else empty.
  virtual std::string_view peer_identity() const = 0;

  // The application's state for this connection: kAppStateBytes, aligned
  // for any scalar, zeroed before on_open().
  void* state() { return state_; }
  template <typename T>
  T& state_as() {
    static_assert(sizeof(T) <= kAppStateBytes);
    static_assert(std::is_trivially_destructible_v<T>);
    return *std::launder(reinterpret_cast<T*>(state_));
  }

 protected:
  AppConn() = default;
  ~AppConn() = default;
  AppConn(const AppConn&) = delete;
  AppConn& operator=(const AppConn&) = delete;

  alignas(std::max_align_t) unsigned char state_[kAppStateBytes] = {};
};

// X(enumerator, printable name): why an application ended a connection,
// counted by the worker.
#define DPTLS_APP_ERRORS(X)                              \
  X(kBadRequest, "bad_request")  /* unparseable input */ \
  X(kTooLarge, "too_large")      /* head over limit */   \
  X(kUnsupported, "unsupported") /* method, coding */

enum class AppError : uint8_t {
#define DPTLS_X(e, name) e,
  DPTLS_APP_ERRORS(DPTLS_X)
#undef DPTLS_X
};
inline constexpr size_t kAppErrorCount = 0
#define DPTLS_X(e, name) +1
    DPTLS_APP_ERRORS(DPTLS_X)
#undef DPTLS_X
    ;

// Counters an application keeps; the worker publishes them.
struct AppStats {
  uint64_t requests = 0;         // http: requests answered; echo: records
  uint64_t responses_bytes = 0;  // plaintext bytes written
  uint64_t errors[kAppErrorCount] = {};
};

class Application {
 public:
  virtual ~Application() = default;
  // The handshake completed; conn.state() is zeroed.
  virtual void on_open(AppConn& conn) = 0;
  // May the worker open up to `pending` more bytes of records for `conn`
  // now? (pending is the ciphertext waiting, an upper bound of the
  // plaintext.) false keeps them in TCP until a later call.
  virtual bool wants_data(AppConn& conn, size_t pending) = 0;
  // Plaintext of one record, in order (may be empty). Every byte must be
  // dealt with before returning: the record is released afterwards.
  virtual void on_data(AppConn& conn,
                       std::span<const crypto::IoSegment> data) = 0;
  // write_space() grew since it was last found short.
  virtual void on_writable(AppConn& conn) = 0;
  // The peer will send nothing more (close_notify or TCP FIN).
  virtual void on_peer_closed(AppConn& conn) = 0;
  // The connection is gone; conn.state() is about to be reused.
  virtual void on_close(AppConn& conn) = 0;
  // The wall clock in whole seconds since the Unix epoch: called before the
  // first connection opens and then whenever the second changes. The
  // worker derives it from its TSC and an offset the control plane
  // publishes once a second from the system clock (engine/wall_clock.h),
  // so the call costs no syscall.
  virtual void on_clock(uint64_t /*unix_seconds*/) {}
  // Nothing is half done on `conn` (no request partly read, no response
  // partly written): while the engine drains, an idle connection is closed
  // with close_notify and a busy one is left to finish.
  virtual bool idle(AppConn& /*conn*/) { return true; }

  const AppStats& stats() const { return stats_; }

 protected:
  AppStats stats_;
};

}  // namespace dptls::app
