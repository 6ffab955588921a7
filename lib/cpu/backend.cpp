#include "cpu/backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "cpu/cpu_features.hpp"
#include "cpu/kernels.hpp"
#include "cpu/packed.hpp"
#include "cria/error.hpp"
#include "cria/io/mapped_file.hpp"
#include "cria/quant.hpp"
#include "platform/memory.hpp"

namespace cria::cpu {

namespace {

int available_cores() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

std::unique_ptr<uint8_t[]> allocate(uint64_t bytes, const char* what) {
  try {
    return std::unique_ptr<uint8_t[]>(new uint8_t[bytes]);  // not zeroed: pages stay untouched
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, std::string("cannot allocate the ") + what + " (" +
                                            std::to_string(bytes >> 20) + " MiB)");
  }
}

template <class T>
void grow(std::vector<T>& v, size_t n, const char* what) {
  if (v.size() >= n) return;
  try {
    v.resize(n);
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, std::string("cannot allocate the ") + what + " (" +
                                            std::to_string(n * sizeof(T) >> 20) + " MiB)");
  }
}

// The keys and values of one sequence: per layer and KV head, one row of head_dim elements
// of the cache type per position, so that attention streams a head's rows in order.
class CpuKvCache final : public KvCache {
 public:
  CpuKvCache(const LlamaConfig& c, int64_t positions, DType type) : KvCache(positions, type) {
    const size_t element = type == DType::F16 ? 2 : 4;
    head_bytes = static_cast<size_t>(c.head_dim()) * element;
    kv_head_bytes = static_cast<size_t>(positions) * head_bytes;
    layer_bytes = static_cast<size_t>(c.n_kv_heads) * kv_head_bytes;
    uint64_t cache_values = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(c.n_layers * c.kv_dim()), static_cast<uint64_t>(positions),
                               &cache_values) ||
        cache_values > (uint64_t{1} << 40))
      throw Error(ErrorCode::OutOfMemory,
                  "the KV cache for " + std::to_string(positions) + " positions is too large");
    keys = allocate(cache_values * element, "key cache");
    values = allocate(cache_values * element, "value cache");
  }
  uint8_t* key_row(int64_t layer, int64_t kv_head, int64_t position) const {
    return keys.get() + layer * layer_bytes + kv_head * kv_head_bytes + position * head_bytes;
  }
  uint8_t* value_row(int64_t layer, int64_t kv_head, int64_t position) const {
    return values.get() + layer * layer_bytes + kv_head * kv_head_bytes + position * head_bytes;
  }

  size_t head_bytes, kv_head_bytes, layer_bytes;
  std::unique_ptr<uint8_t[]> keys, values;
};

// Consecutive positions of one sequence in a batch: entries first .. first + count - 1.
struct Run {
  int64_t first;
  int64_t count;
};

// Appends entry t to runs (a new run unless it continues the last one's sequence) and
// returns whether it continued it.
bool extend_runs(std::vector<Run>& runs, const BatchEntry* entries, int64_t previous, int64_t t, int64_t index) {
  const bool continues = !runs.empty() && entries[t].cache == entries[previous].cache &&
                         entries[t].position == entries[previous].position + 1;
  if (continues) ++runs.back().count;
  else runs.push_back({index, 1});
  return continues;
}

}  // namespace

// One forward pass on a lane: the lane is held until the pass ends.
class CpuPass final : public Pass {
 public:
  CpuPass(CpuBackend& backend, CpuBackend::Lane& lane, const BatchEntry* entries, int64_t n)
      : b_(backend), lane_(lane), hold_(lane.busy), entries_(entries), n_(n) {
    b_.copy_deferred(lane_.pool, false);
    // The runs of the batch, and attention's blocks (up to kAttentionBlock positions of a run).
    for (int64_t t = 0; t < n; ++t) {
      const bool continues = extend_runs(runs_, entries, t - 1, t, t);
      if (continues && blocks_.back().count < kAttentionBlock) ++blocks_.back().count;
      else blocks_.push_back({t, 1});
    }
    int64_t positions = 0;
    for (int64_t t = 0; t < n; ++t) positions = std::max(positions, entries[t].cache->positions());
    b_.size_lane(lane_, n, positions);
  }

