// cria run: the prompt, then the completion, on stdout; timings on stderr.
#include <climits>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "cria/engine/generate.hpp"

namespace {

// llama.cpp's --logit-bias value: TOKEN_ID, a sign, then a number ("15043+1", "15043-inf").
std::pair<int32_t, float> parse_logit_bias(const std::string& v) {
  const size_t sign = v.find_first_of("+-", 1);
  if (sign == std::string::npos || sign == 0)
    throw std::invalid_argument("--logit-bias takes ID+BIAS or ID-BIAS, not '" + v + "'");
  size_t used = 0;
  const long id = std::stol(v.substr(0, sign), &used);
  if (used != sign || id < 0 || id > INT32_MAX) throw std::invalid_argument("--logit-bias: bad token id in '" + v + "'");
  const float magnitude = std::stof(v.substr(sign + 1), &used);
  if (used != v.size() - sign - 1) throw std::invalid_argument("--logit-bias: bad bias in '" + v + "'");
  return {static_cast<int32_t>(id), v[sign] == '-' ? -magnitude : magnitude};
}

}  // namespace

int cmd_run(int argc, char** argv) {
  std::string model_path, tokenizer_path, prompt;
  cria::GenerateParams params;
  cli::EngineOptions engine;
  int64_t seed = -1;
  for (cli::Args a(argc, argv); !a.done();) {
    if (engine.parse(a)) continue;
    else if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("--tokenizer", "-z")) tokenizer_path = a.value();
    else if (a.is("-p", "--prompt")) prompt = a.value();
    else if (a.is("-f", "--file")) prompt = cli::read_file(a.value());
    else if (a.is("-n", "--n-predict")) params.max_tokens = a.int_value();
    else if (a.is("--temp", "--temperature")) params.sampling.temperature = static_cast<float>(a.float_value());
    else if (a.is("--top-k")) params.sampling.top_k = static_cast<int32_t>(a.int_value());
    else if (a.is("--top-p")) params.sampling.top_p = static_cast<float>(a.float_value());
    else if (a.is("--seed", "-s")) seed = a.int_value();
    else if (a.is("--repeat-penalty")) params.sampling.repeat_penalty = static_cast<float>(a.float_value());
    else if (a.is("--repeat-last-n")) params.sampling.repeat_last_n = static_cast<int32_t>(a.int_value());
    else if (a.is("--presence-penalty")) params.sampling.presence_penalty = static_cast<float>(a.float_value());
    else if (a.is("--frequency-penalty")) params.sampling.frequency_penalty = static_cast<float>(a.float_value());
    else if (a.is("--min-p")) params.sampling.min_p = static_cast<float>(a.float_value());
    else if (a.is("--typical")) params.sampling.typical_p = static_cast<float>(a.float_value());
    else if (a.is("--mirostat")) params.sampling.mirostat = static_cast<int32_t>(a.int_value());
    else if (a.is("--mirostat-lr")) params.sampling.mirostat_eta = static_cast<float>(a.float_value());
    else if (a.is("--mirostat-ent")) params.sampling.mirostat_tau = static_cast<float>(a.float_value());
    else if (a.is("--logit-bias", "-l")) params.sampling.logit_bias.push_back(parse_logit_bias(a.value()));
    else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria run -m MODEL [--tokenizer FILE] [-p PROMPT | -f FILE] [-n N]\n"
          "                [--temp T] [--top-k K] [--top-p P] [--seed S] [engine options]\n"
          "  -n N        tokens to generate (-1: until end of text or a full context)\n"
          "  --temp T    temperature, 0 for greedy (default 0.8)\n"
          "  --top-k K   keep the K most likely tokens (default 40, 0: all)\n"
          "  --top-p P   keep the smallest set with probability >= P (default 0.95)\n"
          "  --seed S    random seed; -1 picks one (default)\n"
          "  --repeat-penalty R     divide the logits of the last N tokens by R (default 1: off)\n"
          "  --repeat-last-n N      the window of the penalties (default 64, 0: off, -1: context)\n"
          "  --presence-penalty P   subtract P from the logits of tokens in the window (default 0)\n"
          "  --frequency-penalty F  subtract F times their count in the window (default 0)\n"
          "  --min-p P   keep tokens with probability >= P times the largest (default 0: off)\n"
          "  --typical P locally typical sampling (default 1: off)\n"
          "  -l, --logit-bias ID(+|-)BIAS  add BIAS to token ID's logit (ID-inf bans it); repeatable\n"
          "  --mirostat 2  Mirostat 2.0 in place of top-k/typical/top-p/min-p (default 0: off)\n"
          "  --mirostat-ent TAU, --mirostat-lr ETA  its target surprise and learning rate (5, 0.1)\n",
          stdout);
      std::fputs(cli::EngineOptions::kHelp, stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  params.sampling.seed = seed < 0 ? std::random_device{}() : static_cast<uint64_t>(seed);
  params.sample_when_full = true;  // as llama2.c's run: the last position's prediction too

  double t0 = cli::now_seconds();
  auto model = cli::load_model(model_path, tokenizer_path, true, engine.load);
  cria::Session session(*model, engine.session);
  double load_seconds = cli::now_seconds() - t0;

  std::vector<int32_t> tokens = model->tokenizer()->encode(prompt, {});
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  auto print = [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  cria::GenerateResult r = cria::generate(session, tokens, params, print);
  print(session.flush_text());  // an incomplete UTF-8 character left at max tokens
  std::fputc('\n', stdout);
  std::fflush(stdout);

  size_t generated = r.tokens.size();
  std::fprintf(stderr,
               "\nload: %.1f ms | prompt: %lld tokens, %.1f tok/s | generation: %zu tokens, "
               "%.1f tok/s | %s backend, threads %d | stop: %s\n",
               load_seconds * 1e3, static_cast<long long>(r.prompt_tokens),
               r.prompt_seconds > 0 ? r.prompt_tokens / r.prompt_seconds : 0.0, generated,
               r.generate_seconds > 0 ? generated / r.generate_seconds : 0.0, model->backend().name().c_str(),
               session.n_threads(),
               cria::stop_reason_name(r.reason));
  return 0;
}
