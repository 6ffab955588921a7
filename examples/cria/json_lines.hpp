#pragma once
// Lines of --jsonl input: each line is one JSON value, read by the library's JSON reader and
// then checked for the shape the command takes (a string, or an array of token ids).
// Errors are "line N, column M: invalid JSON: ...", N counting the input's lines.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cria/io/json.hpp"

namespace cli {

[[noreturn]] inline void json_line_error(size_t line, size_t column, const std::string& what) {
  throw std::invalid_argument("line " + std::to_string(line) + ", column " + std::to_string(column) +
                              ": invalid JSON: " + what);
}

inline cria::io::Json read_json_line(const std::string& text, size_t line) {
  try {
    return cria::io::parse_json(text);
  } catch (const cria::io::JsonError& e) {
    json_line_error(line, e.at.column, e.reason);  // a line holds no '\n', so e.at.line is 1
  }
}

inline std::string json_kind_name(const cria::io::Json& v) {
  switch (v.kind) {
    case cria::io::Json::Null: return "null";
    case cria::io::Json::Bool: return v.boolean ? "true" : "false";
    case cria::io::Json::Number: return v.text.size() > 16 ? v.text.substr(0, 16) + "..." : v.text;
    case cria::io::Json::String: return "a string";
    case cria::io::Json::Array: return "an array";
    case cria::io::Json::Object: return "an object";
  }
  return "a value";
}

// The text of a line that holds one JSON string.
inline std::string json_string_line(const std::string& text, size_t line) {
  cria::io::Json v = read_json_line(text, line);
  if (v.kind != cria::io::Json::String)
    json_line_error(line, cria::io::text_position(text, v.offset).column,
                    "expected a string, found " + json_kind_name(v));
  return std::move(v.text);
}

// The integers of a line that holds one JSON array of integers, each within +-2^40 (token ids
// are checked against the vocabulary by the caller).
inline std::vector<int64_t> json_int_array_line(const std::string& text, size_t line) {
  const cria::io::Json v = read_json_line(text, line);
  auto fail = [&](const cria::io::Json& at, const std::string& what) {
    json_line_error(line, cria::io::text_position(text, at.offset).column, what);
  };
  if (v.kind != cria::io::Json::Array) fail(v, "expected an array of integers, found " + json_kind_name(v));
  std::vector<int64_t> out;
  out.reserve(v.items.size());
  for (const cria::io::Json& item : v.items) {
    if (item.kind != cria::io::Json::Number || item.text.find_first_of(".eE") != std::string::npos)
      fail(item, "expected an integer, found " + json_kind_name(item));
    const bool negative = item.text[0] == '-';
    int64_t n = 0;
    for (size_t k = negative ? 1 : 0; k < item.text.size(); ++k) {
      n = n * 10 + (item.text[k] - '0');
      if (n > (int64_t{1} << 40)) fail(item, "integer out of range: " + json_kind_name(item));
    }
    out.push_back(negative ? -n : n);
  }
  return out;
}

}  // namespace cli
