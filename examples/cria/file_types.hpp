#pragma once
// The weight-type names the tools accept and the GGUF general.file_type each one writes
// (llama.cpp's LLAMA_FTYPE numbers, which are not ggml's tensor type numbers: Q8_0 is 7).
#include <cstdint>
#include <cstring>

#include "cria/quant.hpp"

namespace cli {

struct FileType {
  const char* name;
  cria::DType base;      // the type of most matrices
  uint32_t llama_ftype;  // general.file_type
};

// Plain K types carry llama.cpp's "_S" numbers ("mostly" that type); "_M" names are mixes.
inline constexpr FileType kFileTypes[] = {
    {"F32", cria::DType::F32, 0},     {"F16", cria::DType::F16, 1},      {"BF16", cria::DType::BF16, 32},
    {"Q8_0", cria::DType::Q8_0, 7},   {"Q4_0", cria::DType::Q4_0, 2},    {"Q4_1", cria::DType::Q4_1, 3},
    {"Q5_0", cria::DType::Q5_0, 8},   {"Q5_1", cria::DType::Q5_1, 9},    {"Q2_K", cria::DType::Q2_K, 10},
    {"Q3_K", cria::DType::Q3_K, 11},  {"Q3_K_M", cria::DType::Q3_K, 12}, {"Q4_K", cria::DType::Q4_K, 14},
    {"Q4_K_M", cria::DType::Q4_K, 15}, {"Q5_K", cria::DType::Q5_K, 16},  {"Q5_K_M", cria::DType::Q5_K, 17},
    {"Q6_K", cria::DType::Q6_K, 18},
};

inline const FileType* find_file_type(const char* name) {
  for (const FileType& t : kFileTypes)
    if (std::strcmp(t.name, name) == 0) return &t;
  return nullptr;
}

}  // namespace cli
