#include "cria/io/truncation_guard.hpp"

#include <sys/stat.h>

#include <utility>

#include "cria/error.hpp"

namespace cria::io {

TruncationGuard::TruncationGuard(std::string path, uint64_t mapped_size)
    : path_(std::move(path)), size_(mapped_size) {
#ifndef _WIN32  // Windows refuses to truncate a file while a view of it is mapped
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && st.st_ino != 0) {
    device_ = static_cast<uint64_t>(st.st_dev);
    inode_ = static_cast<uint64_t>(st.st_ino);
    active_ = true;
  }
#endif
}

void TruncationGuard::check() const {
  if (!active_) return;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return;  // deleted: the mapping keeps the old file
  if (static_cast<uint64_t>(st.st_dev) != device_ || static_cast<uint64_t>(st.st_ino) != inode_)
    return;  // replaced by another file: the mapped one is intact
  if (static_cast<uint64_t>(st.st_size) < size_)
    throw Error(ErrorCode::Io, path_ + ": the model file was truncated while mapped (" +
                                   std::to_string(st.st_size) + " bytes, " + std::to_string(size_) +
                                   " when loaded); reading it would crash the process. Load it "
                                   "again, or use the read load mode, which keeps a private copy");
}

}  // namespace cria::io
