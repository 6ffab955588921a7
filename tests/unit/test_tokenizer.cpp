// Tokenizer unit tests: vocabulary readers (and their errors on malformed files), encoding
// details, decoding, the stream decoder, special tokens and pathological inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/gguf.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace {

const std::string kModels = std::string(CRIA_SHARED_DIR) + "/models/";

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string write_tmp(const std::string& name, const std::string& data) {
  std::string path = std::string(CRIA_TEST_TMP) + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  return path;
}

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int k = 0; k < 4; ++k) s[k] = static_cast<char>((v >> (8 * k)) & 0xFF);
  return s;
}

std::string f32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return le32(u);
}

// Expects `fn` to throw cria::Error with `code` and a message containing each of `parts`.
template <class Fn>
void expect_error(Fn fn, cria::ErrorCode code, std::vector<std::string> parts) {
  try {
    fn();
    FAIL("no error thrown");
  } catch (const cria::Error& e) {
    CHECK(static_cast<int>(e.code()) == static_cast<int>(code));
    for (const std::string& p : parts) {
      INFO("message: " << e.what() << " / expected part: " << p);
      CHECK(std::string(e.what()).find(p) != std::string::npos);
    }
  }
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || i + len > n) return false;
    for (size_t k = 1; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

const cria::Tokenizer& llama() {
  static cria::Tokenizer t(cria::load_vocabulary(kModels + "llama2-tokenizer.model"));
  return t;
}

cria::EncodeOptions no_bos() {
  cria::EncodeOptions o;
  o.add_bos = false;
  return o;
}

}  // namespace

TEST_CASE("tokenizer: the three Llama 2 vocabulary sources agree") {
  cria::Vocabulary m = cria::load_vocabulary_sentencepiece(kModels + "llama2-tokenizer.model");
  cria::Vocabulary b = cria::load_vocabulary_llama2c(kModels + "llama2-tokenizer.bin");
  auto g = cria::io::GgufFile::open(kModels + "llama2-vocab.gguf");
  cria::Vocabulary v = cria::load_vocabulary_gguf(*g);
  REQUIRE(m.size() == 32000);
  REQUIRE(b.size() == 32000);
  REQUIRE(v.size() == 32000);
  CHECK(m.pieces == b.pieces);
  CHECK(m.pieces == v.pieces);
  CHECK(m.types == b.types);
  CHECK(m.types == v.types);
  CHECK(m.scores == b.scores);
  CHECK(m.scores == v.scores);
  CHECK(m.pieces[1] == "<s>");
  CHECK(m.pieces[259] == "\xE2\x96\x81\xE2\x96\x81");
  CHECK(m.types[3] == cria::TokenType::Byte);
  CHECK(m.unk_id == 0);
  CHECK(m.bos_id == 1);
  CHECK(m.eos_id == 2);
  CHECK(m.pad_id == -1);
  CHECK(m.add_space_prefix);
  CHECK_FALSE(m.remove_extra_whitespaces);
  // stories260K's model leaves remove_extra_whitespaces at SentencePiece's default (true).
  cria::Vocabulary s = cria::load_vocabulary(kModels + "stories260K.tok512.model");
  CHECK(s.size() == 512);
  CHECK(s.remove_extra_whitespaces);
  cria::Vocabulary sb = cria::load_vocabulary(kModels + "stories260K.tok512.bin");
  CHECK(sb.pieces == s.pieces);
  CHECK_FALSE(sb.remove_extra_whitespaces);
  CHECK(cria::load_vocabulary_llama2c(kModels + "stories260K.tok512.bin", 512).size() == 512);
  CHECK(cria::load_vocabulary_llama2c(kModels + "stories260K.tok512.bin", 100).size() == 100);
}

