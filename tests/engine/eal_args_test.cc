// The EAL command line built from a configuration.
#include "dptls/engine/eal_args.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace dptls::engine {
namespace {

config::Config Base() {
  config::Config c;
  config::PortSection p;
  p.device = "net_af_packet0,iface=veth0";
  c.ports.push_back(p);
  return c;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(EalArgsTest, VdevPortWithoutHugepages) {
  config::Config c = Base();
  c.dpdk.hugepages = config::HugepageMode::kOff;
  const EalPlan p = plan_eal(c, /*have_hugepages=*/true, 2);
  EXPECT_FALSE(p.hugepages);
  EXPECT_EQ(p.args[0], "dptls");
  EXPECT_TRUE(Has(p.args, "--no-huge"));
  EXPECT_TRUE(Has(p.args, "--no-shconf"));
  EXPECT_FALSE(Has(p.args, "--in-memory")) << "cannot combine with --no-huge";
  EXPECT_TRUE(Has(p.args, "--vdev=net_af_packet0,iface=veth0"));
  EXPECT_TRUE(Has(p.args, "--no-pci"));
  EXPECT_TRUE(Has(p.args, "--lcores=0@0,1@1"));
  EXPECT_EQ(p.port_names, std::vector<std::string>{"net_af_packet0"});
}

// Without hugepages -m must cover both pools of every worker: packets
// (about 3 KiB each) and sealed records (17 KiB + overhead each).
TEST(EalArgsTest, NoHugeMemoryCoversBothPools) {
  config::Config c = Base();
  c.dpdk.hugepages = config::HugepageMode::kOff;
  c.dpdk.mbufs_per_worker = 16384;
  EXPECT_EQ(record_mbufs_per_worker(c), 4096u);
  const EalPlan p = plan_eal(c, false, 2);
  const auto m = std::find(p.args.begin(), p.args.end(), "-m");
  ASSERT_NE(m, p.args.end());
  const uint64_t mb = std::stoull(*(m + 1));
  const uint64_t packets_mb = 16384ull * 2304 / (1 << 20);
  const uint64_t records_mb = 4096ull * kRecordMbufDataRoom / (1 << 20);
  EXPECT_GE(mb, packets_mb + records_mb + 32);
  // A small pool still gets the 1024-record floor.
  c.dpdk.mbufs_per_worker = 1024;
  EXPECT_EQ(record_mbufs_per_worker(c), 1024u);
  // An explicit size wins, and -m grows with it.
  c.dpdk.record_mbufs_per_worker = 8192;
  EXPECT_EQ(record_mbufs_per_worker(c), 8192u);
  const EalPlan big = plan_eal(c, false, 2);
  const auto bm = std::find(big.args.begin(), big.args.end(), "-m");
  ASSERT_NE(bm, big.args.end());
  EXPECT_GE(std::stoull(*(bm + 1)), 8192ull * kRecordMbufDataRoom / (1 << 20));
}

TEST(EalArgsTest, AutoFollowsWhatTheMachineHas) {
  config::Config c = Base();
  EXPECT_TRUE(plan_eal(c, true, 4).hugepages);
  EXPECT_TRUE(Has(plan_eal(c, true, 4).args, "--in-memory"));
  EXPECT_FALSE(plan_eal(c, false, 4).hugepages);
  c.dpdk.hugepages = config::HugepageMode::kOn;
  EXPECT_TRUE(plan_eal(c, false, 4).hugepages);
}

TEST(EalArgsTest, PciPortAndExtraArgs) {
  config::Config c = Base();
  c.ports[0].device = "0000:03:00.0";
  c.dpdk.eal_args = {"--log-level=pmd:debug"};
  const EalPlan p = plan_eal(c, true, 4);
  const auto a = std::find(p.args.begin(), p.args.end(), "-a");
  ASSERT_NE(a, p.args.end());
  EXPECT_EQ(*(a + 1), "0000:03:00.0");
  EXPECT_FALSE(Has(p.args, "--no-pci"));
  EXPECT_EQ(p.args.back(), "--log-level=pmd:debug");
}

TEST(EalArgsTest, EachEngineGetsItsOwnRuntimeDirectory) {
  config::Config c = Base();
  EXPECT_TRUE(Has(plan_eal(c, true, 4, 4242).args, "--file-prefix=dptls-4242"));
  EXPECT_TRUE(Has(plan_eal(c, false, 4).args, "--file-prefix=dptls"));
  // The user's own prefix wins, and no second one is added.
  c.dpdk.eal_args = {"--file-prefix=mine"};
  const EalPlan p = plan_eal(c, true, 4, 4242);
  EXPECT_TRUE(Has(p.args, "--file-prefix=mine"));
  EXPECT_EQ(std::count_if(p.args.begin(), p.args.end(),
                          [](const std::string& a) {
                            return a.rfind("--file-prefix", 0) == 0;
                          }),
            1);
}

TEST(EalArgsTest, WorkersWrapOntoTheCpusThereAre) {
  config::Config c = Base();
  c.engine.workers = 3;
  EXPECT_TRUE(Has(plan_eal(c, false, 2).args, "--lcores=0@0,1@1,2@1,3@1"));
  EXPECT_TRUE(Has(plan_eal(c, false, 8).args, "--lcores=0@0,1@1,2@2,3@3"));
  EXPECT_TRUE(Has(plan_eal(c, false, 1).args, "--lcores=0@0,1@0,2@0,3@0"));
}

}  // namespace
}  // namespace dptls::engine
