#pragma once
// The sampling flags of the commands that generate (cria run, cria chat), named as
// llama.cpp's so that a llama.cpp command line works unchanged.
#include <climits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "args.hpp"
#include "common.hpp"
#include "cria/sampling/grammar.hpp"
#include "cria/sampling/json_schema.hpp"
#include "cria/sampling/sampler.hpp"

namespace cli {

// llama.cpp's --logit-bias value: TOKEN_ID, a sign, then a number ("15043+1", "15043-inf").
inline std::pair<int32_t, float> parse_logit_bias(const std::string& v) {
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

struct SamplingOptions {
  cria::SamplerParams params;
  int64_t seed = -1;  // -1: one picked at random

  static constexpr const char* kHelp =
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
      "  --mirostat-ent TAU, --mirostat-lr ETA  its target surprise and learning rate (5, 0.1)\n"
      "  --grammar GBNF, --grammar-file FILE  the output follows this GBNF grammar (start rule\n"
      "              root); the model may end it only where the grammar is complete\n"
      "  --json-schema SCHEMA, --json-schema-file FILE  the output is JSON that the JSON Schema\n"
      "              SCHEMA (its text) accepts\n";

  // Consumes the current argument when it is one of these options.
  bool parse(Args& a) {
    cria::SamplerParams& p = params;
    if (a.is("--temp", "--temperature")) p.temperature = static_cast<float>(a.float_value());
    else if (a.is("--top-k")) p.top_k = static_cast<int32_t>(a.int_value());
    else if (a.is("--top-p")) p.top_p = static_cast<float>(a.float_value());
    else if (a.is("--seed", "-s")) seed = a.int_value();
    else if (a.is("--repeat-penalty")) p.repeat_penalty = static_cast<float>(a.float_value());
    else if (a.is("--repeat-last-n")) p.repeat_last_n = static_cast<int32_t>(a.int_value());
    else if (a.is("--presence-penalty")) p.presence_penalty = static_cast<float>(a.float_value());
    else if (a.is("--frequency-penalty")) p.frequency_penalty = static_cast<float>(a.float_value());
    else if (a.is("--min-p")) p.min_p = static_cast<float>(a.float_value());
    else if (a.is("--typical")) p.typical_p = static_cast<float>(a.float_value());
    else if (a.is("--mirostat")) p.mirostat = static_cast<int32_t>(a.int_value());
    else if (a.is("--mirostat-lr")) p.mirostat_eta = static_cast<float>(a.float_value());
    else if (a.is("--mirostat-ent")) p.mirostat_tau = static_cast<float>(a.float_value());
    else if (a.is("--logit-bias", "-l")) p.logit_bias.push_back(parse_logit_bias(a.value()));
    else if (a.is("--grammar")) set_grammar(a.value(), "--grammar");
    else if (a.is("--grammar-file")) set_grammar(read_file(a.value()), "--grammar-file");
    else if (a.is("--json-schema")) set_grammar(cria::json_schema_to_grammar(a.value()), "--json-schema");
    else if (a.is("--json-schema-file")) set_grammar(cria::json_schema_to_grammar(read_file(a.value())), "--json-schema-file");
    else return false;
    return true;
  }

  // --grammar, --grammar-file, --json-schema and --json-schema-file each give the grammar; one
  // of them at most. A malformed grammar is reported here, before a model loads.
  void set_grammar(std::string text, const char* option) {
    if (!params.grammar.empty())
      throw std::invalid_argument(std::string(option) + ": a grammar was already given (use one of --grammar, "
                                  "--grammar-file, --json-schema, --json-schema-file)");
    if (text.empty()) throw std::invalid_argument(std::string(option) + ": the grammar is empty");
    cria::Grammar check(text);
    params.grammar = std::move(text);
  }

  // The parameters with the seed decided.
  cria::SamplerParams resolved() const {
    cria::SamplerParams p = params;
    p.seed = seed < 0 ? std::random_device{}() : static_cast<uint64_t>(seed);
    return p;
  }
};

}  // namespace cli
