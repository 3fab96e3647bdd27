// Bounds-checked big-endian reader and writer: the one way wire bytes are
// parsed and built in dptls (TLS messages, packet headers). No raw pointer
// arithmetic on packet data elsewhere.
//
// Both are cheap value types over borrowed memory; neither allocates, throws
// or owns what it points at. A failed read or write returns false and leaves
// the cursor where it was, so a parser can bail out with one check per field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace dptls {

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}
  ByteReader(const uint8_t* data, size_t len) : data_(data, len) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return remaining() == 0; }
  size_t position() const { return pos_; }
  // The unread bytes.
  std::span<const uint8_t> rest() const { return data_.subspan(pos_); }

  bool u8(uint8_t* out) { return read_be(out, 1); }
  bool u16(uint16_t* out) { return read_be(out, 2); }
  bool u24(uint32_t* out) { return read_be(out, 3); }
  bool u32(uint32_t* out) { return read_be(out, 4); }
  bool u48(uint64_t* out) { return read_be(out, 6); }
  bool u64(uint64_t* out) { return read_be(out, 8); }

  // Borrows the next `n` bytes.
  bool bytes(size_t n, std::span<const uint8_t>* out) {
    if (n > remaining()) {
      return false;
    }
    *out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  // Copies the next out.size() bytes.
  bool copy(std::span<uint8_t> out) {
    std::span<const uint8_t> in;
    if (!bytes(out.size(), &in)) {
      return false;
    }
    if (!in.empty()) {
      std::memcpy(out.data(), in.data(), in.size());
    }
    return true;
  }
  bool skip(size_t n) {
    std::span<const uint8_t> ignored;
    return bytes(n, &ignored);
  }

  // Reads a vector with a 1, 2 or 3-byte length prefix (RFC 8446 section
  // 3.4) into a sub-reader.
  bool prefixed8(ByteReader* out) { return prefixed(1, out); }
  bool prefixed16(ByteReader* out) { return prefixed(2, out); }
  bool prefixed24(ByteReader* out) { return prefixed(3, out); }

 private:
  template <typename T>
  bool read_be(T* out, size_t n) {
    if (n > remaining()) {
      return false;
    }
    T v = 0;
    for (size_t i = 0; i < n; ++i) {
      v = static_cast<T>((v << 8) | data_[pos_ + i]);
    }
    pos_ += n;
    *out = v;
    return true;
  }

  bool prefixed(size_t width, ByteReader* out) {
    const size_t start = pos_;
    uint64_t len = 0;
    if (!read_be(&len, width)) {
      return false;
    }
    std::span<const uint8_t> body;
    if (!bytes(static_cast<size_t>(len), &body)) {
      pos_ = start;
      return false;
    }
    *out = ByteReader(body);
    return true;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

class ByteWriter {
 public:
  ByteWriter() = default;
  explicit ByteWriter(std::span<uint8_t> buf) : buf_(buf) {}
  ByteWriter(uint8_t* buf, size_t len) : buf_(buf, len) {}

  size_t size() const { return pos_; }
  size_t remaining() const { return buf_.size() - pos_; }
  // What has been written so far.
  std::span<uint8_t> written() const { return buf_.first(pos_); }
  // False once any write did not fit; later writes keep failing, so a builder
  // may check once at the end.
  bool ok() const { return ok_; }

  bool u8(uint8_t v) { return write_be(v, 1); }
  bool u16(uint16_t v) { return write_be(v, 2); }
  // A value that does not fit the width fails like an overflow: ok() turns
  // false, so a builder that checks once at the end cannot emit a message
  // with the field missing.
  bool u24(uint32_t v) { return in_range(v < (1u << 24)) && write_be(v, 3); }
  bool u32(uint32_t v) { return write_be(v, 4); }
  bool u48(uint64_t v) {
    return in_range(v < (uint64_t{1} << 48)) && write_be(v, 6);
  }
  bool u64(uint64_t v) { return write_be(v, 8); }

  bool bytes(std::span<const uint8_t> in) {
    if (in.empty()) {
      return ok_;  // reserve(0) may return nullptr for an empty buffer
    }
    uint8_t* dst = reserve(in.size());
    if (dst == nullptr) {
      return false;
    }
    if (!in.empty()) {
      std::memcpy(dst, in.data(), in.size());
    }
    return true;
  }
  bool zeros(size_t n) {
    if (n == 0) {
      return ok_;
    }
    uint8_t* dst = reserve(n);
    if (dst == nullptr) {
      return false;
    }
    if (n != 0) {
      std::memset(dst, 0, n);
    }
    return true;
  }
  // Claims `n` bytes to be filled by the caller; nullptr when they do not fit.
  uint8_t* reserve(size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return nullptr;
    }
    uint8_t* p = buf_.data() + pos_;
    pos_ += n;
    return p;
  }

  // Length-prefixed vectors: open() writes a placeholder of `width` (1 to 8)
  // bytes and returns its offset; close() with the same offset and width
  // fills in the length of what followed. open() returns SIZE_MAX when the
  // placeholder does not fit or the width is not 1 to 8; close() fails (and
  // ok() turns false) when the length does not fit the width, or when
  // `at`/`width` do not name a placeholder inside what was written, so a
  // wrong offset can never write outside the buffer.
  size_t open(size_t width) {
    if (width == 0 || width > 8) {
      ok_ = false;
      return SIZE_MAX;
    }
    const size_t at = pos_;
    return reserve(width) != nullptr ? at : SIZE_MAX;
  }
  bool close(size_t at, size_t width) {
    if (!ok_ || width == 0 || width > 8 || at > pos_ || pos_ - at < width) {
      ok_ = false;
      return false;
    }
    const uint64_t len = pos_ - at - width;
    if (width < 8 && len >= (uint64_t{1} << (8 * width))) {
      ok_ = false;
      return false;
    }
    for (size_t i = 0; i < width; ++i) {
      buf_[at + i] = static_cast<uint8_t>(len >> (8 * (width - 1 - i)));
    }
    return true;
  }

 private:
  bool in_range(bool fits) {
    if (!fits) {
      ok_ = false;
    }
    return fits;
  }

  bool write_be(uint64_t v, size_t n) {
    uint8_t* dst = reserve(n);
    if (dst == nullptr) {
      return false;
    }
    for (size_t i = 0; i < n; ++i) {
      dst[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
    }
    return true;
  }

  std::span<uint8_t> buf_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace dptls
