// Grammar-constrained sampling: the GBNF parser (real-looking grammars accepted, malformed ones
// refused with their line and column), the matcher over strings and bytes split inside UTF-8
// characters, the sampler stage on a small vocabulary and on Llama 2's 32,000 tokens (against
// a token-by-token check), its saved state, and JSON Schema conversion.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cria/sampling/grammar.hpp"
#include "cria/sampling/json_schema.hpp"
#include "cria/sampling/sampler.hpp"
#include "cria/tokenizer/tokenizer.hpp"

namespace {

const std::string kModels = std::string(CRIA_SHARED_DIR) + "/models/";

template <typename Fn>
void expect_error(Fn fn, cria::ErrorCode code, const std::vector<std::string>& parts) {
  try {
    fn();
    FAIL("no error thrown");
  } catch (const cria::Error& e) {
    INFO("message: " << e.what());
    CHECK(static_cast<int>(e.code()) == static_cast<int>(code));
    for (const std::string& p : parts) {
      INFO("expected part: " << p);
      CHECK(std::string(e.what()).find(p) != std::string::npos);
    }
  }
}

std::shared_ptr<const cria::Grammar> grammar(const std::string& text) { return std::make_shared<const cria::Grammar>(text); }

// "complete" (a whole sentence), "prefix" (can go on to one) or "rejected".
std::string match(const std::shared_ptr<const cria::Grammar>& g, const std::string& text) {
  cria::GrammarMatcher m(g);
  const cria::GrammarMatcher::State s = m.step(m.start(), text);
  if (s == cria::GrammarMatcher::kDead) return "rejected";
  return m.complete(s) ? "complete" : "prefix";
}
std::string match(const std::string& gbnf, const std::string& text) { return match(grammar(gbnf), text); }

const char* kArithmetic = R"gbnf(# arithmetic over integers, with spaces after tokens
root   ::= ws expr
expr   ::= term (("+" | "-") ws term)*
term   ::= factor (("*" | "/") ws factor)*
factor ::= number | "(" ws expr ")" ws | "-" ws factor
number ::= [0-9]+ ws
ws     ::= [ \t]*
)gbnf";

// JSON (RFC 8259), in the style llama.cpp's users write it: a rule per kind of value,
// whitespace after each token, bounded so that a model cannot write spaces forever.
const char* kJson = R"gbnf(root ::= ws value
value ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
    member
    ("," ws member)*
  )? "}" ws
member ::= string ":" ws value

array ::= "[" ws ( value ("," ws value)* )? "]" ws

string ::= "\"" (
    [^"\\\x00-\x1F]                        # any character but a quote, backslash or control
  | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) # escapes
  )* "\"" ws

number ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? ws
ws ::= | " " | "\n" [ \t]{0,20}
)gbnf";

const char* kChess = R"gbnf(
# numbered moves in algebraic notation, one line per move pair
root ::= "1. " pair ("\n" [1-9] [0-9]? ". " pair){0,8}
pair ::= move " " move
move ::= (pawn | piece | castle) [+#]?
pawn ::= ([a-h] "x")? [a-h] [1-8] ("=" [NBRQ])?
piece ::= [NBRQK] [a-h]? [1-8]? "x"? [a-h] [1-8]
castle ::= "O-O" "-O"?
)gbnf";

const char* kList = R"gbnf(root ::= item{1,5}
item ::= "- " [^\r\n\x0b\x0c\x85\u2028\u2029]+ "\n"   # a bullet per line
)gbnf";

}  // namespace

