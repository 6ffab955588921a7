// GrammarMatcher: a lazily built automaton over bytes whose states are sets of parse stacks.
//
// A parse stack lists, from the top, the element to match next in the innermost rule and, below
// it, where each enclosing rule goes on once the inner one is done. Stacks are interned as
// frames (top position, the stack below) so that a stack is a number, pushing and popping cost
// nothing and equal stacks are equal numbers. A set of stacks is kept expanded: every stack's
// top is a character class, or the stack is empty (the sentence may end here). Reading a
// character keeps the stacks whose class holds it, moves each past its class and expands
// again. Characters that the same stacks' classes hold lead to the same set, so a set
// remembers its successors by which of its stacks a character fits: the thousands of
// characters of a vocabulary cost one expansion each kind, not each character.
//
// UTF-8 is decoded on the way: a state is a set and the part read of a character, and a state
// in the middle of a character lives only while some class holds a character it can become.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cria/error.hpp"
#include "cria/sampling/grammar.hpp"

namespace cria {

namespace {

// The part of a UTF-8 character read so far: its bits, how many bytes it has and how many are
// still to come, packed in one number (0: none).
struct Partial {
  uint32_t value = 0;
  uint32_t length = 0;
  uint32_t left = 0;
  uint32_t pack() const { return left == 0 ? 0 : value << 8 | length << 4 | left; }
  static Partial unpack(uint32_t p) { return {p >> 8, (p >> 4) & 0xF, p & 0xF}; }
  // The characters it can still become, within those its length encodes (an overlong or
  // too-large sequence gives lo > hi). The bounds are multiples of 64, so a range that
  // meets them once is inside them from the next byte on.
  void range(uint32_t& lo, uint32_t& hi) const {
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    lo = std::max(value << (6 * left), smallest[length]);
    hi = std::min(value << (6 * left) | ((1u << (6 * left)) - 1), 0x10FFFFu);
  }
};

bool intersects(const Grammar::Ranges& r, uint32_t lo, uint32_t hi) {
  auto it = std::lower_bound(r.begin(), r.end(), lo, [](const auto& x, uint32_t v) { return x.second < v; });
  return it != r.end() && it->first <= hi;
}

struct VectorHash {
  size_t operator()(const std::vector<uint32_t>& v) const {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ v.size();
    for (uint32_t x : v) h = (h ^ x) * 0x100000001b3ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

}  // namespace

struct GrammarMatcher::Impl {
  std::shared_ptr<const Grammar> grammar;
  const std::vector<Grammar::Element>& elements;
  const std::vector<Grammar::Rule>& rules;
  const std::vector<Grammar::Ranges>& classes;

  // Frames: (top position, stack below); frame 0 is the empty stack.
  std::vector<std::pair<uint32_t, uint32_t>> frames;
  std::unordered_map<uint64_t, uint32_t> frame_ids;

  struct Set {
    std::vector<uint32_t> stacks;   // sorted; 0 (the empty stack) first when present
    std::vector<uint32_t> classes;  // the class on top of each stack (none for the empty one)
    std::unordered_map<uint64_t, State> after;  // which stacks a character fits -> the state it leads to
  };
  std::vector<Set> sets;
  std::unordered_map<std::vector<uint32_t>, uint32_t, VectorHash> set_ids;

  // By unit of the step table (see steps_): the state whose row begins there, as (set, packed
  // partial character); units inside a row are (kNone, 0).
  static constexpr uint32_t kNone = UINT32_MAX;
  std::vector<std::pair<uint32_t, uint32_t>> by_unit;
  std::unordered_map<uint64_t, State> state_ids;
  size_t count = 0;

  // Expansion scratch: a stack expanded once per expansion, marked with the expansion's number.
  std::vector<uint32_t> seen;
  uint32_t expansion = 0;
  std::vector<uint32_t> todo, scratch;

  explicit Impl(std::shared_ptr<const Grammar> g)
      : grammar(std::move(g)), elements(grammar->elements()), rules(grammar->rules()), classes(grammar->classes()) {
    clear();
    std::vector<uint32_t> stacks;
    begin_expansion();
    for (uint32_t alt : rules[grammar->start()].alternatives) expand(push(alt, 0), stacks);
    state(set_of(stacks), 0);  // state 0: the start
  }

  void clear() {
    frames.assign(1, {0, 0});
    frame_ids.clear();
    sets.clear();
    set_ids.clear();
    by_unit.clear();
    state_ids.clear();
    count = 0;
    seen.clear();
  }

