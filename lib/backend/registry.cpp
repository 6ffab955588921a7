// The backends built into this library, and the choice among them by name and device.
#include <string>

#include "backend/split.hpp"
#include "cpu/backend.hpp"
#include "cria/backend.hpp"
#include "cria/error.hpp"
#include "reference/backend.hpp"
#if CRIA_WITH_VULKAN
#include "vulkan/backend.hpp"
#endif
#if CRIA_WITH_CUDA
#include "cuda/backend.hpp"
#include "cuda/device.hpp"
#endif

namespace cria {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

#if CRIA_WITH_CUDA
// Whether "auto" takes CUDA device `index`: one exists (a driver and a GPU).
bool cuda_gpu(int index) {
  try {
    return index >= 0 && static_cast<size_t>(index) < cuda::list_devices().size();
  } catch (const Error&) {
    return false;  // no driver or no device
  }
}
#endif

// `make` on the device alone, or split with the CPU backend: the first gpu_layers layers on
// the device, the rest on the CPU backend (which takes the prompt GEMM choice).
template <class Make>
std::unique_ptr<Backend> on_device(const BackendOptions& options, Make make) {
  if (options.gpu_layers < 0) return make(options);
  BackendOptions device = options, host = options;
  device.gemm = "auto";
  host.name = "cpu";
  return std::make_unique<SplitBackend>(make(device), std::make_unique<cpu::CpuBackend>(host), options.gpu_layers);
}

#if CRIA_WITH_VULKAN
// Whether "auto" takes Vulkan device `index`: a GPU (a Vulkan device that runs on the CPU,
// such as lavapipe, is slower there than the CPU backend).
bool vulkan_gpu(int index) {
  try {
    const std::vector<vulkan::DeviceSummary> devices = vulkan::Device::list();
    return index >= 0 && static_cast<size_t>(index) < devices.size() && devices[static_cast<size_t>(index)].type != "CPU";
  } catch (const Error&) {
    return false;  // no Vulkan loader or instance
  }
}
#endif

}  // namespace

std::vector<std::string> built_backends() {
  std::vector<std::string> names;
#if CRIA_WITH_CUDA
  names.push_back("cuda");
#endif
#if CRIA_WITH_VULKAN
  names.push_back("vulkan");
#endif
  names.push_back("cpu");
  names.push_back("reference");
  return names;
}

std::string auto_backend(int device) {
#if CRIA_WITH_CUDA
  if (cuda_gpu(device)) return "cuda";
#endif
#if CRIA_WITH_VULKAN
  if (vulkan_gpu(device)) return "vulkan";
#endif
  return "cpu";
}

std::vector<DeviceInfo> list_devices() {
  BackendOptions defaults;
  std::vector<DeviceInfo> devices;
#if CRIA_WITH_CUDA
  try {
    const std::vector<cuda::DeviceSummary> gpus = cuda::list_devices();
    for (size_t i = 0; i < gpus.size(); ++i) devices.push_back({"cuda", static_cast<int>(i), gpus[i].describe()});
  } catch (const Error&) {
    // no driver or no device: no CUDA devices
  }
#endif
#if CRIA_WITH_VULKAN
  try {
    const std::vector<vulkan::DeviceSummary> gpus = vulkan::Device::list();
    for (size_t i = 0; i < gpus.size(); ++i) devices.push_back({"vulkan", static_cast<int>(i), gpus[i].describe()});
  } catch (const Error&) {
    // no Vulkan loader or instance: no Vulkan devices
  }
#endif
  devices.push_back({"cpu", 0, cpu::CpuBackend(defaults).device_description()});
  devices.push_back({"reference", 0, reference::ReferenceBackend(defaults).device_description()});
  return devices;
}

std::unique_ptr<Backend> create_backend(const BackendOptions& options) {
  const std::string& name = options.name;
  const std::string chosen = name.empty() || name == "auto" ? auto_backend(options.device) : name;
#if CRIA_WITH_CUDA
  if (chosen == "cuda")
    return on_device(options, [](const BackendOptions& o) { return std::make_unique<cuda::CudaBackend>(o); });
#endif
#if CRIA_WITH_VULKAN
  if (chosen == "vulkan")
    return on_device(options, [](const BackendOptions& o) { return std::make_unique<vulkan::VulkanBackend>(o); });
#endif
  if (chosen == "cpu") return std::make_unique<cpu::CpuBackend>(options);
  if (name == "reference") return std::make_unique<reference::ReferenceBackend>(options);
  throw Error(ErrorCode::Unsupported,
              "backend '" + name + "' is not built into this cria (built: " + joined(built_backends()) + ")");
}

}  // namespace cria
