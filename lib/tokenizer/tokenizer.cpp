// SentencePiece BPE (as used by Llama 2): normalization, encoding, decoding, streaming.
//
// Encoding follows SentencePiece's bpe_model.cc semantics exactly:
//  * normalization (identity rules): every space U+0020 becomes U+2581 "▁", a "▁" is put in
//    front when add_space_prefix is set, runs of spaces are collapsed and leading/trailing
//    spaces dropped when remove_extra_whitespaces is set, and every byte that does not start a
//    well-formed UTF-8 sequence becomes U+FFFD (one per byte);
//  * the text is split into characters, user-defined pieces being matched greedily (longest
//    first) and frozen;
//  * adjacent symbols are merged, the pair whose concatenation is a vocabulary piece with the
//    highest score first, ties going to the leftmost pair; a priority queue and a linked list
//    of symbols make this O(n log n);
//  * a resulting symbol that is not a piece becomes its UTF-8 bytes as <0xNN> pieces (byte
//    fallback) or, without byte pieces, the unknown id (consecutive unknowns collapse to one).
// When no piece has "▁" after another character (true of Llama 2), merges never cross the
// start of a space-prefixed word, so the normalized text is cut there into chunks that are
// encoded independently (and memoized within one call): the result is identical.
#include "cria/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <cstring>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/bytes.hpp"
#include "cria/io/utf8.hpp"
#include "tokenizer/vocab_util.hpp"

namespace cria {

namespace {

const char kSpace[] = "\xE2\x96\x81";  // U+2581
const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// How many bytes the sequence starting with b0 needs before its validity is decided.
inline size_t utf8_needed(uint8_t b0) {
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) return 2;
  if ((b0 & 0xF0) == 0xE0) return 3;
  if ((b0 & 0xF8) == 0xF0) return 4;
  return 1;
}

inline uint32_t decode_cp(const uint8_t* p, size_t len) {
  switch (len) {
    case 1: return p[0];
    case 2: return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    case 3: return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    default:
      return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
             (p[3] & 0x3Fu);
  }
}

// Length of the character at p in already-normalized (valid UTF-8) text.
inline size_t char_len(uint8_t b0) {
  if (b0 < 0x80) return 1;
  if (b0 < 0xE0) return 2;
  if (b0 < 0xF0) return 3;
  return 4;
}

inline uint64_t hash_bytes(const char* s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull ^ (n * 0x9E3779B97F4A7C15ull);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  uint64_t w = 0;
  std::memcpy(&w, s + i, n - i);
  h = (h ^ w) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 32;
  return h;
}

// Open-addressing map from a 64-bit key (never ~0) to an (int32, float) value.
class U64Map {
 public:
  struct Entry {
    uint64_t key;
    int32_t value;
    float score;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 2) cap <<= 1;
    slots_.assign(cap, Entry{kEmpty, 0, 0});
    mask_ = cap - 1;
    size_ = 0;
  }
  // Inserts unless present (the first insertion wins).
  void insert(uint64_t key, int32_t value, float score) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t i = slot(key);
    while (slots_[i].key != kEmpty) {
      if (slots_[i].key == key) return;
      i = (i + 1) & mask_;
    }
    slots_[i] = Entry{key, value, score};
    ++size_;
  }
  const Entry* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    size_t i = slot(key);
    while (true) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  size_t slot(uint64_t key) const {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h ^ (h >> 31)) & mask_;
  }
  void grow() {
    std::vector<Entry> old;
    old.swap(slots_);
    reserve(old.empty() ? 8 : old.size());
    for (const Entry& e : old)
      if (e.key != kEmpty) insert(e.key, e.value, e.score);
  }
  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Open-addressing map from piece text to the first id with that text.
