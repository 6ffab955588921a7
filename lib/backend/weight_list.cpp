#include "backend/weight_list.hpp"

#include <algorithm>

namespace cria {

std::vector<std::pair<WeightId, const TensorView*>> weight_list(const LlamaConfig& config,
                                                                const LlamaWeights& weights) {
  std::vector<std::pair<WeightId, const TensorView*>> all = {{{WeightKind::TokenEmbedding}, &weights.token_embd},
                                                             {{WeightKind::OutputNorm}, &weights.output_norm},
                                                             {{WeightKind::Output}, &weights.output}};
  for (int64_t l = 0; l < config.n_layers; ++l) {
    const LlamaLayerWeights& lw = weights.layers.at(static_cast<size_t>(l));
    for (auto [kind, t] : {std::pair{WeightKind::AttentionNorm, &lw.attn_norm}, {WeightKind::Query, &lw.wq},
                           {WeightKind::Key, &lw.wk}, {WeightKind::Value, &lw.wv}, {WeightKind::AttentionOutput, &lw.wo},
                           {WeightKind::FfnNorm, &lw.ffn_norm}, {WeightKind::Gate, &lw.w_gate}, {WeightKind::Up, &lw.w_up},
                           {WeightKind::Down, &lw.w_down}})
      all.push_back({{kind, l}, t});
  }
  all.erase(std::remove_if(all.begin(), all.end(), [](const auto& w) { return w.second->empty(); }), all.end());
  return all;
}

}  // namespace cria
