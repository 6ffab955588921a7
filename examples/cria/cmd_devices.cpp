// cria devices: the backends this cria was built with and the devices each can run on.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "cria/backend.hpp"
#include "cria/error.hpp"

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
  const std::vector<cria::DeviceInfo> devices = cria::list_devices();
  for (const cria::DeviceInfo& d : devices)
    std::printf("%-10s %-6d %s\n", d.backend.c_str(), d.index, d.description.c_str());
  // A backend built in without a device here: why, as creating it says (no driver, no GPU).
  for (const std::string& name : cria::built_backends()) {
    if (std::any_of(devices.begin(), devices.end(), [&](const cria::DeviceInfo& d) { return d.backend == name; }))
      continue;
    try {
      cria::BackendOptions o;
      o.name = name;
      cria::create_backend(o);
    } catch (const cria::Error& e) {
      std::printf("(%s: %s)\n", name.c_str(), e.what());
    }
  }
  std::printf("(\"auto\" picks %s)\n", cria::auto_backend(0).c_str());
  return 0;
}