class PieceMap {
 public:
  explicit PieceMap(const std::vector<std::string>* pieces = nullptr) : pieces_(pieces) {}
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 2) cap <<= 1;
    slots_.assign(cap, -1);
    mask_ = cap - 1;
  }
  void insert(int32_t id) {
    const std::string& s = (*pieces_)[id];
    size_t i = hash_bytes(s.data(), s.size()) & mask_;
    while (slots_[i] >= 0) {
      if ((*pieces_)[slots_[i]] == s) return;
      i = (i + 1) & mask_;
    }
    slots_[i] = id;
  }
  int32_t find(std::string_view s) const {
    if (slots_.empty()) return -1;
    size_t i = hash_bytes(s.data(), s.size()) & mask_;
    while (slots_[i] >= 0) {
      if ((*pieces_)[slots_[i]] == s) return slots_[i];
      i = (i + 1) & mask_;
    }
    return -1;
  }

 private:
  const std::vector<std::string>* pieces_;
  std::vector<int32_t> slots_;
  size_t mask_ = 0;
};

// Byte trie for greedy longest-prefix matching of a small set of pieces.
class Trie {
 public:
  bool empty() const { return nodes_.size() <= 1; }
  void clear() { nodes_.assign(1, Node{}); }
  void add(std::string_view s, int32_t id) {
    if (nodes_.empty()) nodes_.assign(1, Node{});
    int32_t n = 0;
    for (unsigned char c : s) {
      int32_t next = child(n, c);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_.push_back(Node{});
        nodes_[n].children.emplace_back(c, next);
      }
      n = next;
    }
    if (nodes_[n].id < 0) nodes_[n].id = id;  // the first piece with this text wins
  }
  // Longest match at the start of s: its length (0 for none) and id.
  size_t longest(const char* s, size_t n, int32_t* id) const {
    if (nodes_.empty()) return 0;
    int32_t node = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; ++i) {
      node = child(node, static_cast<unsigned char>(s[i]));
      if (node < 0) break;
      if (nodes_[node].id >= 0) {
        best = i + 1;
        *id = nodes_[node].id;
      }
    }
    return best;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t id = -1;
  };
  int32_t child(int32_t n, unsigned char c) const {
    for (const auto& ch : nodes_[n].children)
      if (ch.first == c) return ch.second;
    return -1;
  }
  std::vector<Node> nodes_;
};

bool is_mergeable_type(TokenType t) {
  // SentencePiece's "pieces_" map: what BPE merges may produce.
  return t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused;
}

}  // namespace

struct Tokenizer::Impl {
  Vocabulary vocab;
  int32_t n = 0;
  PieceMap mergeable{nullptr};  // normal, user-defined, unused
  PieceMap reserved{nullptr};   // control, unknown, byte (and undefined)
  std::vector<int32_t> out_id;  // for a mergeable id: the id SentencePiece's PieceToId gives
  int32_t ascii_key[128];
  U64Map char_keys;  // code point -> key (a piece id, or n + k for a bare character)
  U64Map pairs;      // (key, key) -> merged piece id and its score
  U64Map adjacent;   // (char key, char key) of characters side by side inside some piece
  int32_t byte_id[256];
  std::vector<int16_t> byte_value;  // per id: the byte of a BYTE piece, else -1
  std::vector<std::string> surface;  // per id: decode text of a normal piece (▁ as space)
  bool byte_fallback = false;
  bool has_unused = false;
  bool chunkable = true;
  Trie user_defined;
  Trie specials;

  explicit Impl(Vocabulary v);

  void normalize(std::string_view in, std::string& out) const;
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  struct Scratch;
  void bpe(const std::string& norm, size_t begin, size_t end, Scratch& sc,
           std::vector<int32_t>& out) const;
  void emit_unknown(std::string_view text, std::vector<int32_t>& out) const;
  void flush_bytes(std::string& bytes, std::string& out, bool final) const;
};

