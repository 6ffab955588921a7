# cria's versions have one source: the #defines of capi/cria.h. This file reads them before
# project(), so that the project's version, the shared library's SONAME and file version,
# cria.pc, the CMake package's version file, the Python package's version and cria --version
# all follow that header. To release: change CRIA_VERSION_MAJOR/MINOR/PATCH and
# CRIA_VERSION_STRING in cria.h (and CRIA_ABI_VERSION on an incompatible change of the ABI,
# adding a line to CRIA_ABI_FIRST_VERSIONS below), then note it in CHANGELOG.md.
#
# Sets CRIA_VERSION (e.g. 0.2.0), CRIA_ABI_VERSION (e.g. 1) and CRIA_ABI_FIRST_VERSION (the
# first library version with this ABI, e.g. 0.1.0).

# ABI major version -> the first library version that implements it. find_package(cria X.Y)
# accepts an installed cria whose ABI is that of X.Y (see cmake/criaConfigVersion.cmake.in).
set(CRIA_ABI_FIRST_VERSIONS "1:0.1.0")

get_filename_component(_cria_header ${CMAKE_CURRENT_LIST_DIR}/../capi/cria.h ABSOLUTE)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_cria_header})
file(STRINGS ${_cria_header} _cria_defines REGEX "^#define CRIA_(ABI_VERSION|VERSION_[A-Z]+) ")
foreach(_name ABI_VERSION VERSION_MAJOR VERSION_MINOR VERSION_PATCH VERSION_STRING)
  set(_value "")
  foreach(_line IN LISTS _cria_defines)
    if(_line MATCHES "^#define CRIA_${_name} +\"?([0-9.]+)\"?$")
      set(_value ${CMAKE_MATCH_1})
    endif()
  endforeach()
  if(_value STREQUAL "")
    message(FATAL_ERROR "capi/cria.h: no '#define CRIA_${_name} <number>' line")
  endif()
  set(_cria_${_name} ${_value})
endforeach()

set(CRIA_VERSION ${_cria_VERSION_MAJOR}.${_cria_VERSION_MINOR}.${_cria_VERSION_PATCH})
if(NOT CRIA_VERSION STREQUAL _cria_VERSION_STRING)
  message(FATAL_ERROR "capi/cria.h: CRIA_VERSION_STRING \"${_cria_VERSION_STRING}\" does not match "
                      "CRIA_VERSION_MAJOR/MINOR/PATCH (${CRIA_VERSION})")
endif()
set(CRIA_ABI_VERSION ${_cria_ABI_VERSION})

set(CRIA_ABI_FIRST_VERSION "")
foreach(_entry IN LISTS CRIA_ABI_FIRST_VERSIONS)
  if(_entry MATCHES "^${CRIA_ABI_VERSION}:(.+)$")
    set(CRIA_ABI_FIRST_VERSION ${CMAKE_MATCH_1})
  endif()
endforeach()
if(CRIA_ABI_FIRST_VERSION STREQUAL "" OR CRIA_ABI_FIRST_VERSION VERSION_GREATER CRIA_VERSION)
  message(FATAL_ERROR "cmake/CriaVersion.cmake: CRIA_ABI_FIRST_VERSIONS has no entry for ABI "
                      "${CRIA_ABI_VERSION} at or before version ${CRIA_VERSION}: add "
                      "\"${CRIA_ABI_VERSION}:<first version with it>\"")
endif()
