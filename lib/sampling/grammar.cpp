// GBNF text to the compiled form of cria::Grammar: a recursive-descent parser that turns
// groups and repetitions into rules of their own, then checks that every rule is defined and
// that no rule can reach itself without reading a character.
#include "cria/sampling/grammar.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cria/error.hpp"

namespace cria {

namespace {

struct Compiled {
  std::vector<Grammar::Element> elements;
  std::vector<Grammar::Rule> rules;
  std::vector<Grammar::Ranges> classes;
  uint32_t start = 0;
};

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
// Repetitions are written out in full ({2,5}: two copies and three nested optional ones), so
// their size is bounded to keep a typo like {0,1000000} from exhausting memory.
constexpr size_t kMaxElements = size_t{1} << 21;

using Element = Grammar::Element;
using Ranges = Grammar::Ranges;
using Sequence = std::vector<Element>;

// Sorted, merged, and without the surrogates (which are not characters UTF-8 can encode).
Ranges normalize(Ranges r, bool negate) {
  std::sort(r.begin(), r.end());
  Ranges merged;
  for (const auto& x : r) {
    if (!merged.empty() && x.first <= merged.back().second + 1) merged.back().second = std::max(merged.back().second, x.second);
    else merged.push_back(x);
  }
  if (negate) {
    Ranges complement;
    uint32_t next = 0;
    for (const auto& x : merged) {
      if (x.first > next) complement.push_back({next, x.first - 1});
      next = x.second + 1;
    }
    if (next <= kMaxCodePoint) complement.push_back({next, kMaxCodePoint});
    merged = std::move(complement);
  }
  Ranges out;
  for (const auto& x : merged) {
    if (x.first < 0xD800) out.push_back({x.first, std::min(x.second, 0xD7FFu)});
    if (x.second > 0xDFFF) out.push_back({std::max(x.first, 0xE000u), x.second});
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Compiled parse(std::string_view start_rule) {
    skip_space();
    if (at_ >= s_.size()) fail(0, "the grammar is empty (it needs a start rule, e.g. root ::= \"yes\" | \"no\")");
    while (at_ < s_.size()) {
      const size_t where = at_;
      const std::string name = parse_name("a rule name");
      skip_space();
      if (s_.compare(at_, 3, "::=") != 0) fail(at_, "expected '::=' after the rule name '" + name + "'");
      at_ += 3;
      const uint32_t id = rule_named(name, where);
      Draft& d = drafts_[id];
      if (d.defined) fail(where, "rule '" + name + "' is defined twice (first at " + position(d.where) + ")");
      d.defined = true;
      d.where = where;
      std::vector<Sequence> alternatives = parse_alternatives();
      if (at_ < s_.size() && s_[at_] == ')') fail(at_, "')' without a matching '('");
      drafts_[id].alternatives = std::move(alternatives);
    }
    for (const Draft& d : drafts_)
      if (d.origin == Origin::User && !d.defined) fail(d.where, "undefined rule '" + d.name + "'");
    auto root = names_.find(std::string(start_rule));
    if (root == names_.end())
      fail(0, "the grammar has no rule '" + std::string(start_rule) + "' (the rule that sentences start from)");
    check_left_recursion();
    return flatten(root->second);
  }

 private:
  enum class Origin { User, Group, Repeat };
  struct Draft {
    std::string name;
    Origin origin;
    size_t where;  // definition (or, until defined, first use; for generated rules, the operator)
    bool defined;
    std::vector<Sequence> alternatives;
  };

  std::string position(size_t offset) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(s_[i]) & 0xC0) != 0x80) {
        ++column;  // columns count characters, not bytes
      }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
  }
  [[noreturn]] void fail(size_t offset, const std::string& what) const {
    throw Error(ErrorCode::InvalidArgument, "grammar: " + position(offset) + ": " + what);
  }

  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  // Spaces, line breaks and comments.
  void skip_space() {
    while (at_ < s_.size()) {
      const char c = s_[at_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') ++at_;
      else if (c == '#') while (at_ < s_.size() && s_[at_] != '\n') ++at_;
      else break;
    }
  }

  std::string parse_name(const char* what) {
    const size_t begin = at_;
    while (at_ < s_.size() && name_char(s_[at_])) ++at_;
    if (at_ == begin) fail(begin, std::string("expected ") + what + ", found " + describe(begin));
    return std::string(s_.substr(begin, at_ - begin));
  }

  std::string describe(size_t at) const {
    if (at >= s_.size()) return "the end of the grammar";
    const unsigned char c = static_cast<unsigned char>(s_[at]);
    if (c < 0x20 || c == 0x7F) return "a control character";
    size_t n = 1;
    while (at + n < s_.size() && (static_cast<unsigned char>(s_[at + n]) & 0xC0) == 0x80) ++n;
    return "'" + std::string(s_.substr(at, n)) + "'";
  }

  // Whether a name followed by '::=' starts here: the next rule, which ends the current one.
  bool at_definition() const {
    size_t i = at_;
    while (i < s_.size() && name_char(s_[i])) ++i;
    if (i == at_) return false;
    while (i < s_.size() && (s_[i] == ' ' || s_[i] == '\t')) ++i;
    return s_.compare(i, 3, "::=") == 0;
  }

  uint32_t rule_named(const std::string& name, size_t where) {
    auto [it, added] = names_.emplace(name, static_cast<uint32_t>(drafts_.size()));
    if (added) drafts_.push_back({name, Origin::User, where, false, {}});
    return it->second;
  }
  uint32_t new_rule(Origin origin, size_t where, std::vector<Sequence> alternatives) {
    const uint32_t id = static_cast<uint32_t>(drafts_.size());
    drafts_.push_back({"", origin, where, true, std::move(alternatives)});
    return id;
  }

  // Alternatives up to ')', the next rule or the end; the caller checks what ended them.
  std::vector<Sequence> parse_alternatives() {
    std::vector<Sequence> alternatives;
    alternatives.push_back(parse_sequence());
    while (at_ < s_.size() && s_[at_] == '|') {
      ++at_;
      alternatives.push_back(parse_sequence());
    }
    return alternatives;
  }

  Sequence parse_sequence() {
    Sequence seq;
    size_t item = 0;        // where the last item (what a repetition repeats) begins in seq
    bool has_item = false;
    for (;;) {
      skip_space();
      if (at_ >= s_.size()) break;
      const char c = s_[at_];
      const size_t where = at_;
      if (c == '|' || c == ')') break;
      if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (!has_item) fail(where, std::string("'") + c + "' has nothing before it to repeat");
        size_t min = 0, max = SIZE_MAX;  // SIZE_MAX: no upper bound
        ++at_;
        if (c == '+') min = 1;
        else if (c == '?') max = 1;
        else if (c == '{') parse_bounds(where, min, max);
        repeat(seq, item, min, max, where);
        has_item = false;  // "x**" and "x*{2}" are errors, as in llama.cpp
        continue;
      }
      if (name_char(c) && at_definition()) break;  // the next rule begins
      item = seq.size();
      has_item = true;
      if (name_char(c)) {
        const std::string name = parse_name("a rule name");
        seq.push_back({Element::Rule, rule_named(name, where)});
      } else if (c == '"') {
        parse_literal(seq);
      } else if (c == '[') {
        seq.push_back({Element::Class, parse_class()});
      } else if (c == '.') {
        ++at_;
        seq.push_back({Element::Class, class_index(normalize({{0, kMaxCodePoint}}, false))});
      } else if (c == '(') {
        ++at_;
        std::vector<Sequence> alternatives = parse_alternatives();
        if (at_ >= s_.size() || s_[at_] != ')') fail(where, "'(' is never closed");
        ++at_;
        seq.push_back({Element::Rule, new_rule(Origin::Group, where, std::move(alternatives))});
      } else {
        fail(where, "unexpected " + describe(where));
      }
    }
    return seq;
  }

