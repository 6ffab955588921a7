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

  // SentencePiece's EncodeAsIds, id for id (checked against libsentencepiece on a corpus that
  // includes invalid UTF-8), with optional BOS/EOS around it. Rules:
  //  * any byte string is accepted; a byte that does not start a well-formed UTF-8 sequence
  //    (overlong forms, surrogates, above U+10FFFF, truncated sequences, stray continuation
  //    bytes) stands for U+FFFD, one per byte, which is then encoded like any character
  //    (Llama 2 has a piece for it; otherwise it falls back to its three bytes);
  //  * a space becomes "▁", "▁" is prepended when add_space_prefix, and with
  //    remove_extra_whitespaces leading/trailing spaces go and runs collapse to one; empty
  //    (or, with remove_extra_whitespaces, all-space) text gives no ids;
  //  * characters without a piece become byte pieces <0xNN>, or the unknown id when the
  //    vocabulary has no byte pieces (a run of them is one unknown id);
  //  * user-defined pieces are matched greedily (longest first) before merging; control
  //    pieces (<s>, </s>) and <unk> are plain text unless parse_special, which turns their
  //    exact text into their id and encodes each text fragment between them on its own
  //    (each with its own space prefix), as llama.cpp does.
  // O(n log n) in the length of the text. Thread-safe (const).
  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // SentencePiece's DecodeIds: "▁" becomes a space and the first piece's leading "▁" is
  // dropped (all leading ones with remove_extra_whitespaces); control pieces print nothing;
  // the unknown piece prints unk_surface (" ⁇ "); runs of byte pieces are joined and decoded
  // as UTF-8, each byte of an invalid sequence printing U+FFFD. Throws InvalidArgument for an
  // id outside the vocabulary.
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
  // What the decoder holds (bytes held back, its place in the text) as bytes, and back;
  // set_state throws InvalidArgument for bytes that are not such a state.
  std::string state() const;
  void set_state(std::string_view state);

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;      // bytes of byte pieces whose UTF-8 sequence is not decided yet
  bool is_bos_ws_ = true;    // decode()'s state: may the next piece's leading "▁" be dropped
  bool bos_ws_seen_ = false;
  bool any_output_ = false;
};

}  // namespace cria
