// Certificate reload: the configuration file read and checked again, new
// contexts built with the running ticket keys, what changed and what would
// need a restart, and the reload metrics.
#include "dptls/engine/cert_reload.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <utility>

namespace dptls::engine {

namespace {

// The leaf's notAfter in Unix seconds; 0 when it cannot be read.
int64_t leaf_not_after(const tls::Credential& cred) {
  if (cred.chain().empty()) {
    return 0;
  }
  const std::vector<uint8_t>& der = cred.chain().front();
  const unsigned char* p = der.data();
  std::unique_ptr<X509, decltype(&X509_free)> leaf(
      d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
  tm t{};
  if (leaf == nullptr ||
      ASN1_TIME_to_tm(X509_get0_notAfter(leaf.get()), &t) != 1) {
    return 0;
  }
  return static_cast<int64_t>(timegm(&t));
}

bool same_credential(const tls::Credential& a, const tls::Credential& b) {
  return std::equal(a.chain().begin(), a.chain().end(), b.chain().begin(),
                    b.chain().end()) &&
         std::ranges::equal(a.ocsp_response(), b.ocsp_response()) &&
         a.names() == b.names();
}

// The listener without what a reload applies.
config::ListenerSection without_certificates(config::ListenerSection l) {
  l.certificates.clear();
  l.client_ca_file.clear();
  return l;
}

// The sections of `fresh` that differ from `running` other than the
// certificate material.
std::vector<std::string> needs_restart(const config::Config& running,
                                       const config::Config& fresh) {
  std::vector<std::string> out;
  const auto check = [&](bool same, const char* name) {
    if (!same) {
      out.emplace_back(name);
    }
  };
  check(running.engine == fresh.engine, "[engine]");
  check(running.dpdk == fresh.dpdk, "[dpdk]");
  check(running.ports == fresh.ports, "[[port]]");
  check(running.timeouts == fresh.timeouts, "[timeouts]");
  check(running.limits == fresh.limits, "[limits]");
  check(running.tcp == fresh.tcp, "[tcp]");
  check(running.tickets == fresh.tickets, "[tickets]");
  check(running.admin == fresh.admin, "[admin]");
  check(running.fault == fresh.fault, "[fault]");
  const size_t n = std::min(running.listeners.size(), fresh.listeners.size());
  for (size_t i = 0; i < n; ++i) {
    if (!(without_certificates(running.listeners[i]) ==
          without_certificates(fresh.listeners[i]))) {
      out.push_back(listener_name(running, i));
    }
  }
  if (running.listeners.size() != fresh.listeners.size()) {
    out.emplace_back("[[listener]] count");
  }
  return out;
}

// What differs between the contexts in use and the new ones, listener by
// listener (same count).
std::vector<std::string> changes(const config::Config& cfg,
                                 const ServerContexts& old_ctx,
                                 const ServerContexts& new_ctx) {
  std::vector<std::string> out;
  for (size_t i = 0; i < new_ctx.size() && i < old_ctx.size(); ++i) {
    const std::string who = listener_name(cfg, i);
    const auto before = old_ctx[i]->certs().credentials();
    const auto after = new_ctx[i]->certs().credentials();
    for (size_t c = 0; c < std::max(before.size(), after.size()); ++c) {
      if (c >= before.size() || c >= after.size() ||
          !same_credential(*before[c], *after[c])) {
        out.push_back(who + ": certificate[" + std::to_string(c) + "]" +
                      (c >= after.size() ? " removed" : ""));
      }
    }
    if (old_ctx[i]->config().client_ca_pem !=
        new_ctx[i]->config().client_ca_pem) {
      out.push_back(who + ": client_ca");
    }
  }
  return out;
}

}  // namespace

CertificateReloader::CertificateReloader(config::Config running,
                                         ServerContexts contexts,
                                         uint64_t now_s)
    : running_(std::move(running)),
      contexts_(std::move(contexts)),
      last_success_s_(now_s) {
  note_expiry();
}

CertificateReloader::Result CertificateReloader::fail(Result r) {
  ++failures_;
  r.ok = false;
  return r;
}

CertificateReloader::Result CertificateReloader::reload(const Publish& publish,
                                                        uint64_t now_s) {
  std::vector<config::ConfigError> errors;
  const std::optional<config::Config> fresh =
      config::load_config_file(running_.file, &errors, true);
  if (!fresh) {
    Result r;
    for (const config::ConfigError& e : errors) {
      if (!r.error.empty()) {
        r.error += "; ";
      }
      r.error += e.to_string();
    }
    if (r.error.empty()) {
      r.error = running_.file + ": cannot be loaded";
    }
    return fail(std::move(r));
  }
  return reload_from(*fresh, publish, now_s);
}

CertificateReloader::Result CertificateReloader::reload_from(
    const config::Config& fresh, const Publish& publish, uint64_t now_s) {
  Result r;
  r.needs_restart = needs_restart(running_, fresh);
  if (fresh.listeners.size() != running_.listeners.size()) {
    r.error = fresh.file + ": " + std::to_string(fresh.listeners.size()) +
              " listener(s), the engine runs " +
              std::to_string(running_.listeners.size()) +
              "; adding or removing listeners needs a restart";
    return fail(std::move(r));
  }
  // The running configuration with the new certificate material: only
  // that is applied.
  config::Config next = running_;
  for (size_t i = 0; i < next.listeners.size(); ++i) {
    next.listeners[i].certificates = fresh.listeners[i].certificates;
    next.listeners[i].client_ca_file = fresh.listeners[i].client_ca_file;
  }
  std::string err;
  ServerContexts built = build_server_contexts(
      next, contexts_.front()->config().ticket_keys, &err);
  if (built.empty()) {
    r.error = err;
    return fail(std::move(r));
  }
  if (!publish(built, &err)) {
    r.error = err;
    return fail(std::move(r));
  }
  r.changed = changes(next, contexts_, built);
  r.ok = true;
  running_ = std::move(next);
  // The previous contexts are released here; each is freed (its private
  // keys with EVP_PKEY_free) when its last handshake ends.
  contexts_ = std::move(built);
  ++reloads_;
  last_success_s_ = now_s;
  note_expiry();
  return r;
}

void CertificateReloader::note_expiry() {
  not_after_.clear();
  for (const auto& ctx : contexts_) {
    std::vector<int64_t>& l = not_after_.emplace_back();
    for (const auto& cred : ctx->certs().credentials()) {
      l.push_back(leaf_not_after(*cred));
    }
  }
}

void CertificateReloader::render_prometheus(std::string* out) const {
  *out += "# TYPE dptls_reloads_total counter\ndptls_reloads_total " +
          std::to_string(reloads_) + "\n";
  *out +=
      "# TYPE dptls_reload_failures_total counter\n"
      "dptls_reload_failures_total " +
      std::to_string(failures_) + "\n";
  *out +=
      "# TYPE dptls_reload_last_success_timestamp_seconds gauge\n"
      "dptls_reload_last_success_timestamp_seconds " +
      std::to_string(last_success_s_) + "\n";
  *out += "# TYPE dptls_certificate_not_after_timestamp_seconds gauge\n";
  for (size_t l = 0; l < not_after_.size(); ++l) {
    for (size_t c = 0; c < not_after_[l].size(); ++c) {
      *out += "dptls_certificate_not_after_timestamp_seconds{listener=\"" +
              std::to_string(l) + "\",certificate=\"" + std::to_string(c) +
              "\"} " + std::to_string(not_after_[l][c]) + "\n";
    }
  }
}

}  // namespace dptls::engine
