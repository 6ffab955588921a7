// Vocabulary readers: llama2.c tokenizer.bin, SentencePiece tokenizer.model (a small protobuf
// decoder written for the few fields a Llama tokenizer needs), and detection by content.
// Every length read from a file is checked against the bytes that remain before it is used.
#include <cstring>
#include <string>
#include <string_view>

#include "cria/error.hpp"
#include "cria/io/utf8.hpp"
#include "cria/io/mapped_file.hpp"
#include "cria/tokenizer/vocabulary.hpp"
#include "tokenizer/vocab_util.hpp"

namespace cria {

namespace {

const char kSpaceSymbol[] = "\xE2\x96\x81";  // U+2581, SentencePiece's escaped space

[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::InvalidFile, path + ": " + what);
}

uint32_t read_u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

float read_f32le(const uint8_t* p) {
  uint32_t u = read_u32le(p);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// ---------------------------------------------------------------------------------------------
// llama2.c tokenizer.bin
// ---------------------------------------------------------------------------------------------

Vocabulary parse_llama2c(const std::string& path, const uint8_t* data, size_t size,
                         int64_t n_expected) {
  if (size < 4) bad_file(path, "llama2.c tokenizer: file is shorter than its 4-byte header");
  int32_t max_len = static_cast<int32_t>(read_u32le(data));
  if (max_len <= 0)
    bad_file(path, "llama2.c tokenizer: max_token_length " + std::to_string(max_len) +
                       " is not positive");
  Vocabulary v;
  v.remove_extra_whitespaces = false;
  size_t off = 4;
  // Each piece needs at least 8 bytes, so the file bounds the count before we reserve.
  size_t max_pieces = (size - 4) / 8;
  if (n_expected >= 0) {
    if (static_cast<uint64_t>(n_expected) > max_pieces)
      bad_file(path, "llama2.c tokenizer: " + std::to_string(n_expected) +
                         " pieces expected but the file is only " + std::to_string(size) +
                         " bytes");
    max_pieces = static_cast<size_t>(n_expected);
  }
  v.pieces.reserve(max_pieces);
  v.scores.reserve(max_pieces);
  while (off < size && (n_expected < 0 || v.pieces.size() < static_cast<size_t>(n_expected))) {
    size_t index = v.pieces.size();
    if (size - off < 8)
      bad_file(path, "llama2.c tokenizer: piece " + std::to_string(index) + " at offset " +
                         std::to_string(off) + " is truncated (needs score and length)");
    float score = read_f32le(data + off);
    int32_t len = static_cast<int32_t>(read_u32le(data + off + 4));
    off += 8;
    if (len < 0)
      bad_file(path, "llama2.c tokenizer: piece " + std::to_string(index) +
                         " has negative length " + std::to_string(len));
    if (static_cast<size_t>(len) > size - off)
      bad_file(path, "llama2.c tokenizer: piece " + std::to_string(index) + " has length " +
                         std::to_string(len) + " but only " + std::to_string(size - off) +
                         " bytes remain");
    std::string raw(reinterpret_cast<const char*>(data + off), static_cast<size_t>(len));
    off += static_cast<size_t>(len);
    if (index > static_cast<size_t>(INT32_MAX) - 1)
      bad_file(path, "llama2.c tokenizer: too many pieces");
    v.pieces.push_back(std::move(raw));
    v.scores.push_back(score);
  }
  if (n_expected >= 0 && v.pieces.size() < static_cast<size_t>(n_expected))
    bad_file(path, "llama2.c tokenizer: has " + std::to_string(v.pieces.size()) +
                       " pieces, " + std::to_string(n_expected) + " expected");
  if (v.pieces.empty()) bad_file(path, "llama2.c tokenizer: no pieces");

  // Restore SentencePiece's forms: llama2.c's export wrote ' ' for U+2581 and wrapped BOS/EOS
  // in newlines. Types are not stored: 0 is unknown, 1 and 2 are BOS/EOS, <0xNN> are bytes.
  v.types.assign(v.pieces.size(), TokenType::Normal);
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    std::string& p = v.pieces[i];
    if (i == 1 || i == 2) {
      if (p.size() >= 2 && p.front() == '\n' && p.back() == '\n') p = p.substr(1, p.size() - 2);
      v.types[i] = TokenType::Control;
      continue;
    }
    if (i == 0) {
      v.types[i] = TokenType::Unknown;
      continue;
    }
    if (detail::byte_piece_value(p) >= 0) {
      v.types[i] = TokenType::Byte;
      continue;
    }
    std::string out;
    out.reserve(p.size() + 8);
    for (char c : p) {
      if (c == ' ')
        out += kSpaceSymbol;
      else
        out += c;
    }
    p = std::move(out);
  }
  v.unk_id = 0;
  v.bos_id = v.pieces.size() > 1 ? 1 : -1;
  v.eos_id = v.pieces.size() > 2 ? 2 : -1;
  v.pad_id = -1;
  return v;
}

// ---------------------------------------------------------------------------------------------
// SentencePiece ModelProto (protobuf wire format)
// ---------------------------------------------------------------------------------------------

struct PbReader {
  const uint8_t* p;
  const uint8_t* end;
  const std::string* path;
  const char* where;

