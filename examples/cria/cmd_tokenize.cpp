// cria tokenize / detokenize.
//
//   cria tokenize (-m MODEL | --vocab FILE) [--no-bos] [--eos] [--special] [--pieces]
//                 [--jsonl [--hex]] [-f FILE | TEXT...]
//   cria detokenize (-m MODEL | --vocab FILE) [--jsonl [--hex]] [--stream] [-f FILE | IDS...]
//
// --jsonl: one JSON value per input line (stdin, or -f FILE), one JSON value per output line:
// tokenize reads strings and writes arrays of ids (or of pieces with --pieces); detokenize
// reads arrays of ids and writes strings. With --hex the strings carry the text's bytes as
// hex digits instead, so that any byte string (invalid UTF-8 included) can travel.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "cria/io/gguf.hpp"
#include "cria/io/mapped_file.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace {

// ------------------------------------------------------------------------------------------
// A small JSON reader for the two shapes we accept: a string, an array of integers.
// ------------------------------------------------------------------------------------------

class JsonLine {
 public:
  JsonLine(const std::string& s, size_t line) : s_(s), line_(line) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("line " + std::to_string(line_) + ", column " +
                                std::to_string(pos_ + 1) + ": invalid JSON: " + what);
  }
  void ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  void end() {
    ws();
    if (pos_ != s_.size()) fail("unexpected text after the value");
  }

  std::string string() {
    ws();
    if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string");
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("raw control character in a string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) fail("unterminated escape");
        char e = s_[pos_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (pos_ + 1 < s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
                pos_ += 2;
                uint32_t lo = hex4();
                if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low one");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              } else {
                fail("unpaired surrogate \\u" + hex_of(cp));
              }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              fail("unpaired surrogate \\u" + hex_of(cp));
            }
            append_utf8(out, cp);
            break;
          }
          default: fail(std::string("unknown escape \\") + e);
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      size_t len = utf8_len(pos_);
      if (!len) fail("invalid UTF-8 in a string");
      out.append(s_, pos_, len);
      pos_ += len;
    }
  }

  std::vector<int64_t> int_array() {
    ws();
    if (pos_ >= s_.size() || s_[pos_] != '[') fail("expected an array of integers");
    ++pos_;
    std::vector<int64_t> out;
    ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return out;
    }
    while (true) {
      ws();
      out.push_back(integer());
      ws();
      if (pos_ >= s_.size()) fail("unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return out;
      }
      fail("expected ',' or ']'");
    }
  }

 private:
  int64_t integer() {
    size_t start = pos_;
    bool neg = false;
    if (pos_ < s_.size() && s_[pos_] == '-') {
      neg = true;
      ++pos_;
    }
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') fail("expected an integer");
    if (s_[pos_] == '0' && pos_ + 1 < s_.size() && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9')
      fail("leading zero");
    int64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      v = v * 10 + (s_[pos_] - '0');
      if (v > (int64_t{1} << 40)) fail("integer out of range: " + s_.substr(start, 16));
      ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
      fail("expected an integer, not a fraction");
    return neg ? -v : v;
  }
  uint32_t hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }
  static std::string hex_of(uint32_t v) {
    char b[8];
    std::snprintf(b, sizeof b, "%04X", v);
    return b;
  }
  size_t utf8_len(size_t i) const {
    const auto* p = reinterpret_cast<const unsigned char*>(s_.data()) + i;
    size_t avail = s_.size() - i;
    auto t = [&](size_t k) { return k < avail && (p[k] & 0xC0) == 0x80; };
    if ((p[0] & 0xE0) == 0xC0 && t(1)) return p[0] >= 0xC2 ? 2 : 0;
    if ((p[0] & 0xF0) == 0xE0 && t(1) && t(2)) {
      uint32_t cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
      return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
    }
    if ((p[0] & 0xF8) == 0xF0 && t(1) && t(2) && t(3)) {
      uint32_t cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
                    (p[3] & 0x3Fu);
      return cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
    }
    return 0;
  }
  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  const std::string& s_;
  size_t line_;
  size_t pos_ = 0;
};

