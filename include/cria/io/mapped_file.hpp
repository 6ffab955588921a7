#pragma once
// A whole file in memory, read-only: either mapped (pages come from the page cache, shared
// between processes, nothing is read before it is used) or read into anonymous memory
// advised for transparent huge pages (fewer TLB misses while weights stream by).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace cria::io {

class MappedFile {
 public:
  enum class Mode { Map, Read };

  MappedFile() = default;
  // Throws cria::Error (Io, OutOfMemory) naming the path. In Read mode `progress` (when set)
  // receives the fraction read after each piece of 16 MiB; returning false cancels
  // (Cancelled).
  explicit MappedFile(const std::string& path, Mode mode = Mode::Map,
                      const std::function<bool(float)>& progress = {});
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  Mode mode() const { return mode_; }
  const std::string& path() const { return path_; }
  // Read mode only: lets `edit` change the copy in place (load-time weight repacking), then
  // makes it read-only again. Throws InvalidArgument in Map mode, where the file is shared.
  void edit_copy(const std::function<void(uint8_t* data)>& edit);

 private:
  void release();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_bytes_ = 0;  // length of the mapping (rounded up in Read mode)
  Mode mode_ = Mode::Map;
};

}  // namespace cria::io
