"""cria's logits against a numpy float64 reference of the Llama forward pass.

Part 1 (no cria needed) checks the reference tools themselves:
  - gguf_write.py output parsed back by gguf_read.py (metadata, tensor table, alignment,
    values, quantization round trips within half a quantization step);
  - our Q8_0/Q4_0/F16 encoders reproduce llama.cpp's quantizer byte for byte on the
    synth256 fixtures, and our decoders agree with its F32 original;
  - the reference forward pass is causal (prefix logits = first rows of the full logits)
    and, run greedily on stories260K.gguf, reproduces llama2.c's golden story.
Part 2 (needs CRIA_CLI) runs `cria logits` on random synthetic models of several shapes and
weight types and on the shared GGUF fixtures, compares with the reference, checks that 1, 2
and 3 threads give bit-identical logits, and compares a perplexity.

Environment: CRIA_CLI (the cria binary; part 2 is skipped when unset), CRIA_SHARED_DIR
(default ../shared beside the repository), CRIA_TEST_TMP (temporaries; default a fresh
directory under the system temp dir). Exits non-zero on any failure.

Tolerance (see TOLERANCE below).
cria computes in float32: weights are decoded to float32 exactly (an F16 value, and a Q8_0 or
Q4_0 value d*q with an fp16 d and a small integer q, are all exactly representable), so the
only differences from the float64 reference are float32 rounding in the arithmetic. A dot
product of length n accumulates a relative error of about sqrt(n) * 2^-24 (~1e-6 for
n <= 512 with random signs, a few times that in the worst case); RMSNorm renormalises each
layer's input, so errors grow roughly additively over the few layers here, not
multiplicatively. Expected logit errors are therefore ~1e-6..1e-5 of the logit scale. We
allow max|cria - ref| <= 1e-4 * max(1, max|ref|): ten times above the expected error so
that a different but legitimate summation order (SIMD, blocked GEMM) passes, yet far below
what any real bug causes (a wrong RoPE pair, GQA mapping, scale or off-by-one position
changes logits by 1e-2..1 of their scale; one bad quant nibble by ~1e-3).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True  # write nothing into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_write as gw  # noqa: E402
from gguf_read import GGUFFile, decode_tensor  # noqa: E402
from llama_reference import forward, load_model  # noqa: E402

TOLERANCE = 1e-4
# Models with weights that cria multiplies with 8-bit activations (Q8_0, Q4_0, ...): the
# reference rounds activations the same way, but it rounds cria's float32 values computed in
# float64, so a value within ~1e-6 of a rounding boundary can land one step (max|x|/127) away
# from cria's: about 1 in 10^4 activations. One such step moves a dot product by about 1/127 of
# one term, well under 1e-2 of the logit scale even after it propagates through the layers
# (measured: 2e-7 to 5e-3). A wrong block layout or scale moves logits by O(1), so 1e-2 still
# catches every kernel bug; the F32/F16 cases keep the tight bound for the forward pass itself.
TOLERANCE_8BIT_ACTIVATIONS = 1e-2
# The llama.cpp-made K-quant files (synth256.q4_k_m/q6_k) meet such boundary values more often
# (about one value in 2e-4 of a step of a boundary per position and matrix), and a step of a
# 256-value activation block is larger. A step taken in an early layer reaches every later
# position through the KV cache: measured up to 1.2e-2 of the logit scale from the position
# where it happened on (the others agree to 1e-7). For those files the bound is 3e-2, and the
# report says how many positions agree to 1e-5.
FLIP_EXACT, FLIP_TOLERANCE = 1e-5, 3e-2
# Prompts run through a GEMM backend (--gemm). The cases run with onednn-f32, which keeps
# every operand in float32, so the bounds above apply. The default for F16/BF16 weights,
# onednn-bf16, rounds weights and activations to bf16 (8 significant bits: each product off by
# up to 2^-8 relative, random in sign, so a dot product of n terms drifts by ~2^-8/sqrt(n) of
# its terms' magnitude; measured 4e-3 to 1e-2 of the logit scale): checked separately with
TOLERANCE_BF16 = 3e-2
# The cases run with a float32 KV cache (--kv-type f32). cria's default stores keys and values
# as float16; the reference rounds them the same way, but a float32 value of cria's within
# ~1e-7 of a float16 rounding boundary can round to the neighbour (one float16 step, 2^-11
# relative, in one element of one key): measured up to 1e-4 of the logit scale. Checked with
TOLERANCE_F16_KV = 1e-3
EXACT_GEMM = "onednn-f32"

__test__ = False  # a plain script (run by CTest), not a pytest module: keep pytest off it

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("CRIA_SHARED_DIR") or os.path.normpath(os.path.join(HERE, "../../../shared"))
CLI = os.environ.get("CRIA_CLI", "")

failures = []


def check(ok, message):
    print(("ok    " if ok else "FAIL  ") + message, flush=True)
    if not ok:
        failures.append(message)
    return ok


def tmp_dir():
    base = os.environ.get("CRIA_TEST_TMP")
    if base:
        d = os.path.join(base, "reference")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d, exist_ok=True)
        return d
    return tempfile.mkdtemp(prefix="cria-reference-")


TMP = None


def shared(name):
    return os.path.join(SHARED, "models", name)


# ---------------------------------------------------------------------------------------
# Part 1: the reference tools against themselves and against llama.cpp / llama2.c files.

def test_gguf_round_trip():
    rng = np.random.default_rng(1)
    w = gw.GGUFWriter()
    w.add_string("general.architecture", "llama")
    w.add_u32("llama.block_count", 3)
    w.add_i32("some.int", -7)
    w.add_f32("some.float", 1.5e-6)
    w.add_bool("some.bool", True)
    w.add_array("some.strings", gw.GGUF_STRING, ["a", "", "\u2581b\u00e9"])
    w.add_array("some.f32s", gw.GGUF_FLOAT32, [0.5, -2.0])
    w.add_array("some.i32s", gw.GGUF_INT32, [1, -1, 6])
    x = {t: (rng.standard_normal((3, 64)) * 0.1).astype(np.float32)
         for t in (gw.GGML_F32, gw.GGML_F16, gw.GGML_Q8_0, gw.GGML_Q4_0)}
    x[gw.GGML_Q8_0][1, :32] = 0.0  # an all-zero block: d = 0
    x[gw.GGML_Q4_0][2, 32:] = 0.0
    for t, a in x.items():
        w.add_tensor("t." + gw.TYPE_NAMES[t], a, t)
    w.add_tensor("odd", np.arange(5, dtype=np.float32), gw.GGML_F32)  # forces padding
    w.add_tensor("after_odd", np.ones((2, 3), dtype=np.float32), gw.GGML_F16)
    path = os.path.join(TMP, "round_trip.gguf")
    w.write(path)

    g = GGUFFile(path)
    m = g.metadata
    ok = (g.version == 3 and m["general.alignment"] == 32 and m["llama.block_count"] == 3
          and m["some.int"] == -7 and np.float32(m["some.float"]) == np.float32(1.5e-6)
          and m["some.bool"] is True and m["some.strings"] == ["a", "", "\u2581b\u00e9"]
          and list(m["some.f32s"]) == [0.5, -2.0] and list(m["some.i32s"]) == [1, -1, 6])
    check(ok, "gguf round trip: metadata")
    data = open(path, "rb").read()
    check(len(data) % 32 == 0 and g.tensors["odd"][0] == (5,)
          and g.tensors["after_odd"][0] == (3, 2), "gguf round trip: tensor table, padding")
    check(np.array_equal(g.tensor("t.F32"), x[gw.GGML_F32]), "gguf round trip: F32 exact")
    check(np.array_equal(g.tensor("t.F16"), x[gw.GGML_F16].astype(np.float16)),
          "gguf round trip: F16 = numpy's float16 rounding")
    check(np.array_equal(g.tensor("odd"), np.arange(5)) and
          np.array_equal(g.tensor("after_odd"), np.ones((2, 3))), "gguf round trip: small tensors")
    for t, step in ((gw.GGML_Q8_0, 127.0), (gw.GGML_Q4_0, 8.0)):
        a = x[t].astype(np.float64)
        back = g.tensor("t." + gw.TYPE_NAMES[t])
        blocks, bb = a.reshape(-1, 32), back.reshape(-1, 32)
        amax = np.abs(blocks).max(axis=1, keepdims=True)
        # Half a quantization step (amax/step/2), plus the fp16 rounding of d times the
        # largest integer code (|q| <= 127 or 8) - a relative 2^-11 of amax.
        bound = amax / step / 2 + amax * 2.0 ** -11 + 1e-12
        err = np.abs(blocks - bb)
        ok = bool(np.all(err <= bound)) and np.all(bb[np.all(blocks == 0, axis=1)] == 0)
        check(ok, "gguf round trip: %s within half a step (max err %.3g, max bound %.3g)"
              % (gw.TYPE_NAMES[t], err.max(), bound.max()))
    # Q4_0: the element of largest magnitude is decoded exactly (code 0, d = m / -8).
    a = x[gw.GGML_Q4_0].reshape(-1, 32)
    back = g.tensor("t.Q4_0").reshape(-1, 32)
    idx = np.abs(a).argmax(axis=1)
    r = np.arange(a.shape[0])
    m16 = (a[r, idx] / np.float32(-8)).astype(np.float16).astype(np.float64) * -8
    check(np.array_equal(back[r, idx], m16), "gguf round trip: Q4_0 extreme values exact")


def test_against_llama_cpp_quantizer():
    path32 = shared("synth256.f32.gguf")
    if not os.path.exists(path32):
        check(False, "fixture missing: " + path32)
        return
    f32 = GGUFFile(path32)
    for fname, want_type in (("synth256.f16.gguf", gw.GGML_F16), ("synth256.q8_0.gguf", gw.GGML_Q8_0),
                             ("synth256.q4_0.gguf", gw.GGML_Q4_0)):
        g = GGUFFile(shared(fname))
        n_same = n_checked = 0
        max_err = 0.0
        for name, (ne, t, raw) in g.tensors.items():
            if t != want_type:
                continue  # llama.cpp keeps norms F32, and puts output.weight in Q6_K for Q4_0
            n_checked += 1
            orig = f32.tensor(name)
            mine = gw.encode_tensor(orig.astype(np.float32), t)
            n_same += mine == raw
            max_err = max(max_err, float(np.abs(decode_tensor(raw, ne, t) - orig).max()))
        check(n_checked > 0 and n_same == n_checked,
              "%s: our encoder matches llama.cpp byte for byte on %d/%d tensors; "
              "decoded vs F32 original max |err| %.3g" % (fname, n_same, n_checked, max_err))


def detokenize(pieces, ids):
    """llama2.c's decoding: strip the space after BOS, <0xNN> pieces are raw bytes."""
    out = b""
    prev = 1
    for i in ids:
        p = pieces[i]
        if len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
            b = bytes([int(p[3:5], 16)])
        else:
            b = p.replace("\u2581", " ").encode("utf-8")
            if prev == 1 and b.startswith(b" "):
                b = b[1:]
        out += b
        prev = i
    return out


