#include "console.hpp"

#include <fcntl.h>
#include <io.h>

#include <cwchar>

#include "platform/windows_text.hpp"  // <windows.h>, UTF-16 to UTF-8

#include <shellapi.h>  // CommandLineToArgvW

namespace cli {

namespace {
void (*g_interrupt_handler)() = nullptr;

BOOL WINAPI call_interrupt_handler(DWORD event) {
  if (event != CTRL_C_EVENT) return FALSE;  // Ctrl-Break, closing the window: the default
  g_interrupt_handler();
  return TRUE;
}
}  // namespace

std::vector<std::string> utf8_arguments(int argc, char** argv) {
  int n = 0;
  wchar_t** wide = CommandLineToArgvW(GetCommandLineW(), &n);
  if (!wide) return std::vector<std::string>(argv, argv + argc);
  std::vector<std::string> args;
  for (int i = 0; i < n; ++i) args.push_back(cria::platform::utf8(wide[i], std::wcslen(wide[i])));
  LocalFree(wide);
  return args;
}

void use_binary_stdio() {
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
  _setmode(_fileno(stderr), _O_BINARY);
}

bool is_terminal(std::FILE* stream) { return _isatty(_fileno(stream)); }

void on_interrupt(void (*handler)()) {
  g_interrupt_handler = handler;
  SetConsoleCtrlHandler(call_interrupt_handler, TRUE);
}

void leave_at_once(int code) {
  DWORD written = 0;
  WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), "\n", 1, &written, nullptr);
  ExitProcess(static_cast<UINT>(code));
}

}  // namespace cli
