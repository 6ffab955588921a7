#pragma once
// The Llama forward pass over a batch of (token, position, sequence) entries, as a sequence of
// backend operations.
#include <cstdint>
#include <functional>

#include "cria/backend.hpp"

namespace cria {

// Evaluates `entries` in one pass, storing each entry's key and value in its sequence's
// cache; writes the logits of the entries that want them to `logits` ([count][vocab], in
// batch order). With `hidden` instead, writes every entry's final hidden state there (the
// classifier's input: the final RMSNorm of the residual stream, [n][dim]) and no logits.
// `stop`, when given, is asked before each layer; true stops the pass with Error(Cancelled)
// (the caches then hold partial rows at the pass's positions, which later passes overwrite).
void forward(Backend& backend, const LlamaConfig& config, const BatchEntry* entries, int64_t n, int n_threads,
             float* logits, float* hidden = nullptr, const std::function<bool()>& stop = nullptr);

}  // namespace cria
