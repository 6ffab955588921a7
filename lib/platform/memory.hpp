#pragma once
// Memory from the operating system, for weights. Implemented by memory_posix.cpp or
// memory_win32.cpp, whichever CMake builds.
#include <cstddef>
#include <cstdint>
#include <string>

namespace cria::platform {

// Huge pages (2 MiB) where the system grants them: fewer TLB misses while weights stream by.
constexpr size_t kHugePage = size_t{2} << 20;

// Zeroed read-write pages, `bytes` a multiple of kHugePage, on huge pages where the system
// grants them; nullptr when refused (last_error() says why).
void* allocate_pages(size_t bytes);
void free_pages(void* p, size_t bytes);
// Pages from allocate_pages made read-only, or writable again (a safety net: never fails).
void protect_pages(void* p, size_t bytes, bool writable);
// Tells the system this process reads these whole pages of a file mapping no more; they
// stay in the page cache for others.
void forget_mapped_pages(const void* p, size_t bytes);
size_t page_size();
// Bytes the system could give a private copy, or 0 when unknown.
uint64_t available_memory();
// The system's reason for the last call that failed, as text.
std::string last_error();

}  // namespace cria::platform
