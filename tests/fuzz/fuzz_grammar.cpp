// Fuzz target: GBNF grammars and JSON Schemas as applications pass them (text from users or
// files). The first byte picks which; a grammar that parses is then matched against the
// input's own bytes, and a schema's grammar must parse.
#include <memory>
#include <string>

#include "cria/error.hpp"
#include "cria/sampling/grammar.hpp"
#include "cria/sampling/json_schema.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    std::string grammar;
    try {
      grammar = cria::json_schema_to_grammar(text);
    } catch (const cria::Error&) {
      return 0;
    }
    cria::Grammar parsed(grammar);  // what the converter writes must parse: no catch
    return 0;
  }
  try {
    auto grammar = std::make_shared<const cria::Grammar>(text);
    cria::GrammarMatcher matcher(grammar);
    cria::GrammarMatcher::State state = matcher.start();
    for (size_t i = 1; i < size && state != cria::GrammarMatcher::kDead; ++i) {
      state = matcher.step(state, data[i]);
      if (state != cria::GrammarMatcher::kDead) matcher.complete(state);
    }
  } catch (const cria::Error&) {
  }
  return 0;
}
