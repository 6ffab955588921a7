#pragma once
// A model split between two backends by layers (BackendOptions::gpu_layers): the token
// embedding and the first N layers on a device backend (a GPU), the other layers, the final
// norm and the classifier on the host (CPU) backend, for models larger than the device's
// memory. Each backend places only its part of the weights and keeps the keys and values of
// its layers; the residual stream, the one activation that crosses from a layer to the
// next, goes from the device to the host once per pass.
#include <memory>

#include "cria/backend.hpp"

namespace cria {

class SplitBackend final : public Backend {
 public:
  // `device_layers` >= 0: layers 0 .. device_layers - 1 on `device` (all where the model has
  // no more), the rest on `host`.
  SplitBackend(std::unique_ptr<Backend> device, std::unique_ptr<Backend> host, int64_t device_layers);

  std::string name() const override;
  std::string device_description() const override;
  void place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) override;
  std::unique_ptr<KvCache> create_kv_cache(int64_t positions, DType type) override;
  void read_kv(const KvCache& cache, int64_t first, int64_t n, void* out) override;
  void write_kv(KvCache& cache, int64_t first, int64_t n, const void* in) override;
  void reserve(int64_t entries, int64_t positions, int n_threads) override;
  int threads(int n_threads) const override;
  std::unique_ptr<Pass> begin_pass(const BatchEntry* entries, int64_t n, int n_threads) override;
  // The device's (the host's where it runs the whole model).
  double probe_read_bandwidth(int n_threads) override;

 private:
  friend class SplitPass;
  // The backend that runs everything when the split gives one side no layer, else null.
  Backend* whole() const;

  std::unique_ptr<Backend> device_, host_;
  int64_t device_layers_;  // clamped to the model's layers by place()
  int64_t n_layers_ = 0;
  int64_t dim_ = 0;
  int64_t kv_dim_ = 0;
  // Bytes of the device's layers in read_kv's host layout.
  size_t device_kv_bytes(DType type, int64_t n) const;
};

}  // namespace cria
