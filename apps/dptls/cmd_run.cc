#include "cmd_run.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "dptls/config/config.h"
#include "dptls/engine/engine.h"

namespace dptls::app {

namespace {

struct RunOptions {
  std::string config_file;
  double max_seconds = 0;
};

spdlog::level::level_enum spd_level(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::kTrace:
      return spdlog::level::trace;
    case config::LogLevel::kDebug:
      return spdlog::level::debug;
    case config::LogLevel::kInfo:
      return spdlog::level::info;
    case config::LogLevel::kWarn:
      return spdlog::level::warn;
    case config::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

int run(const RunOptions& o) {
  // SIGHUP asks a running engine to reload its certificates; one that
  // comes while the configuration is still being read must not end the
  // process (its default action). run_engine() installs the handler
  // before it loads the certificate files, so nothing is missed.
  std::signal(SIGHUP, SIG_IGN);
  std::vector<config::ConfigError> errors;
  const auto c = config::load_config_file(o.config_file, &errors);
  if (!c) {
    for (const config::ConfigError& e : errors) {
      fmt::print(stderr, "{}\n", e.to_string());
    }
    fmt::print(stderr, "dptls run: {} problem{} in {}; not starting\n",
               errors.size(), errors.size() == 1 ? "" : "s", o.config_file);
    return kExitUsage;
  }
  spdlog::set_level(spd_level(c->engine.log_level));
  engine::RunOptions options;
  options.max_seconds = o.max_seconds;
  return engine::run_engine(*c, options) == 0 ? kExitOk : kExitFailure;
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run the engine on the configured port until SIGINT/SIGTERM");
  cmd->add_option("-c,--config", o->config_file, "TOML configuration file")
      ->required();
  cmd->add_option("--max-seconds", o->max_seconds,
                  "Stop by itself after this long (0: never)")
      ->check(CLI::Range(0.0, 86400.0 * 365));
  return {cmd, [o] { return run(*o); }};
}

}  // namespace dptls::app
