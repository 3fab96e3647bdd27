// A reader for the traces of RFC 8448 as the RFC prints them, so the key
// schedule tests take their expected values from the RFC text itself
// rather than from hex pasted into the tests.
//
// The RFC's shape, per section ("3.  Simple 1-RTT Handshake"):
//
//    {server}  derive secret "tls13 c hs traffic":
//
//       PRK (32 octets):  1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01
//          04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac
//
// A step is "{client}" or "{server}" and an action (which may wrap onto the
// next line); its fields are "label (N octets):  hex..." blocks, which may
// run across a page break. The parser drops page headers and footers,
// checks every field against its octet count and refuses anything it does
// not understand that looks like a field, so a value can't be misread
// without an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dptls::tls::testing {

using Bytes = std::vector<uint8_t>;

struct TraceField {
  std::string label;  // "PRK", "key expanded", "ClientHello prefix", ...
  Bytes value;        // empty for "(empty)" and for "salt:  0"
  bool all_zero_salt = false;  // "salt:  0 (all zero octets)"
  size_t line = 0;             // 1-based line of the label in the text
};

struct TraceStep {
  int section = 0;     // 3 = "Simple 1-RTT Handshake", ...
  std::string who;     // "client" or "server"
  std::string action;  // e.g. derive secret "tls13 c hs traffic"; no colon
  std::vector<TraceField> fields;
  size_t line = 0;

  // The field with this label, or nullptr.
  const TraceField* field(std::string_view label) const;
  // The HKDF label quoted in the action without its "tls13 " prefix
  // ("c hs traffic"), or "" when the action quotes none.
  std::string quoted_label() const;
};

struct Rfc8448Trace {
  std::map<int, std::string> section_titles;
  std::vector<TraceStep> steps;

  // Every step of `section` by `who` whose action is exactly `action`, in
  // text order.
  std::vector<const TraceStep*> find(int section, std::string_view who,
                                     std::string_view action) const;
};

// Parses RFC 8448 text. Returns false with *error naming the line on
// anything malformed (an octet count that does not match the hex, a field
// line it cannot read, bad hex).
bool ParseRfc8448(std::string_view text, Rfc8448Trace* out, std::string* error);

// Loads and parses VectorsDir()/rfc8448/rfc8448.txt.
bool LoadRfc8448(Rfc8448Trace* out, std::string* error);

// Botan's transcripts.vec: [Section] headers and "Key = hex" lines.
using BotanTranscripts = std::map<std::string, std::map<std::string, Bytes>>;
// Loads VectorsDir()/rfc8448/botan/transcripts.vec.
bool LoadBotanTranscripts(BotanTranscripts* out, std::string* error);

}  // namespace dptls::tls::testing
