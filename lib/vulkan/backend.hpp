#pragma once
// The Vulkan backend: the whole forward pass on a Vulkan device. Weights are uploaded once,
// in the file's block layouts, and decoded by the shaders; each sequence's keys and values
// live in device memory; a pass records every operation into one command buffer and runs it
// when the host needs a result (logits, or an activation read back by a test).
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cria/backend.hpp"
#include "vulkan/device.hpp"

namespace cria::vulkan {

// A weight on the device: whole rows in chunks of at most one storage-buffer binding each.
struct DeviceWeight {
  struct Chunk {
    Buffer buffer;
    int64_t first_row = 0, rows = 0;
  };
  DType type = DType::F32;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  std::vector<Chunk> chunks;
};

class VulkanBackend final : public Backend {
 public:
  explicit VulkanBackend(const BackendOptions& options);
  ~VulkanBackend() override;

  std::string name() const override { return "vulkan"; }
  std::string device_description() const override;
  void place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) override;
  std::unique_ptr<KvCache> create_kv_cache(int64_t positions, DType type) override;
  void read_kv(const KvCache& cache, int64_t first, int64_t n, void* out) override;
  void write_kv(KvCache& cache, int64_t first, int64_t n, const void* in) override;
  void reserve(int64_t entries, int64_t positions, int n_threads) override;
  int threads(int n_threads) const override { return 1; }
  std::unique_ptr<Pass> begin_pass(const BatchEntry* entries, int64_t n, int n_threads) override;
  // Reads a device-local buffer of up to 1 GiB (a quarter of the device's memory at most)
  // with a kernel, median of 5 timed runs.
  double probe_read_bandwidth(int n_threads) override;

 private:
  friend class VulkanPass;
  const DeviceWeight& weight(WeightId id) const;
  DeviceWeight upload(const TensorView& t, const std::string& what);
  // Sizes the pass buffers for `entries` entries (grows, never shrinks).
  void ensure_capacity(int64_t entries);

  BackendOptions options_;
  std::shared_ptr<Device> device_;
  LlamaConfig config_;
  std::array<DeviceWeight, 12> globals_;               // by WeightKind, layer -1
  std::vector<std::array<DeviceWeight, 12>> layers_;   // by layer, then WeightKind
  std::mutex busy_;  // one pass at a time: passes share the buffers below

  // Working memory of a pass: each activation [capacity][width]; the entries as the shaders
  // read them (token, position, logits row, 0, then the indices of the entries that want
  // logits); logits and read-back rows for the host.
  int64_t capacity_ = 0;
  std::array<Buffer, kActivationCount> activations_;
  Buffer entries_, host_out_;
  // Inputs rounded to 8 bits for the integer dot-product kernels (devices that have them).
  Buffer quantized_, quantized_info_;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
};

}  // namespace cria::vulkan
