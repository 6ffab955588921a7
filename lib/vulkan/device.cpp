#include "vulkan/device.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cria/error.hpp"
#include "vulkan/shaders.hpp"

namespace cria::vulkan {

namespace {

VKAPI_ATTR VkBool32 VKAPI_CALL report_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT,
                                                 const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)
    std::fprintf(stderr, "cria: Vulkan validation error: %s\n", data->pMessage);
  else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)
    std::fprintf(stderr, "cria: Vulkan validation warning: %s\n", data->pMessage);
  return VK_FALSE;
}

bool has_extension(const std::vector<VkExtensionProperties>& list, const char* name) {
  for (const VkExtensionProperties& e : list)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

// The process's Vulkan instance, made on first use. With CRIA_VULKAN_VALIDATION=1 in the
// environment, the Khronos validation layer checks every call and its messages go to stderr.
struct Instance {
  Functions fn;
  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  std::vector<VkPhysicalDevice> physical;
  std::vector<DeviceSummary> summaries;
  std::vector<std::weak_ptr<Device>> open;
  std::mutex mutex;
};

DeviceSummary summarize(const Functions& fn, VkPhysicalDevice physical) {
  DeviceSummary s;
  VkPhysicalDeviceProperties props;
  fn.vkGetPhysicalDeviceProperties(physical, &props);
  s.name = props.deviceName;
  switch (props.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: s.type = "discrete GPU"; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: s.type = "integrated GPU"; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: s.type = "virtual GPU"; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: s.type = "CPU"; break;
    default: s.type = "other"; break;
  }
  VkPhysicalDeviceMemoryProperties memory;
  fn.vkGetPhysicalDeviceMemoryProperties(physical, &memory);
  for (uint32_t h = 0; h < memory.memoryHeapCount; ++h)
    if (memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) s.device_local_bytes += memory.memoryHeaps[h].size;
  const bool shares_host_memory = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                                  props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  for (uint32_t t = 0; t < memory.memoryTypeCount; ++t) {
    const VkMemoryPropertyFlags f = memory.memoryTypes[t].propertyFlags;
    if (shares_host_memory && (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
      s.unified_memory = true;
  }
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &subgroup};
  fn.vkGetPhysicalDeviceProperties2(physical, &props2);
  s.features.push_back("subgroup size " + std::to_string(subgroup.subgroupSize));
  uint32_t count = 0;
  fn.vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  fn.vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, extensions.data());
  for (const char* e : {"VK_KHR_shader_integer_dot_product", "VK_KHR_cooperative_matrix", "VK_KHR_shader_float16_int8",
                        "VK_KHR_16bit_storage", "VK_KHR_8bit_storage"})
    if (has_extension(extensions, e)) s.features.push_back(e);
  return s;
}

Instance& instance() {
  static Instance* made = nullptr;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    auto in = std::make_unique<Instance>();
    try {
      in->fn = global_functions();
      const char* validation = std::getenv("CRIA_VULKAN_VALIDATION");
      const bool validate = validation && std::strcmp(validation, "0") != 0;
      std::vector<const char*> layers, extensions;
      if (validate) {
        layers.push_back("VK_LAYER_KHRONOS_validation");
        extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
      }
      VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
      app.pApplicationName = "cria";
      app.pEngineName = "cria";
      app.apiVersion = VK_API_VERSION_1_1;
      VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
      info.pApplicationInfo = &app;
      info.enabledLayerCount = static_cast<uint32_t>(layers.size());
      info.ppEnabledLayerNames = layers.data();
      info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
      info.ppEnabledExtensionNames = extensions.data();
      VkResult r = in->fn.vkCreateInstance(&info, nullptr, &in->instance);
      if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        throw Error(ErrorCode::Unsupported, "no Vulkan driver: the loader found no device driver (VK_ERROR_INCOMPATIBLE_DRIVER)");
      if (r == VK_ERROR_LAYER_NOT_PRESENT)
        throw Error(ErrorCode::Unsupported, "CRIA_VULKAN_VALIDATION is set but the Khronos validation layer is not installed");
      check(r, "vkCreateInstance");
      load_instance_functions(in->fn, in->instance);
      if (validate && in->fn.vkCreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerCreateInfoEXT m{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
        m.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
        m.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
        m.pfnUserCallback = report_validation;
        check(in->fn.vkCreateDebugUtilsMessengerEXT(in->instance, &m, nullptr, &in->messenger), "vkCreateDebugUtilsMessengerEXT");
      }
      uint32_t count = 0;
      check(in->fn.vkEnumeratePhysicalDevices(in->instance, &count, nullptr), "vkEnumeratePhysicalDevices");
      in->physical.resize(count);
      check(in->fn.vkEnumeratePhysicalDevices(in->instance, &count, in->physical.data()), "vkEnumeratePhysicalDevices");
      for (VkPhysicalDevice p : in->physical) in->summaries.push_back(summarize(in->fn, p));
      in->open.resize(count);
      made = in.release();  // lives as long as the process: devices may be used until exit
    } catch (const Error& e) {
      failure = e.what();
      if (in->messenger && in->fn.vkDestroyDebugUtilsMessengerEXT)
        in->fn.vkDestroyDebugUtilsMessengerEXT(in->instance, in->messenger, nullptr);
      if (in->instance && in->fn.vkDestroyInstance) in->fn.vkDestroyInstance(in->instance, nullptr);
    }
  });
  if (!made) throw Error(ErrorCode::Unsupported, "Vulkan: " + failure);
  return *made;
}

}  // namespace

