# The CUDA backend (CRIA_CUDA): lib/cuda/*.cpp and *.cu, for compute capabilities 8.0, 8.6,
# 8.9 and 9.0 with PTX for newer GPUs. The CUDA runtime is linked statically (it opens the
# driver, libcuda.so.1, when the backend is first asked for) and cuBLAS is opened at run time,
# so libcria loads, and its other backends run, on machines without an NVIDIA driver.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "80-real;86-real;89-real;90-real;90-virtual")
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "CRIA_CUDA needs nvcc and cuBLAS (the CUDA toolkit, e.g. in /usr/local/cuda)")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
find_path(CRIA_CUBLAS_INCLUDE_DIR cublas_api.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
if(NOT CRIA_CUBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "CRIA_CUDA needs nvcc and cuBLAS: the CUDA toolkit has no cublas_api.h")
endif()
if(NOT TARGET CUDA::cudart_static)
  message(FATAL_ERROR "CRIA_CUDA: the CUDA toolkit lacks the static runtime (libcudart_static.a)")
endif()

file(GLOB CRIA_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/lib/cuda/*.cpp
                                              ${CMAKE_CURRENT_SOURCE_DIR}/lib/cuda/*.cu)
target_sources(cria PRIVATE ${CRIA_CUDA_SOURCES})
# (cria was made before CUDA was enabled: its CUDA properties are set here.)
set_target_properties(cria PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_RUNTIME_LIBRARY None
  CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
# Only the static runtime and the cuBLAS headers: no CUDA library is a load-time dependency.
target_link_libraries(cria PRIVATE CUDA::cudart_static ${CMAKE_DL_LIBS})
target_include_directories(cria PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
# Kernels compile without a warning, nvcc's or the host compiler's.
target_compile_options(cria PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings
  -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter,-Werror>)
