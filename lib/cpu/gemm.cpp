#include "cpu/gemm.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "cria/error.hpp"
#include "cpu/gemm_backends.hpp"
#include "cpu/kernels.hpp"
#include "cpu/ops.hpp"
#include "cpu/packed.hpp"
#include "cria/quant.hpp"

namespace cria::cpu {

const char* gemm_backend_name(GemmBackend b) {
  switch (b) {
    case GemmBackend::Auto: return "auto";
    case GemmBackend::Kernels: return "kernels";
    case GemmBackend::OneDnnF32: return "onednn-f32";
    case GemmBackend::OneDnnBf16: return "onednn-bf16";
    case GemmBackend::OpenBlas: return "openblas";
  }
  return "?";
}

GemmBackend parse_gemm_backend(const std::string& name) {
  for (GemmBackend b : {GemmBackend::Auto, GemmBackend::Kernels, GemmBackend::OneDnnF32,
                        GemmBackend::OneDnnBf16, GemmBackend::OpenBlas})
    if (name == gemm_backend_name(b)) return b;
  throw Error(ErrorCode::InvalidArgument,
              "gemm: unknown prompt GEMM '" + name +
                  "' (auto, kernels, onednn-f32, onednn-bf16, openblas)");
}

void check_gemm_backend(GemmBackend requested) {
  if ((requested == GemmBackend::OneDnnF32 || requested == GemmBackend::OneDnnBf16) && !onednn_built())
    throw Error(ErrorCode::Unsupported, std::string("gemm '") + gemm_backend_name(requested) +
                                            "': this cria was built without oneDNN (CRIA_ONEDNN=OFF)");
  if (requested == GemmBackend::OpenBlas && !openblas_built())
    throw Error(ErrorCode::Unsupported,
                "gemm 'openblas': this cria was built without OpenBLAS (CRIA_OPENBLAS=OFF)");
  if (requested == GemmBackend::OneDnnBf16 && !onednn_bf16_available())
    throw Error(ErrorCode::Unsupported,
                "gemm 'onednn-bf16': this CPU has no bf16 matmul in oneDNN (it needs AVX-512); "
                "use onednn-f32 or auto");
}

namespace {

// Rows per chunk: one GEMM each; bounds each thread's scratch to kChunkRows * cols elements.
constexpr int64_t kChunkRows = 256;

void to_bf16(const float* x, uint16_t* y, int64_t n) { active_kernels().f32_to_bf16(x, y, n); }

void decode_row(const Kernels& kernels, const Matrix& w, int64_t r, float* y) {
  if (w.layout == RowLayout::Grouped16) dequantize_grouped_row(w.dtype, w.row(r), y, w.cols);
  else dequantize_fast(kernels, w.dtype, w.row(r), y, w.cols);
}

}  // namespace

GemmBackend resolve_gemm_backend(GemmBackend requested, const Matrix& w, int64_t run) {
  const DType t = w.dtype;
  check_gemm_backend(requested);
  if (requested != GemmBackend::Auto) return requested;
  if (amx_applies(w, run)) return GemmBackend::Kernels;  // cria's AMX tiles (ops.hpp)
  if (run < 16) return GemmBackend::Kernels;  // too few positions to amortise a GEMM
  // Regrouped rows (and Q4_0 rows read as if regrouped) have their own integer GEMM among
  // the kernels.
  if (grouped_gemm_for(w)) return GemmBackend::Kernels;
  if (!onednn_built())  // built without oneDNN: OpenBLAS's f32 GEMM, or the dot kernels
    return openblas_built() && (t == DType::F32 || t == DType::F16 || t == DType::BF16 || run >= 32)
               ? GemmBackend::OpenBlas
               : GemmBackend::Kernels;
  if (t == DType::F32) return GemmBackend::OneDnnF32;
  const GemmBackend fast = onednn_bf16_available() ? GemmBackend::OneDnnBf16 : GemmBackend::OneDnnF32;
  if (t == DType::F16 || t == DType::BF16) return fast;
  // Block formats: decoding a chunk of rows pays off once enough positions share it.
  if (run >= 32) return fast;
  return GemmBackend::Kernels;
}

bool gemm(GemmBackend requested, const Matrix& w, const float* x, int64_t n_tokens, int64_t run,
          int64_t x_stride, float* out, int64_t out_stride, ThreadPool& pool) {
  const GemmBackend backend = resolve_gemm_backend(requested, w, run);
  if (backend == GemmBackend::Kernels || backend == GemmBackend::Auto) return false;
  const int64_t k = w.cols;
  const bool bf16 = backend == GemmBackend::OneDnnBf16;
  const Kernels& kernels = active_kernels();

  // Activations in the GEMM's input type, converted once.
  thread_local std::vector<uint16_t> x_bf16;
  const void* src = x;
  int64_t src_stride = x_stride;
  if (bf16) {
    x_bf16.resize(static_cast<size_t>(n_tokens * k));
    for (int64_t t = 0; t < n_tokens; ++t) to_bf16(x + t * x_stride, &x_bf16[t * k], k);
    src = x_bf16.data();
    src_stride = k;
  }
  // The weights are cut into chunks of a fixed number of rows, whatever the thread count, and
  // each chunk is one single-threaded GEMM on one of our threads: every output is computed
  // the same way for any number of threads (and no library spawns threads under ours).
  const bool in_place = (w.dtype == DType::F32 && !bf16) || (w.dtype == DType::BF16 && bf16);
  const int64_t n_chunks = (w.rows + kChunkRows - 1) / kChunkRows;
  pool.parallel_for_dynamic(n_chunks, 1, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> decoded_f32;
    thread_local std::vector<uint16_t> decoded_bf16;
    thread_local std::vector<float> row;
    for (int64_t c = begin; c < end; ++c) {
      const int64_t r0 = c * kChunkRows;
      const int64_t rows = std::min(kChunkRows, w.rows - r0);
      const void* weights = w.row(r0);
      if (!in_place) {
        if (bf16) {
          decoded_bf16.resize(static_cast<size_t>(rows * k));
          row.resize(static_cast<size_t>(k));
          const bool direct = w.dtype == DType::F16 && kernels.f16_to_bf16;
          for (int64_t r = 0; r < rows; ++r) {
            if (direct) {
              kernels.f16_to_bf16(w.row(r0 + r), &decoded_bf16[r * k], k);
              continue;
            }
            decode_row(kernels, w, r0 + r, row.data());
            to_bf16(row.data(), &decoded_bf16[r * k], k);
          }
          weights = decoded_bf16.data();
        } else {
          decoded_f32.resize(static_cast<size_t>(rows * k));
          for (int64_t r = 0; r < rows; ++r)
            decode_row(kernels, w, r0 + r, &decoded_f32[r * k]);
          weights = decoded_f32.data();
        }
      }
      if (backend == GemmBackend::OpenBlas) {
        run_openblas(static_cast<const float*>(src), n_tokens, src_stride,
                     static_cast<const float*>(weights), rows, k, out + r0, out_stride);
      } else {
        run_onednn(src, n_tokens, src_stride, weights, rows, k, out + r0, out_stride, bf16);
      }
    }
  });
  return true;
}

}  // namespace cria::cpu
