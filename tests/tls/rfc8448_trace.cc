#include "tls/rfc8448_trace.h"

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/aead_test_support.h"

namespace dptls::tls::testing {

namespace {

using ::dptls::crypto::testing::HexDecode;
using ::dptls::crypto::testing::VectorsDir;

std::string Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])) != 0) {
    ++b;
  }
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])) != 0) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

// "01 ab ff" -> bytes; false on anything but space-separated hex pairs.
bool DecodeSpacedHex(std::string_view text, Bytes* out) {
  std::string compact;
  std::istringstream in{std::string(text)};
  std::string pair;
  while (in >> pair) {
    if (pair.size() != 2) {
      return false;
    }
    compact += pair;
  }
  Bytes decoded;
  if (!HexDecode(compact, &decoded)) {
    return false;
  }
  out->insert(out->end(), decoded.begin(), decoded.end());
  return true;
}

bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

const TraceField* TraceStep::field(std::string_view label) const {
  for (const TraceField& f : fields) {
    if (f.label == label) {
      return &f;
    }
  }
  return nullptr;
}

std::string TraceStep::quoted_label() const {
  const size_t open = action.find("\"tls13 ");
  if (open == std::string::npos) {
    return "";
  }
  const size_t start = open + 7;
  const size_t close = action.find('"', start);
  return close == std::string::npos ? "" : action.substr(start, close - start);
}

std::vector<const TraceStep*> Rfc8448Trace::find(
    int section, std::string_view who, std::string_view action) const {
  std::vector<const TraceStep*> found;
  for (const TraceStep& s : steps) {
    if (s.section == section && s.who == who && s.action == action) {
      found.push_back(&s);
    }
  }
  return found;
}

