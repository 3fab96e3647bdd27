// Drop reasons and counters: printable, unique, complete.
#include "dptls/net/drop_reason.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "dptls/net/stats.h"

namespace dptls::net {
namespace {

TEST(DropReasonTest, NamesAreUniqueAndPrintable) {
  std::set<std::string> names;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string name = drop_reason_name(static_cast<DropReason>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    EXPECT_EQ(name.find(' '), std::string::npos) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
  }
  EXPECT_STREQ(drop_reason_name(DropReason::kIpv4BadChecksum),
               "ipv4_bad_checksum");
  EXPECT_STREQ(drop_reason_name(static_cast<DropReason>(kDropReasonCount)),
               "unknown");
}

TEST(DropReasonTest, StatsVisitEveryCounter) {
  NetStats s;
  s.rx_packets = 3;
  s.drops[static_cast<size_t>(DropReason::kIpv4Fragment)] = 2;
  s.drops[static_cast<size_t>(DropReason::kNoRoute)] = 5;
  EXPECT_EQ(s.total_drops(), 7u);
  EXPECT_EQ(s.drop(DropReason::kIpv4Fragment), 2u);
  size_t visited = 0;
  uint64_t rx = 0;
  uint64_t frag = 0;
  s.for_each([&](const char* name, uint64_t v) {
    ++visited;
    if (std::string(name) == "rx_packets") {
      rx = v;
    }
    if (std::string(name) == "ipv4_fragment") {
      frag = v;
    }
  });
  EXPECT_GT(visited, kDropReasonCount);
  EXPECT_EQ(rx, 3u);
  EXPECT_EQ(frag, 2u);
  EXPECT_EQ(alignof(NetStats) % 64, 0u);
}

}  // namespace
}  // namespace dptls::net
