// TCP against the Linux kernel over the veth harness (veth_harness.h): an
// echo service on our stack with a kernel client (python3 in the
// namespace) sending 100 MB and checking every byte it gets back, with 0 %
// and 3 % loss injected both ways, over net_af_packet (software checksums)
// and over net_tap (the port's checksum and TSO offloads); and an active
// open from our stack to a kernel echo server. Needs root; skips otherwise.
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <deque>
#include <fstream>

#include "dptls/net/tcp.h"
#include "tcp_test_support.h"
#include "veth_harness.h"

namespace dptls::net::testing {
namespace {

constexpr char kClientPy[] = R"(
import random, socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = random.Random(7).randbytes(n)
s = socket.create_connection((host, port), timeout=60)
def tx():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=tx)
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
t.join()
ok = bytes(got) == data
print("received", len(got), "of", n, "match", ok)
sys.exit(0 if ok else 1)
)";

constexpr char kServerPy[] = R"(
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
srv.settimeout(30)
c, _ = srv.accept()
c.settimeout(30)
total = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    total += len(b)
    c.sendall(b)
c.close()
print("echoed", total)
)";

class TcpVethTest : public VethHarness {
 protected:
  void SetUp() override {
    tcp_pool_base_ = rte_mempool_in_use_count(tcp_pool());
    VethHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    if (sh("command -v python3 >/dev/null") != 0) {
      GTEST_SKIP() << "python3 is not installed";
    }
    TcpConfig c;
    c.clock_hz = rte_get_tsc_hz();
    c.seed = static_cast<uint64_t>(getpid());
    c.max_connections = 64;
    std::string error;
    tcp_ = TcpStack::create(c, stack_.get(), tcp_pool(), &error);
    ASSERT_NE(tcp_, nullptr) << error;
    script_ = "/tmp/dptls-tcp-veth-" + std::to_string(getpid()) + ".py";
  }

  void TearDown() override {
    for (rte_mbuf* m : pending_) {
      rte_pktmbuf_free(m);
    }
    pending_.clear();
    if (tcp_ != nullptr && HasFailure()) {
      tcp_->stats().for_each([](const char* name, uint64_t v) {
        if (v != 0) {
          std::fprintf(stderr, "  tcp %s = %llu\n", name,
                       static_cast<unsigned long long>(v));
        }
      });
    }
    tcp_.reset();
    std::remove(script_.c_str());
    VethHarness::TearDown();
    EXPECT_EQ(rte_mempool_in_use_count(tcp_pool()), tcp_pool_base_)
        << "TCP mbufs leaked";
  }

  void deliver(L4Packet* segs, uint16_t n, uint64_t now) override {
    tcp_->rx(segs, n, now);
  }

  void after_rx(uint64_t now) override {
    tcp_->timers(now);
    TcpEvent ev[32];
    uint16_t n = 0;
    while ((n = tcp_->poll_events(ev, 32)) > 0) {
      for (uint16_t i = 0; i < n; ++i) {
        on_event(ev[i], now);
      }
    }
    if (client_mode_) {
      pump_client(now);
    } else {
      flush_echo(now);
    }
  }

  void on_event(const TcpEvent& e, uint64_t now) {
    switch (e.type) {
      case TcpEventType::kAccepted:
      case TcpEventType::kConnected:
        conn_ = e.conn;
        break;
      case TcpEventType::kData:
        if (client_mode_) {
          uint64_t at = received_;
          for (const rte_mbuf* s = e.data; s != nullptr; s = s->next) {
            const uint8_t* p = rte_pktmbuf_mtod(s, const uint8_t*);
            for (uint16_t i = 0; i < s->data_len; ++i, ++at) {
              mismatches_ += p[i] != pattern_byte(3, at) ? 1 : 0;
            }
          }
          received_ = at;
          rte_pktmbuf_free(e.data);
          tcp_->consumed(e.conn, e.len, now);
        } else {
          // Echo without copying: the received chain is sent back as is;
          // the window stays closed for what has not left yet.
          received_ += e.len;
          pending_.push_back(e.data);
        }
        break;
      case TcpEventType::kPeerClosed:
        peer_closed_ = true;
        break;
      case TcpEventType::kClosed:
      case TcpEventType::kReset:
        done_ = true;
        reason_ = e.reason;
        reset_ = e.type == TcpEventType::kReset;
        break;
      case TcpEventType::kWritable:
        break;
    }
  }

