// The Llama forward pass, top to bottom: every operation runs on all entries of the batch.
#include "engine/forward.hpp"

#include "cria/error.hpp"

namespace cria {

void forward(Backend& backend, const LlamaConfig& config, const BatchEntry* entries, int64_t n, int n_threads,
             float* logits, float* hidden, const std::function<bool()>& stop) {
  using A = Activation;
  using W = WeightKind;
  std::unique_ptr<Pass> pass = backend.begin_pass(entries, n, n_threads);

  pass->embed(A::Residual);
  for (int64_t l = 0; l < config.n_layers; ++l) {
    if (stop && stop()) throw Error(ErrorCode::Cancelled, "the evaluation was cancelled");
    // Attention block: normalise, project to queries, keys and values, rotate, cache, attend.
    pass->rmsnorm(A::Normed, A::Residual, {W::AttentionNorm, l});
    pass->matmul(A::Normed, {{{W::Query, l}, A::Query}, {{W::Key, l}, A::Key}, {{W::Value, l}, A::Value}});
    pass->rope(A::Query, config.n_heads);
    pass->rope(A::Key, config.n_kv_heads);
    pass->store_kv(l, A::Key, A::Value);
    pass->attention(l, A::Query, A::Attention);
    // Output projection, added to the residual stream.
    pass->matmul(A::Attention, {{{W::AttentionOutput, l}, A::BlockOut}});
    pass->add(A::Residual, A::BlockOut);

    // Feed-forward block: SwiGLU, down(silu(gate x) * up x), added to the residual stream.
    pass->rmsnorm(A::Normed, A::Residual, {W::FfnNorm, l});
    pass->matmul(A::Normed, {{{W::Gate, l}, A::Gate}, {{W::Up, l}, A::Up}});
    pass->swiglu(A::Gate, A::Up);
    pass->matmul(A::Gate, {{{W::Down, l}, A::BlockOut}});
    pass->add(A::Residual, A::BlockOut);
  }
  if (hidden) {  // embeddings: the final norm of every entry, no classifier
    pass->rmsnorm(A::Normed, A::Residual, {W::OutputNorm});
    pass->read(A::Normed, hidden);
    return;
  }
  // Final norm and classifier, for the entries that want logits.
  pass->logits(A::Residual, logits);
}

}  // namespace cria
