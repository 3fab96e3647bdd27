// `dptls run --config FILE`: the engine.
#pragma once

#include <CLI/CLI.hpp>

#include "command.h"

namespace dptls::app {

Command add_run_command(CLI::App& app);

}  // namespace dptls::app