def test_reference_causal_and_golden():
    cfg, w = load_model(shared("stories260K.gguf"))
    rng = np.random.default_rng(2)
    ids = rng.integers(0, cfg["vocab_size"], 17)
    full = forward(cfg, w, ids)
    err = max(float(np.abs(forward(cfg, w, ids[:k]) - full[:k]).max()) for k in (1, 6, 16))
    check(err < 1e-12, "reference: prefix logits equal the full pass's first rows (max diff %.2g)" % err)

    golden_path = os.path.join(SHARED, "golden", "stories260K.t0.n200.txt")
    golden = open(golden_path, "rb").read()
    pieces = GGUFFile(shared("stories260K.gguf")).metadata["tokenizer.ggml.tokens"]
    # llama2.c `run -n 200` forwards positions 0..199 (BOS first) and prints the greedy
    # token after each, stopping early if BOS comes back: up to 200 tokens after BOS.
    # Only the last position's logits are needed at each step: recompute the prefix (the
    # model is tiny), which also keeps the reference free of any cache logic.
    tokens = [1]
    while len(tokens) < 201:
        nxt = int(np.argmax(forward(cfg, w, tokens)[-1]))
        if nxt == 1:
            break
        tokens.append(nxt)
    text = detokenize(pieces, tokens[1:]) + b"\n"
    same = text == golden
    if not same:
        k = next((i for i in range(min(len(text), len(golden))) if text[i] != golden[i]),
                 min(len(text), len(golden)))
        print("      reference: %r\n      golden:    %r" % (text[max(0, k - 40):k + 40],
                                                          golden[max(0, k - 40):k + 40]))
    check(same, "reference: greedy stories260K.gguf reproduces llama2.c's golden story (%d tokens)"
          % (len(tokens) - 1))


