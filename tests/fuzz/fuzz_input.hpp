#pragma once
// Pieces the fuzz targets share: the input as a file (the readers take paths), and the shared
// fixtures' folder.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace fuzz {

// Writes the input to this process's scratch file (in $TMPDIR, or /tmp) and returns its path.
inline std::string as_file(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/cria-fuzz-" + std::to_string(::getpid()) + ".bin";
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the fuzzing machine, not the input, is broken
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// The shared fixtures (models, tokenizers): $CRIA_SHARED_DIR, else the build's default.
inline std::string shared_dir() {
  const char* dir = std::getenv("CRIA_SHARED_DIR");
  return dir && *dir ? dir : CRIA_SHARED_DIR;
}

}  // namespace fuzz
