#include "dptls/app/echo.h"

#include <new>

namespace dptls::app {

namespace {

// Set once shutdown() or abort() was called: nothing more is read or
// written on the connection.
struct EchoState {
  bool done;
};

}  // namespace

void EchoApp::on_open(AppConn& conn) { new (conn.state()) EchoState{}; }

bool EchoApp::wants_data(AppConn& conn, size_t pending) {
  return !conn.state_as<EchoState>().done && conn.write_space() >= pending;
}

void EchoApp::on_data(AppConn& conn, std::span<const crypto::IoSegment> data) {
  EchoState& s = conn.state_as<EchoState>();
  if (s.done) {
    return;
  }
  bool wrote = false;
  for (const crypto::IoSegment& seg : data) {
    if (seg.len == 0) {
      continue;
    }
    const size_t took = conn.write({seg.data, seg.len});
    stats_.responses_bytes += took;
    wrote = true;
    if (took < seg.len) {
      // The bytes not taken cannot be kept (the record is released on
      // return) and dropping them would corrupt the stream.
      s.done = true;
      conn.abort();
      return;
    }
  }
  if (wrote) {
    ++stats_.requests;
  }
}

void EchoApp::on_writable(AppConn& /*conn*/) {}

void EchoApp::on_peer_closed(AppConn& conn) {
  EchoState& s = conn.state_as<EchoState>();
  if (!s.done) {
    s.done = true;
    conn.shutdown();
  }
}

void EchoApp::on_close(AppConn& conn) {
  conn.state_as<EchoState>().done = true;
}

}  // namespace dptls::app
