// llama2.c checkpoint -> LlamaConfig + LlamaWeights, all f32 views into the mapping.
#include "cria/error.hpp"
#include "cria/io/llama2c.hpp"
#include "cria/model/model.hpp"

namespace cria {

void Model::load_llama2c(const LoadOptions&) {
  io::Llama2cCheckpoint ck = io::parse_llama2c(*file_);
  config_ = ck.config;

  auto tensor = [&](const std::string& name) -> TensorView {
    for (const io::Llama2cTensor& t : ck.tensors) {
      if (t.name != name) continue;
      TensorView v;
      v.data = file_->data() + t.offset;
      v.dtype = DType::F32;
      v.cols = t.shape[0];
      v.rows = t.shape.size() > 1 ? t.shape[1] : 1;
      v.row_bytes = static_cast<size_t>(v.cols) * 4;
      return v;
    }
    return {};
  };
  weights_.token_embd = tensor("token_embd.weight");
  weights_.layers.resize(static_cast<size_t>(config_.n_layers));
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    w.attn_norm = tensor(p + "attn_norm.weight");
    w.wq = tensor(p + "attn_q.weight");
    w.wk = tensor(p + "attn_k.weight");
    w.wv = tensor(p + "attn_v.weight");
    w.wo = tensor(p + "attn_output.weight");
    w.ffn_norm = tensor(p + "ffn_norm.weight");
    w.w_gate = tensor(p + "ffn_gate.weight");
    w.w_down = tensor(p + "ffn_down.weight");
    w.w_up = tensor(p + "ffn_up.weight");
  }
  weights_.output_norm = tensor("output_norm.weight");
  weights_.tied_output = ck.shared_classifier;
  weights_.output = ck.shared_classifier ? weights_.token_embd : tensor("output.weight");

  for (const io::Llama2cTensor& t : ck.tensors)
    tensors_.push_back({t.name, "F32", t.shape, t.offset, t.nbytes});
}

}  // namespace cria