Tokenizer::Impl::Impl(Vocabulary v) : vocab(std::move(v)) {
  detail::validate_vocabulary("vocabulary", vocab);
  n = vocab.size();
  if (vocab.unk_id < 0)
    throw Error(ErrorCode::InvalidArgument, "vocabulary has no unknown-token id");
  const auto& P = vocab.pieces;
  mergeable = PieceMap(&vocab.pieces);
  reserved = PieceMap(&vocab.pieces);
  mergeable.reserve(P.size());
  reserved.reserve(P.size());
  for (int32_t id = 0; id < n; ++id) {
    if (P[id].empty()) continue;
    if (is_mergeable_type(vocab.types[id]))
      mergeable.insert(id);
    else
      reserved.insert(id);
  }
  out_id.assign(n, -1);
  byte_value.assign(n, -1);
  surface.assign(n, std::string());
  for (int b = 0; b < 256; ++b) byte_id[b] = -1;
  for (int32_t id = 0; id < n; ++id) {
    const TokenType t = vocab.types[id];
    if (t == TokenType::Byte) {
      int b = detail::byte_piece_value(P[id]);
      byte_value[id] = static_cast<int16_t>(b);
      byte_fallback = true;
      if (reserved.find(P[id]) == id && byte_id[b] < 0) byte_id[b] = id;
    }
    if (t == TokenType::Unused) has_unused = true;
    if (is_mergeable_type(t)) {
      int32_t r = reserved.find(P[id]);
      out_id[id] = r >= 0 ? r : id;
    }
    if (t == TokenType::UserDefined && !P[id].empty() && mergeable.find(P[id]) == id)
      user_defined.add(P[id], id);
    if ((t == TokenType::Control || t == TokenType::Unknown) && !P[id].empty())
      specials.add(P[id], id);
    if (t != TokenType::Control && t != TokenType::Unknown && t != TokenType::Byte) {
      std::string s;
      s.reserve(P[id].size());
      for (size_t i = 0; i < P[id].size();) {
        if (P[id].compare(i, 3, kSpace) == 0) {
          s += ' ';
          i += 3;
        } else {
          s += P[id][i++];
        }
      }
      surface[id] = std::move(s);
    }
  }
  for (int b = 0; b < 256; ++b)
    if (byte_id[b] < 0) byte_id[b] = vocab.unk_id;

  // Keys for characters: the piece id when the character is itself a mergeable piece, else a
  // fresh key above n when it occurs inside some mergeable piece, else none (it never merges).
  for (int c = 0; c < 128; ++c) ascii_key[c] = -1;
  char_keys.reserve(4096);
  adjacent.reserve(P.size() * 2);
  int32_t next_key = n;
  auto char_key_of = [&](const uint8_t* p, size_t len) -> int32_t {
    uint32_t cp = decode_cp(p, len);
    if (const U64Map::Entry* e = char_keys.find(cp)) return e->value;
    return -1;
  };
  // Pass 1: characters that are pieces.
  for (int32_t id = 0; id < n; ++id) {
    if (!is_mergeable_type(vocab.types[id]) || mergeable.find(P[id]) != id) continue;
    const auto* p = reinterpret_cast<const uint8_t*>(P[id].data());
    size_t len = io::utf8_sequence_length(p, P[id].size());
    if (len == 0 || len != P[id].size()) continue;
    char_keys.insert(decode_cp(p, len), id, 0);
  }
  // Pass 2: characters inside pieces; and the chunking property.
  for (int32_t id = 0; id < n; ++id) {
    if (!is_mergeable_type(vocab.types[id]) || mergeable.find(P[id]) != id) continue;
    const std::string& s = P[id];
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    bool prev_non_space = false;
    int32_t prev_key = -1;
    for (size_t i = 0; i < s.size();) {
      size_t len = io::utf8_sequence_length(p + i, s.size() - i);
      if (len == 0) break;  // not UTF-8: cannot arise from normalized text
      uint32_t cp = decode_cp(p + i, len);
      if (!char_keys.find(cp)) char_keys.insert(cp, next_key++, 0);
      const U64Map::Entry* ck = char_keys.find(cp);
      if (prev_key >= 0)
        adjacent.insert((static_cast<uint64_t>(prev_key) << 32) | static_cast<uint32_t>(ck->value), 0, 0);
      prev_key = ck->value;
      bool is_space = cp == 0x2581;
      if (is_space && prev_non_space) chunkable = false;
      prev_non_space = !is_space;
      i += len;
    }
  }
  for (int c = 0; c < 128; ++c) {
    uint8_t b = static_cast<uint8_t>(c);
    ascii_key[c] = char_key_of(&b, 1);
  }
  // Pair table: every split of every mergeable piece into two halves that can be symbols.
  pairs.reserve(P.size() * 4);
  auto key_of_text = [&](std::string_view s) -> int32_t {
    int32_t id = mergeable.find(s);
    if (id >= 0) return id;
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    size_t len = io::utf8_sequence_length(p, s.size());
    if (len != 0 && len == s.size()) return char_key_of(p, len);
    return -1;
  };
  for (int32_t id = 0; id < n; ++id) {
    if (!is_mergeable_type(vocab.types[id]) || mergeable.find(P[id]) != id) continue;
    const std::string& s = P[id];
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    for (size_t i = 0; i < s.size();) {
      size_t len = io::utf8_sequence_length(p + i, s.size() - i);
      if (len == 0) break;
      i += len;
      if (i >= s.size()) break;
      int32_t kl = key_of_text(std::string_view(s).substr(0, i));
      if (kl < 0) continue;
      int32_t kr = key_of_text(std::string_view(s).substr(i));
      if (kr < 0) continue;
      pairs.insert((static_cast<uint64_t>(kl) << 32) | static_cast<uint32_t>(kr), id,
                   vocab.scores[id]);
    }
  }
}

