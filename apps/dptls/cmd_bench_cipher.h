// `dptls bench cipher`: AEAD throughput of every backend, algorithm and
// record size, through AeadBackend::run() exactly as the record engine
// calls it.
#pragma once

#include <CLI/CLI.hpp>

#include "command.h"

namespace dptls::app {

// Adds the `cipher` subcommand under `bench`.
Command add_bench_cipher_command(CLI::App& bench);

}  // namespace dptls::app