  void embed(Activation out) override {
    const TensorView& table = b_.token_embd_;
    const int64_t dim = b_.config_.dim;
    float* x = act(out);
    for (int64_t t = 0; t < n_; ++t) dequantize_row(table.dtype, table.row(entries_[t].token), x + t * dim, dim);
  }

  void rmsnorm(Activation out, Activation in, WeightId weight) override {
    const int64_t dim = b_.config_.dim;
    const float* w = b_.norm(weight);
    for (int64_t t = 0; t < n_; ++t) cpu::rmsnorm(act(out) + t * dim, act(in) + t * dim, w, dim, b_.config_.rms_eps);
  }

  void matmul(Activation in, std::initializer_list<Projection> projections) override {
    products_.clear();  // kept between calls: no allocation per projection
    for (const Projection& p : projections)
      products_.push_back({&b_.settle(b_.placed(p.weight), lane_.pool), act(p.out), b_.width(p.out)});
    multiply(act(in), b_.width(in), runs_, products_);
  }

  void rope(Activation a, int64_t n_heads) override {
    const int64_t width = b_.width(a), head_dim = b_.config_.head_dim();
    float* rows = act(a);
    lane_.pool.parallel_for(n_, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t)
        cpu::rope(rows + t * width, n_heads, head_dim, entries_[t].position, b_.config_.rope_base);
    });
  }

  void store_kv(int64_t layer, Activation key, Activation value) override {
    const LlamaConfig& c = b_.config_;
    const int64_t kv_dim = c.kv_dim(), head_dim = c.head_dim();
    const Kernels& kernels = active_kernels();
    const float* keys = act(key);
    const float* values = act(value);
    lane_.pool.parallel_for(n_, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        const auto& cache = static_cast<const CpuKvCache&>(*entries_[t].cache);
        const bool f16 = cache.type() == DType::F16;
        for (int64_t hk = 0; hk < c.n_kv_heads; ++hk) {
          const float* k = keys + t * kv_dim + hk * head_dim;
          const float* v = values + t * kv_dim + hk * head_dim;
          uint8_t* k_dst = cache.key_row(layer, hk, entries_[t].position);
          uint8_t* v_dst = cache.value_row(layer, hk, entries_[t].position);
          if (f16) {
            kernels.f32_to_f16(k, reinterpret_cast<uint16_t*>(k_dst), head_dim);
            kernels.f32_to_f16(v, reinterpret_cast<uint16_t*>(v_dst), head_dim);
          } else {
            std::memcpy(k_dst, k, cache.head_bytes);
            std::memcpy(v_dst, v, cache.head_bytes);
          }
        }
      }
    });
  }

  // One task per (head, block of consecutive positions of one sequence): the block shares
  // each key and value it reads, and a thread's next task reads the same head's rows again,
  // from its cache. Each thread has its own rows of attention weights.
  void attention(int64_t layer, Activation query, Activation out) override {
    const LlamaConfig& c = b_.config_;
    const int64_t dim = c.dim, head_dim = c.head_dim(), n_heads = c.n_heads;
    const int64_t heads_per_kv = c.n_heads / c.n_kv_heads;  // grouped-query attention
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const int64_t n_blocks = static_cast<int64_t>(blocks_.size());
    const int64_t scores_stride = lane_.positions;
    const float* q = act(query);
    float* o = act(out);
    lane_.pool.parallel_for(n_heads * n_blocks, [&](int64_t begin, int64_t end, int thread) {
      float* scores = &lane_.scores[static_cast<size_t>(thread) * kAttentionBlock * scores_stride];
      for (int64_t task = begin; task < end; ++task) {
        const int64_t h = task / n_blocks;
        const Run& block = blocks_[static_cast<size_t>(task % n_blocks)];
        const BatchEntry& first = entries_[block.first];
        const auto& cache = static_cast<const CpuKvCache&>(*first.cache);
        const int64_t kv_head = h / heads_per_kv;
        attend(cache.type(), q + block.first * dim + h * head_dim, dim, static_cast<int>(block.count), first.position + 1,
               cache.key_row(layer, kv_head, 0), cache.value_row(layer, kv_head, 0), head_dim, scale, scores,
               scores_stride, o + block.first * dim + h * head_dim, dim);
      }
    });
  }

  void add(Activation into, Activation from) override {
    float* x = act(into);
    const float* y = act(from);
    const int64_t count = n_ * b_.width(into);
    for (int64_t i = 0; i < count; ++i) x[i] += y[i];
  }

  void swiglu(Activation gate, Activation up) override {
    const int64_t hidden = b_.width(gate);
    float* g = act(gate);
    const float* u = act(up);
    lane_.pool.parallel_for(n_, [&](int64_t begin, int64_t end, int) {  // per position: any thread count
      for (int64_t t = begin; t < end; ++t) cpu::swiglu(g + t * hidden, u + t * hidden, hidden);
    });
  }

  // Final norm of the chosen rows into Normed (packed at the front), then the classifier.
  void logits(Activation in, float* out) override {
    const LlamaConfig& c = b_.config_;
    const int64_t dim = c.dim;
    float* normed = act(Activation::Normed);
    const float* x = act(in);
    std::vector<Run> runs;  // of the chosen rows, packed
    int64_t count = 0, previous = -1;
    for (int64_t t = 0; t < n_; ++t) {
      if (!entries_[t].wants_logits) continue;
      if (previous < 0 || t != previous + 1) runs.push_back({count, 1});  // a gap ends a run
      else extend_runs(runs, entries_, previous, t, count);
      previous = t;
      cpu::rmsnorm(normed + count * dim, x + t * dim, b_.output_norm_, dim, c.rms_eps);
      ++count;
    }
    if (count == 0) return;
    multiply(normed, dim, runs, {{&b_.settle(b_.output_, lane_.pool), out, c.vocab_size}});
  }

  void read(Activation a, float* out) override {
    const float* x = act(a);
    std::copy(x, x + n_ * b_.width(a), out);
  }

  void write(Activation a, const float* in) override { std::copy(in, in + n_ * b_.width(a), act(a)); }

 private:
  float* act(Activation a) { return lane_.activations[static_cast<int>(a)].data(); }

  struct Product {
    const Matrix* w;
    float* out;
    int64_t out_stride;
  };
  // out = x w^T for the rows of `runs` ([rows][cols] x). Where every run takes the kernels
  // (single positions, short prompts), all rows go in one call that reads each weight once;
  // where a run's length picks a GEMM library or AMX tiles, whose arithmetic depends on the
  // rows multiplied together, each run goes alone, as its sequence does when evaluated alone.
  void multiply(const float* x, int64_t cols, const std::vector<Run>& runs, const std::vector<Product>& products) {
    int64_t rows = 0, longest = 0;
    bool alike = true;
    for (const Run& r : runs) {
      rows += r.count;
      longest = std::max(longest, r.count);
      if (runs.size() > 1)
        for (const Product& p : products)
          alike = alike && resolve_gemm_backend(b_.gemm_, *p.w, r.count) == GemmBackend::Kernels &&
                  !amx_applies(*p.w, r.count);
    }
    if (alike) {
      lane_.input.reset(x, rows, cols, cols, longest);
      for (const Product& p : products) project(*p.w, p.out, p.out_stride);
      return;
    }
    for (const Run& r : runs) {
      lane_.input.reset(x + r.first * cols, r.count, cols, cols, r.count);
      for (const Product& p : products) project(*p.w, p.out + r.first * p.out_stride, p.out_stride);
    }
  }
  // Prompts go to the GEMM backend when it applies; the rest to the kernels, which keep the
  // input's converted activations for the next projection of the same input.
  void project(const Matrix& w, float* out, int64_t out_stride) {
    MatmulInput& x = lane_.input;
    if (!gemm(b_.gemm_, w, x.x(), x.n_tokens(), x.run(), x.x_stride(), out, out_stride, lane_.pool))
      cpu::matmul(w, x, out, out_stride, lane_.pool);
  }

  CpuBackend& b_;
  CpuBackend::Lane& lane_;
  std::lock_guard<std::mutex> hold_;
  const BatchEntry* entries_;
  int64_t n_;
  std::vector<Run> runs_;
  std::vector<Run> blocks_;  // attention's
  std::vector<Product> products_;  // matmul's
};