  void flush_echo(uint64_t now) {
    while (!pending_.empty() && !done_) {
      rte_mbuf* m = pending_.front();
      const uint32_t len = m->pkt_len;
      if (tcp_->send(conn_, m, now) != TcpResult::kOk) {
        return;
      }
      pending_.pop_front();
      echoed_ += len;
      tcp_->consumed(conn_, len, now);
    }
    if (pending_.empty() && peer_closed_ && !shut_ && !done_) {
      shut_ = true;
      tcp_->close(conn_, now);
    }
  }

  void pump_client(uint64_t now) {
    if (!conn_.valid() || done_) {
      return;
    }
    while (sent_ < total_ && tcp_->send_space(conn_) >= 16384) {
      const uint32_t n =
          static_cast<uint32_t>(std::min<uint64_t>(16384, total_ - sent_));
      rte_mbuf* m = pattern_chain(tcp_pool(), 3, sent_, n);
      if (m == nullptr || tcp_->send(conn_, m, now) != TcpResult::kOk) {
        rte_pktmbuf_free(m);
        break;
      }
      sent_ += n;
    }
    if (sent_ == total_ && !shut_) {
      shut_ = true;
      tcp_->shutdown_write(conn_, now);
    }
  }

  void write_script(const char* text) { std::ofstream(script_) << text; }

  void impair(double loss) {
    FaultConfig f;
    f.drop = loss;
    f.seed = 77;
    fault_in_ = std::make_unique<FaultInjector>(f, test_pool());
    f.seed = 78;
    fault_out_ = std::make_unique<FaultInjector>(f, test_pool());
  }

  // The kernel client sends `bytes` to our echo service and checks them.
  void echo_from_kernel(uint64_t bytes, double loss) {
    ASSERT_EQ(tcp_->listen(TcpListen{.port = 7}), TcpResult::kOk);
    write_script(kClientPy);
    // Resolve ARP before impairing, so loss hits TCP only.
    ASSERT_EQ(run_in_ns_polling("ping -n -c 1 -W 2 198.18.0.2"), 0)
        << slurp(log_);
    impair(loss);
    const auto t0 = Clock::now();
    const int rc = run_in_ns_polling(
        "python3 " + script_ + " 198.18.0.2 7 " + std::to_string(bytes),
        std::chrono::seconds(300));
    const double secs =
        std::chrono::duration<double>(Clock::now() - t0).count();
    // Let our side finish its close.
    const auto end = Clock::now() + std::chrono::seconds(3);
    while (!done_ && Clock::now() < end) {
      poll_once();
    }
    std::printf(
        "[kernel client, %.0f%% loss] %llu bytes echoed in %.2f s (%.1f MB/s "
        "each way); our retransmits %llu, rto %llu, sack recoveries %llu, "
        "ooo %llu, injected drops %llu in / %llu out\n",
        loss * 100, static_cast<unsigned long long>(echoed_), secs,
        static_cast<double>(bytes) / 1e6 / secs,
        static_cast<unsigned long long>(tcp_->stats().retransmits),
        static_cast<unsigned long long>(tcp_->stats().rto_expirations),
        static_cast<unsigned long long>(tcp_->stats().sack_recoveries),
        static_cast<unsigned long long>(tcp_->stats().ooo_segments),
        static_cast<unsigned long long>(fault_in_ ? fault_in_->stats().dropped
                                                  : 0),
        static_cast<unsigned long long>(fault_out_ ? fault_out_->stats().dropped
                                                   : 0));
    EXPECT_EQ(rc, 0) << slurp(log_);
    rte_eth_stats ps{};
    rte_eth_stats_get(port_, &ps);
    EXPECT_EQ(tx_refused_, 0u) << "port oerrors " << ps.oerrors;
    EXPECT_EQ(received_, bytes);
    EXPECT_EQ(echoed_, bytes);
    EXPECT_TRUE(peer_closed_);
    EXPECT_TRUE(done_);
    EXPECT_FALSE(reset_) << tcp_close_reason_name(reason_);
    EXPECT_EQ(tcp_->stats().drop(DropReason::kTcpBadChecksum), 0u);
  }

  std::unique_ptr<TcpStack> tcp_;
  unsigned tcp_pool_base_ = 0;
  std::string script_;
  std::deque<rte_mbuf*> pending_;
  ConnHandle conn_;
  bool client_mode_ = false;
  bool peer_closed_ = false;
  bool shut_ = false;
  bool done_ = false;
  bool reset_ = false;
  TcpCloseReason reason_ = TcpCloseReason::kNone;
  uint64_t received_ = 0;
  uint64_t echoed_ = 0;
  uint64_t sent_ = 0;
  uint64_t total_ = 0;
  uint64_t mismatches_ = 0;
};

