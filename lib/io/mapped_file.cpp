#include "cria/io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cria/error.hpp"

namespace cria::io {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;

// Reads the whole file into `dst`, in large pieces, reporting to `progress` after each.
void read_all(int fd, uint8_t* dst, size_t size, const std::string& path,
              const std::function<bool(float)>& progress) {
  size_t done = 0;
  while (done < size) {
    if (progress && !progress(static_cast<float>(static_cast<double>(done) / static_cast<double>(size))))
      throw Error(ErrorCode::Cancelled, "loading was cancelled by the progress callback");
    const size_t want = std::min<size_t>(size - done, size_t{64} << 20);
    ssize_t got = ::pread(fd, dst + done, want, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      throw Error(ErrorCode::Io, path + ": read failed at byte " + std::to_string(done) + ": " +
                                     (got < 0 ? std::strerror(errno) : "unexpected end of file"));
    done += static_cast<size_t>(got);
  }
}
}  // namespace

MappedFile::MappedFile(const std::string& path, Mode mode, const std::function<bool(float)>& progress)
    : path_(path), mode_(mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::Io, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = errno;
    ::close(fd);
    throw Error(ErrorCode::Io, path + ": not a regular file" +
                                   (err ? std::string(": ") + std::strerror(err) : ""));
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0 && mode == Mode::Map) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(ErrorCode::Io, path + ": cannot map: " + std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
    mapped_bytes_ = size_;
  } else if (size_ > 0) {
    mapped_bytes_ = (size_ + kHugePage - 1) / kHugePage * kHugePage;
    void* p = ::mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(ErrorCode::OutOfMemory, path + ": cannot allocate " +
                                              std::to_string(mapped_bytes_ >> 20) +
                                              " MiB to read the file into: " + std::strerror(err));
    }
    ::madvise(p, mapped_bytes_, MADV_HUGEPAGE);  // advice only: fine if refused
    try {
      read_all(fd, static_cast<uint8_t*>(p), size_, path, progress);
    } catch (...) {
      ::munmap(p, mapped_bytes_);
      ::close(fd);
      throw;
    }
    ::mprotect(p, mapped_bytes_, PROT_READ);
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() { release(); }

void MappedFile::edit_copy(const std::function<void(uint8_t* data)>& edit) {
  if (mode_ != Mode::Read)
    throw Error(ErrorCode::InvalidArgument, path_ + ": a mapped file cannot be edited in place");
  if (!data_) return;
  uint8_t* data = const_cast<uint8_t*>(data_);
  ::mprotect(data, mapped_bytes_, PROT_READ | PROT_WRITE);
  try {
    edit(data);
  } catch (...) {
    ::mprotect(data, mapped_bytes_, PROT_READ);
    throw;
  }
  ::mprotect(data, mapped_bytes_, PROT_READ);
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    mapped_bytes_ = other.mapped_bytes_;
    mode_ = other.mode_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.mapped_bytes_ = 0;
  }
  return *this;
}

void MappedFile::release() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), mapped_bytes_);
  data_ = nullptr;
  size_ = 0;
  mapped_bytes_ = 0;
}

}  // namespace cria::io
