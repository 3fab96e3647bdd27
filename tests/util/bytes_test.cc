// ByteReader and ByteWriter: every width, length-prefixed vectors, and the
// failure rules the parsers rely on (a failed read leaves the cursor where
// it was; a failed write makes the writer fail for good).
#include "dptls/util/bytes.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dptls {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Iota(size_t n, uint8_t first = 1) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<uint8_t>(first + i);
  }
  return out;
}

TEST(ByteReaderTest, ReadsEveryWidthBigEndian) {
  const Bytes data = Iota(1 + 2 + 3 + 4 + 6 + 8);
  ByteReader r(data);
  uint8_t v8 = 0;
  uint16_t v16 = 0;
  uint32_t v24 = 0;
  uint32_t v32 = 0;
  uint64_t v48 = 0;
  uint64_t v64 = 0;
  ASSERT_TRUE(r.u8(&v8));
  EXPECT_EQ(v8, 0x01);
  ASSERT_TRUE(r.u16(&v16));
  EXPECT_EQ(v16, 0x0203);
  ASSERT_TRUE(r.u24(&v24));
  EXPECT_EQ(v24, 0x040506u);
  ASSERT_TRUE(r.u32(&v32));
  EXPECT_EQ(v32, 0x0708090Au);
  ASSERT_TRUE(r.u48(&v48));
  EXPECT_EQ(v48, 0x0B0C0D0E0F10u);
  ASSERT_TRUE(r.u64(&v64));
  EXPECT_EQ(v64, 0x1112131415161718u);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.position(), data.size());
  EXPECT_FALSE(r.u8(&v8));
}

TEST(ByteReaderTest, AllOnesAtEveryWidth) {
  const Bytes ff(8, 0xFF);
  uint8_t v8 = 0;
  uint16_t v16 = 0;
  uint32_t v32 = 0;
  uint64_t v64 = 0;
  EXPECT_TRUE(ByteReader(ff).u8(&v8));
  EXPECT_EQ(v8, 0xFF);
  EXPECT_TRUE(ByteReader(ff).u16(&v16));
  EXPECT_EQ(v16, 0xFFFF);
  EXPECT_TRUE(ByteReader(ff).u24(&v32));
  EXPECT_EQ(v32, 0xFFFFFFu);
  EXPECT_TRUE(ByteReader(ff).u32(&v32));
  EXPECT_EQ(v32, 0xFFFFFFFFu);
  EXPECT_TRUE(ByteReader(ff).u48(&v64));
  EXPECT_EQ(v64, 0xFFFFFFFFFFFFu);
  EXPECT_TRUE(ByteReader(ff).u64(&v64));
  EXPECT_EQ(v64, 0xFFFFFFFFFFFFFFFFu);
}

TEST(ByteReaderTest, BytesCopySkipAndRest) {
  const Bytes data = Iota(6);
  ByteReader r(data.data(), data.size());
  std::span<const uint8_t> view;
  ASSERT_TRUE(r.bytes(2, &view));
  EXPECT_EQ(Bytes(view.begin(), view.end()), (Bytes{1, 2}));
  EXPECT_EQ(view.data(), data.data()) << "bytes() must borrow, not copy";
  std::array<uint8_t, 2> copied{};
  ASSERT_TRUE(r.copy(copied));
  EXPECT_EQ(copied, (std::array<uint8_t, 2>{3, 4}));
  ASSERT_TRUE(r.skip(1));
  EXPECT_EQ(Bytes(r.rest().begin(), r.rest().end()), (Bytes{6}));
  EXPECT_EQ(r.remaining(), 1u);
  // Zero-length operations succeed anywhere, even at the end.
  ASSERT_TRUE(r.skip(1));
  EXPECT_TRUE(r.bytes(0, &view));
  EXPECT_TRUE(view.empty());
  EXPECT_TRUE(r.copy({}));
  EXPECT_TRUE(r.skip(0));
  EXPECT_FALSE(r.skip(1));
  // A default reader is empty and refuses everything but zero lengths.
  ByteReader none;
  uint8_t v = 0;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.u8(&v));
  EXPECT_TRUE(none.skip(0));
}

