#include "cipher_report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "aead_workload.h"

namespace dptls::app {

namespace {

using crypto::AeadDir;
using crypto::BackendKind;
using Json = nlohmann::ordered_json;

// Column widths of the text table.
constexpr int kAlgWidth = 17;
constexpr int kSizeWidth = 7;
constexpr int kOpWidth = 4;
constexpr int kGbpsWidth = 7;
constexpr int kMopsWidth = 8;
constexpr int kMedianWidth = 7;
constexpr int kSpreadWidth = 7;
constexpr int kGroupWidth =
    kGbpsWidth + kMopsWidth + kMedianWidth + kSpreadWidth + 3;
constexpr int kRatioWidth = 6;

std::string_view dir_name(AeadDir dir) {
  return dir == AeadDir::kSeal ? "seal" : "open";
}

const DirStats& dir_stats(const CellStats& stats, AeadDir dir) {
  return dir == AeadDir::kSeal ? stats.seal : stats.open;
}

const DirStats* find_stats(const CipherReport& report, crypto::AeadAlg alg,
                           BackendKind backend, size_t size, AeadDir dir) {
  for (const CellResult& r : report.results) {
    if (r.alg == alg && r.backend == backend && r.size == size) {
      return &dir_stats(r.stats, dir);
    }
  }
  return nullptr;
}

bool has_backend(const CipherReport& report, BackendKind kind) {
  for (const BackendInfo& b : report.backends) {
    if (b.kind == kind) {
      return true;
    }
  }
  return false;
}

std::string segment_text(size_t segment) {
  if (segment == 0) {
    return "contiguous records";
  }
  return fmt::format("{}-byte segments, each in its own {}-byte mbuf room",
                     segment, kMbufDataRoom);
}

// (p90 - p10) / median, in percent.
std::string spread_text(const DirStats& s) {
  if (s.median_mops <= 0) {
    return "-";
  }
  return fmt::format("{:.1f}%",
                     (s.p90_mops - s.p10_mops) / s.median_mops * 100.0);
}

void print_header(const CipherReport& report, std::FILE* out) {
  fmt::print(out, "dptls {} bench cipher, {}\n", report.version, report.date);
  fmt::print(out, "cpu:       {}{}\n", report.cpu_model,
             report.pinned_cpu
                 ? fmt::format(", pinned to cpu {}", *report.pinned_cpu)
                 : std::string(", not pinned"));
  fmt::print(out, "libraries: IPsec-MB {}, {}\n", report.ipsec_mb_version,
             report.openssl_version);
  for (const BackendInfo& b : report.backends) {
    fmt::print(out, "{:<10} {}\n",
               fmt::format("{}:", backend_kind_name(b.kind)), b.description);
  }
  fmt::print(out,
             "workload:  batch {} ops per run() (one key each), {}, aad {} B, "
             "{:g} s per cell\n\n",
             report.batch, segment_text(report.segment), report.aad,
             report.duration_s);
}

void print_table_head(const CipherReport& report, bool ratio, std::FILE* out) {
  std::string names(kAlgWidth + kSizeWidth + kOpWidth + 2, ' ');
  std::string columns = fmt::format("{:<{}} {:>{}} {:<{}}", "alg", kAlgWidth,
                                    "size", kSizeWidth, "op", kOpWidth);
  for (const BackendInfo& b : report.backends) {
    names += fmt::format(" | {:<{}}", backend_kind_name(b.kind), kGroupWidth);
    columns += fmt::format(" | {:>{}} {:>{}} {:>{}} {:>{}}", "GB/s", kGbpsWidth,
                           "Mops/s", kMopsWidth, "median", kMedianWidth,
                           "spread", kSpreadWidth);
  }
  if (ratio) {
    columns += fmt::format(" | {:>{}}", "x EVP", kRatioWidth);
  }
  names.erase(names.find_last_not_of(' ') + 1);
  fmt::print(out, "{}\n{}\n", names, columns);
}

std::string group_text(const DirStats* s, size_t size) {
  if (s == nullptr) {
    return fmt::format(" | {:>{}} {:>{}} {:>{}} {:>{}}", "n/a", kGbpsWidth, "",
                       kMopsWidth, "", kMedianWidth, "", kSpreadWidth);
  }
  return fmt::format(" | {:>{}.3f} {:>{}.3f} {:>{}.3f} {:>{}}", s->gbps,
                     kGbpsWidth, s->mops, kMopsWidth, s->median_gbps(size),
                     kMedianWidth, spread_text(*s), kSpreadWidth);
}

// ipsec-mb over openssl; the op rate, so that 0-byte records compare too.
std::string ratio_text(const DirStats* ipsec, const DirStats* evp) {
  if (ipsec == nullptr || evp == nullptr || evp->mops <= 0) {
    return fmt::format(" | {:>{}}", "-", kRatioWidth);
  }
  return fmt::format(" | {:>{}.2f}", ipsec->mops / evp->mops, kRatioWidth);
}

void print_row(const CipherReport& report, crypto::AeadAlg alg, size_t size,
               AeadDir dir, bool ratio, std::FILE* out) {
  std::string line =
      fmt::format("{:<{}} {:>{}} {:<{}}", crypto::aead_alg_name(alg), kAlgWidth,
                  size, kSizeWidth, dir_name(dir), kOpWidth);
  for (const BackendInfo& b : report.backends) {
    line += group_text(find_stats(report, alg, b.kind, size, dir), size);
  }
  if (ratio) {
    line +=
        ratio_text(find_stats(report, alg, BackendKind::kIpsecMb, size, dir),
                   find_stats(report, alg, BackendKind::kOpenSsl, size, dir));
  }
  fmt::print(out, "{}\n", line);
}

void print_footer(const CipherReport& report, bool ratio, std::FILE* out) {
  fmt::print(out,
             "\nGB/s, Mops/s: record payload (1e9 B) and ops per second of "
             "time inside run().\n"
             "median, spread: median GB/s and (p90-p10)/median over {:g} ms "
             "windows.\n",
             report.window_s * 1e3);
  if (ratio) {
    fmt::print(out, "x EVP: ipsec-mb throughput / openssl throughput.\n");
  }
  for (const UnsupportedCell& u : report.unsupported) {
    fmt::print(out, "n/a: {} does not support {}.\n",
               backend_kind_name(u.backend), aead_alg_name(u.alg));
  }
}

Json header_json(const CipherReport& report) {
  Json backends = Json::object();
  for (const BackendInfo& b : report.backends) {
    backends[std::string(backend_kind_name(b.kind))] = b.description;
  }
  return {
      {"tool", "dptls bench cipher"},
      {"version", report.version},
      {"date", report.date},
      {"cpu_model", report.cpu_model},
      {"cpu_pinned", report.pinned_cpu ? Json(*report.pinned_cpu) : Json()},
      {"ipsec_mb_version", report.ipsec_mb_version},
      {"openssl_version", report.openssl_version},
      {"cpu_path", crypto::cpu_path_name(report.cpu_path)},
      {"backends", backends},
      {"batch", report.batch},
      {"segment", report.segment},
      {"aad", report.aad},
      {"duration", report.duration_s},
      {"window_s", report.window_s},
  };
}

Json result_json(const CipherReport& report, const CellResult& r, AeadDir dir) {
  const DirStats& s = dir_stats(r.stats, dir);
  return {
      {"alg", crypto::aead_alg_name(r.alg)},
      {"backend", backend_kind_name(r.backend)},
      {"size", r.size},
      {"op", dir_name(dir)},
      {"gbps", s.gbps},
      {"mops", s.mops},
      {"median_gbps", s.median_gbps(r.size)},
      {"p10_gbps", s.p10_gbps(r.size)},
      {"p90_gbps", s.p90_gbps(r.size)},
      {"median_mops", s.median_mops},
      {"p10_mops", s.p10_mops},
      {"p90_mops", s.p90_mops},
      {"samples", s.samples},
      {"ops", s.ops},
      {"bytes", s.bytes},
      {"seconds", s.seconds},
      {"batch", report.batch},
      {"segment", report.segment},
  };
}

}  // namespace

void print_text_report(const CipherReport& report, std::FILE* out) {
  const bool ratio = has_backend(report, BackendKind::kIpsecMb) &&
                     has_backend(report, BackendKind::kOpenSsl);
  print_header(report, out);
  print_table_head(report, ratio, out);
  for (crypto::AeadAlg alg : report.algs) {
    for (size_t size : report.sizes) {
      for (AeadDir dir : report.dirs) {
        print_row(report, alg, size, dir, ratio, out);
      }
    }
  }
  print_footer(report, ratio, out);
}

std::string json_report(const CipherReport& report) {
  Json doc = header_json(report);
  Json results = Json::array();
  for (const CellResult& r : report.results) {
    for (AeadDir dir : report.dirs) {
      results.push_back(result_json(report, r, dir));
    }
  }
  Json unsupported = Json::array();
  for (const UnsupportedCell& u : report.unsupported) {
    unsupported.push_back({{"alg", crypto::aead_alg_name(u.alg)},
                           {"backend", backend_kind_name(u.backend)}});
  }
  doc["results"] = std::move(results);
  doc["unsupported"] = std::move(unsupported);
  return doc.dump(2);
}

}  // namespace dptls::app