TEST_CASE("grammar: real-looking grammars parse and match what they describe") {
  auto arithmetic = grammar(kArithmetic);
  CHECK(match(arithmetic, "1 + 2 * (3 - 4)") == "complete");
  CHECK(match(arithmetic, "  -(12)/3 ") == "complete");
  CHECK(match(arithmetic, "1 + (2") == "prefix");
  CHECK(match(arithmetic, "1 + ") == "prefix");
  CHECK(match(arithmetic, "1 + )") == "rejected");
  CHECK(match(arithmetic, "a") == "rejected");

  auto json = grammar(kJson);
  CHECK(match(json, R"({"a": [1, -2.5e+3, true, null], "b": {"c": "d\n\u00e9"}})") == "complete");
  CHECK(match(json, "{\n  \"k\": \"caf\xC3\xA9 \xE6\x97\xA5\"\n}\n") == "complete");
  CHECK(match(json, R"({"a": [1, 2)") == "prefix");
  CHECK(match(json, R"({"a": 01})") == "rejected");
  CHECK(match(json, R"({"a" 1})") == "rejected");
  CHECK(match(json, "{\"a\": \"\x01\"}") == "rejected");  // control characters are escaped
  CHECK(match(json, "1234567890123456") == "complete");
  CHECK(match(json, "12345678901234567") == "rejected");  // at most 16 digits
  CHECK(match(json, std::string("[") + std::string(21, ' ')) == "rejected");  // bounded whitespace

  auto chess = grammar(kChess);
  CHECK(match(chess, "1. e4 e5\n2. Nf3 Nc6\n3. Bb5 a6\n4. O-O Nxe4") == "complete");
  CHECK(match(chess, "1. exd5 Qxd5+") == "complete");
  CHECK(match(chess, "1. e4 e9") == "rejected");
  CHECK(match(chess, "1. e4") == "prefix");

  auto list = grammar(kList);
  CHECK(match(list, "- eggs\n- milk\n") == "complete");
  CHECK(match(list, "- eggs\n- ") == "prefix");
  CHECK(match(list, "- \n") == "rejected");
  CHECK(match(list, "- a\n- b\n- c\n- d\n- e\n- f\n") == "rejected");  // at most 5

  // Rules may be used before they are defined, span lines and begin a line with '|'.
  const char* layout = "root ::= greeting\n  | \"bye\"\ngreeting ::=\n  \"hi\" # comment\n  \" there\"?\n";
  CHECK(match(layout, "hi there") == "complete");
  CHECK(match(layout, "bye") == "complete");
  CHECK(match(layout, "hi") == "complete");
}

TEST_CASE("grammar: literals, escapes, classes and repetition counts") {
  CHECK(match(R"(root ::= "a\tb\n\\\"\x41\u00e9\U0001F600")", "a\tb\n\\\"A\xC3\xA9\xF0\x9F\x98\x80") == "complete");
  CHECK(match(R"(root ::= [a-c0-9_\-\]]+)", "b9_-]") == "complete");
  CHECK(match(R"(root ::= [^a-z]+)", "A1\xC3\xA9") == "complete");
  CHECK(match(R"(root ::= [^a-z]+)", "Ab") == "rejected");
  CHECK(match(R"(root ::= [-a]+)", "-a-") == "complete");  // '-' first is itself
  CHECK(match(R"(root ::= .)", "\xE6\x97\xA5") == "complete");
  CHECK(match(R"(root ::= .)", "ab") == "rejected");
  CHECK(match(R"(root ::= "ab"{2})", "abab") == "complete");  // the whole literal repeats
  CHECK(match(R"(root ::= "ab"{2})", "ab") == "prefix");
  CHECK(match(R"(root ::= "a"{2,} "b")", "aaaab") == "complete");
  CHECK(match(R"(root ::= "a"{2,} "b")", "ab") == "rejected");
  CHECK(match(R"(root ::= "a"{1,3} "b")", "aaab") == "complete");
  CHECK(match(R"(root ::= "a"{1,3} "b")", "aaaab") == "rejected");
  CHECK(match(R"(root ::= "a"{,2} "b")", "b") == "complete");
  CHECK(match(R"(root ::= ("x" | "y")+ "." ?)", "xyx.") == "complete");
  CHECK(match(R"(root ::= "")", "") == "complete");
  CHECK(match(R"(root ::= [])", "a") == "rejected");  // an empty class matches nothing
}

