// Fuzz target: the vocabulary readers (SentencePiece tokenizer.model, llama2.c tokenizer.bin,
// and the reader that picks by content), then a tokenizer over what they read, used once.
#include "cria/error.hpp"
#include "cria/tokenizer/tokenizer.hpp"
#include "cria/tokenizer/vocabulary.hpp"
#include "fuzz_input.hpp"

namespace {

void use(cria::Vocabulary vocab) {
  cria::Tokenizer tokenizer(std::move(vocab));
  cria::EncodeOptions special;
  special.parse_special = true;
  const std::vector<int32_t> ids = tokenizer.encode("Hello world <s> \xE2\x96\x81x \xff", special);
  tokenizer.decode(ids);
  cria::StreamDecoder stream(tokenizer);
  for (int32_t id : ids) stream.push(id);
  stream.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::as_file(data, size);
  for (int reader = 0; reader < 3; ++reader) {
    try {
      switch (reader) {
        case 0: use(cria::load_vocabulary_sentencepiece(path)); break;
        case 1: use(cria::load_vocabulary_llama2c(path)); break;
        default: use(cria::load_vocabulary(path)); break;
      }
    } catch (const cria::Error&) {
    }
  }
  return 0;
}
