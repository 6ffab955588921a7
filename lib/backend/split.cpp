#include "backend/split.hpp"

#include <algorithm>
#include <vector>

#include "cria/error.hpp"

namespace cria {

namespace {

// A sequence's keys and values: the device backend's for its layers, the host's for the rest.
class SplitKvCache final : public KvCache {
 public:
  SplitKvCache(std::unique_ptr<KvCache> device, std::unique_ptr<KvCache> host, int64_t positions, DType type)
      : KvCache(positions, type), device(std::move(device)), host(std::move(host)) {}
  std::unique_ptr<KvCache> device, host;
};

}  // namespace

// Runs each operation on the side that holds its layer: the device until the first operation
// of layer N, the host from then on.
class SplitPass final : public Pass {
 public:
  SplitPass(SplitBackend& b, const BatchEntry* entries, int64_t n, int n_threads)
      : b_(b), device_entries_(entries, entries + n), host_entries_(entries, entries + n) {
    for (int64_t t = 0; t < n; ++t) {
      auto& cache = static_cast<SplitKvCache&>(*entries[t].cache);
      device_entries_[static_cast<size_t>(t)].cache = cache.device.get();
      host_entries_[static_cast<size_t>(t)].cache = cache.host.get();
    }
    device_ = b.device_->begin_pass(device_entries_.data(), n, n_threads);
    host_ = b.host_->begin_pass(host_entries_.data(), n, n_threads);
  }

  void embed(Activation out) override { current().embed(out); }
  void rmsnorm(Activation out, Activation in, WeightId weight) override {
    // The final norm is the host's, with the classifier.
    const int64_t layer = weight.kind == WeightKind::OutputNorm ? b_.n_layers_ : weight.layer;
    on(layer).rmsnorm(out, in, local(weight));
  }
  void matmul(Activation in, std::initializer_list<Projection> projections) override {
    const int64_t layer = projections.begin()->weight.layer;
    // At most the three projections of one input.
    Projection local_projections[3];
    size_t count = 0;
    for (const Projection& p : projections) {
      if (p.weight.layer != layer || count == 3)
        throw Error(ErrorCode::InvalidArgument, "a split pass takes projections of one layer per call, at most three");
      local_projections[count++] = {local(p.weight), p.out};
    }
    Pass& pass = on(layer);
    switch (count) {
      case 1: pass.matmul(in, {local_projections[0]}); break;
      case 2: pass.matmul(in, {local_projections[0], local_projections[1]}); break;
      default: pass.matmul(in, {local_projections[0], local_projections[1], local_projections[2]}); break;
    }
  }
  void rope(Activation a, int64_t n_heads) override { current().rope(a, n_heads); }
  void store_kv(int64_t layer, Activation key, Activation value) override {
    on(layer).store_kv(local_layer(layer), key, value);
  }
  void attention(int64_t layer, Activation query, Activation out) override {
    on(layer).attention(local_layer(layer), query, out);
  }
  void add(Activation into, Activation from) override { current().add(into, from); }
  void swiglu(Activation gate, Activation up) override { current().swiglu(gate, up); }
  void logits(Activation in, float* out) override { on(b_.n_layers_).logits(in, out); }
  void read(Activation a, float* out) override { current().read(a, out); }
  void write(Activation a, const float* in) override { current().write(a, in); }

 private:
  Pass& current() { return on_host_ ? *host_ : *device_; }
  // The pass of the side that holds `layer` (n_layers: the classifier); the first operation
  // on the host side takes the residual stream over from the device.
  Pass& on(int64_t layer) {
    if (!on_host_ && layer >= b_.device_layers_) {
      residual_.resize(device_entries_.size() * static_cast<size_t>(b_.dim_));
      device_->read(Activation::Residual, residual_.data());
      host_->write(Activation::Residual, residual_.data());
      on_host_ = true;
    }
    return current();
  }
  int64_t local_layer(int64_t layer) const { return layer < b_.device_layers_ ? layer : layer - b_.device_layers_; }
  WeightId local(WeightId id) const { return {id.kind, id.layer < 0 ? -1 : local_layer(id.layer)}; }

