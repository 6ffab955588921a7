#pragma once
// Reading JSON text (RFC 8259) into a tree of values that remember where they begin, so that
// callers can name a line and a column when a value has the wrong shape.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cria/error.hpp"

namespace cria::io {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object };
  struct Member;
  Kind kind = Null;
  bool boolean = false;
  std::string text;  // String: the decoded value (UTF-8); Number: the literal as written
  std::vector<Json> items;
  std::vector<Member> members;  // in the text's order, no key twice
  size_t offset = 0;            // the byte where the value begins in the text

  // The member named `key`, or null.
  const Json* get(std::string_view key) const;
};

struct Json::Member {
  std::string key;
  size_t key_offset;
  Json value;
};

// A place in a text: line and column from 1, the column counted in characters.
struct TextPosition {
  size_t line;
  size_t column;
};
TextPosition text_position(std::string_view text, size_t offset);

// What parse_json throws: Error(InvalidArgument) with the message "line L, column C: reason",
// the parts also kept apart for callers that number lines themselves.
class JsonError : public Error {
 public:
  JsonError(TextPosition at, const std::string& reason);
  TextPosition at;
  std::string reason;
};

// The one value of `text`, whitespace around it allowed. Strings must be UTF-8 without
// overlongs, encoded surrogates or code points above U+10FFFF, and a \u escape of a surrogate
// must be half of a pair. `name` says what the text is in messages ("the schema nests deeper
// than 256 levels").
Json parse_json(std::string_view text, std::string_view name = "value");

}  // namespace cria::io
