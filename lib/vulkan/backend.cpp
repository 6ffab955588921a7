#include "vulkan/backend.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "backend/weight_list.hpp"
#include "cria/error.hpp"

namespace cria::vulkan {

namespace {

// Keys and values of one sequence: one buffer each, [layer][position][kv_dim], every layer
// starting at a multiple of `layer_bytes` so that a binding can cover one layer.
class VulkanKvCache final : public KvCache {
 public:
  VulkanKvCache(std::shared_ptr<Device> device, int64_t positions, DType type, VkDeviceSize layer_bytes, int64_t layers)
      : KvCache(positions, type), device(std::move(device)), layer_bytes(layer_bytes) {
    const std::string what = "a KV cache of " + std::to_string(positions) + " positions";
    keys = this->device->create_buffer(layer_bytes * layers, Memory::Device, what);
    try {
      values = this->device->create_buffer(layer_bytes * layers, Memory::Device, what);
    } catch (...) {
      this->device->destroy(keys);
      throw;
    }
  }
  ~VulkanKvCache() override {
    device->destroy(keys);
    device->destroy(values);
  }
  Range key_layer(int64_t layer) const { return {keys.buffer, layer_bytes * layer, layer_bytes}; }
  Range value_layer(int64_t layer) const { return {values.buffer, layer_bytes * layer, layer_bytes}; }

  std::shared_ptr<Device> device;
  VkDeviceSize layer_bytes;
  Buffer keys, values;
};

const char* type_suffix(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    case DType::Q4_1: return "q4_1";
    case DType::Q5_0: return "q5_0";
    case DType::Q5_1: return "q5_1";
    case DType::Q2_K: return "q2_k";
    case DType::Q3_K: return "q3_k";
    case DType::Q4_K: return "q4_k";
    case DType::Q5_K: return "q5_k";
    case DType::Q6_K: return "q6_k";
    default: return nullptr;
  }
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

uint32_t groups(int64_t items, int64_t per_group) { return static_cast<uint32_t>((items + per_group - 1) / per_group); }

const char* kind_name(WeightKind k) {
  static const char* names[] = {"token embedding", "attention norm", "query", "key", "value", "attention output",
                                "feed-forward norm", "gate", "up", "down", "output norm", "output"};
  return names[static_cast<int>(k)];
}

}  // namespace

class VulkanPass final : public Pass {
 public:
  VulkanPass(VulkanBackend& backend, const BatchEntry* entries, int64_t n)
      : b_(backend), d_(*backend.device_), fn_(d_.fn()), c_(backend.config_), hold_(backend.busy_), entries_(entries), n_(n) {
    b_.ensure_capacity(n);
    // The entries as the shaders read them, then the indices of those that want logits.
    auto* e = static_cast<int32_t*>(b_.entries_.mapped);
    for (int64_t t = 0; t < n; ++t) {
      e[4 * t] = entries[t].token;
      e[4 * t + 1] = static_cast<int32_t>(entries[t].position);
      e[4 * t + 2] = e[4 * t + 3] = 0;
      if (entries[t].wants_logits) e[4 * n + n_logits_++] = static_cast<int32_t>(t);
      if (entries[t].token < 0 || entries[t].token >= c_.vocab_size)
        throw Error(ErrorCode::InvalidArgument, "token " + std::to_string(entries[t].token) + " is outside the vocabulary");
    }
    begin();
  }

  ~VulkanPass() override {
    // Work recorded but never run (a pass that threw) is dropped.
    if (recording_) fn_.vkEndCommandBuffer(commands_);
    fn_.vkResetCommandPool(d_.handle(), b_.command_pool_, 0);
    fn_.vkResetDescriptorPool(d_.handle(), b_.descriptor_pool_, 0);
  }

  void embed(Activation out) override {
    const DeviceWeight& table = b_.weight({WeightKind::TokenEmbedding});
    for (const DeviceWeight::Chunk& chunk : table.chunks) {
      const uint32_t push[] = {u(chunk.rows), u(table.cols), u(table.row_bytes), u(chunk.first_row), u(n_)};
      dispatch(std::string("embed_") + type_suffix(table.type), {whole(chunk.buffer), act(out), whole(b_.entries_)}, push,
               sizeof push, groups((table.cols + 15) / 16, 64), u(n_));
    }
  }