  SplitBackend& b_;
  std::vector<BatchEntry> device_entries_, host_entries_;
  std::unique_ptr<Pass> device_, host_;
  bool on_host_ = false;
  std::vector<float> residual_;
};

SplitBackend::SplitBackend(std::unique_ptr<Backend> device, std::unique_ptr<Backend> host, int64_t device_layers)
    : device_(std::move(device)), host_(std::move(host)), device_layers_(device_layers) {}

Backend* SplitBackend::whole() const {
  if (device_layers_ >= n_layers_) return device_.get();
  if (device_layers_ == 0) return host_.get();
  return nullptr;
}

std::string SplitBackend::name() const {
  if (Backend* b = whole()) return b->name();
  return device_->name() + "+" + host_->name();
}

std::string SplitBackend::device_description() const {
  if (Backend* b = whole()) return b->device_description();
  return "layers 0-" + std::to_string(device_layers_ - 1) + " on " + device_->device_description() + "; layers " +
         std::to_string(device_layers_) + "-" + std::to_string(n_layers_ - 1) + " and the classifier on " +
         host_->device_description();
}

void SplitBackend::place(const LlamaConfig& config, const LlamaWeights& weights, io::MappedFile* writable) {
  n_layers_ = config.n_layers;
  dim_ = config.dim;
  kv_dim_ = config.kv_dim();
  device_layers_ = std::min(device_layers_, n_layers_);
  if (Backend* b = whole()) return b->place(config, weights, writable);
  // The device first: the host backend may rearrange its weights in place in `writable`, and
  // a tied classifier shares its bytes with the embedding the device uploads.
  LlamaConfig device_config = config;
  device_config.n_layers = device_layers_;
  LlamaWeights device_weights;
  device_weights.token_embd = weights.token_embd;
  device_weights.layers.assign(weights.layers.begin(), weights.layers.begin() + device_layers_);
  device_->place(device_config, device_weights, writable);  // no classifier: empty views

  LlamaConfig host_config = config;
  host_config.n_layers = n_layers_ - device_layers_;
  LlamaWeights host_weights = weights;
  host_weights.layers.assign(weights.layers.begin() + device_layers_, weights.layers.end());
  host_->place(host_config, host_weights, writable);
}

std::unique_ptr<KvCache> SplitBackend::create_kv_cache(int64_t positions, DType type) {
  if (Backend* b = whole()) return b->create_kv_cache(positions, type);
  return std::make_unique<SplitKvCache>(device_->create_kv_cache(positions, type),
                                        host_->create_kv_cache(positions, type), positions, type);
}

// The device's layers come first in the host layout, then the host's.
void SplitBackend::read_kv(const KvCache& kv, int64_t first, int64_t n, void* out) {
  if (Backend* b = whole()) return b->read_kv(kv, first, n, out);
  const auto& cache = static_cast<const SplitKvCache&>(kv);
  device_->read_kv(*cache.device, first, n, out);
  host_->read_kv(*cache.host, first, n, static_cast<uint8_t*>(out) + device_kv_bytes(kv.type(), n));
}

void SplitBackend::write_kv(KvCache& kv, int64_t first, int64_t n, const void* in) {
  if (Backend* b = whole()) return b->write_kv(kv, first, n, in);
  auto& cache = static_cast<SplitKvCache&>(kv);
  device_->write_kv(*cache.device, first, n, in);
  host_->write_kv(*cache.host, first, n, static_cast<const uint8_t*>(in) + device_kv_bytes(kv.type(), n));
}

size_t SplitBackend::device_kv_bytes(DType type, int64_t n) const {
  return static_cast<size_t>(2 * device_layers_ * n * kv_dim_) * (type == DType::F16 ? 2 : 4);
}

void SplitBackend::reserve(int64_t entries, int64_t positions, int n_threads) {
  if (Backend* b = whole()) return b->reserve(entries, positions, n_threads);
  device_->reserve(entries, positions, n_threads);
  host_->reserve(entries, positions, n_threads);
}

int SplitBackend::threads(int n_threads) const {
  if (Backend* b = whole()) return b->threads(n_threads);
  return host_->threads(n_threads);
}

std::unique_ptr<Pass> SplitBackend::begin_pass(const BatchEntry* entries, int64_t n, int n_threads) {
  if (Backend* b = whole()) return b->begin_pass(entries, n, n_threads);
  return std::make_unique<SplitPass>(*this, entries, n, n_threads);
}

double SplitBackend::probe_read_bandwidth(int n_threads) {
  if (device_layers_ == 0) return host_->probe_read_bandwidth(n_threads);
  return device_->probe_read_bandwidth(n_threads);
}

}  // namespace cria
