// The grammar stage's apply() on Llama 2's 32,000-token vocabulary: a JSON grammar (the one
// json_schema_to_grammar writes for the schema {}, any JSON value) follows a JSON document
// generated from a seed, token by token; each step times apply() over the whole vocabulary
// (with random logits), then accepts the document's next token. With --json-schema, the
// schema's grammar follows the text it allows that random logits pick. Prints the median, p90
// and largest times, and the first step's (the matcher's tables empty) on its own, in
// wall-clock time and in the thread's CPU time.
//
// usage: cria_bench_grammar [--vocab FILE] [--json-schema SCHEMA] [--tokens N] [--seed S]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cria/sampling/grammar.hpp"
#include "cria/sampling/json_schema.hpp"
#include "cria/sampling/sampler.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace {

// A random JSON document: nested objects and arrays of words, numbers, booleans and null.
void random_value(std::mt19937& rng, int depth, std::string& out) {
  static const char* words[] = {"alpha", "beta", "gamma", "delta", "name", "value", "Once upon a time",
                                "caf\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "line\\nbreak", "quote \\\"x\\\"", "42"};
  auto word = [&] { return std::string(words[rng() % (sizeof words / sizeof words[0])]); };
  const unsigned kind = depth >= 3 ? 2 + rng() % 4 : rng() % 6;
  switch (kind) {
    case 0: {
      out += "{";
      const unsigned n = 1 + rng() % 4;
      for (unsigned i = 0; i < n; ++i) {
        out += (i ? ", \"" : "\"") + word() + "\": ";
        random_value(rng, depth + 1, out);
      }
      out += "}";
      break;
    }
    case 1: {
      out += "[";
      const unsigned n = 1 + rng() % 4;
      for (unsigned i = 0; i < n; ++i) {
        if (i) out += ", ";
        random_value(rng, depth + 1, out);
      }
      out += "]";
      break;
    }
    case 2: out += "\"" + word() + " " + word() + "\""; break;
    case 3: out += std::to_string(static_cast<int>(rng() % 100000) - 50000) + "." + std::to_string(rng() % 1000); break;
    case 4: out += rng() % 2 ? "true" : "false"; break;
    default: out += "null"; break;
  }
}

double thread_cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string vocab = std::string(CRIA_SHARED_DIR) + "/models/llama2-tiny-random.gguf";
  std::string schema;
  size_t n_tokens = 400;
  unsigned seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = argv[++i];
    else if (!std::strcmp(argv[i], "--json-schema") && i + 1 < argc) schema = argv[++i];
    else if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc) n_tokens = std::strtoul(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else {
      std::fprintf(stderr, "usage: cria_bench_grammar [--vocab FILE] [--json-schema SCHEMA] [--tokens N] [--seed S]\n");
      return 2;
    }
  }
  const cria::Tokenizer tokenizer(cria::load_vocabulary(vocab));
  auto grammar = std::make_shared<const cria::Grammar>(cria::json_schema_to_grammar(schema.empty() ? "{}" : schema));
  std::mt19937 rng(seed);

  // The text followed: without a schema, a document long enough for n_tokens (an array of
  // random values); with one, the allowed token of largest random logit at each step, a new
  // document after EOS.
  std::string doc = "[";
  std::vector<int32_t> ids;
  while (schema.empty() && ids.size() < n_tokens + 1) {
    if (doc.size() > 1) doc += ", ";
    random_value(rng, 1, doc);
    cria::EncodeOptions no_bos;
    no_bos.add_bos = false;
    ids = tokenizer.encode(doc + "]", no_bos);
  }

  auto stage = cria::grammar_stage(grammar, tokenizer);
  std::vector<cria::Candidates::Candidate> all(static_cast<size_t>(tokenizer.n_vocab()));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<double> wall_ms, cpu_ms;  // wall clock, and this thread's CPU time (steadier on a busy machine)
  size_t allowed_total = 0, documents = 1;
  cria::Candidates c;
  for (size_t step = 0; step < n_tokens; ++step) {
    for (size_t i = 0; i < all.size(); ++i) all[i] = {static_cast<int32_t>(i), normal(rng), 0.0f};
    c.items = all;
    c.sorted = c.normalized = false;
    const double cpu0 = thread_cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    stage->apply(c);
    const auto t1 = std::chrono::steady_clock::now();
    cpu_ms.push_back(thread_cpu_ms() - cpu0);
    wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    allowed_total += c.items.size();
    if (schema.empty()) {
      stage->accept(ids[step]);  // throws if the document's token were refused
      continue;
    }
    const auto best = std::max_element(c.items.begin(), c.items.end(),
                                       [](const auto& a, const auto& b) { return a.logit < b.logit; });
    if (best->id == tokenizer.eos_id()) {
      stage->reset();
      ++documents;
    } else {
      stage->accept(best->id);
    }
  }
  if (schema.empty())
    std::printf("grammar stage apply() over %d tokens, JSON grammar, %zu steps of a %zu-byte document\n",
                tokenizer.n_vocab(), wall_ms.size(), doc.size());
  else
    std::printf("grammar stage apply() over %d tokens, a JSON Schema's grammar, %zu steps of %zu documents\n",
                tokenizer.n_vocab(), wall_ms.size(), documents);
  std::printf("  tokens allowed per step: %.0f on average\n",
              static_cast<double>(allowed_total) / static_cast<double>(wall_ms.size()));
  for (const auto& [what, ms] : {std::make_pair("wall", wall_ms), std::make_pair("cpu ", cpu_ms)}) {
    const std::vector<double> later(ms.begin() + 1, ms.end());
    std::printf("  %s: first step %.3f ms; then median %.3f ms, p90 %.3f ms, max %.3f ms\n", what, ms[0],
                percentile(later, 0.5), percentile(later, 0.9), *std::max_element(later.begin(), later.end()));
  }
  return 0;
}