void Tokenizer::Impl::normalize(std::string_view in, std::string& out) const {
  out.clear();
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t size = in.size();
  const bool rm = vocab.remove_extra_whitespaces;
  size_t i = 0;
  if (rm)
    while (i < size && p[i] == ' ') ++i;
  if (i == size) return;
  out.reserve(size + size / 4 + 8);
  if (vocab.add_space_prefix) out.append(kSpace, 3);
  bool prev_space = rm;
  while (i < size) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      if (c == ' ') {
        if (!(rm && prev_space)) out.append(kSpace, 3);
        prev_space = rm;
      } else {
        out.push_back(static_cast<char>(c));
        prev_space = false;
      }
      ++i;
      continue;
    }
    size_t len = io::utf8_sequence_length(p + i, size - i);
    if (len == 0) {
      out.append(kReplacement, 3);
      ++i;
    } else {
      out.append(in.data() + i, len);
      i += len;
    }
    prev_space = false;
  }
  if (rm)
    while (out.size() >= 3 && out.compare(out.size() - 3, 3, kSpace) == 0) out.resize(out.size() - 3);
}

struct Tokenizer::Impl::Scratch {
  struct Symbol {
    int32_t key;
    int32_t prev;
    int32_t next;
    uint32_t start;  // byte offset in the normalized text
    uint32_t len;    // 0 once merged into its left neighbour
    int32_t node;    // resegmentation tree node (only with unused pieces)
    bool frozen;
  };
  struct Candidate {
    float score;
    int32_t left;
    int32_t right;
    uint32_t size;
    int32_t merged;
  };
  struct Worse {
    bool operator()(const Candidate& a, const Candidate& b) const {
      if (a.score != b.score) return a.score < b.score;
      return a.left > b.left;
    }
  };
  struct Node {
    int32_t key;
    int32_t left;
    int32_t right;
    uint32_t start;
    uint32_t len;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<Node> nodes;
};

void Tokenizer::Impl::emit_unknown(std::string_view text, std::vector<int32_t>& out) const {
  int32_t r = reserved.find(text);
  if (r >= 0 && vocab.types[r] != TokenType::Unknown) {
    out.push_back(r);
    return;
  }
  if (byte_fallback) {
    for (unsigned char b : text) out.push_back(byte_id[b]);
  } else {
    out.push_back(vocab.unk_id);  // runs are collapsed by the caller
  }
}

void Tokenizer::Impl::bpe(const std::string& norm, size_t begin, size_t end, Scratch& sc,
                          std::vector<int32_t>& out) const {
  using Symbol = Scratch::Symbol;
  using Candidate = Scratch::Candidate;
  auto& sym = sc.symbols;
  auto& heap = sc.heap;
  sym.clear();
  heap.clear();
  if (has_unused) sc.nodes.clear();
  const char* s = norm.data();
  const auto* u = reinterpret_cast<const uint8_t*>(s);
  const bool has_user = !user_defined.empty();
  for (size_t i = begin; i < end;) {
    Symbol x;
    x.frozen = false;
    x.node = -1;
    size_t len = 0;
    if (has_user) {
      int32_t id = -1;
      len = user_defined.longest(s + i, end - i, &id);
      if (len) {
        x.key = id;
        x.frozen = true;
      }
    }
    if (!len) {
      const uint8_t c = u[i];
      if (c < 0x80) {
        len = 1;
        x.key = ascii_key[c];
      } else {
        len = std::min(char_len(c), end - i);
        const U64Map::Entry* e = char_keys.find(decode_cp(u + i, len));
        x.key = e ? e->value : -1;
      }
    }
    x.start = static_cast<uint32_t>(i);
    x.len = static_cast<uint32_t>(len);
    x.prev = static_cast<int32_t>(sym.size()) - 1;
    x.next = static_cast<int32_t>(sym.size()) + 1;
    if (has_unused) {
      x.node = static_cast<int32_t>(sc.nodes.size());
      sc.nodes.push_back({x.key, -1, -1, x.start, x.len});
    }
    sym.push_back(x);
    i += len;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const Symbol& a = sym[l];
    const Symbol& b = sym[r];
    if (a.frozen || b.frozen || a.key < 0 || b.key < 0) return;
    const U64Map::Entry* e =
        pairs.find((static_cast<uint64_t>(a.key) << 32) | static_cast<uint32_t>(b.key));
    if (!e) return;
    heap.push_back(Candidate{e->score, l, r, a.len + b.len, e->value});
    std::push_heap(heap.begin(), heap.end(), Scratch::Worse{});
  };
  auto merge_queue = [&]() {
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), Scratch::Worse{});
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& a = sym[top.left];
      Symbol& b = sym[top.right];
      if (a.len == 0 || b.len == 0 || a.len + b.len != top.size) continue;  // stale
      a.key = top.merged;
      a.len += b.len;
      a.next = b.next;
      a.frozen = false;
      if (b.next >= 0) sym[b.next].prev = top.left;
      b.len = 0;
      if (has_unused) {
        int32_t node = static_cast<int32_t>(sc.nodes.size());
        sc.nodes.push_back({top.merged, a.node, b.node, a.start, a.len});
        a.node = node;
      }
      try_add(a.prev, top.left);
      try_add(top.left, a.next);
    }
  };
  // Where no piece holds the two characters side by side, no merge can ever cross: the runs
  // between such places are merged independently, each with its own (small) queue.
  const int32_t count = static_cast<int32_t>(sym.size());
  for (int32_t seg = 0; seg < count;) {
    int32_t seg_end = seg + 1;
    while (seg_end < count) {
      const Symbol& a = sym[seg_end - 1];
      const Symbol& b = sym[seg_end];
      if (a.key < 0 || b.key < 0 || a.frozen || b.frozen ||
          !adjacent.find((static_cast<uint64_t>(a.key) << 32) | static_cast<uint32_t>(b.key)))
        break;
      ++seg_end;
    }
    for (int32_t k = seg + 1; k < seg_end; ++k) try_add(k - 1, k);
    merge_queue();
    seg = seg_end;
  }

  // Emits a node, undoing merges that produced unused pieces (SentencePiece's resegment).
  auto emit_node = [&](auto& self, int32_t key, int32_t node, uint32_t start, uint32_t len) -> void {
    if (key >= 0 && key < n) {
      int32_t id = out_id[key];
      if (has_unused && vocab.types[id] == TokenType::Unused && node >= 0 &&
          sc.nodes[node].left >= 0) {
        const Scratch::Node nd = sc.nodes[node];
        const Scratch::Node l = sc.nodes[nd.left];
        const Scratch::Node r = sc.nodes[nd.right];
        self(self, l.key, nd.left, l.start, l.len);
        self(self, r.key, nd.right, r.start, r.len);
        return;
      }
      out.push_back(id);
      return;
    }
    emit_unknown(std::string_view(s + start, len), out);
  };
  for (int32_t k = 0; k != -1; k = sym[k].next)
    emit_node(emit_node, sym[k].key, sym[k].node, sym[k].start, sym[k].len);
}

