// Embeddings: texts evaluated as sequences of one batch, their final hidden states pooled.
#include "cria/engine/embed.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "cria/error.hpp"
#include "engine/forward.hpp"

namespace cria {

std::vector<std::vector<float>> embed(const Model& model, const std::vector<std::vector<int32_t>>& texts,
                                      const EmbedOptions& options) {
  const LlamaConfig& c = model.config();
  if (options.max_batch < 0 || options.n_threads < 0)
    throw Error(ErrorCode::InvalidArgument, "embed: max_batch and n_threads must not be negative");
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) throw Error(ErrorCode::InvalidArgument, "embed: text " + std::to_string(i) + " has no tokens");
    if (static_cast<int64_t>(texts[i].size()) > c.context_length)
      throw Error(ErrorCode::ContextFull, "embed: text " + std::to_string(i) + " has " +
                                              std::to_string(texts[i].size()) + " tokens; the model's context holds " +
                                              std::to_string(c.context_length));
    for (int32_t t : texts[i])
      if (t < 0 || t >= c.vocab_size)
        throw Error(ErrorCode::InvalidArgument, "embed: text " + std::to_string(i) + " has token id " +
                                                    std::to_string(t) + ", outside the vocabulary [0, " +
                                                    std::to_string(c.vocab_size) + ")");
  }
  Backend& backend = model.backend();
  const int64_t max_batch = options.max_batch > 0 ? options.max_batch : kDefaultMaxBatch;
  const size_t dim = static_cast<size_t>(c.dim);
  std::vector<std::vector<float>> out(texts.size(), std::vector<float>(dim, 0.0f));

  // Texts go in groups of about one pass of positions (at least one text), each with a cache
  // of its own length; a group's positions are cut into passes of max_batch.
  std::vector<BatchEntry> entries;
  std::vector<size_t> owner;  // the text of each entry
  std::vector<float> hidden;
  for (size_t first = 0; first < texts.size();) {
    size_t end = first, positions = 0, longest = 0;
    while (end < texts.size() && (end == first || positions + texts[end].size() <= static_cast<size_t>(max_batch))) {
      positions += texts[end].size();
      longest = std::max(longest, texts[end].size());
      ++end;
    }
    std::vector<std::unique_ptr<KvCache>> caches;
    for (size_t i = first; i < end; ++i)
      caches.push_back(backend.create_kv_cache(static_cast<int64_t>(texts[i].size()), DType::F16));
    backend.reserve(std::min<int64_t>(max_batch, static_cast<int64_t>(positions)), static_cast<int64_t>(longest),
                    options.n_threads);
    entries.clear();
    owner.clear();
    for (size_t i = first; i < end; ++i)
      for (size_t p = 0; p < texts[i].size(); ++p) {
        entries.push_back({texts[i][p], static_cast<int64_t>(p), caches[i - first].get(), false});
        owner.push_back(i);
      }
    for (size_t done = 0; done < entries.size();) {
      const size_t count = std::min(static_cast<size_t>(max_batch), entries.size() - done);
      hidden.resize(count * dim);
      model.check_file();
      forward(backend, c, entries.data() + done, static_cast<int64_t>(count), options.n_threads, nullptr, hidden.data());
      for (size_t k = 0; k < count; ++k) {
        const size_t text = owner[done + k];
        const float* row = hidden.data() + k * dim;
        std::vector<float>& e = out[text];
        if (options.pooling == Pooling::Mean) {
          for (size_t d = 0; d < dim; ++d) e[d] += row[d];
        } else if (entries[done + k].position + 1 == static_cast<int64_t>(texts[text].size())) {
          std::copy(row, row + dim, e.begin());
        }
      }
      done += count;
    }
    first = end;
  }

  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<float>& e = out[i];
    if (options.pooling == Pooling::Mean)
      for (float& v : e) v /= static_cast<float>(texts[i].size());
    if (options.normalize) {
      double norm = 0;
      for (float v : e) norm += static_cast<double>(v) * v;
      norm = std::sqrt(norm);
      if (norm > 0)
        for (float& v : e) v = static_cast<float>(v / norm);
    }
  }
  return out;
}

}  // namespace cria
