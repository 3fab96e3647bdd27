// A subcommand of the `dptls` binary: its CLI11 node, and what to run once
// the command line parsed and selected it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace dptls::app {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed
inline constexpr int kExitUsage = 2;    // an option value was rejected

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

}  // namespace dptls::app
