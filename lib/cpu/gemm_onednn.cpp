// The oneDNN backend: matmul primitives (f32, bf16) cached per shape, run single-threaded
// on the calling thread.
#include "cpu/gemm_backends.hpp"

#include <string>

#include "cria/error.hpp"

#if CRIA_WITH_ONEDNN

#include <omp.h>

#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

namespace cria::cpu {

namespace {

using dnnl::memory;

constexpr size_t kMaxPrimitives = 256;

struct OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::mutex mutex;
  // Primitives are costly to create: keep one per shape and type.
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool>, dnnl::matmul> cache;

  // A handle (shared ownership): callers keep it valid even if the cache is cleared.
  dnnl::matmul get(int64_t m, int64_t n, int64_t k, int64_t src_stride, int64_t dst_stride,
                   bool bf16) {
    std::lock_guard<std::mutex> lock(mutex);
    auto key = std::make_tuple(m, n, k, src_stride, dst_stride, bf16);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    if (cache.size() >= kMaxPrimitives) cache.clear();  // prompts of many lengths: stay bounded
    const auto type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    memory::desc src({m, k}, type, memory::dims{src_stride, 1});
    memory::desc weights({k, n}, type, memory::dims{1, k});  // stored as n rows of k
    memory::desc dst({m, n}, memory::data_type::f32, memory::dims{dst_stride, 1});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, dst), engine);
    return cache.emplace(key, dnnl::matmul(pd)).first->second;
  }
};

OneDnn& onednn() {
  static OneDnn instance;
  return instance;
}

// Whether oneDNN has a bf16 matmul for this CPU (Debian's oneDNN 2.6 has none without
// AVX-512): asked once by creating a small one.
}  // namespace

bool onednn_built() { return true; }

bool onednn_bf16_available() {
  static const bool available = [] {
    try {
      onednn().get(16, 16, 32, 32, 16, true);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

void run_onednn(const void* src, int64_t m, int64_t src_stride, const void* weights, int64_t n,
                int64_t k, float* dst, int64_t dst_stride, bool bf16) {
  OneDnn& d = onednn();
  dnnl::matmul prim;
  try {
    prim = d.get(m, n, k, src_stride, dst_stride, bf16);
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::Unsupported, std::string("oneDNN has no ") + (bf16 ? "bf16" : "f32") +
                                            " matmul for this CPU or shape: " + e.what());
  }
  const auto type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory src_mem({{m, k}, type, memory::dims{src_stride, 1}}, d.engine, const_cast<void*>(src));
  memory w_mem({{k, n}, type, memory::dims{1, k}}, d.engine, const_cast<void*>(weights));
  memory dst_mem({{m, n}, memory::data_type::f32, memory::dims{dst_stride, 1}}, d.engine, dst);
  omp_set_num_threads(1);
  dnnl::stream stream(d.engine);
  prim.execute(stream, {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DST, dst_mem}});
  stream.wait();
}


}  // namespace cria::cpu

#else  // built without oneDNN

namespace cria::cpu {

bool onednn_built() { return false; }
bool onednn_bf16_available() { return false; }
void run_onednn(const void*, int64_t, int64_t, const void*, int64_t, int64_t, float*, int64_t, bool) {
  throw Error(ErrorCode::Unsupported, "this cria was built without oneDNN (CRIA_ONEDNN=OFF)");
}

}  // namespace cria::cpu

#endif