TEST(ByteReaderTest, FailedBytesCopySkipLeaveCursorAndOutputs) {
  const Bytes data = Iota(4);
  ByteReader r(data);
  ASSERT_TRUE(r.skip(1));
  std::span<const uint8_t> view = data;
  EXPECT_FALSE(r.bytes(4, &view));
  EXPECT_EQ(view.size(), data.size()) << "failed bytes() touched its output";
  std::array<uint8_t, 4> out{9, 9, 9, 9};
  EXPECT_FALSE(r.copy(out));
  EXPECT_EQ(out, (std::array<uint8_t, 4>{9, 9, 9, 9}));
  EXPECT_FALSE(r.skip(4));
  EXPECT_FALSE(r.skip(SIZE_MAX));
  EXPECT_EQ(r.position(), 1u);
}

TEST(ByteReaderTest, PrefixedVectorsOfEveryWidth) {
  // <1..> with a 1-, 2- and 3-byte length, then an empty one of each.
  const Bytes data = {0x02, 0xAA, 0xBB,              // 8
                      0x00, 0x03, 0xCC, 0xDD, 0xEE,  // 16
                      0x00, 0x00, 0x01, 0xFF,        // 24
                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  ByteReader r(data);
  ByteReader sub;
  ASSERT_TRUE(r.prefixed8(&sub));
  EXPECT_EQ(Bytes(sub.rest().begin(), sub.rest().end()), (Bytes{0xAA, 0xBB}));
  ASSERT_TRUE(r.prefixed16(&sub));
  EXPECT_EQ(Bytes(sub.rest().begin(), sub.rest().end()),
            (Bytes{0xCC, 0xDD, 0xEE}));
  ASSERT_TRUE(r.prefixed24(&sub));
  EXPECT_EQ(Bytes(sub.rest().begin(), sub.rest().end()), (Bytes{0xFF}));
  EXPECT_EQ(sub.position(), 0u) << "a sub-reader starts at its own start";
  ASSERT_TRUE(r.prefixed8(&sub));
  EXPECT_TRUE(sub.empty());
  ASSERT_TRUE(r.prefixed16(&sub));
  EXPECT_TRUE(sub.empty());
  ASSERT_TRUE(r.prefixed24(&sub));
  EXPECT_TRUE(sub.empty());
  EXPECT_TRUE(r.empty());
}

TEST(ByteReaderTest, PrefixedLengthBeyondTheDataFailsWithoutMoving) {
  for (size_t width : {1, 2, 3}) {
    SCOPED_TRACE(width);
    // Length = 3, but only 2 bytes follow.
    Bytes data(width, 0);
    data[width - 1] = 3;
    data.push_back(0x11);
    data.push_back(0x22);
    ByteReader r(data);
    const Bytes sentinel = {0x5A};
    ByteReader sub(sentinel);
    bool ok = width == 1   ? r.prefixed8(&sub)
              : width == 2 ? r.prefixed16(&sub)
                           : r.prefixed24(&sub);
    EXPECT_FALSE(ok);
    EXPECT_EQ(r.position(), 0u);
    EXPECT_EQ(sub.rest().data(), sentinel.data())
        << "failed prefixed read replaced the output";
  }
}

// One field of the composite message the truncation test parses.
struct Field {
  const char* name;
  std::function<bool(ByteReader&)> read;
};

TEST(ByteReaderTest, TruncationAtEveryPositionFailsAtTheRightFieldInPlace) {
  // Every reader operation in sequence; the encoded message is cut at every
  // length short of the whole and parsed again.
  Bytes msg = Iota(1 + 2 + 3 + 4 + 6 + 8);
  const Bytes tail = {0x02, 0xA1, 0xA2, 0x00, 0x01, 0xB1, 0x00, 0x00,
                      0x03, 0xC1, 0xC2, 0xC3, 0xD1, 0xD2, 0xE1};
  msg.insert(msg.end(), tail.begin(), tail.end());
  std::array<uint8_t, 1> copied{};
  const std::vector<Field> fields = {
      {"u8",
       [](ByteReader& r) {
         uint8_t v = 0;
         return r.u8(&v);
       }},
      {"u16",
       [](ByteReader& r) {
         uint16_t v = 0;
         return r.u16(&v);
       }},
      {"u24",
       [](ByteReader& r) {
         uint32_t v = 0;
         return r.u24(&v);
       }},
      {"u32",
       [](ByteReader& r) {
         uint32_t v = 0;
         return r.u32(&v);
       }},
      {"u48",
       [](ByteReader& r) {
         uint64_t v = 0;
         return r.u48(&v);
       }},
      {"u64",
       [](ByteReader& r) {
         uint64_t v = 0;
         return r.u64(&v);
       }},
      {"prefixed8",
       [](ByteReader& r) {
         ByteReader s;
         return r.prefixed8(&s);
       }},
      {"prefixed16",
       [](ByteReader& r) {
         ByteReader s;
         return r.prefixed16(&s);
       }},
      {"prefixed24",
       [](ByteReader& r) {
         ByteReader s;
         return r.prefixed24(&s);
       }},
      {"bytes",
       [](ByteReader& r) {
         std::span<const uint8_t> s;
         return r.bytes(2, &s);
       }},
      {"copy", [&copied](ByteReader& r) { return r.copy(copied); }},
  };
  // The whole message parses; note where each field ends.
  std::vector<size_t> ends;
  {
    ByteReader r(msg);
    for (const Field& f : fields) {
      ASSERT_TRUE(f.read(r)) << f.name;
      ends.push_back(r.position());
    }
    ASSERT_TRUE(r.empty());
  }
  size_t cases = 0;
  for (size_t cut = 0; cut < msg.size(); ++cut) {
    SCOPED_TRACE(::testing::Message() << "cut at " << cut);
    ByteReader r(std::span<const uint8_t>(msg).first(cut));
    size_t i = 0;
    for (; i < fields.size(); ++i) {
      const size_t before = r.position();
      if (!fields[i].read(r)) {
        EXPECT_EQ(r.position(), before)
            << fields[i].name << " moved the cursor when it failed";
        break;
      }
    }
    ASSERT_LT(i, fields.size()) << "a truncated message parsed whole";
    // The field that failed is the one the cut falls in.
    EXPECT_GT(ends[i], cut) << fields[i].name;
    EXPECT_TRUE(i == 0 || ends[i - 1] <= cut) << fields[i].name;
    ++cases;
  }
  EXPECT_EQ(cases, msg.size());
}

TEST(ByteReaderTest, EachWidthTruncatedAtEveryLength) {
  const Bytes data = Iota(8);
  for (size_t width : {1, 2, 3, 4, 6, 8}) {
    for (size_t len = 0; len < width; ++len) {
      SCOPED_TRACE(::testing::Message() << width << " of " << len);
      ByteReader r(std::span<const uint8_t>(data).first(len));
      uint64_t v64 = 0xDEAD;
      uint32_t v32 = 0xDEAD;
      uint16_t v16 = 0xDEAD;
      uint8_t v8 = 0xAD;
      bool ok = true;
      switch (width) {
        case 1:
          ok = r.u8(&v8);
          break;
        case 2:
          ok = r.u16(&v16);
          break;
        case 3:
          ok = r.u24(&v32);
          break;
        case 4:
          ok = r.u32(&v32);
          break;
        case 6:
          ok = r.u48(&v64);
          break;
        default:
          ok = r.u64(&v64);
          break;
      }
      EXPECT_FALSE(ok);
      EXPECT_EQ(r.position(), 0u);
      EXPECT_EQ(v64, 0xDEADu);
      EXPECT_EQ(v32, 0xDEADu);
      EXPECT_EQ(v16, 0xDEADu);
      EXPECT_EQ(v8, 0xADu) << "a failed read wrote its output";
    }
  }
}

TEST(ByteWriterTest, WritesEveryWidthAndReadsBack) {
  std::array<uint8_t, 1 + 2 + 3 + 4 + 6 + 8> buf{};
  ByteWriter w(buf);
  EXPECT_TRUE(w.u8(0x01));
  EXPECT_TRUE(w.u16(0x0203));
  EXPECT_TRUE(w.u24(0x040506));
  EXPECT_TRUE(w.u32(0x0708090A));
  EXPECT_TRUE(w.u48(0x0B0C0D0E0F10));
  EXPECT_TRUE(w.u64(0x1112131415161718));
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.remaining(), 0u);
  EXPECT_EQ(Bytes(w.written().begin(), w.written().end()), Iota(buf.size()));
}

