// cria devices: the backends this cria was built with and the devices each can run on.
#include <cstdio>

#include "args.hpp"
#include "commands.hpp"
#include "cria/backend.hpp"

int cmd_devices(int argc, char** argv) {
  for (cli::Args a(argc, argv); !a.done();) {
    if (a.is("-h", "--help")) {
      std::fputs("usage: cria devices\nLists the backends built in and their devices (for --backend, --device).\n",
                 stdout);
      return 0;
    }
    throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  std::printf("%-10s %-6s %s\n", "backend", "device", "description");
  for (const cria::DeviceInfo& d : cria::list_devices())
    std::printf("%-10s %-6d %s\n", d.backend.c_str(), d.index, d.description.c_str());
  std::printf("(\"auto\" picks %s)\n", cria::auto_backend(0).c_str());
  return 0;
}