CpuBackend::CpuBackend(const BackendOptions& options)
    : gemm_(parse_gemm_backend(options.gemm)),
      default_threads_(options.n_threads > 0 ? options.n_threads : available_cores()),
      repack_(options.repack),
      copy_mapped_(options.copy_mapped),
      progress_(options.progress) {
  check_gemm_backend(gemm_);
  if (options.device != 0)
    throw Error(ErrorCode::InvalidArgument,
                "device " + std::to_string(options.device) + ": the cpu backend has one device, 0");
  if (options.n_threads < 0 || options.n_threads > 1024)
    throw Error(ErrorCode::InvalidArgument,
                "thread count " + std::to_string(options.n_threads) + " is outside [0, 1024]");
}

CpuBackend::~CpuBackend() = default;

std::string CpuBackend::device_description() const {
  return std::string("the host CPU: ") + std::to_string(available_cores()) + " cores, " +
         isa_name(active_isa()) + (amx_active() ? "+amx" : "") + " kernels";
}

void CpuBackend::place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) {
  config_ = config;
  token_embd_ = weights.token_embd;
  output_norm_ = static_cast<const float*>(weights.output_norm.data);
  output_ = Matrix(weights.output);
  layers_.clear();
  for (const LlamaLayerWeights& w : weights.layers) {
    Layer l;
    l.attn_norm = static_cast<const float*>(w.attn_norm.data);
    l.ffn_norm = static_cast<const float*>(w.ffn_norm.data);
    l.wq = Matrix(w.wq);
    l.wk = Matrix(w.wk);
    l.wv = Matrix(w.wv);
    l.wo = Matrix(w.wo);
    l.w_gate = Matrix(w.w_gate);
    l.w_up = Matrix(w.w_up);
    l.w_down = Matrix(w.w_down);
    layers_.push_back(l);
  }
  if (writable && repack_) regroup(*writable);
  if (!writable && copy_mapped_) {
    const std::vector<Matrix*> mapped = movable_matrices();
    copies_ = std::make_unique<Copy[]>(mapped.size());
    uint64_t deferred_bytes = 0;
    for (size_t i = 0; i < mapped.size(); ++i) {
      mapped[i]->copy_slot = static_cast<int32_t>(i);
      mapped_.push_back(mapped[i]);
      // Where the kernels give the copy's bits on the mapping too (a copy in the file's layout,
      // or a regrouped one the plain-layout kernels match), no pass need wait for the copy:
      // the first token comes at once, and the copies follow a part per pass. With AMX,
      // prompts take the tile unit on one layout and not always on the other (grouped Q5_K
      // has no AMX decoder), so regrouped copies are made before a pass reads them.
      copies_[i].deferred = !regroups(*mapped[i]) || (grouped_gemm_for(*mapped[i]) != nullptr && !amx_active());
      if (copies_[i].deferred) deferred_bytes += static_cast<uint64_t>(mapped[i]->rows) * mapped[i]->row_bytes;
    }
    deferred_bytes_per_pass_ = deferred_bytes / 8;
    deferring_.store(deferred_bytes > 0, std::memory_order_relaxed);
  }
}

