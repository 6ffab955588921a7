#pragma once
// Llama 2 tokenizer: SentencePiece BPE encoding and decoding with byte fallback.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cria/tokenizer/vocabulary.hpp"

namespace cria {

struct EncodeOptions {
  bool add_bos = true;
  bool add_eos = false;
  bool parse_special = false;  // turn control-token text such as "<s>" into its id
};

class Tokenizer {
 public:
  explicit Tokenizer(Vocabulary vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // SentencePiece's DecodeIds.
  std::string decode(const int32_t* ids, size_t n) const;
  std::string decode(const std::vector<int32_t>& ids) const { return decode(ids.data(), ids.size()); }

  int32_t n_vocab() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  const std::string& piece(int32_t id) const;  // throws InvalidArgument when out of range
  const Vocabulary& vocabulary() const;

 private:
  friend class StreamDecoder;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Incremental detokenizer for streaming: push ids one at a time and receive the text they
// complete; only whole UTF-8 sequences are returned; finish() returns what is left. The
// concatenation of all returned pieces equals Tokenizer::decode of all pushed ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer);
  std::string push(int32_t id);
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;      // bytes of byte pieces whose UTF-8 sequence is not decided yet
  bool is_bos_ws_ = true;    // decode()'s state: may the next piece's leading "▁" be dropped
  bool bos_ws_seen_ = false;
  bool any_output_ = false;
};

}  // namespace cria
