// The generation loop, for one sequence or several advanced together.
#include "cria/engine/generate.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "cria/engine/batch.hpp"
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

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Holds back text that could be the start of a stop string until it is decided.
class StopFilter {
 public:
  StopFilter(const std::vector<std::string>& stops, std::function<bool(std::string_view)> out)
      : out_(std::move(out)) {
    for (const std::string& s : stops)
      if (!s.empty()) stops_.push_back(s);
  }

  // Returns false when a stop string was found (*hit_stop set) or the callback asked to stop.
  bool push(std::string_view text, bool* hit_stop) {
    pending_.append(text);
    size_t cut = std::string::npos;
    for (const std::string& s : stops_) cut = std::min(cut, pending_.find(s));
    if (cut != std::string::npos) {
      *hit_stop = true;
      if (cut > 0) out_(std::string_view(pending_).substr(0, cut));
      pending_.clear();
      return false;
    }
    size_t keep = 0;  // the longest suffix that begins some stop string
    for (const std::string& s : stops_)
      for (size_t len = std::min(s.size() - 1, pending_.size()); len > keep; --len)
        if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
          keep = len;
          break;
        }
    if (pending_.size() == keep) return true;
    const bool go_on = out_(std::string_view(pending_).substr(0, pending_.size() - keep));
    pending_.erase(0, pending_.size() - keep);
    return go_on;
  }
  // Passes on what is held back; false when the callback asked to stop.
  bool finish() {
    if (pending_.empty()) return true;
    std::string rest;
    rest.swap(pending_);
    return out_(rest);
  }

 private:
  std::vector<std::string> stops_;
  std::function<bool(std::string_view)> out_;
  std::string pending_;
};

// One sequence of a generate call.
struct Sequence {
  Session* session;
  const std::vector<int32_t>* prompt;
  std::optional<Sampler> sampler;
  std::unique_ptr<StopFilter> filter;
  GenerateResult result;
  bool done = false;
};

// Ends a sequence that stopped by itself (not by a stop string or the callback): the
// decoder's held-back bytes go through the filter (except at max_tokens, where they wait for
// the next call), then what the filter holds.
void finish(Sequence& seq, StopReason reason) {
  seq.done = true;
  seq.result.reason = reason;
  bool go_on = true;
  if (reason != StopReason::MaxTokens) {
    bool hit_stop = false;
    go_on = seq.filter->push(seq.session->flush_text(), &hit_stop);
    if (hit_stop) {
      seq.result.reason = StopReason::StopString;
      return;
    }
  }
  if (go_on) go_on = seq.filter->finish();
  if (!go_on) seq.result.reason = StopReason::Cancelled;
}

// The checks every sequence passes before any work.
void check_sequence(const Session& s, const std::vector<int32_t>& prompt, const Tokenizer* tokenizer) {
  if (!tokenizer)
    throw Error(ErrorCode::InvalidState,
                "the model has no vocabulary (llama2.c checkpoints need a tokenizer_path)");
  const int64_t free_positions = s.room();
  if (free_positions <= 0)
    throw Error(ErrorCode::ContextFull, "the session's context (" + std::to_string(s.context_length()) +
                                            " positions) is full: reset it or create a larger one");
  if (static_cast<int64_t>(prompt.size()) > free_positions)
    throw Error(ErrorCode::ContextFull,
                "the prompt has " + std::to_string(prompt.size()) + " tokens but the context has " +
                    std::to_string(free_positions) +
                    " free positions (create the session with a larger context_length or shorten the prompt)");
  if (prompt.empty() && !s.has_logits())
    throw Error(ErrorCode::InvalidArgument, "the prompt is empty and the session holds nothing (begin with BOS)");
  const int64_t vocab = s.model().config().vocab_size;
  for (int32_t id : prompt)
    if (id < 0 || id >= vocab)
      throw Error(ErrorCode::InvalidArgument, "token id " + std::to_string(id) +
                                                  " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
}

}  // namespace

