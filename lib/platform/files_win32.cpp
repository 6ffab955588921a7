#include "platform/files.hpp"

#include <cerrno>
#include <cstring>

#include "cria/error.hpp"
#include "platform/windows_text.hpp"

namespace cria::platform {

namespace {
HANDLE handle_of(intptr_t h) { return reinterpret_cast<HANDLE>(h); }
}  // namespace

InputFile::InputFile(const std::string& path) : path_(path) {
  // Others may read, write, rename or delete the file meanwhile, as on POSIX systems.
  const std::wstring name = wide(path);
  HANDLE h = CreateFileW(name.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    // A folder cannot be opened as a file ("access denied"): said as on POSIX systems.
    const DWORD attributes = GetFileAttributesW(name.c_str());
    if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY))
      throw Error(ErrorCode::Io, path + ": not a regular file");
    throw Error(ErrorCode::Io, path + ": cannot open: " + error_text(err));
  }
  LARGE_INTEGER size{};
  if (GetFileType(h) != FILE_TYPE_DISK || !GetFileSizeEx(h, &size)) {
    const DWORD err = GetLastError();
    CloseHandle(h);
    throw Error(ErrorCode::Io, path + ": not a regular file" + (err ? ": " + error_text(err) : std::string()));
  }
  handle_ = reinterpret_cast<intptr_t>(h);
  size_ = static_cast<uint64_t>(size.QuadPart);
}

InputFile::~InputFile() { CloseHandle(handle_of(handle_)); }

void InputFile::read_at(void* dst, size_t n, uint64_t offset) const {
  size_t done = 0;
  while (done < n) {
    const DWORD want = static_cast<DWORD>(n - done < (size_t{64} << 20) ? n - done : size_t{64} << 20);
    OVERLAPPED at{};  // the offset of a synchronous read
    at.Offset = static_cast<DWORD>(offset + done);
    at.OffsetHigh = static_cast<DWORD>((offset + done) >> 32);
    DWORD got = 0;
    const BOOL ok = ReadFile(handle_of(handle_), static_cast<uint8_t*>(dst) + done, want, &got, &at);
    if (!ok || got == 0)
      throw Error(ErrorCode::Io, path_ + ": read failed at byte " + std::to_string(offset + done) + ": " +
                                     (!ok ? error_text(GetLastError()) : "unexpected end of file"));
    done += got;
  }
}

const uint8_t* InputFile::map() const {
  HANDLE mapping = CreateFileMappingW(handle_of(handle_), nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!mapping) throw Error(ErrorCode::Io, path_ + ": cannot map: " + error_text(GetLastError()));
  void* view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
  const DWORD err = GetLastError();
  CloseHandle(mapping);  // the view keeps the mapping alive
  if (!view) throw Error(ErrorCode::Io, path_ + ": cannot map: " + error_text(err));
  return static_cast<const uint8_t*>(view);
}

void unmap_file(const uint8_t* data, size_t) { UnmapViewOfFile(data); }

bool file_size(const std::string& path, uint64_t* size) {
  WIN32_FILE_ATTRIBUTE_DATA data{};
  try {
    if (!GetFileAttributesExW(wide(path).c_str(), GetFileExInfoStandard, &data)) return false;
  } catch (const Error&) {
    return false;
  }
  *size = (static_cast<uint64_t>(data.nFileSizeHigh) << 32) | data.nFileSizeLow;
  return true;
}

std::FILE* open_file(const std::string& path, const char* mode) {
  try {
    const std::wstring wide_mode(mode, mode + std::strlen(mode));  // modes are ASCII
    return _wfopen(wide(path).c_str(), wide_mode.c_str());
  } catch (const Error&) {
    errno = EINVAL;
    return nullptr;
  }
}

bool remove_file(const std::string& path) {
  try {
    return DeleteFileW(wide(path).c_str()) != 0;
  } catch (const Error&) {
    return false;
  }
}

std::string replace_file(const std::string& from, const std::string& to) {
  try {
    if (MoveFileExW(wide(from).c_str(), wide(to).c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return "";
    return error_text(GetLastError());
  } catch (const Error& e) {
    return e.what();
  }
}

int process_id() { return static_cast<int>(GetCurrentProcessId()); }

}  // namespace cria::platform
