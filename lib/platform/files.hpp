#pragma once
// Files through the operating system. Paths are UTF-8 (wide-character calls inside on
// Windows); failures are cria::Error(Io) naming the path and the system's reason.
// Implemented by files_posix.cpp or files_win32.cpp, whichever CMake builds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace cria::platform {

// A regular file opened for reading.
class InputFile {
 public:
  explicit InputFile(const std::string& path);  // throws Io: cannot open, not a regular file
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  uint64_t size() const { return size_; }
  // Reads n bytes from `offset`; throws Io at a failure or an early end of file.
  void read_at(void* dst, size_t n, uint64_t offset) const;
  // The whole (non-empty) file mapped read-only; the mapping outlives this object and is
  // released with unmap_file. Throws Io when the system refuses.
  const uint8_t* map() const;

 private:
  std::string path_;
  intptr_t handle_ = -1;  // a file descriptor, or a Windows HANDLE
  uint64_t size_ = 0;
};

void unmap_file(const uint8_t* data, size_t size);

// The size of the file at `path`; false when it cannot be read.
bool file_size(const std::string& path, uint64_t* size);

// std::fopen with a UTF-8 path; nullptr with errno set on failure.
std::FILE* open_file(const std::string& path, const char* mode);
bool remove_file(const std::string& path);
// Puts `from` in the place of `to` in one step, replacing any file there; returns "" or the
// system's reason for refusing.
std::string replace_file(const std::string& from, const std::string& to);
int process_id();

}  // namespace cria::platform
