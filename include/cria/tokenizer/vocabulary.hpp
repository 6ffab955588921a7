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
  // SentencePiece normalizer flag (normalizer_spec.remove_extra_whitespaces): drop leading and
  // trailing spaces and collapse runs of spaces. Llama 2's model sets it false; a .model that
  // does not mention it gets SentencePiece's default, true. GGUF and llama2.c files: false.
  bool remove_extra_whitespaces = false;
  // What decode() prints for the unknown piece (trainer_spec.unk_surface, default " \u2047 ").
  std::string unk_surface = " \xE2\x81\x87 ";

  int32_t size() const { return static_cast<int32_t>(pieces.size()); }
};

// Readers; each throws cria::Error naming the file and the problem.
Vocabulary load_vocabulary_llama2c(const std::string& path);        // llama2.c tokenizer.bin
// The same, reading exactly `n_vocab` pieces (llama2.c's rule: the checkpoint gives the size);
// the file must hold at least that many.
Vocabulary load_vocabulary_llama2c(const std::string& path, int32_t n_vocab);
Vocabulary load_vocabulary_sentencepiece(const std::string& path);  // SentencePiece .model
Vocabulary load_vocabulary_gguf(const io::GgufFile& gguf);          // tokenizer.ggml.*
// Picks the reader by content (GGUF magic, protobuf, llama2.c header).
Vocabulary load_vocabulary(const std::string& path);

}  // namespace cria
