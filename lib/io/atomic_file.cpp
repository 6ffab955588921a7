// Files written whole or not at all, and read whole.
#include "cria/io/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include "cria/error.hpp"
#include "platform/files.hpp"

namespace cria::io {

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp" + std::to_string(platform::process_id());
  file_ = platform::open_file(tmp_, "wb");
  if (!file_) throw Error(ErrorCode::Io, path_ + ": cannot create: " + std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) {
    std::fclose(file_);
    platform::remove_file(tmp_);
  }
}

void AtomicFileWriter::fail(const char* what, int err) {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  platform::remove_file(tmp_);
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
    platform::remove_file(tmp_);
    throw Error(ErrorCode::Io, path_ + ": write failed: " + std::strerror(errno ? errno : EIO));
  }
  const std::string refused = platform::replace_file(tmp_, path_);
  if (!refused.empty()) {
    platform::remove_file(tmp_);
    throw Error(ErrorCode::Io, path_ + ": cannot replace the file: " + refused);
  }
}

std::string read_whole_file(const std::string& path) {
  const platform::InputFile in(path);
  std::string bytes(static_cast<size_t>(in.size()), '\0');
  in.read_at(bytes.data(), bytes.size(), 0);
  return bytes;
}

}  // namespace cria::io
