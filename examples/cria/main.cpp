// cria: run Llama 2 models from the command line.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "commands.hpp"
#include "console.hpp"
#include "cria.h"  // only its version macros: the CLI links the C++ library, built from the same tree

static void usage() {
  std::fputs(
      "usage: cria COMMAND [options]    (cria --version: the library's and the C ABI's versions)\n"
      "  run         generate text:  cria run -m MODEL [--tokenizer FILE] [-p PROMPT] [-n N]\n"
      "              [--temp T] [--top-k K] [--top-p P] [--seed S] [-c CTX] [-t THREADS] [--backend B]\n"
      "  chat        talk:  cria chat -m MODEL [--system TEXT]  (/undo, /save FILE, /load FILE)\n"
      "  embed       embeddings:  cria embed -m MODEL [--pooling mean|last] TEXT...\n"
      "  info        hyper-parameters and tensors:  cria info -m MODEL\n"
      "  perplexity  score a text:  cria perplexity -m MODEL -f TEXTFILE [-c CTX]\n"
      "  tokenize    text to ids:  cria tokenize (-m MODEL | --vocab FILE) [TEXT | -f FILE]\n"
      "  detokenize  ids to text:  cria detokenize (-m MODEL | --vocab FILE) [IDS | -f FILE]\n"
      "  bench       speed:  cria bench -m MODEL [-p 512] [-n 128] [-t THREADS] [--parallel N] [--json]\n"
      "  devices     the backends and devices built in:  cria devices\n"
      "  synth       random-weight model:  cria synth --shape 7b --type Q4_0 -o OUT.gguf\n"
      "  logits      raw logits:  cria logits -m MODEL --tokens \"1 2 3\" -o OUT.f32\n"
      "  quantize    convert weights:  cria quantize IN.gguf OUT.gguf Q4_K_M\n"
      "Run 'cria COMMAND --help' for a command's options.\n",
      stderr);
}

int main(int argc, char** raw_argv) {
  cli::use_binary_stdio();
  // The commands take argv as UTF-8 (paths included), on every system.
  std::vector<std::string> args = cli::utf8_arguments(argc, raw_argv);
  std::vector<char*> pointers;
  for (std::string& a : args) pointers.push_back(a.data());
  pointers.push_back(nullptr);
  argc = static_cast<int>(args.size());
  char** argv = pointers.data();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "-V")) {
    std::printf("cria %s (C ABI %d)\n", CRIA_VERSION_STRING, CRIA_ABI_VERSION);
    return 0;
  }
  struct Command { const char* name; int (*fn)(int, char**); };
  static const Command commands[] = {
      {"run", cmd_run},           {"chat", cmd_chat},
      {"embed", cmd_embed},       {"info", cmd_info},
      {"perplexity", cmd_perplexity}, {"tokenize", cmd_tokenize},
      {"detokenize", cmd_detokenize}, {"logits", cmd_logits},
      {"synth", cmd_synth},           {"bench", cmd_bench},
      {"quantize", cmd_quantize},     {"devices", cmd_devices},
  };
  for (const Command& c : commands) {
    if (!std::strcmp(argv[1], c.name)) {
      try {
        return c.fn(argc - 2, argv + 2);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "cria %s: error: %s\n", c.name, e.what());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "cria: unknown command '%s'\n", argv[1]);
  usage();
  return 2;
}