TEST(ByteWriterTest, OverflowSticks) {
  std::array<uint8_t, 8> guard{};
  guard.fill(0xA5);
  ByteWriter w(guard.data(), 3);
  EXPECT_TRUE(w.u16(0x1122));
  EXPECT_FALSE(w.u16(0x3344)) << "2 bytes into 1 left";
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 2u);
  // Sticky: a write that would fit now fails too, and so does a 0-byte one.
  EXPECT_FALSE(w.u8(0x55));
  EXPECT_FALSE(w.bytes({}));
  EXPECT_FALSE(w.zeros(0));
  EXPECT_EQ(w.reserve(0), nullptr);
  EXPECT_EQ(w.open(1), SIZE_MAX);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(guard[2], 0xA5) << "a failed write wrote";
  EXPECT_EQ(guard[3], 0xA5) << "wrote past the buffer";
}

TEST(ByteWriterTest, EveryWidthOverflowsAtEveryShortfall) {
  for (size_t width : {1, 2, 3, 4, 6, 8}) {
    for (size_t room = 0; room < width; ++room) {
      SCOPED_TRACE(::testing::Message() << width << " into " << room);
      std::array<uint8_t, 8> buf{};
      buf.fill(0xA5);
      ByteWriter w(buf.data(), room);
      bool ok = true;
      switch (width) {
        case 1:
          ok = w.u8(1);
          break;
        case 2:
          ok = w.u16(1);
          break;
        case 3:
          ok = w.u24(1);
          break;
        case 4:
          ok = w.u32(1);
          break;
        case 6:
          ok = w.u48(1);
          break;
        default:
          ok = w.u64(1);
          break;
      }
      EXPECT_FALSE(ok);
      EXPECT_FALSE(w.ok());
      EXPECT_EQ(w.size(), 0u);
      for (uint8_t b : buf) {
        EXPECT_EQ(b, 0xA5);
      }
    }
  }
}

