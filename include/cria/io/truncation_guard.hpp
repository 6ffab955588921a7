#pragma once
// A mapped file that is truncated in place while in use turns the next read of its lost pages
// into SIGBUS, which would kill the host process. The guard remembers the file's identity
// and size when it was mapped; check() runs before each pass and turns a truncation into an
// error instead. (A truncation during a pass is not caught: Read mode is immune, see
// docs/robustness.md.)
#include <cstdint>
#include <string>

namespace cria::io {

class TruncationGuard {
 public:
  TruncationGuard() = default;  // guards nothing: a file read into memory
  TruncationGuard(std::string path, uint64_t mapped_size);
  // Throws cria::Error (Io) naming the file when the file at the path is still the mapped one
  // and now shorter than the mapping. A file deleted or replaced by another keeps the mapped
  // one alive, intact: no error.
  void check() const;

 private:
  std::string path_;
  uint64_t size_ = 0;
  uint64_t device_ = 0, inode_ = 0;
  bool active_ = false;
};

}  // namespace cria::io
