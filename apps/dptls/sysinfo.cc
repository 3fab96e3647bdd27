#include "sysinfo.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string_view>

namespace dptls::app {

namespace {

std::string trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    return {};
  }
  const size_t end = s.find_last_not_of(" \t");
  return std::string(s.substr(begin, end - begin + 1));
}

// E.g. "0,1,4".
std::string cpu_list(const cpu_set_t& set) {
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) {
      out += fmt::format("{}{}", out.empty() ? "" : ",", cpu);
    }
  }
  return out;
}

}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon != std::string::npos &&
        trim(std::string_view(line).substr(0, colon)) == "model name") {
      return trim(std::string_view(line).substr(colon + 1));
    }
  }
  return "unknown";
}

std::string ipsec_mb_version() { return imb_get_version_str(); }

std::string openssl_version() { return OpenSSL_version(OPENSSL_VERSION); }

std::string utc_timestamp() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)));
}

bool pin_to_cpu(long cpu, std::string* error) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    *error = fmt::format("sched_getaffinity: {}", std::strerror(errno));
    return false;
  }
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
    *error = fmt::format(
        "cpu {} is not available to this process "
        "(allowed: {})",
        cpu, cpu_list(allowed));
    return false;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    *error =
        fmt::format("sched_setaffinity(cpu {}): {}", cpu, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace dptls::app
