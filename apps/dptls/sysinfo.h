// Facts about the machine and the libraries, for reports and logs, and
// thread placement.
#pragma once

#include <string>

namespace dptls::app {

// The first "model name" of /proc/cpuinfo, or "unknown".
std::string cpu_model_name();
// The version of the Intel IPsec-MB library loaded at run time.
std::string ipsec_mb_version();
// The version of the OpenSSL libcrypto loaded at run time.
std::string openssl_version();
// The current time as ISO 8601 UTC, e.g. "2025-01-31T12:00:00Z".
std::string utc_timestamp();

// Pins the calling thread to `cpu`. Returns false and sets *error if the CPU
// does not exist or is outside the allowed set.
bool pin_to_cpu(long cpu, std::string* error);

}  // namespace dptls::app
