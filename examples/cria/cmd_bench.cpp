// cria bench: prompt and generation speed of a model, with the machine's limits measured in
// the same run: generation bytes/s over the read bandwidth, prompt FLOP/s over the GEMM peak.
// With --parallel N, also N sequences generating together (one pass per step for all).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "cria/engine/batch.hpp"
#include "cria/engine/session.hpp"
#include "cria/probes.hpp"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Bytes of weights one generated token reads: every matrix once, one embedding row.
uint64_t weight_bytes_per_token(const cria::Model& m) {
  const cria::LlamaWeights& w = m.weights();
  auto bytes = [](const cria::TensorView& t) { return static_cast<uint64_t>(t.rows) * t.row_bytes; };
  uint64_t total = w.token_embd.row_bytes + bytes(w.output) + bytes(w.output_norm);
  for (const cria::LlamaLayerWeights& l : w.layers)
    total += bytes(l.attn_norm) + bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) +
             bytes(l.ffn_norm) + bytes(l.w_gate) + bytes(l.w_up) + bytes(l.w_down);
  return total;
}

// Multiply-adds of the weight matrices per token, times two (attention scores not counted).
double matrix_flops_per_token(const cria::Model& m) {
  const cria::LlamaConfig& c = m.config();
  double per_layer = 2.0 * c.dim * c.dim + 2.0 * c.dim * c.kv_dim() + 3.0 * c.dim * c.hidden_dim;
  return 2.0 * (c.n_layers * per_layer + static_cast<double>(c.dim) * c.vocab_size);
}

