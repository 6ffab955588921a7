# doctest for a cross build: the header-only library comes from the host's doctest-dev, but
# its include directory (/usr/include) must not reach the cross compiler, which would then
# take the host's C library headers; the one header is copied into the build tree instead.
find_file(CRIA_HOST_DOCTEST_H doctest/doctest.h PATHS /usr/include /usr/local/include
  NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
if(CRIA_HOST_DOCTEST_H)
  set(doctest_FOUND TRUE)
  configure_file(${CRIA_HOST_DOCTEST_H} ${CMAKE_BINARY_DIR}/cross-doctest/doctest/doctest.h COPYONLY)
  if(NOT TARGET doctest::doctest)
    add_library(doctest::doctest INTERFACE IMPORTED)
    set_target_properties(doctest::doctest PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES ${CMAKE_BINARY_DIR}/cross-doctest)
  endif()
endif()
