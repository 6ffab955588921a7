#pragma once
// The backend interface: what the Llama forward pass asks of a device. A backend places a
// model's weights (in the layout and the memory its kernels read), owns the keys and values
// of every sequence and the activations of a pass, and carries out the few operations of the
// forward pass on a batch of (token, position, sequence) entries. The engine calls them in
// order (lib/engine/forward.cpp); it never sees a layout, a device address or a thread.
//
// Backends are compiled in at build time; among those built, one is chosen per model at run
// time by name and device index (LoadOptions::backend, ::device). "cpu" and "reference" are
// always built.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "cria/model/config.hpp"
#include "cria/model/weights.hpp"
#include "cria/tensor.hpp"

namespace cria {

namespace io {
class MappedFile;
}

// A weight of the model as the forward pass names it; `layer` is -1 for the tensors outside
// the layers (token embedding, output norm, classifier).
enum class WeightKind : uint8_t {
  TokenEmbedding, AttentionNorm, Query, Key, Value, AttentionOutput,
  FfnNorm, Gate, Up, Down, OutputNorm, Output,
};
struct WeightId {
  WeightKind kind;
  int64_t layer = -1;
};

// The activations of a pass. Each holds one row per batch entry:
//   Residual   [dim]     the residual stream
//   Normed     [dim]     RMSNorm of the residual: the input of a block's projections
//   Query      [dim]     Key, Value [kv_dim]
//   Attention  [dim]     attention output, heads side by side
//   Gate, Up   [hidden]  the feed-forward block's two projections
//   BlockOut   [dim]     a block's output before it joins the residual stream
enum class Activation : uint8_t { Residual, Normed, Query, Key, Value, Attention, Gate, Up, BlockOut };
constexpr int kActivationCount = 9;
// Values of `a` per entry.
inline int64_t activation_width(const LlamaConfig& c, Activation a) {
  switch (a) {
    case Activation::Key:
    case Activation::Value: return c.kv_dim();
    case Activation::Gate:
    case Activation::Up: return c.hidden_dim;
    default: return c.dim;
  }
}

// The keys and values of one sequence for every layer, `positions` long; made by the backend
// that evaluates it, in that backend's memory.
class KvCache {
 public:
  KvCache(int64_t positions, DType type) : positions_(positions), type_(type) {}
  virtual ~KvCache() = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
  int64_t positions() const { return positions_; }
  DType type() const { return type_; }

 private:
  int64_t positions_;
  DType type_;
};

// One position of one sequence in a batch. A sequence's entries come in the order of their
// positions; before a pass its cache holds every position below the first of them.
struct BatchEntry {
  int32_t token = 0;
  int64_t position = 0;
  KvCache* cache = nullptr;   // the sequence's
  bool wants_logits = false;  // whether the pass returns this position's logits
};

// One forward pass over a batch: the operations, each applied to every entry. A pass holds
// the backend's working memory; a second pass of the same backend waits until it ends.
class Pass {
 public:
  virtual ~Pass() = default;