void CpuBackend::copy_deferred(ThreadPool& pool, bool all) {
  if (!deferring_.load(std::memory_order_acquire)) return;
  // The first pass makes none, so that a mapped model gives its first token at once.
  if (!all && !first_pass_done_.exchange(true, std::memory_order_relaxed)) return;
  std::unique_lock<std::mutex> lock(copy_mutex_, std::defer_lock);
  if (all) lock.lock();
  else if (!lock.try_lock()) return;  // a pass on another lane is making copies: not twice the wait
  uint64_t made = 0;
  for (; next_deferred_ < mapped_.size() && (all || made < deferred_bytes_per_pass_); ++next_deferred_) {
    Copy& copy = copies_[next_deferred_];
    if (!copy.deferred) continue;
    const Matrix& m = *mapped_[next_deferred_];
    const bool copied = copy_to_private(m, pool);
    copy.ready.store(true, std::memory_order_release);
    made += static_cast<uint64_t>(m.rows) * m.row_bytes;
    if (!copied) {  // memory is short: the rest stay in the mapping too
      next_deferred_ = mapped_.size();
      break;
    }
  }
  if (next_deferred_ == mapped_.size()) deferring_.store(false, std::memory_order_release);
}

void CpuBackend::copy_deferred_now() {
  if (!deferring_.load(std::memory_order_acquire)) return;
  Lane& l = lane(0);
  std::lock_guard<std::mutex> hold(l.busy);
  copy_deferred(l.pool, true);
}