  void rmsnorm(Activation out, Activation in, WeightId weight) override {
    const uint32_t push[] = {u(c_.dim), 0, bits(c_.rms_eps)};
    dispatch("rmsnorm", {act(in), whole(b_.weight(weight).chunks[0].buffer), act(out), whole(b_.entries_)}, push,
             sizeof push, u(n_), 1);
  }

  void matmul(Activation in, std::initializer_list<Projection> projections) override {
    for (const Projection& p : projections)
      multiply(b_.weight(p.weight), act(in), act(p.out), static_cast<uint32_t>(activation_width(c_, p.out)), u(n_), 0);
  }

  void rope(Activation a, int64_t n_heads) override {
    const int64_t pairs = n_heads * c_.head_dim() / 2;
    const uint32_t push[] = {u(pairs), u(c_.head_dim()), u(activation_width(c_, a)), bits(c_.rope_base)};
    dispatch("rope", {act(a), whole(b_.entries_)}, push, sizeof push, groups(pairs, 64), u(n_));
  }

  void store_kv(int64_t layer, Activation key, Activation value) override {
    for_each_sequence([&](int64_t first, int64_t count, const VulkanKvCache& cache) {
      const uint32_t push[] = {u(first), u(c_.kv_dim())};
      dispatch(cache.type() == DType::F16 ? "store_kv_f16" : "store_kv_f32",
               {act(key), act(value), cache.key_layer(layer), cache.value_layer(layer), whole(b_.entries_)}, push,
               sizeof push, groups(c_.kv_dim() / 2, 64), u(count));
    });
  }

  void attention(int64_t layer, Activation query, Activation out) override {
    for_each_sequence([&](int64_t first, int64_t count, const VulkanKvCache& cache) {
      const uint32_t push[] = {u(first), u(c_.head_dim()), u(c_.dim), u(c_.kv_dim()), u(c_.n_heads / c_.n_kv_heads),
                               bits(1.0f / std::sqrt(static_cast<float>(c_.head_dim())))};
      dispatch(cache.type() == DType::F16 ? "attention_f16" : "attention_f32",
               {act(query), act(out), cache.key_layer(layer), cache.value_layer(layer), whole(b_.entries_)}, push,
               sizeof push, u(c_.n_heads), u(count));
    });
  }

  void add(Activation into, Activation from) override { elementwise("add", into, from); }
  void swiglu(Activation gate, Activation up) override { elementwise("swiglu", gate, up); }

  void logits(Activation in, float* out) override {
    if (n_logits_ > 0) {
      // The final norm of the entries that want logits, packed in rows 0.., then the classifier.
      const uint32_t push[] = {u(c_.dim), u(4 * n_), bits(c_.rms_eps)};
      dispatch("rmsnorm", {act(in), whole(b_.weight({WeightKind::OutputNorm}).chunks[0].buffer), act(Activation::Normed),
                           whole(b_.entries_)},
               push, sizeof push, u(n_logits_), 1);
      multiply(b_.weight({WeightKind::Output}), act(Activation::Normed), whole(b_.host_out_), u(c_.vocab_size),
               u(n_logits_), 0);
    }
    run();
    std::memcpy(out, b_.host_out_.mapped, sizeof(float) * static_cast<size_t>(n_logits_ * c_.vocab_size));
  }

  void write(Activation a, const float* in) override {
    const VkDeviceSize bytes = sizeof(float) * static_cast<VkDeviceSize>(n_ * activation_width(c_, a));
    std::memcpy(b_.host_out_.mapped, in, bytes);
    const VkBufferCopy region{0, 0, bytes};
    fn_.vkCmdCopyBuffer(commands_, b_.host_out_.buffer, b_.activations_[static_cast<int>(a)].buffer, 1, &region);
    VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    fn_.vkCmdPipelineBarrier(commands_, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                             &barrier, 0, nullptr, 0, nullptr);
    run();  // host_out_ is free again for what the pass reads back next
  }