std::string DeviceSummary::describe() const {
  std::string s = name + " (" + type + ", " + std::to_string(device_local_bytes >> 20) + " MiB device-local" +
                  (unified_memory ? ", shared with the host" : "");
  for (const std::string& f : features) s += ", " + f;
  return s + ")";
}

std::vector<DeviceSummary> Device::list() { return instance().summaries; }

std::shared_ptr<Device> Device::open(int index) {
  Instance& in = instance();
  if (index < 0 || static_cast<size_t>(index) >= in.physical.size())
    throw Error(ErrorCode::InvalidArgument, "device " + std::to_string(index) + ": the Vulkan backend has " +
                                                std::to_string(in.physical.size()) + " device(s)");
  std::lock_guard<std::mutex> lock(in.mutex);
  std::shared_ptr<Device> device = in.open[static_cast<size_t>(index)].lock();
  if (!device || device->lost()) {
    device = std::make_shared<Device>(in.physical[static_cast<size_t>(index)], in.summaries[static_cast<size_t>(index)]);
    in.open[static_cast<size_t>(index)] = device;
  }
  return device;
}

Device::Device(VkPhysicalDevice physical, const DeviceSummary& summary)
    : fn_(instance().fn), physical_(physical), summary_(summary) {
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &subgroup};
  fn_.vkGetPhysicalDeviceProperties2(physical, &props2);
  const VkPhysicalDeviceLimits& limits = props2.properties.limits;
  if (!(subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
      !(subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT))
    throw Error(ErrorCode::Unsupported, summary_.name + ": the Vulkan backend needs subgroup arithmetic in compute shaders");
  if (limits.maxComputeSharedMemorySize < 2048 || limits.maxComputeWorkGroupSize[0] < 256 || limits.maxPushConstantsSize < 128)
    throw Error(ErrorCode::Unsupported, summary_.name + ": compute limits below what the Vulkan backend needs");
  max_range_ = limits.maxStorageBufferRange;
  range_alignment_ = limits.minStorageBufferOffsetAlignment;
  subgroup_size_ = subgroup.subgroupSize;
  fn_.vkGetPhysicalDeviceMemoryProperties(physical, &memory_);

  uint32_t count = 0;
  fn_.vkGetPhysicalDeviceQueueFamilyProperties(physical, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  fn_.vkGetPhysicalDeviceQueueFamilyProperties(physical, &count, families.data());
  bool found = false;
  for (uint32_t f = 0; f < count && !found; ++f)
    if (families[f].queueFlags & VK_QUEUE_COMPUTE_BIT) queue_family_ = f, found = true;
  if (!found) throw Error(ErrorCode::Unsupported, summary_.name + " has no compute queue");
  // Integer dot products where the device has them (and the environment does not refuse them).
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot_features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  std::vector<const char*> extensions;
  {
    uint32_t n = 0;
    fn_.vkEnumerateDeviceExtensionProperties(physical, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> available(n);
    fn_.vkEnumerateDeviceExtensionProperties(physical, nullptr, &n, available.data());
    const char* env = std::getenv("CRIA_VULKAN_INTEGER_DOT");
    if (has_extension(available, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME) && !(env && std::strcmp(env, "0") == 0)) {
      VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &dot_features};
      fn_.vkGetPhysicalDeviceFeatures2(physical, &features);
      integer_dot_ = dot_features.shaderIntegerDotProduct == VK_TRUE;
    }
    if (integer_dot_) extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    dot_features.shaderIntegerDotProduct = integer_dot_ ? VK_TRUE : VK_FALSE;
    dot_features.pNext = nullptr;
  }
  const char* tiles = std::getenv("CRIA_VULKAN_PROMPT_TILES");
  prompt_tiles_ = tiles && *tiles ? std::strcmp(tiles, "0") != 0 : summary_.type != "CPU";
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue.queueFamilyIndex = queue_family_;
  queue.queueCount = 1;
  queue.pQueuePriorities = &priority;
  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue;
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  if (integer_dot_) info.pNext = &dot_features;
  check(fn_.vkCreateDevice(physical, &info, nullptr, &device_), "vkCreateDevice");
  load_device_functions(fn_, device_);
  fn_.vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

  VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  pool.queueFamilyIndex = queue_family_;
  check(fn_.vkCreateCommandPool(device_, &pool, nullptr, &upload_pool_), "vkCreateCommandPool");
}

Device::~Device() {
  fn_.vkDeviceWaitIdle(device_);
  destroy(staging_);
  for (auto& [name, k] : kernels_) {
    fn_.vkDestroyPipeline(device_, k.pipeline, nullptr);
    fn_.vkDestroyPipelineLayout(device_, k.layout, nullptr);
    fn_.vkDestroyDescriptorSetLayout(device_, k.set_layout, nullptr);
  }
  fn_.vkDestroyCommandPool(device_, upload_pool_, nullptr);
  fn_.vkDestroyDevice(device_, nullptr);
}

uint32_t Device::memory_type(uint32_t allowed, Memory memory) const {
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  // Preferences, best first: device memory the host can map on a device that shares the
  // host's memory (no staging copy), then device-local; host memory must be mappable.
  std::vector<VkMemoryPropertyFlags> wanted;
  if (memory == Memory::Device) {
    if (summary_.unified_memory) wanted.push_back(VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | host);
    wanted.push_back(VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  } else {
    wanted.push_back(host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    wanted.push_back(host);
  }
  for (VkMemoryPropertyFlags w : wanted)
    for (uint32_t t = 0; t < memory_.memoryTypeCount; ++t)
      if ((allowed & (1u << t)) && (memory_.memoryTypes[t].propertyFlags & w) == w) return t;
  throw Error(ErrorCode::Unsupported, summary_.name + ": no suitable memory type for a buffer");
}

Buffer Device::create_buffer(VkDeviceSize size, Memory memory, const std::string& what) {
  Buffer b;
  b.size = (size + 3) & ~VkDeviceSize(3);
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = b.size;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  auto out_of_memory = [&](VkResult r) {
    destroy(b);
    throw Error(ErrorCode::OutOfMemory, summary_.name + ": no device memory for " + what + " (" +
                                            std::to_string(size) + " bytes; the device has " +
                                            std::to_string(summary_.device_local_bytes >> 20) + " MiB of local memory): " +
                                            result_name(r));
  };
  VkResult r = fn_.vkCreateBuffer(device_, &info, nullptr, &b.buffer);
  if (r != VK_SUCCESS) out_of_memory(r);
  VkMemoryRequirements req;
  fn_.vkGetBufferMemoryRequirements(device_, b.buffer, &req);
  VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  alloc.allocationSize = req.size;
  alloc.memoryTypeIndex = memory_type(req.memoryTypeBits, memory);
  const uint32_t heap = memory_.memoryTypes[alloc.memoryTypeIndex].heapIndex;
  {
    std::lock_guard<std::mutex> lock(heap_mutex_);
    if (heap_used_[heap] + req.size > memory_.memoryHeaps[heap].size) {
      const VkDeviceSize used = heap_used_[heap];
      destroy(b);
      throw Error(ErrorCode::OutOfMemory, summary_.name + ": no device memory for " + what + " (" +
                                              std::to_string(size) + " bytes; " + std::to_string(used >> 20) + " of its " +
                                              std::to_string(memory_.memoryHeaps[heap].size >> 20) +
                                              " MiB are in use by this process)");
    }
    heap_used_[heap] += req.size;
  }
  b.heap = heap;
  b.allocated = req.size;
  r = fn_.vkAllocateMemory(device_, &alloc, nullptr, &b.memory);
  if (r != VK_SUCCESS) out_of_memory(r);
  check(fn_.vkBindBufferMemory(device_, b.buffer, b.memory, 0), "vkBindBufferMemory");
  if (memory_.memoryTypes[alloc.memoryTypeIndex].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    r = fn_.vkMapMemory(device_, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped);
    if (r != VK_SUCCESS) out_of_memory(r);
  }
  return b;
}

void Device::destroy(Buffer& b) {
  if (b.allocated) {
    std::lock_guard<std::mutex> lock(heap_mutex_);
    heap_used_[b.heap] -= b.allocated;
  }
  if (b.mapped) fn_.vkUnmapMemory(device_, b.memory);
  if (b.buffer) fn_.vkDestroyBuffer(device_, b.buffer, nullptr);
  if (b.memory) fn_.vkFreeMemory(device_, b.memory, nullptr);
  b = Buffer{};
}

void Device::upload(const Buffer& to, VkDeviceSize offset, const void* data, size_t bytes) {
  if (to.mapped) {
    std::memcpy(static_cast<uint8_t*>(to.mapped) + offset, data, bytes);
    return;
  }
  copy_through_staging(to, offset, const_cast<uint8_t*>(static_cast<const uint8_t*>(data)), bytes, true);
}

void Device::download(const Buffer& from, VkDeviceSize offset, void* data, size_t bytes) {
  if (from.mapped) {
    std::memcpy(data, static_cast<const uint8_t*>(from.mapped) + offset, bytes);
    return;
  }
  copy_through_staging(from, offset, static_cast<uint8_t*>(data), bytes, false);
}

void Device::copy_through_staging(const Buffer& buffer, VkDeviceSize offset, uint8_t* host, size_t bytes,
                                  bool to_device) {
  std::lock_guard<std::mutex> lock(upload_mutex_);
  const VkDeviceSize piece = 64ull << 20;
  if (!staging_.buffer) staging_ = create_buffer(piece, Memory::Host, "the upload staging buffer");
  for (size_t done = 0; done < bytes; done += piece) {
    const size_t n = std::min<size_t>(piece, bytes - done);
    if (to_device) std::memcpy(staging_.mapped, host + done, n);
    VkCommandBufferAllocateInfo a{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    a.commandPool = upload_pool_;
    a.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    a.commandBufferCount = 1;
    VkCommandBuffer cb;
    check(fn_.vkAllocateCommandBuffers(device_, &a, &cb), "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    fn_.vkBeginCommandBuffer(cb, &begin);
    if (to_device) {
      // Whole words up to the buffer's end: uploads of weights are padded to words.
      VkBufferCopy region{0, offset + done, (n + 3) & ~size_t(3)};
      region.size = std::min<VkDeviceSize>(region.size, buffer.size - (offset + done));
      fn_.vkCmdCopyBuffer(cb, staging_.buffer, buffer.buffer, 1, &region);
    } else {
      const VkBufferCopy region{offset + done, 0, n};
      fn_.vkCmdCopyBuffer(cb, buffer.buffer, staging_.buffer, 1, &region);
    }
    check(fn_.vkEndCommandBuffer(cb), "vkEndCommandBuffer");
    submit_and_wait(cb);
    fn_.vkResetCommandPool(device_, upload_pool_, 0);
    if (!to_device) std::memcpy(host + done, staging_.mapped, n);
  }
}

void Device::bind_storage_buffers(VkDescriptorSet set, const Range* ranges, uint32_t count) const {
  VkDescriptorBufferInfo infos[8];
  VkWriteDescriptorSet writes[8];
  if (count > 8) throw Error(ErrorCode::Unsupported, "a kernel with more than 8 storage buffers");
  for (uint32_t i = 0; i < count; ++i) {
    infos[i] = {ranges[i].buffer, ranges[i].offset, ranges[i].size};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  fn_.vkUpdateDescriptorSets(device_, count, writes, 0, nullptr);
}

const Kernel& Device::kernel(const std::string& name) {
  std::lock_guard<std::mutex> lock(kernel_mutex_);
  auto it = kernels_.find(name);
  if (it != kernels_.end()) return it->second;
  const Shader* shader = find_shader(name);
  if (!shader) throw Error(ErrorCode::Unsupported, "the Vulkan backend has no kernel " + name);
  Kernel k;
  k.bindings = shader->bindings;
  std::vector<VkDescriptorSetLayoutBinding> bindings(k.bindings);
  for (uint32_t i = 0; i < k.bindings; ++i)
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo set{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  set.bindingCount = k.bindings;
  set.pBindings = bindings.data();
  check(fn_.vkCreateDescriptorSetLayout(device_, &set, nullptr, &k.set_layout), "vkCreateDescriptorSetLayout");
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, 128};
  VkPipelineLayoutCreateInfo layout{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout.setLayoutCount = 1;
  layout.pSetLayouts = &k.set_layout;
  layout.pushConstantRangeCount = 1;
  layout.pPushConstantRanges = &push;
  check(fn_.vkCreatePipelineLayout(device_, &layout, nullptr, &k.layout), "vkCreatePipelineLayout");
  VkShaderModuleCreateInfo module{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module.codeSize = shader->bytes;
  module.pCode = reinterpret_cast<const uint32_t*>(shader->spirv);
  VkShaderModule m;
  check(fn_.vkCreateShaderModule(device_, &module, nullptr, &m), "vkCreateShaderModule");
  VkComputePipelineCreateInfo pipeline{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  pipeline.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  pipeline.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pipeline.stage.module = m;
  pipeline.stage.pName = "main";
  pipeline.layout = k.layout;
  const VkResult r = fn_.vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &pipeline, nullptr, &k.pipeline);
  fn_.vkDestroyShaderModule(device_, m, nullptr);
  check(r, ("vkCreateComputePipelines (" + name + ")").c_str());
  return kernels_.emplace(name, k).first->second;
}

void Device::submit_and_wait(VkCommandBuffer commands) {
  if (lost_) check(VK_ERROR_DEVICE_LOST, "running kernels on the Vulkan device");
  VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  check(fn_.vkCreateFence(device_, &info, nullptr, &fence), "vkCreateFence");
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &commands;
  VkResult r;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    r = fn_.vkQueueSubmit(queue_, 1, &submit, fence);
  }
  if (r == VK_SUCCESS) r = fn_.vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX);
  fn_.vkDestroyFence(device_, fence, nullptr);
  if (r == VK_ERROR_DEVICE_LOST) lost_ = true;
  check(r, "running kernels on the Vulkan device");
}

}  // namespace cria::vulkan