bool ParseRfc8448(std::string_view text, Rfc8448Trace* out,
                  std::string* error) {
  *out = Rfc8448Trace();
  static const std::regex kPageFooter(
      R"(^Thomson\s+Informational\s+\[Page \d+\]\s*$)");
  static const std::regex kPageHeader(
      R"(^RFC 8448\s+TLS 1\.3 Traces\s+\w+ \d{4}\s*$)");
  static const std::regex kSection(R"(^(\d+)\.\s+(\S.*?)\s*$)");
  static const std::regex kStep(R"(^   \{(client|server)\}\s+(.*?)\s*$)");
  static const std::regex kField(
      R"(^      ([A-Za-z][A-Za-z ]*?) \((\d+) octets\):\s*(.*?)\s*$)");
  static const std::regex kZeroSalt(
      R"(^      salt:\s+0 \(all zero octets\)\s*$)");
  static const std::regex kHexLine(R"(^\s+[0-9a-f]{2}( [0-9a-f]{2})*\s*$)");

  // Split into lines; form feeds, page headers and footers become blank
  // lines so a hex block split by a page break reads as one.
  std::vector<std::string> lines;
  {
    std::string current;
    for (char c : text) {
      if (c == '\n') {
        lines.push_back(current);
        current.clear();
      } else if (c != '\f' && c != '\r') {
        current.push_back(c);
      }
    }
    lines.push_back(current);
    for (std::string& line : lines) {
      if (std::regex_match(line, kPageFooter) ||
          std::regex_match(line, kPageHeader)) {
        line.clear();
      }
    }
  }

  int section = 0;
  TraceStep* step = nullptr;
  bool action_open = false;  // the step's action may wrap to the next line
  auto fail = [error](size_t line_no, const std::string& why) {
    *error = "rfc8448 line " + std::to_string(line_no) + ": " + why;
    return false;
  };

  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const size_t line_no = i + 1;
    std::smatch m;
    if (line.empty() || Trim(line).empty()) {
      action_open = false;
      continue;
    }
    if (std::regex_match(line, m, kSection)) {
      section = std::stoi(m[1].str());
      out->section_titles[section] = m[2].str();
      step = nullptr;
      action_open = false;
      continue;
    }
    if (std::regex_match(line, m, kStep)) {
      if (section == 0) {
        return fail(line_no, "step before any section");
      }
      TraceStep s;
      s.section = section;
      s.who = m[1].str();
      s.action = m[2].str();
      s.line = line_no;
      out->steps.push_back(std::move(s));
      step = &out->steps.back();
      action_open = step->action.empty() || step->action.back() != ':';
      if (!action_open) {
        step->action.pop_back();
      }
      continue;
    }
    if (step == nullptr) {
      continue;  // prose outside the traces
    }
    if (std::regex_match(line, kZeroSalt)) {
      TraceField f;
      f.label = "salt";
      f.all_zero_salt = true;
      f.line = line_no;
      step->fields.push_back(std::move(f));
      action_open = false;
      continue;
    }
    if (std::regex_match(line, m, kField)) {
      TraceField f;
      f.label = m[1].str();
      f.line = line_no;
      const size_t octets = std::stoul(m[2].str());
      const std::string first = m[3].str();
      if (first == "(empty)") {
        if (octets != 0) {
          return fail(line_no, "(empty) with a non-zero octet count");
        }
      } else {
        if (!DecodeSpacedHex(first, &f.value)) {
          return fail(line_no, "bad hex in " + f.label);
        }
        // Continuation lines, across blank lines (page breaks), until the
        // next line that is not hex.
        size_t j = i + 1;
        while (j < lines.size() && f.value.size() < octets) {
          if (Trim(lines[j]).empty()) {
            ++j;
            continue;
          }
          if (!std::regex_match(lines[j], kHexLine)) {
            break;
          }
          if (!DecodeSpacedHex(lines[j], &f.value)) {
            return fail(j + 1, "bad hex continuing " + f.label);
          }
          ++j;
        }
        i = j - 1;
      }
      if (f.value.size() != octets) {
        return fail(line_no, f.label + " says " + std::to_string(octets) +
                                 " octets, hex has " +
                                 std::to_string(f.value.size()));
      }
      step->fields.push_back(std::move(f));
      action_open = false;
      continue;
    }
    if (action_open) {
      // The wrapped rest of an action, e.g. "(same as server handshake" /
      // "secret)".
      std::string rest = Trim(line);
      step->action += " " + rest;
      if (!step->action.empty() && step->action.back() == ':') {
        step->action.pop_back();
        action_open = false;
      }
      continue;
    }
    if (line.find("octets)") != std::string::npos ||
        std::regex_match(line, kHexLine)) {
      return fail(line_no, "unparsed field or stray hex: " + Trim(line));
    }
    // Any other line ends the trace part of the section (prose).
  }
  if (out->steps.empty()) {
    *error = "no trace steps found";
    return false;
  }
  return true;
}

bool LoadRfc8448(Rfc8448Trace* out, std::string* error) {
  std::string text;
  if (!ReadFile((VectorsDir() / "rfc8448" / "rfc8448.txt").string(), &text,
                error)) {
    return false;
  }
  return ParseRfc8448(text, out, error);
}

bool LoadBotanTranscripts(BotanTranscripts* out, std::string* error) {
  out->clear();
  std::string text;
  if (!ReadFile(
          (VectorsDir() / "rfc8448" / "botan" / "transcripts.vec").string(),
          &text, error)) {
    return false;
  }
  std::istringstream in(text);
  std::string line;
  std::string section;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    line = Trim(line);
    if (line.empty() || line[0] == '#') {
      continue;
    }
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos || section.empty()) {
      *error = "transcripts.vec line " + std::to_string(line_no) +
               ": not 'Key = value'";
      return false;
    }
    const std::string key = Trim(line.substr(0, eq));
    const std::string value = Trim(line.substr(eq + 1));
    Bytes bytes;
    if (HexDecode(value, &bytes)) {
      (*out)[section][key] = std::move(bytes);
    }
    // Non-hex values (PskIdentity = rfc8448, PskPRF = SHA-256) are not
    // needed here.
  }
  return !out->empty();
}

}  // namespace dptls::tls::testing
