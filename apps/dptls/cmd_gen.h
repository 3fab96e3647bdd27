// `dptls gen`: the DPDK TLS 1.3 load generator (src/gen).
#pragma once

#include <CLI/CLI.hpp>

#include "command.h"

namespace dptls::app {

Command add_gen_command(CLI::App& app);

}  // namespace dptls::app