# ---------------------------------------------------------------------------------------
# Part 2: cria against the reference.

def regrouping_cpu():
    """Whether cria regroups Q4_K / Q5_K / Q6_K weights here: it does with its AVX2 and AVX-512
    kernels (AVX2 with FMA and F16C), unless CRIA_ISA=scalar."""
    if os.environ.get("CRIA_ISA", "avx512") == "scalar":
        return False
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return False
    return all(f in flags for f in ("avx2", "fma", "f16c"))


def amx_cpu():
    """Whether cria runs prompts on regrouped Q4_0 / Q8_0 / Q4_K weights with AMX bf16 tiles
    here: the CPU has AMX-BF16 and AVX-512 BF16, and CRIA_ISA does not rule them out."""
    if os.environ.get("CRIA_ISA", "amx") != "amx":
        return False
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return False
    return all(f in flags for f in ("amx_tile", "amx_bf16", "avx512_bf16", "avx512_vnni"))


_BF16_GEMM = []


def bf16_gemm_available():
    """Whether this cria has oneDNN's bf16 matmul on this CPU (it needs AVX-512): asked of
    cria itself, once; without it the onednn-bf16 cases are skipped, saying so."""
    if not _BF16_GEMM:
        out = os.path.join(TMP, "bf16_probe.f32")
        r = subprocess.run([CLI, "logits", "-m", shared("stories260K.gguf"), "--tokens", "1",
                            "-o", out, "--gemm", "onednn-bf16"], capture_output=True, text=True)
        _BF16_GEMM.append(r.returncode == 0)
        if r.returncode != 0:
            print("-- skipped: the onednn-bf16 cases (%s)" % r.stderr.strip())
    return _BF16_GEMM[0]


