// The DPDK EAL command line dptls builds from its configuration. Pure (no
// DPDK calls), so it is testable without a NIC.
#pragma once

#include <string>
#include <vector>

#include "dptls/config/config.h"

namespace dptls::engine {

struct EalPlan {
  std::vector<std::string> args;  // argv for rte_eal_init, args[0] included
  bool hugepages = false;         // false: --no-huge, smaller pools
  // DPDK port names of the configured ports, in order (vdev names, or the
  // PCI address for a NIC).
  std::vector<std::string> port_names;
};

// Sealed-record mbufs per worker (16 KB + overhead each): a quarter of the
// packet mbufs, at least 1024.
uint32_t record_mbufs_per_worker(const config::Config& config);
// Data room of one record mbuf: 2^14 plaintext plus header, content type,
// padding room and tag, after the mbuf headroom.
inline constexpr uint32_t kRecordMbufDataRoom = 16384 + 512 + 128;

// Whether hugepages are usable here: some free in /proc/meminfo and a
// hugetlbfs mounted.
bool hugepages_available();

// Builds the EAL arguments: lcores (lcore 0, the control plane, on CPU 0;
// workers on CPUs 1.. and wrapping round when there are fewer than `cpus`
// CPUs), each port as --vdev or -a, and the memory mode: hugepages with
// --in-memory (no shared files), or --no-huge --no-shconf with `-m`. With
// hugepages "auto" the choice follows `have_hugepages`. Unless
// dpdk.eal_args names one, the runtime directory gets its own
// --file-prefix, "dptls-<pid>" (the telemetry socket lives there, so two
// engines on one host do not collide); pid < 0 gives "dptls".
EalPlan plan_eal(const config::Config& config, bool have_hugepages,
                 unsigned cpus, long pid = -1);

}  // namespace dptls::engine
