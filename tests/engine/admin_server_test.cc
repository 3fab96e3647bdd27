// The admin endpoint on a loopback socket, served by a thread calling
// serve() as the control plane does: the endpoints, requests in pieces,
// the 431 / 408 / 401 refusals, and clients served side by side (an idle
// client must not hold /healthz).
#include "dptls/engine/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "dptls/config/admin_token.h"
#include "dptls/config/config.h"

namespace dptls::engine {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Serves on 127.0.0.1 (a port the kernel picks) from a thread until the
// fixture ends.
class AdminServerTest : public ::testing::Test {
 protected:
  void Start(const config::AdminToken* token = nullptr) {
    server_ = std::make_unique<AdminServer>(token);
    config::SocketAddress a;
    a.bytes[0] = 127;
    a.bytes[3] = 1;
    a.text = "127.0.0.1:0";
    std::string error;
    ASSERT_TRUE(server_->open(a, &error)) << error;
    port_ = server_->port();
    ASSERT_NE(port_, 0);
    handlers_.render = [] { return std::string("dptls_up 1\n"); };
    handlers_.health = [](std::string* text) {
      *text = "ok";
      return true;
    };
    handlers_.reload = [this](std::string* text) {
      std::this_thread::sleep_for(reload_delay_);
      ++reloads_;
      *text = "reloaded";
      return true;
    };
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        server_->serve(20, handlers_);
      }
    });
  }
  void TearDown() override {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  // A connected blocking socket with a receive timeout.
  int Connect(int timeout_ms = 5000) const {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{timeout_ms / 1000,
               static_cast<suseconds_t>(timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port_);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    return fd;
  }
  static void Send(int fd, const std::string& s) {
    ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(s.size()));
  }
  // Everything until the server closes (or the timeout).
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    ssize_t r = 0;
    while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
      out.append(buf, static_cast<size_t>(r));
    }
    close(fd);
    return out;
  }
  std::string Request(const std::string& req) {
    const int fd = Connect();
    Send(fd, req);
    return ReadAll(fd);
  }

  std::unique_ptr<AdminServer> server_;
  AdminServer::Handlers handlers_;
  uint16_t port_ = 0;
  milliseconds reload_delay_{0};  // set before Start()
  std::atomic<int> reloads_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(AdminServerTest, EndpointsAnswer) {
  Start();
  EXPECT_EQ(Request("GET /healthz HTTP/1.0\r\n\r\n"),
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
            "Content-Length: 3\r\n\r\nok\n");
  const std::string m = Request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(m.starts_with("HTTP/1.0 200 OK\r\n")) << m;
  EXPECT_TRUE(m.ends_with("\r\n\r\ndptls_up 1\n")) << m;
  EXPECT_TRUE(Request("GET /nothing HTTP/1.0\r\n\r\n")
                  .starts_with("HTTP/1.0 404 Not Found\r\n"));
  EXPECT_TRUE(Request("POST /reload HTTP/1.0\r\n\r\n")
                  .starts_with("HTTP/1.0 200 OK\r\n"));
  EXPECT_EQ(reloads_.load(), 1);
}

// A request in pieces, 150 ms apart, is read to the end of its headers.
TEST_F(AdminServerTest, RequestInPiecesIsServed) {
  Start();
  const int fd = Connect();
  for (const char* piece : {"GET /hea", "lthz HTTP/1.0\r\n", "\r\n"}) {
    Send(fd, piece);
    std::this_thread::sleep_for(milliseconds(150));
  }
  EXPECT_TRUE(ReadAll(fd).starts_with("HTTP/1.0 200 OK\r\n"));
}

TEST_F(AdminServerTest, OversizedAndSlowRequestsAreRefused) {
  Start();
  EXPECT_TRUE(Request("GET /metrics HTTP/1.0\r\nX: " + std::string(9000, 'a'))
                  .starts_with("HTTP/1.0 431 "));
  const auto t0 = Clock::now();
  const int fd = Connect();
  Send(fd, "GET /metrics HTTP/1.0\r\n");
  const std::string r = ReadAll(fd);
  EXPECT_TRUE(r.starts_with("HTTP/1.0 408 Request Timeout\r\n")) << r;
  EXPECT_NE(r.find("(23 bytes came)"), std::string::npos) << r;
  EXPECT_GE(Clock::now() - t0, milliseconds(AdminServer::kRequestDeadlineMs));
}

