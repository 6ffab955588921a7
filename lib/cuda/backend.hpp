#pragma once
// The CUDA backend: the whole forward pass on an NVIDIA GPU. Weights are uploaded once (through
// pinned memory), in the file's block layouts, and decoded by the kernels; each sequence's keys
// and values live in device memory; a pass queues its kernels on the backend's stream and
// waits only when the host needs a result. Generation's passes (a few entries) are captured
// as a CUDA graph and replayed, so that a token costs one launch on the host.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cria/backend.hpp"
#include "cuda/device.hpp"
#include "cuda/kernels.hpp"

namespace cria::cuda {

class PromptGemm;
class Uploader;

struct DeviceWeight {
  DeviceBuffer buffer;
  Matrix matrix;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  std::string device_description() const override;
  void place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) override;
  std::unique_ptr<KvCache> create_kv_cache(int64_t positions, DType type) override;
  void read_kv(const KvCache& cache, int64_t first, int64_t n, void* out) override;
  void write_kv(KvCache& cache, int64_t first, int64_t n, const void* in) override;
  void reserve(int64_t entries, int64_t positions, int n_threads) override;
  int threads(int n_threads) const override { return 1; }
  std::unique_ptr<Pass> begin_pass(const BatchEntry* entries, int64_t n, int n_threads) override;
  // Reads a buffer of up to 1 GiB (a quarter of the device's memory at most) with a kernel,
  // median of 5 timed runs.
  double probe_read_bandwidth(int n_threads) override;

 private:
  friend class CudaPass;
  const Matrix& weight(WeightId id) const;
  void upload(const TensorView& t, const std::string& what, DeviceWeight& into, Uploader& uploader);
  // Sizes the pass buffers for `entries` entries (grows, never shrinks).
  void ensure_capacity(int64_t entries);

  BackendOptions options_;
  DeviceSummary summary_;
  std::unique_ptr<Stream> stream_;
  LlamaConfig config_;
  std::array<DeviceWeight, 12> globals_;               // by WeightKind, layer -1
  std::vector<std::array<DeviceWeight, 12>> layers_;   // by layer, then WeightKind
  std::mutex busy_;  // one pass at a time: passes share the buffers below

  // Working memory of a pass: each activation [capacity][width]; the entries as the kernels
  // read them, then the indices of those that want logits (and their pinned host copy);
  // logits; pinned rows for what crosses to the host; attention's partial results.
  int64_t capacity_ = 0;
  std::array<DeviceBuffer, kActivationCount> activations_;
  DeviceBuffer entries_, logits_, partials_;
  PinnedBuffer host_entries_, host_out_;
  size_t partial_floats_ = 0;
  std::unique_ptr<PromptGemm> gemm_;  // made by the first prompt
  // Generation's graph, updated in place when the next token's pass captures the same shape.
  bool use_graphs_ = true;
  cudaGraphExec_t graph_ = nullptr;
};

}  // namespace cria::cuda
