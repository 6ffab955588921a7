#pragma once
// Helpers shared by the vocabulary readers and the tokenizer (not part of the public API).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cria/tokenizer/vocabulary.hpp"

namespace cria::detail {

// The byte of a "<0xNN>" piece, or -1 when `piece` is not of that form.
int byte_piece_value(std::string_view piece);

// Checks sizes, ids and types; throws cria::Error (InvalidFile) naming `source`.
void validate_vocabulary(const std::string& source, Vocabulary& v);

enum class VocabFormat { Gguf, SentencePiece, Llama2c };
VocabFormat detect_vocabulary_format(const uint8_t* data, size_t size);

}  // namespace cria::detail
