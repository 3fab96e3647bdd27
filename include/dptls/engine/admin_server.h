// The admin endpoint (docs/configuration.md, [admin]): GET /metrics,
// GET /healthz and POST /reload over HTTP/1.0 on a kernel TCP socket,
// served from the control-plane thread by serve() calls between its other
// work.
//
// Up to kMaxConnections clients are served side by side, each with its own
// buffer and deadlines, through one poll() over all of them: a client that
// connects and sends nothing, or sends slowly, holds one slot until its
// deadline (408) and never the thread, so /healthz and /metrics keep
// answering while it waits. Each request's line and headers must fit in
// kMaxRequest bytes (431) and arrive within kRequestDeadlineMs of the
// accept (408); the response must be taken within kResponseDeadlineMs.
// With all slots taken, new connections wait in the listen backlog until
// one frees (at most those deadlines).
#pragma once

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dptls::config {
class AdminToken;
struct SocketAddress;
}  // namespace dptls::config

namespace dptls::engine {

class AdminServer {
 public:
  static constexpr size_t kMaxConnections = 16;
  static constexpr size_t kMaxRequest = 8192;
  static constexpr int kRequestDeadlineMs = 1000;
  static constexpr int kResponseDeadlineMs = 1000;

  // What the endpoints answer with. render(): the /metrics body.
  // reload(&text): true when it succeeded (200, else 500, with the text).
  // health(&text): true for 200 "ok", else 503 with the reason.
  struct Handlers {
    std::function<std::string()> render;
    std::function<bool(std::string*)> reload;
    std::function<bool(std::string*)> health;
  };

  // `token`: what POST /reload needs (nullptr or empty: nothing); it must
  // outlive the server. With a token, POST /reload without it gets 401 and
  // reload() is not called; the GETs stay open (load balancers probe
  // /healthz without credentials).
  explicit AdminServer(const config::AdminToken* token);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Listens on `a` (port 0: one the kernel picks, see port()).
  bool open(const config::SocketAddress& a, std::string* error);
  // The port listened on (0 before open()).
  uint16_t port() const;

  // Waits up to `timeout_ms` (less when a client's deadline comes first)
  // for new connections, request bytes or room to send, and moves every
  // client on as far as it can without waiting: reads, answers, sends,
  // closes, or refuses one whose deadline passed.
  void serve(int timeout_ms, const Handlers& handlers);

  // Clients being served (tests).
  size_t clients() const;

 private:
  using Clock = std::chrono::steady_clock;

  struct Client {
    int fd = -1;
    sockaddr_storage peer{};
    bool writing = false;  // the response is being sent
    Clock::time_point deadline{};
    size_t n = 0;  // request bytes read
    std::array<char, kMaxRequest> buf{};
    std::string response;
    size_t sent = 0;
  };

  enum class Read : uint8_t {
    kMore,      // nothing more now: wait for more bytes
    kComplete,  // the empty line after the headers came, or the client
                // shut down its side after sending something
    kTooLarge,  // kMaxRequest bytes without the empty line
    kClosed,    // closed before sending anything, or the connection failed
  };

  void accept_clients(const Handlers& handlers);
  // Reads, answers and sends as far as it can without waiting; closes the
  // client when done or failed.
  void progress(Client& c, const Handlers& handlers);
  static Read read_more(Client& c);
  void respond(Client& c, Read read, const Handlers& handlers);
  // Makes `response` the one to send, within kResponseDeadlineMs.
  static void start_response(Client& c, std::string response);
  // Sends what it can; true when all of the response is sent.
  static bool send_more(Client& c, bool* failed);
  static void finish(Client& c);
  std::string answer(std::string_view request, const sockaddr_storage& peer,
                     const Handlers& handlers) const;
  static std::string refuse(const sockaddr_storage& peer, const char* status,
                            const std::string& why);
  bool authorise(std::string_view request, const sockaddr_storage& peer,
                 std::string* response) const;

  int fd_ = -1;
  const config::AdminToken* token_;
  std::vector<Client> clients_;  // kMaxConnections slots, fd -1: free
};

// An HTTP/1.0 response with `body` and a newline as text/plain;
// `headers`: more header lines, each ending in CRLF.
std::string admin_text_response(const char* status, std::string body,
                                const std::string& headers = "");

// "a.b.c.d:port" or "[v6]:port".
std::string peer_text(const sockaddr_storage& ss);

}  // namespace dptls::engine
