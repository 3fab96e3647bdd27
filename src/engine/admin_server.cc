#include "dptls/engine/admin_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "dptls/config/admin_token.h"
#include "dptls/config/config.h"
#include "dptls/crypto/aead.h"
#include "dptls/util/http_text.h"

namespace dptls::engine {

namespace {

// Reads of whatever else a client sent (a body, the rest of an oversized
// header block) before its connection is closed: only what has arrived,
// and no more than this many, so that a client that keeps sending cannot
// hold the thread.
constexpr int kDrainReads = 16;

}  // namespace

std::string peer_text(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
    return fmt::format("[{}]:{}", host, ntohs(s6->sin6_port));
  }
  const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
  return fmt::format("{}:{}", host, ntohs(s4->sin_port));
}

std::string admin_text_response(const char* status, std::string body,
                                const std::string& headers) {
  if (!body.empty()) {
    body += '\n';
  }
  return std::string("HTTP/1.0 ") + status + "\r\n" + headers +
         "Content-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

AdminServer::AdminServer(const config::AdminToken* token)
    : token_(token), clients_(kMaxConnections) {}

AdminServer::~AdminServer() {
  for (Client& c : clients_) {
    if (c.fd >= 0) {
      close(c.fd);
      crypto::secure_wipe(c.buf.data(), c.buf.size());
    }
  }
  if (fd_ >= 0) {
    close(fd_);
  }
}

bool AdminServer::open(const config::SocketAddress& a, std::string* error) {
  fd_ = socket(a.v6 ? AF_INET6 : AF_INET,
               SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (a.v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    std::memcpy(&s6->sin6_addr, a.bytes, 16);
    len = sizeof(*s6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port);
    std::memcpy(&s4->sin_addr, a.bytes, 4);
    len = sizeof(*s4);
  }
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      listen(fd_, 64) != 0) {
    *error = "admin: cannot listen on " + a.text + ": " + std::strerror(errno);
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    return false;
  }
  return true;
}

uint16_t AdminServer::port() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (fd_ < 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return 0;
  }
  return ntohs(ss.ss_family == AF_INET6
                   ? reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port
                   : reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

size_t AdminServer::clients() const {
  return static_cast<size_t>(
      std::count_if(clients_.begin(), clients_.end(),
                    [](const Client& c) { return c.fd >= 0; }));
}

void AdminServer::serve(int timeout_ms, const Handlers& handlers) {
  if (fd_ < 0) {
    return;
  }
  // One poll over the listening socket (while a slot is free) and every
  // client, for no longer than the nearest client deadline.
  std::array<pollfd, kMaxConnections + 1> fds{};
  std::array<Client*, kMaxConnections + 1> owner{};
  size_t nfds = 0;
  const Clock::time_point now = Clock::now();
  Clock::time_point wake = now + std::chrono::milliseconds(timeout_ms);
  bool slot_free = false;
  for (Client& c : clients_) {
    if (c.fd < 0) {
      slot_free = true;
      continue;
    }
    owner[nfds] = &c;
    fds[nfds++] =
        pollfd{c.fd, static_cast<int16_t>(c.writing ? POLLOUT : POLLIN), 0};
    wake = std::min(wake, c.deadline);
  }
  if (slot_free) {
    owner[nfds] = nullptr;
    fds[nfds++] = pollfd{fd_, POLLIN, 0};
  }
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now);
  const int ready = poll(fds.data(), nfds,
                         static_cast<int>(std::max<int64_t>(0, wait.count())));
  // A failed poll (other than EINTR: nothing ready) still lets the
  // deadlines below run.
  for (size_t i = 0; ready > 0 && i < nfds; ++i) {
    Client* c = owner[i];
    if (fds[i].revents == 0 || c == nullptr) {
      continue;
    }
    progress(*c, handlers);
  }
  // Deadlines: a request not complete in time gets 408; a response not
  // taken in time is given up.
  const Clock::time_point after = Clock::now();
  for (Client& c : clients_) {
    if (c.fd < 0 || c.deadline > after) {
      continue;
    }
    if (!c.writing) {
      // What arrived while the thread was busy (a long reload, say) still
      // counts: a request complete by now is answered, not refused.
      const Read r = read_more(c);
      if (r == Read::kMore) {
        start_response(
            c, refuse(c.peer, "408 Request Timeout",
                      fmt::format("request line and headers not complete "
                                  "within {} ms ({} bytes came)",
                                  kRequestDeadlineMs, c.n)));
      } else {
        respond(c, r, handlers);
      }
      if (c.fd >= 0) {
        progress(c, handlers);  // sends what it can
      }
    } else {
      spdlog::warn(
          "admin: response to {} not sent: the client did not take it within "
          "{} ms",
          peer_text(c.peer), kResponseDeadlineMs);
      finish(c);
    }
  }
  if (slot_free) {
    accept_clients(handlers);
  }
}

void AdminServer::progress(Client& c, const Handlers& handlers) {
  if (!c.writing) {
    const Read r = read_more(c);
    if (r == Read::kMore) {
      return;
    }
    respond(c, r, handlers);
  }
  if (c.fd >= 0 && c.writing) {
    bool failed = false;
    if (send_more(c, &failed) || failed) {
      if (failed) {
        spdlog::warn("admin: response to {} not sent: the connection failed",
                     peer_text(c.peer));
      }
      finish(c);
    }
  }
}

void AdminServer::accept_clients(const Handlers& handlers) {
  for (Client& c : clients_) {
    if (c.fd >= 0) {
      continue;
    }
    socklen_t peer_len = sizeof(c.peer);
    const int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&c.peer), &peer_len,
                           SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      return;  // none waiting (or a transient failure: next round)
    }
    c.fd = fd;
    c.writing = false;
    c.n = 0;
    c.sent = 0;
    c.response.clear();
    c.deadline = Clock::now() + std::chrono::milliseconds(kRequestDeadlineMs);
    // Most requests are already there: serve them now.
    progress(c, handlers);
  }
}

