// cria perplexity: BOS + the text's tokens, cut into windows of at most CTX tokens, each
// evaluated from an empty cache; every token after a window's first is scored.
#include <cmath>
#include <cstdio>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "cria/engine/session.hpp"

int cmd_perplexity(int argc, char** argv) {
  std::string model_path, tokenizer_path, text_path;
  cli::EngineOptions engine;
  for (cli::Args a(argc, argv); !a.done();) {
    if (engine.parse(a)) continue;
    else if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("--tokenizer", "-z")) tokenizer_path = a.value();
    else if (a.is("-f", "--file")) text_path = a.value();
    else if (a.is("-h", "--help")) {
      std::fputs("usage: cria perplexity -m MODEL -f TEXTFILE [--tokenizer FILE] [engine options]\n", stdout);
      std::fputs(cli::EngineOptions::kHelp, stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  if (text_path.empty()) throw std::invalid_argument("no text given (-f TEXTFILE)");
  auto model = cli::load_model(model_path, tokenizer_path, true, engine.load);
  std::string text = cli::read_file(text_path);
  std::vector<int32_t> tokens = model->tokenizer()->encode(text, {});  // BOS + text
  if (tokens.size() < 2) throw std::invalid_argument(text_path + ": the text has no tokens to score");

  cria::Session session(*model, engine.session);
  const int64_t ctx = session.context_length();
  const int64_t vocab = model->config().vocab_size;
  std::vector<float> logits;
  double nll_sum = 0;
  int64_t scored = 0;
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t start = 0; start < n; start += ctx) {
    int64_t len = std::min(ctx, n - start);
    if (len < 2) break;  // a window of one token scores nothing
    session.reset();
    logits.resize(static_cast<size_t>(len * vocab));
    session.eval(tokens.data() + start, len, logits.data());
    for (int64_t i = 0; i + 1 < len; ++i) {
      // -log softmax(logits[i])[next token], computed stably in double.
      const float* row = &logits[static_cast<size_t>(i * vocab)];
      float max = row[0];
      for (int64_t v = 1; v < vocab; ++v) max = std::max(max, row[v]);
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
      nll_sum += std::log(sum) + max - row[tokens[start + i + 1]];
      ++scored;
    }
    std::fprintf(stderr, "window at token %lld: %lld tokens, running perplexity %.4f\n",
                 static_cast<long long>(start), static_cast<long long>(len),
                 std::exp(nll_sum / scored));
  }
  std::printf("tokens scored: %lld\n", static_cast<long long>(scored));
  std::printf("perplexity: %.6f\n", std::exp(nll_sum / scored));
  return 0;
}
