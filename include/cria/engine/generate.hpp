#pragma once
// The generation loop: prompt tokens in, text out through a callback, with stop conditions.
// One loop serves one session or several advanced together (each step of every live
// sequence in one pass over the weights); the C ABI, the CLI and the bindings all use it.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cria/engine/session.hpp"
#include "cria/sampling/sampler.hpp"

namespace cria {

struct GenerateParams {
  SamplerParams sampling;          // a sampler chain made for the call from these, per sequence
  int64_t max_tokens = -1;         // < 0: until end of sequence or a full context
  std::vector<std::string> stop;   // text that ends generation (held back, not passed on)
  // Called after each pass of prompt positions with the fraction of the prompts evaluated;
  // returning false cancels the call (every sequence stops with Cancelled).
  std::function<bool(float)> prompt_progress;
  // When the context is full, sample one more token from the last position's logits and pass
  // its text on before stopping with ContextFull, as llama2.c's run does; the session has no
  // room for that token, so it does not hold it. Default: every generated token is held.
  bool sample_when_full = false;
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
// The same for several sequences: `sequence` is the index of the session the text is for.
using SequenceTextCallback = std::function<bool(size_t sequence, std::string_view text)>;

// Evaluates `prompt` after what the session already holds (its own passes, as
// Session::eval), then samples until a stop condition: end of sequence (EOS, or BOS, a
// document boundary), max_tokens, a stop string, a full context or the callback returning
// false. Every generated token is evaluated, so the session holds the prompt and the
// generated tokens (not a final EOS) and a later call continues the text; the text passed to
// on_text continues the session's text exactly. At max_tokens the decoder keeps an
// incomplete UTF-8 character for the next call (Session::flush_text ends it).
// Throws before any work: InvalidState (no vocabulary), ContextFull (the prompt does not fit
// or the context is full), InvalidArgument (an empty prompt in a session with no logits, a
// token outside the vocabulary, invalid sampling parameters).
GenerateResult generate(Session& session, const std::vector<int32_t>& prompt, const GenerateParams& params,
                        const TextCallback& on_text);

// The same for several sessions of one model at once: each prompt is evaluated in its
// session's own passes, then every step samples each live sequence and evaluates all the
// new tokens in one pass. Each sequence's tokens and text are those it gets alone.
std::vector<GenerateResult> generate(const std::vector<Session*>& sessions,
                                     const std::vector<std::vector<int32_t>>& prompts, const GenerateParams& params,
                                     const SequenceTextCallback& on_text);

}  // namespace cria
