#pragma once
// The data behind a Llama 2 SentencePiece BPE tokenizer, whatever file it came from.
#include <cstdint>
#include <string>
#include <vector>

namespace cria {
namespace io { class GgufFile; }

// SentencePiece's piece types (GGUF's tokenizer.ggml.token_type uses the same numbers).
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

struct Vocabulary {
  std::vector<std::string> pieces;  // SentencePiece form: "▁" for space, "<0x0A>" for bytes
  std::vector<float> scores;
  std::vector<TokenType> types;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;
  int32_t pad_id = -1;
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;

  int32_t size() const { return static_cast<int32_t>(pieces.size()); }
};

// Readers; each throws cria::Error naming the file and the problem.
Vocabulary load_vocabulary_llama2c(const std::string& path);        // llama2.c tokenizer.bin
Vocabulary load_vocabulary_sentencepiece(const std::string& path);  // SentencePiece .model
Vocabulary load_vocabulary_gguf(const io::GgufFile& gguf);          // tokenizer.ggml.*
// Picks the reader by content (GGUF magic, protobuf, llama2.c header).
Vocabulary load_vocabulary(const std::string& path);

}  // namespace cria