TEST_CASE("grammar: malformed grammars are refused with line and column") {
  using cria::ErrorCode;
  auto bad = [](const std::string& text, const std::vector<std::string>& parts) {
    expect_error([&] { cria::Grammar g(text); }, ErrorCode::InvalidArgument, parts);
  };
  bad("root ::= foo", {"line 1, column 10", "undefined rule 'foo'"});
  bad("root ::= \"a\"\n  \"abc", {"line 2, column 3", "unterminated string literal"});
  bad("root ::= \"abc\ndef\"", {"line 1, column 10", "unterminated string literal"});
  bad("item ::= \"x\"", {"line 1, column 1", "no rule 'root'"});
  bad("", {"line 1, column 1", "empty"});
  bad("# only a comment\n", {"empty"});
  bad("root ::= [a-z", {"line 1, column 10", "unterminated character class"});
  bad("root ::= [z-a]", {"line 1, column 11", "range ends before it starts"});
  bad("root ::= (\"a\" | \"b\"", {"line 1, column 10", "'(' is never closed"});
  bad("root ::= \"a\" )", {"line 1, column 14", "')' without a matching '('"});
  bad("root ::= * \"a\"", {"line 1, column 10", "nothing before it to repeat"});
  bad("root = \"a\"", {"line 1, column 6", "expected '::='"});
  bad("root ::= \"a\"{3,2}", {"line 1, column 13", "maximum is below the minimum"});
  bad("root ::= \"a\"{x}", {"line 1, column 14", "expected a repetition count"});
  bad("root ::= \"a\"{2", {"line 1, column 13", "never closed"});
  bad("root ::= \"\\q\"", {"line 1, column 11", "unknown escape"});
  bad("root ::= \"\\x4\"", {"line 1, column 11", "2 hex digits"});
  bad("root ::= \"a\"\nroot ::= \"b\"", {"line 2, column 1", "defined twice", "line 1, column 1"});
  bad("root ::= \"a\" ; \"b\"", {"line 1, column 14", "unexpected ';'"});
  bad("root ::= \"\xC3\"", {"line 1, column 11", "invalid UTF-8"});
  bad("root ::= \"a\"{0,1000000}", {"repetition count too large"});
  // Left recursion, direct and through other rules and empty-matching prefixes, and a
  // repetition of something that can be empty: refused, not followed forever.
  bad("root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]",
      {"line 2, column 1", "rule 'expr' is left-recursive", "expr -> expr"});
  bad("root ::= a\na ::= b \"x\"\nb ::= ws a | \"y\"\nws ::= \" \"?",
      {"line 2, column 1", "rule 'a' is left-recursive", "a -> b -> a"});
  bad("root ::= (\"a\"?)* \"b\"", {"line 1, column 16", "can match empty text"});
  bad("root ::= x+\nx ::= [a-z]*", {"line 1, column 11", "can match empty text"});
}

TEST_CASE("grammar: the matcher reads bytes, a character split across steps") {
  auto g = grammar(R"(root ::= "caf" ("\u00e9" | "e") [^a]*)");
  cria::GrammarMatcher m(g);
  using State = cria::GrammarMatcher::State;
  const State caf = m.step(m.start(), "caf");
  REQUIRE(caf != cria::GrammarMatcher::kDead);
  const State half = m.step(caf, uint8_t{0xC3});  // the first byte of é (C3 A9)
  REQUIRE(half != cria::GrammarMatcher::kDead);
  CHECK_FALSE(m.complete(half));
  CHECK(m.complete(m.step(half, uint8_t{0xA9})));
  CHECK(m.step(half, uint8_t{0xA8}) == cria::GrammarMatcher::kDead);  // è
  CHECK(m.step(half, 'x') == cria::GrammarMatcher::kDead);            // not a continuation byte
  CHECK(m.step(caf, uint8_t{0xE6}) == cria::GrammarMatcher::kDead);   // no 3-byte character fits
  // [^a]: any character, but never an invalid sequence.
  const State any = m.step(caf, "e");
  CHECK(m.complete(m.step(any, "\xE6\x97\xA5\xF0\x9F\x98\x80")));
  CHECK(m.complete(m.step(m.step(any, "\xE6\x97"), "\xA5")));         // split after two bytes
  CHECK(m.step(any, "\xC0\x80") == cria::GrammarMatcher::kDead);       // overlong
  CHECK(m.step(any, "\xE0\x80") == cria::GrammarMatcher::kDead);       // overlong, caught early
  CHECK(m.step(any, "\xED\xA0") == cria::GrammarMatcher::kDead);       // a surrogate
  CHECK(m.step(any, "\xF4\x90") == cria::GrammarMatcher::kDead);       // above U+10FFFF
  CHECK(m.step(any, "\x80") == cria::GrammarMatcher::kDead);           // a stray continuation
  CHECK(m.step(any, "\xFF") == cria::GrammarMatcher::kDead);
  // Steps are remembered: the same step gives the same state; trim keeps the one asked for.
  CHECK(m.step(caf, uint8_t{0xC3}) == half);
  const size_t before = m.state_count();
  const State kept = m.trim(half);
  CHECK(m.state_count() < before);
  CHECK(m.complete(m.step(kept, uint8_t{0xA9})));
  CHECK(m.step(m.start(), "cafe") != cria::GrammarMatcher::kDead);
}

