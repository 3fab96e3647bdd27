// engine::WallClock: the workers' wall clock follows what the control
// plane publishes, so a step or a slew of the system clock reaches them.
#include "dptls/engine/wall_clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace dptls::engine {
namespace {

constexpr uint64_t kHz = 2'450'000'000;  // ticks per second
constexpr double kNsPerTick = 1e9 / static_cast<double>(kHz);
constexpr uint64_t kSecond = 1'000'000'000;
// 2026-11-24 12:00:00 UTC.
constexpr uint64_t kWall = 1'795'521'600 * kSecond;

TEST(WallClockTest, AddsTheTscSinceThePublishedReading) {
  WallClock c(kNsPerTick);
  const uint64_t tsc = 5 * 3600 * kHz;  // five hours of uptime
  c.publish(kWall, tsc);
  EXPECT_EQ(c.now_ns(tsc) / kSecond, kWall / kSecond);
  const uint64_t later = c.now_ns(tsc + 3 * kHz / 2);  // 1.5 s later
  EXPECT_GE(later, kWall + 1'500'000'000 - 2);
  EXPECT_LE(later, kWall + 1'500'000'000 + 2);
}

// A TSC whose rate was estimated 10 ppm high runs a day's worth of time
// almost a second fast; each publish pulls the clock back to the system's.
TEST(WallClockTest, APublishCorrectsDrift) {
  WallClock c(kNsPerTick * (1 + 10e-6));
  const uint64_t tsc0 = 1000;
  c.publish(kWall, tsc0);
  const uint64_t day = 86400 * kHz;
  const uint64_t drifted = c.now_ns(tsc0 + day);
  EXPECT_GT(drifted, kWall + 86400 * kSecond + 800'000'000);
  // The system clock says exactly a day has passed.
  c.publish(kWall + 86400 * kSecond, tsc0 + day);
  EXPECT_EQ(c.now_ns(tsc0 + day), kWall + 86400 * kSecond);
}

TEST(WallClockTest, FollowsAStepBackwards) {
  WallClock c(kNsPerTick);
  c.publish(kWall, 10 * kHz);
  c.publish(kWall - 3600 * kSecond, 11 * kHz);  // an hour back
  EXPECT_EQ(c.now_ns(11 * kHz) / kSecond, (kWall - 3600 * kSecond) / kSecond);
}

TEST(WallClockTest, SystemClockIsNearTheEngineClockAfterPublish) {
  const uint64_t before = system_clock_ns();
  WallClock c(kNsPerTick);
  c.publish(before, 42 * kHz);
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const uint64_t after = system_clock_ns();
  EXPECT_GT(after, before);
  EXPECT_EQ(c.now_ns(42 * kHz), before);
}

}  // namespace
}  // namespace dptls::engine
