#include "cmd_config.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dptls/config/config.h"
#include "dptls/config/self_signed.h"

namespace dptls::app {

namespace {

struct CheckOptions {
  std::string file;
  bool skip_files = false;
};

int run_check_config(const CheckOptions& o) {
  std::vector<config::ConfigError> errors;
  const auto c = config::load_config_file(o.file, &errors, !o.skip_files);
  if (!c) {
    for (const config::ConfigError& e : errors) {
      fmt::print(stderr, "{}\n", e.to_string());
    }
    fmt::print(stderr, "dptls check-config: {} problem{} in {}\n",
               errors.size(), errors.size() == 1 ? "" : "s", o.file);
    return kExitFailure;
  }
  size_t certs = 0;
  for (const auto& l : c->listeners) {
    certs += l.certificates.size();
  }
  fmt::print(
      "{}: ok ({} port{}, {} listener{}, {} certificate{}, {} worker{})\n",
      o.file, c->ports.size(), c->ports.size() == 1 ? "" : "s",
      c->listeners.size(), c->listeners.size() == 1 ? "" : "s", certs,
      certs == 1 ? "" : "s", c->engine.workers,
      c->engine.workers == 1 ? "" : "s");
  return kExitOk;
}

struct CertsOptions {
  std::string out_dir = ".";
  std::string name = "dptls.test";
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  int days = 30;
  bool force = false;
};

// Writes `data` to `path`, refusing to overwrite unless `force`; the key is
// created 0600.
bool write_file(const std::string& path, const std::string& data, bool force,
                mode_t mode) {
  if (!force && std::filesystem::exists(path)) {
    fmt::print(stderr, "dptls certs: {} exists (use --force to replace it)\n",
               path);
    return false;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out || chmod(path.c_str(), mode) != 0) {
    fmt::print(stderr, "dptls certs: cannot write {}\n", path);
    return false;
  }
  return true;
}

int run_certs(const CertsOptions& o) {
  config::SelfSignedOptions s;
  s.common_name = o.name;
  s.dns_names = o.dns;
  s.ip_addresses = o.ips;
  s.days = o.days;
  std::string cert, key, error;
  if (!config::make_self_signed(s, &cert, &key, &error)) {
    fmt::print(stderr, "dptls certs: {}\n", error);
    return kExitUsage;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  const std::string cert_path = o.out_dir + "/" + o.name + ".pem";
  const std::string key_path = o.out_dir + "/" + o.name + ".key";
  const bool ok = write_file(cert_path, cert, o.force, 0644) &&
                  write_file(key_path, key, o.force, 0600);
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) {
    return kExitFailure;
  }
  fmt::print(
      "wrote {} and {} (self-signed ECDSA P-256, {} days; for trying "
      "dptls out, not for production)\n",
      cert_path, key_path, o.days);
  return kExitOk;
}

}  // namespace

Command add_check_config_command(CLI::App& app) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check-config",
      "Read a configuration file and report every problem in it");
  cmd->add_option("file", o->file, "TOML configuration file")->required();
  cmd->add_flag("--skip-files", o->skip_files,
                "Do not load the certificate, key and CA files it names");
  return {cmd, [o] { return run_check_config(*o); }};
}

Command add_certs_command(CLI::App& app) {
  auto o = std::make_shared<CertsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "certs", "Make a self-signed ECDSA certificate for trying dptls out");
  cmd->add_option("--out", o->out_dir, "Directory to write NAME.pem/NAME.key")
      ->capture_default_str();
  cmd->add_option("--name", o->name, "Common name (also a DNS name)")
      ->capture_default_str();
  cmd->add_option("--dns", o->dns, "More DNS names (repeatable)");
  cmd->add_option("--ip", o->ips, "IP addresses for subjectAltName");
  cmd->add_option("--days", o->days, "Validity in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  cmd->add_flag("--force", o->force, "Replace existing files");
  return {cmd, [o] { return run_certs(*o); }};
}

}  // namespace dptls::app