void Tokenizer::Impl::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  if (text.size() > 0x7FFFFFF0u)
    throw Error(ErrorCode::InvalidArgument, "tokenizer: text larger than 2 GiB");
  std::string norm;
  normalize(text, norm);
  if (norm.empty()) return;
  if (norm.size() > 0xFFFFFFF0u)
    throw Error(ErrorCode::InvalidArgument, "tokenizer: normalized text larger than 4 GiB");
  const size_t first = out.size();
  Scratch sc;
  if (!chunkable) {
    bpe(norm, 0, norm.size(), sc, out);
  } else {
    // Chunks start at every "▁" that follows another character.
    const bool memo = norm.size() >= 512;
    std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
    std::vector<int32_t> cached;
    const char* s = norm.data();
    const size_t size = norm.size();
    size_t begin = 0;
    auto run = [&](size_t b, size_t e) {
      if (!memo || e - b > 64) {
        bpe(norm, b, e, sc, out);
        return;
      }
      std::string_view key(s + b, e - b);
      auto it = cache.find(key);
      if (it != cache.end()) {
        out.insert(out.end(), cached.begin() + it->second.first,
                   cached.begin() + it->second.first + it->second.second);
        return;
      }
      size_t before = out.size();
      bpe(norm, b, e, sc, out);
      if (cache.size() < (1u << 16)) {
        cache.emplace(key, std::make_pair(static_cast<uint32_t>(cached.size()),
                                          static_cast<uint32_t>(out.size() - before)));
        cached.insert(cached.end(), out.begin() + before, out.end());
      }
    };
    size_t i = 0;
    while (i < size) {
      const uint8_t c = static_cast<uint8_t>(s[i]);
      if (c == 0xE2 && i + 3 <= size && s[i + 1] == '\x96' && s[i + 2] == '\x81') {
        // A "▁": starts a chunk unless it follows another "▁" (or is at the start).
        if (i > begin && !(i >= 3 && std::memcmp(s + i - 3, kSpace, 3) == 0)) {
          run(begin, i);
          begin = i;
        }
        i += 3;
      } else {
        i += char_len(c);
      }
    }
    if (begin < size) run(begin, size);
  }
  if (!byte_fallback) {
    // SentencePiece merges runs of unknown pieces into one.
    size_t w = first;
    for (size_t r = first; r < out.size(); ++r) {
      if (out[r] == vocab.unk_id && w > first && out[w - 1] == vocab.unk_id) continue;
      out[w++] = out[r];
    }
    out.resize(w);
  }
}

