// llama2.c checkpoint -> LlamaConfig + LlamaWeights, all f32 views into the mapping.
#include "cria/error.hpp"
#include "cria/io/llama2c.hpp"
#include "cria/model/model.hpp"

namespace cria {

void Model::load_llama2c(const LoadOptions&) {
  io::Llama2cCheckpoint ck = io::parse_llama2c(*file_);
  config_ = ck.config;

  // The separate classifier, when there is one, is "output.weight"; otherwise the lookup
  // finds none and the output is tied to the embedding.
  assign_weights([&](const std::string& name) -> TensorView {
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
  });

  for (const io::Llama2cTensor& t : ck.tensors)
    tensors_.push_back({t.name, "F32", t.shape, t.offset, t.nbytes});
}

}  // namespace cria
