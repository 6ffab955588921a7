#include "platform/memory.hpp"

#include "platform/windows_text.hpp"

namespace cria::platform {

namespace {

// Large pages need the "Lock pages in memory" right (SeLockMemoryPrivilege), which accounts
// lack unless given it; it is enabled once here, and without it ordinary pages are used.
bool large_pages_allowed() {
  static const bool allowed = [] {
    if (GetLargePageMinimum() == 0 || kHugePage % GetLargePageMinimum() != 0) return false;
    HANDLE token = nullptr;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token)) return false;
    TOKEN_PRIVILEGES privileges{};
    privileges.PrivilegeCount = 1;
    privileges.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    bool ok = LookupPrivilegeValueW(nullptr, L"SeLockMemoryPrivilege", &privileges.Privileges[0].Luid) &&
              AdjustTokenPrivileges(token, FALSE, &privileges, 0, nullptr, nullptr) &&
              GetLastError() == ERROR_SUCCESS;  // ERROR_NOT_ALL_ASSIGNED: the account lacks it
    CloseHandle(token);
    return ok;
  }();
  return allowed;
}

}  // namespace

void* allocate_pages(size_t bytes) {
  // Large pages are never paged out and come whole: tried first, ordinary pages otherwise.
  if (large_pages_allowed())
    if (void* p = VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES, PAGE_READWRITE)) return p;
  return VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

void free_pages(void* p, size_t) { VirtualFree(p, 0, MEM_RELEASE); }

void protect_pages(void* p, size_t bytes, bool writable) {
  DWORD old = 0;
  VirtualProtect(p, bytes, writable ? PAGE_READWRITE : PAGE_READONLY, &old);  // large pages refuse: fine
}

void forget_mapped_pages(const void* p, size_t bytes) {
  // Unlocking pages that are not locked takes them out of the working set (they stay in the
  // standby list, Windows' page cache); the call then reports ERROR_NOT_LOCKED, which is fine.
  VirtualUnlock(const_cast<void*>(p), bytes);
}

size_t page_size() {
  SYSTEM_INFO info{};
  GetSystemInfo(&info);
  return info.dwPageSize;
}

uint64_t available_memory() {
  MEMORYSTATUSEX status{};
  status.dwLength = sizeof status;
  return GlobalMemoryStatusEx(&status) ? status.ullAvailPhys : 0;
}

std::string last_error() { return error_text(GetLastError()); }

}  // namespace cria::platform
