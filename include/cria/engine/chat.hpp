#pragma once
// The Llama 2 chat template: a conversation to token ids, exactly as Meta's reference code
// (llama/generation.py, chat_completion) builds them:
//
//   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
//
// Each user turn with the answer that follows it is tokenized separately, as
// "[INST] {user} [/INST] {assistant} " with BOS and EOS added as ids; the final user turn as
// "[INST] {user} [/INST]" with BOS. Contents are stripped of surrounding white space and
// never parsed for control tokens: a user writing "</s>" gets that text, not EOS.
#include <cstdint>
#include <string>
#include <vector>

#include "cria/tokenizer/tokenizer.hpp"

namespace cria {

enum class ChatRole { System, User, Assistant };

struct ChatMessage {
  ChatRole role;
  std::string content;
};

// An optional system message first, then user and assistant messages alternating,
// beginning and ending with a user message; anything else throws InvalidArgument naming the
// message. To continue a conversation whose earlier turns and answer a session holds, evaluate
// EOS and then the template of just the new user message.
std::vector<int32_t> apply_chat_template(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages);

}  // namespace cria
