#include <cstring>

#include "cria/error.hpp"
#include "cria/io/llama2c.hpp"

namespace cria::io {

namespace {

constexpr uint32_t kMagicV1 = 0x616b3432;  // "ak42"
constexpr size_t kV1HeaderBytes = 256;

int32_t read_i32(const MappedFile& f, size_t at) {
  int32_t v;
  std::memcpy(&v, f.data() + at, 4);
  return v;
}

// Appends tensors in file order, advancing `offset`.
class Layout {
 public:
  explicit Layout(uint64_t start) : offset_(start) {}
  void add(std::string name, std::vector<int64_t> shape) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);  // bounded by validate()
    tensors_.push_back({std::move(name), std::move(shape), offset_, n * 4});
    offset_ += n * 4;
  }
  void skip(uint64_t floats) { offset_ += floats * 4; }
  // One tensor per layer: blk.L.<what>.weight.
  void per_layer(int64_t n_layers, const char* what, std::vector<int64_t> shape) {
    for (int64_t l = 0; l < n_layers; ++l)
      add("blk." + std::to_string(l) + "." + what + ".weight", shape);
  }
  uint64_t end() const { return offset_; }
  std::vector<Llama2cTensor> take() { return std::move(tensors_); }

 private:
  uint64_t offset_;
  std::vector<Llama2cTensor> tensors_;
};

}  // namespace

bool looks_like_llama2c(const MappedFile& file) {
  if (file.size() < 28) return false;
  if (read_i32(file, 0) == static_cast<int32_t>(kMagicV1)) return true;
  // Legacy: no magic, only a plausible width first (zeros and text are not checkpoints); the
  // other fields, right or wrong, are for parse_llama2c to judge in a message naming them.
  const int32_t dim = read_i32(file, 0);
  if (dim <= 0 || dim > (1 << 24)) return false;
  return true;
}

Llama2cCheckpoint parse_llama2c(const MappedFile& file) {
  const std::string& path = file.path();
  Llama2cCheckpoint ck;
  size_t header_at = 0;
  uint64_t data_start = 28;
  if (file.size() >= 8 && read_i32(file, 0) == static_cast<int32_t>(kMagicV1)) {
    int32_t version = read_i32(file, 4);
    if (version != 1)
      throw Error(ErrorCode::Unsupported,
                  path + ": llama2.c export version " + std::to_string(version) +
                      " is not supported (cria reads the legacy layout and version 1)");
    if (file.size() < kV1HeaderBytes)
      throw Error(ErrorCode::InvalidFile, path + ": truncated llama2.c version 1 header");
    ck.version = 1;
    header_at = 8;
    data_start = kV1HeaderBytes;
  } else if (file.size() < 28) {
    throw Error(ErrorCode::InvalidFile, path + ": truncated llama2.c header");
  }

  LlamaConfig& c = ck.config;
  c.dim = read_i32(file, header_at);
  c.hidden_dim = read_i32(file, header_at + 4);
  c.n_layers = read_i32(file, header_at + 8);
  c.n_heads = read_i32(file, header_at + 12);
  c.n_kv_heads = read_i32(file, header_at + 16);
  int32_t vocab = read_i32(file, header_at + 20);
  c.context_length = read_i32(file, header_at + 24);
  if (ck.version == 1) {
    uint8_t shared = file.data()[header_at + 28];
    if (shared > 1)
      throw Error(ErrorCode::InvalidFile, path + ": llama2.c shared-classifier flag is " +
                                              std::to_string(shared));
    ck.shared_classifier = shared == 1;
    c.vocab_size = vocab;
  } else {
    // The legacy layout marks a separate classifier with a negative vocabulary size.
    ck.shared_classifier = vocab > 0;
    c.vocab_size = vocab < 0 ? -static_cast<int64_t>(vocab) : vocab;
  }
  c.validate(path);

  const int64_t dim = c.dim, hidden = c.hidden_dim, L = c.n_layers, kv_dim = c.kv_dim();
  Layout layout(data_start);
  if (ck.version == 0) {
    layout.add("token_embd.weight", {dim, c.vocab_size});
    layout.per_layer(L, "attn_norm", {dim});
    layout.per_layer(L, "attn_q", {dim, dim});
    layout.per_layer(L, "attn_k", {dim, kv_dim});
    layout.per_layer(L, "attn_v", {dim, kv_dim});
    layout.per_layer(L, "attn_output", {dim, dim});
    layout.per_layer(L, "ffn_norm", {dim});
    layout.per_layer(L, "ffn_gate", {dim, hidden});
    layout.per_layer(L, "ffn_down", {hidden, dim});
    layout.per_layer(L, "ffn_up", {dim, hidden});
    layout.add("output_norm.weight", {dim});
    // Precomputed RoPE tables (real and imaginary) that cria recomputes instead.
    layout.skip(static_cast<uint64_t>(c.context_length) * c.head_dim());
  } else {
    layout.per_layer(L, "attn_norm", {dim});
    layout.per_layer(L, "ffn_norm", {dim});
    layout.add("output_norm.weight", {dim});
    layout.add("token_embd.weight", {dim, c.vocab_size});
    layout.per_layer(L, "attn_q", {dim, dim});
    layout.per_layer(L, "attn_k", {dim, kv_dim});
    layout.per_layer(L, "attn_v", {dim, kv_dim});
    layout.per_layer(L, "attn_output", {dim, dim});
    layout.per_layer(L, "ffn_gate", {dim, hidden});
    layout.per_layer(L, "ffn_down", {hidden, dim});
    layout.per_layer(L, "ffn_up", {dim, hidden});
  }
  if (!ck.shared_classifier) layout.add("output.weight", {dim, c.vocab_size});

  if (layout.end() != file.size())
    throw Error(ErrorCode::InvalidFile,
                path + ": llama2.c checkpoint size mismatch: the header (dim " +
                    std::to_string(dim) + ", hidden " + std::to_string(hidden) + ", " +
                    std::to_string(L) + " layers, vocab " + std::to_string(c.vocab_size) +
                    ") needs " + std::to_string(layout.end()) + " bytes, the file has " +
                    std::to_string(file.size()) +
                    (layout.end() > file.size() ? " (truncated)" : ""));
  ck.tensors = layout.take();
  return ck;
}

}  // namespace cria::io