void Tokenizer::Impl::flush_bytes(std::string& bytes, std::string& out, bool final) const {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  size_t i = 0;
  while (i < size) {
    if (!final && size - i < utf8_needed(p[i])) break;  // may still complete
    size_t len = io::utf8_sequence_length(p + i, size - i);
    if (len == 0) {
      out.append(kReplacement, 3);
      ++i;
    } else {
      out.append(bytes, i, len);
      i += len;
    }
  }
  bytes.erase(0, i);
}

Tokenizer::Tokenizer(Vocabulary vocab) : impl_(std::make_unique<Impl>(std::move(vocab))) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (options.add_bos && m.vocab.bos_id >= 0) out.push_back(m.vocab.bos_id);
  if (options.parse_special && !m.specials.empty()) {
    size_t seg = 0;
    for (size_t i = 0; i < text.size();) {
      int32_t id = -1;
      size_t len = m.specials.longest(text.data() + i, text.size() - i, &id);
      if (len == 0) {
        ++i;
        continue;
      }
      m.encode_text(text.substr(seg, i - seg), out);
      out.push_back(id);
      i += len;
      seg = i;
    }
    m.encode_text(text.substr(seg), out);
  } else {
    m.encode_text(text, out);
  }
  if (options.add_eos && m.vocab.eos_id >= 0) out.push_back(m.vocab.eos_id);
  return out;
}

