#pragma once
// The generation loop: prompt tokens in, text out through a callback, with stop conditions.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cria/engine/session.hpp"
#include "cria/sampling/sampler.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace cria {

struct GenerateParams {
  SamplerParams sampling;
  int64_t max_tokens = -1;         // < 0: until end of sequence or a full context
  std::vector<std::string> stop;   // text that ends generation (not emitted)
};

enum class StopReason { EndOfSequence, MaxTokens, ContextFull, StopString, Cancelled };
const char* stop_reason_name(StopReason r);

struct GenerateResult {
  StopReason reason = StopReason::MaxTokens;
  std::vector<int32_t> tokens;  // generated ids, without the prompt
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0;    // prompt evaluation
  double generate_seconds = 0;  // sampling and evaluating the generated tokens
};

// Called with each piece of complete UTF-8 text; returning false stops generation.
using TextCallback = std::function<bool(std::string_view text)>;

// Evaluates `prompt` after what the session already holds, then samples until a stop
// condition. The text passed to on_text continues the decoded prompt exactly.
GenerateResult generate(Session& session, const Tokenizer& tokenizer,
                        const std::vector<int32_t>& prompt, const GenerateParams& params,
                        const TextCallback& on_text);

}  // namespace cria