std::string json_escaped(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20) out += ch;
  }
  return out;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  std::string model_path;
  int64_t n_prompt = 512, n_gen = 128;
  int reps = 3;
  int64_t parallel = 1;
  bool json = false;
  std::string state_path;
  cli::EngineOptions engine;
  for (cli::Args a(argc, argv); !a.done();) {
    if (engine.parse(a)) continue;
    else if (a.is("-m", "--model")) model_path = a.value();
    else if (a.is("-p", "--n-prompt")) n_prompt = a.int_value();
    else if (a.is("-n", "--n-gen")) n_gen = a.int_value();
    else if (a.is("-r", "--repetitions")) reps = static_cast<int>(a.int_value());
    else if (a.is("--parallel")) parallel = a.int_value();
    else if (a.is("--json")) json = true;
    else if (a.is("--state")) state_path = a.value();
    else if (a.is("-h", "--help")) {
      std::fputs(
          "usage: cria bench -m MODEL [-p 512] [-n 128] [-r 3] [--parallel N] [--json] [engine options]\n"
          "Prompt (-p tokens in one pass) and generation (-n tokens one by one) speed, medians of\n"
          "-r runs, with a read-bandwidth and a GEMM-peak probe measured in the same run. With\n"
          "--parallel N, also N sequences generating -n tokens each together, one pass per step.\n"
          "With --state FILE, also the size and the save and load times of a session holding the\n"
          "-p prompt positions, to memory and to FILE (written, then removed).\n",
          stdout);
      std::fputs(cli::EngineOptions::kHelp, stdout);
      return 0;
    } else throw std::invalid_argument("unknown option '" + a.peek() + "'");
  }
  if (n_prompt < 0 || n_gen < 0 || reps < 1) throw std::invalid_argument("-p, -n >= 0 and -r >= 1");
  if (parallel < 1 || parallel > 4096) throw std::invalid_argument("--parallel is 1 to 4096");

  double t0 = cli::now_seconds();
  auto model = cli::load_model(model_path, "", false, engine.load);
  double load_s = cli::now_seconds() - t0;
  const cria::LlamaConfig& c = model->config();
  engine.session.context_length = std::max<int64_t>(n_prompt, n_gen) + 1;
  engine.session.max_batch = std::max<int64_t>(n_prompt, 1);
  cria::Session session(*model, engine.session);
  const int threads = session.n_threads();

  std::vector<int32_t> tokens(static_cast<size_t>(std::max(n_prompt, n_gen)));
  for (size_t i = 0; i < tokens.size(); ++i)
    tokens[i] = static_cast<int32_t>((i * 7919 + 13) % static_cast<uint64_t>(c.vocab_size));

  // Ready to generate: the load, a session and the first one-token pass (which places weights
  // that a backend sets up on first use).
  session.eval(tokens.data(), 1);
  const double ready_s = cli::now_seconds() - t0;

  std::vector<double> pp, tg;
  for (int r = 0; r <= reps; ++r) {  // the first round warms caches and is not counted
    if (n_prompt > 0) {
      session.reset();
      double s = cli::now_seconds();
      session.eval(tokens.data(), n_prompt);
      if (r > 0) pp.push_back(n_prompt / (cli::now_seconds() - s));
    }
    if (n_gen > 0) {
      session.reset();
      double s = cli::now_seconds();
      for (int64_t i = 0; i < n_gen; ++i) session.eval(&tokens[static_cast<size_t>(i)], 1);
      if (r > 0) tg.push_back(n_gen / (cli::now_seconds() - s));
    }
  }
  const double pp_tps = median(pp), tg_tps = median(tg);

  // A saved session of n_prompt positions: its size, and saving and loading it (buffer, file).
  double state_bytes = 0, save_s = 0, load_s_state = 0, save_file_s = 0, load_file_s = 0;
  if (!state_path.empty() && n_prompt > 0) {
    if (session.n_past() != n_prompt) {
      session.reset();
      session.eval(tokens.data(), n_prompt);
    }
    cria::Session resumed(*model, engine.session);
    std::vector<double> save, load, save_file, load_file;
    for (int r = 0; r < reps; ++r) {
      double s = cli::now_seconds();
      const std::string bytes = session.save_state();
      save.push_back(cli::now_seconds() - s);
      state_bytes = static_cast<double>(bytes.size());
      s = cli::now_seconds();
      resumed.load_state(bytes);
      load.push_back(cli::now_seconds() - s);
      s = cli::now_seconds();
      session.save_state_file(state_path);
      save_file.push_back(cli::now_seconds() - s);
      s = cli::now_seconds();
      resumed.load_state_file(state_path);
      load_file.push_back(cli::now_seconds() - s);
    }
    cria::platform::remove_file(state_path);
    save_s = median(save), load_s_state = median(load), save_file_s = median(save_file), load_file_s = median(load_file);
  }

  // N sequences generating together: each step is one batch of one new token per sequence.
  double parallel_tps = 0;
  if (parallel > 1 && n_gen > 0) {
    cria::SessionOptions options = engine.session;
    options.context_length = n_gen + 1;
    options.max_batch = parallel;
    std::vector<std::unique_ptr<cria::Session>> sessions;
    for (int64_t i = 0; i < parallel; ++i) sessions.push_back(std::make_unique<cria::Session>(*model, options));
    std::vector<double> rates;
    for (int r = 0; r <= reps; ++r) {  // the first round warms caches and is not counted
      for (auto& seq : sessions) seq->reset();
      cria::Batch batch;
      double s = cli::now_seconds();
      for (int64_t i = 0; i < n_gen; ++i) {
        for (int64_t k = 0; k < parallel; ++k)
          batch.add(*sessions[static_cast<size_t>(k)], &tokens[static_cast<size_t>((i + k) % n_gen)], 1);
        batch.eval();
      }
      if (r > 0) rates.push_back(static_cast<double>(parallel * n_gen) / (cli::now_seconds() - s));
    }
    parallel_tps = median(rates);
  }

  // The memory the weights are in: the host's, or a GPU's.
  const double bandwidth = model->backend().probe_read_bandwidth(threads);
  // The CPU's compute peaks, for the prompts of a model that runs on the CPU backend.
  const bool on_cpu = model->backend().name() == "cpu";
  const double gemm_f32 = on_cpu ? cria::measure_gemm_peak(threads, false) : 0;
  // Without a bf16 matmul (CPUs without AVX-512) the f32 peak is the limit to compare with.
  const double gemm_bf16_measured = on_cpu ? cria::measure_gemm_peak(threads, true) : 0;
  const double gemm_bf16 = gemm_bf16_measured > 0 ? gemm_bf16_measured : gemm_f32;
  const double int8_peak = on_cpu ? cria::measure_int8_peak(threads) : 0;  // 0 without AVX-512 VNNI
  const double amx_peak = on_cpu ? cria::measure_amx_peak(threads) : 0;    // 0 where AMX is not in use
  const double bytes_per_token = static_cast<double>(weight_bytes_per_token(*model));
  const double gen_bytes_per_s = tg_tps * bytes_per_token;
  const double prompt_flops = pp_tps * matrix_flops_per_token(*model);

  if (json) {
    std::printf(
        "{\"model\": \"%s\", \"file_bytes\": %llu, \"backend\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"gemm\": \"%s\", "
        "\"load_ms\": %.1f, \"ready_ms\": %.1f, \"n_prompt\": %lld, \"n_gen\": %lld, \"repetitions\": %d, "
        "\"prompt_tokens_per_s\": %.3f, \"gen_tokens_per_s\": %.3f, "
        "\"weight_bytes_per_token\": %.0f, \"gen_bytes_per_s\": %.4g, \"read_bandwidth\": %.4g, "
        "\"gen_bandwidth_ratio\": %.4f, \"prompt_flops\": %.4g, \"gemm_peak_bf16\": %.4g, "
        "\"gemm_peak_f32\": %.4g, \"prompt_peak_ratio_bf16\": %.4f, \"prompt_peak_ratio_f32\": %.4f, "
        "\"int8_peak\": %.4g, \"prompt_peak_ratio_int8\": %.4f, \"amx_bf16_peak\": %.4g, "
        "\"prompt_peak_ratio_amx\": %.4f, \"parallel\": %lld, \"parallel_gen_tokens_per_s\": %.3f, "
        "\"parallel_gen_bandwidth_ratio\": %.4f, \"state_bytes\": %.0f, \"state_save_ms\": %.1f, "
        "\"state_load_ms\": %.1f, \"state_save_file_ms\": %.1f, \"state_load_file_ms\": %.1f}\n",
        model_path.c_str(), static_cast<unsigned long long>(model->file_size()), model->backend().name().c_str(),
        json_escaped(model->backend().device_description()).c_str(), threads, cria::kernel_isa(), engine.load.gemm.c_str(), load_s * 1e3, ready_s * 1e3,
        static_cast<long long>(n_prompt), static_cast<long long>(n_gen), reps, pp_tps, tg_tps,
        bytes_per_token, gen_bytes_per_s, bandwidth, gen_bytes_per_s / bandwidth, prompt_flops,
        gemm_bf16, gemm_f32, gemm_bf16 > 0 ? prompt_flops / gemm_bf16 : 0.0,
        gemm_f32 > 0 ? prompt_flops / gemm_f32 : 0.0, int8_peak,
        int8_peak > 0 ? prompt_flops / int8_peak : 0.0, amx_peak,
        amx_peak > 0 ? prompt_flops / amx_peak : 0.0, static_cast<long long>(parallel), parallel_tps,
        parallel_tps / static_cast<double>(parallel) * bytes_per_token / bandwidth, state_bytes, save_s * 1e3,
        load_s_state * 1e3, save_file_s * 1e3, load_file_s * 1e3);
    return 0;
  }
  std::printf("model: %s (%.2f GB), %s backend, %d threads, kernels %s, gemm %s, load %.0f ms, "
              "first token after %.0f ms\n",
              model_path.c_str(), model->file_size() / 1e9, model->backend().name().c_str(), threads,
              cria::kernel_isa(), engine.load.gemm.c_str(), load_s * 1e3, ready_s * 1e3);
  std::printf("device: %s\n", model->backend().device_description().c_str());
  std::printf("%-8s %14s   %s\n", "test", "tokens/s", "ratio to this machine's limit (same run)");
  if (n_prompt > 0 && gemm_f32 > 0)
    std::printf("pp%-6lld %14.2f   %.1f GFLOP/s = %.0f%% of the bf16 GEMM peak (%.0f GFLOP/s), "
                "%.0f%% of f32 (%.0f)\n",
                static_cast<long long>(n_prompt), pp_tps, prompt_flops / 1e9,
                100 * prompt_flops / gemm_bf16, gemm_bf16 / 1e9, 100 * prompt_flops / gemm_f32,
                gemm_f32 / 1e9);
  else if (n_prompt > 0)  // built without oneDNN: no GEMM peak probe
    std::printf("pp%-6lld %14.2f   %.1f GFLOP/s\n", static_cast<long long>(n_prompt), pp_tps,
                prompt_flops / 1e9);
  if (n_prompt > 0 && int8_peak > 0)
    std::printf("%-8s %14s   = %.0f%% of the int8 (VNNI) peak, %.0f GOP/s\n", "", "",
                100 * prompt_flops / int8_peak, int8_peak / 1e9);
  if (n_prompt > 0 && amx_peak > 0)
    std::printf("%-8s %14s   = %.0f%% of the AMX bf16 tile peak, %.0f GFLOP/s\n", "", "",
                100 * prompt_flops / amx_peak, amx_peak / 1e9);
  if (n_gen > 0)
    std::printf("tg%-6lld %14.2f   %.1f GB/s of weights = %.0f%% of the %s read bandwidth (%.1f GB/s)\n",
                static_cast<long long>(n_gen), tg_tps, gen_bytes_per_s / 1e9,
                100 * gen_bytes_per_s / bandwidth, on_cpu ? "host" : "device", bandwidth / 1e9);
  if (parallel_tps > 0) {
    // A step reads the weights once for all sequences.
    const double step_bytes_per_s = parallel_tps / static_cast<double>(parallel) * bytes_per_token;
    std::printf("tg%-lld x%-4lld %10.2f   %.2f x one sequence; %.1f GB/s of weights = %.0f%% of the read bandwidth\n",
                static_cast<long long>(n_gen), static_cast<long long>(parallel), parallel_tps,
                tg_tps > 0 ? parallel_tps / tg_tps : 0.0, step_bytes_per_s / 1e9, 100 * step_bytes_per_s / bandwidth);
  }
  if (state_bytes > 0)
    std::printf("state    %lld positions: %.1f MB; save %.0f ms, load %.0f ms (memory); save %.0f ms, "
                "load %.0f ms (file)\n",
                static_cast<long long>(n_prompt), state_bytes / 1e6, save_s * 1e3, load_s_state * 1e3,
                save_file_s * 1e3, load_file_s * 1e3);
  return 0;
}
