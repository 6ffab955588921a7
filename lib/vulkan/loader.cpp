#include "vulkan/loader.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "cria/error.hpp"

namespace cria::vulkan {

const Functions& global_functions() {
  static Functions f;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    // CRIA_VULKAN_LOADER names another loader library (a path), for machines that keep it
    // elsewhere.
    const char* path = std::getenv("CRIA_VULKAN_LOADER");
    if (!path || !*path) path = "libvulkan.so.1";
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      failure = std::string("no Vulkan loader: ") + path + " cannot be opened (" + dlerror() + ")";
      return;
    }
    f.vkGetInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
    if (!f.vkGetInstanceProcAddr) {
      failure = "libvulkan.so.1 has no vkGetInstanceProcAddr";
      return;
    }
    auto global = [&](const char* name) { return f.vkGetInstanceProcAddr(VK_NULL_HANDLE, name); };
    f.vkCreateInstance = reinterpret_cast<PFN_vkCreateInstance>(global("vkCreateInstance"));
    f.vkEnumerateInstanceLayerProperties =
        reinterpret_cast<PFN_vkEnumerateInstanceLayerProperties>(global("vkEnumerateInstanceLayerProperties"));
    f.vkEnumerateInstanceExtensionProperties =
        reinterpret_cast<PFN_vkEnumerateInstanceExtensionProperties>(global("vkEnumerateInstanceExtensionProperties"));
    if (!f.vkCreateInstance || !f.vkEnumerateInstanceExtensionProperties) failure = "the Vulkan loader lacks vkCreateInstance";
  });
  if (!failure.empty()) throw Error(ErrorCode::Unsupported, failure);
  return f;
}

void load_instance_functions(Functions& f, VkInstance instance) {
#define CRIA_VK_LOAD(name) f.name = reinterpret_cast<PFN_##name>(f.vkGetInstanceProcAddr(instance, #name));
  CRIA_VK_INSTANCE_FUNCTIONS(CRIA_VK_LOAD)
#undef CRIA_VK_LOAD
  if (!f.vkEnumeratePhysicalDevices || !f.vkCreateDevice || !f.vkGetDeviceProcAddr || !f.vkGetPhysicalDeviceProperties2)
    throw Error(ErrorCode::Unsupported, "the Vulkan instance lacks Vulkan 1.1 entry points");
}

void load_device_functions(Functions& f, VkDevice device) {
#define CRIA_VK_LOAD(name)                                                                        \
  f.name = reinterpret_cast<PFN_##name>(f.vkGetDeviceProcAddr(device, #name));                    \
  if (!f.name) throw Error(ErrorCode::Unsupported, "the Vulkan device lacks " #name);
  CRIA_VK_DEVICE_FUNCTIONS(CRIA_VK_LOAD)
#undef CRIA_VK_LOAD
}

std::string result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult " + std::to_string(static_cast<int>(r));
  }
}

void check(VkResult r, const char* what) {
  if (r == VK_SUCCESS) return;
  const std::string message = std::string(what) + " failed: " + result_name(r);
  if (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_POOL_MEMORY)
    throw Error(ErrorCode::OutOfMemory, message);
  if (r == VK_ERROR_DEVICE_LOST) throw Error(ErrorCode::Unsupported, message + " (the GPU was reset or removed: models on it fail from now on; load them again)");
  throw Error(ErrorCode::Unsupported, message);
}

}  // namespace cria::vulkan