namespace {

// A small vocabulary: control tokens, text pieces (some with "▁"), and byte pieces.
cria::Tokenizer small_tokenizer() {
  cria::Vocabulary v;
  const std::string sp = "\xE2\x96\x81";
  using T = cria::TokenType;
  struct P { std::string piece; T type; };
  const std::vector<P> pieces = {
      {"<unk>", T::Unknown}, {"<s>", T::Control}, {"</s>", T::Control}, {"{", T::Normal},       // 0-3
      {"}", T::Normal},      {"a", T::Normal},    {"b", T::Normal},     {"ab", T::Normal},      // 4-7
      {sp, T::Normal},       {"{a", T::Normal},   {"<0xC3>", T::Byte},  {"<0xA9>", T::Byte},    // 8-11
      {"\xC3\xA9", T::Normal}, {"}x", T::Normal}, {"<0xA8>", T::Byte},  {sp + "a", T::Normal},  // 12-15
      {"<0x7D>", T::Byte},                                                                       // 16: '}'
  };
  for (const P& p : pieces) {
    v.pieces.push_back(p.piece);
    v.scores.push_back(0.0f);
    v.types.push_back(p.type);
  }
  return cria::Tokenizer(v);
}

std::vector<int32_t> allowed(cria::SamplerStage& stage, int32_t n_vocab) {
  cria::Candidates c;
  for (int32_t i = 0; i < n_vocab; ++i) c.items.push_back({i, static_cast<float>(-i), 0.0f});
  c.sorted = true;
  stage.apply(c);
  CHECK(c.sorted);
  CHECK_FALSE(c.normalized);
  std::vector<int32_t> ids;
  for (const auto& x : c.items) ids.push_back(x.id);
  return ids;
}

}  // namespace

