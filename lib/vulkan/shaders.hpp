#pragma once
// The compute shaders of the Vulkan backend, compiled to SPIR-V by glslc at build time and
// built into the library (the generated shaders.cpp; list in cmake/CriaVulkan.cmake).
#include <cstddef>
#include <cstdint>
#include <string>

namespace cria::vulkan {

struct Shader {
  const char* name;             // "matmul_q4_0", "attention_f16", ...
  const unsigned char* spirv;   // 4-byte aligned
  size_t bytes;
  uint32_t bindings;            // storage buffers 0 .. bindings - 1
};

// The shader `name`, or null.
const Shader* find_shader(const std::string& name);

}  // namespace cria::vulkan
