// The backends built into this library, and the choice among them by name and device.
#include <string>

#include "cpu/backend.hpp"
#include "cria/backend.hpp"
#include "cria/error.hpp"
#include "reference/backend.hpp"

namespace cria {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::vector<std::string> built_backends() { return {"cpu", "reference"}; }

std::vector<DeviceInfo> list_devices() {
  BackendOptions defaults;
  return {{"cpu", 0, cpu::CpuBackend(defaults).device_description()},
          {"reference", 0, reference::ReferenceBackend(defaults).device_description()}};
}

std::unique_ptr<Backend> create_backend(const BackendOptions& options) {
  const std::string& name = options.name;
  // "auto": the first backend built that has the device (GPU backends come before "cpu").
  if (name.empty() || name == "auto" || name == "cpu") return std::make_unique<cpu::CpuBackend>(options);
  if (name == "reference") return std::make_unique<reference::ReferenceBackend>(options);
  throw Error(ErrorCode::Unsupported,
              "backend '" + name + "' is not built into this cria (built: " + joined(built_backends()) + ")");
}

}  // namespace cria