TEST(ByteWriterTest, ValueTooWideForItsFieldFailsTheWriter) {
  // Fixed here: u24/u48 used to return false for such a value but leave
  // ok() true, so a builder checking ok() once emitted a message without
  // the field.
  std::array<uint8_t, 16> buf{};
  ByteWriter w24(buf);
  EXPECT_FALSE(w24.u24(1u << 24));
  EXPECT_FALSE(w24.ok());
  EXPECT_EQ(w24.size(), 0u);
  ByteWriter w48(buf);
  EXPECT_FALSE(w48.u48(uint64_t{1} << 48));
  EXPECT_FALSE(w48.ok());
  ByteWriter edge(buf);
  EXPECT_TRUE(edge.u24((1u << 24) - 1));
  EXPECT_TRUE(edge.u48((uint64_t{1} << 48) - 1));
  EXPECT_TRUE(edge.ok());
}

TEST(ByteWriterTest, BytesZerosReserveAndExactFit) {
  std::array<uint8_t, 6> buf{};
  buf.fill(0xEE);
  ByteWriter w(buf);
  const Bytes two = {0x01, 0x02};
  EXPECT_TRUE(w.bytes(two));
  EXPECT_TRUE(w.zeros(2));
  uint8_t* p = w.reserve(2);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p, buf.data() + 4);
  p[0] = 0x07;
  p[1] = 0x08;
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.remaining(), 0u);
  EXPECT_EQ(Bytes(w.written().begin(), w.written().end()),
            (Bytes{1, 2, 0, 0, 7, 8}));
  EXPECT_TRUE(w.bytes({})) << "0 bytes always fit";
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.reserve(1), nullptr);
  EXPECT_FALSE(w.ok());
}

TEST(ByteWriterTest, EmptyWriterAcceptsZeroLengthWrites) {
  // Fixed here: with no buffer, reserve(0) yields nullptr, which bytes({})
  // and zeros(0) used to report as a failure while ok() stayed true.
  ByteWriter w;
  EXPECT_TRUE(w.bytes({}));
  EXPECT_TRUE(w.zeros(0));
  EXPECT_TRUE(w.ok());
  EXPECT_FALSE(w.u8(0));
  EXPECT_FALSE(w.ok());
}

TEST(ByteWriterTest, OpenCloseEveryWidth) {
  for (size_t width : {1, 2, 3, 4, 8}) {
    SCOPED_TRACE(width);
    std::array<uint8_t, 32> buf{};
    ByteWriter w(buf);
    const size_t at = w.open(width);
    ASSERT_EQ(at, 0u);
    EXPECT_TRUE(w.bytes(Iota(5)));
    EXPECT_TRUE(w.close(at, width));
    EXPECT_TRUE(w.ok());
    ByteReader r(w.written());
    uint64_t len = 0;
    for (size_t i = 0; i < width; ++i) {
      uint8_t b = 0;
      ASSERT_TRUE(r.u8(&b));
      len = (len << 8) | b;
    }
    EXPECT_EQ(len, 5u);
    EXPECT_EQ(r.remaining(), 5u);
  }
}