bool CpuBackend::regroups(const Matrix& m) const {
  return repack_ && groupable(m.dtype, m.cols) && active_kernels().grouped_gemm[static_cast<int>(m.dtype)];
}

const Matrix& CpuBackend::settle(const Matrix& m, ThreadPool& pool) {
  if (m.copy_slot < 0) return m;
  Copy& copy = copies_[m.copy_slot];
  if (copy.ready.load(std::memory_order_acquire)) return copy.matrix;
  if (copy.deferred) return m;
  // Passes on other lanes wait here for the copy rather than read a matrix half placed.
  std::lock_guard<std::mutex> lock(copy_mutex_);
  if (!copy.ready.load(std::memory_order_relaxed)) {
    copy_to_private(m, pool);
    copy.ready.store(true, std::memory_order_release);
  }
  return copy.matrix;
}

void CpuBackend::Unmap::operator()(uint8_t* p) const { platform::free_pages(p, bytes); }

bool CpuBackend::copy_to_private(const Matrix& m, ThreadPool& pool) {
  constexpr size_t kHugePage = platform::kHugePage;
  const size_t bytes = static_cast<size_t>(m.rows) * m.row_bytes;
  // One huge page more than needed, so that the copy can start on a huge-page boundary.
  const size_t reserved = (bytes + 2 * kHugePage - 1) / kHugePage * kHugePage;
  void* p = platform::allocate_pages(reserved);
  Copy& slot = copies_[m.copy_slot];
  if (!p) {  // short of memory: the matrix is read in the mapping, as map-shared reads it
    slot.matrix = m;
    slot.matrix.copy_slot = -1;
    return false;
  }
  slot.memory = PrivateMemory(static_cast<uint8_t*>(p), Unmap{reserved});
  uint8_t* copy = static_cast<uint8_t*>(p) + (-reinterpret_cast<uintptr_t>(p) & (kHugePage - 1));
  const bool regroup = regroups(m);
  const uint8_t* file_rows = static_cast<const uint8_t*>(m.data);
  const uintptr_t page = static_cast<uintptr_t>(platform::page_size());
  pool.parallel_for(m.rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const size_t at = static_cast<size_t>(r) * m.row_bytes;
      if (regroup) group_row(m.dtype, file_rows + at, copy + at, m.cols);
      else std::memcpy(copy + at, file_rows + at, m.row_bytes);
    }
  });
  // This process no longer reads those pages of the mapping (whole pages within the matrix
  // only); they stay in the page cache for others.
  const uintptr_t first = (reinterpret_cast<uintptr_t>(file_rows) + page - 1) & ~(page - 1);
  const uintptr_t last = (reinterpret_cast<uintptr_t>(file_rows) + bytes) & ~(page - 1);
  if (last > first) platform::forget_mapped_pages(reinterpret_cast<void*>(first), last - first);
  slot.matrix = m;
  slot.matrix.data = copy;
  slot.matrix.layout = regroup ? RowLayout::Grouped16 : RowLayout::Plain;
  slot.matrix.copy_slot = -1;
  return true;
}

