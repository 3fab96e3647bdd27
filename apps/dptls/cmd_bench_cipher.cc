#include "cmd_bench_cipher.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aead_workload.h"
#include "cipher_bench.h"
#include "cipher_report.h"
#include "dptls/crypto/aead.h"
#include "sysinfo.h"

namespace dptls::app {

namespace {

using crypto::AeadAlg;
using crypto::AeadBackend;
using crypto::AeadDir;
using crypto::BackendKind;

constexpr int64_t kMaxRecordSize = int64_t{1} << 20;
constexpr int64_t kMaxBatch = 1024;
constexpr int64_t kMinSegment = 16;
constexpr int64_t kMaxSegment = 65536;
constexpr int64_t kMaxAad = 65536;
constexpr double kMaxDuration = 60.0;

// The command line as CLI11 parsed it, before validation.
struct RawOptions {
  std::vector<std::string> algs = {"aes-128-gcm", "aes-256-gcm",
                                   "chacha20-poly1305"};
  std::vector<int64_t> sizes = {256, 1420, 16384};
  std::vector<std::string> backends = {"all"};
  std::string cpu_path = "auto";
  double duration = 1.0;
  int64_t batch = 32;
  int64_t segment = 0;
  std::string op = "both";
  int64_t aad = 5;
  int64_t cpu = -1;
  bool json = false;
  bool quiet = false;
  CLI::Option* cpu_option = nullptr;
};

// The validated configuration.
struct Config {
  std::vector<AeadAlg> algs;
  std::vector<size_t> sizes;
  std::vector<BackendKind> backends;
  crypto::CpuPath cpu_path = crypto::CpuPath::kAuto;
  MeasureOptions measure;
  WorkloadShape shape;
  std::vector<AeadDir> dirs;
  std::optional<long> cpu;
  bool json = false;
  bool quiet = false;
};

struct Backend {
  BackendKind kind;
  std::unique_ptr<AeadBackend> impl;
};

void add_options(CLI::App& cmd, RawOptions& raw) {
  cmd.add_option("--alg", raw.algs,
                 "Algorithms: aes-128-gcm, aes-256-gcm, chacha20-poly1305 or "
                 "all (repeatable, comma list)")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--size", raw.sizes,
                 "Record sizes in bytes, 0..1048576 (comma list)")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--backend", raw.backends, "ipsec-mb, openssl or all")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--cpu-path", raw.cpu_path,
                 "IPsec-MB code path: auto, sse, avx, avx2 or avx512")
      ->capture_default_str();
  cmd.add_option("--duration", raw.duration,
                 "Seconds measured per alg x backend x size, (0, 60]")
      ->capture_default_str();
  cmd.add_option("--batch", raw.batch,
                 "Ops per run() call, each with its own key, 1..1024")
      ->capture_default_str();
  cmd.add_option("--segment", raw.segment,
                 "0: contiguous records; else split records into segments "
                 "of this many bytes (16..65536), each in its own buffer")
      ->capture_default_str();
  cmd.add_option("--op", raw.op, "seal, open or both")->capture_default_str();
  cmd.add_option("--aad", raw.aad, "AAD bytes per record, 0..65536")
      ->capture_default_str();
  raw.cpu_option =
      cmd.add_option("--cpu", raw.cpu, "Pin the thread to this CPU");
  cmd.add_flag("--json", raw.json, "Print JSON on stdout instead of a table");
  cmd.add_flag("--quiet", raw.quiet, "No progress on stderr");
  cmd.footer(
      "Exit status: 0 on success, 1 if a backend is unavailable or an "
      "operation failed, 2 for a bad option value.");
}

// E.g. "aes-128-gcm, aes-256-gcm, chacha20-poly1305 or all".
template <typename Enum, size_t N>
std::string choices(const Enum (&every)[N], std::string_view (*name_of)(Enum)) {
  std::string out;
  for (Enum v : every) {
    out += fmt::format("{}, ", name_of(v));
  }
  out.replace(out.size() - 2, 2, " or all");
  return out;
}

// Parses `names` with `parse`, expanding "all" to `every`; keeps the first
// occurrence of each value, in order.
template <typename Enum, size_t N>
bool parse_names(const std::vector<std::string>& names, const Enum (&every)[N],
                 std::optional<Enum> (*parse)(std::string_view),
                 std::string_view (*name_of)(Enum), std::string_view option,
                 std::vector<Enum>* out, std::string* error) {
  for (const std::string& name : names) {
    std::vector<Enum> values(std::begin(every), std::end(every));
    if (name != "all") {
      const std::optional<Enum> value = parse(name);
      if (!value) {
        *error = fmt::format("unknown {} '{}' (expected {})", option, name,
                             choices(every, name_of));
        return false;
      }
      values = {*value};
    }
    for (Enum v : values) {
      if (std::find(out->begin(), out->end(), v) == out->end()) {
        out->push_back(v);
      }
    }
  }
  if (out->empty()) {
    *error = fmt::format("{} needs at least one value", option);
    return false;
  }
  return true;
}