TEST_CASE("grammar: the stage leaves only the tokens that continue the sentence, EOS when it is whole") {
  const cria::Tokenizer tok = small_tokenizer();
  const int32_t n = tok.n_vocab();
  auto stage = cria::grammar_stage(grammar(R"(root ::= "{" ([ab] | "\u00e9" | " a")* "}")"), tok);
  CHECK(allowed(*stage, n) == std::vector<int32_t>{3, 9});  // "{" and "{a"; never <unk>, <s>
  stage->accept(3);
  // "▁" (a space) fits: " a" may follow.
  CHECK(allowed(*stage, n) == std::vector<int32_t>{4, 5, 6, 7, 8, 10, 12, 15, 16});
  stage->accept(10);  // the first byte of é
  CHECK(allowed(*stage, n) == std::vector<int32_t>{11});
  stage->accept(11);
  CHECK(allowed(*stage, n) == std::vector<int32_t>{4, 5, 6, 7, 8, 10, 12, 15, 16});
  stage->accept(16);  // "}" as a byte piece: the sentence is whole and nothing may follow
  CHECK(allowed(*stage, n) == std::vector<int32_t>{2});
  stage->accept(2);  // EOS
  CHECK(allowed(*stage, n) == std::vector<int32_t>{2});

  // A refused token throws; so does EOS before the end.
  stage->reset();
  allowed(*stage, n);
  expect_error([&] { stage->accept(5); }, cria::ErrorCode::InvalidArgument, {"token 5"});
  allowed(*stage, n);
  expect_error([&] { stage->accept(2); }, cria::ErrorCode::InvalidArgument, {"end of sequence"});
  // Tokens accepted without an apply before them (a prompt) are not part of the sentence.
  stage->reset();
  for (int32_t t : {1, 5, 8, 13}) stage->accept(t);
  CHECK(allowed(*stage, n) == std::vector<int32_t>{3, 9});

  // EOS is allowed alongside other tokens where the sentence may end or go on.
  auto optional = cria::grammar_stage(grammar(R"(root ::= "a" "b"?)"), tok);
  allowed(*optional, n);
  optional->accept(5);
  CHECK(allowed(*optional, n) == std::vector<int32_t>{2, 6});

  // No token of the vocabulary fits: InvalidState; none of the candidates given: InvalidState.
  auto none = cria::grammar_stage(grammar(R"(root ::= "z")"), tok);
  expect_error([&] { allowed(*none, n); }, cria::ErrorCode::InvalidState, {"no token of the vocabulary"});
  cria::Candidates few;
  few.items = {{5, 0.0f, 0.0f}};
  auto braces = cria::grammar_stage(grammar(R"(root ::= "{}")"), tok);
  expect_error([&] { braces->apply(few); }, cria::ErrorCode::InvalidState, {"none of the candidates"});
}

TEST_CASE("grammar: the stage's state is the sentence so far, and set_state replays it") {
  const cria::Tokenizer tok = small_tokenizer();
  const int32_t n = tok.n_vocab();
  auto g = grammar(R"(root ::= "{" ([ab] | "\u00e9")* "}")");
  auto a = cria::grammar_stage(g, tok);
  for (int32_t t : {3, 7, 10}) {
    allowed(*a, n);
    a->accept(t);
  }
  const std::string saved = a->state();
  auto b = cria::grammar_stage(g, tok);
  b->set_state(saved);
  CHECK(b->state() == saved);
  CHECK(allowed(*b, n) == std::vector<int32_t>{11});
  b->accept(11);
  CHECK(allowed(*b, n) == std::vector<int32_t>{4, 5, 6, 7, 10, 12, 16});
  // Bytes that are not such a state, or tokens the grammar refuses: refused, nothing changes.
  const std::string before = b->state();
  expect_error([&] { b->set_state("x"); }, cria::ErrorCode::InvalidArgument, {"grammar stage state"});
  std::string wrong = saved;
  wrong[9] = 5;  // the first token: "a" before "{"
  expect_error([&] { b->set_state(wrong); }, cria::ErrorCode::InvalidArgument, {"token 5"});
  CHECK(b->state() == before);
  CHECK(allowed(*b, n) == std::vector<int32_t>{4, 5, 6, 7, 10, 12, 16});
}

TEST_CASE("grammar: a sampler with a grammar writes only its sentences") {
  const cria::Tokenizer tok = small_tokenizer();
  cria::SamplerParams p;
  p.grammar = R"(root ::= "{" [ab]{0,6} "}")";
  expect_error([&] { cria::Sampler s(p); }, cria::ErrorCode::InvalidArgument, {"tokenizer"});
  p.grammar = "root ::= oops";
  expect_error([&] { cria::Sampler s(p, &tok); }, cria::ErrorCode::InvalidArgument, {"undefined rule 'oops'"});
  p.grammar = R"(root ::= "{" [ab]{0,6} "}")";
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    p.seed = seed;
    cria::Sampler sampler(p, &tok);
    CHECK(std::string(sampler.stage(0).name()) == "grammar");
    sampler.accept(1);  // BOS, as a prompt
    std::vector<int32_t> ids;
    for (int step = 0; step < 20; ++step) {
      std::vector<float> logits(static_cast<size_t>(tok.n_vocab()));
      for (float& l : logits) l = normal(rng);
      const int32_t t = sampler.sample(logits.data(), tok.n_vocab());
      if (t == tok.eos_id()) break;
      sampler.accept(t);
      ids.push_back(t);
    }
    const std::string text = tok.decode(ids);
    INFO(text);
    CHECK(match(p.grammar, text) == "complete");
  }
}

