// cria chat: an interactive conversation in the Llama 2 chat template. Each turn evaluates
// only its own tokens; /undo rewinds the last turn and /save, /load keep a conversation
// without evaluating it again; Ctrl-C stops the answer being written, not the program.
#include <atomic>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "console.hpp"
#include "cria/engine/chat.hpp"
#include "cria/engine/generate.hpp"
#include "sampling_options.hpp"

namespace {

std::atomic<bool> g_answering{false};
std::atomic<bool> g_interrupted{false};

// Ctrl-C while an answer is written stops the answer; at the prompt it ends the program.
void interrupted() {
  if (g_answering.load()) {
    g_interrupted.store(true);
    return;
  }
  cli::leave_at_once(130);
}

const char* kCommands =
    "  /undo        forget the last turn (your message and the answer)\n"
    "  /save FILE   keep the conversation in FILE\n"
    "  /load FILE   go on with a conversation kept by /save\n"
    "  /quit        leave (also Ctrl-D)\n";

class Chat {
 public:
  Chat(const cria::Model& model, cria::Session& session, std::string system, cria::GenerateParams params)
      : model_(model), tokenizer_(*model.tokenizer()), session_(session), system_(std::move(system)),
        params_(std::move(params)), show_progress_(cli::is_terminal(stderr)) {}

  // One user message: its tokens after what the session holds, then the answer, streamed.
  void turn(const std::string& message) {
    std::vector<cria::ChatMessage> messages;
    std::vector<int32_t> prompt;
    if (session_.n_past() == 0) {
      if (!system_.empty()) messages.push_back({cria::ChatRole::System, system_});
    } else {
      prompt.push_back(tokenizer_.eos_id());  // ends the previous answer, as the template does
    }
    messages.push_back({cria::ChatRole::User, message});
    for (int32_t t : cria::apply_chat_template(tokenizer_, messages)) prompt.push_back(t);

    const int64_t evaluated = session_.evaluated_positions();
    cria::GenerateParams params = params_;
    params.sampling.seed += turns_++;  // each answer its own draws, reproducible from the seed
    if (show_progress_ && prompt.size() >= 64)
      params.prompt_progress = [](float f) {
        std::fprintf(stderr, "\r[reading %3.0f%%]", f * 100.0f);
        if (f >= 1.0f) std::fputs("\r                \r", stderr);
        return !g_interrupted.load();
      };
    else
      params.prompt_progress = [](float) { return !g_interrupted.load(); };
    g_interrupted.store(false);
    g_answering.store(true);
    cria::GenerateResult r;
    try {
      r = cria::generate(session_, prompt, params, [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return !g_interrupted.load();
      });
    } catch (...) {
      g_answering.store(false);
      throw;
    }
    g_answering.store(false);
    const std::string rest = session_.flush_text();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (show_progress_)
      std::fprintf(stderr, "[%s; %lld positions evaluated, %lld of %lld in context]\n",
                   r.reason == cria::StopReason::Cancelled ? "stopped" : cria::stop_reason_name(r.reason),
                   static_cast<long long>(session_.evaluated_positions() - evaluated),
                   static_cast<long long>(session_.n_past()), static_cast<long long>(session_.context_length()));
  }

  // Rewinds to where the last turn began; nothing is evaluated.
  void undo() {
    const std::vector<int64_t> starts = turn_starts();
    if (starts.empty()) {
      std::fputs("[nothing to undo]\n", stderr);
      return;
    }
    session_.truncate(starts.back());
    std::fprintf(stderr, "[undone: %lld positions left]\n", static_cast<long long>(session_.n_past()));
  }

  void save(const std::string& path) {
    session_.save_state_file(path);
    std::fprintf(stderr, "[saved %lld positions to %s]\n", static_cast<long long>(session_.n_past()), path.c_str());
  }

  void load(const std::string& path) {
    session_.load_state_file(path);
    std::fprintf(stderr, "[loaded %lld positions from %s]\n", static_cast<long long>(session_.n_past()),
                 path.c_str());
  }

 private:
  // Where each turn's tokens begin: 0, and each EOS that ends an answer before a new BOS.
  std::vector<int64_t> turn_starts() const {
    const std::vector<int32_t>& t = session_.tokens();
    std::vector<int64_t> starts;
    for (size_t p = 0; p < t.size(); ++p)
      if (p == 0 || (t[p] == tokenizer_.eos_id() && p + 1 < t.size() && t[p + 1] == tokenizer_.bos_id()))
        starts.push_back(static_cast<int64_t>(p));
    return starts;
  }

  const cria::Model& model_;
  const cria::Tokenizer& tokenizer_;
  cria::Session& session_;
  std::string system_;
  cria::GenerateParams params_;
  bool show_progress_;
  uint64_t turns_ = 0;
};

// The rest of a command line after its name, without surrounding spaces.
std::string argument_of(const std::string& line, size_t name_length) {
  const size_t first = line.find_first_not_of(" \t", name_length);
  if (first == std::string::npos) throw std::invalid_argument(line + " needs a file name");
  const size_t last = line.find_last_not_of(" \t");
  return line.substr(first, last - first + 1);
}

}  // namespace

int cmd_chat(int argc, char** argv) {
  std::string model_path, tokenizer_path, system;
  cria::GenerateParams params;
  cli::EngineOptions engine;
  cli::SamplingOptions sampling;
  for (cli::Args a(argc, argv); !a.done();) {
    if (engine.parse(a) || sampling.parse(a)) continue;
    else if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("--tokenizer", "-z")) tokenizer_path = a.value();
    else if (a.is("--system", "-sys")) system = a.value();
    else if (a.is("-n", "--n-predict")) params.max_tokens = a.int_value();
    else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria chat -m MODEL [--system TEXT] [-n N] [sampling options] [engine options]\n"
          "Type a message and Enter; the answer streams back. Ctrl-C stops an answer.\n"
          "  --system TEXT  the system message of the conversation\n"
          "  -n N           most tokens per answer (default -1: until its end)\n",
          stdout);
      std::fputs(kCommands, stdout);
      std::fputs(cli::SamplingOptions::kHelp, stdout);
      std::fputs(cli::EngineOptions::kHelp, stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  params.sampling = sampling.resolved();

  const bool terminal_in = cli::is_terminal(stdin), terminal_err = cli::is_terminal(stderr);
  cria::LoadOptions load = engine.load;
  if (terminal_err)
    load.progress = [](float f) {
      std::fprintf(stderr, "\r[loading %3.0f%%]", f * 100.0f);
      if (f >= 1.0f) std::fputs("\r                \r", stderr);
      return true;
    };
  auto model = cli::load_model(model_path, tokenizer_path, true, load);
  cria::Session session(*model, engine.session);
  Chat chat(*model, session, system, params);

  cli::on_interrupt(interrupted);
  if (terminal_err) std::fputs("[/help for commands; Ctrl-C stops an answer, Ctrl-D leaves]\n", stderr);

  std::string line;
  for (;;) {
    if (terminal_in) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      if (line == "/quit" || line == "/exit") break;
      else if (line == "/help") std::fputs(kCommands, stdout);
      else if (line == "/undo") chat.undo();
      else if (line.rfind("/save", 0) == 0) chat.save(argument_of(line, 5));
      else if (line.rfind("/load", 0) == 0) chat.load(argument_of(line, 5));
      else chat.turn(line);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
    }
  }
  if (terminal_in) std::fputc('\n', stdout);
  return 0;
}
