// cria run: the prompt, then the completion, on stdout; timings on stderr.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "sampling_options.hpp"
#include "cria/engine/generate.hpp"

int cmd_run(int argc, char** argv) {
  std::string model_path, tokenizer_path, prompt;
  cria::GenerateParams params;
  cli::EngineOptions engine;
  cli::SamplingOptions sampling;
  for (cli::Args a(argc, argv); !a.done();) {
    if (engine.parse(a) || sampling.parse(a)) continue;
    else if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("--tokenizer", "-z")) tokenizer_path = a.value();
    else if (a.is("-p", "--prompt")) prompt = a.value();
    else if (a.is("-f", "--file")) prompt = cli::read_file(a.value());
    else if (a.is("-n", "--n-predict")) params.max_tokens = a.int_value();
    else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria run -m MODEL [--tokenizer FILE] [-p PROMPT | -f FILE] [-n N]\n"
          "                [--temp T] [--top-k K] [--top-p P] [--seed S] [engine options]\n"
          "  -n N        tokens to generate (-1: until end of text or a full context)\n",
          stdout);
      std::fputs(cli::SamplingOptions::kHelp, stdout);
      std::fputs(cli::EngineOptions::kHelp, stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  params.sampling = sampling.resolved();
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
