// Files written whole or not at all, and read whole.
#include "cria/io/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "cria/error.hpp"

namespace cria::io {

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp" + std::to_string(::getpid());
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) throw Error(ErrorCode::Io, path_ + ": cannot create: " + std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

void AtomicFileWriter::fail(const char* what, int err) {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  std::remove(tmp_.c_str());
  throw Error(ErrorCode::Io, path_ + ": " + what + ": " + std::strerror(err ? err : EIO));
}

void AtomicFileWriter::write(const void* data, size_t n) {
  if (!file_) throw Error(ErrorCode::InvalidState, path_ + ": the file was already committed or failed");
  errno = 0;
  if (n > 0 && std::fwrite(data, 1, n, file_) != n) fail("write failed", errno);
}

void AtomicFileWriter::commit() {
  if (!file_) throw Error(ErrorCode::InvalidState, path_ + ": the file was already committed or failed");
  errno = 0;
  if (std::fflush(file_) != 0) fail("write failed", errno);
  errno = 0;
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) {
    std::remove(tmp_.c_str());
    throw Error(ErrorCode::Io, path_ + ": write failed: " + std::strerror(errno ? errno : EIO));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp_.c_str());
    throw Error(ErrorCode::Io, path_ + ": cannot replace the file: " + std::strerror(err));
  }
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, path + ": cannot open: " + std::strerror(errno));
  std::string bytes;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(ErrorCode::Io, path + ": cannot read its size");
  in.seekg(0);
  bytes.resize(static_cast<size_t>(size));
  if (!in.read(bytes.data(), size)) throw Error(ErrorCode::Io, path + ": read failed: " + std::strerror(errno));
  return bytes;
}

}  // namespace cria::io
