#include "cria/generate.hpp"

#include <algorithm>
#include <chrono>

#include "cria/error.hpp"

namespace cria {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::EndOfSequence: return "end of sequence";
    case StopReason::MaxTokens: return "max tokens";
    case StopReason::ContextFull: return "context full";
    case StopReason::StopString: return "stop string";
    case StopReason::Cancelled: return "cancelled";
  }
  return "unknown";
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Holds back text that could be the start of a stop string until it is decided.
class StopFilter {
 public:
  StopFilter(const std::vector<std::string>& stops, const TextCallback& out)
      : stops_(stops), out_(out) {}

  // Returns false when a stop string was found or the callback asked to stop.
  bool push(std::string_view text, bool* hit_stop) {
    pending_.append(text);
    size_t cut = std::string::npos;
    for (const std::string& s : stops_) {
      if (s.empty()) continue;
      size_t at = pending_.find(s);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      *hit_stop = true;
      if (cut > 0) out_(std::string_view(pending_).substr(0, cut));
      pending_.clear();
      return false;
    }
    size_t keep = 0;  // the longest suffix that begins some stop string
    for (const std::string& s : stops_)
      for (size_t len = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); len > keep; --len)
        if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
          keep = len;
          break;
        }
    bool go_on = true;
    if (pending_.size() > keep) {
      go_on = out_(std::string_view(pending_).substr(0, pending_.size() - keep));
      pending_.erase(0, pending_.size() - keep);
    }
    return go_on;
  }
  void finish() {
    if (!pending_.empty()) out_(pending_);
    pending_.clear();
  }

 private:
  const std::vector<std::string>& stops_;
  const TextCallback& out_;
  std::string pending_;
};

}  // namespace

GenerateResult generate(Session& session, const Tokenizer& tokenizer,
                        const std::vector<int32_t>& prompt, const GenerateParams& params,
                        const TextCallback& on_text) {
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (prompt.empty() && session.n_past() == 0)
    throw Error(ErrorCode::InvalidArgument, "generate: the prompt is empty (add BOS)");
  if (static_cast<int64_t>(prompt.size()) > session.context_length() - session.n_past())
    throw Error(ErrorCode::ContextFull,
                "the prompt has " + std::to_string(prompt.size()) + " tokens but the context has " +
                    std::to_string(session.context_length() - session.n_past()) +
                    " free positions (raise -c or shorten the prompt)");
  Sampler sampler(params.sampling);
  const int64_t n_vocab = session.model().config().vocab_size;

  auto start = std::chrono::steady_clock::now();
  session.eval(prompt.data(), static_cast<int64_t>(prompt.size()));
  result.prompt_seconds = seconds_since(start);

  // The decoder sees the prompt first so the completion's text continues it exactly.
  StreamDecoder decoder(tokenizer);
  for (int32_t id : prompt) decoder.push(id);
  StopFilter filter(params.stop, on_text);

  start = std::chrono::steady_clock::now();
  bool stopped = false;
  while (!stopped) {
    if (params.max_tokens >= 0 && static_cast<int64_t>(result.tokens.size()) >= params.max_tokens) {
      result.reason = StopReason::MaxTokens;
      break;
    }
    int32_t next = sampler.sample(session.logits().data(), n_vocab);
    // BOS marks a document boundary in llama2.c-style models; EOS ends chat answers.
    if (next == tokenizer.eos_id() || next == tokenizer.bos_id()) {
      result.reason = StopReason::EndOfSequence;
      break;
    }
    result.tokens.push_back(next);
    bool hit_stop = false;
    if (!filter.push(decoder.push(next), &hit_stop)) {
      result.reason = hit_stop ? StopReason::StopString : StopReason::Cancelled;
      stopped = true;
      break;
    }
    if (session.n_past() >= session.context_length()) {
      result.reason = StopReason::ContextFull;
      break;
    }
    session.eval(&next, 1);
  }
  if (!stopped) {
    bool hit_stop = false;
    if (filter.push(decoder.finish(), &hit_stop)) filter.finish();
    else if (hit_stop) result.reason = StopReason::StopString;
  }
  result.generate_seconds = seconds_since(start);
  return result;
}

}  // namespace cria
