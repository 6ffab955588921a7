#include "console.hpp"

#include <signal.h>
#include <unistd.h>

namespace cli {

namespace {
void (*g_interrupt_handler)() = nullptr;
void call_interrupt_handler(int) { g_interrupt_handler(); }
}  // namespace

std::vector<std::string> utf8_arguments(int argc, char** argv) { return std::vector<std::string>(argv, argv + argc); }

void use_binary_stdio() {}

bool is_terminal(std::FILE* stream) { return ::isatty(::fileno(stream)); }

void on_interrupt(void (*handler)()) {
  g_interrupt_handler = handler;
  struct sigaction action {};
  action.sa_handler = call_interrupt_handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read at the prompt goes on after a stopped answer
  sigaction(SIGINT, &action, nullptr);
}

void leave_at_once(int code) {
  const char newline = '\n';
  if (::write(STDOUT_FILENO, &newline, 1) < 0) {}
  ::_exit(code);
}

}  // namespace cli
