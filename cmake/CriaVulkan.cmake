# The Vulkan backend (CRIA_VULKAN): lib/vulkan/*.cpp, and its GLSL compute shaders compiled
# to SPIR-V with glslc and built into the library. Only the Vulkan headers are needed to
# build; libvulkan.so.1 is opened at run time, so the library does not link against it.
find_path(CRIA_VULKAN_INCLUDE_DIR vulkan/vulkan.h)
find_program(CRIA_GLSLC glslc)
if(NOT CRIA_VULKAN_INCLUDE_DIR OR NOT CRIA_GLSLC)
  message(FATAL_ERROR "CRIA_VULKAN needs the Vulkan headers and glslc (Debian: libvulkan-dev glslc; "
                      "scripts/install-deps.sh installs them)")
endif()

set(shader_dir ${CMAKE_CURRENT_SOURCE_DIR}/lib/vulkan/shaders)
set(spirv_dir ${CMAKE_CURRENT_BINARY_DIR}/vulkan-shaders)
file(MAKE_DIRECTORY ${spirv_dir})

# Every kernel: name|source|defines|storage buffers.
set(kernels
  "rmsnorm|rmsnorm.comp||4" "rope|rope.comp||2"
  "store_kv_f32|store_kv.comp||5" "store_kv_f16|store_kv.comp|-DCACHE_F16|5"
  "attention_f32|attention.comp||5" "attention_f16|attention.comp|-DCACHE_F16|5"
  "add|elementwise.comp|-DOP_ADD|2" "swiglu|elementwise.comp|-DOP_SWIGLU|2"
  "read_probe|read_probe.comp||2" "quantize_q8|quantize_q8.comp||3"
  "matmul_dot_q4_0|matmul_dot.comp|-DTYPE_Q4_0|4" "matmul_dot_q8_0|matmul_dot.comp|-DTYPE_Q8_0|4")
foreach(type F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K)
  string(TOLOWER ${type} lower)
  list(APPEND kernels "matmul_${lower}|matmul.comp|-DTYPE_${type}|4" "matmul_tiled_${lower}|matmul_tiled.comp|-DTYPE_${type}|4"
                      "embed_${lower}|embed.comp|-DTYPE_${type}|3")
endforeach()

set(spirv_files)
set(table)
foreach(kernel ${kernels})
  string(REPLACE "|" ";" fields "${kernel}")
  list(GET fields 0 name)
  list(GET fields 1 source)
  list(GET fields 2 defines)
  list(GET fields 3 bindings)
  add_custom_command(
    OUTPUT ${spirv_dir}/${name}.spv
    COMMAND ${CRIA_GLSLC} --target-env=vulkan1.1 -O ${defines} -o ${spirv_dir}/${name}.spv ${shader_dir}/${source}
    DEPENDS ${shader_dir}/${source} ${shader_dir}/decode.glsl
    COMMENT "glslc ${name}"
    VERBATIM)
  list(APPEND spirv_files ${spirv_dir}/${name}.spv)
  list(APPEND table "${name}:${bindings}")
endforeach()
string(REPLACE ";" "," table "${table}")
add_custom_command(
  OUTPUT ${spirv_dir}/shaders.cpp
  COMMAND ${CMAKE_COMMAND} -DSPIRV_DIR=${spirv_dir} -DTABLE=${table} -DOUT=${spirv_dir}/shaders.cpp
          -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/EmbedSpirv.cmake
  DEPENDS ${spirv_files} ${CMAKE_CURRENT_SOURCE_DIR}/cmake/EmbedSpirv.cmake
  COMMENT "Embedding the Vulkan shaders"
  VERBATIM)

target_sources(cria PRIVATE ${spirv_dir}/shaders.cpp)
target_include_directories(cria PRIVATE ${CRIA_VULKAN_INCLUDE_DIR})
target_link_libraries(cria PRIVATE ${CMAKE_DL_LIBS})
# Vulkan structures are filled as {sType} followed by assignments: the rest starts zeroed.
set_source_files_properties(${CRIA_VULKAN_SOURCES} PROPERTIES COMPILE_OPTIONS -Wno-missing-field-initializers)