std::vector<Matrix*> CpuBackend::movable_matrices() {
  std::vector<Matrix*> matrices;
  for (Layer& l : layers_)
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) matrices.push_back(m);
  // A tied output is also the embedding table, which is read row by row in the file's layout.
  if (output_.data != token_embd_.data) matrices.push_back(&output_);
  return matrices;
}

void CpuBackend::regroup(io::MappedFile& file) {
  const std::vector<Matrix*> matrices = movable_matrices();
  const uint8_t* base = file.data();
  double total = 0, done = 0;
  for (const Matrix* m : matrices)
    if (regroups(*m)) total += static_cast<double>(m->rows) * m->row_bytes;
  file.edit_copy([&](uint8_t* data) {
    for (Matrix* m : matrices) {
      if (!regroups(*m)) continue;
      // Only tensors that lie in the file's copy (all of GGUF's do) can be rewritten there.
      const uint8_t* at = static_cast<const uint8_t*>(m->data);
      const size_t bytes = static_cast<size_t>(m->rows) * m->row_bytes;
      if (at < base || static_cast<size_t>(at - base) > file.size() || bytes > file.size() - static_cast<size_t>(at - base))
        continue;
      uint8_t* first = data + (at - base);
      const Matrix view = *m;
      auto regroup_rows = [&](int64_t begin, int64_t end) {
        std::vector<uint8_t> plain(view.row_bytes);
        for (int64_t r = begin; r < end; ++r) {
          uint8_t* row = first + static_cast<size_t>(r) * view.row_bytes;
          std::memcpy(plain.data(), row, view.row_bytes);
          group_row(view.dtype, plain.data(), row, view.cols);
        }
      };
      // Rows are independent: two threads halve the pass over a multi-gigabyte model. They take
      // the matrix in slices of about 8 MiB, between which the load may be cancelled.
      const int64_t slice = std::max<int64_t>(2, static_cast<int64_t>((size_t{8} << 20) / view.row_bytes));
      for (int64_t begin = 0; begin < view.rows; begin += slice) {
        const int64_t end = std::min(view.rows, begin + slice), middle = begin + (end - begin) / 2;
        if (progress_ && !progress_(static_cast<float>((done + static_cast<double>(begin) * view.row_bytes) / total)))
          throw Error(ErrorCode::Cancelled, "loading was cancelled by the progress callback");
        std::thread helper(regroup_rows, middle, end);
        regroup_rows(begin, middle);
        helper.join();
      }
      done += static_cast<double>(bytes);
      m->layout = RowLayout::Grouped16;
    }
  });
}

std::unique_ptr<KvCache> CpuBackend::create_kv_cache(int64_t positions, DType type) {
  if (type != DType::F16 && type != DType::F32)
    throw Error(ErrorCode::InvalidArgument, std::string("the KV cache holds F16 or F32, not ") + dtype_name(type));
  return std::make_unique<CpuKvCache>(config_, positions, type);
}

namespace {

// Rows of one layer's keys (or values) between the cache's [kv_head][position] order and the
// host's [position][kv_dim] order; `to_host` picks the direction.
void copy_kv_rows(const CpuKvCache& cache, bool keys, int64_t layer, int64_t kv_heads, int64_t first, int64_t n,
                  uint8_t* host, bool to_host) {
  const size_t row = cache.head_bytes;
  for (int64_t p = 0; p < n; ++p)
    for (int64_t h = 0; h < kv_heads; ++h) {
      uint8_t* cached = keys ? cache.key_row(layer, h, first + p) : cache.value_row(layer, h, first + p);
      uint8_t* at = host + (static_cast<size_t>(p * kv_heads + h)) * row;
      if (to_host) std::memcpy(at, cached, row);
      else std::memcpy(cached, at, row);
    }
}

void copy_kv(const LlamaConfig& c, const CpuKvCache& cache, int64_t first, int64_t n, uint8_t* host, bool to_host) {
  const size_t block = static_cast<size_t>(n * c.n_kv_heads) * cache.head_bytes;  // one layer's keys
  for (int64_t l = 0; l < c.n_layers; ++l) {
    copy_kv_rows(cache, true, l, c.n_kv_heads, first, n, host + (2 * l) * block, to_host);
    copy_kv_rows(cache, false, l, c.n_kv_heads, first, n, host + (2 * l + 1) * block, to_host);
  }
}

}  // namespace