namespace {

const cria::Tokenizer& llama_tokenizer() {
  static const cria::Tokenizer t(cria::load_vocabulary(kModels + "llama2-tiny-random.gguf"));
  return t;
}

// A token's text as the stage reads it, written out here independently of the stage.
std::string text_of(const cria::Tokenizer& t, int32_t id) {
  const cria::Vocabulary& v = t.vocabulary();
  const std::string& piece = v.pieces[static_cast<size_t>(id)];
  if (v.types[static_cast<size_t>(id)] == cria::TokenType::Byte)
    return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  std::string s;
  for (size_t i = 0; i < piece.size(); ++i) {
    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
      s += ' ';
      i += 2;
    } else {
      s += piece[i];
    }
  }
  return s;
}

// Follows a JSON document, as the vocabulary's tokenizer splits it, through the stage; at
// every few steps, each token of the vocabulary is checked on its own against what the stage
// allows.
void check_document_against_each_token(const cria::Tokenizer& tok, int every) {
  const std::string doc = "{\"name\": \"caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \\\"q\\\" \\u00e9\", \"list\": [1, -2.5e+3, true, null, [], {}],\n"
                          "  \"nested\": {\"deep\": [{\"x\": \"\xF0\x9F\x98\x80\"}, \"end\"]}}";
  cria::EncodeOptions no_bos;
  no_bos.add_bos = false;
  const std::vector<int32_t> doc_ids = tok.encode(doc, no_bos);
  auto g = grammar(kJson);
  REQUIRE(match(g, doc) == "complete");
  auto stage = cria::grammar_stage(g, tok);
  cria::GrammarMatcher check(g);
  std::string text;
  for (size_t step = 0; step <= doc_ids.size(); ++step) {
    const std::vector<int32_t> ids = allowed(*stage, tok.n_vocab());
    if (step % static_cast<size_t>(every) == 0 || step == doc_ids.size()) {
      const cria::GrammarMatcher::State here = check.step(check.start(), text);
      std::vector<int32_t> expected;
      for (int32_t id = 0; id < tok.n_vocab(); ++id) {
        const cria::TokenType type = tok.vocabulary().types[static_cast<size_t>(id)];
        const bool text_token = type == cria::TokenType::Normal || type == cria::TokenType::Byte;
        if ((text_token && check.step(here, text_of(tok, id)) != cria::GrammarMatcher::kDead) ||
            (id == tok.eos_id() && check.complete(here)))
          expected.push_back(id);
      }
      std::vector<int32_t> got = ids;
      std::sort(got.begin(), got.end());
      INFO("text so far: " << text);
      CHECK(got == expected);
    }
    if (step == doc_ids.size()) {
      CHECK(std::find(ids.begin(), ids.end(), tok.eos_id()) != ids.end());  // the document is whole
      break;
    }
    REQUIRE(std::find(ids.begin(), ids.end(), doc_ids[step]) != ids.end());
    stage->accept(doc_ids[step]);
    text += text_of(tok, doc_ids[step]);
  }
}

}  // namespace

TEST_CASE("grammar: on Llama 2's and stories260K's vocabularies the trie walk allows exactly the tokens that fit") {
  const cria::Tokenizer& llama = llama_tokenizer();
  REQUIRE(llama.n_vocab() == 32000);
  check_document_against_each_token(llama, 4);
  const cria::Tokenizer stories(cria::load_vocabulary(kModels + "stories260K.gguf"));
  REQUIRE(stories.n_vocab() == 512);
  check_document_against_each_token(stories, 1);
}

