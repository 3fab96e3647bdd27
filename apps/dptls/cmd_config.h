// `dptls check-config FILE` and `dptls certs`: the configuration checker and
// a self-signed certificate for trying dptls out.
#pragma once

#include <CLI/CLI.hpp>

#include "command.h"

namespace dptls::app {

Command add_check_config_command(CLI::App& app);
Command add_certs_command(CLI::App& app);

}  // namespace dptls::app