  // The stack with `pos` on top of `below`; a position at the end of its alternative adds no
  // frame (the rule is done), which keeps right recursion from growing the stack.
  uint32_t push(uint32_t pos, uint32_t below) {
    if (elements[pos].kind == Grammar::Element::End) return below;
    const uint64_t key = static_cast<uint64_t>(pos) << 32 | below;
    auto [it, added] = frame_ids.emplace(key, static_cast<uint32_t>(frames.size()));
    if (added) frames.push_back({pos, below});
    return it->second;
  }

  void begin_expansion() {
    if (++expansion == 0) {  // wrapped: forget old marks
      std::fill(seen.begin(), seen.end(), 0);
      expansion = 1;
    }
  }

  // Adds to `out` the stacks that `stack` stands for with every rule on top replaced by its
  // alternatives, until each top is a class (or the stack is empty). The grammar has no left
  // recursion, so this ends.
  void expand(uint32_t stack, std::vector<uint32_t>& out) {
    todo.push_back(stack);
    while (!todo.empty()) {
      const uint32_t s = todo.back();
      todo.pop_back();
      if (seen.size() < frames.size()) seen.resize(frames.size() * 2, 0);
      if (seen[s] == expansion) continue;
      seen[s] = expansion;
      if (s == 0) {
        out.push_back(0);
        continue;
      }
      const auto [pos, below] = frames[s];
      const Grammar::Element& e = elements[pos];
      if (e.kind == Grammar::Element::Class) {
        out.push_back(s);
        continue;
      }
      const uint32_t after = push(pos + 1, below);
      for (uint32_t alt : rules[e.index].alternatives) todo.push_back(push(alt, after));
    }
  }

  uint32_t set_of(std::vector<uint32_t>& stacks) {
    std::sort(stacks.begin(), stacks.end());
    auto it = set_ids.find(stacks);
    if (it != set_ids.end()) return it->second;
    Set s;
    s.stacks = stacks;
    for (uint32_t stack : stacks)
      if (stack != 0) s.classes.push_back(elements[frames[stack].first].index);
    sets.push_back(std::move(s));
    const uint32_t id = static_cast<uint32_t>(sets.size() - 1);
    set_ids.emplace(stacks, id);
    return id;
  }

  // The state's number: its row's first unit, twice, plus 1 inside a character.
  State state(uint32_t set, uint32_t partial) {
    const State id = static_cast<State>(by_unit.size() * 2 + (partial != 0 ? 1 : 0));
    auto [it, added] = state_ids.emplace(static_cast<uint64_t>(set) << 32 | partial, id);
    if (added) {
      by_unit.push_back({set, partial});
      if (partial == 0) by_unit.resize(by_unit.size() + 3, {kNone, 0});  // 256 steps: 4 units
      ++count;
    }
    return it->second;
  }

  bool has(State s) const {
    const size_t unit = static_cast<uint32_t>(s) >> 1;
    return s >= 0 && unit < by_unit.size() && by_unit[unit].first != kNone &&
           (by_unit[unit].second != 0) == ((s & 1) != 0);
  }
  std::pair<uint32_t, uint32_t> info(State s) const { return by_unit[static_cast<uint32_t>(s) >> 1]; }

  bool complete(State s) const {
    const auto [set, partial] = info(s);
    const std::vector<uint32_t>& stacks = sets[set].stacks;
    return partial == 0 && !stacks.empty() && stacks[0] == 0;
  }

  // The state after reading the character `cp` in set `set`.
  State read(uint32_t set, uint32_t cp) {
    const Set& from = sets[set];
    const size_t first = from.stacks.size() - from.classes.size();  // past the empty stack
    const bool cacheable = from.classes.size() <= 64;
    uint64_t fits = 0;
    if (cacheable) {
      for (size_t i = 0; i < from.classes.size(); ++i)
        if (intersects(classes[from.classes[i]], cp, cp)) fits |= uint64_t{1} << i;
      if (fits == 0) return kDead;
      auto known = from.after.find(fits);
      if (known != from.after.end()) return known->second;
    }
    scratch.clear();
    begin_expansion();
    for (size_t i = 0; i < from.classes.size(); ++i) {
      const bool fit = cacheable ? (fits >> i & 1) != 0 : intersects(classes[from.classes[i]], cp, cp);
      if (!fit) continue;
      const auto [pos, below] = frames[sets[set].stacks[first + i]];
      expand(push(pos + 1, below), scratch);
    }
    const State to = scratch.empty() ? kDead : state(set_of(scratch), 0);
    if (cacheable) sets[set].after.emplace(fits, to);  // `from` may have moved: set_of adds sets
    return to;
  }

