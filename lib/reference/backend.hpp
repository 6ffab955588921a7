#pragma once
// The reference backend: the forward pass's operations in plain scalar f32 on one thread,
// each weight row decoded with the reference decoders of cria/quant.hpp as it is used. Slow,
// and written to be read: it is the oracle the other backends are tested against.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cria/backend.hpp"
#include "cria/probes.hpp"

namespace cria::reference {

class ReferenceBackend final : public Backend {
 public:
  explicit ReferenceBackend(const BackendOptions& options);

  std::string name() const override { return "reference"; }
  std::string device_description() const override { return "the host CPU: scalar f32, one thread"; }
  void place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) override;
  std::unique_ptr<KvCache> create_kv_cache(int64_t positions, DType type) override;
  void read_kv(const KvCache& cache, int64_t first, int64_t n, void* out) override;
  void write_kv(KvCache& cache, int64_t first, int64_t n, const void* in) override;
  void reserve(int64_t entries, int64_t positions, int n_threads) override {}
  int threads(int n_threads) const override { return 1; }
  std::unique_ptr<Pass> begin_pass(const BatchEntry* entries, int64_t n, int n_threads) override;
  double probe_read_bandwidth(int n_threads) override { return measure_read_bandwidth(threads(n_threads)); }

 private:
  friend class ReferencePass;
  const TensorView& weight(WeightId id) const;

  LlamaConfig config_;
  LlamaWeights weights_;
  std::mutex busy_;  // one pass at a time
};

}  // namespace cria::reference
