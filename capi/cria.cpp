// The C ABI (capi/cria.h) over the C++ library. Every entry point runs its body inside
// guard(), which turns every exception into a cria_status and a thread-local message: no
// exception crosses the boundary.
#define CRIA_BUILDING_LIBRARY 1
#include "cria.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <string>
#include <vector>

#include "cria/engine/batch.hpp"
#include "cria/engine/chat.hpp"
#include "cria/engine/embed.hpp"
#include "cria/engine/generate.hpp"
#include "cria/engine/session.hpp"
#include "cria/error.hpp"
#include "cria/model/model.hpp"
#include "cria/sampling/json_schema.hpp"
#include "cria/sampling/sampler.hpp"
#include "cria/tokenizer/tokenizer.hpp"

struct cria_model {
  std::unique_ptr<cria::Model> model;
};

struct cria_session {
  const cria_model* owner = nullptr;
  std::unique_ptr<cria::Session> session;
  std::optional<cria::Sampler> sampler;  // the step API's (cria_session_sample)
};

struct cria_batch {
  cria::Batch batch;
};

namespace {

thread_local std::string t_last_error;

// A failure detected by the C layer itself.
struct Failure {
  cria_status status;
  std::string message;
};

[[noreturn]] void fail(cria_status status, std::string message) {
  throw Failure{status, std::move(message)};
}

cria_status status_of(cria::ErrorCode code) {
  switch (code) {
    case cria::ErrorCode::InvalidArgument: return CRIA_ERROR_INVALID_ARGUMENT;
    case cria::ErrorCode::InvalidFile: return CRIA_ERROR_INVALID_FILE;
    case cria::ErrorCode::Unsupported: return CRIA_ERROR_UNSUPPORTED;
    case cria::ErrorCode::Io: return CRIA_ERROR_IO;
    case cria::ErrorCode::OutOfMemory: return CRIA_ERROR_OUT_OF_MEMORY;
    case cria::ErrorCode::ContextFull: return CRIA_ERROR_CONTEXT_FULL;
    case cria::ErrorCode::Cancelled: return CRIA_ERROR_CANCELLED;
    case cria::ErrorCode::InvalidState: return CRIA_ERROR_INVALID_STATE;
  }
  return CRIA_ERROR_INTERNAL;
}

void set_error(const char* text) noexcept {
  try {
    t_last_error = text;
  } catch (...) {
    // Out of memory while recording the message: keep whatever was there.
  }
}

template <class F>
cria_status guard(const char* function, F&& body) noexcept {
  try {
    body();
    return CRIA_OK;
  } catch (const Failure& f) {
    set_error((std::string(function) + ": " + f.message).c_str());
    return f.status;
  } catch (const cria::Error& e) {
    set_error((std::string(function) + ": " + e.what()).c_str());
    return status_of(e.code());
  } catch (const std::bad_alloc&) {
    set_error("out of memory");
    return CRIA_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    try {
      set_error((std::string(function) + ": internal error: " + e.what()).c_str());
    } catch (...) {
      set_error("internal error");
    }
    return CRIA_ERROR_INTERNAL;
  } catch (...) {
    set_error("internal error: unknown exception");
    return CRIA_ERROR_INTERNAL;
  }
}

template <class T>
void require(const T* p, const char* name) {
  if (!p) fail(CRIA_ERROR_INVALID_ARGUMENT, std::string(name) + " is NULL");
}

// Parameter structs: fields are read only when the caller's struct holds them entirely.
#define CRIA_FITS(ptr, field) \
  (offsetof(std::remove_pointer_t<decltype(ptr)>, field) + sizeof((ptr)->field) <= (ptr)->struct_size)
#define CRIA_READ(dst, src, field) \
  do { if (CRIA_FITS(src, field)) (dst).field = (src)->field; } while (0)
#define CRIA_WRITE(dst, src, field) \
  do { if (CRIA_FITS(dst, field)) (dst)->field = (src).field; } while (0)

template <class T>
void check_struct_size(const T* p, const char* name) {
  if (p->struct_size < sizeof(uint32_t))
    fail(CRIA_ERROR_STRUCT_SIZE, std::string(name) + "->struct_size is " +
                                     std::to_string(p->struct_size) +
                                     ": initialise the struct with its _init function");
  if (p->struct_size > sizeof(T))
    fail(CRIA_ERROR_STRUCT_SIZE,
         std::string(name) + "->struct_size is " + std::to_string(p->struct_size) +
             " but this library (ABI " + std::to_string(CRIA_ABI_VERSION) + ", version " +
             CRIA_VERSION_STRING + ") knows at most " + std::to_string(sizeof(T)) +
             " bytes: the program was built against a newer cria.h");
}

bool valid_utf8(const char* s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  while (*p) {
    unsigned c = *p;
    int extra;
    uint32_t cp;
    if (c < 0x80) { ++p; continue; }
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07; }
    else return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += extra + 1;
  }
  return true;
}

void check_path(const char* path, const char* name) {
  require(path, name);
  if (!*path) fail(CRIA_ERROR_INVALID_ARGUMENT, std::string(name) + " is empty");
  if (!valid_utf8(path)) fail(CRIA_ERROR_INVALID_ARGUMENT, std::string(name) + " is not valid UTF-8");
}

const cria::Tokenizer& tokenizer_of(const cria_model* model) {
  require(model, "model");
  const cria::Tokenizer* t = model->model->tokenizer();
  if (!t)
    fail(CRIA_ERROR_INVALID_STATE,
         "the model has no vocabulary (llama2.c checkpoints need a tokenizer_path)");
  return *t;
}

void check_token(const cria_model* model, int32_t token) {
  int64_t n = model->model->config().vocab_size;
  if (token < 0 || token >= n)
    fail(CRIA_ERROR_INVALID_ARGUMENT, "token id " + std::to_string(token) +
                                          " is outside the vocabulary [0, " + std::to_string(n) + ")");
}

