#include "support/aead_test_support.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace dptls::crypto {

void PrintTo(AeadStatus status, std::ostream* os) {
  *os << aead_status_name(status);
}
void PrintTo(AeadAlg alg, std::ostream* os) { *os << aead_alg_name(alg); }
void PrintTo(BackendKind kind, std::ostream* os) {
  *os << backend_kind_name(kind);
}
void PrintTo(CpuPath path, std::ostream* os) { *os << cpu_path_name(path); }

}  // namespace dptls::crypto

namespace dptls::crypto::testing {

namespace {

int HexNibble(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

bool HexDecode(std::string_view hex, Bytes* out) {
  out->clear();
  if (hex.size() % 2 != 0) {
    return false;
  }
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexNibble(hex[i]);
    const int lo = HexNibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      out->clear();
      return false;
    }
    out->push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 0xF]);
  }
  return s;
}

Bytes RandomBytes(std::mt19937_64& rng, size_t len) {
  Bytes out(len);
  size_t i = 0;
  while (i < len) {
    uint64_t word = rng();
    for (int j = 0; j < 8 && i < len; ++j, ++i) {
      out[i] = static_cast<uint8_t>(word);
      word >>= 8;
    }
  }
  return out;
}

size_t RandomSize(std::mt19937_64& rng, size_t lo, size_t hi) {
  return std::uniform_int_distribution<size_t>(lo, hi)(rng);
}

std::vector<size_t> SingleSegment(size_t total) { return {total}; }

std::vector<size_t> OneByteSegments(size_t total) {
  std::vector<size_t> lengths = {0};
  for (size_t i = 0; i < total; ++i) {
    lengths.push_back(1);
    if (i == total / 2) {
      lengths.push_back(0);
    }
  }
  lengths.push_back(0);
  return lengths;
}

std::vector<size_t> RandomSegments(size_t total, std::mt19937_64& rng) {
  std::vector<size_t> lengths;
  if (total == 0) {
    // Either no segment at all or a few empty ones.
    const size_t n = RandomSize(rng, 0, 2);
    lengths.assign(n, 0);
    return lengths;
  }
  // Make sure each layout has at least one empty and one 1-byte segment.
  const size_t empty_at = RandomSize(rng, 0, 3);
  bool one_byte_done = false;
  size_t left = total;
  while (left > 0) {
    if (lengths.size() == empty_at) {
      lengths.push_back(0);
      continue;
    }
    const size_t kind = RandomSize(rng, 0, 9);
    size_t len = 0;
    if (!one_byte_done || kind < 2) {
      len = 1;
      one_byte_done = true;
    } else if (kind < 3) {
      len = 0;
    } else if (kind < 6) {
      len = RandomSize(rng, 1, std::min<size_t>(left, 33));
    } else if (kind < 8) {
      len = RandomSize(rng, 1, std::min<size_t>(left, 1500));
    } else {
      len = RandomSize(rng, 1, left);
    }
    lengths.push_back(len);
    left -= len;
  }
  if (lengths.size() <= empty_at || RandomSize(rng, 0, 1) == 0) {
    lengths.push_back(0);
  }
  return lengths;
}

ScatteredMessage::ScatteredMessage(std::span<const uint8_t> content,
                                   const std::vector<size_t>& lengths,
                                   std::mt19937_64& rng) {
  size_t total = 0;
  for (size_t len : lengths) {
    total += len;
  }
  // The layout must cover the content exactly; a mistake here is a bug in
  // the test itself.
  if (total != content.size()) {
    ADD_FAILURE() << "segment lengths sum to " << total << ", content has "
                  << content.size();
    return;
  }
  total_ = total;
  // Gaps before each segment: 0..7 bytes (0 keeps some segments adjacent);
  // at least 16 guard bytes at the end.
  std::vector<size_t> gaps;
  size_t backing_size = 0;
  for (size_t len : lengths) {
    gaps.push_back(RandomSize(rng, 0, 7));
    backing_size += gaps.back() + len;
  }
  const size_t tail = 16;
  backing_size += tail;
  backing_.assign(backing_size, kGuard);
  size_t offset = 0;
  size_t consumed = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (gaps[i] != 0) {
      guards_.emplace_back(offset, gaps[i]);
    }
    offset += gaps[i];
    IoSegment seg;
    seg.len = lengths[i];
    if (seg.len == 0 && RandomSize(rng, 0, 1) == 0) {
      seg.data = nullptr;
    } else {
      seg.data = backing_.data() + offset;
    }
    if (seg.len != 0) {
      std::memcpy(seg.data, content.data() + consumed, seg.len);
    }
    segs_.push_back(seg);
    offset += seg.len;
    consumed += seg.len;
  }
  guards_.emplace_back(offset, tail);
}