def cria_env(amx):
    """The environment for cria: amx=False keeps prompts on the 8-bit kernels (which the
    reference's default arithmetic models) on CPUs that have AMX."""
    if amx or "CRIA_ISA" in os.environ:
        return None
    return dict(os.environ, CRIA_ISA="avx512")


def cria_logits(model, ids, vocab, threads=2, batch=None, ctx=None, tag="out", gemm="auto",
                kv="f32", load="read", amx=False, backend="cpu"):
    out = os.path.join(TMP, "%s.f32" % tag)
    cmd = [CLI, "logits", "-m", model, "--tokens", " ".join(str(int(i)) for i in ids),
           "-o", out, "-t", str(threads), "--gemm", gemm, "--kv-type", kv, "--load", load,
           "--backend", backend]
    if batch:
        cmd += ["-b", str(batch)]
    if ctx:
        cmd += ["-c", str(ctx)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                       env=cria_env(amx))
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd[:3]), r.returncode,
                                                   r.stderr.decode(errors="replace")[-2000:]))
    raw = np.fromfile(out, dtype="<f4")
    if raw.size != len(ids) * vocab:
        raise RuntimeError("cria logits wrote %d floats, expected %d x %d" % (raw.size, len(ids), vocab))
    return raw.reshape(len(ids), vocab), open(out, "rb").read()