  // out = the token embedding rows of the entries' tokens.
  virtual void embed(Activation out) = 0;
  // out = in / sqrt(mean(in^2) + eps) * weight, row by row.
  virtual void rmsnorm(Activation out, Activation in, WeightId weight) = 0;
  // Projections of one input: projection.out = in x projection.weight^T. Weights that read
  // the same input go in one call, so that the backend prepares the input once.
  struct Projection {
    WeightId weight;
    Activation out;
  };
  virtual void matmul(Activation in, std::initializer_list<Projection> projections) = 0;
  // Rotates adjacent pairs (2i, 2i+1) of each of `n_heads` heads by the entry's position.
  virtual void rope(Activation a, int64_t n_heads) = 0;
  // Stores each entry's key and value rows at its position in its sequence's cache.
  virtual void store_kv(int64_t layer, Activation key, Activation value) = 0;
  // Causal attention: each query head of an entry over its sequence's keys and values at
  // positions 0 .. position (grouped-query: heads share KV heads in order).
  virtual void attention(int64_t layer, Activation query, Activation out) = 0;
  // into += from
  virtual void add(Activation into, Activation from) = 0;
  // gate = silu(gate) * up
  virtual void swiglu(Activation gate, Activation up) = 0;
  // For the entries that want logits, in batch order: the final RMSNorm of `in` and the
  // classifier, written to host memory as [count][vocab] floats.
  virtual void logits(Activation in, float* out) = 0;
  // Copies `a` to host memory as [entries][activation_width] floats: for tests that compare
  // backends operation by operation.
  virtual void read(Activation a, float* out) = 0;
  // Copies host rows ([entries][activation_width] floats) into `a`: how a pass split between
  // two backends hands the residual stream over.
  virtual void write(Activation a, const float* in) = 0;
};

// How a backend is chosen and set up for one model.
struct BackendOptions {
  std::string name = "auto";  // "auto" (or empty): see auto_backend()
  int device = 0;             // index among the backend's devices
  int n_threads = 0;          // host threads of a pass; 0: one per available core
  // CPU backend: how prompts multiply weights: "auto", "kernels" (cria's own), "onednn-f32",
  // "onednn-bf16", "openblas". Others accept only "auto".
  std::string gemm = "auto";
  // Lets the backend rearrange weights for its kernels where the weights are in private
  // memory (the CPU backend regroups Q4_0, Q8_0, Q4_K, Q5_K and Q6_K matrices).
  bool repack = true;
  // CPU backend, weights in a file mapping (`place` without a writable copy): each matrix is
  // copied to private memory on huge pages (regrouped, with `repack`), so that mapped weights
  // run as fast as read ones: where the kernels read the file's layout with the copy's
  // results, a part at a time by the passes after the first (which read the mapping until
  // then), else by the first pass that reads it. false: used in place, their pages shared
  // with other processes.
  bool copy_mapped = false;
  // Called by `place` with the fraction of the weights placed (0 to 1) where placing takes
  // long (uploads to a GPU); returning false stops it with Error(Cancelled).
  std::function<bool(float)> progress;
  // GPU backends: how many layers, from the first, run on the device (with the token
  // embedding); the other layers, the final norm and the classifier run on the CPU backend.
  // -1 (or the model's layer count or more): all of them. 0: none, the CPU backend runs it all.
  int gpu_layers = -1;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", "reference", ...
  virtual std::string name() const = 0;
  // The device in words ("x86-64, 2 threads, avx2 kernels").
  virtual std::string device_description() const = 0;

  // Takes the model's weights: checks that it can run their types, then places them where
  // its kernels read them. `writable` is the model's private copy of its file when weights
  // may be rearranged there in place, else null. Called once, before anything else.
  virtual void place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) = 0;

  // The keys and values of one sequence of up to `positions` positions, elements of `type`
  // (F16 or F32). Throws OutOfMemory.
  virtual std::unique_ptr<KvCache> create_kv_cache(int64_t positions, DType type) = 0;
  // Prepares working memory for passes of up to `entries` entries over caches of up to
  // `positions` positions with `n_threads` threads (0: the backend's default), so that a
  // lack of memory shows before the first pass. Throws OutOfMemory.
  virtual void reserve(int64_t entries, int64_t positions, int n_threads) = 0;
  // The threads a pass runs on when `n_threads` are asked for (0: the default).
  virtual int threads(int n_threads) const = 0;

  // Copies the keys and values of positions [first, first + n) of `cache`, every layer, to
  // host memory as [layer][keys, values][position][kv_dim] elements of the cache's type (F16
  // or F32; the buffer need not be aligned), or back from it: how sessions are saved,
  // restored and shifted. Not during a pass over the cache.
  virtual void read_kv(const KvCache& cache, int64_t first, int64_t n, void* out) = 0;
  virtual void write_kv(KvCache& cache, int64_t first, int64_t n, const void* in) = 0;

  // Starts a pass over `entries` (they and their caches must outlive it).
  virtual std::unique_ptr<Pass> begin_pass(const BatchEntry* entries, int64_t n, int n_threads) = 0;

  // Bytes per second that `n_threads` threads (0: the default) or the device read from the
  // memory the weights are placed in: the limit a benchmark's generation speed is compared
  // with. Measured now (a second or so), median of a few reads of a buffer larger than caches.
  virtual double probe_read_bandwidth(int n_threads) = 0;
};

// A device a backend can run on.
struct DeviceInfo {
  std::string backend;  // "cpu", ...
  int index = 0;
  std::string description;
};

// The backends this library was built with, best first ("cpu", "reference", ...).
std::vector<std::string> built_backends();
// The backend "auto" takes for device index `device`: a GPU backend where one is built and
// finds a GPU there (not a device that runs on the CPU, such as lavapipe), else "cpu".
std::string auto_backend(int device);
// Every device of every backend built.
std::vector<DeviceInfo> list_devices();
// Creates the backend `options.name` on device `options.device`. Throws Unsupported naming
// the backends built when that one is not, and InvalidArgument for a device it lacks.
std::unique_ptr<Backend> create_backend(const BackendOptions& options);

}  // namespace cria
