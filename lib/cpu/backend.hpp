#pragma once
// The CPU backend: weights in the model's read copy (Q4_0, Q8_0, Q4_K, Q5_K and Q6_K matrices
// regrouped there in place for the integer kernels), or in the file mapping, from which each
// matrix is copied (and regrouped) to private memory: a part at a time by the passes after the
// first where the kernels read the mapping with the copy's results, else by the first pass
// that reads it; or used in place when private copies are not wanted; kernels chosen at run
// time for the
// instruction set, prompt GEMM on cria's kernels, AMX tiles, oneDNN or
// OpenBLAS, and one thread pool per thread count shared by every sequence of the model.
#include <functional>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpu/gemm.hpp"
#include "cpu/matrix.hpp"
#include "cpu/ops.hpp"
#include "cpu/thread_pool.hpp"
#include "cria/backend.hpp"
#include "cria/probes.hpp"

namespace cria::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options);
  ~CpuBackend() override;

  std::string name() const override { return "cpu"; }
  std::string device_description() const override;
  void place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) override;
  std::unique_ptr<KvCache> create_kv_cache(int64_t positions, DType type) override;
  void read_kv(const KvCache& cache, int64_t first, int64_t n, void* out) override;
  void write_kv(KvCache& cache, int64_t first, int64_t n, const void* in) override;
  void reserve(int64_t entries, int64_t positions, int n_threads) override;
  int threads(int n_threads) const override;
  std::unique_ptr<Pass> begin_pass(const BatchEntry* entries, int64_t n, int n_threads) override;
  double probe_read_bandwidth(int n_threads) override { return measure_read_bandwidth(threads(n_threads)); }

  // How a matrix is placed now: its private copy once made, else where `place` left it (for
  // tests and probes).
  const Matrix& matrix(WeightId id) const;
  // Makes every deferred copy now (for tests; passes make them a part at a time).
  void copy_deferred_now();

 private:
  friend class CpuPass;

  // The weights of one layer as the kernels read them.
  struct Layer {
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  // Everything a pass works in: a thread pool, its activations and attention scores. Passes
  // with the same thread count take turns on one lane.
  struct Lane {
    explicit Lane(int n_threads) : pool(n_threads) {}
    std::mutex busy;
    ThreadPool pool;
    MatmulInput input;  // converted activations, reused by the projections of one input
    int64_t entries = 0, positions = 0;  // what the buffers below hold
    std::vector<float> activations[kActivationCount];  // [entries][width]
    std::vector<float> scores;  // [thread][kAttentionBlock][positions] attention weights
  };

  Lane& lane(int n_threads);
  // Grows a lane's buffers for `entries` and `positions`; the lane's `busy` is held.
  void size_lane(Lane& lane, int64_t entries, int64_t positions) const;
  int64_t width(Activation a) const;
  const float* norm(WeightId id) const;
  // The matrix as `place` left it (in the mapping while copy_slot >= 0).
  const Matrix& placed(WeightId id) const;
  // The matrices that may be regrouped or copied: every layer's, and the output unless it is
  // tied to the embedding table (read row by row in the file's layout).
  std::vector<Matrix*> movable_matrices();
  // Rewrites the matrices the integer kernels read faster regrouped, in the private copy.
  void regroup(io::MappedFile& file);
  // Whether the kernels read `m` regrouped.
  bool regroups(const Matrix& m) const;
  // `m` as a pass reads it: its private copy once made; a deferred one in place until then;
  // any other matrix still in the file mapping is first copied to private memory (regrouped
  // where regroups() says), on the pass's threads, or read in place where that memory cannot
  // be had.
  const Matrix& settle(const Matrix& m, ThreadPool& pool);
  // Makes the copy of `m` (in copies_[m.copy_slot]), on the pool's threads; where the memory
  // cannot be had, the slot holds `m` itself, read in the mapping (false).
  bool copy_to_private(const Matrix& m, ThreadPool& pool);
  // Called as a pass starts: from the second pass on, makes the next deferred copies, about
  // an eighth of their bytes per pass, unless a pass on another lane is making copies.
  void copy_deferred(ThreadPool& pool, bool all);

  struct Unmap {
    size_t bytes;
    void operator()(uint8_t* p) const;
  };
  using PrivateMemory = std::unique_ptr<uint8_t, Unmap>;
  // The private copy of a matrix that was in the file mapping.
  struct Copy {
    Matrix matrix;
    PrivateMemory memory;
    std::atomic<bool> ready{false};  // set (release) once matrix and memory are in place
    bool deferred = false;           // made by copy_deferred; passes read the mapping until then
  };

  GemmBackend gemm_;
  int default_threads_;
  bool repack_;
  bool copy_mapped_;
  std::function<bool(float)> progress_;  // placing: regrouping reports its bytes done
  LlamaConfig config_;
  TensorView token_embd_;
  const float* output_norm_ = nullptr;
  Matrix output_;
  std::vector<Layer> layers_;
  // Matrices copied out of the file mapping, by copy_slot, made under copy_mutex_; the
  // matrices they copy; the deferred copies not yet made (from next_deferred_ on), the bytes
  // a pass makes; and whether a pass has started.
  std::unique_ptr<Copy[]> copies_;
  std::vector<const Matrix*> mapped_;
  std::mutex copy_mutex_;
  size_t next_deferred_ = 0;
  uint64_t deferred_bytes_per_pass_ = 0;
  std::atomic<bool> deferring_{false};  // deferred copies are left
  std::atomic<bool> first_pass_done_{false};
  std::mutex lanes_mutex_;
  std::map<int, std::unique_ptr<Lane>> lanes_;
};

}  // namespace cria::cpu