// Copies text into a caller buffer (NUL-terminated), or reports the size it needs.
void put_text(const std::string& text, char* buffer, size_t capacity, size_t* out_length) {
  require(out_length, "out_length");
  if (!buffer && capacity) fail(CRIA_ERROR_INVALID_ARGUMENT, "buffer is NULL but capacity is not 0");
  if (capacity < text.size() + 1) {
    *out_length = text.size();
    fail(CRIA_ERROR_BUFFER_TOO_SMALL, "the text needs " + std::to_string(text.size() + 1) +
                                          " bytes with its NUL; the buffer has " +
                                          std::to_string(capacity));
  }
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  *out_length = text.size();
}

void put_tokens(const std::vector<int32_t>& ids, int32_t* tokens, size_t capacity, size_t* out_count) {
  require(out_count, "out_count");
  if (!tokens && capacity) fail(CRIA_ERROR_INVALID_ARGUMENT, "tokens is NULL but capacity is not 0");
  if (capacity < ids.size()) {
    *out_count = ids.size();
    fail(CRIA_ERROR_BUFFER_TOO_SMALL, "the result has " + std::to_string(ids.size()) +
                                          " tokens; the buffer holds " + std::to_string(capacity));
  }
  std::copy(ids.begin(), ids.end(), tokens);
  *out_count = ids.size();
}

// The sampling fields that cria_sampling_params and cria_generate_params share, from `src`
// (already read up to the caller's struct_size, defaults past it) into the engine's params.
template <class T>
void read_penalties_and_filters(const T& src, const char* name, cria::SamplerParams& s) {
  s.temperature = src.temperature;
  s.top_k = src.top_k;
  s.top_p = src.top_p;
  s.seed = src.seed;
  s.repeat_last_n = src.repeat_last_n;
  s.repeat_penalty = src.repeat_penalty;
  s.frequency_penalty = src.frequency_penalty;
  s.presence_penalty = src.presence_penalty;
  s.min_p = src.min_p;
  s.typical_p = src.typical_p;
  if (src.n_logit_bias && !src.logit_bias)
    fail(CRIA_ERROR_INVALID_ARGUMENT, std::string(name) + "->logit_bias is NULL but n_logit_bias is not 0");
  for (size_t i = 0; i < src.n_logit_bias; ++i) s.logit_bias.push_back({src.logit_bias[i].token, src.logit_bias[i].bias});
  s.mirostat = src.mirostat;
  s.mirostat_tau = src.mirostat_tau;
  s.mirostat_eta = src.mirostat_eta;
  if (src.grammar) s.grammar = src.grammar;
}

template <class T>
void read_sampling_fields(T& dst, const T* src) {
  CRIA_READ(dst, src, temperature);
  CRIA_READ(dst, src, top_k);
  CRIA_READ(dst, src, top_p);
  CRIA_READ(dst, src, seed);
  CRIA_READ(dst, src, repeat_last_n);
  CRIA_READ(dst, src, repeat_penalty);
  CRIA_READ(dst, src, frequency_penalty);
  CRIA_READ(dst, src, presence_penalty);
  CRIA_READ(dst, src, min_p);
  CRIA_READ(dst, src, typical_p);
  CRIA_READ(dst, src, logit_bias);
  CRIA_READ(dst, src, n_logit_bias);
  CRIA_READ(dst, src, mirostat);
  CRIA_READ(dst, src, mirostat_tau);
  CRIA_READ(dst, src, mirostat_eta);
  CRIA_READ(dst, src, grammar);
}

cria::SamplerParams read_sampling(const cria_sampling_params* p) {
  cria_sampling_params d;
  cria_sampling_params_init(&d);
  if (p) {
    check_struct_size(p, "sampling");
    read_sampling_fields(d, p);
  }
  cria::SamplerParams s;
  read_penalties_and_filters(d, "sampling", s);
  return s;
}

void require_session(const cria_session* s) {
  require(s, "session");
  if (!s->session) fail(CRIA_ERROR_INVALID_ARGUMENT, "session is not a live session");
}

// A generated token's text goes to the caller's buffer only when it fits; otherwise the token
// is not accepted (the needed length is stored).
void check_token_text(const cria::Session& s, int32_t token, char* text, size_t capacity, size_t* out_length) {
  require(out_length, "out_length");
  if (!text && capacity) fail(CRIA_ERROR_INVALID_ARGUMENT, "text is NULL but capacity is not 0");
  const bool discard = !text && capacity == 0;
  const std::string piece = s.peek_text(token);
  if (!discard && capacity < piece.size() + 1) {
    *out_length = piece.size();
    fail(CRIA_ERROR_BUFFER_TOO_SMALL, "the token's text needs " + std::to_string(piece.size() + 1) +
                                          " bytes with its NUL; the buffer has " + std::to_string(capacity) +
                                          " (token not accepted)");
  }
}

void write_token_text(const std::string& piece, char* text, size_t* out_length) {
  if (text) {
    std::memcpy(text, piece.data(), piece.size());
    text[piece.size()] = '\0';
  }
  *out_length = piece.size();
}

// Passes engine text to a cria_text_fn, NUL-terminated.
bool deliver(cria_text_fn fn, std::string_view text, void* user_data) {
  if (!fn) return true;
  const std::string copy(text);
  return fn(copy.c_str(), copy.size(), user_data);
}