TEST_CASE("tokenizer: known encodings and decodings") {
  const cria::Tokenizer& t = llama();
  CHECK(t.encode("hello world") == std::vector<int32_t>{1, 22172, 3186});
  CHECK(t.encode("hello world", no_bos()) == std::vector<int32_t>{22172, 3186});
  CHECK(t.encode("").size() == 1);
  CHECK(t.encode(" ", no_bos()) == std::vector<int32_t>{259});
  // Invalid UTF-8: each bad byte is U+FFFD, which Llama 2 has as a piece (30140).
  CHECK(t.encode(std::string("a\xff" "b\xc3"), no_bos()) ==
        std::vector<int32_t>{263, 30140, 29890, 30140});
  // Control characters fall back to bytes.
  CHECK(t.encode(std::string("\0a\x01", 3), no_bos()) == std::vector<int32_t>{29871, 3, 29874, 4});
  cria::EncodeOptions eos = no_bos();
  eos.add_eos = true;
  CHECK(t.encode("hello", eos).back() == 2);
  CHECK(t.decode({1, 22172, 3186, 2}) == "hello world");
  CHECK(t.decode({0}) == " \xE2\x81\x87 ");
  CHECK(t.decode({29871, 29871}) == " ");
  // Byte pieces: invalid sequences become one U+FFFD per byte, as SentencePiece does.
  CHECK(t.decode({0xE3 + 3, 0xE3 + 3, 0x81 + 3}) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(t.decode({0xC3 + 3, 0xA9 + 3}) == "\xC3\xA9");
  expect_error([&] { t.decode({32000}); }, cria::ErrorCode::InvalidArgument, {"32000"});
  expect_error([&] { t.piece(-1); }, cria::ErrorCode::InvalidArgument, {"-1"});
  CHECK(t.piece(22172) == "\xE2\x96\x81hello");
}

TEST_CASE("tokenizer: special tokens are text unless parse_special") {
  const cria::Tokenizer& t = llama();
  std::vector<int32_t> plain = t.encode("<s>hi</s>", no_bos());
  CHECK(std::find(plain.begin(), plain.end(), 1) == plain.end());
  CHECK(std::find(plain.begin(), plain.end(), 2) == plain.end());
  CHECK(t.decode(plain) == "<s>hi</s>");
  cria::EncodeOptions sp = no_bos();
  sp.parse_special = true;
  std::vector<int32_t> ids = t.encode("<s>hi</s>", sp);
  REQUIRE(ids.size() >= 3);
  CHECK(ids.front() == 1);
  CHECK(ids.back() == 2);
  // Each text fragment is encoded as on its own (with its dummy prefix), as llama.cpp does.
  std::vector<int32_t> mid(ids.begin() + 1, ids.end() - 1);
  CHECK(mid == t.encode("hi", no_bos()));
  CHECK(t.encode("a<unk>b", sp) ==
        std::vector<int32_t>{t.encode("a", no_bos())[0], 0, t.encode("b", no_bos())[0]});
  CHECK(t.encode("<s><s>", sp) == std::vector<int32_t>{1, 1});
  CHECK(t.encode("<s", sp) == t.encode("<s", no_bos()));
}

TEST_CASE("tokenizer: stream decoder output equals decode, in whole UTF-8 sequences") {
  const cria::Tokenizer& t = llama();
  std::mt19937 rng(5);
  for (int round = 0; round < 2000; ++round) {
    std::vector<int32_t> ids;
    int n = static_cast<int>(rng() % 20);
    for (int k = 0; k < n; ++k) {
      uint32_t r = rng() % 10;
      if (r < 5) ids.push_back(3 + static_cast<int32_t>(rng() % 256));  // byte pieces
      else if (r < 6) ids.push_back(static_cast<int32_t>(rng() % 3));   // unk, bos, eos
      else ids.push_back(static_cast<int32_t>(rng() % 32000));
    }
    cria::StreamDecoder sd(t);
    std::string all;
    for (int32_t id : ids) {
      std::string part = sd.push(id);
      CHECK(valid_utf8(part));
      all += part;
    }
    all += sd.finish();
    REQUIRE(all == t.decode(ids));
  }
  // Real text split into byte pieces arrives whole, each character as soon as complete.
  cria::StreamDecoder sd(t);
  CHECK(sd.push(0xE4 + 3) == "");
  CHECK(sd.push(0xB8 + 3) == "");
  CHECK(sd.push(0xAD + 3) == "\xE4\xB8\xAD");
  CHECK(sd.push(0xE4 + 3) == "");
  CHECK(sd.finish() == "\xEF\xBF\xBD");
}

TEST_CASE("tokenizer: encode then decode round-trips, and 1 MiB pathological inputs finish") {
  const cria::Tokenizer& t = llama();
  std::mt19937 rng(11);
  std::string letters(1 << 20, 'a');
  for (char& c : letters) c = static_cast<char>('a' + rng() % 26);
  std::vector<std::string> inputs = {std::string(1 << 20, 'a'), std::string(1 << 20, ' '),
                                     letters, "Hello, world!\n\tTabs and  spaces  ",
                                     "\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 caf\xC3\xA9"};
  std::string mixed;
  for (int k = 0; mixed.size() < (1u << 20); ++k) mixed += "word" + std::to_string(k % 97) + " ";
  inputs.push_back(mixed);
  for (const std::string& s : inputs) {
    std::vector<int32_t> ids = t.encode(s, no_bos());
    CHECK(!ids.empty());
    CHECK(ids.size() <= s.size() + 1);
    CHECK(t.decode(ids) == s);
  }
}

TEST_CASE("tokenizer: a vocabulary without byte pieces maps unknown text to one unk") {
  cria::Vocabulary v;
  const std::string sp = "\xE2\x96\x81";
  v.pieces = {"<unk>", "<s>", "</s>", sp, "a", "b", sp + "a", "ab", "<u>"};
  v.scores = {0, 0, 0, -1, -2, -3, -4, -5, 0};
  v.types = {cria::TokenType::Unknown, cria::TokenType::Control, cria::TokenType::Control,
             cria::TokenType::Normal,  cria::TokenType::Normal,  cria::TokenType::Normal,
             cria::TokenType::Normal,  cria::TokenType::Normal,  cria::TokenType::UserDefined};
  cria::Tokenizer t(v);
  // "▁a" (score -4) vs "ab" (-5): "▁a" first; the euro signs are one unknown run.
  CHECK(t.encode("ab\xE2\x82\xAC\xE2\x82\xAC" "b", no_bos()) == std::vector<int32_t>{6, 5, 0, 5});
  // User-defined pieces are matched before merging and never merged.
  CHECK(t.encode("a<u>b", no_bos()) == std::vector<int32_t>{6, 8, 5});
  CHECK(t.decode({6, 0, 5}) == "a \xE2\x81\x87 b");
}

TEST_CASE("tokenizer: malformed llama2.c tokenizer files give specific errors") {
  using cria::ErrorCode;
  std::string p = write_tmp("tok_short.bin", "\x01\x00");
  expect_error([&] { cria::load_vocabulary_llama2c(p); }, ErrorCode::InvalidFile,
               {p, "shorter than its 4-byte header"});
  p = write_tmp("tok_huge.bin", le32(8) + f32(0) + le32(0x7FFFFFFF) + "abc");
  expect_error([&] { cria::load_vocabulary_llama2c(p); }, ErrorCode::InvalidFile,
               {p, "piece 0 has length 2147483647 but only 3 bytes remain"});
  p = write_tmp("tok_neg.bin", le32(8) + f32(0) + le32(0xFFFFFFF0u) + "abc");
  expect_error([&] { cria::load_vocabulary_llama2c(p); }, ErrorCode::InvalidFile,
               {p, "negative length"});
  p = write_tmp("tok_trunc.bin", le32(8) + f32(0) + le32(1) + "a" + f32(0) + "\x01");
  expect_error([&] { cria::load_vocabulary_llama2c(p); }, ErrorCode::InvalidFile,
               {p, "piece 1", "truncated"});
  p = write_tmp("tok_empty.bin", le32(8));
  expect_error([&] { cria::load_vocabulary_llama2c(p); }, ErrorCode::InvalidFile, {p, "no pieces"});
  p = write_tmp("tok_few.bin", le32(8) + f32(0) + le32(1) + "a");
  expect_error([&] { cria::load_vocabulary_llama2c(p, 1000000); }, ErrorCode::InvalidFile,
               {p, "1000000 pieces expected"});
  expect_error([&] { cria::load_vocabulary(std::string(CRIA_TEST_TMP) + "/does-not-exist"); },
               ErrorCode::Io, {"does-not-exist"});
  // Every truncation of a real file either loads (a shorter vocabulary) or fails cleanly.
  std::string real = read_bytes(kModels + "stories260K.tok512.bin");
  for (size_t cut = 0; cut < real.size(); cut += 37) {
    std::string q = write_tmp("tok_cut.bin", real.substr(0, cut));
    try {
      cria::Vocabulary v = cria::load_vocabulary_llama2c(q);
      CHECK(v.size() <= 512);
    } catch (const cria::Error& e) {
      CHECK(static_cast<int>(e.code()) == static_cast<int>(ErrorCode::InvalidFile));
    }
  }
}

TEST_CASE("tokenizer: malformed SentencePiece models give specific errors") {
  using cria::ErrorCode;
  std::string real = read_bytes(kModels + "stories260K.tok512.model");
  REQUIRE(real.size() > 1000);
  // Truncations: never a crash; always an error naming the file.
  int errors = 0;
  for (size_t cut = 1; cut < real.size(); cut += 53) {
    std::string q = write_tmp("sp_cut.model", real.substr(0, cut));
    try {
      cria::load_vocabulary_sentencepiece(q);
    } catch (const cria::Error& e) {
      ++errors;
      // Cut at a message boundary before trainer_spec, the model is a well-formed unigram one.
      CHECK((e.code() == ErrorCode::InvalidFile || e.code() == ErrorCode::Unsupported));
      CHECK(std::string(e.what()).find(q) != std::string::npos);
    }
  }
  CHECK(errors > 0);
  // A piece whose length runs past the end.
  std::string p = write_tmp("sp_huge.model", std::string("\x0A\xFF\xFF\xFF\xFF\x0F", 6) + "abc");
  expect_error([&] { cria::load_vocabulary_sentencepiece(p); }, ErrorCode::InvalidFile,
               {p, "ModelProto", "length 4294967295 exceeds the 3 bytes that remain"});
  // Nested: a piece string longer than its message.
  p = write_tmp("sp_nested.model", std::string("\x0A\x03\x0A\x09" "a", 5));
  expect_error([&] { cria::load_vocabulary_sentencepiece(p); }, ErrorCode::InvalidFile,
               {p, "SentencePiece: length 9 exceeds"});
  p = write_tmp("sp_wire.model", std::string("\x0A\x02\x0B\x00", 4));
  expect_error([&] { cria::load_vocabulary_sentencepiece(p); }, ErrorCode::InvalidFile,
               {p, "wire type 3"});
  p = write_tmp("sp_varint.model", std::string("\x0A\x01\x18", 3));
  expect_error([&] { cria::load_vocabulary_sentencepiece(p); }, ErrorCode::InvalidFile,
               {p, "truncated varint"});
  // A well-formed unigram model (no trainer_spec: model_type defaults to UNIGRAM).
  p = write_tmp("sp_unigram.model", std::string("\x0A\x07\x0A\x05<unk>", 9));
  expect_error([&] { cria::load_vocabulary_sentencepiece(p); }, ErrorCode::Unsupported,
               {p, "not BPE"});
  p = write_tmp("sp_empty.model", "");
  expect_error([&] { cria::load_vocabulary_sentencepiece(p); }, ErrorCode::InvalidFile,
               {p, "empty"});
  // Ids outside the vocabulary: BPE model with bos_id 7 but one piece.
  p = write_tmp("sp_ids.model", std::string("\x0A\x07\x0A\x05<unk>", 9) +
                                    std::string("\x12\x05\x18\x02\xC8\x02\x07", 7));
  expect_error([&] { cria::load_vocabulary_sentencepiece(p); }, ErrorCode::InvalidFile,
               {p, "BOS id 7"});
}
