#pragma once
// What the CLI needs from the terminal and the process, per system: console_posix.cpp or
// console_win32.cpp, whichever CMake builds.
#include <cstdio>
#include <string>
#include <vector>

namespace cli {

// The command line as UTF-8: argv as it is on POSIX systems, the wide-character command
// line on Windows (whose argv holds the ANSI code page).
std::vector<std::string> utf8_arguments(int argc, char** argv);
// Standard input and output carry bytes as they are (Windows would write \n as \r\n).
void use_binary_stdio();
bool is_terminal(std::FILE* stream);
// Calls `handler` at each Ctrl-C: in a signal handler (POSIX) or on a thread of its own
// (Windows), so it may only use atomics and leave_at_once. A read at the prompt goes on.
void on_interrupt(void (*handler)());
// Ends a line on standard output and leaves with `code` at once (safe in on_interrupt).
[[noreturn]] void leave_at_once(int code);

}  // namespace cli