TEST_CASE("grammar: json schema conversion, feature by feature") {
  auto accepts = [](const std::string& schema, const std::vector<std::string>& good,
                    const std::vector<std::string>& bad) {
    const std::string gbnf = cria::json_schema_to_grammar(schema);
    INFO("grammar:\n" << gbnf);
    auto g = grammar(gbnf);
    for (const std::string& s : good) {
      INFO("should be complete: " << s);
      CHECK(match(g, s) == "complete");
    }
    for (const std::string& s : bad) {
      INFO("should not be complete: " << s);
      CHECK(match(g, s) != "complete");
    }
  };
  // Objects: properties in order, required always, optional perhaps left out, no others.
  accepts(R"({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
              "ok": {"type": "boolean"}}, "required": ["age"], "additionalProperties": false})",
          {R"({"age": 3})", R"({"name": "x", "age": -3, "ok": true})", R"({"age":0,"ok":false})",
           "{\n  \"name\": \"\",\n  \"age\": 12\n}"},
          {R"({})", R"({"name": "x"})", R"({"age": 3, "name": "x"})", R"({"age": 3, "x": 1})",
           R"({"age": 3.5})", R"({"age": 3,})"});
  accepts(R"({"type": "object", "properties": {"a": {"type": "null"}, "b": {"type": "number"}}})",
          {"{}", R"({"a": null})", R"({"b": 1.5e3})", R"({"a": null, "b": -0.25})"},
          {R"({"b": 1, "a": null})", R"({,"b": 1})", R"({"a": null "b": 1})"});
  accepts(R"({"type": "object"})", {"{}", "{ }"}, {R"({"a": 1})"});
  // Strings: lengths count characters, an escape being one.
  accepts(R"({"type": "string", "minLength": 2, "maxLength": 3})",
          {R"("ab")", R"("a\nb")", "\"\xC3\xA9\xC3\xA9\"", R"("\u00e9\"x")"},
          {R"("a")", R"("abcd")", R"("\ud800")", "\"a\x01\""});
  // enum and const of any values, with type narrowing enum.
  accepts(R"({"enum": ["red", 1, null, [1, {"a": "\"q\""}], true]})",
          {R"("red")", "1", "null", R"([1,{"a":"\"q\""}])", "true"}, {R"("blue")", "2", "[1, {\"a\": \"\\\"q\\\"\"}]"});
  accepts(R"({"type": "string", "enum": ["red", 1]})", {R"("red")"}, {"1"});
  accepts(R"({"const": "x\ty"})", {R"("x\ty")"}, {"\"x\ty\"", R"("xy")"});
  // Arrays: items, minItems, maxItems.
  accepts(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})",
          {"[1]", "[1, 2, 3]", "[ 1 ,2 ]"}, {"[]", "[1, 2, 3, 4]", "[1.5]", "[1,]"});
  accepts(R"({"type": "array", "maxItems": 0})", {"[]"}, {"[1]"});
  accepts(R"({"type": "array"})", {"[]", R"([1, "a", {"b": [null]}])"}, {"[1 2]"});
  // Nested objects and arrays of objects.
  accepts(R"({"type": "object", "properties": {"people": {"type": "array", "items": {"type": "object",
              "properties": {"n": {"type": "string", "maxLength": 4}}, "required": ["n"]}}}, "required": ["people"]})",
          {R"({"people": []})", R"({"people": [{"n": "ann"}, {"n": "bob"}]})"},
          {R"({"people": [{}]})", R"({"people": [{"n": "annie"}]})"});
  // anyOf, oneOf, type lists, nullable.
  accepts(R"({"anyOf": [{"type": "string", "maxLength": 1}, {"type": "integer"}]})", {R"("a")", "12"},
          {R"("ab")", "true"});
  accepts(R"({"oneOf": [{"type": "boolean"}, {"type": "null"}]})", {"true", "null"}, {"1"});
  accepts(R"({"type": ["string", "null"], "maxLength": 2})", {R"("ab")", "null"}, {R"("abc")", "1"});
  // $ref to $defs and definitions, recursion included; annotations are ignored.
  accepts(R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "t", "$ref": "#/$defs/node",
              "$defs": {"node": {"type": "object", "description": "a tree", "properties": {
                "v": {"type": "integer", "default": 1}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["v"]}}})",
          {R"({"v": 1})", R"({"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 3}]})"}, {R"({"kids": []})"});
  accepts(R"({"type": "object", "properties": {"p": {"$ref": "#/definitions/a~1b"}}, "definitions": {"a/b": {"type": "null"}}})",
          {R"({"p": null})", "{}"}, {R"({"p": 1})"});
  // Any value, and the schema true.
  accepts("{}", {"1", R"({"a": [true]})", " \"x\" "}, {"{"});
  accepts("true", {"null"}, {});
  // Property names that need escaping, and names that clash with the grammar's own rules.
  accepts(R"({"type": "object", "properties": {"a \"b\"\\": {"type": "integer"}, "string": {"type": "string", "maxLength": 1}}})",
          {R"({"a \"b\"\\": 1, "string": "x"})"}, {R"({"a "b"\": 1})"});
}

