#include "platform/memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace cria::platform {

void* allocate_pages(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: fine if refused
  return p;
}

void free_pages(void* p, size_t bytes) { ::munmap(p, bytes); }

void protect_pages(void* p, size_t bytes, bool writable) {
  ::mprotect(p, bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ);
}

void forget_mapped_pages(const void* p, size_t bytes) {
  ::madvise(const_cast<void*>(p), bytes, MADV_DONTNEED);
}

size_t page_size() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

uint64_t available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  uint64_t kb = 0;
  while (meminfo >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

std::string last_error() { return std::strerror(errno); }

}  // namespace cria::platform
