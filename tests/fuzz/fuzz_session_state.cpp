// Fuzz target: saved session states, loaded into a session of stories260K with a sampler of
// every stage that keeps state. A state that loads must leave a session that goes on.
#include <memory>

#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "cria/sampling/sampler.hpp"
#include "fuzz_input.hpp"

namespace {

cria::SamplerParams sampling() {
  cria::SamplerParams p;
  p.temperature = 0.9f;
  p.seed = 1;
  p.repeat_penalty = 1.1f;
  p.mirostat = 2;
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<cria::Model> model = [] {
    cria::LoadOptions o;
    o.n_threads = 1;
    return cria::Model::load(fuzz::shared_dir() + "/models/stories260K.gguf", o);
  }();
  cria::SessionOptions options;
  options.context_length = 64;
  cria::Session session(*model, options);
  cria::Sampler sampler(sampling());
  try {
    session.load_state(std::string_view(reinterpret_cast<const char*>(data), size), &sampler);
  } catch (const cria::Error&) {
    return 0;
  }
  // Loaded: the session goes on (sampling needs logits; a full context is an error).
  try {
    if (session.has_logits()) {
      const int32_t t = sampler.sample(session.logits().data(), static_cast<int64_t>(session.logits().size()));
      sampler.accept(t);
      session.accept(t);
    }
    session.truncate(session.n_past() / 2);
    session.accept(1);
  } catch (const cria::Error&) {
  }
  return 0;
}
