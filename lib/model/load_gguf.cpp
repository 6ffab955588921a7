// GGUF -> LlamaConfig + LlamaWeights. Tensors are views into the mapping.
#include <cmath>

#include "cria/error.hpp"
#include "cria/io/utf8.hpp"
#include "cria/model/model.hpp"

namespace cria {

namespace {

TensorView view_of(const io::GgufTensorInfo& t) {
  TensorView v;
  v.data = t.data;
  v.dtype = t.dtype;
  v.cols = t.ne[0];
  v.rows = t.ne[1] * t.ne[2] * t.ne[3];
  const DTypeTraits* traits = dtype_traits(t.ggml_type);
  v.row_bytes = traits ? static_cast<size_t>(t.ne[0] / traits->block_elems) * traits->block_bytes : 0;
  return v;
}

}  // namespace

void Model::load_gguf(const LoadOptions& options) {
  gguf_ = io::GgufFile::parse(file_);
  const io::GgufFile& g = *gguf_;

  std::string arch = g.get_string("general.architecture", "");
  if (arch != "llama")
    throw Error(ErrorCode::Unsupported,
                path_ + ": model architecture " + io::printable(arch) + " is not supported (cria runs 'llama')");
  auto required_int = [&](const std::string& key) {
    const io::GgufValue* v = g.find(key);
    if (!v) throw Error(ErrorCode::InvalidFile, path_ + ": metadata '" + key + "' is missing");
    return v->as_int(path_ + ": metadata '" + key + "'");
  };
  LlamaConfig& c = config_;
  c.dim = required_int("llama.embedding_length");
  c.hidden_dim = required_int("llama.feed_forward_length");
  c.n_layers = required_int("llama.block_count");
  c.n_heads = required_int("llama.attention.head_count");
  c.n_kv_heads = g.get_int("llama.attention.head_count_kv", c.n_heads);
  c.context_length = required_int("llama.context_length");
  c.rms_eps = static_cast<float>(g.get_double("llama.attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_base = static_cast<float>(g.get_double("llama.rope.freq_base", 10000.0));
  const io::GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (!embd) throw Error(ErrorCode::InvalidFile, path_ + ": tensor 'token_embd.weight' is missing");
  c.vocab_size = g.get_int("llama.vocab_size", embd->n_dims == 2 ? embd->ne[1] : 0);
  c.validate(path_, ConfigFieldNames::gguf());

  if (g.has("llama.rope.dimension_count") &&
      g.get_int("llama.rope.dimension_count", 0) != c.head_dim())
    throw Error(ErrorCode::Unsupported,
                path_ + ": llama.rope.dimension_count differs from the head size; partial "
                        "rotary embeddings are not supported");
  std::string scaling = g.get_string("llama.rope.scaling.type", "none");
  double factor = g.get_double("llama.rope.scaling.factor", 1.0);
  if (scaling != "none" && factor != 1.0)
    throw Error(ErrorCode::Unsupported,
                path_ + ": RoPE scaling '" + scaling + "' is not supported");

  // A missing tensor is reported by validate_weights, with the shape it should have.
  assign_weights([&](const std::string& name) -> TensorView {
    const io::GgufTensorInfo* t = g.find_tensor(name);
    if (!t) return {};
    if (t->dtype == DType::Unknown && !options.inspect_only) {
      std::string type = ggml_type_name(t->ggml_type);  // a known name, or "unknown type N"
      throw Error(ErrorCode::Unsupported, path_ + ": tensor '" + name + "' has " +
                                              (type.rfind("unknown", 0) == 0 ? type : "type " + type) +
                                              ", which cria does not support");
    }
    if (t->n_dims > 2)
      throw Error(ErrorCode::InvalidFile, path_ + ": tensor '" + name + "' has " +
                                              std::to_string(t->n_dims) + " dimensions");
    return view_of(*t);
  });

  for (const io::GgufTensorInfo& t : g.tensors()) {
    TensorDescription d;
    d.name = t.name;
    d.type = ggml_type_name(t.ggml_type);
    d.shape.assign(t.ne, t.ne + t.n_dims);
    d.offset = g.data_offset() + t.offset;
    d.nbytes = t.nbytes;
    tensors_.push_back(std::move(d));
  }

  if (options.tokenizer_path.empty() && g.has("tokenizer.ggml.tokens"))
    tokenizer_ = std::make_unique<Tokenizer>(load_vocabulary_gguf(g));
}

}  // namespace cria