void CpuBackend::read_kv(const KvCache& cache, int64_t first, int64_t n, void* out) {
  copy_kv(config_, static_cast<const CpuKvCache&>(cache), first, n, static_cast<uint8_t*>(out), true);
}

void CpuBackend::write_kv(KvCache& cache, int64_t first, int64_t n, const void* in) {
  copy_kv(config_, static_cast<const CpuKvCache&>(cache), first, n,
          const_cast<uint8_t*>(static_cast<const uint8_t*>(in)), false);
}

int CpuBackend::threads(int n_threads) const { return n_threads > 0 ? n_threads : default_threads_; }

CpuBackend::Lane& CpuBackend::lane(int n_threads) {
  const int count = threads(n_threads);
  std::lock_guard<std::mutex> lock(lanes_mutex_);
  std::unique_ptr<Lane>& l = lanes_[count];
  if (!l) l = std::make_unique<Lane>(count);
  return *l;
}

void CpuBackend::reserve(int64_t entries, int64_t positions, int n_threads) {
  Lane& l = lane(n_threads);
  std::lock_guard<std::mutex> hold(l.busy);
  size_lane(l, entries, positions);
}

void CpuBackend::size_lane(Lane& l, int64_t entries, int64_t positions) const {
  if (entries > l.entries) {
    for (int a = 0; a < kActivationCount; ++a)
      grow(l.activations[a], static_cast<size_t>(entries * width(static_cast<Activation>(a))), "activations");
    l.entries = entries;
  }
  if (positions > l.positions) {
    grow(l.scores, static_cast<size_t>(l.pool.size()) * kAttentionBlock * static_cast<size_t>(positions),
         "attention scores");
    l.positions = positions;
  }
}

std::unique_ptr<Pass> CpuBackend::begin_pass(const BatchEntry* entries, int64_t n, int n_threads) {
  return std::make_unique<CpuPass>(*this, lane(n_threads), entries, n);
}

int64_t CpuBackend::width(Activation a) const { return activation_width(config_, a); }

const float* CpuBackend::norm(WeightId id) const {
  switch (id.kind) {
    case WeightKind::AttentionNorm: return layers_.at(static_cast<size_t>(id.layer)).attn_norm;
    case WeightKind::FfnNorm: return layers_.at(static_cast<size_t>(id.layer)).ffn_norm;
    case WeightKind::OutputNorm: return output_norm_;
    default: throw Error(ErrorCode::InvalidArgument, "rmsnorm: the weight is not a norm");
  }
}

const Matrix& CpuBackend::placed(WeightId id) const {
  if (id.kind == WeightKind::Output) return output_;
  const Layer& l = layers_.at(static_cast<size_t>(id.layer));
  switch (id.kind) {
    case WeightKind::Query: return l.wq;
    case WeightKind::Key: return l.wk;
    case WeightKind::Value: return l.wv;
    case WeightKind::AttentionOutput: return l.wo;
    case WeightKind::Gate: return l.w_gate;
    case WeightKind::Up: return l.w_up;
    case WeightKind::Down: return l.w_down;
    default: throw Error(ErrorCode::InvalidArgument, "matmul: the weight is not a matrix");
  }
}

const Matrix& CpuBackend::matrix(WeightId id) const {
  const Matrix& m = placed(id);
  if (m.copy_slot >= 0 && copies_[m.copy_slot].ready.load(std::memory_order_acquire)) return copies_[m.copy_slot].matrix;
  return m;
}

}  // namespace cria::cpu