def compare(name, model, ids, batch=None, ctx=None, threads=2, gemm=None, tolerance=None, kv="f32",
            load="read", flips=False, amx=False, backend="cpu"):
    """gemm None: onednn-f32 for float weights, the 8-bit dot kernels for the block formats,
    each against the reference of that arithmetic. A float GEMM named explicitly is compared
    with the reference without activation rounding. load "read" and "map" regroup Q4_K, Q5_K
    and Q6_K where the CPU has AVX2 or AVX-512 kernels for it, which changes their activation
    blocks; "map-shared" keeps the file's layout.
    backend "reference" (cria's plain f32 backend) is compared with the reference without
    activation rounding."""
    float_gemm = gemm in ("onednn-f32", "openblas", "onednn-bf16") or backend == "reference"
    cfg, w = load_model(model, quantized_activations=not float_gemm,
                        regrouped=(load != "map-shared" and regrouping_cpu() and backend == "cpu"), amx=amx)
    eight_bit = any(getattr(v, "act_block", None) for v in w.values())
    if gemm is None:
        gemm = "kernels" if eight_bit else EXACT_GEMM if backend == "cpu" else "auto"
    ref = forward(cfg, w, ids, kv_f16=(kv == "f16"))
    try:
        got, _ = cria_logits(model, ids, cfg["vocab_size"], threads=threads, batch=batch,
                             ctx=ctx, tag=name.replace("/", "_"), gemm=gemm, kv=kv, load=load,
                             amx=amx, backend=backend)
    except Exception as e:  # report and go on with the other cases
        check(False, "%s: %s" % (name, e))
        return None
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(got - ref).max())
    rows = np.abs(got - ref).max(axis=1)
    tolerance = tolerance or (TOLERANCE_8BIT_ACTIVATIONS if eight_bit else TOLERANCE)
    ok = np.isfinite(got).all() and err <= tolerance * scale
    if flips:
        exact_share = float(np.mean(rows <= FLIP_EXACT * scale))
        ok = np.isfinite(got).all() and err <= FLIP_TOLERANCE * scale
        tolerance = FLIP_TOLERANCE
        name = "%s (%d%% of positions within %.0e)" % (name, round(100 * exact_share), FLIP_EXACT)
    msg = ("%-24s max|diff| %.3e  max|ref| %7.3f  rel %.2e  (tol %.1e%s, --backend %s --gemm %s --kv-type %s --load %s)"
           % (name, err, float(np.abs(ref).max()), err / scale, tolerance * scale,
              ", AMX bf16 prompts" if amx else ", 8-bit activations" if eight_bit else "", backend, gemm, kv,
              load))
    if not ok:
        msg += "\n      per-position max|diff|: " + " ".join("%.1e" % e for e in rows)
        msg += "\n      same argmax at %d/%d positions" % (
            int((got.argmax(1) == ref.argmax(1)).sum()), len(ids))
    check(ok, msg)
    return ref, got


# Synthetic cases: (name, config overrides, weight type(s), tied, n_tokens, batch, ctx).
BASE = dict(dim=64, hidden_dim=160, n_layers=2, n_heads=4, n_kv_heads=4, vocab_size=320,
            context_length=128, rms_eps=1e-5, rope_base=10000.0)
