# Finds cria's dependencies (all Debian packages) and stops with the package to install when
# one is missing. scripts/install-deps.sh installs all of them.

macro(cria_require found_var debian_package what)
  if(NOT ${found_var})
    message(FATAL_ERROR
      "cria needs ${what}: install the Debian package '${debian_package}' "
      "(or run scripts/install-deps.sh, which installs every dependency)")
  endif()
endmacro()

find_package(Threads REQUIRED)

# Debian's dnnl-config.cmake insists on OpenCL headers it never uses on CPU; find the
# library and header directly instead.
if(CRIA_ONEDNN)
  find_path(CRIA_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
  find_library(CRIA_DNNL_LIBRARY dnnl)
  if(CRIA_DNNL_INCLUDE_DIR AND CRIA_DNNL_LIBRARY)
    set(CRIA_DNNL_FOUND TRUE)
    if(NOT TARGET cria_dnnl)
      add_library(cria_dnnl UNKNOWN IMPORTED)
      set_target_properties(cria_dnnl PROPERTIES IMPORTED_LOCATION ${CRIA_DNNL_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${CRIA_DNNL_INCLUDE_DIR})
    endif()
  endif()
  cria_require(CRIA_DNNL_FOUND libdnnl-dev "oneDNN (or configure with -DCRIA_ONEDNN=OFF)")
endif()

find_package(PkgConfig QUIET)
cria_require(PKG_CONFIG_FOUND pkg-config "pkg-config")
if(CRIA_OPENBLAS)
  pkg_check_modules(OPENBLAS QUIET IMPORTED_TARGET openblas)
  cria_require(OPENBLAS_FOUND libopenblas-dev "OpenBLAS (or configure with -DCRIA_OPENBLAS=OFF)")
endif()

if(CRIA_BUILD_TESTS)
  if(CMAKE_CROSSCOMPILING)
    include(CriaCrossDoctest)
  else()
    find_package(doctest CONFIG QUIET)
  endif()
  cria_require(doctest_FOUND doctest-dev "doctest (for the tests)")
  find_package(Python3 COMPONENTS Interpreter QUIET)
  # Debian's interpreter carries numpy and sentencepiece; a python3 earlier on PATH may not.
  if(EXISTS /usr/bin/python3)
    set(CRIA_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with numpy and sentencepiece")
  else()
    set(CRIA_PYTHON ${Python3_EXECUTABLE} CACHE FILEPATH "Python with numpy and sentencepiece")
  endif()
endif()