bool check_range(std::string_view option, int64_t value, int64_t lo, int64_t hi,
                 std::string* error) {
  if (value < lo || value > hi) {
    *error = fmt::format("{} {} is out of range {}..{}", option, value, lo, hi);
    return false;
  }
  return true;
}

bool parse_sizes(const std::vector<int64_t>& raw, std::vector<size_t>* out,
                 std::string* error) {
  for (int64_t size : raw) {
    if (!check_range("--size", size, 0, kMaxRecordSize, error)) {
      return false;
    }
    if (std::find(out->begin(), out->end(), size) == out->end()) {
      out->push_back(static_cast<size_t>(size));
    }
  }
  if (out->empty()) {
    *error = "--size needs at least one value";
    return false;
  }
  return true;
}

// Refuses shapes whose buffers would not fit, before measuring anything.
bool check_footprint(const Config& config, std::string* error) {
  WorkloadShape shape = config.shape;
  shape.record_size =
      *std::max_element(config.sizes.begin(), config.sizes.end());
  const size_t bytes = AeadWorkload::footprint(shape);
  if (bytes > kMaxWorkloadBytes) {
    *error = fmt::format(
        "--size {} with --batch {} and --segment {} needs {:.1f} GiB of "
        "buffers, more than the {} GiB limit",
        shape.record_size, shape.batch, shape.segment_size,
        static_cast<double>(bytes) / (1 << 30), kMaxWorkloadBytes >> 30);
    return false;
  }
  return true;
}

bool parse_segment(int64_t segment, size_t* out, std::string* error) {
  if (segment != 0 &&
      !check_range("--segment", segment, kMinSegment, kMaxSegment, error)) {
    *error += " (or 0 for contiguous records)";
    return false;
  }
  *out = static_cast<size_t>(segment);
  return true;
}

bool parse_dirs(const std::string& op, std::vector<AeadDir>* out,
                std::string* error) {
  if (op == "seal" || op == "both") {
    out->push_back(AeadDir::kSeal);
  }
  if (op == "open" || op == "both") {
    out->push_back(AeadDir::kOpen);
  }
  if (out->empty()) {
    *error = fmt::format("unknown --op '{}' (seal, open or both)", op);
    return false;
  }
  return true;
}

bool parse_duration(double duration, MeasureOptions* out, std::string* error) {
  // Written so that NaN fails too.
  if (!(duration > 0 && duration <= kMaxDuration)) {
    *error = fmt::format("--duration {} must be > 0 and <= {:g} seconds",
                         duration, kMaxDuration);
    return false;
  }
  out->duration_s = duration;
  out->warmup_s = std::min(0.1, duration / 5);
  return true;
}

bool parse_cpu_path(const std::string& name, crypto::CpuPath* out,
                    std::string* error) {
  const std::optional<crypto::CpuPath> path = crypto::parse_cpu_path(name);
  if (!path) {
    *error = fmt::format(
        "unknown --cpu-path '{}' (auto, sse, avx, avx2 or "
        "avx512)",
        name);
    return false;
  }
  *out = *path;
  return true;
}

bool validate(const RawOptions& raw, Config* config, std::string* error) {
  if (!parse_names(raw.algs, crypto::kAllAeadAlgs, crypto::parse_aead_alg,
                   crypto::aead_alg_name, "--alg", &config->algs, error) ||
      !parse_names(raw.backends, crypto::kAllBackends,
                   crypto::parse_backend_kind, crypto::backend_kind_name,
                   "--backend", &config->backends, error) ||
      !parse_sizes(raw.sizes, &config->sizes, error) ||
      !parse_cpu_path(raw.cpu_path, &config->cpu_path, error) ||
      !parse_duration(raw.duration, &config->measure, error) ||
      !check_range("--batch", raw.batch, 1, kMaxBatch, error) ||
      !parse_segment(raw.segment, &config->shape.segment_size, error) ||
      !parse_dirs(raw.op, &config->dirs, error) ||
      !check_range("--aad", raw.aad, 0, kMaxAad, error)) {
    return false;
  }
  std::sort(config->backends.begin(), config->backends.end());
  config->shape.batch = static_cast<size_t>(raw.batch);
  config->shape.aad_len = static_cast<size_t>(raw.aad);
  if (raw.cpu_option->count() > 0) {
    config->cpu = raw.cpu;
  }
  config->json = raw.json;
  config->quiet = raw.quiet;
  return check_footprint(*config, error);
}

// Progress on stderr: a line per cell, rewritten in place on a terminal.
class Progress {
 public:
  Progress(bool enabled, size_t total)
      : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1), total_(total) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() {
    if (enabled_ && tty_) {
      fmt::print(stderr, "\r\033[K");
    }
  }

  void cell(AeadAlg alg, BackendKind backend, size_t size) {
    ++done_;
    if (!enabled_) {
      return;
    }
    const std::string text = fmt::format(
        "[{:>{}}/{}] {:<17} {:<8} {:>7} B  seal+open ...", done_,
        fmt::formatted_size("{}", total_), total_, crypto::aead_alg_name(alg),
        crypto::backend_kind_name(backend), size);
    fmt::print(stderr, "{}{}{}", tty_ ? "\r\033[K" : "", text,
               tty_ ? "" : "\n");
  }

 private:
  bool enabled_;
  bool tty_;
  size_t total_;
  size_t done_ = 0;
};