F32, F16, Q8, Q4 = gw.GGML_F32, gw.GGML_F16, gw.GGML_Q8_0, gw.GGML_Q4_0
MIXED = {"token_embd.weight": Q8, "output.weight": F16}
CASES = [
    # MHA, all F32, separate classifier, odd hidden size.
    ("mha_f32", dict(hidden_dim=172), F32, False, 20, None, None),
    # Same shape, tied classifier, several batches of 7 positions.
    ("mha_f32_tied_b7", dict(hidden_dim=172), F32, True, 20, 7, None),
    # GQA 8 query heads on 2 kv heads, F16, head_dim 16.
    ("gqa_f16", dict(dim=128, hidden_dim=352, n_heads=8, n_kv_heads=2, n_layers=3), F16, False, 20, None, None),
    # head_dim 12, GQA 8/4, Q8_0, tied, non-default eps and rope base (Llama 3-like); tiny
    # embeddings (mean x^2 ~ 4e-4) so that eps 1e-6 vs the default 1e-5 is visible.
    ("hd12_q8_tied", dict(dim=96, hidden_dim=256, n_heads=8, n_kv_heads=4, rms_eps=1e-6,
                          rope_base=500000.0, emb_scale=0.02), Q8, True, 21, None, None),
    # head_dim 10, 16 heads on 4 kv heads, Q4_0, separate classifier, batch 5.
    ("hd10_q4", dict(dim=160, hidden_dim=416, n_heads=16, n_kv_heads=4, rms_eps=1e-4,
                     rope_base=100.0), Q4, False, 19, 5, None),
    # head_dim 6, multi-query (1 kv head), F16, tied, a small fast-rotating RoPE base.
    ("hd6_mqa_f16_tied", dict(dim=48, hidden_dim=128, n_heads=8, n_kv_heads=1, rope_base=50.0,
                              rms_eps=3e-5), F16, True, 20, None, None),
    # Mixed weight types in one file: layers Q4_0, embeddings Q8_0, classifier F16; context
    # limited on the command line to just above the token count.
    ("mixed_q4_q8_f16", dict(dim=128, hidden_dim=320, n_heads=4, n_kv_heads=2, vocab_size=400),
     dict(MIXED, default=Q4), False, 22, 8, 24),
    # Q8_0 everywhere, MHA, one layer, 40 tokens in batches of 16.
    ("q8_mha_40tok_b16", dict(dim=64, hidden_dim=192, n_layers=1), Q8, False, 40, 16, None),
]


def make_case(name, overrides, wtype, tied, seed):
    cfg = dict(BASE, **overrides)
    rng = np.random.default_rng(seed)
    weights = gw.random_llama_weights(cfg, rng, tied=tied)
    if isinstance(wtype, dict):
        types = {n: wtype.get(n, wtype["default"]) for n in weights}
    else:
        types = wtype
    path = os.path.join(TMP, name + ".gguf")
    gw.write_llama_gguf(path, cfg, weights, types)
    return path, cfg, rng


def test_cria_synthetic():
    models = {}
    for seed, (name, overrides, wtype, tied, n_tok, batch, ctx) in enumerate(CASES, start=100):
        path, cfg, rng = make_case(name, overrides, wtype, tied, seed)
        ids = rng.integers(0, cfg["vocab_size"], n_tok)
        compare(name, path, ids, batch=batch, ctx=ctx)
        models[name] = (path, cfg, ids)
    return models


def test_cria_shared():
    rng = np.random.default_rng(7)
    for fname in ("stories260K.gguf", "stories260K.f16.gguf", "synth256.f32.gguf",
                  "synth256.f16.gguf", "synth256.q8_0.gguf", "llama2-tiny-random.gguf"):
        path = shared(fname)
        g = GGUFFile(path)
        vocab = g.tensors["token_embd.weight"][0][1]
        ids = [1] + list(rng.integers(3, vocab, 19))
        compare(fname, path, ids, batch=(8 if fname == "synth256.q8_0.gguf" else None))
    # Files with K-quants (llama.cpp's Q4_K_M: Q4_K and Q6_K; Q5_K_M: Q5_K and Q6_K; Q6_K; Q4_0
    # with a Q6_K output), regrouped (read, and map, which copies on first use) and in the
    # file's layout (map-shared), whose activation blocks differ.
    for fname in ("synth256.q4_k_m.gguf", "synth256.q5_k_m.gguf", "synth256.q6_k.gguf", "synth256.q4_0.gguf"):
        path = shared(fname)
        ids = [1] + list(rng.integers(3, 512, 19))
        for load in ("read", "map", "map-shared"):
            compare("%s/%s" % (fname, load), path, ids, load=load, flips=True,
                    batch=(8 if load == "read" else None))


