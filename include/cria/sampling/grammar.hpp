#pragma once
// Grammar-constrained sampling: GBNF grammars (the notation llama.cpp's users write), a matcher
// that follows UTF-8 text through one byte at a time, and a sampler stage that keeps only the
// tokens whose text can continue a sentence of the grammar.
//
// GBNF, as accepted here:
//   name ::= alternatives       a rule; names are letters, digits, '-' and '_'; a rule may
//                               span lines (it ends where the next `name ::=` begins)
//   a b | c                     sequence and alternatives
//   ( ... )                     grouping
//   x* x+ x? x{m} x{m,} x{m,n} x{,n}   repetition of the item before
//   "text"                      literal, with escapes \n \t \r \\ \" \' \[ \] \- \^ \/
//                               \xHH \uHHHH \UHHHHHHHH
//   [a-z_] [^"\\]               character class and its complement (same escapes)
//   .                           any character
//   # comment                   to the end of the line
// Matching is over Unicode scalar values of UTF-8 text: a class never matches a surrogate, and
// a token's bytes may end inside a character, which the next token finishes.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cria {

class SamplerStage;
class Tokenizer;

// A parsed and checked grammar. The constructor throws Error(InvalidArgument) with
// "grammar: line L, column C: what is wrong" for malformed text, an undefined rule, a missing
// start rule, and left recursion (a rule that can reach itself without reading a character,
// which the matcher could not follow).
class Grammar {
 public:
  explicit Grammar(std::string_view gbnf, std::string_view start_rule = "root");
  ~Grammar();
  Grammar(Grammar&&) noexcept;
  Grammar& operator=(Grammar&&) noexcept;

  // The compiled form: each rule's alternatives as sequences of elements (a character class,
  // a rule, or the end of the alternative). Repetitions and groups become rules of their own.
  struct Element {
    enum Kind : uint8_t { Class, Rule, End };
    Kind kind;
    uint32_t index;  // into classes (Class) or rules (Rule)
  };
  struct Rule {
    std::string name;                   // generated ones: "name-N"
    std::vector<uint32_t> alternatives;  // where each begins in elements
  };
  using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;  // sorted, disjoint, inclusive
  const std::vector<Element>& elements() const;
  const std::vector<Rule>& rules() const;
  const std::vector<Ranges>& classes() const;
  uint32_t start() const;  // the start rule

 private:
  struct Data;
  std::unique_ptr<Data> data_;
};

// Follows text through a grammar a byte at a time, as a deterministic automaton built lazily:
// a state is the set of parse stacks the text so far allows (and the part read of a UTF-8
// character), numbered as they are first reached, and each step is remembered in a table, so
// that a text's bytes are worked out once and later steps from the same state cost a lookup.
// Not thread-safe (steps fill the tables).
class GrammarMatcher {
 public:
  using State = int32_t;
  static constexpr State kDead = -1;  // the bytes cannot continue any sentence

  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);
  ~GrammarMatcher();
  GrammarMatcher(GrammarMatcher&&) noexcept;
  GrammarMatcher& operator=(GrammarMatcher&&) noexcept;

  State start() const { return 0; }
  // Throws InvalidArgument for a state this matcher does not have.
  State step(State from, uint8_t byte) {
    // A state's number tells where its steps are and whether it is inside a character, when
    // only continuation bytes (10xxxxxx) can follow, so its row holds 64 steps, not 256.
    const bool inside = (from & 1) != 0;
    const size_t slot = static_cast<size_t>(static_cast<uint32_t>(from) >> 1) * 64 + (inside ? byte & 0x3F : byte);
    if (slot < steps_.size()) {
      if (inside && (byte & 0xC0) != 0x80) return kDead;
      if (steps_[slot] != kUnknown) return steps_[slot];
    }
    return step_first_time(from, byte);
  }
  State step(State from, std::string_view bytes);  // kDead as soon as one byte is refused
  // Whether the text that led to `state` is a whole sentence (no character left unfinished).
  bool complete(State state) const;
  // The tables grow with the states reached: state_count() states, table_bytes() bytes of
  // steps. trim forgets them all but the start and `keep`, whose number it returns (other
  // state numbers become invalid).
  size_t state_count() const;
  size_t table_bytes() const { return steps_.size() * sizeof(State); }
  State trim(State keep);

 private:
  static constexpr State kUnknown = -2;  // a step not taken yet
  State step_first_time(State from, uint8_t byte);

  struct Impl;  // the states: what they hold and how a byte changes them
  std::unique_ptr<Impl> impl_;
  // Rows of steps, 64 entries a unit: a state numbered 2u (a whole number of characters read)
  // has the 256 entries from unit u, one numbered 2u + 1 (inside a character) the 64 from u.
  std::vector<State> steps_;
};

// A sampler stage that removes the candidates whose text cannot continue the grammar's
// sentence. Token text is the piece's bytes ("▁" is a space, "<0xNN>" that byte); control,
// unknown and unused pieces are never allowed, except EOS, allowed exactly when the text so
// far is a whole sentence (and then the only candidate if nothing can follow). accept()
// advances the sentence by a token picked after apply() and throws InvalidArgument for one
// the grammar does not allow; tokens accepted without an apply() before them (a prompt, which
// a chain also accepts so that penalties count it) are context, not part of the sentence.
// apply() throws InvalidState when no candidate fits. state() holds the tokens of the
// sentence. The tokenizer must outlive the stage.
std::unique_ptr<SamplerStage> grammar_stage(std::shared_ptr<const Grammar> grammar, const Tokenizer& tokenizer);

}  // namespace cria
