#include "platform/files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cria/error.hpp"

namespace cria::platform {

InputFile::InputFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::Io, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    throw Error(ErrorCode::Io, path + ": not a regular file" +
                                   (err ? std::string(": ") + std::strerror(err) : ""));
  }
  handle_ = fd;
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() { ::close(static_cast<int>(handle_)); }

void InputFile::read_at(void* dst, size_t n, uint64_t offset) const {
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min<size_t>(n - done, size_t{64} << 20);  // large pieces
    const ssize_t got = ::pread(static_cast<int>(handle_), static_cast<uint8_t*>(dst) + done, want,
                                static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      throw Error(ErrorCode::Io, path_ + ": read failed at byte " + std::to_string(offset + done) + ": " +
                                     (got < 0 ? std::strerror(errno) : "unexpected end of file"));
    done += static_cast<size_t>(got);
  }
}

const uint8_t* InputFile::map() const {
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, static_cast<int>(handle_), 0);
  if (p == MAP_FAILED) throw Error(ErrorCode::Io, path_ + ": cannot map: " + std::strerror(errno));
  return static_cast<const uint8_t*>(p);
}

void unmap_file(const uint8_t* data, size_t size) { ::munmap(const_cast<uint8_t*>(data), size); }

bool file_size(const std::string& path, uint64_t* size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *size = static_cast<uint64_t>(st.st_size);
  return true;
}

std::FILE* open_file(const std::string& path, const char* mode) { return std::fopen(path.c_str(), mode); }

bool remove_file(const std::string& path) { return std::remove(path.c_str()) == 0; }

std::string replace_file(const std::string& from, const std::string& to) {
  return std::rename(from.c_str(), to.c_str()) == 0 ? std::string() : std::strerror(errno);
}

int process_id() { return static_cast<int>(::getpid()); }

}  // namespace cria::platform
