// The grammar sampler stage. Which tokens may come next is found by walking a byte trie of the
// vocabulary's token texts together with the grammar matcher: a prefix shared by many tokens
// is stepped once, a prefix the grammar refuses prunes every token below it, and the matcher
// remembers its steps, so that a walk is mostly table lookups. The answer depends on the
// matcher's state only and is kept for the last states met, so that text that keeps coming
// back to a state (the characters of a string) costs a walk once.
#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/bytes.hpp"
#include "cria/sampling/grammar.hpp"
#include "cria/sampling/sampler.hpp"
#include "cria/tokenizer/tokenizer.hpp"
#include "tokenizer/vocab_util.hpp"

namespace cria {

namespace {

// The text a token adds, as the matcher reads it; empty for tokens that are never allowed.
std::string token_text(const Vocabulary& v, size_t id) {
  const std::string& piece = v.pieces[id];
  switch (v.types[id]) {
    case TokenType::Byte: {
      const int b = detail::byte_piece_value(piece);
      return b < 0 ? std::string() : std::string(1, static_cast<char>(b));
    }
    case TokenType::Normal:
    case TokenType::UserDefined: {
      static const std::string kSpace = "\xE2\x96\x81";  // "▁"
      std::string text;
      for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, kSpace.size(), kSpace) == 0) {
          text += ' ';
          i += kSpace.size();
        } else {
          text += piece[i++];
        }
      }
      return text;
    }
    default:
      return std::string();  // control, unknown, unused
  }
}

std::vector<std::string> token_texts(const Vocabulary& v) {
  std::vector<std::string> texts(v.pieces.size());
  for (size_t id = 0; id < texts.size(); ++id) texts[id] = token_text(v, id);
  return texts;
}

// The tokens' texts as a trie laid out in depth-first order, so that a walk reads it front to
// back and skips a refused subtree by jumping to its end.
class TokenTrie {
 public:
  struct Node {
    uint32_t end;     // the index just past this node's subtree
    uint32_t tokens;  // its tokens are token_ids[tokens, next node's tokens)
    uint16_t depth;   // 1 for the first byte of a text
    uint8_t byte;
  };

  // `by_id`: each token's text; empty ones are left out.
  explicit TokenTrie(const std::vector<std::string>& by_id) {
    std::vector<std::pair<std::string_view, int32_t>> texts;
    for (size_t id = 0; id < by_id.size(); ++id)
      if (!by_id[id].empty() && by_id[id].size() < 0xFFFF) texts.push_back({by_id[id], static_cast<int32_t>(id)});
    std::sort(texts.begin(), texts.end());
    // In sorted order a text shares its first lcp bytes with the previous one; its other
    // bytes are new nodes, and it ends at the last node added (equal texts share a node).
    std::vector<uint32_t> open;  // the path to the last node, by depth - 1
    const std::string_view* previous = nullptr;
    for (const auto& [text, id] : texts) {
      size_t lcp = 0;
      if (previous)
        while (lcp < previous->size() && lcp < text.size() && (*previous)[lcp] == text[lcp]) ++lcp;
      for (size_t d = lcp; d < open.size(); ++d) nodes_[open[d]].end = static_cast<uint32_t>(nodes_.size());
      open.resize(lcp);
      for (size_t d = lcp; d < text.size(); ++d) {
        open.push_back(static_cast<uint32_t>(nodes_.size()));
        nodes_.push_back({0, static_cast<uint32_t>(ids_.size()), static_cast<uint16_t>(d + 1), static_cast<uint8_t>(text[d])});
      }
      ids_.push_back(id);
      max_depth_ = std::max(max_depth_, text.size());
      previous = &text;
    }
    for (uint32_t n : open) nodes_[n].end = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back({0, static_cast<uint32_t>(ids_.size()), 0, 0});  // a sentinel: the last node's tokens end here
  }

  // Sets the bits of the tokens whose text the matcher can read from `from` (bit id % 64 of
  // word id / 64).
  void walk(GrammarMatcher& matcher, GrammarMatcher::State from, std::vector<uint64_t>& allowed) {
    path_.resize(max_depth_ + 1);
    path_[0] = from;
    const Node* nodes = nodes_.data();
    const int32_t* ids = ids_.data();
    const size_t n = nodes_.size() - 1;
    // The last state stepped to stays in a register for the next node, usually its child.
    GrammarMatcher::State last = from;
    uint16_t last_depth = 0;
    for (size_t i = 0; i < n;) {
      const Node& node = nodes[i];
      const GrammarMatcher::State parent = node.depth == last_depth + 1 ? last : path_[node.depth - 1];
      const GrammarMatcher::State s = matcher.step(parent, node.byte);
      if (s == GrammarMatcher::kDead) {
        i = node.end;
        continue;
      }
      path_[node.depth] = last = s;
      last_depth = node.depth;
      for (uint32_t t = node.tokens; t < nodes[i + 1].tokens; ++t)
        allowed[static_cast<size_t>(ids[t]) / 64] |= uint64_t{1} << (ids[t] % 64);
      ++i;
    }
  }

 private:
  std::vector<Node> nodes_;
  std::vector<int32_t> ids_;
  size_t max_depth_ = 0;
  std::vector<GrammarMatcher::State> path_;  // the matcher's state at each depth of the walk
};

class GrammarStage final : public SamplerStage {
 public:
  GrammarStage(std::shared_ptr<const Grammar> grammar, const Tokenizer& tokenizer)
      : matcher_(std::move(grammar)), texts_(token_texts(tokenizer.vocabulary())), trie_(texts_),
        eos_(tokenizer.eos_id()), state_(matcher_.start()) {}

