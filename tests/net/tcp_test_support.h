// Test support for the TCP layer: a larger mbuf pool, a TCP segment builder
// and parser written independently of src/net (own checksum, own option
// parsing), a fixture that drives one TcpStack with hand-made segments
// ("the peer is the test"), and a pair of full stacks (NetStack + TcpStack
// each) joined by an in-memory link through two FaultInjectors.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dptls/net/fault_injector.h"
#include "dptls/net/stack.h"
#include "dptls/net/tcp.h"
#include "net_test_support.h"

namespace dptls::net::testing {

/// A pool of 16383 mbufs (no per-lcore cache) for TCP tests.
rte_mempool* tcp_pool();

/// Fails the test when either test pool has more mbufs in use at the end
/// than at the start.
class TcpLeakCheckedTest : public ::testing::Test {
 protected:
  TcpLeakCheckedTest();
  ~TcpLeakCheckedTest() override;

 private:
  unsigned base_test_ = 0;
  unsigned base_tcp_ = 0;
};

/// A TCP segment as the test peer sees it.
struct Seg {
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t win = 0;
  Bytes options{};  // raw option bytes (padded to 4 by the builder)
  Bytes payload{};
  // Parsed options (by parse_frame).
  std::optional<uint16_t> mss{};
  std::optional<uint8_t> wscale{};
  bool sack_ok = false;
  std::optional<std::pair<uint32_t, uint32_t>> ts{};  // (val, ecr)
  std::vector<std::pair<uint32_t, uint32_t>> sack{};
  /// Data offset override for malformed-header tests.
  std::optional<uint8_t> data_offset_words{};
  bool bad_checksum = false;
  /// Mbufs the frame was sent in (set by RawTcpTest::sent()).
  uint16_t nb_segs = 0;
};

// Option builders.
Bytes opt_mss(uint16_t mss);
Bytes opt_wscale(uint8_t ws);
Bytes opt_sack_ok();
Bytes opt_ts(uint32_t val, uint32_t ecr);
Bytes opt_sack(const std::vector<std::pair<uint32_t, uint32_t>>& blocks);

/// The TCP segment bytes with their checksum over the IPv4 pseudo-header.
Bytes tcp_bytes(Ipv4Addr src, Ipv4Addr dst, const Seg& s);
/// A whole Ethernet + IPv4 + TCP frame from the peer to the fixture stack.
Bytes tcp_frame(const Seg& s);
/// Parses an Ethernet + IPv4 + TCP frame (checking the TCP checksum);
/// nothing when it is not one or the checksum is wrong.
std::optional<Seg> parse_frame(const Bytes& frame);

/// The NetStack configuration RawTcpTest uses: kOurMac, kOurIp/24,
/// our_ip6()/64, a nanosecond clock.
NetConfig raw_net_config();

/// One TcpStack on kOurIp, driven by hand-made segments from kPeerIp.
class RawTcpTest : public TcpLeakCheckedTest {
 protected:
  RawTcpTest();
  ~RawTcpTest() override;

  static TcpConfig default_tcp_config();
  void rebuild(const TcpConfig& c);

  /// Feeds a segment from the peer (as an Ethernet frame through NetStack).
  void inject(const Seg& s);
  /// Feeds a whole Ethernet frame through NetStack into TCP.
  void inject_frame(const Bytes& frame);
  /// Everything the stack sent since the last call, parsed (non-TCP frames
  /// are skipped). Fails the test on a frame that does not parse.
  std::vector<Seg> sent();
  /// Polls every event (data chains are copied to `data` and freed).
  std::vector<TcpEvent> events();
  /// Advances the clock and runs timers.
  void advance_ms(uint64_t ms);
  uint64_t drops(DropReason r) const { return tcp_->stats().drop(r); }

  /// Completes a passive open on port 80 from peer port 40000 with the
  /// given SYN options; returns the handle. Peer ISN peer_isn_.
  ConnHandle accept_one(const Bytes& syn_options = {});
  /// Active open to the peer's port 80; returns the handle and the SYN.
  ConnHandle connect_one(Seg* syn);

