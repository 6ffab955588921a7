#include "cria/io/json.hpp"

#include <cstdint>
#include <cstdio>
#include <utility>

#include "cria/io/utf8.hpp"

namespace cria::io {

const Json* Json::get(std::string_view key) const {
  for (const Member& m : members)
    if (m.key == key) return &m.value;
  return nullptr;
}

TextPosition text_position(std::string_view text, size_t offset) {
  TextPosition at{1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++at.line;
      at.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {  // not a continuation byte
      ++at.column;
    }
  }
  return at;
}

JsonError::JsonError(TextPosition position, const std::string& why)
    : Error(ErrorCode::InvalidArgument,
            "line " + std::to_string(position.line) + ", column " + std::to_string(position.column) + ": " + why),
      at(position),
      reason(why) {}

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string escape_name(uint32_t cp) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
  return buf;
}

class Reader {
 public:
  Reader(std::string_view text, std::string_view name) : s_(text), name_(name) {}

  Json document() {
    Json v = value(0);
    space();
    if (at_ < s_.size()) fail(at_, "unexpected " + describe() + " after the " + std::string(name_));
    return v;
  }

 private:
  [[noreturn]] void fail(size_t offset, const std::string& what) const {
    throw JsonError(text_position(s_, offset), what);
  }
  // The byte at `at_` for a message, quoted only when printable ASCII (others may not be text).
  std::string describe() const {
    if (at_ >= s_.size()) return "end of text";
    const unsigned char c = static_cast<unsigned char>(s_[at_]);
    return c < 0x20 || c >= 0x7F ? "character" : "'" + std::string(1, static_cast<char>(c)) + "'";
  }
  void space() {
    while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r')) ++at_;
  }
  bool word(std::string_view w) {
    if (s_.compare(at_, w.size(), w) != 0) return false;
    at_ += w.size();
    return true;
  }

  Json value(int depth) {
    if (depth > 256) fail(at_, "the " + std::string(name_) + " nests deeper than 256 levels");
    space();
    Json v;
    v.offset = at_;
    if (at_ >= s_.size()) fail(at_, "expected a value, found the end of the text");
    const char c = s_[at_];
    if (c == '{') return object(std::move(v), depth);
    if (c == '[') return array(std::move(v), depth);
    if (c == '"') {
      v.kind = Json::String;
      v.text = string();
      return v;
    }
    if (word("true") || word("false")) {
      v.kind = Json::Bool;
      v.boolean = c == 't';
      return v;
    }
    if (word("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Json::Number;
      v.text = number();
      return v;
    }
    fail(at_, "expected a value, found " + describe());
  }

  Json object(Json v, int depth) {
    v.kind = Json::Object;
    ++at_;
    space();
    if (at_ < s_.size() && s_[at_] == '}') {
      ++at_;
      return v;
    }
    for (;;) {
      space();
      const size_t key_at = at_;
      if (at_ >= s_.size() || s_[at_] != '"') fail(at_, "expected a key in quotes, found " + describe());
      std::string key = string();
      for (const Json::Member& m : v.members)
        if (m.key == key) fail(key_at, "duplicate key '" + key + "'");
      space();
      if (at_ >= s_.size() || s_[at_] != ':') fail(at_, "expected ':' after a key, found " + describe());
      ++at_;
      v.members.push_back({std::move(key), key_at, value(depth + 1)});
      space();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
      } else if (at_ < s_.size() && s_[at_] == '}') {
        ++at_;
        return v;
      } else {
        fail(at_, "expected ',' or '}' in an object, found " + describe());
      }
    }
  }

  Json array(Json v, int depth) {
    v.kind = Json::Array;
    ++at_;
    space();
    if (at_ < s_.size() && s_[at_] == ']') {
      ++at_;
      return v;
    }
    for (;;) {
      v.items.push_back(value(depth + 1));
      space();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
      } else if (at_ < s_.size() && s_[at_] == ']') {
        ++at_;
        return v;
      } else {
        fail(at_, "expected ',' or ']' in an array, found " + describe());
      }
    }
  }

  std::string number() {
    const size_t begin = at_;
    auto digits = [&] {
      const size_t from = at_;
      while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') ++at_;
      if (at_ == from) fail(at_, "a number needs digits here");
      return at_ - from;
    };
    if (s_[at_] == '-') ++at_;
    const size_t int_at = at_;
    if (digits() > 1 && s_[int_at] == '0') fail(int_at, "a number does not start with 0 unless it is 0");
    if (at_ < s_.size() && s_[at_] == '.') {
      ++at_;
      digits();
    }
    if (at_ < s_.size() && (s_[at_] == 'e' || s_[at_] == 'E')) {
      ++at_;
      if (at_ < s_.size() && (s_[at_] == '+' || s_[at_] == '-')) ++at_;
      digits();
    }
    return std::string(s_.substr(begin, at_ - begin));
  }

  uint32_t hex4() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++at_) {
      const char h = at_ < s_.size() ? s_[at_] : '\0';
      const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) fail(at_, "\\u needs four hex digits");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }

  // A string's value; `at_` is on the opening quote.
  std::string string() {
    const size_t open = at_++;
    std::string out;
    for (;;) {
      if (at_ >= s_.size()) fail(open, "unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[at_]);
      if (c == '"') {
        ++at_;
        return out;
      }
      if (c < 0x20) fail(at_, "a control character in a string must be escaped");
      if (c != '\\') {
        const size_t n = utf8_sequence_length(reinterpret_cast<const uint8_t*>(s_.data()) + at_, s_.size() - at_);
        if (n == 0) fail(at_, "invalid UTF-8 in a string");
        out.append(s_.substr(at_, n));
        at_ += n;
        continue;
      }
      const size_t esc = at_++;
      if (at_ >= s_.size()) fail(open, "unterminated string");
      const char e = s_[at_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, code_point(esc)); break;
        default: {
          const bool shown = e > 0x20 && e < 0x7F;
          fail(esc, std::string("unknown escape ") + (shown ? std::string("\\") + e + " " : "") + "in a string");
        }
      }
    }
  }

  // The code point of a \u escape whose hex digits are next, reading the low half of a
  // surrogate pair too; `esc` is where the escape begins.
  uint32_t code_point(size_t esc) {
    uint32_t cp = hex4();
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail(esc, "unpaired surrogate " + escape_name(cp));
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (!word("\\u")) fail(esc, "unpaired surrogate " + escape_name(cp));
      const uint32_t low = hex4();
      if (low < 0xDC00 || low > 0xDFFF)
        fail(esc, "high surrogate " + escape_name(cp) + " not followed by a low one");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    return cp;
  }

  std::string_view s_;
  std::string_view name_;
  size_t at_ = 0;
};

}  // namespace

Json parse_json(std::string_view text, std::string_view name) { return Reader(text, name).document(); }

}  // namespace cria::io
