// Encode throughput of cria's tokenizer against libsentencepiece's C++ API, in the same run,
// on the same text: a large mixed text (mostly English prose, some CJK, Cyrillic, emoji,
// digits, whitespace runs) and two pathological 1 MiB inputs (no spaces; one repeated
// character). Prints the median of several repetitions and the ratio, and checks that both
// produce the same ids.
//
// usage: cria_bench_tokenizer [--model FILE.model] [--mb N] [--reps N] [--smoke]
#include <sentencepiece_processor.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cria/tokenizer/tokenizer.hpp"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string mixed_text(size_t bytes, uint32_t seed) {
  static const char* words[] = {
      "the", "of", "and", "to", "in", "is", "was", "he", "for", "it", "with", "as", "his", "on",
      "be", "at", "by", "had", "are", "but", "from", "or", "have", "an", "they", "which", "one",
      "you", "were", "her", "all", "she", "there", "would", "their", "we", "him", "been", "has",
      "when", "who", "will", "more", "no", "if", "out", "so", "said", "what", "up", "its",
      "about", "into", "than", "them", "can", "only", "other", "new", "some", "could", "time",
      "Once", "upon", "a", "little", "girl", "named", "Lily", "went", "park", "happy", "dog",
      "tokenization", "transformer", "implementation", "extraordinary", "Wednesday", "1984",
      "3.14159", "don't", "it's", "e-mail", "(see", "below)", "\"quoted\"", "end.", "yes,",
      "naïve", "café", "Zürich", "straße", "привет", "мир", "日本語", "中文", "한국어", "😀",
      "👨‍👩‍👧", "→", "…"};
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(bytes + 64);
  while (s.size() < bytes) {
    const char* w = words[rng() % (sizeof words / sizeof words[0])];
    s += w;
    uint32_t r = rng() % 40;
    s += r == 0 ? "\n\n" : r <= 2 ? ".\n" : r == 4 ? ", " : r == 3 ? "  " : " ";
  }
  s.resize(bytes);
  // Do not cut a UTF-8 sequence in half at the end.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
  return s;
}

struct Result {
  double cria_s, sp_s;
  bool same;
  size_t n_ids;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Encodes `text` whole, or line by line when `per_line` (many short calls, as for prompts).
Result measure(const cria::Tokenizer& tok, const sentencepiece::SentencePieceProcessor& sp,
               const std::string& text, int reps, bool per_line) {
  cria::EncodeOptions opt;
  opt.add_bos = false;
  std::vector<double> tc, ts;
  std::vector<int32_t> a;
  std::vector<int> b;
  for (int r = 0; r < reps; ++r) {
    std::vector<std::string> lines;
    if (per_line) {
      size_t start = 0;
      while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
      }
    } else {
      lines.push_back(text);
    }
    sentencepiece::util::Status status;
    double t0 = now();
    a.clear();
    for (const std::string& l : lines) {
      std::vector<int32_t> x = tok.encode(l, opt);
      a.insert(a.end(), x.begin(), x.end());
    }
    double t1 = now();
    b.clear();
    std::vector<int> y;
    for (const std::string& l : lines) {
      status = sp.Encode(l, &y);
      if (!status.ok()) break;
      b.insert(b.end(), y.begin(), y.end());
    }
    double t2 = now();
    if (!status.ok()) {
      std::fprintf(stderr, "sentencepiece: %s\n", status.ToString().c_str());
      std::exit(1);
    }
    tc.push_back(t1 - t0);
    ts.push_back(t2 - t1);
  }
  bool same = a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  return {median(tc), median(ts), same, a.size()};
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  if (const char* d = std::getenv("CRIA_SHARED_DIR")) model = std::string(d) + "/models/llama2-tokenizer.model";
#ifdef CRIA_SHARED_DIR
  if (model.empty()) model = std::string(CRIA_SHARED_DIR) + "/models/llama2-tokenizer.model";
#endif
  double mb = 8;
  int reps = 5;
  double patho_mb = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--mb" && i + 1 < argc) mb = std::atof(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--smoke") { mb = 0.02; patho_mb = 0.01; reps = 1; }
    else {
      std::fprintf(stderr, "usage: %s [--model FILE.model] [--mb N] [--reps N] [--smoke]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  sentencepiece::SentencePieceProcessor sp;
  auto st = sp.Load(model);
  if (!st.ok()) {
    std::fprintf(stderr, "sentencepiece: cannot load %s: %s\n", model.c_str(), st.ToString().c_str());
    return 1;
  }
  cria::Tokenizer tok(cria::load_vocabulary(model));

  struct Case {
    const char* name;
    std::string text;
    bool per_line = false;
  };
  std::vector<Case> cases;
  cases.push_back({"mixed text", mixed_text(static_cast<size_t>(mb * 1048576), 42)});
  cases.push_back({"same, line by line", cases[0].text, true});
  size_t pn = static_cast<size_t>(patho_mb * 1048576);
  {
    std::mt19937 rng(7);
    std::string s(pn, 'a');
    for (char& c : s) c = static_cast<char>('a' + rng() % 26);
    cases.push_back({"no spaces (random letters)", std::move(s), false});
  }
  cases.push_back({"one repeated character", std::string(pn, 'a'), false});
  cases.push_back({"one repeated space", std::string(pn, ' '), false});

  std::printf("model %s, median of %d runs\n", model.c_str(), reps);
  std::printf("%-28s %10s %8s %12s %12s %8s %s\n", "input", "MiB", "ids", "cria MB/s",
              "sp MB/s", "ratio", "same ids");
  bool all_same = true;
  for (const Case& c : cases) {
    Result r = measure(tok, sp, c.text, reps, c.per_line);
    double mbytes = c.text.size() / 1e6;
    std::printf("%-28s %10.2f %8zu %12.2f %12.2f %7.2fx %s\n", c.name, c.text.size() / 1048576.0,
                r.n_ids, mbytes / r.cria_s, mbytes / r.sp_s, r.sp_s / r.cria_s,
                r.same ? "yes" : "NO");
    all_same &= r.same;
  }
  return all_same ? 0 : 1;
}
