#pragma once
// Little-endian values appended to a byte string and read back with bounds checks: the
// encoding of the states that cria saves (sampler stages, sessions).
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "cria/error.hpp"

namespace cria::io {

class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  void i32(int32_t v) { put(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { put(static_cast<uint64_t>(v)); }
  void f32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    put(bits);
  }
  // A length (u64) and the bytes.
  void bytes(std::string_view v) {
    u64(v.size());
    out_.append(v.data(), v.size());
  }
  void raw(const void* data, size_t n) { out_.append(static_cast<const char*>(data), n); }

 private:
  template <typename T>
  void put(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string& out_;
};

// Reads what a ByteWriter wrote; reading past the end throws Error(`code`) naming `what`.
class ByteReader {
 public:
  ByteReader(std::string_view in, std::string what, ErrorCode code = ErrorCode::InvalidArgument)
      : in_(in), what_(std::move(what)), code_(code) {}
  uint8_t u8() { return static_cast<uint8_t>(take(1)[0]); }
  uint32_t u32() { return get<uint32_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  int32_t i32() { return static_cast<int32_t>(get<uint32_t>()); }
  int64_t i64() { return static_cast<int64_t>(get<uint64_t>()); }
  float f32() {
    const uint32_t bits = get<uint32_t>();
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  std::string_view bytes() {
    const uint64_t n = u64();
    if (n > remaining()) fail("a length of " + std::to_string(n) + " bytes runs past the end");
    return take(static_cast<size_t>(n));
  }
  std::string_view take(size_t n) {
    if (n > remaining()) fail("it ends early");
    std::string_view v = in_.substr(at_, n);
    at_ += n;
    return v;
  }
  size_t remaining() const { return in_.size() - at_; }
  size_t offset() const { return at_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(code_, what_ + ": " + why + " (at byte " + std::to_string(at_) + ")");
  }

 private:
  template <typename T>
  T get() {
    std::string_view b = take(sizeof(T));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<uint8_t>(b[i])) << (8 * i);
    return v;
  }
  std::string_view in_;
  size_t at_ = 0;
  std::string what_;
  ErrorCode code_;
};

}  // namespace cria::io
