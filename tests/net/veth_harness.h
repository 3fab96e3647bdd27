// The Linux kernel as a test peer: a veth pair with one end in a network
// namespace (198.18.0.1/24, 2001:2::1/64 there) and the other end driven
// through DPDK's net_af_packet PMD by a NetStack (198.18.0.2, 2001:2::2),
// with an optional fault injector each way between port and stack.
//
// With use_tap_ (set by a derived fixture's constructor) the port is a
// net_tap device instead, whose kernel end is moved into the namespace:
// net_tap offers IPv4/TCP checksum and TSO offloads (done in software by
// the PMD, then checked by the kernel's receive path), so the stack's
// offload requests meet a real consumer. The stack gets what
// plan_port_offloads() picks from the port's capabilities.
//
// Needs root and network namespaces; skips otherwise. The namespace and the
// veth pair are removed even when a check fails; every wait is bounded.
#pragma once

#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "dptls/net/fault_injector.h"
#include "dptls/net/port_offloads.h"
#include "dptls/net/stack.h"
#include "net_test_support.h"

extern char** environ;

namespace dptls::net::testing {

using Clock = std::chrono::steady_clock;

// net_tap (DPDK 22.11) refuses a TSO send whose segments, Ethernet header
// included, exceed its 1500-byte MTU (its largest frame is 1522). A link
// MTU of 1480 both ways keeps full-MSS segments plus that header within it.
constexpr uint16_t kTapLinkMtu = 1480;

constexpr Ipv4Addr kNsIp = Ipv4Addr::of(198, 18, 0, 1);
constexpr Ipv4Addr kStackIp = Ipv4Addr::of(198, 18, 0, 2);

// 2001:2::/48 is the IPv6 benchmarking range (RFC 5180), like 198.18/15.
inline Ipv6Addr bench6(uint8_t last) {
  Ipv6Addr a = ip6({0x2001, 0x0002});
  a.b[15] = last;
  return a;
}

// Runs a shell command to completion; returns its exit status.
inline int sh(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class VethHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to create a network namespace and veth";
    }
    for (const char* tool : {"ip", "ethtool", "ping"}) {
      if (sh(std::string("command -v ") + tool + " >/dev/null") != 0) {
        GTEST_SKIP() << tool << " is not installed (scripts/setup.sh installs "
                     << "iproute2, ethtool and iputils-ping)";
      }
    }
    const std::string id = std::to_string(getpid());
    ns_ = "dptls-ns-" + id;
    host_if_ = "dptv" + id.substr(0, 10);  // IFNAMSIZ is 16
    ns_if_ = (use_tap_ ? "dptt" : "dptn") + id.substr(0, 10);
    log_ = "/tmp/dptls-veth-" + id + ".log";
    if (sh("ip netns add " + ns_ + " 2>/dev/null") != 0) {
      GTEST_SKIP() << "cannot create network namespaces here "
                      "(ip netns add failed)";
    }
    ns_created_ = true;
    init_dpdk_once();
    if (use_tap_) {
      setup_tap_port(id);
    } else {
      setup_veth_port(id);
    }
    if (HasFatalFailure()) {
      return;
    }
    rte_eth_dev_info info;
    ASSERT_EQ(rte_eth_dev_info_get(port_, &info), 0);
    offloads_ = plan_port_offloads(info.rx_offload_capa, info.tx_offload_capa,
                                   info.tx_desc_lim.nb_seg_max, wish_);
    rte_eth_conf conf{};
    conf.rxmode.offloads = offloads_.rx;
    conf.txmode.offloads = offloads_.tx;
    ASSERT_EQ(rte_eth_dev_configure(port_, 1, 1, &conf), 0);
    ASSERT_EQ(rte_eth_rx_queue_setup(port_, 0, 256, SOCKET_ID_ANY, nullptr,
                                     test_pool()),
              0);
    ASSERT_EQ(rte_eth_tx_queue_setup(port_, 0, 256, SOCKET_ID_ANY, nullptr), 0);
    ASSERT_EQ(rte_eth_dev_start(port_), 0);
    port_started_ = true;
    if (use_tap_) {
      // Only now: the PMD sets its kernel interface up by name in our
      // namespace while starting.
      const std::string ns_exec = "ip netns exec " + ns_ + " ";
      for (const std::string& cmd : {
               "ip link set " + ns_if_ + " netns " + ns_,
               ns_exec + "ip link set lo up",
               ns_exec + "ip addr add 198.18.0.1/24 dev " + ns_if_,
               ns_exec + "ip -6 addr add 2001:2::1/64 dev " + ns_if_ + " nodad",
               ns_exec + "ip link set " + ns_if_ + " mtu " +
                   std::to_string(kTapLinkMtu) + " up",
               ns_exec + "ethtool -K " + ns_if_ +
                   " tso off gso off gro off tx off >/dev/null",
           }) {
        ASSERT_EQ(sh(cmd), 0) << cmd;
      }
    }

