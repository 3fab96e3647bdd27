// Output of `dptls bench cipher`: a text table or a JSON document.
#pragma once

#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cipher_bench.h"
#include "dptls/crypto/aead.h"

namespace dptls::app {

struct BackendInfo {
  crypto::BackendKind kind;
  std::string description;  // AeadBackend::describe()
};

struct CellResult {
  crypto::AeadAlg alg;
  crypto::BackendKind backend;
  size_t size;
  CellStats stats;
};

struct UnsupportedCell {
  crypto::AeadAlg alg;
  crypto::BackendKind backend;
};

struct CipherReport {
  // Header.
  std::string version;
  std::string date;
  std::string cpu_model;
  std::optional<long> pinned_cpu;
  std::string ipsec_mb_version;
  std::string openssl_version;
  crypto::CpuPath cpu_path = crypto::CpuPath::kAuto;
  std::vector<BackendInfo> backends;
  size_t batch = 0;
  size_t segment = 0;
  size_t aad = 0;
  double duration_s = 0;
  double window_s = 0;
  // What the rows cover, in order.
  std::vector<crypto::AeadAlg> algs;
  std::vector<size_t> sizes;
  std::vector<crypto::AeadDir> dirs;
  // Measurements.
  std::vector<CellResult> results;
  std::vector<UnsupportedCell> unsupported;
};

// Prints the header lines and one row per alg x size x op.
void print_text_report(const CipherReport& report, std::FILE* out);
// Returns the report as a JSON document.
std::string json_report(const CipherReport& report);

}  // namespace dptls::app
