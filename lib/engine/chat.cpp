#include "cria/engine/chat.hpp"

#include "cria/error.hpp"

namespace cria {

namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return std::string();
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

std::vector<int32_t> apply_chat_template(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages) {
  if (messages.empty()) throw Error(ErrorCode::InvalidArgument, "the conversation has no message");
  // A leading system message is folded into the first user turn.
  const bool has_system = messages[0].role == ChatRole::System;
  const size_t first = has_system ? 1 : 0;
  if (has_system && messages.size() < 2)
    throw Error(ErrorCode::InvalidArgument, "a system message must be followed by a user message");
  std::vector<std::string> turns;  // user, assistant, user, ..., user
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatRole want = (i - first) % 2 == 0 ? ChatRole::User : ChatRole::Assistant;
    if (messages[i].role != want)
      throw Error(ErrorCode::InvalidArgument,
                  "messages[" + std::to_string(i) + "] should be a" + (want == ChatRole::User ? " user" : "n assistant") +
                      " message: after an optional system message, user and assistant messages alternate, "
                      "beginning and ending with a user message");
    turns.push_back(messages[i].content);
  }
  if (turns.size() % 2 == 0) throw Error(ErrorCode::InvalidArgument, "the conversation must end with a user message");
  if (has_system) turns[0] = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + turns[0];

  std::vector<int32_t> ids;
  EncodeOptions turn;
  turn.parse_special = false;
  turn.add_bos = true;
  turn.add_eos = true;
  for (size_t i = 0; i + 1 < turns.size(); i += 2) {
    const std::vector<int32_t> part =
        tokenizer.encode("[INST] " + trim(turns[i]) + " [/INST] " + trim(turns[i + 1]) + " ", turn);
    ids.insert(ids.end(), part.begin(), part.end());
  }
  turn.add_eos = false;
  const std::vector<int32_t> last = tokenizer.encode("[INST] " + trim(turns.back()) + " [/INST]", turn);
  ids.insert(ids.end(), last.begin(), last.end());
  return ids;
}

}  // namespace cria
