#pragma once
// Text at the Windows API's edge: UTF-8 in cria, UTF-16 in the wide-character calls, and
// the system's messages for its error codes. Windows only (windows_text_win32.cpp).
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <string>

namespace cria::platform {

// UTF-16 for a UTF-8 path; throws Error(Io) naming the path when it is not valid UTF-8.
std::wstring wide(const std::string& utf8);
std::string utf8(const wchar_t* text, size_t n);
// FormatMessage's text for a GetLastError() code, without the final line break.
std::string error_text(DWORD code);

}  // namespace cria::platform
