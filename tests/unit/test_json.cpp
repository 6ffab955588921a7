// The JSON reader: values and where they begin, string escapes and surrogate pairs, the UTF-8
// it refuses (the tokenizer's rules), and errors with their line and column.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/json.hpp"

namespace {

using cria::io::Json;
using cria::io::parse_json;

// The JsonError of parsing `text`, which must fail.
cria::io::JsonError error_of(const std::string& text, std::string_view name = "value") {
  try {
    parse_json(text, name);
  } catch (const cria::io::JsonError& e) {
    return e;
  }
  FAIL("no error for " << text);
  return cria::io::JsonError({0, 0}, "");
}

void refused(const std::string& text, size_t line, size_t column, const std::string& part) {
  const cria::io::JsonError e = error_of(text);
  INFO("text: " << text << "  message: " << e.what());
  CHECK(e.code() == cria::ErrorCode::InvalidArgument);
  CHECK(e.at.line == line);
  CHECK(e.at.column == column);
  CHECK(e.reason.find(part) != std::string::npos);
  CHECK(std::string(e.what()) ==
        "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + e.reason);
}

}  // namespace

TEST_CASE("json: values, their order and where they begin") {
  const Json v = parse_json(" {\"b\": [1, -2.5e+3, true, false, null], \"a\": {}, \"s\": \"x\"} ");
  REQUIRE(v.kind == Json::Object);
  CHECK(v.offset == 1);
  REQUIRE(v.members.size() == 3);
  CHECK(v.members[0].key == "b");
  CHECK(v.members[0].key_offset == 2);
  CHECK(v.members[1].key == "a");
  const Json* b = v.get("b");
  REQUIRE(b != nullptr);
  REQUIRE(b->items.size() == 5);
  CHECK(b->offset == 7);
  CHECK(b->items[0].kind == Json::Number);
  CHECK(b->items[0].text == "1");
  CHECK(b->items[1].text == "-2.5e+3");  // numbers keep their literal
  CHECK(b->items[1].offset == 11);
  CHECK((b->items[2].kind == Json::Bool && b->items[2].boolean));
  CHECK((b->items[3].kind == Json::Bool && !b->items[3].boolean));
  CHECK(b->items[4].kind == Json::Null);
  CHECK(v.get("a")->kind == Json::Object);
  CHECK(v.get("s")->text == "x");
  CHECK(v.get("missing") == nullptr);
  CHECK(parse_json("[]").items.empty());
  CHECK(parse_json("\r\n\t0 ").text == "0");
}

TEST_CASE("json: string escapes and surrogate pairs") {
  CHECK(parse_json(R"("\"\\\/\b\f\n\r\t")").text == "\"\\/\b\f\n\r\t");
  CHECK(parse_json(R"("\u0041\u00e9\u20AC")").text == "A\xC3\xA9\xE2\x82\xAC");
  CHECK(parse_json(R"("\ud83d\ude00")").text == "\xF0\x9F\x98\x80");
  CHECK(parse_json(R"("\uDBFF\uDFFF")").text == "\xF4\x8F\xBF\xBF");
  CHECK(parse_json(R"("a\u0000b")").text == std::string("a\0b", 3));
  CHECK(parse_json("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F\"").text == "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F");
}

TEST_CASE("json: lone surrogates and bad escapes are refused at the escape") {
  refused(R"("a\ud800")", 1, 3, "unpaired surrogate \\uD800");
  refused(R"("\udc00\ud800")", 1, 2, "unpaired surrogate \\uDC00");
  refused(R"("\ud800x")", 1, 2, "unpaired surrogate \\uD800");
  refused(R"("\ud800\u0041")", 1, 2, "high surrogate \\uD800 not followed by a low one");
  refused(R"("\ud800\ud800")", 1, 2, "not followed by a low one");
  refused(R"("\u12")", 1, 6, "four hex digits");
  refused(R"("\u12G4")", 1, 6, "four hex digits");
  refused(R"("ab\x")", 1, 4, "unknown escape \\x in a string");
  refused("\"\\", 1, 1, "unterminated string");
}

TEST_CASE("json: strings must be UTF-8 without overlongs, surrogates or code points above U+10FFFF") {
  for (const std::string& bytes : {std::string("\xFF"), std::string("\x80"), std::string("\xC0\x80"),
                                   std::string("\xC1\xBF"), std::string("\xE0\x80\x80"), std::string("\xE0\x9F\xBF"),
                                   std::string("\xED\xA0\x80"), std::string("\xED\xBF\xBF"),
                                   std::string("\xF0\x8F\xBF\xBF"), std::string("\xF4\x90\x80\x80"),
                                   std::string("\xF5\x80\x80\x80"), std::string("\xC3"), std::string("\xE2\x82")})
    refused("\"a" + bytes + "\"", 1, 3, "invalid UTF-8 in a string");
  CHECK(parse_json("\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"").text.size() == 21);
  refused("\"tab\there\"", 1, 5, "a control character in a string must be escaped");
}

TEST_CASE("json: errors name the line and the column in characters") {
  refused("", 1, 1, "expected a value, found the end of the text");
  refused("{\"a\":\n  [1,]}", 2, 6, "expected a value, found ']'");
  refused("[\"\xC3\xA9\xC3\xA9\" 2]", 1, 7, "expected ',' or ']' in an array, found '2'");
  refused("{\"a\" 1}", 1, 6, "expected ':' after a key");
  refused("{1: 2}", 1, 2, "expected a key in quotes");
  refused("{\"a\": 1 \"b\": 2}", 1, 9, "expected ',' or '}' in an object");
  refused("{\"a\": 1,\n \"a\": 2}", 2, 2, "duplicate key 'a'");
  refused("[01]", 1, 2, "a number does not start with 0 unless it is 0");
  refused("[-]", 1, 3, "a number needs digits here");
  refused("[1.]", 1, 4, "a number needs digits here");
  refused("[1e]", 1, 4, "a number needs digits here");
  refused("\"unterminated", 1, 1, "unterminated string");
  refused("tru", 1, 1, "expected a value, found 't'");
  refused("\"a\" \"b\"", 1, 5, "unexpected '\"' after the value");
  CHECK(std::string(error_of("{} x", "schema").what()) == "line 1, column 4: unexpected 'x' after the schema");
  CHECK(error_of(std::string(300, '['), "schema").reason == "the schema nests deeper than 256 levels");
  CHECK(parse_json(std::string(256, '[') + std::string(256, ']')).kind == Json::Array);
}

TEST_CASE("json: text_position counts characters, not bytes") {
  const std::string text = "ab\n\xC3\xA9x\n";
  CHECK(cria::io::text_position(text, 0).column == 1);
  CHECK(cria::io::text_position(text, 3).line == 2);
  CHECK(cria::io::text_position(text, 5).column == 2);  // after the two bytes of one character
  CHECK(cria::io::text_position(text, 100).line == 3);
}