  bool done() const { return p >= end; }

  [[noreturn]] void fail(const std::string& what) const {
    bad_file(*path, std::string("SentencePiece model: ") + where + ": " + what);
  }

  uint64_t varint() {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) fail("truncated varint");
      uint8_t b = *p++;
      r |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return r;
    }
    fail("varint longer than 10 bytes");
  }

  // Reads a tag; returns false at the end.
  bool tag(uint32_t* field, uint32_t* wire) {
    if (done()) return false;
    uint64_t t = varint();
    *field = static_cast<uint32_t>(t >> 3);
    *wire = static_cast<uint32_t>(t & 7);
    if (*field == 0 || (t >> 3) > 0x1FFFFFFF) fail("invalid field number");
    return true;
  }

  std::string_view bytes() {
    uint64_t n = varint();
    if (n > static_cast<uint64_t>(end - p))
      fail("length " + std::to_string(n) + " exceeds the " + std::to_string(end - p) +
           " bytes that remain");
    std::string_view s(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    p += n;
    return s;
  }

  uint32_t fixed32() {
    if (end - p < 4) fail("truncated fixed32");
    uint32_t v = read_u32le(p);
    p += 4;
    return v;
  }

  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1:
        if (end - p < 8) fail("truncated fixed64");
        p += 8;
        break;
      case 2: bytes(); break;
      case 5: fixed32(); break;
      default: fail("unsupported wire type " + std::to_string(wire));
    }
  }

  void expect(uint32_t wire, uint32_t want, uint32_t field) {
    if (wire != want)
      fail("field " + std::to_string(field) + " has wire type " + std::to_string(wire) +
           ", expected " + std::to_string(want));
  }
};