// Reads a cria_generate_params (defaults where the caller's struct ends) into the engine's.
cria::GenerateParams read_generate_params(const cria_generate_params* params) {
  cria_generate_params p;
  cria_generate_params_init(&p);
  if (params) {
    check_struct_size(params, "params");
    read_sampling_fields(p, params);
    CRIA_READ(p, params, max_tokens);
    CRIA_READ(p, params, stop_strings);
    CRIA_READ(p, params, n_stop_strings);
    CRIA_READ(p, params, prompt_progress);
    CRIA_READ(p, params, prompt_progress_user_data);
  }
  cria::GenerateParams g;
  read_penalties_and_filters(p, "params", g.sampling);
  g.max_tokens = p.max_tokens;
  if (p.n_stop_strings) require(p.stop_strings, "params->stop_strings");
  for (size_t i = 0; i < p.n_stop_strings; ++i) {
    if (!p.stop_strings[i])
      fail(CRIA_ERROR_INVALID_ARGUMENT, "params->stop_strings[" + std::to_string(i) + "] is NULL");
    g.stop.emplace_back(p.stop_strings[i]);
  }
  if (p.prompt_progress) {
    cria_progress_fn fn = p.prompt_progress;
    void* user = p.prompt_progress_user_data;
    g.prompt_progress = [fn, user](float fraction) { return fn(fraction, user); };
  }
  return g;
}

cria_stop_reason stop_reason_of(cria::StopReason r) {
  switch (r) {
    case cria::StopReason::EndOfSequence: return CRIA_STOP_END_OF_SEQUENCE;
    case cria::StopReason::MaxTokens: return CRIA_STOP_MAX_TOKENS;
    case cria::StopReason::ContextFull: return CRIA_STOP_CONTEXT_FULL;
    case cria::StopReason::StopString: return CRIA_STOP_STOP_STRING;
    case cria::StopReason::Cancelled: return CRIA_STOP_CANCELLED;
  }
  return CRIA_STOP_CANCELLED;
}

// Writes the fields of `r` that fit in the caller's struct.
void write_result(const cria::GenerateResult& r, cria_generate_result* out) {
  cria_generate_result res;
  cria_generate_result_init(&res);
  res.stop_reason = stop_reason_of(r.reason);
  res.n_prompt_tokens = static_cast<int32_t>(r.prompt_tokens);
  res.n_tokens = static_cast<int32_t>(r.tokens.size());
  res.prompt_seconds = r.prompt_seconds;
  res.generate_seconds = r.generate_seconds;
  CRIA_WRITE(out, res, stop_reason);
  CRIA_WRITE(out, res, n_prompt_tokens);
  CRIA_WRITE(out, res, n_tokens);
  CRIA_WRITE(out, res, prompt_seconds);
  CRIA_WRITE(out, res, generate_seconds);
}

// The prompt of cria_generate: tokenized with BOS when the session is empty.
std::vector<int32_t> prompt_tokens(const cria_session* session, const char* prompt, const char* name) {
  require(prompt, name);
  cria::EncodeOptions eo;
  eo.add_bos = session->session->n_past() == 0;
  return tokenizer_of(session->owner).encode(prompt, eo);
}

// The one generation path for cria_generate, cria_generate_tokens and cria_generate_batch:
// the engine's generate over `sessions`, results written to `results` (stride: the first
// struct's struct_size) when the call ends by itself or is cancelled.
cria_status run_generate(const char* function, cria_session* const* sessions, size_t n,
                         const std::function<std::vector<int32_t>(size_t)>& prompt_of,
                         const cria_generate_params* params, const cria::SequenceTextCallback& on_text,
                         cria_generate_result* results) {
  std::vector<cria::GenerateResult> done;
  bool progress_cancelled = false;
  cria_status st = guard(function, [&] {
    if (n) require(sessions, "sessions");
    if (results) {
      check_struct_size(results, "results");
      for (size_t i = 1; i < n; ++i) {
        const auto* r = reinterpret_cast<const cria_generate_result*>(reinterpret_cast<const char*>(results) +
                                                                        i * results->struct_size);
        if (r->struct_size != results->struct_size)
          fail(CRIA_ERROR_STRUCT_SIZE, "results[" + std::to_string(i) + "].struct_size differs from results[0]'s");
      }
    }
    cria::GenerateParams g = read_generate_params(params);
    if (g.prompt_progress)
      g.prompt_progress = [inner = g.prompt_progress, &progress_cancelled](float f) {
        progress_cancelled = !inner(f);
        return !progress_cancelled;
      };
    std::vector<cria::Session*> engine_sessions;
    std::vector<std::vector<int32_t>> prompts;
    for (size_t i = 0; i < n; ++i) {
      require_session(sessions[i]);
      if (sessions[i]->owner != sessions[0]->owner)
        fail(CRIA_ERROR_INVALID_ARGUMENT, "sessions[" + std::to_string(i) + "] belongs to another model than sessions[0]");
      engine_sessions.push_back(sessions[i]->session.get());
      prompts.push_back(prompt_of(i));
    }
    done = cria::generate(engine_sessions, prompts, g, on_text);
    for (const cria::GenerateResult& r : done)
      if (r.reason == cria::StopReason::Cancelled)
        fail(CRIA_ERROR_CANCELLED, progress_cancelled ? "the prompt_progress callback cancelled"
                                                      : "the text callback cancelled");
  });
  if (results && (st == CRIA_OK || st == CRIA_ERROR_CANCELLED))
    for (size_t i = 0; i < done.size(); ++i)
      write_result(done[i], reinterpret_cast<cria_generate_result*>(reinterpret_cast<char*>(results) +
                                                                     i * results->struct_size));
  return st;
}

}  // namespace