TEST_CASE("grammar: json schema errors name the line, the column and the keyword") {
  using cria::ErrorCode;
  auto bad = [](const std::string& schema, ErrorCode code, const std::vector<std::string>& parts) {
    expect_error([&] { cria::json_schema_to_grammar(schema); }, code, parts);
  };
  bad("{\"type\": \"object\",\n \"properties\": {\"a\": }}", ErrorCode::InvalidArgument,
      {"json schema: line 2, column 22", "expected a value"});
  bad("{\"type\": \"string\"", ErrorCode::InvalidArgument, {"line 1, column 18", "expected ',' or '}'"});
  bad("{\"type\": \"str", ErrorCode::InvalidArgument, {"line 1, column 10", "unterminated string"});
  bad("{\"a\": 01}", ErrorCode::InvalidArgument, {"line 1, column 7", "does not start with 0"});
  bad("{\"type\": \"string\"} x", ErrorCode::InvalidArgument, {"line 1, column 20", "after the schema"});
  bad("{\"a\": 1, \"a\": 2}", ErrorCode::InvalidArgument, {"line 1, column 10", "duplicate key"});
  bad("{\"type\": \"string\",\n  \"pattern\": \"^a$\"}", ErrorCode::Unsupported,
      {"line 2, column 3", "unsupported keyword 'pattern'"});
  bad("{\"type\": \"integer\", \"minimum\": 0}", ErrorCode::Unsupported, {"line 1, column 21", "'minimum'"});
  bad("{\"allOf\": [{}]}", ErrorCode::Unsupported, {"'allOf'"});
  bad("{\"type\": \"strin\"}", ErrorCode::InvalidArgument, {"line 1, column 10", "unknown type \"strin\""});
  bad("{\"type\": \"string\", \"maxLength\": -1}", ErrorCode::InvalidArgument,
      {"line 1, column 33", "maxLength must be a non-negative integer"});
  bad("{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2}", ErrorCode::InvalidArgument, {"maxItems is below minItems"});
  bad("{\"$ref\": \"#/$defs/missing\"}", ErrorCode::InvalidArgument, {"line 1, column 10", "no such definition"});
  bad("{\"$ref\": \"other.json#/a\"}", ErrorCode::Unsupported, {"only '#/$defs/NAME'"});
  bad("{\"type\": \"object\", \"additionalProperties\": true}", ErrorCode::Unsupported, {"additionalProperties"});
  bad("{\"type\": \"object\", \"properties\": {}, \"required\": [\"a\"]}", ErrorCode::Unsupported,
      {"required property 'a'"});
  bad("{\"enum\": [1], \"maxLength\": 3}", ErrorCode::Unsupported, {"'maxLength' alongside 'enum'"});
  bad("{\"type\": \"array\", \"items\": [{}]}", ErrorCode::Unsupported, {"tuple"});
  bad("false", ErrorCode::InvalidArgument, {"accepts no value"});
  bad("{\"enum\": []}", ErrorCode::InvalidArgument, {"non-empty list"});
}
