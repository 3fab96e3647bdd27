// The engine: DPDK EAL, one port with one RX/TX queue pair per worker,
// workers polling on their own lcores, and the control plane on the main
// lcore (admin metrics over HTTP on a kernel socket, signal handling,
// certificate reloads).
//
// Today the workers run the L2/L3 stack (ARP, NDP, ICMP echo); TCP
// segments they receive are freed and counted until TCP and TLS join the
// loop.
#pragma once

#include <string>

#include "dptls/config/config.h"

namespace dptls::engine {

struct RunOptions {
  // Stop by itself after this many seconds (0: run until SIGINT/SIGTERM).
  double max_seconds = 0;
};

// Runs the engine until SIGINT/SIGTERM (or max_seconds). SIGHUP (and POST
// /reload on the admin port) reloads the certificate material from
// config.file (cert_reload.h) without a restart. Returns 0 after a
// clean shutdown; otherwise prints the reason (start-up failures: EAL,
// port, pool) to stderr and returns 1.
int run_engine(const config::Config& config, const RunOptions& options);

}  // namespace dptls::engine
