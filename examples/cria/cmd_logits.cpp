// cria logits: every position's logits for a list of token ids, as raw little-endian f32
// ([n][vocab]) in a file. A tool for comparing against reference implementations.
#include <cstdio>
#include <sstream>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "cria/engine/session.hpp"

int cmd_logits(int argc, char** argv) {
  std::string model_path, out_path, ids_text;
  cli::EngineOptions engine;
  for (cli::Args a(argc, argv); !a.done();) {
    if (engine.parse(a)) continue;
    else if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("--tokens")) ids_text = a.value();
    else if (a.is("-o", "--output")) out_path = a.value();
    else if (a.is("-b", "--batch")) engine.session.max_batch = a.int_value();
    else if (a.is("-h", "--help")) {
      std::fputs("usage: cria logits -m MODEL --tokens \"ID ID ...\" -o OUT.f32 [-b BATCH] [engine options]\n", stdout);
      std::fputs(cli::EngineOptions::kHelp, stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  if (out_path.empty()) throw std::invalid_argument("no output file (-o OUT)");
  std::vector<int32_t> tokens;
  std::istringstream in(ids_text);
  for (long long id; in >> id;) tokens.push_back(static_cast<int32_t>(id));
  if (!in.eof()) throw std::invalid_argument("--tokens: not a list of integers");
  if (tokens.empty()) throw std::invalid_argument("--tokens: no ids given");

  auto model = cli::load_model(model_path, "", false, engine.load);
  cria::Session session(*model, engine.session);
  std::vector<float> logits(tokens.size() * static_cast<size_t>(model->config().vocab_size));
  session.eval(tokens.data(), static_cast<int64_t>(tokens.size()), logits.data());
  std::FILE* f = cria::platform::open_file(out_path, "wb");
  if (!f) throw std::runtime_error(out_path + ": cannot create");
  size_t written = std::fwrite(logits.data(), sizeof(float), logits.size(), f);
  if (std::fclose(f) != 0 || written != logits.size())
    throw std::runtime_error(out_path + ": write error");
  return 0;
}
