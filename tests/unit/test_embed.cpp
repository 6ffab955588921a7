// Embeddings: the last token's hidden state is what the classifier multiplies into the logits,
// the mean and normalization are what they say, and a text's embedding does not depend on the
// texts evaluated with it.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cria/engine/embed.hpp"
#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "logit_difference.hpp"

namespace {

const std::string kStories = std::string(CRIA_SHARED_DIR) + "/models/stories260K.gguf";

std::unique_ptr<cria::Model> load(const std::string& backend) {
  cria::LoadOptions o;
  o.backend = backend;
  return cria::Model::load(kStories, o);
}

std::vector<int32_t> tokens_of(const cria::Model& m, const std::string& text) {
  std::vector<int32_t> t = {m.tokenizer()->bos_id()};
  for (int32_t id : m.tokenizer()->encode(text)) t.push_back(id);
  return t;
}

}  // namespace

TEST_CASE("embed: the last token's hidden state times the classifier gives the session's logits") {
  for (const char* backend : {"reference", "cpu"}) {
    CAPTURE(backend);
    auto model = load(backend);
    const cria::LlamaConfig& c = model->config();
    const cria::TensorView& output = model->weights().output;
    REQUIRE(output.dtype == cria::DType::F32);  // stories260K.gguf is all F32
    const std::vector<int32_t> text = tokens_of(*model, "The little cat sat on the mat.");
    cria::EmbedOptions o;
    o.pooling = cria::Pooling::Last;
    o.normalize = false;
    const std::vector<float> hidden = cria::embed(*model, {text}, o).at(0);
    REQUIRE(hidden.size() == static_cast<size_t>(c.dim));

    cria::Session s(*model);  // an F16 cache, as embed's
    s.eval(text);
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    for (int64_t v = 0; v < c.vocab_size; ++v) {
      const float* row = reinterpret_cast<const float*>(output.row(v));
      double sum = 0;
      for (int64_t d = 0; d < c.dim; ++d) sum += static_cast<double>(row[d]) * hidden[static_cast<size_t>(d)];
      logits[static_cast<size_t>(v)] = static_cast<float>(sum);
    }
    // The CPU backend rounds the classifier's input to 8 bits for block formats, not for F32.
    CHECK(relative_rms(logits, s.logits()) < 1e-5);
  }
}

TEST_CASE("embed: mean pooling, normalization and independence from the other texts") {
  auto model = load("cpu");
  const std::vector<std::vector<int32_t>> texts = {
      tokens_of(*model, "A dog ran in the park."), tokens_of(*model, "Lily liked her red ball very much."),
      tokens_of(*model, "Tom"), tokens_of(*model, "The sun was warm and the birds sang in the tall green trees.")};
  cria::EmbedOptions raw;
  raw.normalize = false;
  const auto together = cria::embed(*model, texts, raw);
  cria::EmbedOptions last = raw;
  last.pooling = cria::Pooling::Last;
  for (size_t i = 0; i < texts.size(); ++i) {
    CAPTURE(i);
    // Alone: the same bits. In passes of 3 positions (texts cut across passes, and prompt
    // products of another shape): the same within rounding.
    CHECK(cria::embed(*model, {texts[i]}, raw).at(0) == together[i]);
    cria::EmbedOptions small = raw;
    small.max_batch = 3;
    CHECK(relative_rms(cria::embed(*model, texts, small)[i], together[i]) < 1e-5);
    // The mean of the last-token hidden states of every prefix is the mean pooling.
    std::vector<double> mean(together[i].size(), 0.0);
    for (size_t n = 1; n <= texts[i].size(); ++n) {
      const std::vector<int32_t> prefix(texts[i].begin(), texts[i].begin() + static_cast<std::ptrdiff_t>(n));
      const std::vector<float> h = cria::embed(*model, {prefix}, last).at(0);
      for (size_t d = 0; d < h.size(); ++d) mean[d] += h[d] / static_cast<double>(texts[i].size());
    }
    CHECK(relative_rms(together[i], std::vector<float>(mean.begin(), mean.end())) < 1e-5);
  }
  const auto normalized = cria::embed(*model, texts);
  for (const std::vector<float>& e : normalized) {
    double norm = 0;
    for (float v : e) norm += static_cast<double>(v) * v;
    CHECK(std::sqrt(norm) == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK_THROWS_AS(cria::embed(*model, {{}}), cria::Error);
  CHECK_THROWS_AS(cria::embed(*model, {{1, 100000}}), cria::Error);
  CHECK(cria::embed(*model, {}).empty());
}