  const char* name() const override { return "grammar"; }

  void apply(Candidates& c) override {
    trim();
    const std::vector<uint64_t>& allowed = allowed_from(state_);
    if (std::all_of(allowed.begin(), allowed.end(), [](uint64_t w) { return w == 0; }))
      throw Error(ErrorCode::InvalidState,
                  "grammar: no token of the vocabulary can continue the text here (the vocabulary lacks the "
                  "characters the grammar needs next)");
    // Removing (not banning) keeps the order, so `sorted` stays true; the probabilities no
    // longer sum to p_total.
    auto refused = [&](const Candidates::Candidate& x) {
      const size_t id = static_cast<size_t>(x.id);
      return x.id < 0 || id >= texts_.size() || (allowed[id / 64] >> (id % 64) & 1) == 0;
    };
    c.items.erase(std::remove_if(c.items.begin(), c.items.end(), refused), c.items.end());
    c.normalized = false;
    if (c.items.empty())
      throw Error(ErrorCode::InvalidState, "grammar: none of the candidates left by the stages before it fits the grammar");
    sampled_ = true;
  }

  void accept(int32_t token) override {
    if (!sampled_) return;  // context (a prompt), not part of the sentence
    sampled_ = false;
    trim();
    state_ = advance(state_, token);
    tokens_.push_back(token);
  }

  void reset() override {
    state_ = matcher_.start();
    tokens_.clear();
    sampled_ = false;
  }

  std::string state() const override {
    std::string out;
    io::ByteWriter w(out);
    w.u8(sampled_ ? 1 : 0);
    w.u64(tokens_.size());
    for (int32_t t : tokens_) w.i32(t);
    return out;
  }

  void set_state(std::string_view bytes) override {
    io::ByteReader in(bytes, "grammar stage state");
    const uint8_t sampled = in.u8();
    const uint64_t n = in.u64();
    if (sampled > 1) in.fail("its flag is neither 0 nor 1");
    if (n > in.remaining() / 4) in.fail("it holds fewer tokens than it counts");
    std::vector<int32_t> tokens(static_cast<size_t>(n));
    for (int32_t& t : tokens) t = in.i32();
    if (in.remaining() != 0) in.fail("it has bytes left over");
    GrammarMatcher::State s = matcher_.start();
    for (int32_t t : tokens) s = advance(s, t);  // throws, changing nothing, for a stray token
    state_ = s;
    tokens_ = std::move(tokens);
    sampled_ = sampled != 0;
  }

 private:
  // The state after `token`; throws InvalidArgument when the grammar does not allow it.
  GrammarMatcher::State advance(GrammarMatcher::State from, int32_t token) {
    if (token < 0 || static_cast<size_t>(token) >= texts_.size())
      throw Error(ErrorCode::InvalidArgument, "grammar: token " + std::to_string(token) + " is outside the vocabulary");
    if (token == eos_) {
      if (matcher_.complete(from)) return from;  // the sentence ends; it stays whole
      throw Error(ErrorCode::InvalidArgument, "grammar: end of sequence before the grammar's sentence is complete");
    }
    const GrammarMatcher::State to =
        texts_[static_cast<size_t>(token)].empty() ? GrammarMatcher::kDead : matcher_.step(from, texts_[static_cast<size_t>(token)]);
    if (to == GrammarMatcher::kDead)
      throw Error(ErrorCode::InvalidArgument,
                  "grammar: token " + std::to_string(token) + " does not continue the grammar's sentence here");
    return to;
  }

  // The tokens allowed in state `s`, as bits by id. They depend on the state only, and text
  // often comes back to a state (inside a string, each ordinary character leads back to the
  // same one), so the last states' sets are kept.
  const std::vector<uint64_t>& allowed_from(GrammarMatcher::State s) {
    auto known = allowed_by_state_.find(s);
    if (known != allowed_by_state_.end()) return known->second;
    constexpr size_t kMaxKept = 64;  // 4 KiB each for Llama 2's vocabulary
    if (allowed_by_state_.size() >= kMaxKept) allowed_by_state_.clear();
    std::vector<uint64_t> bits((texts_.size() + 63) / 64, 0);
    trie_.walk(matcher_, s, bits);
    if (eos_ >= 0 && static_cast<size_t>(eos_) < texts_.size() && matcher_.complete(s))
      bits[static_cast<size_t>(eos_) / 64] |= uint64_t{1} << (eos_ % 64);
    return allowed_by_state_.emplace(s, std::move(bits)).first->second;
  }

  // The matcher's tables grow with the states it meets; past a bound they start over from
  // the current state (renumbering it), so that a long generation keeps bounded memory.
  void trim() {
    constexpr size_t kMaxTableBytes = size_t{8} << 20;
    if (matcher_.table_bytes() <= kMaxTableBytes) return;
    state_ = matcher_.trim(state_);
    allowed_by_state_.clear();
  }

  GrammarMatcher matcher_;
  std::vector<std::string> texts_;  // by token id
  TokenTrie trie_;
  int32_t eos_;
  std::unordered_map<GrammarMatcher::State, std::vector<uint64_t>> allowed_by_state_;
  GrammarMatcher::State state_;
  std::vector<int32_t> tokens_;  // the sentence's tokens since reset
  bool sampled_ = false;         // apply ran since the last accept: the next token is output
};

}  // namespace

std::unique_ptr<SamplerStage> grammar_stage(std::shared_ptr<const Grammar> grammar, const Tokenizer& tokenizer) {
  if (!grammar) throw Error(ErrorCode::InvalidArgument, "grammar_stage: the grammar is null");
  return std::make_unique<GrammarStage>(std::move(grammar), tokenizer);
}

}  // namespace cria
