#include "cuda/backend.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "backend/weight_list.hpp"
#include "cria/error.hpp"
#include "cuda/check.hpp"
#include "cuda/gemm_cublas.hpp"

namespace cria::cuda {

namespace {

// Parts of a long context's positions that generation's attention runs in parallel, and the
// positions per part below which cutting does not pay.
constexpr int kMaxSplits = 32;
constexpr int64_t kPositionsPerSplit = 256;
// The grid's y dimension (entries per launch) reaches 65535.
constexpr int64_t kMaxEntries = 65535;

// Keys and values of one sequence: [layer][position][kv_dim] each, in device memory.
class CudaKvCache final : public KvCache {
 public:
  CudaKvCache(const LlamaConfig& c, int64_t positions, DType type, const DeviceSummary& device)
      : KvCache(positions, type),
        layer_bytes(static_cast<size_t>(positions * c.kv_dim()) * (type == DType::F16 ? 2 : 4)),
        keys(layer_bytes * static_cast<size_t>(c.n_layers), "a KV cache of " + std::to_string(positions) + " positions",
             device),
        values(layer_bytes * static_cast<size_t>(c.n_layers), "a KV cache of " + std::to_string(positions) + " positions",
               device) {}
  size_t layer_bytes;
  DeviceBuffer keys, values;
};

const char* kind_name(WeightKind k) {
  static const char* names[] = {"token embedding", "attention norm", "query", "key", "value", "attention output",
                                "feed-forward norm", "gate", "up", "down", "output norm", "output"};
  return names[static_cast<int>(k)];
}

bool graphs_wanted() {
  const char* v = std::getenv("CRIA_CUDA_GRAPHS");
  return !(v && std::strcmp(v, "0") == 0);
}

}  // namespace

// Copies host memory to the device through two pinned buffers, so that reading the next part
// of the source overlaps the copy of the one before.
class Uploader {
 public:
  static constexpr size_t kPart = size_t{32} << 20;
  explicit Uploader(cudaStream_t stream) : stream_(stream), staging_(2 * kPart, "staging weights for the device") {
    for (cudaEvent_t& e : done_) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  }
  ~Uploader() {
    cudaStreamSynchronize(stream_);
    for (cudaEvent_t e : done_) cudaEventDestroy(e);
  }
  void copy(void* device, const void* host, size_t bytes) {
    for (size_t at = 0; at < bytes; at += kPart, ++parts_) {
      const size_t n = std::min(kPart, bytes - at);
      const int slot = static_cast<int>(parts_ % 2);
      if (parts_ >= 2) check(cudaEventSynchronize(done_[slot]), "uploading weights");
      char* buffer = staging_.as<char>() + slot * kPart;
      std::memcpy(buffer, static_cast<const char*>(host) + at, n);
      check(cudaMemcpyAsync(static_cast<char*>(device) + at, buffer, n, cudaMemcpyHostToDevice, stream_),
            "cudaMemcpyAsync (weights)");
      check(cudaEventRecord(done_[slot], stream_), "cudaEventRecord");
    }
  }
  void finish() { check(cudaStreamSynchronize(stream_), "uploading weights"); }