Bytes ScatteredMessage::Gather() const {
  Bytes out;
  out.reserve(total_);
  for (const IoSegment& seg : segs_) {
    if (seg.len != 0) {
      out.insert(out.end(), seg.data, seg.data + seg.len);
    }
  }
  return out;
}

bool ScatteredMessage::AllSegmentBytesZero() const {
  for (const IoSegment& seg : segs_) {
    for (size_t i = 0; i < seg.len; ++i) {
      if (seg.data[i] != 0) {
        return false;
      }
    }
  }
  return true;
}

bool ScatteredMessage::GuardsIntact() const {
  for (const auto& [offset, len] : guards_) {
    for (size_t i = 0; i < len; ++i) {
      if (backing_[offset + i] != kGuard) {
        return false;
      }
    }
  }
  return true;
}

std::string ScatteredMessage::Layout() const {
  std::ostringstream os;
  os << segs_.size() << " segments [";
  for (size_t i = 0; i < segs_.size() && i < 24; ++i) {
    os << (i == 0 ? "" : ",") << segs_[i].len
       << (segs_[i].data == nullptr ? "(null)" : "");
  }
  if (segs_.size() > 24) {
    os << ",...";
  }
  os << "]";
  return os.str();
}

AeadOp MakeOp(const AeadKey& key, AeadDir dir, std::span<const uint8_t> nonce,
              std::span<const uint8_t> aad, std::span<const IoSegment> segs,
              uint8_t* tag) {
  AeadOp op;
  op.key = &key;
  op.dir = dir;
  op.nonce = nonce;
  op.aad = aad;
  op.segs = segs;
  op.tag = tag;
  return op;
}

std::unique_ptr<AeadBackend> MakeBackendOrFail(BackendKind kind, CpuPath path) {
  std::string error;
  BackendOptions options;
  options.cpu_path = path;
  std::unique_ptr<AeadBackend> backend = make_backend(kind, options, &error);
  if (backend == nullptr) {
    ADD_FAILURE() << "make_backend(" << backend_kind_name(kind) << ", "
                  << cpu_path_name(path) << ") failed: " << error;
  }
  return backend;
}

std::string SanitizedName(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9');
    out.push_back(alnum ? c : '_');
  }
  return out;
}

std::string BackendParamName(
    const ::testing::TestParamInfo<BackendKind>& info) {
  return SanitizedName(backend_kind_name(info.param));
}

std::string AlgParamName(const ::testing::TestParamInfo<AeadAlg>& info) {
  return SanitizedName(aead_alg_name(info.param));
}

void BackendTest::SetUp() {
  backend_ = MakeBackendOrFail(GetParam());
  ASSERT_NE(backend_, nullptr);
  ASSERT_EQ(backend_->kind(), GetParam());
}

OneShot RunScattered(AeadBackend& backend, const AeadKey& key, AeadDir dir,
                     std::span<const uint8_t> nonce,
                     std::span<const uint8_t> aad,
                     std::span<const uint8_t> input,
                     const std::vector<size_t>& lengths,
                     std::span<const uint8_t> tag_in, std::mt19937_64& rng) {
  ScatteredMessage msg(input, lengths, rng);
  Bytes tag(kAeadTagLen, 0);
  std::copy_n(tag_in.begin(), std::min(tag_in.size(), tag.size()), tag.begin());
  AeadOp op = MakeOp(key, dir, nonce, aad, msg.segs(), tag.data());
  OneShot result;
  result.status = backend.run_one(op);
  if (op.status != result.status) {
    ADD_FAILURE() << "run_one returned " << aead_status_name(result.status)
                  << " but op.status is " << aead_status_name(op.status);
  }
  result.data = msg.Gather();
  result.tag = std::move(tag);
  result.guards_intact = msg.GuardsIntact();
  result.all_zero = msg.AllSegmentBytesZero();
  return result;
}

std::filesystem::path VectorsDir() {
  const char* env = std::getenv("DPTLS_VECTORS");
  if (env != nullptr && env[0] != '\0') {
    return env;
  }
#ifdef DPTLS_VECTORS_DIR
  return DPTLS_VECTORS_DIR;
#else
  return "tests/vectors";
#endif
}

}  // namespace dptls::crypto::testing