// JSON string output. Bytes >= 0x80 pass through (pieces and decoded text are UTF-8).
void append_json_string(std::string& out, const std::string& s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string to_hex(const std::string& s) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string from_hex(const std::string& s, size_t line) {
  auto v = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("line " + std::to_string(line) + ": --hex: not a hex digit: '" +
                                std::string(1, c) + "'");
  };
  if (s.size() % 2)
    throw std::invalid_argument("line " + std::to_string(line) + ": --hex: odd number of digits");
  std::string out(s.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(v(s[2 * i]) * 16 + v(s[2 * i + 1]));
  return out;
}

// Calls fn(line, number) for each line of -f FILE or stdin (without the newline).
template <class Fn>
void for_each_line(const std::string& file, Fn fn) {
  size_t number = 0;
  auto handle = [&](std::string& line) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    fn(line, number);
  };
  if (!file.empty()) {
    std::string data = cli::read_file(file);
    size_t start = 0;
    while (start < data.size()) {
      size_t nl = data.find('\n', start);
      if (nl == std::string::npos) nl = data.size();
      std::string line = data.substr(start, nl - start);
      handle(line);
      start = nl + 1;
    }
  } else {
    std::ios::sync_with_stdio(false);
    std::string line;
    while (std::getline(std::cin, line)) handle(line);
  }
}

void write_out(const std::string& s) {
  if (!s.empty() && std::fwrite(s.data(), 1, s.size(), stdout) != s.size())
    throw std::runtime_error("cannot write to standard output");
}

struct VocabArgs {
  std::string model;
  std::string vocab;
  bool parse(cli::Args& a) {
    if (a.is("-m", "--model")) model = a.value();
    else if (a.is("--vocab", "--tokenizer") || a.is("-z")) vocab = a.value();
    else return false;
    return true;
  }
  cria::Tokenizer load() const {
    if (!vocab.empty()) return cria::Tokenizer(cria::load_vocabulary(vocab));
    if (model.empty()) throw std::invalid_argument("give a vocabulary: -m MODEL or --vocab FILE");
    bool gguf = false;
    {
      cria::io::MappedFile f(model);
      gguf = f.size() >= 4 && std::memcmp(f.data(), "GGUF", 4) == 0;
    }
    if (!gguf)
      throw std::invalid_argument(model +
                                  " is not a GGUF file; a llama2.c checkpoint holds no vocabulary: "
                                  "give one with --vocab FILE");
    auto g = cria::io::GgufFile::open(model);
    return cria::Tokenizer(cria::load_vocabulary_gguf(*g));
  }
};

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  cli::Args a(argc, argv);
  VocabArgs va;
  cria::EncodeOptions opt;
  bool pieces = false, jsonl = false, hex = false;
  std::string file;
  std::vector<std::string> words;
  while (!a.done()) {
    if (va.parse(a)) continue;
    if (a.is("--no-bos")) opt.add_bos = false;
    else if (a.is("--bos")) opt.add_bos = true;
    else if (a.is("--eos")) opt.add_eos = true;
    else if (a.is("--special")) opt.parse_special = true;
    else if (a.is("--pieces")) pieces = true;
    else if (a.is("--jsonl")) jsonl = true;
    else if (a.is("--hex")) hex = true;
    else if (a.is("-f", "--file")) file = a.value();
    else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria tokenize (-m MODEL | --vocab FILE) [--no-bos] [--eos] [--special]\n"
          "                     [--pieces] [--jsonl [--hex]] [-f FILE | TEXT...]\n"
          "  prints the ids of TEXT (or of FILE's bytes) on one line, BOS first unless --no-bos\n"
          "  --special  turn control-token text such as <s> into its id\n"
          "  --pieces   print pieces instead of ids\n"
          "  --jsonl    read one JSON string per line (stdin or -f FILE), write one JSON array\n"
          "             per line; with --hex each string holds the text's bytes in hex\n",
          stdout);
      return 0;
    } else if (!a.peek().empty() && a.peek()[0] == '-' && a.peek() != "-") {
      throw std::invalid_argument("unknown option " + a.peek());
    } else {
      words.push_back(a.next());
    }
  }
  if (hex && !jsonl) throw std::invalid_argument("--hex needs --jsonl");
  if (jsonl && !words.empty()) throw std::invalid_argument("--jsonl reads lines from -f FILE or stdin, not arguments");
  if (!file.empty() && !words.empty()) throw std::invalid_argument("give TEXT or -f FILE, not both");
  cria::Tokenizer tok = va.load();

  if (jsonl) {
    std::string out;
    char num[16];
    for_each_line(file, [&](std::string& line, size_t number) {
      JsonLine j(line, number);
      std::string text = j.string();
      j.end();
      if (hex) text = from_hex(text, number);
      std::vector<int32_t> ids = tok.encode(text, opt);
      out += '[';
      for (size_t k = 0; k < ids.size(); ++k) {
        if (k) out += ", ";
        if (pieces) {
          append_json_string(out, tok.piece(ids[k]));
        } else {
          int len = std::snprintf(num, sizeof num, "%d", ids[k]);
          out.append(num, static_cast<size_t>(len));
        }
      }
      out += "]\n";
      if (out.size() > (1u << 16)) {
        write_out(out);
        out.clear();
      }
    });
    write_out(out);
    std::fflush(stdout);
    return 0;
  }

  std::string text;
  if (!file.empty()) {
    text = cli::read_file(file);
  } else {
    for (size_t k = 0; k < words.size(); ++k) {
      if (k) text += ' ';
      text += words[k];
    }
  }
  std::vector<int32_t> ids = tok.encode(text, opt);
  std::string out;
  for (size_t k = 0; k < ids.size(); ++k) {
    if (k) out += ' ';
    out += pieces ? tok.piece(ids[k]) : std::to_string(ids[k]);
  }
  out += '\n';
  write_out(out);
  std::fflush(stdout);
  return 0;
}