  State step(State from, uint8_t byte) {
    const auto [set, packed] = info(from);
    Partial p = Partial::unpack(packed);
    if (p.left == 0) {
      if (byte < 0x80) return read(set, byte);
      if (byte >= 0xC2 && byte <= 0xDF) p = {byte & 0x1Fu, 2, 1};
      else if (byte >= 0xE0 && byte <= 0xEF) p = {byte & 0x0Fu, 3, 2};
      else if (byte >= 0xF0 && byte <= 0xF4) p = {byte & 0x07u, 4, 3};
      else return kDead;  // a continuation byte, or one UTF-8 never uses
    } else {
      if ((byte & 0xC0) != 0x80) return kDead;
      p.value = p.value << 6 | (byte & 0x3Fu);
      if (--p.left == 0) return read(set, p.value);  // valid: the range below held it
    }
    uint32_t lo, hi;
    p.range(lo, hi);
    if (lo > hi) return kDead;
    const std::vector<uint32_t>& tops = sets[set].classes;
    const bool possible =
        std::any_of(tops.begin(), tops.end(), [&](uint32_t c) { return intersects(classes[c], lo, hi); });
    return possible ? state(set, p.pack()) : kDead;
  }

  // A state's stacks as lists of positions, top first, so that they outlive clear().
  std::vector<std::vector<uint32_t>> write_out(State s) const {
    std::vector<std::vector<uint32_t>> list;
    for (uint32_t stack : sets[info(s).first].stacks) {
      std::vector<uint32_t> positions;
      for (; stack != 0; stack = frames[stack].second) positions.push_back(frames[stack].first);
      list.push_back(std::move(positions));
    }
    return list;
  }
  uint32_t read_in(const std::vector<std::vector<uint32_t>>& list) {
    std::vector<uint32_t> stacks;
    for (const std::vector<uint32_t>& positions : list) {
      uint32_t s = 0;
      for (auto pos = positions.rbegin(); pos != positions.rend(); ++pos) s = push(*pos, s);
      stacks.push_back(s);
    }
    return set_of(stacks);
  }
};

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) {
  if (!grammar) throw Error(ErrorCode::InvalidArgument, "GrammarMatcher: the grammar is null");
  impl_ = std::make_unique<Impl>(std::move(grammar));
  steps_.assign(impl_->by_unit.size() * 64, kUnknown);
}
GrammarMatcher::~GrammarMatcher() = default;
GrammarMatcher::GrammarMatcher(GrammarMatcher&&) noexcept = default;
GrammarMatcher& GrammarMatcher::operator=(GrammarMatcher&&) noexcept = default;

GrammarMatcher::State GrammarMatcher::step_first_time(State from, uint8_t byte) {
  if (!impl_->has(from))
    throw Error(ErrorCode::InvalidArgument, "GrammarMatcher::step: no state " + std::to_string(from));
  const State to = impl_->step(from, byte);
  steps_.resize(impl_->by_unit.size() * 64, kUnknown);  // rows for the states it added
  if ((from & 1) == 0) steps_[static_cast<size_t>(from >> 1) * 64 + byte] = to;
  else if ((byte & 0xC0) == 0x80) steps_[static_cast<size_t>(from >> 1) * 64 + (byte & 0x3F)] = to;
  return to;
}

GrammarMatcher::State GrammarMatcher::step(State from, std::string_view bytes) {
  for (char c : bytes) {
    from = step(from, static_cast<uint8_t>(c));
    if (from == kDead) break;
  }
  return from;
}

bool GrammarMatcher::complete(State state) const {
  return impl_->has(state) && impl_->complete(state);
}

size_t GrammarMatcher::state_count() const { return impl_->count; }

GrammarMatcher::State GrammarMatcher::trim(State keep) {
  Impl& m = *impl_;
  if (!m.has(keep))
    throw Error(ErrorCode::InvalidArgument, "GrammarMatcher::trim: no state " + std::to_string(keep));
  const std::vector<std::vector<uint32_t>> start = m.write_out(0), kept = m.write_out(keep);
  const uint32_t partial = m.info(keep).second;
  m.clear();
  m.state(m.read_in(start), 0);  // the start stays state 0
  const State s = m.state(m.read_in(kept), partial);
  steps_.assign(m.by_unit.size() * 64, kUnknown);
  return s;
}

}  // namespace cria