AdminServer::Read AdminServer::read_more(Client& c) {
  while (true) {
    const ssize_t r = recv(c.fd, c.buf.data() + c.n, c.buf.size() - c.n, 0);
    if (r > 0) {
      const size_t before = c.n;
      c.n += static_cast<size_t>(r);
      if (http_head_end({c.buf.data(), c.n}, before) !=
          std::string_view::npos) {
        return Read::kComplete;
      }
      if (c.n == c.buf.size()) {
        return Read::kTooLarge;
      }
      continue;
    }
    if (r == 0) {
      return c.n > 0 ? Read::kComplete : Read::kClosed;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? Read::kMore
                                                   : Read::kClosed;
  }
}

void AdminServer::respond(Client& c, Read read, const Handlers& handlers) {
  if (read == Read::kClosed) {
    finish(c);  // nothing came, or the connection failed: no one to answer
    return;
  }
  start_response(
      c, read == Read::kTooLarge
             ? refuse(c.peer, "431 Request Header Fields Too Large",
                      fmt::format("request line and headers longer than "
                                  "{} bytes",
                                  kMaxRequest))
             : answer({c.buf.data(), c.n}, c.peer, handlers));
}

void AdminServer::start_response(Client& c, std::string response) {
  c.response = std::move(response);
  c.writing = true;
  c.sent = 0;
  c.deadline = Clock::now() + std::chrono::milliseconds(kResponseDeadlineMs);
}

bool AdminServer::send_more(Client& c, bool* failed) {
  while (c.sent < c.response.size()) {
    const ssize_t w = send(c.fd, c.response.data() + c.sent,
                           c.response.size() - c.sent, MSG_NOSIGNAL);
    if (w > 0) {
      c.sent += static_cast<size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return false;
    } else {
      *failed = true;
      return false;
    }
  }
  return true;
}

void AdminServer::finish(Client& c) {
  // What the client sent beyond the part read is discarded, so that the
  // close sends a FIN rather than a reset that could destroy the response
  // before the client reads it.
  shutdown(c.fd, SHUT_WR);
  for (int i = 0; i < kDrainReads &&
                  recv(c.fd, c.buf.data(), c.buf.size(), MSG_DONTWAIT) > 0;
       ++i) {
  }
  close(c.fd);
  c.fd = -1;
  // The request may have carried the token.
  crypto::secure_wipe(c.buf.data(), c.buf.size());
  c.n = 0;
  c.response.clear();
  c.writing = false;
}

std::string AdminServer::answer(std::string_view request,
                                const sockaddr_storage& peer,
                                const Handlers& handlers) const {
  if (request.starts_with("GET /metrics")) {
    const std::string body = handlers.render();
    return "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  if (request.starts_with("POST /reload")) {
    std::string response;  // the 401 without the token
    if (authorise(request, peer, &response)) {
      std::string body;
      const bool ok = handlers.reload(&body);
      response =
          admin_text_response(ok ? "200 OK" : "500 Failed", std::move(body));
    }
    return response;
  }
  if (request.starts_with("GET /healthz")) {
    std::string body;
    const bool ok = handlers.health(&body);
    return admin_text_response(ok ? "200 OK" : "503 Service Unavailable",
                               std::move(body));
  }
  return "HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n";
}

std::string AdminServer::refuse(const sockaddr_storage& peer,
                                const char* status, const std::string& why) {
  spdlog::warn("admin: request from {} refused ({:.3}): {}", peer_text(peer),
               status, why);
  return admin_text_response(status, why);
}

// RFC 6750 section 3: a challenge, error="invalid_token" for a wrong token;
// the refusal is logged with the peer and the reason, never a token.
bool AdminServer::authorise(std::string_view request,
                            const sockaddr_storage& peer,
                            std::string* response) const {
  if (token_ == nullptr || token_->empty()) {
    return true;
  }
  const config::AdminToken::Verdict v = token_->check(request);
  if (v == config::AdminToken::Verdict::kOk) {
    return true;
  }
  const char* why = config::AdminToken::reason(v);
  spdlog::warn("admin: POST /reload from {} refused (401): {}", peer_text(peer),
               why);
  *response = admin_text_response(
      "401 Unauthorized", std::string("unauthorized: ") + why,
      v == config::AdminToken::Verdict::kWrong
          ? "WWW-Authenticate: Bearer realm=\"dptls\", "
            "error=\"invalid_token\"\r\n"
          : "WWW-Authenticate: Bearer realm=\"dptls\"\r\n");
  return false;
}

}  // namespace dptls::engine