int cmd_detokenize(int argc, char** argv) {
  cli::Args a(argc, argv);
  VocabArgs va;
  bool jsonl = false, hex = false, stream = false, raw = false;
  std::string file;
  std::vector<std::string> words;
  while (!a.done()) {
    if (va.parse(a)) continue;
    if (a.is("--jsonl")) jsonl = true;
    else if (a.is("--hex")) hex = true;
    else if (a.is("--stream")) stream = true;
    else if (a.is("--raw")) raw = true;
    else if (a.is("-f", "--file")) file = a.value();
    else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria detokenize (-m MODEL | --vocab FILE) [--jsonl [--hex]] [--stream] [--raw]\n"
          "                       [-f FILE | IDS...]\n"
          "  prints the text of the ids (arguments, or whitespace/comma separated in FILE)\n"
          "  followed by a newline (none with --raw)\n"
          "  --jsonl   read one JSON array of ids per line (stdin or -f FILE), write one JSON\n"
          "            string per line; with --hex the string holds the text's bytes in hex\n"
          "  --stream  decode through the streaming decoder (same result)\n",
          stdout);
      return 0;
    } else if (!a.peek().empty() && a.peek()[0] == '-' &&
               !(a.peek().size() > 1 && a.peek()[1] >= '0' && a.peek()[1] <= '9')) {
      throw std::invalid_argument("unknown option " + a.peek());
    } else {
      words.push_back(a.next());
    }
  }
  if (hex && !jsonl) throw std::invalid_argument("--hex needs --jsonl");
  if (jsonl && !words.empty()) throw std::invalid_argument("--jsonl reads lines from -f FILE or stdin, not arguments");
  if (!file.empty() && !words.empty()) throw std::invalid_argument("give IDS or -f FILE, not both");
  cria::Tokenizer tok = va.load();
  const int32_t n_vocab = tok.n_vocab();

  auto check = [&](int64_t id, const std::string& where) -> int32_t {
    if (id < 0 || id >= n_vocab)
      throw std::invalid_argument(where + "token id " + std::to_string(id) +
                                  " is outside the vocabulary (0.." + std::to_string(n_vocab - 1) + ")");
    return static_cast<int32_t>(id);
  };
  auto decode = [&](const std::vector<int32_t>& ids) {
    if (!stream) return tok.decode(ids);
    cria::StreamDecoder sd(tok);
    std::string text;
    for (int32_t id : ids) text += sd.push(id);
    text += sd.finish();
    return text;
  };

  if (jsonl) {
    std::string out;
    for_each_line(file, [&](std::string& line, size_t number) {
      JsonLine j(line, number);
      std::vector<int64_t> raw_ids = j.int_array();
      j.end();
      std::vector<int32_t> ids;
      ids.reserve(raw_ids.size());
      for (int64_t id : raw_ids) ids.push_back(check(id, "line " + std::to_string(number) + ": "));
      std::string text = decode(ids);
      append_json_string(out, hex ? to_hex(text) : text);
      out += '\n';
      if (out.size() > (1u << 16)) {
        write_out(out);
        out.clear();
      }
    });
    write_out(out);
    std::fflush(stdout);
    return 0;
  }

  if (!file.empty()) {
    std::string data = cli::read_file(file);
    std::string cur;
    for (char c : data) {
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',' || c == '[' || c == ']') {
        if (!cur.empty()) words.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) words.push_back(cur);
  }
  std::vector<int32_t> ids;
  for (const std::string& w : words) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(w, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != w.size() || w.empty()) throw std::invalid_argument("not a token id: '" + w + "'");
    ids.push_back(check(v, ""));
  }
  std::string text = decode(ids);
  if (!raw) text += '\n';
  write_out(text);
  std::fflush(stdout);
  return 0;
}