Vocabulary parse_sentencepiece(const std::string& path, const uint8_t* data, size_t size) {
  Vocabulary v;
  // proto2 defaults of the fields we read.
  int64_t model_type = 1;  // UNIGRAM
  bool treat_ws_as_suffix = false;
  bool byte_fallback = false;
  int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  bool add_dummy_prefix = true, remove_extra_ws = true, escape_ws = true;
  bool has_charsmap = false, has_denorm = false;
  std::string unk_surface = " \xE2\x81\x87 ";

  PbReader top{data, data + size, &path, "ModelProto"};
  uint32_t field, wire;
  while (top.tag(&field, &wire)) {
    if (field == 1) {  // pieces
      top.expect(wire, 2, field);
      std::string_view msg = top.bytes();
      PbReader r{reinterpret_cast<const uint8_t*>(msg.data()),
                 reinterpret_cast<const uint8_t*>(msg.data()) + msg.size(), &path,
                 "SentencePiece"};
      std::string piece;
      float score = 0;
      int64_t type = 1;  // NORMAL
      uint32_t f, w;
      while (r.tag(&f, &w)) {
        if (f == 1) {
          r.expect(w, 2, f);
          piece = std::string(r.bytes());
        } else if (f == 2) {
          r.expect(w, 5, f);
          uint32_t u = r.fixed32();
          std::memcpy(&score, &u, sizeof score);
        } else if (f == 3) {
          r.expect(w, 0, f);
          type = static_cast<int64_t>(r.varint());
        } else {
          r.skip(w);
        }
      }
      if (type < 1 || type > 6)
        bad_file(path, "SentencePiece model: piece " + std::to_string(v.pieces.size()) +
                           " has unknown type " + std::to_string(type));
      if (v.pieces.size() >= static_cast<size_t>(INT32_MAX))
        bad_file(path, "SentencePiece model: too many pieces");
      v.pieces.push_back(std::move(piece));
      v.scores.push_back(score);
      v.types.push_back(static_cast<TokenType>(type));
    } else if (field == 2) {  // trainer_spec
      top.expect(wire, 2, field);
      std::string_view msg = top.bytes();
      PbReader r{reinterpret_cast<const uint8_t*>(msg.data()),
                 reinterpret_cast<const uint8_t*>(msg.data()) + msg.size(), &path,
                 "TrainerSpec"};
      uint32_t f, w;
      while (r.tag(&f, &w)) {
        auto int_field = [&](int64_t* out) {
          r.expect(w, 0, f);
          *out = static_cast<int64_t>(static_cast<int32_t>(r.varint()));  // int32 fields
        };
        switch (f) {
          case 3: int_field(&model_type); break;
          case 24: { int64_t x; int_field(&x); treat_ws_as_suffix = x != 0; break; }
          case 35: { int64_t x; int_field(&x); byte_fallback = x != 0; break; }
          case 40: int_field(&unk_id); break;
          case 41: int_field(&bos_id); break;
          case 42: int_field(&eos_id); break;
          case 43: int_field(&pad_id); break;
          case 44: r.expect(w, 2, f); unk_surface = std::string(r.bytes()); break;
          default: r.skip(w);
        }
      }
    } else if (field == 3 || field == 5) {  // normalizer_spec, denormalizer_spec
      top.expect(wire, 2, field);
      std::string_view msg = top.bytes();
      PbReader r{reinterpret_cast<const uint8_t*>(msg.data()),
                 reinterpret_cast<const uint8_t*>(msg.data()) + msg.size(), &path,
                 field == 3 ? "NormalizerSpec" : "denormalizer NormalizerSpec"};
      uint32_t f, w;
      while (r.tag(&f, &w)) {
        if (f == 2) {
          r.expect(w, 2, f);
          bool nonempty = !r.bytes().empty();
          if (field == 3) has_charsmap |= nonempty; else has_denorm |= nonempty;
        } else if (field == 3 && (f == 3 || f == 4 || f == 5)) {
          r.expect(w, 0, f);
          bool x = r.varint() != 0;
          if (f == 3) add_dummy_prefix = x;
          else if (f == 4) remove_extra_ws = x;
          else escape_ws = x;
        } else {
          r.skip(w);
        }
      }
    } else {
      top.skip(wire);
    }
  }
  if (v.pieces.empty()) bad_file(path, "SentencePiece model: no pieces");
  if (model_type != 2)
    throw Error(ErrorCode::Unsupported,
                path + ": SentencePiece model type " + std::to_string(model_type) +
                    " is not BPE (only BPE models such as Llama 2's are supported)");
  if (treat_ws_as_suffix)
    throw Error(ErrorCode::Unsupported,
                path + ": SentencePiece option treat_whitespace_as_suffix is not supported");
  if (!escape_ws)
    throw Error(ErrorCode::Unsupported,
                path + ": SentencePiece option escape_whitespaces=false is not supported");
  if (has_charsmap || has_denorm)
    throw Error(ErrorCode::Unsupported,
                path + ": SentencePiece normalization rules (precompiled_charsmap) are not "
                       "supported; only identity normalization is");
  bool has_byte_piece = false;
  for (TokenType t : v.types) has_byte_piece |= t == TokenType::Byte;
  if (has_byte_piece && !byte_fallback)
    bad_file(path, "SentencePiece model: byte pieces present but byte_fallback is off");
  v.unk_id = static_cast<int32_t>(unk_id);
  v.bos_id = static_cast<int32_t>(bos_id);
  v.eos_id = static_cast<int32_t>(eos_id);
  v.pad_id = static_cast<int32_t>(pad_id);
  v.add_space_prefix = add_dummy_prefix;
  v.remove_extra_whitespaces = remove_extra_ws;
  v.unk_surface = std::move(unk_surface);
  return v;
}

}  // namespace

