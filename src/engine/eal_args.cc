#include "dptls/engine/eal_args.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace dptls::engine {

uint32_t record_mbufs_per_worker(const config::Config& config) {
  if (config.dpdk.record_mbufs_per_worker != 0) {
    return config.dpdk.record_mbufs_per_worker;
  }
  return std::max<uint32_t>(1024, config.dpdk.mbufs_per_worker / 4);
}

bool hugepages_available() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  long free_pages = 0;
  while (std::getline(meminfo, line)) {
    if (line.rfind("HugePages_Free:", 0) == 0) {
      free_pages = std::stol(line.substr(15));
    }
  }
  std::ifstream mounts("/proc/mounts");
  bool mounted = false;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string dev, dir, type;
    fields >> dev >> dir >> type;
    mounted = mounted || type == "hugetlbfs";
  }
  return free_pages > 0 && mounted;
}

EalPlan plan_eal(const config::Config& config, bool have_hugepages,
                 unsigned cpus, long pid) {
  EalPlan plan;
  plan.args = {"dptls"};
  // lcore 0 is the main (control-plane) lcore; workers follow. With more
  // lcores than CPUs, --lcores maps them onto the CPUs there are.
  const uint32_t workers = config.engine.workers;
  std::string lcores = "0@0";
  for (uint32_t i = 1; i <= workers; ++i) {
    const unsigned cpu = cpus <= 1 ? 0 : 1 + (i - 1) % (cpus - 1);
    lcores += "," + std::to_string(i) + "@" + std::to_string(cpu);
  }
  plan.args.push_back("--lcores=" + lcores);
  switch (config.dpdk.hugepages) {
    case config::HugepageMode::kOn:
      plan.hugepages = true;
      break;
    case config::HugepageMode::kOff:
      plan.hugepages = false;
      break;
    case config::HugepageMode::kAuto:
      plan.hugepages = have_hugepages;
      break;
  }
  if (plan.hugepages) {
    plan.args.push_back("--in-memory");
  } else {
    // Pools sized for the mbufs asked for plus the rings: 2 KiB + overhead
    // per packet mbuf and 17 KiB + overhead per record mbuf, rounded up
    // generously.
    const uint64_t kib_per_worker = uint64_t{config.dpdk.mbufs_per_worker} * 3 +
                                    uint64_t{record_mbufs_per_worker(config)} *
                                        (kRecordMbufDataRoom / 1024 + 2);
    const uint64_t mb = 64 + kib_per_worker * workers / 1024;
    plan.args.insert(plan.args.end(),
                     {"--no-huge", "--no-shconf", "-m", std::to_string(mb)});
  }
  bool any_pci = false;
  for (const config::PortSection& p : config.ports) {
    const std::string& d = p.device;
    if (d.rfind("net_", 0) == 0) {
      plan.args.push_back("--vdev=" + d);
      plan.port_names.push_back(d.substr(0, d.find(',')));
    } else {
      plan.args.push_back("-a");
      plan.args.push_back(d);
      plan.port_names.push_back(d);
      any_pci = true;
    }
  }
  if (!any_pci) {
    plan.args.push_back("--no-pci");
  }
  plan.args.push_back("--log-level=lib.eal:warning");
  // The user's arguments come last (they may override ours).
  const bool prefix = std::any_of(
      config.dpdk.eal_args.begin(), config.dpdk.eal_args.end(),
      [](const std::string& a) { return a.rfind("--file-prefix", 0) == 0; });
  if (!prefix) {
    plan.args.push_back(pid < 0 ? std::string("--file-prefix=dptls")
                                : "--file-prefix=dptls-" + std::to_string(pid));
  }
  for (const std::string& a : config.dpdk.eal_args) {
    plan.args.push_back(a);
  }
  return plan;
}

}  // namespace dptls::engine
