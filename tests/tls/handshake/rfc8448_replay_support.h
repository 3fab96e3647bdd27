// Support for replaying RFC 8448's traces through our state machines: the
// trace's values by (section, side, action, field), the RSA key of the
// RFC's section 2 built from its printed parameters, the certificates out
// of the trace's Certificate messages, and the signer hook that stands in
// for a randomized signature (RSA-PSS, ECDSA) by verifying the trace's
// signature over exactly the content our state machine asks to sign and
// then returning it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dptls/tls/handshake/server.h"
#include "tls/handshake/handshake_test_support.h"
#include "tls/rfc8448_trace.h"

namespace dptls::tls::testing {

// The trace, loaded once per process; fails the test (and returns an empty
// trace) when the file does not parse.
const Rfc8448Trace& Trace();

// The field `label` of the nth step of `section` by `who` whose action is
// `action`; empty with a test failure when there is none.
Bytes Field(int section, const char* who, const std::string& action,
            const char* label, size_t nth = 0);

// The value of a traffic secret step: "derive secret \"tls13 c hs
// traffic\"" and the like, field "expanded".
Bytes TraceSecret(int section, const char* label);

// The private key of RFC 8448 section 2 (the RSA server key of sections 3,
// 4, 5 and 7), built with EVP_PKEY_fromdata from the modulus, exponents,
// primes and coefficient the RFC prints; nullptr with a test failure when
// they do not parse or do not form a valid key.
Ptr<EVP_PKEY> Section2RsaKey();

// The certificates of a Certificate handshake message (RFC 8446 section
// 4.4.2), DER, leaf first; empty with a test failure when malformed.
std::vector<Bytes> CertificatesOf(const Bytes& certificate_message);

// What a TraceSigner saw.
struct SignerLog {
  int calls = 0;
  bool verified = false;  // the trace's signature verified over the content
};

// A TestSigner returning the signature of `certificate_verify_message` (a
// trace's CertificateVerify) after verifying it, under `leaf_der`'s public
// key and the trace's scheme, over the content the state machine passes:
// so it signs only when our transcript up to the CertificateVerify is the
// trace's byte for byte. A mismatch (scheme or signature) fails the test
// and the handshake (only the handshake when `mismatch_is_failure` is
// false, for tests that expect one). `log` (optional) must outlive the
// signer.
TestSigner TraceSigner(const Bytes& leaf_der,
                       const Bytes& certificate_verify_message, SignerLog* log,
                       bool mismatch_is_failure = true);

// Wire-format secrets our keylog callback saw, by NSS label.
using KeylogMap = std::map<std::string, Bytes>;

// The keylog secrets RFC 8448 prints for `section`: the handshake and
// application traffic secrets and the exporter master secret.
KeylogMap ExpectedKeylog(int section);

// What the peer's post-handshake records delivered through the engine.
struct EngineReplayLog {
  std::vector<Bytes> post_handshake;  // whole messages (NewSessionTicket)
  Bytes data;                         // application data
  bool close_notify = false;
};

// The traces' post-handshake records (RFC 8448 sections 3 and 4), through
// the worker's RecordEngine installed with `res` as the hand-off does:
// this side's (res.is_client) last application_data record and its
// close_notify alert record, sealed from the trace's plaintext, must be
// the trace's bytes; the peer's application_data and alert records (after
// `peer_prefix`, e.g. the server's NewSessionTicket record on a client)
// are opened, and what they delivered goes to *log.
void ExpectTraceApplicationRecords(int section, const HandshakeResult& res,
                                   const Bytes& peer_prefix,
                                   EngineReplayLog* log);

}  // namespace dptls::tls::testing
