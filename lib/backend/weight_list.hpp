#pragma once
// The weights a backend places, each with its id: what a GPU backend uploads in turn.
#include <utility>
#include <vector>

#include "cria/backend.hpp"
#include "cria/model/config.hpp"
#include "cria/model/weights.hpp"

namespace cria {

// The embedding, final norm, classifier and every layer's tensors, leaving out the empty views
// (a model split with the CPU backend by gpu_layers has no final norm and classifier here).
std::vector<std::pair<WeightId, const TensorView*>> weight_list(const LlamaConfig& config,
                                                                const LlamaWeights& weights);

}  // namespace cria
