#include "cria/io/mapped_file.hpp"

#include <algorithm>

#include "cria/error.hpp"
#include "platform/files.hpp"
#include "platform/memory.hpp"

namespace cria::io {

MappedFile::MappedFile(const std::string& path, Mode mode, const std::function<bool(float)>& progress)
    : path_(path), mode_(mode) {
  const platform::InputFile file(path);
  size_ = static_cast<size_t>(file.size());
  if (size_ > 0 && mode == Mode::Map) {
    data_ = file.map();
    mapped_bytes_ = size_;
  } else if (size_ > 0) {
    mapped_bytes_ = (size_ + platform::kHugePage - 1) / platform::kHugePage * platform::kHugePage;
    void* p = platform::allocate_pages(mapped_bytes_);
    if (!p)
      throw Error(ErrorCode::OutOfMemory, path + ": cannot allocate " + std::to_string(mapped_bytes_ >> 20) +
                                              " MiB to read the file into: " + platform::last_error());
    try {
      // In pieces of 16 MiB, reporting to `progress` before each (it may cancel).
      for (size_t done = 0; done < size_;) {
        if (progress && !progress(static_cast<float>(static_cast<double>(done) / static_cast<double>(size_))))
          throw Error(ErrorCode::Cancelled, "loading was cancelled by the progress callback");
        const size_t piece = std::min<size_t>(size_ - done, size_t{16} << 20);
        file.read_at(static_cast<uint8_t*>(p) + done, piece, done);
        done += piece;
      }
    } catch (...) {
      platform::free_pages(p, mapped_bytes_);
      throw;
    }
    platform::protect_pages(p, mapped_bytes_, false);
    data_ = static_cast<const uint8_t*>(p);
  }
}

MappedFile::~MappedFile() { release(); }

void MappedFile::edit_copy(const std::function<void(uint8_t* data)>& edit) {
  if (mode_ != Mode::Read)
    throw Error(ErrorCode::InvalidArgument, path_ + ": a mapped file cannot be edited in place");
  if (!data_) return;
  uint8_t* data = const_cast<uint8_t*>(data_);
  platform::protect_pages(data, mapped_bytes_, true);
  try {
    edit(data);
  } catch (...) {
    platform::protect_pages(data, mapped_bytes_, false);
    throw;
  }
  platform::protect_pages(data, mapped_bytes_, false);
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
  if (data_ && mode_ == Mode::Map) platform::unmap_file(data_, mapped_bytes_);
  else if (data_) platform::free_pages(const_cast<uint8_t*>(data_), mapped_bytes_);
  data_ = nullptr;
  size_ = 0;
  mapped_bytes_ = 0;
}

}  // namespace cria::io