int fail(int code, std::string_view message) {
  fmt::print(stderr, "dptls bench cipher: {}\n", message);
  return code;
}

bool make_backends(const Config& config, std::vector<Backend>* out,
                   std::string* error) {
  const bool has_ipsec_mb =
      std::find(config.backends.begin(), config.backends.end(),
                BackendKind::kIpsecMb) != config.backends.end();
  if (config.cpu_path != crypto::CpuPath::kAuto && !has_ipsec_mb) {
    fmt::print(stderr,
               "dptls bench cipher: note: --cpu-path only applies "
               "to ipsec-mb\n");
  }
  for (BackendKind kind : config.backends) {
    crypto::BackendOptions options;
    if (kind == BackendKind::kIpsecMb) {
      options.cpu_path = config.cpu_path;
    }
    std::string why;
    std::unique_ptr<AeadBackend> impl =
        crypto::make_backend(kind, options, &why);
    if (impl == nullptr) {
      *error = fmt::format("cannot create the {} backend (--cpu-path {}): {}",
                           backend_kind_name(kind),
                           crypto::cpu_path_name(options.cpu_path),
                           why.empty() ? "no reason given" : why);
      return false;
    }
    out->push_back({kind, std::move(impl)});
  }
  return true;
}

CipherReport make_report(const Config& config,
                         const std::vector<Backend>& backends) {
  CipherReport report;
  report.version = DPTLS_VERSION;
  report.date = utc_timestamp();
  report.cpu_model = cpu_model_name();
  report.pinned_cpu = config.cpu;
  report.ipsec_mb_version = ipsec_mb_version();
  report.openssl_version = openssl_version();
  report.cpu_path = config.cpu_path;
  for (const Backend& b : backends) {
    report.backends.push_back({b.kind, b.impl->describe()});
  }
  report.batch = config.shape.batch;
  report.segment = config.shape.segment_size;
  report.aad = config.shape.aad_len;
  report.duration_s = config.measure.duration_s;
  report.window_s = config.measure.window_s;
  report.algs = config.algs;
  report.sizes = config.sizes;
  report.dirs = config.dirs;
  for (AeadAlg alg : config.algs) {
    for (const Backend& b : backends) {
      if (!b.impl->supports(alg)) {
        report.unsupported.push_back({alg, b.kind});
      }
    }
  }
  return report;
}

bool run_cell(AeadBackend& backend, AeadAlg alg, size_t size,
              const Config& config, CellStats* stats, std::string* error) {
  WorkloadShape shape = config.shape;
  shape.record_size = size;
  std::unique_ptr<AeadWorkload> workload =
      AeadWorkload::create(backend, alg, shape, error);
  return workload != nullptr &&
         measure(*workload, config.measure, stats, error);
}

bool run_cells(const Config& config, const std::vector<Backend>& backends,
               CipherReport* report, std::string* error) {
  const size_t cells =
      (config.algs.size() * backends.size() - report->unsupported.size()) *
      config.sizes.size();
  Progress progress(!config.quiet, cells);
  for (AeadAlg alg : config.algs) {
    for (size_t size : config.sizes) {
      for (const Backend& b : backends) {
        if (!b.impl->supports(alg)) {
          continue;
        }
        progress.cell(alg, b.kind, size);
        CellStats stats;
        if (!run_cell(*b.impl, alg, size, config, &stats, error)) {
          *error = fmt::format("{} {} {} B: {}", aead_alg_name(alg),
                               backend_kind_name(b.kind), size, *error);
          return false;
        }
        report->results.push_back({alg, b.kind, size, stats});
      }
    }
  }
  return true;
}

int run_bench_cipher(const RawOptions& raw) {
  Config config;
  std::string error;
  if (!validate(raw, &config, &error)) {
    return fail(kExitUsage, error);
  }
  if (config.cpu && !pin_to_cpu(*config.cpu, &error)) {
    return fail(kExitUsage, "--cpu: " + error);
  }
  std::vector<Backend> backends;
  if (!make_backends(config, &backends, &error)) {
    return fail(kExitFailure, error);
  }
  CipherReport report = make_report(config, backends);
  if (!run_cells(config, backends, &report, &error)) {
    return fail(kExitFailure, error);
  }
  if (config.json) {
    fmt::print("{}\n", json_report(report));
  } else {
    print_text_report(report, stdout);
  }
  return kExitOk;
}

}  // namespace

Command add_bench_cipher_command(CLI::App& bench) {
  auto raw = std::make_shared<RawOptions>();
  CLI::App* cmd = bench.add_subcommand(
      "cipher", "AEAD throughput per backend, algorithm and record size");
  add_options(*cmd, *raw);
  return {cmd, [raw] { return run_bench_cipher(*raw); }};
}

}  // namespace dptls::app