def test_amx_prompts():
    """Prompts on AMX bf16 tiles (regrouped Q4_0, Q8_0, Q4_K, Q6_K; 24 or more positions at
    once) against the reference with weights and activations rounded to bf16. A bf16 rounding
    boundary met by cria and not by the reference (Q6_K's weights round d * scale to float
    first) moves a logit as an 8-bit flip does, so the same bounds apply."""
    if not amx_cpu():
        print("-- AMX prompt checks: this CPU has no AMX bf16 (or CRIA_ISA rules it out)")
        return
    rng = np.random.default_rng(11)
    for fname in ("synth256.q8_0.gguf", "synth256.q4_0.gguf", "synth256.q4_k_m.gguf",
                  "synth256.q6_k.gguf"):
        ids = [1] + list(rng.integers(3, 512, 39))  # 40 positions: two tiles and an odd one
        compare("%s/amx" % fname, shared(fname), ids, amx=True, flips=True)


def test_gemm_backends(models):
    """The other prompt paths: the dot kernels and OpenBLAS in float32 (tight bound), the
    default onednn-bf16 for F16 weights (bf16 bound)."""
    for name in ("mha_f32", "gqa_f16"):
        path, cfg, ids = models[name]
        for gemm in ("kernels", "openblas", "onednn-f32"):
            compare("%s/%s" % (name, gemm), path, ids, gemm=gemm)
        compare("%s/kv-f16" % name, path, ids, kv="f16", tolerance=TOLERANCE_F16_KV)
    for fname in ("stories260K.gguf", "synth256.f16.gguf"):
        compare("%s/kv-f16" % fname, shared(fname), [1] + list(range(40, 80)), kv="f16",
                tolerance=TOLERANCE_F16_KV)
    for name in ("gqa_f16", "hd6_mqa_f16_tied"):
        path, cfg, ids = models[name]
        if bf16_gemm_available():
            compare("%s/bf16" % name, path, ids, gemm="onednn-bf16", tolerance=TOLERANCE_BF16)
    # Block formats through the float GEMMs: weights decoded to float32, activations exact.
    for name in ("hd10_q4", "mixed_q4_q8_f16"):
        path, cfg, ids = models[name]
        for gemm in ("onednn-f32", "openblas"):
            compare("%s/%s" % (name, gemm), path, ids, gemm=gemm)
    if bf16_gemm_available():
        compare("synth256.f16/bf16", shared("synth256.f16.gguf"), [1] + list(range(40, 60)),
                gemm="onednn-bf16", tolerance=TOLERANCE_BF16)


def test_reference_backend(models):
    """cria's reference backend (plain scalar f32, the oracle its other backends are tested
    against) against this numpy reference without activation rounding: every synthetic case
    and the shared files whose types the numpy decoders know, at the float32 bound."""
    for name, (path, cfg, ids) in models.items():
        compare("%s/reference" % name, path, ids, backend="reference")
    rng = np.random.default_rng(11)
    for fname in ("stories260K.gguf", "stories260K.f16.gguf", "synth256.f32.gguf", "synth256.q8_0.gguf",
                  "synth256.q4_0.gguf", "synth256.q4_k_m.gguf", "synth256.q6_k.gguf",
                  "llama2-tiny-random.gguf"):
        vocab = GGUFFile(shared(fname)).tensors["token_embd.weight"][0][1]
        ids = [1] + list(rng.integers(3, vocab, 15))
        compare("%s/reference" % fname, shared(fname), ids, backend="reference")


def test_threads(models):
    for name, gemm in (("gqa_f16", "onednn-bf16"), ("gqa_f16", "kernels"), ("hd10_q4", "auto"),
                       ("mixed_q4_q8_f16", "auto"), ("mha_f32", "onednn-f32")):
        if gemm == "onednn-bf16" and not bf16_gemm_available():
            continue
        path, cfg, ids = models[name]
        try:
            outs = [cria_logits(path, ids, cfg["vocab_size"], threads=t, gemm=gemm,
                                tag="%s_t%d" % (name, t))[1]
                    for t in (1, 2, 3)]
        except Exception as e:
            check(False, "%s threads: %s" % (name, e))
            continue
        check(outs[0] == outs[1] == outs[2],
              "%s (--gemm %s): threads 1, 2, 3 give bit-identical logits" % (name, gemm))


