#pragma once
// The Vulkan loader, opened at run time: libcria has no link-time dependency on libvulkan, so
// a machine without it still loads the library and gets an error naming what is missing when
// it asks for the Vulkan backend.
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <string>

namespace cria::vulkan {

// Instance-level and device-level entry points the backend calls.
#define CRIA_VK_INSTANCE_FUNCTIONS(X)                                                   \
  X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)    \
  X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2)                      \
  X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceQueueFamilyProperties)     \
  X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice) X(vkGetDeviceProcAddr)        \
  X(vkCreateDebugUtilsMessengerEXT) X(vkDestroyDebugUtilsMessengerEXT)
#define CRIA_VK_DEVICE_FUNCTIONS(X)                                                     \
  X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkDeviceWaitIdle) X(vkQueueSubmit)            \
  X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements)                   \
  X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory) \
  X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout)         \
  X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout)    \
  X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkCreateDescriptorPool)              \
  X(vkDestroyDescriptorPool) X(vkResetDescriptorPool) X(vkAllocateDescriptorSets)         \
  X(vkUpdateDescriptorSets) X(vkCreateCommandPool) X(vkDestroyCommandPool)                \
  X(vkAllocateCommandBuffers) X(vkResetCommandPool) X(vkBeginCommandBuffer)               \
  X(vkEndCommandBuffer) X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets)                   \
  X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer)        \
  X(vkCmdFillBuffer) X(vkCreateFence) X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences)

struct Functions {
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
  PFN_vkCreateInstance vkCreateInstance = nullptr;
  PFN_vkEnumerateInstanceLayerProperties vkEnumerateInstanceLayerProperties = nullptr;
  PFN_vkEnumerateInstanceExtensionProperties vkEnumerateInstanceExtensionProperties = nullptr;
#define CRIA_VK_DECLARE(name) PFN_##name name = nullptr;
  CRIA_VK_INSTANCE_FUNCTIONS(CRIA_VK_DECLARE)
  CRIA_VK_DEVICE_FUNCTIONS(CRIA_VK_DECLARE)
#undef CRIA_VK_DECLARE
};

// Opens libvulkan.so.1 (or the path in CRIA_VULKAN_LOADER) once and returns its global entry
// points; throws Error(Unsupported) naming the library when there is no Vulkan loader.
const Functions& global_functions();
// Fills the instance-level entry points of `instance` (optional ones stay null).
void load_instance_functions(Functions& f, VkInstance instance);
// Fills the device-level entry points of `device`; throws when one is missing.
void load_device_functions(Functions& f, VkDevice device);

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" and the like.
std::string result_name(VkResult r);
// Throws Error naming `what` and the result when `r` is not VK_SUCCESS: OutOfMemory for the
// out-of-memory results, Unsupported otherwise (a lost device included).
void check(VkResult r, const char* what);

}  // namespace cria::vulkan
