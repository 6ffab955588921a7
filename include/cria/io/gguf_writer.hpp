#pragma once
// GGUF writer (version 3 by default, version 2 on request: the two layouts are the same for
// little-endian files). Metadata keeps the order of first insertion; setting a key again
// replaces its value. Tensors are copied in and written in the order added, each at an offset
// that is a multiple of `general.alignment` (32 unless set), with zero padding in between.
//
//   GgufWriter w;
//   w.set_string("general.architecture", "llama");
//   w.set_u32("llama.embedding_length", 64);
//   w.add_tensor("output_norm.weight", DType::F32, {64}, data, 64 * sizeof(float));
//   w.write("model.gguf");
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cria/io/gguf.hpp"
#include "cria/tensor.hpp"

namespace cria::io {

// One encoded metadata value: its type and its bytes as they appear in the file (for an
// array: element type, count, then the elements). Arrays of arrays are built from values.
class GgufWriteValue {
 public:
  static GgufWriteValue u8(uint8_t v);
  static GgufWriteValue i8(int8_t v);
  static GgufWriteValue u16(uint16_t v);
  static GgufWriteValue i16(int16_t v);
  static GgufWriteValue u32(uint32_t v);
  static GgufWriteValue i32(int32_t v);
  static GgufWriteValue f32(float v);
  static GgufWriteValue boolean(bool v);
  static GgufWriteValue string(const std::string& v);
  static GgufWriteValue u64(uint64_t v);
  static GgufWriteValue i64(int64_t v);
  static GgufWriteValue f64(double v);
  // An array whose elements all have type `elem`; throws cria::Error (InvalidArgument)
  // when one does not. Empty arrays are allowed.
  static GgufWriteValue array(GgufType elem, const std::vector<GgufWriteValue>& items);
  static GgufWriteValue strings(const std::vector<std::string>& v);
  static GgufWriteValue f32s(const std::vector<float>& v);
  static GgufWriteValue i32s(const std::vector<int32_t>& v);

  GgufType type() const { return type_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  GgufWriteValue(GgufType type, std::vector<uint8_t> bytes)
      : type_(type), bytes_(std::move(bytes)) {}
  GgufType type_;
  std::vector<uint8_t> bytes_;
};

class GgufWriter {
 public:
  // Throws cria::Error (Unsupported) for versions other than 2 and 3.
  explicit GgufWriter(uint32_t version = 3);

  void set(const std::string& key, GgufWriteValue value);
  void set_u8(const std::string& key, uint8_t v) { set(key, GgufWriteValue::u8(v)); }
  void set_i8(const std::string& key, int8_t v) { set(key, GgufWriteValue::i8(v)); }
  void set_u16(const std::string& key, uint16_t v) { set(key, GgufWriteValue::u16(v)); }
  void set_i16(const std::string& key, int16_t v) { set(key, GgufWriteValue::i16(v)); }
  void set_u32(const std::string& key, uint32_t v) { set(key, GgufWriteValue::u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, GgufWriteValue::i32(v)); }
  void set_f32(const std::string& key, float v) { set(key, GgufWriteValue::f32(v)); }
  void set_bool(const std::string& key, bool v) { set(key, GgufWriteValue::boolean(v)); }
  void set_string(const std::string& key, const std::string& v) {
    set(key, GgufWriteValue::string(v));
  }
  void set_u64(const std::string& key, uint64_t v) { set(key, GgufWriteValue::u64(v)); }
  void set_i64(const std::string& key, int64_t v) { set(key, GgufWriteValue::i64(v)); }
  void set_f64(const std::string& key, double v) { set(key, GgufWriteValue::f64(v)); }
  void set_array(const std::string& key, const std::vector<std::string>& v) {
    set(key, GgufWriteValue::strings(v));
  }
  void set_array(const std::string& key, const std::vector<float>& v) {
    set(key, GgufWriteValue::f32s(v));
  }
  void set_array(const std::string& key, const std::vector<int32_t>& v) {
    set(key, GgufWriteValue::i32s(v));
  }
  // Sets general.alignment (u32); must be a power of two.
  void set_alignment(uint32_t alignment);
  bool remove(const std::string& key);

  // Adds a tensor of shape `ne` (ne[0] contiguous, 1 to 4 dimensions, each >= 1). For a type
  // whose layout cria knows, `nbytes` must be exactly the size of that shape (ne[0] a
  // multiple of the block size); a type id cria does not know (cast to DType) is written
  // with the bytes as given. Throws cria::Error (InvalidArgument) on a bad shape or size or a
  // name already added.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                  const void* data, size_t nbytes);

  // Adds a tensor whose rows are produced while the file is written, so that tensors larger
  // than memory can be written: produce(row, dst) fills row `row` (0 .. rows-1, rows being
  // the product of ne[1..]) with row_bytes(type, ne[0]) bytes. `type` must be a known type.
  using RowProducer = std::function<void(int64_t row, uint8_t* dst)>;
  void add_tensor_rows(const std::string& name, DType type, const std::vector<int64_t>& ne,
                       RowProducer produce);

  uint32_t version() const { return version_; }
  // general.alignment when set (validated at write), else 32.
  uint64_t alignment() const;
  size_t n_tensors() const { return tensors_.size(); }

  // Writes the file (to a temporary beside it, renamed over `path` once complete). Throws
  // cria::Error: Io naming the path when the system refuses (nothing is left behind, an old
  // file at `path` is untouched), InvalidArgument for a general.alignment that is not a
  // power-of-two u32.
  void write(const std::string& path) const;
  // The whole file as bytes (what write() stores).
  std::vector<uint8_t> to_bytes() const;

 private:
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
    uint64_t nbytes = 0;
    RowProducer produce;  // set instead of data for add_tensor_rows
  };
  // Checks name, shape and type; returns the byte size of the tensor (0 for unknown types).
  uint64_t check_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne) const;
  // Calls sink(bytes, n) with the tensor's data in order.
  void emit(const Tensor& t, const std::function<void(const uint8_t*, size_t)>& sink) const;
  // Header, metadata, tensor table and the padding up to the data section.
  std::vector<uint8_t> header(uint64_t alignment) const;

  uint32_t version_;
  std::vector<std::pair<std::string, GgufWriteValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace cria::io