def perplexity(logits, ids):
    """exp(mean -log softmax(logits[i])[ids[i+1]]) in float64."""
    x = np.asarray(logits, dtype=np.float64)[:-1]
    m = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
    nll = lse - x[np.arange(len(ids) - 1), np.asarray(ids[1:])]
    return float(np.exp(nll.mean()))


def test_perplexity():
    # The perplexity of the golden story's own tokens under stories260K, from cria's logits
    # and from the reference: scoring through `cria logits` keeps this independent of the
    # tokenizer (the greedy story is the model's own text, so its perplexity is low).
    cfg, w = load_model(shared("stories260K.gguf"))
    tokens = [1]
    for _ in range(63):
        tokens.append(int(np.argmax(forward(cfg, w, tokens)[-1])))
    ref = perplexity(forward(cfg, w, tokens), tokens)
    try:
        got = perplexity(cria_logits(shared("stories260K.gguf"), tokens, cfg["vocab_size"],
                                     tag="ppl")[0], tokens)
    except Exception as e:
        check(False, "perplexity: %s" % e)
        return
    check(abs(got - ref) <= 1e-5 * ref,
          "perplexity of 64 greedy tokens: cria %.8f, reference %.8f (rel %.1e)"
          % (got, ref, abs(got - ref) / ref))


def test_perplexity_command():
    # `cria perplexity` on the golden story with windows of 64 tokens (-c 64), against the
    # reference over the same ids. The ids come from `cria tokenize`, so this checks the
    # perplexity command's windowing and scoring, not the tokenizer.
    model = shared("stories260K.gguf")
    text = os.path.join(SHARED, "golden", "stories260K.t0.n200.txt")
    ctx = 64
    try:
        r = subprocess.run([CLI, "tokenize", "-m", model, "-f", text], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, check=True)
        ids = [int(t) for t in r.stdout.split()]
        r = subprocess.run([CLI, "perplexity", "-m", model, "-f", text, "-c", str(ctx), "-t", "2",
                            "--kv-type", "f32"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=True)
        last = r.stdout.decode().strip().splitlines()[-1]
        if not last.startswith("perplexity:"):
            raise RuntimeError("unexpected last line %r" % last)
        got = float(last.split()[1])
    except Exception as e:
        check(False, "cria perplexity: %s" % e)
        return
    cfg, w = load_model(model)
    nll, count = 0.0, 0
    for start in range(0, len(ids), ctx):
        window = ids[start:start + ctx]
        if len(window) < 2:
            break
        p = perplexity(forward(cfg, w, window), window)
        nll += np.log(p) * (len(window) - 1)
        count += len(window) - 1
    ref = float(np.exp(nll / count))
    # cria prints 6 decimals: allow that rounding on top of the relative tolerance.
    check(abs(got - ref) <= 1e-5 * ref + 1e-6,
          "cria perplexity -c %d on %d tokens: cria %.6f, reference %.6f" % (ctx, len(ids), got, ref))


def main():
    global TMP
    TMP = tmp_dir()
    print("temporaries in " + TMP)
    print("-- part 1: the reference against itself, llama.cpp and llama2.c")
    test_gguf_round_trip()
    test_against_llama_cpp_quantizer()
    test_reference_causal_and_golden()
    if not CLI:
        print("-- part 2 skipped: CRIA_CLI is not set")
    elif not os.path.exists(CLI):
        check(False, "CRIA_CLI=%s does not exist" % CLI)
    else:
        print("-- part 2: cria logits (%s) vs the reference; tolerance %.0e * max(1, max|ref|)"
              % (CLI, TOLERANCE))
        models = test_cria_synthetic()
        test_cria_shared()
        test_reference_backend(models)
        test_threads(models)
        test_gemm_backends(models)
        test_amx_prompts()
        test_perplexity()
        test_perplexity_command()
    if failures:
        print("%d FAILED:\n  " % len(failures) + "\n  ".join(f.splitlines()[0] for f in failures))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
