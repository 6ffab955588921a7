#pragma once
// The weights of a Llama model as typed views; the bytes live in the model file's mapping
// (or in buffers the model owns when a format needs conversion).
#include <vector>

#include "cria/tensor.hpp"

namespace cria {

struct LlamaLayerWeights {
  TensorView attn_norm;  // [dim] f32
  TensorView wq;         // [dim rows][dim]
  TensorView wk;         // [kv_dim rows][dim]
  TensorView wv;         // [kv_dim rows][dim]
  TensorView wo;         // [dim rows][dim]
  TensorView ffn_norm;   // [dim] f32
  TensorView w_gate;     // [hidden rows][dim]   (w1)
  TensorView w_down;     // [dim rows][hidden]   (w2)
  TensorView w_up;       // [hidden rows][dim]   (w3)
};

struct LlamaWeights {
  TensorView token_embd;   // [vocab rows][dim]
  std::vector<LlamaLayerWeights> layers;
  TensorView output_norm;  // [dim] f32
  TensorView output;       // [vocab rows][dim]; the token embedding when tied
  bool tied_output = false;
};

}  // namespace cria