constexpr uint64_t kEchoBytes = 100u << 20;

TEST_F(TcpVethTest, KernelClientEchoHundredMegabytesClean) {
  echo_from_kernel(kEchoBytes, 0.0);
}

TEST_F(TcpVethTest, KernelClientEchoHundredMegabytesThreePercentLoss) {
  echo_from_kernel(kEchoBytes, 0.03);
}

// The same over net_tap with the port's offloads: the PMD fills the IPv4
// and TCP checksums and cuts TSO sends (DPDK's GSO library), and the
// kernel checks every segment it receives.
class TcpTapTest : public TcpVethTest {
 protected:
  TcpTapTest() { use_tap_ = true; }

  void expect_offloads_used() {
    EXPECT_TRUE(offloads_.stack.tcp_checksum) << offloads_.summary();
    EXPECT_TRUE(offloads_.stack.ipv4_checksum) << offloads_.summary();
    EXPECT_NE(offloads_.stack.tso_max_payload, 0u) << offloads_.summary();
    EXPECT_GT(tcp_->stats().tso_sends, 0u);
    std::printf(
        "[tap] offloads: %s; TSO sends %llu, data segments %llu, frames "
        "re-chained for net_tap %llu\n",
        offloads_.summary().c_str(),
        static_cast<unsigned long long>(tcp_->stats().tso_sends),
        static_cast<unsigned long long>(tcp_->stats().data_segs_tx),
        static_cast<unsigned long long>(rechained_));
  }
};

TEST_F(TcpTapTest, KernelClientEchoHundredMegabytesWithOffloads) {
  echo_from_kernel(kEchoBytes, 0.0);
  expect_offloads_used();
}

TEST_F(TcpTapTest, KernelClientEchoHundredMegabytesThreePercentLossOffloads) {
  echo_from_kernel(kEchoBytes, 0.03);
  expect_offloads_used();
}

class TcpTapChecksumTest : public TcpVethTest {
 protected:
  TcpTapChecksumTest() {
    use_tap_ = true;
    wish_.tso = false;
  }
};

TEST_F(TcpTapChecksumTest, KernelClientEchoWithChecksumOffloadsOnly) {
  echo_from_kernel(kEchoBytes / 10, 0.03);
  EXPECT_TRUE(offloads_.stack.tcp_checksum) << offloads_.summary();
  EXPECT_EQ(tcp_->stats().tso_sends, 0u);
}

TEST_F(TcpVethTest, ActiveOpenToKernelServer) {
  write_script(kServerPy);
  const pid_t server = spawn_in_ns("python3 " + script_ + " 198.18.0.1 9000");
  ASSERT_GT(server, 0);
  client_mode_ = true;
  total_ = 1u << 20;
  // Give the server a moment to listen; a refused SYN is retried.
  poll_for(std::chrono::milliseconds(500));
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (int attempt = 0; attempt < 10 && !conn_.valid(); ++attempt) {
    done_ = false;
    ConnHandle h;
    ASSERT_EQ(tcp_->connect(TcpConnect{.local4 = Ipv4Addr::of(198, 18, 0, 2),
                                       .remote4 = Ipv4Addr::of(198, 18, 0, 1),
                                       .remote_port = 9000},
                            rte_get_tsc_cycles(), &h),
              TcpResult::kOk);
    const auto t = Clock::now() + std::chrono::seconds(3);
    while (!conn_.valid() && !done_ && Clock::now() < t) {
      poll_once();
    }
    if (!conn_.valid()) {
      poll_for(std::chrono::milliseconds(300));
    }
  }
  ASSERT_TRUE(conn_.valid()) << "could not connect to the kernel server";
  while (!done_ && Clock::now() < deadline) {
    poll_once();
    if (peer_closed_ && received_ == total_ && !done_) {
      // Both directions are finished; our FIN went with shutdown_write.
    }
  }
  EXPECT_EQ(wait_polling(server, std::chrono::seconds(5)), 0) << slurp(log_);
  EXPECT_EQ(received_, total_);
  EXPECT_EQ(mismatches_, 0u);
  EXPECT_TRUE(peer_closed_);
  EXPECT_TRUE(done_);
  EXPECT_FALSE(reset_) << tcp_close_reason_name(reason_);
}

}  // namespace
}  // namespace dptls::net::testing