std::vector<GenerateResult> generate(const std::vector<Session*>& sessions,
                                     const std::vector<std::vector<int32_t>>& prompts, const GenerateParams& params,
                                     const SequenceTextCallback& on_text) {
  if (sessions.size() != prompts.size())
    throw Error(ErrorCode::InvalidArgument, "generate: " + std::to_string(sessions.size()) + " sessions but " +
                                                std::to_string(prompts.size()) + " prompts");
  std::vector<Sequence> seqs(sessions.size());
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (!sessions[i]) throw Error(ErrorCode::InvalidArgument, "generate: session " + std::to_string(i) + " is null");
    for (size_t j = 0; j < i; ++j)
      if (sessions[j] == sessions[i])
        throw Error(ErrorCode::InvalidArgument, "generate: a session appears twice");
    if (&sessions[i]->model() != &sessions[0]->model())
      throw Error(ErrorCode::InvalidArgument, "generate: the sessions belong to different models");
    check_sequence(*sessions[i], prompts[i], sessions[i]->model().tokenizer());
    Sequence& seq = seqs[i];
    seq.session = sessions[i];
    seq.prompt = &prompts[i];
    seq.sampler.emplace(params.sampling, sessions[i]->model().tokenizer());
    for (int32_t token : prompts[i]) seq.sampler->accept(token);  // the penalties' window starts with the prompt
    seq.filter = std::make_unique<StopFilter>(
        params.stop, [&on_text, i](std::string_view text) { return on_text ? on_text(i, text) : true; });
    seq.result.prompt_tokens = static_cast<int64_t>(prompts[i].size());
  }
  if (seqs.empty()) return {};
  const Tokenizer& tokenizer = *sessions[0]->model().tokenizer();

  // Prompts: each in its own session's passes, exactly as that session alone evaluates it.
  int64_t prompt_total = 0, prompt_done = 0;
  for (const Sequence& seq : seqs) prompt_total += static_cast<int64_t>(seq.prompt->size());
  for (Sequence& seq : seqs) {
    const Clock::time_point start = Clock::now();
    const std::vector<int32_t>& prompt = *seq.prompt;
    for (size_t done = 0; done < prompt.size();) {
      const size_t count = std::min(static_cast<size_t>(seq.session->max_batch()), prompt.size() - done);
      bool cancelled = false;
      try {
        seq.session->eval(prompt.data() + done, static_cast<int64_t>(count));
      } catch (const Error& e) {
        if (e.code() != ErrorCode::Cancelled) throw;
        cancelled = true;  // Session::cancel from another thread
      }
      done += count;
      prompt_done += static_cast<int64_t>(count);
      if (cancelled || (params.prompt_progress &&
                        !params.prompt_progress(static_cast<float>(prompt_done) / static_cast<float>(prompt_total)))) {
        seq.result.prompt_seconds = seconds_since(start);
        std::vector<GenerateResult> results;
        for (Sequence& s : seqs) {
          s.result.reason = StopReason::Cancelled;
          results.push_back(std::move(s.result));
        }
        return results;
      }
    }
    seq.result.prompt_seconds = seconds_since(start);
  }

  // Generation: each step samples every live sequence, then evaluates the new tokens together.
  const Clock::time_point start = Clock::now();
  Batch batch;
  std::vector<Sequence*> stepped;
  for (;;) {
    stepped.clear();
    for (Sequence& seq : seqs) {
      if (seq.done) continue;
      Session& s = *seq.session;
      GenerateResult& r = seq.result;
      if (params.max_tokens >= 0 && static_cast<int64_t>(r.tokens.size()) >= params.max_tokens) {
        finish(seq, StopReason::MaxTokens);
      } else if (s.room() < 1 && !params.sample_when_full) {
        finish(seq, StopReason::ContextFull);
      } else {
        const std::vector<float>& logits = s.logits_for_sampling();
        const int32_t next = seq.sampler->sample(logits.data(), static_cast<int64_t>(logits.size()));
        if (next == tokenizer.eos_id() || next == tokenizer.bos_id()) {
          finish(seq, StopReason::EndOfSequence);
        } else {
          seq.sampler->accept(next);
          r.tokens.push_back(next);
          // The text goes out before the token is evaluated; the token is evaluated even when
          // its text ends the sequence, so that the session holds every generated token (but
          // for sample_when_full's last one, which has no room).
          const bool full = s.room() < 1;
          bool hit_stop = false;
          if (!seq.filter->push(full ? s.peek_text(next, true) : batch.accept(s, next), &hit_stop)) {
            seq.done = true;
            r.reason = hit_stop ? StopReason::StopString : StopReason::Cancelled;
          } else if (full) {
            s.flush_text();  // its bytes went out with the token's text
            finish(seq, StopReason::ContextFull);
          }
        }
      }
      if (seq.done) seq.result.generate_seconds = seconds_since(start);
      else stepped.push_back(&seq);
    }
    try {
      batch.eval();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Cancelled) throw;
      // Session::cancel from another thread stops the shared pass: every sequence in it
      // stops, without the token the pass did not evaluate.
      for (Sequence* seq : stepped) {
        seq->result.tokens.pop_back();
        seq->done = true;
        seq->result.reason = StopReason::Cancelled;
        seq->result.generate_seconds = seconds_since(start);
      }
      break;
    }
    if (stepped.empty()) break;
  }
  std::vector<GenerateResult> results;
  for (Sequence& seq : seqs) results.push_back(std::move(seq.result));
  return results;
}

GenerateResult generate(Session& session, const std::vector<int32_t>& prompt, const GenerateParams& params,
                        const TextCallback& on_text) {
  return generate(std::vector<Session*>{&session}, {prompt}, params,
                  [&on_text](size_t, std::string_view text) { return on_text ? on_text(text) : true; })
      .front();
}

}  // namespace cria
