#pragma once
// A Vulkan device as the backend uses it: one logical device and compute queue per physical
// device per process, shared by every model placed on it (from any thread), with its
// buffers, the compute kernels (SPIR-V built into the library) and queue submission.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vulkan/loader.hpp"

namespace cria::vulkan {

// What `cria devices` and the backend tell of a physical device.
struct DeviceSummary {
  std::string name;
  std::string type;           // "discrete GPU", "integrated GPU", "CPU", ...
  uint64_t device_local_bytes = 0;
  bool unified_memory = false;  // device-local memory the host can map
  std::vector<std::string> features;  // extensions and features that matter to cria
  std::string describe() const;
};

// A buffer with its own memory allocation.
struct Buffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
  void* mapped = nullptr;  // host address where the memory is host-visible
  uint32_t heap = 0;               // the memory heap it was allocated from
  VkDeviceSize allocated = 0;      // bytes taken from that heap
};
enum class Memory {
  Device,  // device-local (mapped too where the device's local memory is host-visible)
  Host,    // host-visible and coherent: what the host writes or reads every pass
};

// A bound part of a buffer, as a kernel's storage buffer sees it.
struct Range {
  VkBuffer buffer;
  VkDeviceSize offset, size;
};

// A compute pipeline built from one of the library's shaders.
struct Kernel {
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  uint32_t bindings = 0;
};

class Device {
 public:
  // The summaries of every physical device, in Vulkan's order (the index `device` picks).
  // Throws Unsupported when there is no Vulkan loader or no instance.
  static std::vector<DeviceSummary> list();
  // The shared device at `index`; throws InvalidArgument for an index without a device.
  static std::shared_ptr<Device> open(int index);

  Device(VkPhysicalDevice physical, const DeviceSummary& summary);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const Functions& fn() const { return fn_; }
  VkDevice handle() const { return device_; }
  const DeviceSummary& summary() const { return summary_; }
  // The most bytes one storage-buffer binding may cover, and the alignment of its offset.
  VkDeviceSize max_range() const { return max_range_; }
  VkDeviceSize range_alignment() const { return range_alignment_; }
  uint32_t subgroup_size() const { return subgroup_size_; }
  // Whether the device runs 8-bit integer dot products (VK_KHR_shader_integer_dot_product),
  // which the kernels for Q4_0 and Q8_0 weights then use for generation. CRIA_VULKAN_INTEGER_DOT=0
  // in the environment turns them off (the portable f32 kernels run instead).
  bool integer_dot() const { return integer_dot_; }
  // Whether batches of more than a few entries (prompts) use the shared-memory tile kernel: on
  // GPUs. A device that runs on the CPU (lavapipe) emulates shared memory and barriers slowly
  // and takes the row kernel for every batch (4x faster there for 16 entries, 2x for 64).
  // CRIA_VULKAN_PROMPT_TILES=1 or 0 in the environment decides instead.
  bool prompt_tiles() const { return prompt_tiles_; }
  uint32_t queue_family() const { return queue_family_; }

  // Throws OutOfMemory naming `what` and the sizes when the device has no room: when the
  // driver refuses, or when the buffers of this process would exceed the heap's size (some
  // drivers, lavapipe among them, would otherwise overcommit the host's memory).
  Buffer create_buffer(VkDeviceSize size, Memory memory, const std::string& what);
  void destroy(Buffer& buffer);
  // Copies host bytes into a buffer: straight into its mapping where it has one, else
  // through a staging buffer and a copy on the queue.
  void upload(const Buffer& to, VkDeviceSize offset, const void* data, size_t bytes);
  // Copies bytes of a buffer to the host, the same ways.
  void download(const Buffer& from, VkDeviceSize offset, void* data, size_t bytes);

  // Points bindings 0, 1, ... of `set` at `ranges` (storage buffers).
  void bind_storage_buffers(VkDescriptorSet set, const Range* ranges, uint32_t count) const;

  // The kernel built from the shader `name` ("matmul_q4_0", ...), made on first use.
  const Kernel& kernel(const std::string& name);

  // Submits a recorded command buffer and waits for it; the queue is shared by all users.
  // After VK_ERROR_DEVICE_LOST the device is lost for good: every later submission fails at
  // once, and open() makes a new device for models loaded from then on.
  void submit_and_wait(VkCommandBuffer commands);
  bool lost() const { return lost_.load(); }

 private:
  uint32_t memory_type(uint32_t allowed, Memory memory) const;
  // Copies between `host` and a buffer the host cannot map, in pieces through staging_.
  void copy_through_staging(const Buffer& buffer, VkDeviceSize offset, uint8_t* host, size_t bytes, bool to_device);

  Functions fn_;
  VkPhysicalDevice physical_;
  DeviceSummary summary_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkDeviceSize max_range_ = 0, range_alignment_ = 1;
  uint32_t subgroup_size_ = 0;
  bool integer_dot_ = false;
  bool prompt_tiles_ = true;
  VkPhysicalDeviceMemoryProperties memory_{};
  std::mutex queue_mutex_;   // vkQueueSubmit needs the queue to itself
  std::atomic<bool> lost_{false};
  std::mutex heap_mutex_;
  VkDeviceSize heap_used_[VK_MAX_MEMORY_HEAPS] = {};
  std::mutex kernel_mutex_;
  std::map<std::string, Kernel> kernels_;
  // Staging for copies to and from memory the host cannot map, with its own commands.
  std::mutex upload_mutex_;
  VkCommandPool upload_pool_ = VK_NULL_HANDLE;
  Buffer staging_;
};

}  // namespace cria::vulkan
