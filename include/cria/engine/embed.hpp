#pragma once
// Embeddings: a fixed-size vector for a text, from the model's final hidden state (the
// classifier's input), for retrieval and similarity. Many texts are evaluated together, each
// as its own sequence, so that each pass reads the weights once for all of them.
#include <cstdint>
#include <vector>

#include "cria/engine/session.hpp"

namespace cria {

enum class Pooling {
  Mean,  // the mean of the hidden states of all the text's tokens
  Last,  // the hidden state of the text's last token
};

struct EmbedOptions {
  Pooling pooling = Pooling::Mean;
  bool normalize = true;  // scale each embedding to length 1 (L2), for cosine similarity
  int n_threads = 0;      // 0: the model's
  int64_t max_batch = kDefaultMaxBatch;  // positions evaluated together in one pass
};

// One embedding ([dim] floats) per text (token ids, BOS included where wanted). A text's
// embedding does not depend on the other texts evaluated with it. Throws InvalidArgument for
// an empty text or a token outside the vocabulary, ContextFull for a text longer than the
// model's context.
std::vector<std::vector<float>> embed(const Model& model, const std::vector<std::vector<int32_t>>& texts,
                                      const EmbedOptions& options = {});

}  // namespace cria
