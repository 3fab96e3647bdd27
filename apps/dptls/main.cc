// The `dptls` binary: parses the command line and runs the subcommand it
// selected. Each subcommand lives in its own cmd_*.cc.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <vector>

#include "cmd_bench_cipher.h"
#include "cmd_config.h"
#include "cmd_gen.h"
#include "cmd_run.h"
#include "command.h"

namespace dptls::app {
namespace {

int dispatch(const std::vector<Command>& commands) {
  for (const Command& command : commands) {
    if (command.app->parsed()) {
      return command.run();
    }
  }
  return kExitUsage;  // unreachable: CLI11 requires a subcommand
}

int run_main(int argc, char** argv) {
  CLI::App app{"dptls: kernel-bypass TLS engine", "dptls"};
  app.set_version_flag("--version", DPTLS_VERSION);
  app.require_subcommand(1);
  CLI::App* bench = app.add_subcommand("bench", "Micro-benchmarks");
  bench->require_subcommand(1);

  const std::vector<Command> commands = {
      add_run_command(app),          add_bench_cipher_command(*bench),
      add_check_config_command(app), add_certs_command(app),
      add_gen_command(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; every real usage
    // error exits kExitUsage, whatever CLI11's own code for it is.
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return dispatch(commands);
}

}  // namespace
}  // namespace dptls::app

int main(int argc, char** argv) {
  try {
    return dptls::app::run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dptls: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "dptls: unknown exception\n");
  }
  return dptls::app::kExitFailure;
}
