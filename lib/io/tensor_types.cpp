#include <string>

#include "cria/error.hpp"
#include "cria/tensor.hpp"

namespace cria {

namespace {
struct Entry { uint32_t id; DTypeTraits traits; };
// Block layouts from the GGUF specification. `runs` marks the types the engine executes.
const Entry kTypes[] = {
    {0, {"F32", 1, 4, true}},      {1, {"F16", 1, 2, true}},
    {2, {"Q4_0", 32, 18, true}},   {3, {"Q4_1", 32, 20, true}},
    {6, {"Q5_0", 32, 22, true}},  {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},   {9, {"Q8_1", 32, 36, false}},
    {10, {"Q2_K", 256, 84, true}}, {11, {"Q3_K", 256, 110, true}},
    {12, {"Q4_K", 256, 144, true}}, {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}}, {15, {"Q8_K", 256, 292, false}},
    {24, {"I8", 1, 1, false}},      {25, {"I16", 1, 2, false}},
    {26, {"I32", 1, 4, false}},     {27, {"I64", 1, 8, false}},
    {28, {"F64", 1, 8, false}},     {30, {"BF16", 1, 2, true}},
};
// Types whose layout cria does not implement but whose name helps an error message.
const struct { uint32_t id; const char* name; } kNamesOnly[] = {
    {4, "Q4_2"}, {5, "Q4_3"}, {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"},
    {19, "IQ1_S"}, {20, "IQ4_NL"}, {21, "IQ3_S"}, {22, "IQ2_S"}, {23, "IQ4_XS"},
    {29, "IQ1_M"}, {34, "TQ1_0"}, {35, "TQ2_0"},
};
}  // namespace

const DTypeTraits* dtype_traits(uint32_t id) {
  for (const Entry& e : kTypes)
    if (e.id == id) return &e.traits;
  return nullptr;
}

std::string ggml_type_name(uint32_t id) {
  if (const DTypeTraits* t = dtype_traits(id)) return t->name;
  for (const auto& n : kNamesOnly)
    if (n.id == id) return n.name;
  return "unknown type " + std::to_string(id);
}

const char* dtype_name(DType t) {
  const DTypeTraits* traits = dtype_traits(static_cast<uint32_t>(t));
  return traits ? traits->name : "unknown";
}

size_t row_bytes(DType t, int64_t n) {
  const DTypeTraits* traits = dtype_traits(static_cast<uint32_t>(t));
  if (!traits || n < 0 || n % traits->block_elems != 0)
    throw Error(ErrorCode::InvalidArgument,
                std::string("row of ") + std::to_string(n) + " elements does not fit type " +
                    dtype_name(t));
  return static_cast<size_t>(n / traits->block_elems) * traits->block_bytes;
}

}  // namespace cria