  // {m}, {m,}, {m,n} or {,n}; `at_` is just past '{'.
  void parse_bounds(size_t where, size_t& min, size_t& max) {
    auto number = [&](size_t& out) {
      const size_t begin = at_;
      out = 0;
      while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') {
        out = out * 10 + static_cast<size_t>(s_[at_++] - '0');
        if (out > 100000) fail(begin, "repetition count too large (at most 100000)");
      }
      return at_ > begin;
    };
    auto space = [&] { while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t')) ++at_; };
    space();
    const bool has_min = number(min);
    space();
    if (at_ < s_.size() && s_[at_] == ',') {
      ++at_;
      space();
      if (!number(max)) max = SIZE_MAX;
      space();
    } else {
      if (!has_min) fail(at_, "expected a repetition count in '{...}', found " + describe(at_));
      max = min;
    }
    if (at_ >= s_.size() || s_[at_] != '}') fail(where, "'{' of a repetition is never closed with '}'");
    ++at_;
    if (max < min) fail(where, "repetition {" + std::to_string(min) + "," + std::to_string(max) + "}: the maximum is below the minimum");
  }

  // Replaces seq[item...] by min copies of it followed by (max - min) nested optional ones, or
  // by a rule that repeats it any number of times.
  void repeat(Sequence& seq, size_t item, size_t min, size_t max, size_t where) {
    const Sequence x(seq.begin() + static_cast<std::ptrdiff_t>(item), seq.end());
    seq.resize(item);
    const size_t copies = max == SIZE_MAX ? min + 1 : max;
    if (copies * (x.size() + 2) + elements_written_ > kMaxElements)
      fail(where, "this repetition makes the grammar too large");
    elements_written_ += copies * (x.size() + 2);
    for (size_t i = 0; i < min; ++i) seq.insert(seq.end(), x.begin(), x.end());
    if (max == SIZE_MAX) {
      // star ::= x star | (empty): right recursion, which the matcher follows without growing.
      const uint32_t star = new_rule(Origin::Repeat, where, {});
      Sequence again = x;
      again.push_back({Element::Rule, star});
      drafts_[star].alternatives = {std::move(again), Sequence{}};
      seq.push_back({Element::Rule, star});
      return;
    }
    // opt_k ::= x opt_(k+1) | (empty), built from the innermost out.
    bool has_inner = false;
    uint32_t inner = 0;
    for (size_t i = min; i < max; ++i) {
      Sequence once = x;
      if (has_inner) once.push_back({Element::Rule, inner});
      inner = new_rule(Origin::Repeat, where, {std::move(once), Sequence{}});
      has_inner = true;
    }
    if (has_inner) seq.push_back({Element::Rule, inner});
  }