  void read(Activation a, float* out) override {
    const VkDeviceSize bytes = sizeof(float) * static_cast<VkDeviceSize>(n_ * activation_width(c_, a));
    const VkBufferCopy region{0, 0, bytes};
    fn_.vkCmdCopyBuffer(commands_, b_.activations_[static_cast<int>(a)].buffer, b_.host_out_.buffer, 1, &region);
    run();
    std::memcpy(out, b_.host_out_.mapped, bytes);
  }

 private:
  static uint32_t u(int64_t v) { return static_cast<uint32_t>(v); }

  Range act(Activation a) const {
    return {b_.activations_[static_cast<int>(a)].buffer, 0,
            sizeof(float) * static_cast<VkDeviceSize>(n_ * activation_width(c_, a))};
  }
  static Range whole(const Buffer& b) { return {b.buffer, 0, b.size}; }

  void begin() {
    VkCommandBufferAllocateInfo a{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    a.commandPool = b_.command_pool_;
    a.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    a.commandBufferCount = 1;
    check(fn_.vkAllocateCommandBuffers(d_.handle(), &a, &commands_), "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(fn_.vkBeginCommandBuffer(commands_, &begin), "vkBeginCommandBuffer");
    recording_ = true;
  }

  // Runs what was recorded and waits for it, then starts recording again.
  void run() {
    VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    fn_.vkCmdPipelineBarrier(commands_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                             VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0, nullptr);
    check(fn_.vkEndCommandBuffer(commands_), "vkEndCommandBuffer");
    recording_ = false;
    d_.submit_and_wait(commands_);
    fn_.vkResetCommandPool(d_.handle(), b_.command_pool_, 0);
    fn_.vkResetDescriptorPool(d_.handle(), b_.descriptor_pool_, 0);
    begin();
  }

  // Records one kernel over `buffers` (bindings 0..), with its push constants, and a barrier
  // so that the next kernel sees what it wrote.
  void dispatch(const std::string& name, std::initializer_list<Range> buffers, const void* push, size_t push_bytes,
                uint32_t groups_x, uint32_t groups_y) {
    if (groups_x == 0 || groups_y == 0) return;
    const Kernel& k = d_.kernel(name);
    VkDescriptorSetAllocateInfo a{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    a.descriptorPool = b_.descriptor_pool_;
    a.descriptorSetCount = 1;
    a.pSetLayouts = &k.set_layout;
    VkDescriptorSet set;
    VkResult r = fn_.vkAllocateDescriptorSets(d_.handle(), &a, &set);
    if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
      run();  // the pool is spent: run what is recorded, which frees it
      r = fn_.vkAllocateDescriptorSets(d_.handle(), &a, &set);
    }
    check(r, "vkAllocateDescriptorSets");
    d_.bind_storage_buffers(set, buffers.begin(), static_cast<uint32_t>(buffers.size()));
    fn_.vkCmdBindPipeline(commands_, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline);
    fn_.vkCmdBindDescriptorSets(commands_, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout, 0, 1, &set, 0, nullptr);
    fn_.vkCmdPushConstants(commands_, k.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, static_cast<uint32_t>(push_bytes), push);
    fn_.vkCmdDispatch(commands_, groups_x, groups_y, 1);
    VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT;
    fn_.vkCmdPipelineBarrier(commands_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                             VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &barrier, 0,
                             nullptr, 0, nullptr);
  }

  // y rows (stride y_stride) = x rows x weight^T, chunk by chunk of the weight's rows. Up to
  // 8 entries (generation), or any number on a device without prompt tiles: a weight row per
  // subgroup, each row read once per 8 entries; for Q4_0 and Q8_0 on a device with integer
  // dot products, the input rounded to 8 bits first, then packed 8-bit dot products. More
  // entries on a GPU: tiles of 64 rows by 32 entries through shared memory (prompts).
  void multiply(const DeviceWeight& w, Range x, Range y, uint32_t y_stride, uint32_t n, uint32_t map_offset) {
    const bool tiled = n > 8 && d_.prompt_tiles();
    const bool integer = !tiled && map_offset == 0 && d_.integer_dot() && w.cols % 32 == 0 &&
                         (w.type == DType::Q4_0 || w.type == DType::Q8_0);
    if (integer) {
      const uint32_t push[] = {u(w.cols), n};
      dispatch("quantize_q8", {x, whole(b_.quantized_), whole(b_.quantized_info_)}, push, sizeof push,
               groups(w.cols / 32, 64), n);
      x = whole(b_.quantized_);
    }
    const std::string name = std::string(tiled ? "matmul_tiled_" : integer ? "matmul_dot_" : "matmul_") + type_suffix(w.type);
    for (const DeviceWeight::Chunk& chunk : w.chunks) {
      // Generation: a row per subgroup, so 64 / subgroup size rows per workgroup of 64.
      const uint32_t rows_per_group = std::max<uint32_t>(1, 64 / std::max<uint32_t>(1, d_.subgroup_size()));
      const uint32_t push[] = {u(chunk.rows), u(w.cols), u(w.row_bytes), u(chunk.first_row), n, y_stride, map_offset,
                               rows_per_group};
      if (tiled) {
        dispatch(name, {x, whole(chunk.buffer), y, whole(b_.entries_)}, push, sizeof push, groups(chunk.rows, 64),
                 groups(n, 32));
        continue;
      }
      const int64_t workgroups = groups(chunk.rows, rows_per_group);
      const uint32_t gx = static_cast<uint32_t>(std::min<int64_t>(workgroups, 32768));
      dispatch(name, {x, whole(chunk.buffer), y, whole(integer ? b_.quantized_info_ : b_.entries_)}, push, sizeof push, gx,
               groups(workgroups, 32768));
    }
  }

  void elementwise(const char* name, Activation into, Activation from) {
    const int64_t count = n_ * activation_width(c_, into);
    const uint32_t push[] = {u(count)};
    const int64_t g = groups(count, 256);
    dispatch(name, {act(into), act(from)}, push, sizeof push, static_cast<uint32_t>(std::min<int64_t>(g, 65535)),
             groups(g, 65535));
  }

  // Calls f(first entry, count, cache) for each run of consecutive entries of one sequence.
  template <class F>
  void for_each_sequence(F f) {
    for (int64_t first = 0; first < n_;) {
      int64_t end = first + 1;
      while (end < n_ && entries_[end].cache == entries_[first].cache) ++end;
      f(first, end - first, static_cast<const VulkanKvCache&>(*entries_[first].cache));
      first = end;
    }
  }

  VulkanBackend& b_;
  Device& d_;
  const Functions& fn_;
  const LlamaConfig& c_;
  std::lock_guard<std::mutex> hold_;
  const BatchEntry* entries_;
  int64_t n_;
  int64_t n_logits_ = 0;
  VkCommandBuffer commands_ = VK_NULL_HANDLE;
  bool recording_ = false;
};

VulkanBackend::VulkanBackend(const BackendOptions& options) : options_(options) {
  if (options.gemm != "auto" && !options.gemm.empty())
    throw Error(ErrorCode::InvalidArgument,
                "gemm '" + options.gemm + "': the Vulkan backend has no prompt GEMM choice (use \"auto\")");
  device_ = Device::open(options.device);
  const Functions& fn = device_->fn();
  VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  pool.queueFamilyIndex = device_->queue_family();
  check(fn.vkCreateCommandPool(device_->handle(), &pool, nullptr, &command_pool_), "vkCreateCommandPool");
  const VkDescriptorPoolSize sizes{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4096 * 5};
  VkDescriptorPoolCreateInfo descriptors{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  descriptors.maxSets = 4096;
  descriptors.poolSizeCount = 1;
  descriptors.pPoolSizes = &sizes;
  check(fn.vkCreateDescriptorPool(device_->handle(), &descriptors, nullptr, &descriptor_pool_), "vkCreateDescriptorPool");
}

VulkanBackend::~VulkanBackend() {
  const Functions& fn = device_->fn();
  for (DeviceWeight& w : globals_)
    for (auto& c : w.chunks) device_->destroy(c.buffer);
  for (auto& layer : layers_)
    for (DeviceWeight& w : layer)
      for (auto& c : w.chunks) device_->destroy(c.buffer);
  for (Buffer& b : activations_) device_->destroy(b);
  device_->destroy(entries_);
  device_->destroy(host_out_);
  device_->destroy(quantized_);
  device_->destroy(quantized_info_);
  fn.vkDestroyDescriptorPool(device_->handle(), descriptor_pool_, nullptr);
  fn.vkDestroyCommandPool(device_->handle(), command_pool_, nullptr);
}

std::string VulkanBackend::device_description() const {
  return "Vulkan device " + std::to_string(options_.device) + ": " + device_->summary().describe() +
         (device_->integer_dot() ? "; integer dot products in use" : "");
}

DeviceWeight VulkanBackend::upload(const TensorView& t, const std::string& what) {
  DeviceWeight w;
  w.type = t.dtype;
  w.rows = t.rows;
  w.cols = t.cols;
  w.row_bytes = t.row_bytes;
  if (!type_suffix(t.dtype))
    throw Error(ErrorCode::Unsupported, what + ": the Vulkan backend has no kernels for weights of type " + dtype_name(t.dtype));
  // Whole rows per chunk, each chunk within one binding's reach.
  const int64_t rows_per_chunk =
      std::max<int64_t>(1, std::min<int64_t>(t.rows, static_cast<int64_t>(device_->max_range() / t.row_bytes)));
  try {
    for (int64_t first = 0; first < t.rows; first += rows_per_chunk) {
      DeviceWeight::Chunk c;
      c.first_row = first;
      c.rows = std::min(rows_per_chunk, t.rows - first);
      const size_t bytes = static_cast<size_t>(c.rows) * t.row_bytes;
      // 16 spare bytes: a shader may read a word that starts in the last row and ends past it.
      c.buffer = device_->create_buffer(bytes + 16, Memory::Device, what);
      w.chunks.push_back(c);
      device_->upload(c.buffer, 0, t.row(first), bytes);
    }
  } catch (...) {
    for (auto& c : w.chunks) device_->destroy(c.buffer);
    throw;
  }
  return w;
}

void VulkanBackend::place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile*) {
  config_ = config;
  if (config.head_dim() > 256 || config.head_dim() % 2 != 0)
    throw Error(ErrorCode::Unsupported, "the Vulkan backend's attention takes heads of up to 256 values (even), not " +
                                            std::to_string(config.head_dim()));
  // Every tensor, with the bytes done so far reported to the progress callback.
  const auto all = weight_list(config, weights);
  double total = 0, done = 0;
  for (auto& [id, t] : all) total += static_cast<double>(t->rows) * t->row_bytes;
  layers_.resize(static_cast<size_t>(config.n_layers));
  for (auto& [id, t] : all) {
    const std::string what = std::string("the ") + kind_name(id.kind) + " weights" +
                             (id.layer >= 0 ? " of layer " + std::to_string(id.layer) : "");
    if ((id.kind == WeightKind::AttentionNorm || id.kind == WeightKind::FfnNorm || id.kind == WeightKind::OutputNorm) &&
        t->dtype != DType::F32)
      throw Error(ErrorCode::Unsupported, what + ": the Vulkan backend takes f32 norm weights");
    DeviceWeight& slot = id.layer < 0 ? globals_[static_cast<size_t>(id.kind)]
                                      : layers_[static_cast<size_t>(id.layer)][static_cast<size_t>(id.kind)];
    slot = upload(*t, what);
    done += static_cast<double>(t->rows) * t->row_bytes;
    if (options_.progress && !options_.progress(static_cast<float>(done / total)))
      throw Error(ErrorCode::Cancelled, "loading was cancelled by the progress callback");
  }
}

const DeviceWeight& VulkanBackend::weight(WeightId id) const {
  return id.layer < 0 ? globals_[static_cast<size_t>(id.kind)]
                      : layers_.at(static_cast<size_t>(id.layer))[static_cast<size_t>(id.kind)];
}

void VulkanBackend::read_kv(const KvCache& kv, int64_t first, int64_t n, void* out) {
  const auto& cache = static_cast<const VulkanKvCache&>(kv);
  const size_t row = static_cast<size_t>(config_.kv_dim()) * (kv.type() == DType::F16 ? 2 : 4);
  uint8_t* host = static_cast<uint8_t*>(out);
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    const VkDeviceSize at = cache.layer_bytes * l + row * first;
    device_->download(cache.keys, at, host + (2 * l) * n * row, n * row);
    device_->download(cache.values, at, host + (2 * l + 1) * n * row, n * row);
  }
}

void VulkanBackend::write_kv(KvCache& kv, int64_t first, int64_t n, const void* in) {
  const auto& cache = static_cast<const VulkanKvCache&>(kv);
  const size_t row = static_cast<size_t>(config_.kv_dim()) * (kv.type() == DType::F16 ? 2 : 4);
  const uint8_t* host = static_cast<const uint8_t*>(in);
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    const VkDeviceSize at = cache.layer_bytes * l + row * first;
    device_->upload(cache.keys, at, host + (2 * l) * n * row, n * row);
    device_->upload(cache.values, at, host + (2 * l + 1) * n * row, n * row);
  }
}

std::unique_ptr<KvCache> VulkanBackend::create_kv_cache(int64_t positions, DType type) {
  if (type != DType::F16 && type != DType::F32)
    throw Error(ErrorCode::InvalidArgument, std::string("the KV cache holds F16 or F32, not ") + dtype_name(type));
  const VkDeviceSize align = std::max<VkDeviceSize>(device_->range_alignment(), 4);
  VkDeviceSize layer_bytes = static_cast<VkDeviceSize>(positions * config_.kv_dim()) * (type == DType::F16 ? 2 : 4);
  layer_bytes = (layer_bytes + align - 1) / align * align;
  if (layer_bytes > device_->max_range())
    throw Error(ErrorCode::Unsupported, "a KV cache of " + std::to_string(positions) + " positions needs " +
                                            std::to_string(layer_bytes) + " bytes per layer, more than one binding of " +
                                            device_->summary().name + " reaches (" +
                                            std::to_string(device_->max_range()) + "): use fewer positions or an F16 cache");
  return std::make_unique<VulkanKvCache>(device_, positions, type, layer_bytes, config_.n_layers);
}

void VulkanBackend::ensure_capacity(int64_t entries) {
  if (entries <= capacity_) return;
  const int64_t widest = std::max({config_.dim, config_.hidden_dim, config_.vocab_size});
  if (static_cast<VkDeviceSize>(entries * widest) * sizeof(float) > device_->max_range())
    throw Error(ErrorCode::Unsupported, "a batch of " + std::to_string(entries) + " entries is more than " +
                                            device_->summary().name + " binds at once: evaluate fewer entries per call");
  for (Buffer& b : activations_) device_->destroy(b);
  device_->destroy(entries_);
  device_->destroy(host_out_);
  device_->destroy(quantized_);
  device_->destroy(quantized_info_);
  capacity_ = 0;
  const std::string what = "the activations of a batch of " + std::to_string(entries);
  for (int a = 0; a < kActivationCount; ++a)
    activations_[static_cast<size_t>(a)] = device_->create_buffer(
        sizeof(float) * static_cast<VkDeviceSize>(entries * activation_width(config_, static_cast<Activation>(a))),
        Memory::Device, what);
  entries_ = device_->create_buffer(sizeof(int32_t) * static_cast<VkDeviceSize>(5 * entries), Memory::Host, what);
  host_out_ = device_->create_buffer(sizeof(float) * static_cast<VkDeviceSize>(entries * widest), Memory::Host, what);
  if (device_->integer_dot()) {  // an input row rounded to 8 bits: a byte per value, 8 bytes per block of 32
    const VkDeviceSize widest_input = static_cast<VkDeviceSize>(std::max(config_.dim, config_.hidden_dim));
    const VkDeviceSize rows = static_cast<VkDeviceSize>(entries);
    quantized_ = device_->create_buffer(rows * widest_input + 16, Memory::Device, what);
    quantized_info_ = device_->create_buffer(rows * (widest_input / 32) * 8 + 16, Memory::Device, what);
  }
  capacity_ = entries;
}

void VulkanBackend::reserve(int64_t entries, int64_t positions, int) {
  std::lock_guard<std::mutex> lock(busy_);
  ensure_capacity(entries);
}

double VulkanBackend::probe_read_bandwidth(int) {
  std::lock_guard<std::mutex> lock(busy_);
  const Functions& fn = device_->fn();
  VkDeviceSize bytes = std::min<VkDeviceSize>({VkDeviceSize{1} << 30, device_->summary().device_local_bytes / 4,
                                               device_->max_range()});
  bytes = bytes / 4096 * 4096;
  const uint32_t workgroups = 1024;
  Buffer data = device_->create_buffer(bytes, Memory::Device, "the read-bandwidth probe");
  Buffer sums;
  std::vector<double> seconds;
  try {
    sums = device_->create_buffer(sizeof(uint32_t) * workgroups, Memory::Device, "the read-bandwidth probe");
    const Kernel& k = device_->kernel("read_probe");
    VkCommandBufferAllocateInfo a{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    a.commandPool = command_pool_;
    a.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    a.commandBufferCount = 1;
    VkDescriptorSetAllocateInfo d{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    d.descriptorPool = descriptor_pool_;
    d.descriptorSetCount = 1;
    d.pSetLayouts = &k.set_layout;
    for (int run = 0; run <= 5; ++run) {  // the first run (page-in, clocks) is not counted
      VkCommandBuffer commands;
      check(fn.vkAllocateCommandBuffers(device_->handle(), &a, &commands), "vkAllocateCommandBuffers");
      VkDescriptorSet set;
      check(fn.vkAllocateDescriptorSets(device_->handle(), &d, &set), "vkAllocateDescriptorSets");
      const Range ranges[2] = {{data.buffer, 0, bytes}, {sums.buffer, 0, sums.size}};
      device_->bind_storage_buffers(set, ranges, 2);
      VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
      begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
      check(fn.vkBeginCommandBuffer(commands, &begin), "vkBeginCommandBuffer");
      if (run == 0) {  // contents do not matter, but are defined
        fn.vkCmdFillBuffer(commands, data.buffer, 0, VK_WHOLE_SIZE, 0x5a5a5a5au);
        VkMemoryBarrier filled{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        filled.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        filled.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
        fn.vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                                &filled, 0, nullptr, 0, nullptr);
      }
      const uint32_t count = static_cast<uint32_t>(bytes / 16);
      fn.vkCmdBindPipeline(commands, VK_PIPELINE_BIND_POINT_COMPUTE, k.pipeline);
      fn.vkCmdBindDescriptorSets(commands, VK_PIPELINE_BIND_POINT_COMPUTE, k.layout, 0, 1, &set, 0, nullptr);
      fn.vkCmdPushConstants(commands, k.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof count, &count);
      fn.vkCmdDispatch(commands, workgroups, 1, 1);
      check(fn.vkEndCommandBuffer(commands), "vkEndCommandBuffer");
      const auto start = std::chrono::steady_clock::now();
      device_->submit_and_wait(commands);
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      if (run > 0) seconds.push_back(took.count());
      fn.vkResetCommandPool(device_->handle(), command_pool_, 0);
      fn.vkResetDescriptorPool(device_->handle(), descriptor_pool_, 0);
    }
  } catch (...) {
    device_->destroy(data);
    device_->destroy(sums);
    throw;
  }
  device_->destroy(data);
  device_->destroy(sums);
  std::sort(seconds.begin(), seconds.end());
  return static_cast<double>(bytes) / seconds[seconds.size() / 2];
}

std::unique_ptr<Pass> VulkanBackend::begin_pass(const BatchEntry* entries, int64_t n, int) {
  return std::make_unique<VulkanPass>(*this, entries, n);
}

}  // namespace cria::vulkan
