// The echo application: every plaintext byte a client sends comes back to
// it, in order. The simplest thing to measure the TLS path against.
//
// Backpressure is all in wants_data(): a record is opened only when its
// whole plaintext fits in write_space(), so on_data() never holds bytes it
// cannot write and keeps nothing per connection between calls.
#pragma once

#include <cstddef>
#include <span>

#include "dptls/app/app.h"

namespace dptls::app {

class EchoApp final : public Application {
 public:
  EchoApp() = default;

  void on_open(AppConn& conn) override;
  // True only when conn.write_space() >= pending (pending bounds the
  // plaintext), and not once the connection is closing.
  bool wants_data(AppConn& conn, size_t pending) override;
  // Writes the record back. A short write() (the worker opened a record
  // wants_data() refused) cannot be undone: the connection is aborted.
  // stats().requests counts non-empty records echoed.
  void on_data(AppConn& conn, std::span<const crypto::IoSegment> data) override;
  void on_writable(AppConn& conn) override;
  // Everything received is already written: shutdown() at once.
  void on_peer_closed(AppConn& conn) override;
  void on_close(AppConn& conn) override;
};

}  // namespace dptls::app