std::string Tokenizer::decode(const int32_t* ids, size_t count) const {
  const Impl& m = *impl_;
  std::string out;
  std::string bytes;
  bool is_bos_ws = true;
  bool bos_ws_seen = false;
  const bool strip = m.vocab.add_space_prefix || m.vocab.remove_extra_whitespaces;
  for (size_t k = 0; k < count; ++k) {
    const int32_t id = ids[k];
    if (id < 0 || id >= m.n)
      throw Error(ErrorCode::InvalidArgument,
                  "decode: token id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(m.n));
    if (m.byte_value[id] >= 0) {
      bytes.push_back(static_cast<char>(m.byte_value[id]));
      continue;
    }
    if (!bytes.empty()) m.flush_bytes(bytes, out, true);
    if (bos_ws_seen || !out.empty()) is_bos_ws = false;
    const TokenType t = m.vocab.types[id];
    if (t == TokenType::Control) {
      bos_ws_seen = false;
    } else if (t == TokenType::Unknown) {
      out += m.vocab.unk_surface;
      bos_ws_seen = false;
    } else {
      const std::string& s = m.surface[id];
      bool consumed = is_bos_ws && strip && m.vocab.pieces[id].compare(0, 3, kSpace) == 0;
      out.append(s, consumed ? 1 : 0, std::string::npos);
      // With remove_extra_whitespaces SentencePiece drops every leading space piece.
      bos_ws_seen = consumed && !m.vocab.remove_extra_whitespaces;
    }
  }
  if (!bytes.empty()) m.flush_bytes(bytes, out, true);
  return out;
}

int32_t Tokenizer::n_vocab() const { return impl_->n; }
int32_t Tokenizer::bos_id() const { return impl_->vocab.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->vocab.eos_id; }
const Vocabulary& Tokenizer::vocabulary() const { return impl_->vocab; }

const std::string& Tokenizer::piece(int32_t id) const {
  if (id < 0 || id >= impl_->n)
    throw Error(ErrorCode::InvalidArgument,
                "token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(impl_->n));
  return impl_->vocab.pieces[id];
}

// ---------------------------------------------------------------------------------------------
// StreamDecoder: the decode() state machine, one id at a time. Byte pieces wait in `pending_`
// only until the UTF-8 sequence they start is decided (at most 3 bytes), so push() is O(1)
// amortized plus the length of the text it returns.
// ---------------------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

std::string StreamDecoder::push(int32_t id) {
  const Tokenizer::Impl& m = *tokenizer_->impl_;
  if (id < 0 || id >= m.n)
    throw Error(ErrorCode::InvalidArgument,
                "decode: token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(m.n));
  std::string out;
  if (m.byte_value[id] >= 0) {
    pending_.push_back(static_cast<char>(m.byte_value[id]));
    m.flush_bytes(pending_, out, false);
    any_output_ |= !out.empty();
    return out;
  }
  if (!pending_.empty()) m.flush_bytes(pending_, out, true);
  any_output_ |= !out.empty();
  if (bos_ws_seen_ || any_output_) is_bos_ws_ = false;
  const TokenType t = m.vocab.types[id];
  if (t == TokenType::Control) {
    bos_ws_seen_ = false;
  } else if (t == TokenType::Unknown) {
    out += m.vocab.unk_surface;
    bos_ws_seen_ = false;
  } else {
    const bool strip = m.vocab.add_space_prefix || m.vocab.remove_extra_whitespaces;
    const std::string& s = m.surface[id];
    bool consumed = is_bos_ws_ && strip && m.vocab.pieces[id].compare(0, 3, kSpace) == 0;
    out.append(s, consumed ? 1 : 0, std::string::npos);
    bos_ws_seen_ = consumed && !m.vocab.remove_extra_whitespaces;
  }
  any_output_ |= !out.empty();
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  if (!pending_.empty()) tokenizer_->impl_->flush_bytes(pending_, out, true);
  pending_.clear();
  is_bos_ws_ = true;
  bos_ws_seen_ = false;
  any_output_ = false;
  return out;
}

std::string StreamDecoder::state() const {
  std::string out;
  io::ByteWriter w(out);
  w.bytes(pending_);
  w.u8(static_cast<uint8_t>(is_bos_ws_ | bos_ws_seen_ << 1 | any_output_ << 2));
  return out;
}

void StreamDecoder::set_state(std::string_view state) {
  io::ByteReader in(state, "text decoder state");
  const std::string_view pending = in.bytes();
  const uint8_t flags = in.u8();
  if (in.remaining() != 0 || flags > 7 || pending.size() > 16) in.fail("it is not a decoder's state");
  pending_.assign(pending);
  is_bos_ws_ = flags & 1;
  bos_ws_seen_ = flags & 2;
  any_output_ = flags & 4;
}

}  // namespace cria