// Clients that connect and send nothing hold a slot each until their
// deadline, not the server: /healthz from another client is answered at
// once, and then each idle one gets its 408.
TEST_F(AdminServerTest, IdleClientsDoNotHoldOthers) {
  Start();
  std::vector<int> idle;
  idle.reserve(6);
  for (int i = 0; i < 6; ++i) {
    idle.push_back(Connect());
  }
  std::this_thread::sleep_for(milliseconds(100));  // all accepted
  const auto t0 = Clock::now();
  EXPECT_TRUE(
      Request("GET /healthz HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200"));
  EXPECT_LT(Clock::now() - t0, milliseconds(500))
      << "an idle client held the server";
  for (const int fd : idle) {
    EXPECT_TRUE(ReadAll(fd).starts_with("HTTP/1.0 408 ")) << "idle client";
  }
  // Every slot freed.
  for (int i = 0; i < 50 && server_->clients() != 0; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(server_->clients(), 0u);
}

// A request that arrives complete while the thread is busy in another's
// handler past its deadline (a slow reload) is answered, not refused.
TEST_F(AdminServerTest, RequestCompleteDuringALongReloadIsAnswered) {
  reload_delay_ = milliseconds(1300);
  Start();
  // Both accepted with nothing sent yet, so that the reload runs from
  // the poll loop and the probe's deadline passes while it does.
  const int probe = Connect();
  const int reload = Connect();
  std::this_thread::sleep_for(milliseconds(100));
  Send(reload, "POST /reload HTTP/1.0\r\n\r\n");
  std::this_thread::sleep_for(milliseconds(200));  // the reload is running
  Send(probe, "GET /healthz HTTP/1.0\r\n\r\n");
  const std::string r = ReadAll(probe);
  EXPECT_TRUE(r.starts_with("HTTP/1.0 200 OK\r\n")) << r;
  EXPECT_TRUE(ReadAll(reload).starts_with("HTTP/1.0 200 OK\r\n"));
}

// More clients at once than there are slots: the rest wait in the listen
// backlog and are all answered.
TEST_F(AdminServerTest, MoreClientsThanSlotsAreAllAnswered) {
  Start();
  std::vector<int> fds;
  fds.reserve(AdminServer::kMaxConnections + 8);
  for (size_t i = 0; i < AdminServer::kMaxConnections + 8; ++i) {
    fds.push_back(Connect());
    Send(fds.back(), "GET /healthz HTTP/1.0\r\n\r\n");
  }
  for (const int fd : fds) {
    EXPECT_TRUE(ReadAll(fd).starts_with("HTTP/1.0 200 OK\r\n"));
  }
}

TEST_F(AdminServerTest, ReloadNeedsTheToken) {
  char path[] = "/tmp/dptls-admin-token-XXXXXX";
  const int tfd = mkstemp(path);
  ASSERT_GE(tfd, 0);
  const std::string token = "test-token-0123456789abcdef";
  ASSERT_EQ(write(tfd, token.data(), token.size()),
            static_cast<ssize_t>(token.size()));
  close(tfd);
  config::AdminToken t;
  std::string error;
  const bool loaded = t.load(path, &error);
  unlink(path);
  ASSERT_TRUE(loaded) << error;
  Start(&t);
  EXPECT_TRUE(Request("POST /reload HTTP/1.0\r\n\r\n")
                  .starts_with("HTTP/1.0 401 Unauthorized\r\n"));
  EXPECT_TRUE(
      Request("POST /reload HTTP/1.0\r\nAuthorization: Bearer wrong-token-"
              "0123456789\r\n\r\n")
          .starts_with("HTTP/1.0 401 Unauthorized\r\n"));
  EXPECT_EQ(reloads_.load(), 0);
  EXPECT_TRUE(Request("POST /reload HTTP/1.0\r\nAuthorization: Bearer " +
                      token + "\r\n\r\n")
                  .starts_with("HTTP/1.0 200 OK\r\n"));
  EXPECT_EQ(reloads_.load(), 1);
  // The GETs stay open.
  EXPECT_TRUE(
      Request("GET /healthz HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200"));
}

}  // namespace
}  // namespace dptls::engine
