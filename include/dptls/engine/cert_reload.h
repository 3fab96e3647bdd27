// Certificate reload while the engine runs (SIGHUP to `dptls run`, or
// POST /reload on the admin port; docs/configuration.md, "Reloading
// certificates"). The control plane reads the configuration file again,
// checks all of it as at start-up (every certificate, key, CA and OCSP
// file loaded, each key against its certificate), builds a complete new
// set of contexts with the running ticket keys, and only then publishes it
// (HandshakeThreads::replace_contexts()). All or nothing: any failure keeps
// the contexts in use untouched.
//
//   CertificateReloader reloader(config, contexts, now_s);   // at start
//   // on SIGHUP, in the control plane loop:
//   auto r = reloader.reload(
//       [&](const ServerContexts& c, std::string* e) {
//         return hs.replace_contexts(c, e);
//       },
//       now_s);
//
// What is applied: per listener (matched by position) its certificates
// (chain, key, ocsp_response, sni) and client_ca. Everything else read from
// the file is compared with the running configuration and reported in
// Result::needs_restart, not applied. A file whose listeners are more or
// fewer than the running ones is refused (a restart adds or removes
// listeners).
//
// Control plane only, one thread (not thread-safe); allocates and reads
// files. Nothing here runs on a worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dptls/config/config.h"
#include "dptls/engine/handshake_service.h"

namespace dptls::engine {

class CertificateReloader {
 public:
  struct Result {
    bool ok = false;
    // Why it failed (not ok): every problem, each naming its file and
    // reason, joined by "; ".
    std::string error;
    // What differs from the contexts that were in use (ok):
    // "listener[0] (198.18.0.2:443): certificate[1]",
    // "listener[0] (198.18.0.2:443): client_ca"; empty when the files are
    // the same as before.
    std::vector<std::string> changed;
    // Sections of the file that differ from the running configuration and
    // were not applied: "[engine]", "[[port]]", "listener[0]
    // (198.18.0.2:443)", ... (ok or not, when the file could be read).
    std::vector<std::string> needs_restart;
  };
  // Publishes new contexts to the handshake threads; false with *error
  // set when it could not (nothing published).
  using Publish =
      std::function<bool(const ServerContexts&, std::string* error)>;

  // `running`: the configuration the engine runs (its `file` is read again
  // on every reload); `contexts`: the contexts built from it, whose
  // ticket keys every reload keeps. `now_s`: Unix seconds (the first
  // successful load).
  CertificateReloader(config::Config running, ServerContexts contexts,
                      uint64_t now_s);

  // Reads and checks the file, builds the contexts, publishes them with
  // `publish`; counted as a reload (ok) or a failure. On failure the
  // reloader, like the engine, keeps what it had.
  Result reload(const Publish& publish, uint64_t now_s);
  // The same with a configuration already parsed instead of the file
  // (`fresh` must have passed load_config_*(..., check_files = true) or be
  // trusted; its files are read again here).
  Result reload_from(const config::Config& fresh, const Publish& publish,
                     uint64_t now_s);

  uint64_t reloads() const { return reloads_; }
  uint64_t failures() const { return failures_; }
  // Unix seconds of the last successful reload (the start until then).
  uint64_t last_success_s() const { return last_success_s_; }
  // The contexts in use (the last published).
  const ServerContexts& contexts() const { return contexts_; }

  // Appends, as Prometheus text: dptls_reloads_total,
  // dptls_reload_failures_total,
  // dptls_reload_last_success_timestamp_seconds and, per certificate in
  // use, dptls_certificate_not_after_timestamp_seconds{listener="0",
  // certificate="0"} (the leaf's notAfter, for expiry alerts).
  void render_prometheus(std::string* out) const;

 private:
  Result fail(Result r);
  void note_expiry();

  config::Config running_;  // certificate material as last applied
  ServerContexts contexts_;
  uint64_t reloads_ = 0;
  uint64_t failures_ = 0;
  uint64_t last_success_s_ = 0;
  // Per listener, per certificate: the leaf's notAfter (Unix seconds; 0
  // when it could not be read).
  std::vector<std::vector<int64_t>> not_after_;
};

}  // namespace dptls::engine