extern "C" {

// ---- versions and errors ---------------------------------------------------------------

const char* cria_version(void) { return CRIA_VERSION_STRING; }

uint32_t cria_abi_version(void) { return CRIA_ABI_VERSION; }

bool cria_abi_check(uint32_t abi_version) {
  if (abi_version == CRIA_ABI_VERSION) return true;
  try {
    set_error(("cria_abi_check: the program was built for cria ABI " + std::to_string(abi_version) +
               " but the library (version " CRIA_VERSION_STRING ") implements ABI " +
               std::to_string(CRIA_ABI_VERSION))
                  .c_str());
  } catch (...) {
  }
  return false;
}

const char* cria_status_name(cria_status status) {
  switch (status) {
    case CRIA_OK: return "ok";
    case CRIA_ERROR_INVALID_ARGUMENT: return "invalid_argument";
    case CRIA_ERROR_STRUCT_SIZE: return "struct_size";
    case CRIA_ERROR_BUFFER_TOO_SMALL: return "buffer_too_small";
    case CRIA_ERROR_INVALID_FILE: return "invalid_file";
    case CRIA_ERROR_UNSUPPORTED: return "unsupported";
    case CRIA_ERROR_IO: return "io";
    case CRIA_ERROR_OUT_OF_MEMORY: return "out_of_memory";
    case CRIA_ERROR_CONTEXT_FULL: return "context_full";
    case CRIA_ERROR_CANCELLED: return "cancelled";
    case CRIA_ERROR_INVALID_STATE: return "invalid_state";
    case CRIA_ERROR_INTERNAL: return "internal";
  }
  return "unknown";
}

const char* cria_last_error(void) { return t_last_error.c_str(); }

// ---- models ------------------------------------------------------------------------------

void cria_model_params_init(cria_model_params* params) {
  if (!params) return;
  std::memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->gpu_layers = -1;
}

cria_status cria_model_load(const char* path, const cria_model_params* params,
                            cria_model** out_model) {
  return guard("cria_model_load", [&] {
    require(out_model, "out_model");
    check_path(path, "path");
    cria_model_params p;
    cria_model_params_init(&p);
    if (params) {
      check_struct_size(params, "params");
      CRIA_READ(p, params, tokenizer_path);
      CRIA_READ(p, params, progress);
      CRIA_READ(p, params, progress_user_data);
      CRIA_READ(p, params, load_mode);
      CRIA_READ(p, params, backend);
      CRIA_READ(p, params, device);
      CRIA_READ(p, params, gpu_layers);
    }
    cria::LoadOptions options;
    if (p.load_mode != CRIA_LOAD_READ && p.load_mode != CRIA_LOAD_MAP && p.load_mode != CRIA_LOAD_MAP_SHARED)
      throw cria::Error(cria::ErrorCode::InvalidArgument,
                        "params->load_mode: " + std::to_string(p.load_mode) +
                            " is not a cria_load_mode (CRIA_LOAD_READ, CRIA_LOAD_MAP or CRIA_LOAD_MAP_SHARED)");
    options.load_mode = p.load_mode == CRIA_LOAD_READ ? cria::io::MappedFile::Mode::Read
                                                      : cria::io::MappedFile::Mode::Map;
    options.repack = p.load_mode != CRIA_LOAD_MAP_SHARED;  // shared pages stay as the file has them
    if (p.backend) {
      if (!valid_utf8(p.backend)) fail(CRIA_ERROR_INVALID_ARGUMENT, "params->backend is not valid UTF-8");
      options.backend = p.backend;
    }
    if (p.device < 0) fail(CRIA_ERROR_INVALID_ARGUMENT, "params->device is negative");
    options.device = p.device;
    if (p.gpu_layers < -1)
      fail(CRIA_ERROR_INVALID_ARGUMENT, "params->gpu_layers is " + std::to_string(p.gpu_layers) +
                                            ": give -1 (all layers), 0 (none) or a count of layers");
    options.gpu_layers = p.gpu_layers;
    if (p.tokenizer_path) {
      check_path(p.tokenizer_path, "params->tokenizer_path");
      options.tokenizer_path = p.tokenizer_path;
    }
    if (p.progress) {
      cria_progress_fn fn = p.progress;
      void* user = p.progress_user_data;
      options.progress = [fn, user](float f) { return fn(f, user); };
    }
    auto m = std::make_unique<cria_model>();
    m->model = cria::Model::load(path, options);
    if (!m->model->runnable())
      fail(CRIA_ERROR_UNSUPPORTED, std::string(path) + ": the model cannot run");
    *out_model = m.release();
  });
}

void cria_model_free(cria_model* model) { delete model; }

void cria_model_info_init(cria_model_info* info) {
  if (!info) return;
  std::memset(info, 0, sizeof(*info));
  info->struct_size = sizeof(*info);
}

cria_status cria_model_get_info(const cria_model* model, cria_model_info* info) {
  return guard("cria_model_get_info", [&] {
    require(model, "model");
    require(info, "info");
    check_struct_size(info, "info");
    const cria::LlamaConfig& c = model->model->config();
    cria_model_info v;
    cria_model_info_init(&v);
    v.format = model->model->format() == cria::ModelFormat::Gguf ? CRIA_FORMAT_GGUF : CRIA_FORMAT_LLAMA2C;
    v.dim = static_cast<int32_t>(c.dim);
    v.hidden_dim = static_cast<int32_t>(c.hidden_dim);
    v.n_layers = static_cast<int32_t>(c.n_layers);
    v.n_heads = static_cast<int32_t>(c.n_heads);
    v.n_kv_heads = static_cast<int32_t>(c.n_kv_heads);
    v.vocab_size = static_cast<int32_t>(c.vocab_size);
    v.context_length = static_cast<int32_t>(std::min<int64_t>(c.context_length, INT32_MAX));
    v.rms_norm_eps = c.rms_eps;
    v.rope_theta = c.rope_base;
    v.has_vocabulary = model->model->tokenizer() != nullptr;
    CRIA_WRITE(info, v, format);
    CRIA_WRITE(info, v, dim);
    CRIA_WRITE(info, v, hidden_dim);
    CRIA_WRITE(info, v, n_layers);
    CRIA_WRITE(info, v, n_heads);
    CRIA_WRITE(info, v, n_kv_heads);
    CRIA_WRITE(info, v, vocab_size);
    CRIA_WRITE(info, v, context_length);
    CRIA_WRITE(info, v, rms_norm_eps);
    CRIA_WRITE(info, v, rope_theta);
    CRIA_WRITE(info, v, has_vocabulary);
  });
}

cria_status cria_model_vocab_size(const cria_model* model, int32_t* out_size) {
  return guard("cria_model_vocab_size", [&] {
    require(model, "model");
    require(out_size, "out_size");
    *out_size = static_cast<int32_t>(model->model->config().vocab_size);
  });
}

cria_status cria_model_bos(const cria_model* model, int32_t* out_token) {
  return guard("cria_model_bos", [&] {
    const cria::Tokenizer& t = tokenizer_of(model);
    require(out_token, "out_token");
    *out_token = t.bos_id();
  });
}

cria_status cria_model_eos(const cria_model* model, int32_t* out_token) {
  return guard("cria_model_eos", [&] {
    const cria::Tokenizer& t = tokenizer_of(model);
    require(out_token, "out_token");
    *out_token = t.eos_id();
  });
}

cria_status cria_model_token_piece(const cria_model* model, int32_t token, char* buffer,
                                   size_t capacity, size_t* out_length) {
  return guard("cria_model_token_piece", [&] {
    const cria::Tokenizer& t = tokenizer_of(model);
    check_token(model, token);
    put_text(t.piece(token), buffer, capacity, out_length);
  });
}

// ---- tokenizer ---------------------------------------------------------------------------

cria_status cria_tokenize(const cria_model* model, const char* text, size_t text_length,
                          uint32_t flags, int32_t* tokens, size_t capacity, size_t* out_count) {
  return guard("cria_tokenize", [&] {
    const cria::Tokenizer& t = tokenizer_of(model);
    if (!text && text_length) fail(CRIA_ERROR_INVALID_ARGUMENT, "text is NULL");
    const uint32_t known = CRIA_TOKENIZE_ADD_BOS | CRIA_TOKENIZE_ADD_EOS | CRIA_TOKENIZE_PARSE_SPECIAL;
    if (flags & ~known)
      fail(CRIA_ERROR_INVALID_ARGUMENT, "unknown flags 0x" + std::to_string(flags & ~known));
    cria::EncodeOptions eo;
    eo.add_bos = (flags & CRIA_TOKENIZE_ADD_BOS) != 0;
    eo.add_eos = (flags & CRIA_TOKENIZE_ADD_EOS) != 0;
    eo.parse_special = (flags & CRIA_TOKENIZE_PARSE_SPECIAL) != 0;
    std::vector<int32_t> ids = t.encode(std::string_view(text ? text : "", text_length), eo);
    put_tokens(ids, tokens, capacity, out_count);
  });
}

cria_status cria_detokenize(const cria_model* model, const int32_t* tokens, size_t count,
                            char* buffer, size_t capacity, size_t* out_length) {
  return guard("cria_detokenize", [&] {
    const cria::Tokenizer& t = tokenizer_of(model);
    if (!tokens && count) fail(CRIA_ERROR_INVALID_ARGUMENT, "tokens is NULL");
    for (size_t i = 0; i < count; ++i) check_token(model, tokens[i]);
    put_text(count ? t.decode(tokens, count) : std::string(), buffer, capacity, out_length);
  });
}

// ---- chat template -----------------------------------------------------------------------

cria_status cria_chat_apply_template(const cria_model* model, const cria_chat_message* messages,
                                     size_t n_messages, int32_t* tokens, size_t capacity,
                                     size_t* out_count) {
  return guard("cria_chat_apply_template", [&] {
    const cria::Tokenizer& t = tokenizer_of(model);
    if (n_messages == 0) fail(CRIA_ERROR_INVALID_ARGUMENT, "the conversation has no message");
    require(messages, "messages");
    for (size_t i = 0; i < n_messages; ++i) {
      if (!messages[i].content)
        fail(CRIA_ERROR_INVALID_ARGUMENT, "messages[" + std::to_string(i) + "].content is NULL");
      int32_t r = messages[i].role;
      if (r != CRIA_ROLE_SYSTEM && r != CRIA_ROLE_USER && r != CRIA_ROLE_ASSISTANT)
        fail(CRIA_ERROR_INVALID_ARGUMENT, "messages[" + std::to_string(i) + "].role " +
                                              std::to_string(r) + " is not a cria_role");
    }
    std::vector<cria::ChatMessage> conversation;
    for (size_t i = 0; i < n_messages; ++i)
      conversation.push_back({messages[i].role == CRIA_ROLE_SYSTEM ? cria::ChatRole::System
                              : messages[i].role == CRIA_ROLE_USER ? cria::ChatRole::User
                                                                   : cria::ChatRole::Assistant,
                              messages[i].content});
    std::vector<int32_t> ids = cria::apply_chat_template(t, conversation);
    put_tokens(ids, tokens, capacity, out_count);
  });
}

// ---- sessions ----------------------------------------------------------------------------

void cria_sampling_params_init(cria_sampling_params* params) {
  if (!params) return;
  std::memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->temperature = 0.8f;
  params->top_k = 40;
  params->top_p = 0.95f;
  params->seed = 0;
  params->repeat_last_n = 64;
  params->repeat_penalty = 1.0f;
  params->typical_p = 1.0f;
  params->mirostat_tau = 5.0f;
  params->mirostat_eta = 0.1f;
}

void cria_session_params_init(cria_session_params* params) {
  if (!params) return;
  std::memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->context_length = 0;
  params->n_threads = 0;
  params->max_batch = static_cast<int32_t>(cria::kDefaultMaxBatch);
  params->sampling = nullptr;
}

cria_status cria_session_create(const cria_model* model, const cria_session_params* params,
                                cria_session** out_session) {
  return guard("cria_session_create", [&] {
    require(model, "model");
    require(out_session, "out_session");
    cria_session_params p;
    cria_session_params_init(&p);
    if (params) {
      check_struct_size(params, "params");
      CRIA_READ(p, params, context_length);
      CRIA_READ(p, params, n_threads);
      CRIA_READ(p, params, max_batch);
      CRIA_READ(p, params, sampling);
      CRIA_READ(p, params, context_policy);
      CRIA_READ(p, params, shift_keep);
    }
    if (p.context_policy != CRIA_CONTEXT_STOP && p.context_policy != CRIA_CONTEXT_SHIFT)
      fail(CRIA_ERROR_INVALID_ARGUMENT, "context_policy " + std::to_string(p.context_policy) +
                                            " is not CRIA_CONTEXT_STOP or CRIA_CONTEXT_SHIFT");
    if (p.context_length < 0) fail(CRIA_ERROR_INVALID_ARGUMENT, "context_length is negative");
    if (p.n_threads < 0) fail(CRIA_ERROR_INVALID_ARGUMENT, "n_threads is negative");
    if (p.max_batch < 0) fail(CRIA_ERROR_INVALID_ARGUMENT, "max_batch is negative");
    auto s = std::make_unique<cria_session>();
    s->owner = model;
    s->sampler.emplace(read_sampling(p.sampling), model->model->tokenizer());
    cria::SessionOptions so;
    so.context_length = p.context_length;
    so.n_threads = p.n_threads;
    so.max_batch = p.max_batch > 0 ? p.max_batch : cria::kDefaultMaxBatch;
    so.when_full = p.context_policy == CRIA_CONTEXT_SHIFT ? cria::ContextPolicy::Shift : cria::ContextPolicy::Stop;
    so.shift_keep = p.shift_keep;
    s->session = std::make_unique<cria::Session>(*model->model, so);
    *out_session = s.release();
  });
}

void cria_session_free(cria_session* session) { delete session; }

cria_status cria_session_reset(cria_session* session) {
  return guard("cria_session_reset", [&] {
    require_session(session);
    session->session->reset();
    session->sampler->reset();
  });
}

cria_status cria_session_set_sampling(cria_session* session, const cria_sampling_params* params) {
  return guard("cria_session_set_sampling", [&] {
    require_session(session);
    require(params, "params");
    session->sampler = cria::Sampler(read_sampling(params), session->owner->model->tokenizer());  // validated before it replaces the old
  });
}

cria_status cria_session_n_past(const cria_session* session, int32_t* out_n_past) {
  return guard("cria_session_n_past", [&] {
    require_session(session);
    require(out_n_past, "out_n_past");
    *out_n_past = static_cast<int32_t>(session->session->n_past());
  });
}

cria_status cria_session_context_length(const cria_session* session, int32_t* out_context_length) {
  return guard("cria_session_context_length", [&] {
    require_session(session);
    require(out_context_length, "out_context_length");
    *out_context_length = static_cast<int32_t>(session->session->context_length());
  });
}

// ---- rewind, context shift and saved state ------------------------------------------------

cria_status cria_session_cancel(cria_session* session) {
  return guard("cria_session_cancel", [&] {
    require_session(session);
    session->session->cancel();
  });
}

cria_status cria_session_tokens(const cria_session* session, int32_t* tokens, size_t capacity, size_t* out_count) {
  return guard("cria_session_tokens", [&] {
    require_session(session);
    put_tokens(session->session->tokens(), tokens, capacity, out_count);
  });
}

cria_status cria_session_n_evaluated(const cria_session* session, int64_t* out_count) {
  return guard("cria_session_n_evaluated", [&] {
    require_session(session);
    require(out_count, "out_count");
    *out_count = session->session->evaluated_positions();
  });
}

cria_status cria_session_truncate(cria_session* session, int32_t n_keep) {
  return guard("cria_session_truncate", [&] {
    require_session(session);
    session->session->truncate(n_keep);
    session->sampler->reset();
    for (int32_t token : session->session->tokens()) session->sampler->accept(token);  // the penalties' window
  });
}

cria_status cria_session_shift(cria_session* session, int32_t n_keep, int32_t n_discard) {
  return guard("cria_session_shift", [&] {
    require_session(session);
    session->session->shift(n_keep, n_discard);
  });
}

cria_status cria_session_state_save(const cria_session* session, void* buffer, size_t capacity, size_t* out_size) {
  return guard("cria_session_state_save", [&] {
    require_session(session);
    require(out_size, "out_size");
    if (!buffer && capacity) fail(CRIA_ERROR_INVALID_ARGUMENT, "buffer is NULL but capacity is not 0");
    const std::string state = session->session->save_state(&*session->sampler);
    *out_size = state.size();
    if (capacity < state.size())
      fail(CRIA_ERROR_BUFFER_TOO_SMALL, "the state needs " + std::to_string(state.size()) +
                                            " bytes; the buffer has " + std::to_string(capacity));
    std::memcpy(buffer, state.data(), state.size());
  });
}

cria_status cria_session_state_load(cria_session* session, const void* buffer, size_t size) {
  return guard("cria_session_state_load", [&] {
    require_session(session);
    if (!buffer && size) fail(CRIA_ERROR_INVALID_ARGUMENT, "buffer is NULL but size is not 0");
    session->session->load_state(std::string_view(static_cast<const char*>(buffer), size), &*session->sampler);
  });
}

cria_status cria_session_state_save_file(const cria_session* session, const char* path) {
  return guard("cria_session_state_save_file", [&] {
    require_session(session);
    require(path, "path");
    session->session->save_state_file(path, &*session->sampler);
  });
}

cria_status cria_session_state_load_file(cria_session* session, const char* path) {
  return guard("cria_session_state_load_file", [&] {
    require_session(session);
    require(path, "path");
    session->session->load_state_file(path, &*session->sampler);
  });
}

// ---- step API ----------------------------------------------------------------------------

cria_status cria_session_eval(cria_session* session, const int32_t* tokens, size_t count,
                              size_t max_positions, size_t* out_evaluated) {
  return guard("cria_session_eval", [&] {
    require_session(session);
    if (!tokens && count) fail(CRIA_ERROR_INVALID_ARGUMENT, "tokens is NULL");
    const size_t n = max_positions == 0 ? count : std::min(count, max_positions);
    session->session->eval(tokens, static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) session->sampler->accept(tokens[i]);  // the penalties' window
    if (out_evaluated) *out_evaluated = n;
  });
}

cria_status cria_session_logits(const cria_session* session, float* logits, size_t capacity,
                                size_t* out_count) {
  return guard("cria_session_logits", [&] {
    require_session(session);
    require(out_count, "out_count");
    const std::vector<float>& l = session->session->logits();
    if (!logits && capacity) fail(CRIA_ERROR_INVALID_ARGUMENT, "logits is NULL but capacity is not 0");
    if (capacity < l.size()) {
      *out_count = l.size();
      fail(CRIA_ERROR_BUFFER_TOO_SMALL, "the logits need " + std::to_string(l.size()) +
                                            " floats; the buffer holds " + std::to_string(capacity));
    }
    std::copy(l.begin(), l.end(), logits);
    *out_count = l.size();
  });
}

cria_status cria_session_sample(cria_session* session, int32_t* out_token) {
  return guard("cria_session_sample", [&] {
    require_session(session);
    require(out_token, "out_token");
    if (!session->session->has_logits())
      fail(CRIA_ERROR_INVALID_STATE, "no position has been evaluated yet: eval a prompt first");
    const std::vector<float>& l = session->session->logits_for_sampling();
    *out_token = session->sampler->sample(l.data(), static_cast<int64_t>(l.size()));
  });
}

cria_status cria_session_sample_logits(cria_session* session, const float* logits, size_t count,
                                       int32_t* out_token) {
  return guard("cria_session_sample_logits", [&] {
    require_session(session);
    require(logits, "logits");
    require(out_token, "out_token");
    size_t n = static_cast<size_t>(session->owner->model->config().vocab_size);
    if (count != n)
      fail(CRIA_ERROR_INVALID_ARGUMENT, "count is " + std::to_string(count) +
                                            " but the vocabulary has " + std::to_string(n) + " tokens");
    *out_token = session->sampler->sample(logits, static_cast<int64_t>(n));
  });
}

cria_status cria_session_accept(cria_session* session, int32_t token, char* text, size_t capacity,
                                size_t* out_length) {
  return guard("cria_session_accept", [&] {
    require_session(session);
    check_token(session->owner, token);
    const cria::Session& s = *session->session;
    if (s.n_past() >= s.context_length())  // before the buffer, as the step API always has
      fail(CRIA_ERROR_CONTEXT_FULL, "the session's context (" + std::to_string(s.context_length()) +
                                        " positions) is full");
    check_token_text(s, token, text, capacity, out_length);
    const std::string piece = session->session->accept(token);
    session->sampler->accept(token);
    write_token_text(piece, text, out_length);
  });
}

cria_status cria_session_flush_text(cria_session* session, char* text, size_t capacity,
                                    size_t* out_length) {
  return guard("cria_session_flush_text", [&] {
    require_session(session);
    require(out_length, "out_length");
    put_text(session->session->pending_text(), text, capacity, out_length);
    session->session->flush_text();
  });
}

// ---- batches -----------------------------------------------------------------------------

cria_status cria_batch_create(cria_batch** out_batch) {
  return guard("cria_batch_create", [&] {
    require(out_batch, "out_batch");
    *out_batch = new cria_batch();
  });
}

void cria_batch_free(cria_batch* batch) { delete batch; }

cria_status cria_batch_add(cria_batch* batch, cria_session* session, const int32_t* tokens, size_t count) {
  return guard("cria_batch_add", [&] {
    require(batch, "batch");
    require_session(session);
    if (!tokens && count) fail(CRIA_ERROR_INVALID_ARGUMENT, "tokens is NULL");
    batch->batch.add(*session->session, tokens, static_cast<int64_t>(count));
  });
}

cria_status cria_batch_accept(cria_batch* batch, cria_session* session, int32_t token, char* text,
                              size_t capacity, size_t* out_length) {
  return guard("cria_batch_accept", [&] {
    require(batch, "batch");
    require_session(session);
    check_token(session->owner, token);
    check_token_text(*session->session, token, text, capacity, out_length);
    const std::string piece = batch->batch.accept(*session->session, token);
    session->sampler->accept(token);
    write_token_text(piece, text, out_length);
  });
}

cria_status cria_batch_eval(cria_batch* batch) {
  return guard("cria_batch_eval", [&] {
    require(batch, "batch");
    batch->batch.eval();
  });
}

// ---- generation --------------------------------------------------------------------------

void cria_generate_params_init(cria_generate_params* params) {
  if (!params) return;
  std::memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->temperature = 0.8f;
  params->top_k = 40;
  params->top_p = 0.95f;
  params->seed = 0;
  params->repeat_last_n = 64;
  params->repeat_penalty = 1.0f;
  params->typical_p = 1.0f;
  params->mirostat_tau = 5.0f;
  params->mirostat_eta = 0.1f;
  params->max_tokens = -1;
  params->stop_strings = nullptr;
  params->n_stop_strings = 0;
  params->prompt_progress = nullptr;
  params->prompt_progress_user_data = nullptr;
}

void cria_generate_result_init(cria_generate_result* result) {
  if (!result) return;
  std::memset(result, 0, sizeof(*result));
  result->struct_size = sizeof(*result);
}

cria_status cria_generate(cria_session* session, const char* prompt,
                          const cria_generate_params* params, cria_text_fn on_text,
                          void* user_data, cria_generate_result* result) {
  return run_generate(
      "cria_generate", &session, 1, [&](size_t) { return prompt_tokens(session, prompt, "prompt"); }, params,
      [&](size_t, std::string_view text) { return deliver(on_text, text, user_data); }, result);
}

cria_status cria_generate_tokens(cria_session* session, const int32_t* prompt, size_t count,
                                 const cria_generate_params* params, cria_text_fn on_text,
                                 void* user_data, cria_generate_result* result) {
  return run_generate(
      "cria_generate_tokens", &session, 1,
      [&](size_t) {
        if (!prompt && count) fail(CRIA_ERROR_INVALID_ARGUMENT, "prompt is NULL");
        return std::vector<int32_t>(prompt, prompt + count);
      },
      params, [&](size_t, std::string_view text) { return deliver(on_text, text, user_data); }, result);
}

cria_status cria_generate_batch(cria_session* const* sessions, const char* const* prompts, size_t n,
                                const cria_generate_params* params, cria_sequence_text_fn on_text,
                                void* user_data, cria_generate_result* results) {
  return run_generate(
      "cria_generate_batch", sessions, n,
      [&](size_t i) {
        require(prompts, "prompts");
        return prompt_tokens(sessions[i], prompts[i], ("prompts[" + std::to_string(i) + "]").c_str());
      },
      params,
      [&](size_t i, std::string_view text) {
        if (!on_text) return true;
        const std::string copy(text);
        return on_text(i, copy.c_str(), copy.size(), user_data);
      },
      results);
}

}  // extern "C"

