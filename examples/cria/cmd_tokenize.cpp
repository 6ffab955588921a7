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
#include "json_lines.hpp"

namespace {

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
      std::string text = cli::json_string_line(line, number);
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
      const std::vector<int64_t> raw_ids = cli::json_int_array_line(line, number);
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