TEST(ByteWriterTest, NestedVectorsRoundTripThroughTheReader) {
  std::array<uint8_t, 32> buf{};
  ByteWriter w(buf);
  const size_t outer = w.open(2);
  const size_t inner = w.open(1);
  EXPECT_TRUE(w.u16(0xABCD));
  EXPECT_TRUE(w.close(inner, 1));
  const size_t empty = w.open(3);
  EXPECT_TRUE(w.close(empty, 3));
  EXPECT_TRUE(w.close(outer, 2));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Bytes(w.written().begin(), w.written().end()),
            (Bytes{0x00, 0x06, 0x02, 0xAB, 0xCD, 0x00, 0x00, 0x00}));
  ByteReader r(w.written());
  ByteReader o;
  ByteReader i;
  ByteReader e;
  ASSERT_TRUE(r.prefixed16(&o));
  ASSERT_TRUE(o.prefixed8(&i));
  ASSERT_TRUE(o.prefixed24(&e));
  uint16_t v = 0;
  ASSERT_TRUE(i.u16(&v));
  EXPECT_EQ(v, 0xABCD);
  EXPECT_TRUE(e.empty());
  EXPECT_TRUE(o.empty());
  EXPECT_TRUE(r.empty());
}

// Fills a vector of `len` bytes under a prefix of `width` and closes it.
bool CloseWithLength(size_t width, size_t len) {
  std::vector<uint8_t> buf(width + len);
  ByteWriter w(buf);
  const size_t at = w.open(width);
  w.zeros(len);
  const bool closed = w.close(at, width);
  EXPECT_EQ(closed, w.ok()) << "close() and ok() disagree";
  return closed;
}

TEST(ByteWriterTest, CloseRefusesALengthThatOverflowsTheWidth) {
  EXPECT_TRUE(CloseWithLength(1, 255));
  EXPECT_FALSE(CloseWithLength(1, 256));
  EXPECT_TRUE(CloseWithLength(2, 65535));
  EXPECT_FALSE(CloseWithLength(2, 65536));
  EXPECT_TRUE(CloseWithLength(3, (1u << 24) - 1));
  EXPECT_FALSE(CloseWithLength(3, 1u << 24));
}

TEST(ByteWriterTest, OpenThatDoesNotFitFailsAndCloseOfItFails) {
  std::array<uint8_t, 2> buf{};
  ByteWriter w(buf.data(), 1);
  const size_t at = w.open(2);
  EXPECT_EQ(at, SIZE_MAX);
  EXPECT_FALSE(w.ok());
  EXPECT_FALSE(w.close(at, 2));
}

TEST(ByteWriterTest, OpenRefusesWidthsOutsideOneToEight) {
  std::array<uint8_t, 16> buf{};
  ByteWriter zero(buf);
  EXPECT_EQ(zero.open(0), SIZE_MAX);
  EXPECT_FALSE(zero.ok());
  ByteWriter nine(buf);
  EXPECT_EQ(nine.open(9), SIZE_MAX);
  EXPECT_FALSE(nine.ok());
}

TEST(ByteWriterTest, CloseWithAnOffsetThatIsNoPlaceholderNeverWritesOutside) {
  // Fixed here: close() trusted `at` and `width`; a stale or wrong offset
  // (or width 8, which skipped the length check) wrote past the written
  // bytes, and past the buffer.
  struct Case {
    size_t at;
    size_t width;
  };
  for (Case c : {Case{1, 8}, Case{3, 1}, Case{2, 2}, Case{0, 9}, Case{0, 0},
                 Case{100, 1}}) {
    SCOPED_TRACE(::testing::Message() << "at " << c.at << " width " << c.width);
    std::array<uint8_t, 16> buf{};
    buf.fill(0xA5);
    ByteWriter w(buf.data(), 4);
    ASSERT_TRUE(w.u16(0x0102));
    EXPECT_FALSE(w.close(c.at, c.width));
    EXPECT_FALSE(w.ok());
    EXPECT_EQ(buf[0], 0x01);
    EXPECT_EQ(buf[1], 0x02);
    for (size_t i = 2; i < buf.size(); ++i) {
      EXPECT_EQ(buf[i], 0xA5) << "byte " << i << " written";
    }
  }
}

TEST(ByteWriterTest, CloseAfterAFailedWriteFails) {
  std::array<uint8_t, 3> buf{};
  ByteWriter w(buf);
  const size_t at = w.open(1);
  EXPECT_FALSE(w.u32(0));
  EXPECT_FALSE(w.close(at, 1));
  EXPECT_FALSE(w.ok());
}

}  // namespace
}  // namespace dptls
