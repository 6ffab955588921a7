// cria embed: one embedding per text on stdout, one line of numbers per text (or JSON).
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "cria/engine/embed.hpp"

int cmd_embed(int argc, char** argv) {
  std::string model_path, tokenizer_path;
  std::vector<std::string> texts;
  cli::EngineOptions engine;
  cria::EmbedOptions options;
  bool json = false;
  for (cli::Args a(argc, argv); !a.done();) {
    if (engine.parse(a)) continue;
    else if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("--tokenizer", "-z")) tokenizer_path = a.value();
    else if (a.is("--pooling")) {
      const std::string p = a.value();
      if (p == "mean") options.pooling = cria::Pooling::Mean;
      else if (p == "last") options.pooling = cria::Pooling::Last;
      else throw std::invalid_argument("--pooling is mean or last, not '" + p + "'");
    } else if (a.is("--no-normalize")) options.normalize = false;
    else if (a.is("--json")) json = true;
    else if (a.is("-f", "--file")) {
      std::istringstream lines(cli::read_file(a.value()));
      for (std::string line; std::getline(lines, line);)
        if (!line.empty()) texts.push_back(line);
    } else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria embed -m MODEL [--pooling mean|last] [--no-normalize] [--json] (TEXT... | -f FILE)\n"
          "The final hidden state of each text (with BOS), pooled, one line of numbers per text.\n"
          "  --pooling mean|last  the mean over the text's tokens (default) or its last token's\n"
          "  --no-normalize       keep the raw length (default: length 1, for cosine similarity)\n"
          "  --json               a JSON array of arrays instead of lines\n"
          "  -f FILE              one text per line of FILE\n",
          stdout);
      std::fputs(cli::EngineOptions::kHelp, stdout);
      return 0;
    } else if (!a.peek().empty() && a.peek()[0] == '-') {
      throw std::invalid_argument("unknown option '" + a.peek() + "'");
    } else {
      texts.push_back(a.next());
    }
  }
  if (texts.empty()) throw std::invalid_argument("no text given (TEXT... or -f FILE)");
  auto model = cli::load_model(model_path, tokenizer_path, true, engine.load);
  options.n_threads = engine.load.n_threads;
  std::vector<std::vector<int32_t>> tokens;
  cria::EncodeOptions with_bos;
  with_bos.add_bos = true;
  for (const std::string& t : texts) tokens.push_back(model->tokenizer()->encode(t, with_bos));
  const std::vector<std::vector<float>> embeddings = cria::embed(*model, tokens, options);
  if (json) std::fputc('[', stdout);
  for (size_t i = 0; i < embeddings.size(); ++i) {
    if (json) std::fputs(i ? ",\n[" : "[", stdout);
    for (size_t d = 0; d < embeddings[i].size(); ++d)
      std::printf(json ? (d ? ",%.9g" : "%.9g") : (d ? " %.9g" : "%.9g"), static_cast<double>(embeddings[i][d]));
    std::fputs(json ? "]" : "\n", stdout);
  }
  if (json) std::fputs("]\n", stdout);
  return 0;
}
