// Vocabulary from GGUF metadata (tokenizer.ggml.*), and load_vocabulary(), which picks the
// reader by content.
#include <cstring>
#include <string>

#include "cria/error.hpp"
#include "cria/io/gguf.hpp"
#include "cria/io/mapped_file.hpp"
#include "cria/tokenizer/vocabulary.hpp"
#include "tokenizer/vocab_util.hpp"

namespace cria {

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::InvalidFile, path + ": " + what);
}

const io::GgufValue& require_array(const io::GgufFile& g, const std::string& key) {
  const io::GgufValue* v = g.find(key);
  if (!v) bad(g.path(), "GGUF vocabulary: metadata '" + key + "' is missing");
  if (v->type != io::GgufType::Array)
    bad(g.path(), "GGUF vocabulary: metadata '" + key + "' must be an array, the file has " +
                      io::gguf_type_name(v->type));
  return *v;
}

// A token id from metadata: -1 when absent or "none" (llama.cpp writes 0xFFFFFFFF).
int32_t read_id(const io::GgufFile& g, const std::string& key, int32_t fallback, int32_t n) {
  const io::GgufValue* v = g.find(key);
  if (!v) return fallback;
  int64_t id = v->as_int(g.path() + ": metadata '" + key + "'");
  if (id == -1 || id == 0xFFFFFFFFll) return -1;
  if (id < 0 || id >= n)
    bad(g.path(), "GGUF vocabulary: metadata '" + key + "' = " + std::to_string(id) +
                      " is outside the vocabulary of " + std::to_string(n));
  return static_cast<int32_t>(id);
}

bool read_bool(const io::GgufFile& g, const std::string& key, bool fallback) {
  const io::GgufValue* v = g.find(key);
  if (!v) return fallback;
  if (v->type == io::GgufType::Bool) return v->u != 0;
  return v->as_int(g.path() + ": metadata '" + key + "'") != 0;
}

}  // namespace

Vocabulary load_vocabulary_gguf(const io::GgufFile& g) {
  const std::string& path = g.path();
  const io::GgufValue* model = g.find("tokenizer.ggml.model");
  if (!model) bad(path, "GGUF vocabulary: metadata 'tokenizer.ggml.model' is missing (no vocabulary)");
  if (model->type != io::GgufType::String)
    bad(path, "GGUF vocabulary: metadata 'tokenizer.ggml.model' must be a string");
  if (model->str != "llama")
    throw Error(ErrorCode::Unsupported,
                path + ": GGUF tokenizer model '" + std::string(model->str) +
                    "' is not supported (only 'llama', SentencePiece BPE)");

  const io::GgufValue& tokens = require_array(g, "tokenizer.ggml.tokens");
  if (tokens.elem_type != io::GgufType::String)
    bad(path, "GGUF vocabulary: 'tokenizer.ggml.tokens' must be an array of strings");
  if (tokens.count == 0) bad(path, "GGUF vocabulary: 'tokenizer.ggml.tokens' is empty");
  if (tokens.count > static_cast<uint64_t>(INT32_MAX) || tokens.items.size() != tokens.count)
    bad(path, "GGUF vocabulary: 'tokenizer.ggml.tokens' has an invalid count");
  const size_t n = static_cast<size_t>(tokens.count);

  Vocabulary v;
  v.remove_extra_whitespaces = false;
  v.pieces.reserve(n);
  for (const io::GgufValue& t : tokens.items) v.pieces.emplace_back(t.str);

  v.scores.assign(n, 0.0f);
  if (const io::GgufValue* s = g.find("tokenizer.ggml.scores")) {
    if (s->type != io::GgufType::Array)
      bad(path, "GGUF vocabulary: 'tokenizer.ggml.scores' must be an array");
    if (s->count != n)
      bad(path, "GGUF vocabulary: 'tokenizer.ggml.scores' has " + std::to_string(s->count) +
                    " entries for " + std::to_string(n) + " tokens");
    if (s->elem_type == io::GgufType::F32 && s->raw) {
      for (size_t k = 0; k < n; ++k) std::memcpy(&v.scores[k], s->raw + 4 * k, 4);
    } else {
      for (size_t k = 0; k < n; ++k)
        v.scores[k] = static_cast<float>(
            s->element(k).as_double(path + ": 'tokenizer.ggml.scores' element"));
    }
  }

  v.types.assign(n, TokenType::Normal);
  if (const io::GgufValue* t = g.find("tokenizer.ggml.token_type")) {
    if (t->type != io::GgufType::Array)
      bad(path, "GGUF vocabulary: 'tokenizer.ggml.token_type' must be an array");
    if (t->count != n)
      bad(path, "GGUF vocabulary: 'tokenizer.ggml.token_type' has " + std::to_string(t->count) +
                    " entries for " + std::to_string(n) + " tokens");
    for (size_t k = 0; k < n; ++k) {
      int64_t x = t->element(k).as_int(path + ": 'tokenizer.ggml.token_type' element");
      if (x < 0 || x > 6)
        bad(path, "GGUF vocabulary: token " + std::to_string(k) + " has unknown type " +
                      std::to_string(x));
      v.types[k] = static_cast<TokenType>(x);
    }
  }

  const int32_t ni = static_cast<int32_t>(n);
  v.unk_id = read_id(g, "tokenizer.ggml.unknown_token_id", 0, ni);
  v.bos_id = read_id(g, "tokenizer.ggml.bos_token_id", ni > 1 ? 1 : -1, ni);
  v.eos_id = read_id(g, "tokenizer.ggml.eos_token_id", ni > 2 ? 2 : -1, ni);
  v.pad_id = read_id(g, "tokenizer.ggml.padding_token_id", -1, ni);
  v.add_bos = read_bool(g, "tokenizer.ggml.add_bos_token", true);
  v.add_eos = read_bool(g, "tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = read_bool(g, "tokenizer.ggml.add_space_prefix", true);
  // Files written without token types: take the unknown/BOS/EOS ids as their types say.
  if (!g.find("tokenizer.ggml.token_type")) {
    for (size_t k = 0; k < n; ++k)
      if (detail::byte_piece_value(v.pieces[k]) >= 0) v.types[k] = TokenType::Byte;
    if (v.unk_id >= 0) v.types[v.unk_id] = TokenType::Unknown;
    if (v.bos_id >= 0) v.types[v.bos_id] = TokenType::Control;
    if (v.eos_id >= 0) v.types[v.eos_id] = TokenType::Control;
  }
  detail::validate_vocabulary(path, v);
  return v;
}

Vocabulary load_vocabulary(const std::string& path) {
  detail::VocabFormat fmt;
  {
    io::MappedFile f(path);
    fmt = detail::detect_vocabulary_format(f.data(), f.size());
  }
  switch (fmt) {
    case detail::VocabFormat::Gguf: {
      auto g = io::GgufFile::open(path);
      return load_vocabulary_gguf(*g);
    }
    case detail::VocabFormat::SentencePiece:
      return load_vocabulary_sentencepiece(path);
    case detail::VocabFormat::Llama2c:
    default:
      return load_vocabulary_llama2c(path);
  }
}

}  // namespace cria