  std::unique_ptr<NetStack> net_;
  std::unique_ptr<TcpStack> tcp_;
  uint64_t now_ = 1'000'000'000;
  Bytes data_;
  uint32_t peer_isn_ = 1000;
  uint32_t our_isn_ = 0;
};

/// A pseudo-random byte stream: byte i of stream `id`.
uint8_t pattern_byte(uint32_t id, uint64_t i);
/// A chain of `len` bytes of stream `id` from `offset`, in segments of at
/// most `seg` bytes, from `pool`.
rte_mbuf* pattern_chain(rte_mempool* pool, uint32_t id, uint64_t offset,
                        uint32_t len, uint32_t seg = 2000);

/// Two endpoints (each a NetStack + TcpStack) joined by an in-memory
/// Ethernet link through one FaultInjector per direction. The clock is
/// virtual (nanoseconds).
class TcpPair {
 public:
  struct Side {
    std::unique_ptr<NetStack> net;
    std::unique_ptr<TcpStack> tcp;
    std::unique_ptr<FaultInjector> out;  // this side -> the other
    Ipv4Addr ip;
    Ipv6Addr ip6;
  };

  /// `offloads[i]`: what side i's "port" does on transmit; the link then
  /// runs emulate_port_tx() on that side's frames before its fault
  /// injector (so injected corruption hits finished frames, as on a wire).
  TcpPair(const TcpConfig& a, const TcpConfig& b, const FaultConfig& ab,
          const FaultConfig& ba, uint16_t mtu = 1500,
          const std::array<TxOffloads, 2>& offloads = {});
  ~TcpPair();

  /// One tick of both worker loops: link delivery, rx, timers, events.
  /// Events go to `on_event(side, event)`.
  void step(uint64_t dt_ns,
            const std::function<void(int, const TcpEvent&)>& on_event);
  /// Steps until pred() or `max_ns` of virtual time; true when pred() held.
  bool run_until(const std::function<bool()>& pred, uint64_t max_ns,
                 const std::function<void(int, const TcpEvent&)>& on_event,
                 uint64_t dt_ns = 100'000);
  /// Frees every frame still on the link.
  void flush_link();

  Side side[2];
  std::array<TxOffloads, 2> offloads;
  /// A router on the link, when set: sees side `from`'s finished frames
  /// (after the port emulation, before the fault injector) in *wire, may
  /// free and remove some, and may append frames in *back for side `from`
  /// (ICMP errors), which reach it through the other direction's injector.
  std::function<void(int from, std::vector<rte_mbuf*>* wire,
                     std::vector<rte_mbuf*>* back)>
      router;
  /// Frames emulate_port_tx() refused (a test expects 0), and the longest
  /// mbuf chain a TSO send used.
  uint64_t bad_offload_frames = 0;
  uint16_t max_tso_mbufs = 0;
  uint64_t now = 1'000'000'000;
};

/// What a NIC does with a frame whose ol_flags ask for transmit offloads:
/// cuts a TSO send (RTE_MBUF_F_TX_TCP_SEG) into tso_segsz-byte segments
/// (sequence numbers advanced, IPv4 IDs counted up, FIN and PSH on the last
/// only, lengths fixed) and fills the IPv4 and TCP checksums asked for the
/// way hardware does: summing the L4 bytes from the pseudo-header sum the
/// stack left in the field (plus each segment's length for TSO). A wrong
/// pseudo-header sum therefore makes a frame the receiver drops. Frames
/// without offload flags pass as they are. Consumes `m`; appends the
/// frames to *out; returns false (and appends nothing) when the request is
/// malformed (headers not in the first segment, missing lengths or L3 flag,
/// a TSO segment size of 0).
bool emulate_port_tx(rte_mbuf* m, std::vector<rte_mbuf*>* out);

/// Base config for pair tests: nanosecond clock, 256 KB buffers.
TcpConfig pair_config(uint16_t worker = 0);

}  // namespace dptls::net::testing