    NetConfig c;
    if (use_tap_) {
      // The tap's kernel end has the port's MAC: the stack takes its own.
      c.mac = MacAddr{{0x02, 0xdd, 0, 0, 0, 0x02}};
    } else {
      rte_ether_addr mac;
      ASSERT_EQ(rte_eth_macaddr_get(port_, &mac), 0);
      std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes),
                c.mac.b.begin());
    }
    c.ipv4 = {Ipv4Interface{kStackIp, 24}};
    c.ipv6 = {Ipv6Interface{bench6(2), 64}};
    c.clock_hz = rte_get_tsc_hz();  // the TSC, as a worker would use
    c.tx_offloads = offloads_.stack;
    if (use_tap_) {
      c.mtu = kTapLinkMtu;
    }
    std::string error;
    stack_ = NetStack::create(c, test_pool(), &error);
    ASSERT_NE(stack_, nullptr) << error;
  }

  void setup_tap_port(const std::string& id) {
    vdev_ = "net_tap_" + id;
    const std::string args = "iface=" + ns_if_;
    ASSERT_EQ(rte_eal_hotplug_add("vdev", vdev_.c_str(), args.c_str()), 0)
        << "net_tap could not create " << ns_if_;
    vdev_attached_ = true;
    ASSERT_EQ(rte_eth_dev_get_port_by_name(vdev_.c_str(), &port_), 0);
  }

  void setup_veth_port(const std::string& id) {
    const std::string ns_exec = "ip netns exec " + ns_ + " ";
    const std::vector<std::string> setup = {
        "ip link add " + host_if_ + " type veth peer name " + ns_if_,
        "ip link set " + ns_if_ + " netns " + ns_,
        // The host end is the engine's: no kernel IPv6 chatter on it.
        "sysctl -qw net.ipv6.conf." + host_if_ + ".disable_ipv6=1",
        "ip link set " + host_if_ + " up",
        ns_exec + "ip link set lo up",
        ns_exec + "ip addr add 198.18.0.1/24 dev " + ns_if_,
        ns_exec + "ip -6 addr add 2001:2::1/64 dev " + ns_if_ + " nodad",
        ns_exec + "ip link set " + ns_if_ + " up",
        // Frames must fit the MTU and carry full checksums (no offloads
        // across the veth; af_packet sees what the kernel hands it).
        "ethtool -K " + host_if_ + " tso off gso off gro off tx off >/dev/null",
        ns_exec + "ethtool -K " + ns_if_ +
            " tso off gso off gro off tx off >/dev/null",
    };
    for (const std::string& cmd : setup) {
      ASSERT_EQ(sh(cmd), 0) << cmd;
    }
    vdev_ = "net_af_packet_" + id;
    const std::string args = "iface=" + host_if_ + ",qpairs=1";
    ASSERT_EQ(rte_eal_hotplug_add("vdev", vdev_.c_str(), args.c_str()), 0)
        << "net_af_packet could not attach to " << host_if_;
    vdev_attached_ = true;
    ASSERT_EQ(rte_eth_dev_get_port_by_name(vdev_.c_str(), &port_), 0);
  }

  void TearDown() override {
    if (HasFailure() && stack_ != nullptr) {
      stack_->stats().for_each([](const char* name, uint64_t v) {
        if (v != 0) {
          std::fprintf(stderr, "  %s = %llu\n", name,
                       static_cast<unsigned long long>(v));
        }
      });
    }
    fault_in_.reset();
    fault_out_.reset();
    stack_.reset();
    if (port_started_) {
      rte_eth_dev_stop(port_);
    }
    if (vdev_attached_) {
      rte_eth_dev_close(port_);
      rte_eal_hotplug_remove("vdev", vdev_.c_str());
    }
    if (ns_created_) {
      // Deleting the namespace destroys the veth pair with it.
      sh("ip netns del " + ns_ + " 2>/dev/null");
      sh("ip link del " + host_if_ + " 2>/dev/null");
    }
    std::remove(log_.c_str());
  }

  // What a derived fixture does with delivered segments (TCP): the
  // default frees them (no transport).
  virtual void deliver(L4Packet* segs, uint16_t n, uint64_t /*now*/) {
    for (uint16_t i = 0; i < n; ++i) {
      rte_pktmbuf_free(segs[i].mbuf);
    }
  }
  // Runs after rx and before transmission in each loop turn.
  virtual void after_rx(uint64_t /*now*/) {}

  // One turn of a worker loop: rx burst -> (fault injector) -> stack ->
  // deliver -> tick -> (fault injector) -> tx burst.
  void poll_once() {
    rte_mbuf* pkts[32];
    const uint64_t now = rte_get_tsc_cycles();
    uint16_t n = rte_eth_rx_burst(port_, 0, pkts, 32);
    if (fault_in_ != nullptr) {
      fault_in_->push(pkts, n, now);
      n = fault_in_->pull(pkts, 32, now);
    }
    stack_->rx(pkts, n, now);
    L4Packet d[32];
    uint16_t k = 0;
    while ((k = stack_->poll_deliveries(d, 32)) > 0) {
      deliver(d, k, now);
    }
    after_rx(now);
    stack_->tick(now);
    rte_mbuf* out[32];
    while ((k = stack_->drain_tx(out, 32)) > 0) {
      if (fault_out_ != nullptr) {
        fault_out_->push(out, k, now);
        continue;
      }
      transmit(out, k);
    }
    if (fault_out_ != nullptr) {
      while ((k = fault_out_->pull(out, 32, now)) > 0) {
        transmit(out, k);
      }
    }
  }

  // net_tap (DPDK 22.11) sums a chain's TCP checksum segment by segment
  // without carrying odd lengths over, so a frame with an odd-length
  // segment before its last gets a wrong checksum (and the kernel drops
  // it). A NIC sums the frame as one. The tap fixtures re-chain such
  // frames into even-length pieces (a copy) before the PMD sees them.
  rte_mbuf* even_chain(rte_mbuf* m) {
    bool odd = false;
    for (const rte_mbuf* s = m; s->next != nullptr; s = s->next) {
      odd = odd || (s->data_len & 1) != 0;
    }
    if (!odd) {
      return m;
    }
    ++rechained_;
    rte_mbuf* head = nullptr;
    for (uint32_t off = 0; off < m->pkt_len;) {
      rte_mbuf* c = rte_pktmbuf_alloc(test_pool());
      if (c == nullptr) {
        break;
      }
      const uint32_t room = rte_pktmbuf_tailroom(c) & ~1u;
      const uint32_t n = std::min(room, m->pkt_len - off);
      auto* dst = reinterpret_cast<uint8_t*>(
          rte_pktmbuf_append(c, static_cast<uint16_t>(n)));
      const void* src = rte_pktmbuf_read(m, off, n, dst);
      if (src != dst) {
        std::memcpy(dst, src, n);
      }
      off += n;
      if (head == nullptr) {
        head = c;
      } else if (rte_pktmbuf_chain(head, c) != 0) {
        rte_pktmbuf_free(c);
        break;
      }
    }
    if (head == nullptr || head->pkt_len != m->pkt_len) {
      rte_pktmbuf_free(head);
      return m;  // no room: send it as it is
    }
    head->ol_flags = m->ol_flags;
    head->tx_offload = m->tx_offload;  // l2/l3/l4 lengths, tso_segsz
    rte_pktmbuf_free(m);
    return head;
  }

  void transmit(rte_mbuf** out, uint16_t k) {
    if (use_tap_) {
      for (uint16_t i = 0; i < k; ++i) {
        out[i] = even_chain(out[i]);
      }
    }
    if (offloads_.stack.ipv4_checksum || offloads_.stack.tcp_checksum) {
      const uint16_t ok = rte_eth_tx_prepare(port_, 0, out, k);
      EXPECT_EQ(ok, k) << "the port refused an offload request";
      for (uint16_t i = ok; i < k; ++i) {
        rte_pktmbuf_free(out[i]);
      }
      k = ok;
    }
    const uint16_t sent = rte_eth_tx_burst(port_, 0, out, k);
    tx_refused_ += k - sent;
    for (uint16_t i = sent; i < k; ++i) {
      rte_pktmbuf_free(out[i]);
    }
  }

  void poll_for(std::chrono::milliseconds d) {
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
      poll_once();
    }
  }

  // Starts `cmd` in the namespace (output in log_); returns its pid, or -1.
  pid_t spawn_in_ns(const std::string& cmd) {
    const std::string full =
        "exec ip netns exec " + ns_ + " " + cmd + " >" + log_ + " 2>&1";
    const char* argv[] = {"/bin/sh", "-c", full.c_str(), nullptr};
    pid_t pid = 0;
    if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv),
                    environ) != 0) {
      return -1;
    }
    return pid;
  }

  // Polls the port until `pid` exits or `limit` passes (then kills it).
  // Returns its exit status (-1 when killed).
  int wait_polling(pid_t pid,
                   std::chrono::seconds limit = std::chrono::seconds(15)) {
    if (pid < 0) {
      return -1;
    }
    const auto deadline = Clock::now() + limit;
    int status = 0;
    for (;;) {
      poll_once();
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (Clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
      }
    }
  }

  // Runs `cmd` in the namespace while polling the port; kills it after
  // `limit`. Returns its exit status (-1 when killed); output in log_.
  int run_in_ns_polling(const std::string& cmd,
                        std::chrono::seconds limit = std::chrono::seconds(15)) {
    return wait_polling(spawn_in_ns(cmd), limit);
  }

  std::string ns_;
  std::string host_if_;
  std::string ns_if_;
  std::string log_;
  std::string vdev_;
  bool ns_created_ = false;
  bool vdev_attached_ = false;
  bool port_started_ = false;
  uint16_t port_ = 0;
  // Set by a derived fixture's constructor: net_tap instead of af_packet,
  // and which offloads to allow.
  bool use_tap_ = false;
  uint64_t tx_refused_ = 0;  // frames the port's TX queue did not take
  uint64_t rechained_ = 0;   // frames even_chain() copied
  OffloadWish wish_;
  PortOffloadPlan offloads_;
  std::unique_ptr<NetStack> stack_;
  // Optional impairment between the port and the stack, each direction.
  std::unique_ptr<FaultInjector> fault_in_;
  std::unique_ptr<FaultInjector> fault_out_;
};

}  // namespace dptls::net::testing
