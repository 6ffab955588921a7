#pragma once
// Weight types and non-owning tensor views. A 2-D view is `rows` rows of `cols` elements;
// each row is contiguous (`row_bytes` apart), which for a weight matrix means one output
// feature's weights over all inputs.
#include <cstddef>
#include <cstdint>
#include <string>

namespace cria {

// Values are GGUF's (ggml's) type ids, so a file's id maps straight onto a DType.
enum class DType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
  Unknown = 0xffffffffu,
};

struct DTypeTraits {
  const char* name;
  uint32_t block_elems;   // elements per block (1 for plain types)
  uint32_t block_bytes;   // bytes per block
  bool runs;              // the engine can use weights of this type
};

// Traits of a type id from a file; nullptr when cria does not know its layout.
const DTypeTraits* dtype_traits(uint32_t ggml_type);
const char* dtype_name(DType t);
// Name for any id, "type 123" for unknown ones.
std::string ggml_type_name(uint32_t ggml_type);
// Bytes of one row of `n` elements; n must be a multiple of the block size.
size_t row_bytes(DType t, int64_t n);

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;

  const uint8_t* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes;
  }
  bool empty() const { return data == nullptr; }
};

}  // namespace cria
