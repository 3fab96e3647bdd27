// The stack against the Linux kernel, the independent peer nobody here
// wrote: a veth pair with one end in a network namespace (198.18.0.1/24,
// 2001:2::1/64 there), the other end driven through DPDK's net_af_packet
// PMD by the stack (198.18.0.2, 2001:2::2). The kernel's ping and ping -6
// must get answers (ARP, ND and echo replies from the stack), and the
// stack's own echo requests must resolve the kernel's MAC through ARP and
// NS and reach it.
//
// Needs root and network namespaces; skips otherwise. The namespace and
// the veth pair are removed even when a check fails; every wait is bounded.
#include "veth_harness.h"

namespace dptls::net::testing {
namespace {

class VethTest : public VethHarness {};

TEST_F(VethTest, KernelPingsTheStackOverIpv4AndIpv6) {
  EXPECT_EQ(run_in_ns_polling("ping -n -c 3 -i 0.2 -W 2 198.18.0.2"), 0)
      << slurp(log_);
  EXPECT_GE(stack_->stats().arp_requests_rx, 1u);
  EXPECT_GE(stack_->stats().icmp_echo_replies_tx, 3u);

  EXPECT_EQ(run_in_ns_polling("ping -6 -n -c 3 -i 0.2 -W 2 2001:2::2"), 0)
      << slurp(log_);
  EXPECT_GE(stack_->stats().ndp_ns_rx, 1u);
  EXPECT_GE(stack_->stats().icmp6_echo_replies_tx, 3u);

  // Link-local, through the solicited-node group of fe80::/64.
  std::ostringstream ll;
  const Ipv6Addr a = Ipv6Addr::link_local_from_mac(stack_->mac());
  ll << "ping -6 -n -c 2 -i 0.2 -W 2 fe80::" << std::hex
     << ((a.b[8] << 8) | a.b[9]) << ":" << ((a.b[10] << 8) | a.b[11]) << ":"
     << ((a.b[12] << 8) | a.b[13]) << ":" << ((a.b[14] << 8) | a.b[15]) << "%"
     << ns_if_;
  EXPECT_EQ(run_in_ns_polling(ll.str()), 0) << ll.str() << "\n" << slurp(log_);
  EXPECT_EQ(stack_->stats().drop(DropReason::kIpv4BadChecksum), 0u);
  EXPECT_EQ(stack_->stats().drop(DropReason::kIcmp6BadChecksum), 0u);
}

TEST_F(VethTest, StackResolvesTheKernelAndGetsEchoReplies) {
  // Our own echo requests, sent through output_ipv4/6 as TCP will send its
  // segments: the first is parked until the kernel answers ARP / NS, then
  // the kernel's echo replies come back (counted as unhandled ICMP types).
  for (uint16_t seq = 1; seq <= 2; ++seq) {
    const Bytes echo = icmp_echo(8, 0x77, seq, Bytes(32, 0x5a));
    stack_->output_ipv4(make_mbuf(echo),
                        {.src = kStackIp, .dst = kNsIp, .protocol = 1},
                        rte_get_tsc_cycles());
    Bytes echo6(40, 0x5a);  // type 128, code 0, id 0x77, seq, data
    const Bytes head = {128, 0, 0, 0, 0, 0x77, 0, static_cast<uint8_t>(seq)};
    std::copy(head.begin(), head.end(), echo6.begin());
    const uint16_t c = ref_fold_complement(
        ref_sum(echo6, ref_pseudo6(bench6(2), bench6(1), 58, 40)));
    echo6[2] = static_cast<uint8_t>(c >> 8);
    echo6[3] = static_cast<uint8_t>(c);
    stack_->output_ipv6(make_mbuf(echo6),
                        {.src = bench6(2), .dst = bench6(1), .next_header = 58},
                        rte_get_tsc_cycles());
  }
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline &&
         (stack_->stats().drop(DropReason::kIcmpUnhandledType) < 2 ||
          stack_->stats().drop(DropReason::kIcmp6UnhandledType) < 2)) {
    poll_once();
  }
  EXPECT_EQ(stack_->stats().drop(DropReason::kIcmpUnhandledType), 2u)
      << "kernel echo replies over IPv4";
  EXPECT_GE(stack_->stats().drop(DropReason::kIcmp6UnhandledType), 2u)
      << "kernel echo replies over IPv6";
  EXPECT_GE(stack_->stats().arp_requests_tx, 1u);
  EXPECT_GE(stack_->stats().ndp_ns_tx, 1u);
  EXPECT_EQ(stack_->stats().neighbor_released, 4u);  // 2 IPv4 + 2 IPv6
  const NeighborEntry* e = stack_->arp_table().find(NeighborKey::of(kNsIp));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighborState::kReachable);
  poll_for(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace dptls::net::testing
