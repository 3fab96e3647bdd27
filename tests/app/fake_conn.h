// An AppConn for tests: written plaintext goes to a string, write_space()
// is set by the test, and shutdown() / abort() are counted.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dptls/app/app.h"
#include "dptls/crypto/aead.h"

namespace dptls::app {

class FakeConn final : public AppConn {
 public:
  static constexpr size_t kUnlimited = SIZE_MAX;

  FakeConn() = default;
  ~FakeConn() = default;

  size_t write_space() const override {
    return shutdowns != 0 || aborts != 0 ? 0 : space;
  }

  size_t write(std::span<const uint8_t> bytes) override {
    ++writes;
    EXPECT_EQ(shutdowns, 0) << "write() after shutdown()";
    EXPECT_EQ(aborts, 0) << "write() after abort()";
    if (bytes.size() > write_space()) {
      ++over_space;
    }
    largest_write = std::max(largest_write, bytes.size());
    size_t n = std::min(bytes.size(), write_space());
    // A connection that takes less than it said it would.
    n -= std::min(n, short_by);
    out.append(reinterpret_cast<const char*>(bytes.data()), n);
    if (space != kUnlimited) {
      space -= n;
    }
    return n;
  }

  void shutdown() override { ++shutdowns; }
  void abort() override { ++aborts; }
  std::string_view alpn() const override { return {}; }
  std::string_view server_name() const override { return {}; }
  std::string_view peer_identity() const override { return {}; }

  // A new connection: the worker zeroes the state before on_open().
  void reset() {
    std::memset(state(), 0, kAppStateBytes);
    out.clear();
    space = kUnlimited;
    short_by = 0;
    shutdowns = aborts = writes = over_space = largest_write = 0;
  }

  std::string out;
  size_t space = kUnlimited;
  size_t short_by = 0;  // write() takes this many bytes less than it could
  size_t shutdowns = 0;
  size_t aborts = 0;
  size_t writes = 0;
  size_t over_space = 0;  // write() calls offering more than write_space()
  size_t largest_write = 0;
};

// Keeps byte buffers alive for the IoSegments that point into them.
class Segments {
 public:
  // One segment per piece.
  explicit Segments(const std::vector<std::string>& pieces) {
    for (const std::string& p : pieces) {
      bufs_.emplace_back(p.begin(), p.end());
    }
    for (std::vector<uint8_t>& b : bufs_) {
      segs_.push_back({b.data(), b.size()});
    }
  }

  // Moving keeps the buffers (and so the segments' pointers); copying would
  // not.
  Segments(const Segments&) = delete;
  Segments& operator=(const Segments&) = delete;
  Segments(Segments&&) = default;
  Segments& operator=(Segments&&) = default;

  // `text` in segments of `size` bytes (the last may be shorter).
  static Segments split(std::string_view text, size_t size) {
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size(); i += size) {
      pieces.emplace_back(text.substr(i, size));
    }
    return Segments(pieces);
  }

  std::span<const crypto::IoSegment> span() const { return segs_; }

 private:
  std::vector<std::vector<uint8_t>> bufs_;
  std::vector<crypto::IoSegment> segs_;
};

}  // namespace dptls::app
