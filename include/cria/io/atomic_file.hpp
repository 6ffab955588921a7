#pragma once
// Writing a file so that it appears whole or not at all: bytes go to a temporary file beside
// it, which commit() renames into place. Without commit() (an error, an exception), the
// temporary file is removed and any old file at the path stays as it was.
#include <cstddef>
#include <cstdio>
#include <string>

namespace cria::io {

class AtomicFileWriter {
 public:
  // Throws Error(Io) naming the path when the temporary file cannot be created.
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Throws Error(Io) naming the path and the reason (a full disk: "No space left on device").
  void write(const void* data, size_t n);
  void commit();

 private:
  [[noreturn]] void fail(const char* what, int err);

  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
};

// The whole file; throws Error(Io) naming the path and the reason.
std::string read_whole_file(const std::string& path);

}  // namespace cria::io
