#pragma once
// GGUF (v2, v3) reader. Parses the header, metadata and tensor table of a mapped file and
// validates every count, offset and size against the file before anything uses them. Strings
// and numeric arrays are views into the mapping: nothing is copied.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cria/io/mapped_file.hpp"
#include "cria/tensor.hpp"

namespace cria::io {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Scalars are decoded; a string is a view into the file; an array keeps
// its element type and count, numeric elements stay in the file (read with element()), string
// and nested-array elements are parsed into `items`.
struct GgufValue {
  GgufType type = GgufType::U8;
  uint64_t u = 0;          // unsigned integers and bool
  int64_t i = 0;           // signed integers
  double f = 0;            // floats
  std::string_view str;    // String
  GgufType elem_type = GgufType::U8;   // Array
  uint64_t count = 0;                  // Array
  const uint8_t* raw = nullptr;        // Array of numbers: the elements in the file
  std::vector<GgufValue> items;        // Array of strings or arrays

  bool is_integer() const;
  bool is_number() const;
  // Converted, range-checked reads; throw cria::Error (InvalidFile) naming `what`.
  int64_t as_int(const std::string& what) const;
  double as_double(const std::string& what) const;
  // Element k of a numeric array, as a scalar GgufValue.
  GgufValue element(uint64_t k) const;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;  // the file's type id, known or not
  DType dtype = DType::Unknown;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous dimension
  uint64_t offset = 0;           // relative to the data section
  uint64_t nbytes = 0;           // 0 when the type is unknown
  const uint8_t* data = nullptr; // in the mapping; null when the type is unknown
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Maps and parses `path`. Throws cria::Error naming the file and the problem.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses an existing mapping (which must outlive the result).
  static std::unique_ptr<GgufFile> parse(std::shared_ptr<const MappedFile> file);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return file_->path(); }
  const std::shared_ptr<const MappedFile>& file() const { return file_; }

  // Metadata in file order, and lookup by key.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;
  // Typed lookups; throw cria::Error (InvalidFile) when present with the wrong type.
  std::string get_string(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  std::shared_ptr<const MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace cria::io