 private:
  cudaStream_t stream_;
  PinnedBuffer staging_;
  cudaEvent_t done_[2] = {};
  uint64_t parts_ = 0;
};

class CudaPass final : public Pass {
 public:
  CudaPass(CudaBackend& backend, const BatchEntry* entries, int64_t n)
      : b_(backend), c_(backend.config_), hold_(backend.busy_), n_(static_cast<int>(n)),
        stream_(backend.stream_->get()) {
    use_device(b_.options_.device);
    b_.ensure_capacity(n);
    auto* e = b_.host_entries_.as<DeviceEntry>();
    auto* logit_rows = reinterpret_cast<int32_t*>(e + b_.capacity_);
    for (int64_t t = 0; t < n; ++t) {
      const BatchEntry& in = entries[t];
      if (in.token < 0 || in.token >= c_.vocab_size)
        throw Error(ErrorCode::InvalidArgument, "token " + std::to_string(in.token) + " is outside the vocabulary");
      auto& cache = static_cast<CudaKvCache&>(*in.cache);
      if (in.position < 0 || in.position >= cache.positions())
        throw Error(ErrorCode::InvalidArgument, "position " + std::to_string(in.position) + " is outside its KV cache");
      e[t] = {in.token, static_cast<int32_t>(in.position), cache.type() == DType::F16 ? 1 : 0,
              static_cast<int32_t>(cache.positions()), cache.keys.get(), cache.values.get()};
      if (in.wants_logits) logit_rows[n_logits_++] = static_cast<int32_t>(t);
      max_position_ = std::max(max_position_, in.position);
    }
    // Queued before the graph: the graph itself is the same from one token to the next.
    check(cudaMemcpyAsync(b_.entries_.get(), e, sizeof(DeviceEntry) * static_cast<size_t>(b_.capacity_) +
                                                    sizeof(int32_t) * static_cast<size_t>(n_logits_),
                          cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (batch entries)");
    graphs_ = b_.use_graphs_ && n <= kMatvecEntries;
    begin_capture();
  }

  ~CudaPass() override {
    // Work captured but never run (a pass that threw) is dropped; queued work ends before the
    // pinned buffers are written again by the next pass.
    if (capturing_) {
      cudaGraph_t graph = nullptr;
      cudaStreamEndCapture(stream_, &graph);
      if (graph) cudaGraphDestroy(graph);
    }
    cudaStreamSynchronize(stream_);
  }

  void embed(Activation out) override {
    cuda::embed(b_.weight({WeightKind::TokenEmbedding}), entries(), n_, act(out), stream_);
  }

  void rmsnorm(Activation out, Activation in, WeightId weight) override {
    cuda::rmsnorm(act(in), static_cast<const float*>(b_.weight(weight).data), act(out), c_.dim, c_.rms_eps, nullptr, n_,
                  stream_);
  }

  void matmul(Activation in, std::initializer_list<Projection> projections) override {
    const int64_t width = activation_width(c_, in);
    if (n_ > kMatvecEntries) prompt_gemm().prepare(act(in), width, n_);
    for (const Projection& p : projections)
      multiply(b_.weight(p.weight), act(in), width, act(p.out), activation_width(c_, p.out), n_);
  }

  void rope(Activation a, int64_t n_heads) override {
    cuda::rope(act(a), activation_width(c_, a), n_heads, c_.head_dim(), c_.rope_base, entries(), n_, stream_);
  }

  void store_kv(int64_t layer, Activation key, Activation value) override {
    cuda::store_kv(act(key), act(value), c_.kv_dim(), layer, entries(), n_, stream_);
  }

  void attention(int64_t layer, Activation query, Activation out) override {
    const AttentionShape shape{layer, c_.n_heads, c_.n_kv_heads, c_.head_dim(), c_.dim, c_.kv_dim()};
    int splits = 1;
    if (n_ <= kMatvecEntries)  // few entries: long contexts in parallel parts
      splits = static_cast<int>(std::min<int64_t>(kMaxSplits, (max_position_ + kPositionsPerSplit) / kPositionsPerSplit));
    while (splits > 1 && attention_partials(shape, n_, splits) > b_.partial_floats_) --splits;
    cuda::attention(shape, act(query), act(out), entries(), n_, max_position_, splits, b_.partials_.as<float>(), stream_);
  }

  void add(Activation into, Activation from) override {
    cuda::add(act(into), act(from), n_ * activation_width(c_, into), stream_);
  }
  void swiglu(Activation gate, Activation up) override {
    cuda::swiglu(act(gate), act(up), n_ * activation_width(c_, gate), stream_);
  }

  void logits(Activation in, float* out) override {
    const size_t bytes = sizeof(float) * static_cast<size_t>(n_logits_ * c_.vocab_size);
    if (n_logits_ > 0) {
      // The final norm of the entries that want logits, packed in rows 0.., then the classifier.
      const int32_t* rows = reinterpret_cast<const int32_t*>(entries() + b_.capacity_);
      cuda::rmsnorm(act(in), static_cast<const float*>(b_.weight({WeightKind::OutputNorm}).data), act(Activation::Normed),
                    c_.dim, c_.rms_eps, rows, static_cast<int>(n_logits_), stream_);
      if (n_logits_ > kMatvecEntries) prompt_gemm().prepare(act(Activation::Normed), c_.dim, n_logits_);
      multiply(b_.weight({WeightKind::Output}), act(Activation::Normed), c_.dim, b_.logits_.as<float>(), c_.vocab_size,
               static_cast<int>(n_logits_));
    }
    run();
    check(cudaMemcpyAsync(b_.host_out_.get(), b_.logits_.get(), bytes, cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync (logits)");
    b_.stream_->synchronize("a CUDA pass");
    std::memcpy(out, b_.host_out_.get(), bytes);
    begin_capture();
  }

  void read(Activation a, float* out) override {
    const size_t bytes = sizeof(float) * static_cast<size_t>(n_ * activation_width(c_, a));
    run();
    check(cudaMemcpyAsync(b_.host_out_.get(), act(a), bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (read)");
    b_.stream_->synchronize("a CUDA pass");
    std::memcpy(out, b_.host_out_.get(), bytes);
    begin_capture();
  }

  void write(Activation a, const float* in) override {
    const size_t bytes = sizeof(float) * static_cast<size_t>(n_ * activation_width(c_, a));
    run();
    std::memcpy(b_.host_out_.get(), in, bytes);
    check(cudaMemcpyAsync(act(a), b_.host_out_.get(), bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (write)");
    b_.stream_->synchronize("a CUDA pass");  // host_out_ is free again for what the pass reads back next
    begin_capture();
  }

 private:
  float* act(Activation a) const { return b_.activations_[static_cast<int>(a)].as<float>(); }
  const DeviceEntry* entries() const { return b_.entries_.as<DeviceEntry>(); }

  PromptGemm& prompt_gemm() {
    if (!b_.gemm_) {
      const int64_t widest_input = std::max(c_.dim, c_.hidden_dim);
      b_.gemm_ = std::make_unique<PromptGemm>(stream_, b_.summary_, b_.capacity_, widest_input);
    }
    return *b_.gemm_;
  }

  // y rows = x rows x w^T: the matrix-vector kernel for generation, cuBLAS (on inputs
  // prepared by the caller) for more entries.
  void multiply(const Matrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride, int n) {
    if (n <= kMatvecEntries)
      matvec(w, x, x_stride, y, y_stride, n, stream_);
    else
      prompt_gemm().multiply(w, y, y_stride);
  }

  // Starts capturing what the pass queues, where it is replayed as a graph.
  void begin_capture() {
    if (!graphs_) return;
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    capturing_ = true;
  }

  // Queues what was captured: the backend's graph of the last pass, updated to this one's
  // (the same kernels in the same order; a new graph only where they differ).
  void run() {
    if (!capturing_) return;
    capturing_ = false;
    cudaGraph_t graph = nullptr;
    check(cudaStreamEndCapture(stream_, &graph), "cudaStreamEndCapture");
    struct Release {
      cudaGraph_t g;
      ~Release() { cudaGraphDestroy(g); }
    } release{graph};
    size_t nodes = 0;
    check(cudaGraphGetNodes(graph, nullptr, &nodes), "cudaGraphGetNodes");
    if (nodes == 0) return;  // nothing queued since the last result
    if (b_.graph_) {
      cudaGraphExecUpdateResultInfo info{};
      if (cudaGraphExecUpdate(b_.graph_, graph, &info) != cudaSuccess) {
        cudaGetLastError();  // a different shape: instantiate anew
        cudaGraphExecDestroy(b_.graph_);
        b_.graph_ = nullptr;
      }
    }
    if (!b_.graph_) check(cudaGraphInstantiate(&b_.graph_, graph, 0), "cudaGraphInstantiate");
    check(cudaGraphLaunch(b_.graph_, stream_), "cudaGraphLaunch");
  }

  CudaBackend& b_;
  const LlamaConfig& c_;
  std::lock_guard<std::mutex> hold_;
  int n_;
  cudaStream_t stream_;
  int64_t n_logits_ = 0;
  int64_t max_position_ = 0;
  bool graphs_ = false, capturing_ = false;
};

CudaBackend::CudaBackend(const BackendOptions& options) : options_(options) {
  if (options.gemm != "auto" && !options.gemm.empty())
    throw Error(ErrorCode::InvalidArgument,
                "gemm '" + options.gemm + "': the CUDA backend has no prompt GEMM choice (use \"auto\")");
  const std::vector<DeviceSummary> devices = list_devices();  // throws without a driver or device
  if (options.device < 0 || static_cast<size_t>(options.device) >= devices.size())
    throw Error(ErrorCode::InvalidArgument, "device " + std::to_string(options.device) + ": the CUDA backend has " +
                                                std::to_string(devices.size()) + " device(s)");
  summary_ = devices[static_cast<size_t>(options.device)];
  if (summary_.major < 8)
    throw Error(ErrorCode::Unsupported, "CUDA device " + std::to_string(options.device) + " (" + summary_.name +
                                            ", compute capability " + std::to_string(summary_.major) + "." +
                                            std::to_string(summary_.minor) +
                                            "): the CUDA backend is built for 8.0 (Ampere) and newer");
  use_device(options.device);
  stream_ = std::make_unique<Stream>();
  use_graphs_ = graphs_wanted();
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(options_.device);  // buffers are freed on their device
  if (graph_) cudaGraphExecDestroy(graph_);
}

std::string CudaBackend::device_description() const {
  return "CUDA device " + std::to_string(options_.device) + ": " + summary_.describe();
}

void CudaBackend::upload(const TensorView& t, const std::string& what, DeviceWeight& into, Uploader& uploader) {
  if (!decodes(t.dtype))
    throw Error(ErrorCode::Unsupported, what + ": the CUDA backend has no kernels for weights of type " + dtype_name(t.dtype));
  const size_t bytes = static_cast<size_t>(t.rows) * t.row_bytes;
  into.buffer = DeviceBuffer(bytes, what, summary_);
  uploader.copy(into.buffer.get(), t.data, bytes);
  into.matrix = {into.buffer.get(), t.dtype, t.rows, t.cols, t.row_bytes};
}

void CudaBackend::place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile*) {
  use_device(options_.device);
  config_ = config;
  if (config.head_dim() > 256 || config.head_dim() % 2 != 0)
    throw Error(ErrorCode::Unsupported, "the CUDA backend's attention takes heads of up to 256 values (even), not " +
                                            std::to_string(config.head_dim()));
  // Every tensor, with the bytes done so far reported to the progress callback.
  const auto all = weight_list(config, weights);
  double total = 0, done = 0;
  for (auto& [id, t] : all) total += static_cast<double>(t->rows) * t->row_bytes;
  layers_.resize(static_cast<size_t>(config.n_layers));
  Uploader uploader(stream_->get());
  for (auto& [id, t] : all) {
    const std::string what = std::string("the ") + kind_name(id.kind) + " weights" +
                             (id.layer >= 0 ? " of layer " + std::to_string(id.layer) : "");
    if ((id.kind == WeightKind::AttentionNorm || id.kind == WeightKind::FfnNorm || id.kind == WeightKind::OutputNorm) &&
        t->dtype != DType::F32)
      throw Error(ErrorCode::Unsupported, what + ": the CUDA backend takes f32 norm weights");
    DeviceWeight& slot = id.layer < 0 ? globals_[static_cast<size_t>(id.kind)]
                                      : layers_[static_cast<size_t>(id.layer)][static_cast<size_t>(id.kind)];
    upload(*t, what, slot, uploader);
    done += static_cast<double>(t->rows) * t->row_bytes;
    if (options_.progress && !options_.progress(static_cast<float>(done / total)))
      throw Error(ErrorCode::Cancelled, "loading was cancelled by the progress callback");
  }
  uploader.finish();
}

const Matrix& CudaBackend::weight(WeightId id) const {
  return (id.layer < 0 ? globals_[static_cast<size_t>(id.kind)]
                       : layers_.at(static_cast<size_t>(id.layer))[static_cast<size_t>(id.kind)])
      .matrix;
}

void CudaBackend::read_kv(const KvCache& kv, int64_t first, int64_t n, void* out) {
  std::lock_guard<std::mutex> lock(busy_);
  use_device(options_.device);
  const auto& cache = static_cast<const CudaKvCache&>(kv);
  const size_t row = static_cast<size_t>(config_.kv_dim()) * (kv.type() == DType::F16 ? 2 : 4);
  const size_t bytes = static_cast<size_t>(n) * row;
  uint8_t* host = static_cast<uint8_t*>(out);
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    const size_t at = cache.layer_bytes * static_cast<size_t>(l) + row * static_cast<size_t>(first);
    check(cudaMemcpyAsync(host + (2 * l) * bytes, cache.keys.as<uint8_t>() + at, bytes, cudaMemcpyDeviceToHost,
                          stream_->get()),
          "cudaMemcpyAsync (keys)");
    check(cudaMemcpyAsync(host + (2 * l + 1) * bytes, cache.values.as<uint8_t>() + at, bytes, cudaMemcpyDeviceToHost,
                          stream_->get()),
          "cudaMemcpyAsync (values)");
  }
  stream_->synchronize("reading a KV cache");
}

void CudaBackend::write_kv(KvCache& kv, int64_t first, int64_t n, const void* in) {
  std::lock_guard<std::mutex> lock(busy_);
  use_device(options_.device);
  const auto& cache = static_cast<const CudaKvCache&>(kv);
  const size_t row = static_cast<size_t>(config_.kv_dim()) * (kv.type() == DType::F16 ? 2 : 4);
  const size_t bytes = static_cast<size_t>(n) * row;
  const uint8_t* host = static_cast<const uint8_t*>(in);
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    const size_t at = cache.layer_bytes * static_cast<size_t>(l) + row * static_cast<size_t>(first);
    check(cudaMemcpyAsync(cache.keys.as<uint8_t>() + at, host + (2 * l) * bytes, bytes, cudaMemcpyHostToDevice,
                          stream_->get()),
          "cudaMemcpyAsync (keys)");
    check(cudaMemcpyAsync(cache.values.as<uint8_t>() + at, host + (2 * l + 1) * bytes, bytes, cudaMemcpyHostToDevice,
                          stream_->get()),
          "cudaMemcpyAsync (values)");
  }
  stream_->synchronize("writing a KV cache");
}

std::unique_ptr<KvCache> CudaBackend::create_kv_cache(int64_t positions, DType type) {
  if (type != DType::F16 && type != DType::F32)
    throw Error(ErrorCode::InvalidArgument, std::string("the KV cache holds F16 or F32, not ") + dtype_name(type));
  if (positions * config_.kv_dim() * config_.n_layers > (int64_t{1} << 40) || positions > INT32_MAX)
    throw Error(ErrorCode::Unsupported, "a KV cache of " + std::to_string(positions) + " positions is too large");
  use_device(options_.device);
  return std::make_unique<CudaKvCache>(config_, positions, type, summary_);
}

void CudaBackend::ensure_capacity(int64_t entries) {
  if (entries <= capacity_) return;
  if (entries > kMaxEntries)
    throw Error(ErrorCode::Unsupported, "a batch of " + std::to_string(entries) +
                                            " entries is more than the CUDA backend runs at once (" +
                                            std::to_string(kMaxEntries) + "): evaluate fewer entries per call");
  // Everything sized by the capacity is released first, so that a failure leaves none of it.
  for (DeviceBuffer& b : activations_) b = DeviceBuffer();
  for (DeviceBuffer* b : {&entries_, &logits_, &partials_}) *b = DeviceBuffer();
  for (PinnedBuffer* b : {&host_entries_, &host_out_}) *b = PinnedBuffer();
  gemm_.reset();
  if (graph_) {  // its nodes name the buffers just released
    cudaGraphExecDestroy(graph_);
    graph_ = nullptr;
  }
  capacity_ = 0;
  const std::string what = "the activations of a batch of " + std::to_string(entries);
  for (int a = 0; a < kActivationCount; ++a)
    activations_[static_cast<size_t>(a)] = DeviceBuffer(
        sizeof(float) * static_cast<size_t>(entries * activation_width(config_, static_cast<Activation>(a))), what,
        summary_);
  const size_t entry_bytes = (sizeof(DeviceEntry) + sizeof(int32_t)) * static_cast<size_t>(entries);
  entries_ = DeviceBuffer(entry_bytes, what, summary_);
  host_entries_ = PinnedBuffer(entry_bytes, what);
  logits_ = DeviceBuffer(sizeof(float) * static_cast<size_t>(entries * config_.vocab_size), what, summary_);
  const int64_t widest = std::max({config_.dim, config_.hidden_dim, config_.vocab_size});
  host_out_ = PinnedBuffer(sizeof(float) * static_cast<size_t>(entries * widest), what);
  const AttentionShape shape{0, config_.n_heads, config_.n_kv_heads, config_.head_dim(), config_.dim, config_.kv_dim()};
  partial_floats_ = attention_partials(shape, static_cast<int>(std::max<int64_t>(entries, kMatvecEntries * kMaxSplits)), 1);
  partials_ = DeviceBuffer(sizeof(float) * partial_floats_, what, summary_);
  capacity_ = entries;
}

void CudaBackend::reserve(int64_t entries, int64_t positions, int) {
  std::lock_guard<std::mutex> lock(busy_);
  use_device(options_.device);
  ensure_capacity(entries);
}

double CudaBackend::probe_read_bandwidth(int) {
  std::lock_guard<std::mutex> lock(busy_);
  use_device(options_.device);
  size_t bytes = std::min<size_t>(size_t{1} << 30, summary_.memory_bytes / 4);
  bytes = bytes / 4096 * 4096;
  DeviceBuffer data(bytes, "the read-bandwidth probe", summary_);
  DeviceBuffer sink(256 * sizeof(uint32_t), "the read-bandwidth probe", summary_);
  cudaStream_t stream = stream_->get();
  check(cudaMemsetAsync(data.get(), 0x5a, bytes, stream), "cudaMemsetAsync");
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), "cudaEventCreate");
  std::vector<double> seconds;
  try {
    check(cudaEventCreate(&stop), "cudaEventCreate");
    for (int run = 0; run <= 5; ++run) {  // the first run (clocks) is not counted
      check(cudaEventRecord(start, stream), "cudaEventRecord");
      read_probe(data.get(), bytes, sink.as<uint32_t>(), stream);
      check(cudaEventRecord(stop, stream), "cudaEventRecord");
      check(cudaEventSynchronize(stop), "the read-bandwidth probe");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      if (run > 0) seconds.push_back(ms / 1e3);
    }
  } catch (...) {
    cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(seconds.begin(), seconds.end());
  return static_cast<double>(bytes) / seconds[seconds.size() / 2];
}

std::unique_ptr<Pass> CudaBackend::begin_pass(const BatchEntry* entries, int64_t n, int) {
  return std::make_unique<CudaPass>(*this, entries, n);
}

}  // namespace cria::cuda