namespace detail {

int byte_piece_value(std::string_view p) {
  if (p.size() != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int hi = hex(p[3]), lo = hex(p[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

void validate_vocabulary(const std::string& source, Vocabulary& v) {
  auto bad = [&](const std::string& what) { bad_file(source, what); };
  if (v.pieces.empty()) bad("vocabulary is empty");
  if (v.pieces.size() > static_cast<size_t>(INT32_MAX)) bad("vocabulary is too large");
  if (v.scores.size() != v.pieces.size())
    bad("vocabulary has " + std::to_string(v.pieces.size()) + " pieces but " +
        std::to_string(v.scores.size()) + " scores");
  if (v.types.size() != v.pieces.size())
    bad("vocabulary has " + std::to_string(v.pieces.size()) + " pieces but " +
        std::to_string(v.types.size()) + " types");
  const int32_t n = v.size();
  auto check_id = [&](int32_t id, const char* name, bool required) {
    if (id == -1 && !required) return;
    if (id < 0 || id >= n)
      bad(std::string(name) + " id " + std::to_string(id) + " is outside the vocabulary of " +
          std::to_string(n));
  };
  check_id(v.unk_id, "unknown-token", false);
  check_id(v.bos_id, "BOS", false);
  check_id(v.eos_id, "EOS", false);
  check_id(v.pad_id, "padding", false);
  for (size_t i = 0; i < v.pieces.size(); ++i)
    if (std::string defect = io::text_defect(v.pieces[i], "piece " + std::to_string(i)); !defect.empty())
      bad(defect);
  for (size_t i = 0; i < v.types.size(); ++i) {
    int t = static_cast<int>(v.types[i]);
    if (t < 0 || t > 6) bad("piece " + std::to_string(i) + " has unknown type " + std::to_string(t));
    if (v.types[i] == TokenType::Byte && byte_piece_value(v.pieces[i]) < 0)
      bad("piece " + std::to_string(i) + " has type BYTE but is not of the form <0xNN>");
  }
}

}  // namespace detail

Vocabulary load_vocabulary_llama2c(const std::string& path) {
  io::MappedFile f(path);
  Vocabulary v = parse_llama2c(path, f.data(), f.size(), -1);
  detail::validate_vocabulary(path, v);
  return v;
}

Vocabulary load_vocabulary_llama2c(const std::string& path, int32_t n_vocab) {
  if (n_vocab <= 0)
    throw Error(ErrorCode::InvalidArgument,
                path + ": expected vocabulary size " + std::to_string(n_vocab) + " is not positive");
  io::MappedFile f(path);
  Vocabulary v = parse_llama2c(path, f.data(), f.size(), n_vocab);
  detail::validate_vocabulary(path, v);
  return v;
}

Vocabulary load_vocabulary_sentencepiece(const std::string& path) {
  io::MappedFile f(path);
  if (f.size() == 0) bad_file(path, "SentencePiece model: file is empty");
  Vocabulary v = parse_sentencepiece(path, f.data(), f.size());
  detail::validate_vocabulary(path, v);
  return v;
}

namespace detail {

VocabFormat detect_vocabulary_format(const uint8_t* data, size_t size) {
  if (size >= 4 && std::memcmp(data, "GGUF", 4) == 0) return VocabFormat::Gguf;
  // A ModelProto starts with its first piece: field 1, wire type 2, then a non-zero length.
  // A llama2.c header is a small little-endian int32, so its bytes 1..3 are zero.
  if (size >= 2 && data[0] == 0x0A && data[1] != 0) return VocabFormat::SentencePiece;
  return VocabFormat::Llama2c;
}

}  // namespace detail

}  // namespace cria