// ---- grammars ----------------------------------------------------------------------------

cria_status cria_json_schema_to_grammar(const char* schema, char* grammar, size_t capacity, size_t* out_length) {
  return guard("cria_json_schema_to_grammar", [&] {
    require(schema, "schema");
    put_text(cria::json_schema_to_grammar(schema), grammar, capacity, out_length);
  });
}

// ---- embeddings --------------------------------------------------------------------------

void cria_embed_params_init(cria_embed_params* params) {
  if (!params) return;
  std::memset(params, 0, sizeof(*params));
  params->struct_size = sizeof(*params);
  params->pooling = CRIA_POOLING_MEAN;
  params->normalize = true;
  params->n_threads = 0;
  params->max_batch = static_cast<int32_t>(cria::kDefaultMaxBatch);
}

cria_status cria_model_embedding_size(const cria_model* model, int32_t* out_size) {
  return guard("cria_model_embedding_size", [&] {
    require(model, "model");
    require(out_size, "out_size");
    *out_size = static_cast<int32_t>(model->model->config().dim);
  });
}

cria_status cria_embed(const cria_model* model, const char* const* texts, size_t n_texts,
                       const cria_embed_params* params, float* embeddings, size_t capacity, size_t* out_count) {
  return guard("cria_embed", [&] {
    const cria::Tokenizer& t = tokenizer_of(model);
    require(out_count, "out_count");
    if (!texts && n_texts) fail(CRIA_ERROR_INVALID_ARGUMENT, "texts is NULL");
    if (!embeddings && capacity) fail(CRIA_ERROR_INVALID_ARGUMENT, "embeddings is NULL but capacity is not 0");
    cria_embed_params p;
    cria_embed_params_init(&p);
    if (params) {
      check_struct_size(params, "params");
      CRIA_READ(p, params, pooling);
      CRIA_READ(p, params, normalize);
      CRIA_READ(p, params, n_threads);
      CRIA_READ(p, params, max_batch);
    }
    if (p.pooling != CRIA_POOLING_MEAN && p.pooling != CRIA_POOLING_LAST)
      fail(CRIA_ERROR_INVALID_ARGUMENT, "pooling " + std::to_string(p.pooling) +
                                            " is not CRIA_POOLING_MEAN or CRIA_POOLING_LAST");
    if (p.n_threads < 0) fail(CRIA_ERROR_INVALID_ARGUMENT, "n_threads is negative");
    if (p.max_batch < 0) fail(CRIA_ERROR_INVALID_ARGUMENT, "max_batch is negative");
    const size_t dim = static_cast<size_t>(model->model->config().dim);
    *out_count = n_texts * dim;
    if (capacity < n_texts * dim)
      fail(CRIA_ERROR_BUFFER_TOO_SMALL, "the embeddings need " + std::to_string(n_texts * dim) +
                                            " floats; the buffer holds " + std::to_string(capacity));
    std::vector<std::vector<int32_t>> tokens(n_texts);
    cria::EncodeOptions eo;
    eo.add_bos = true;
    for (size_t i = 0; i < n_texts; ++i) {
      if (!texts[i]) fail(CRIA_ERROR_INVALID_ARGUMENT, "texts[" + std::to_string(i) + "] is NULL");
      tokens[i] = t.encode(texts[i], eo);
    }
    cria::EmbedOptions o;
    o.pooling = p.pooling == CRIA_POOLING_LAST ? cria::Pooling::Last : cria::Pooling::Mean;
    o.normalize = p.normalize;
    o.n_threads = p.n_threads;
    o.max_batch = p.max_batch > 0 ? p.max_batch : cria::kDefaultMaxBatch;
    const std::vector<std::vector<float>> out = cria::embed(*model->model, tokens, o);
    for (size_t i = 0; i < n_texts; ++i) std::copy(out[i].begin(), out[i].end(), embeddings + i * dim);
  });
}