  // One character of a literal or class: an escape or a UTF-8 sequence.
  uint32_t parse_char(size_t context, const char* what) {
    const size_t where = at_;
    const unsigned char c = static_cast<unsigned char>(s_[at_]);
    if (c == '\\') {
      if (at_ + 1 >= s_.size()) fail(context, std::string("unterminated ") + what);
      const char e = s_[at_ + 1];
      at_ += 2;
      switch (e) {
        case 'n': return '\n';
        case 't': return '\t';
        case 'r': return '\r';
        case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': return static_cast<unsigned char>(e);
        case 'x': return parse_hex(where, 2);
        case 'u': return parse_hex(where, 4);
        case 'U': return parse_hex(where, 8);
        default: fail(where, "unknown escape '\\" + std::string(1, e) + "'");
      }
    }
    // UTF-8: the grammar's own text must be well-formed.
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || at_ + n > s_.size()) fail(where, "invalid UTF-8");
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t i = 1; i < n; ++i) {
      const unsigned char b = static_cast<unsigned char>(s_[at_ + i]);
      if ((b & 0xC0) != 0x80) fail(where, "invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < smallest[n] || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) fail(where, "invalid UTF-8");
    at_ += n;
    return cp;
  }

  uint32_t parse_hex(size_t where, int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i, ++at_) {
      const char h = at_ < s_.size() ? s_[at_] : '\0';
      const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) fail(where, "escape needs " + std::to_string(digits) + " hex digits");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    if (v > kMaxCodePoint) fail(where, "escape is above U+10FFFF");
    return v;
  }

  void parse_literal(Sequence& seq) {
    const size_t open = at_++;
    for (;;) {
      if (at_ >= s_.size() || s_[at_] == '\n' || s_[at_] == '\r')
        fail(open, "unterminated string literal (a line break inside one is written \\n)");
      if (s_[at_] == '"') break;
      const uint32_t cp = parse_char(open, "string literal");
      seq.push_back({Element::Class, class_index(normalize({{cp, cp}}, false))});
    }
    ++at_;
  }

  uint32_t parse_class() {
    const size_t open = at_++;
    const bool negate = at_ < s_.size() && s_[at_] == '^';
    if (negate) ++at_;
    Ranges ranges;
    for (;;) {
      if (at_ >= s_.size() || s_[at_] == '\n' || s_[at_] == '\r') fail(open, "unterminated character class");
      if (s_[at_] == ']') break;
      const size_t where = at_;
      const uint32_t lo = parse_char(open, "character class");
      uint32_t hi = lo;
      if (at_ + 1 < s_.size() && s_[at_] == '-' && s_[at_ + 1] != ']') {
        ++at_;
        hi = parse_char(open, "character class");
        if (hi < lo) fail(where, "character range ends before it starts");
      }
      ranges.push_back({lo, hi});
    }
    ++at_;
    return class_index(normalize(std::move(ranges), negate));
  }

  uint32_t class_index(Ranges ranges) {
    auto [it, added] = class_ids_.emplace(std::move(ranges), static_cast<uint32_t>(classes_.size()));
    if (added) classes_.push_back(it->first);
    return it->second;
  }

  // A rule reached again before reading a character would make the matcher expand forever.
  // Edges: A -> B when B can come first in A (after rules that can match empty text).
  void check_left_recursion() const {
    const size_t n = drafts_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Sequence& alt : drafts_[r].alternatives) {
          const bool empty = std::all_of(alt.begin(), alt.end(), [&](const Element& e) {
            return e.kind == Element::Rule && nullable[e.index];
          });
          if (empty) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<uint32_t>> first(n);
    for (size_t r = 0; r < n; ++r)
      for (const Sequence& alt : drafts_[r].alternatives)
        for (const Element& e : alt) {
          if (e.kind != Element::Rule) break;
          first[r].push_back(e.index);
          if (!nullable[e.index]) break;
        }
    // Depth-first search with an explicit path; a rule met again on the path closes a cycle.
    enum Mark : uint8_t { Unseen, OnPath, Done };
    std::vector<Mark> mark(n, Unseen);
    std::vector<std::pair<uint32_t, size_t>> path;  // rule, next edge to follow
    for (uint32_t root = 0; root < n; ++root) {
      if (mark[root] != Unseen) continue;
      path.push_back({root, 0});
      mark[root] = OnPath;
      while (!path.empty()) {
        auto& [r, next] = path.back();
        if (next == first[r].size()) {
          mark[r] = Done;
          path.pop_back();
          continue;
        }
        const uint32_t to = first[r][next++];
        if (mark[to] == OnPath) report_cycle(path, to);
        if (mark[to] == Unseen) {
          mark[to] = OnPath;
          path.push_back({to, 0});
        }
      }
    }
  }

  [[noreturn]] void report_cycle(const std::vector<std::pair<uint32_t, size_t>>& path, uint32_t to) const {
    size_t begin = 0;
    while (path[begin].first != to) ++begin;
    std::vector<uint32_t> cycle;
    for (size_t i = begin; i < path.size(); ++i) cycle.push_back(path[i].first);
    for (uint32_t r : cycle)
      if (drafts_[r].origin == Origin::Repeat)
        fail(drafts_[r].where, "the item repeated here can match empty text, so its repetition could go on forever");
    // Name the user's rules on the cycle, starting from the one defined first.
    std::vector<uint32_t> users;
    for (uint32_t r : cycle)
      if (drafts_[r].origin == Origin::User) users.push_back(r);
    const auto first_defined = std::min_element(users.begin(), users.end(), [&](uint32_t a, uint32_t b) {
      return drafts_[a].where < drafts_[b].where;
    });
    std::rotate(users.begin(), first_defined, users.end());
    std::string chain;
    for (uint32_t r : users) chain += drafts_[r].name + " -> ";
    chain += drafts_[users[0]].name;
    fail(drafts_[users[0]].where, "rule '" + drafts_[users[0]].name + "' is left-recursive (" + chain +
                                      " without reading a character); put the recursion after something that reads "
                                      "text, or use repetition such as expr ::= term (\"+\" term)*");
  }

  Compiled flatten(uint32_t start) {
    Compiled g;
    g.start = start;
    g.classes = std::move(classes_);
    // Generated rules are named after the user's rule they appear in, as "name-N".
    std::unordered_map<std::string, int> counts;
    std::vector<std::pair<size_t, uint32_t>> by_place;  // user rules by position
    for (uint32_t r = 0; r < drafts_.size(); ++r)
      if (drafts_[r].origin == Origin::User) by_place.push_back({drafts_[r].where, r});
    std::sort(by_place.begin(), by_place.end());
    for (uint32_t r = 0; r < drafts_.size(); ++r) {
      const Draft& d = drafts_[r];
      Grammar::Rule rule;
      if (d.origin == Origin::User) {
        rule.name = d.name;
      } else {
        auto it = std::upper_bound(by_place.begin(), by_place.end(), std::make_pair(d.where, UINT32_MAX));
        const std::string base = it == by_place.begin() ? "rule" : drafts_[std::prev(it)->second].name;
        rule.name = base + "-" + std::to_string(++counts[base]);
      }
      for (const Sequence& alt : d.alternatives) {
        rule.alternatives.push_back(static_cast<uint32_t>(g.elements.size()));
        g.elements.insert(g.elements.end(), alt.begin(), alt.end());
        g.elements.push_back({Element::End, 0});
      }
      g.rules.push_back(std::move(rule));
    }
    return g;
  }

  std::string_view s_;
  size_t at_ = 0;
  size_t elements_written_ = 0;
  std::vector<Draft> drafts_;
  std::unordered_map<std::string, uint32_t> names_;
  std::vector<Ranges> classes_;
  std::map<Ranges, uint32_t> class_ids_;
};

}  // namespace

struct Grammar::Data {
  Compiled g;
};

Grammar::Grammar(std::string_view gbnf, std::string_view start_rule)
    : data_(std::make_unique<Data>(Data{Parser(gbnf).parse(start_rule)})) {}
Grammar::~Grammar() = default;
Grammar::Grammar(Grammar&&) noexcept = default;
Grammar& Grammar::operator=(Grammar&&) noexcept = default;

const std::vector<Grammar::Element>& Grammar::elements() const { return data_->g.elements; }
const std::vector<Grammar::Rule>& Grammar::rules() const { return data_->g.rules; }
const std::vector<Grammar::Ranges>& Grammar::classes() const { return data_->g.classes; }
uint32_t Grammar::start() const { return data_->g.start; }

}  // namespace cria
