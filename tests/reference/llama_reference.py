"""The Llama 2 forward pass in numpy float64, from the weights a GGUF file holds.

Weights are decoded from the file's own bytes (F32/F16/Q8_0/Q4_0) to float64, so a
comparison with cria measures cria's arithmetic, not quantization error. cria multiplies
weights of the 8-bit-and-below block formats with activations quantized to 8 bits (one
scale per 32 values: d = max|x| / 127, q = round-half-even(x * 127 / max|x|), computed in
float32); the reference applies the same rounding before those products, so the comparison
stays tight and checks the integer kernels exactly.

Usage as a script: llama_reference.py MODEL.gguf "ID ID ..." OUT.f32  (writes float32 logits)
"""
import sys

import numpy as np

from gguf_read import GGUFFile


def load_config(g):
    m = g.metadata
    if m.get("general.architecture") != "llama":
        raise ValueError("not a llama model")
    dim = int(m["llama.embedding_length"])
    n_heads = int(m["llama.attention.head_count"])
    embd_ne = g.tensors["token_embd.weight"][0]
    return {
        "dim": dim,
        "hidden_dim": int(m["llama.feed_forward_length"]),
        "n_layers": int(m["llama.block_count"]),
        "n_heads": n_heads,
        "n_kv_heads": int(m.get("llama.attention.head_count_kv", n_heads)),
        "context_length": int(m["llama.context_length"]),
        "rms_eps": float(m.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_base": float(m.get("llama.rope.freq_base", 10000.0)),
        "vocab_size": int(embd_ne[1]),
    }


# ggml types whose products cria computes with 8-bit activations, and the block size of
# those activations (32 for the 32-element formats, 256 for the K-quants).
ACTIVATION_BLOCK = {2: 32, 3: 32, 6: 32, 7: 32, 8: 32, 10: 256, 11: 256, 12: 256, 13: 256, 14: 256}
# Q4_K, Q5_K and Q6_K regrouped (on CPUs with AVX2 or AVX-512 VNNI) take activations in
# blocks of 32 instead.
REGROUPED_ACTIVATION_BLOCK = {**ACTIVATION_BLOCK, 12: 32, 13: 32, 14: 32}


# Regrouped types whose prompts (24 positions or more at once) run on AMX bf16 tiles on CPUs
# that have them: Q4_0, Q8_0, Q4_K, Q6_K.
AMX_TYPES = (2, 8, 12, 14)
AMX_MIN_POSITIONS = 24


def round_bf16(x):
    """float32(x) rounded to bf16 (nearest, ties to even), as float64."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


class Weight:
    """A decoded weight (float64, shape (out, in)) and how cria feeds it activations."""

    __array_ufunc__ = None  # makes numpy defer `array @ Weight` to __rmatmul__

    def __init__(self, values, ggml_type, quantized_activations=True, regrouped=False, amx=False):
        self.values = values
        blocks = REGROUPED_ACTIVATION_BLOCK if regrouped else ACTIVATION_BLOCK
        self.act_block = blocks.get(ggml_type) if quantized_activations else None
        # AMX prompts: weights and activations rounded to bf16, products summed in float.
        self.bf16_values = round_bf16(values) if amx and regrouped and ggml_type in AMX_TYPES else None

    def __rmatmul__(self, x):  # x @ weight: x [n, in] times weight^T
        if self.bf16_values is not None and x.shape[0] >= AMX_MIN_POSITIONS:
            return round_bf16(x) @ self.bf16_values.T
        if self.act_block:
            x = quantize_activations(x, self.act_block)
        return x @ self.values.T


def quantize_activations(x, block):
    """x rounded the way cria's kernels quantize activations (see the module docstring)."""
    n = x.shape[0]
    xf = x.astype(np.float32).reshape(n, -1, block)
    amax = np.abs(xf).max(axis=-1, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.rint(xf * inv)
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(n, -1)


def load_model(path, quantized_activations=True, regrouped=False, amx=False):
    """(config, weights) from a GGUF file: norms and embeddings as float64 arrays, matrices
    as Weight objects. quantized_activations=False models a float32 GEMM path instead of the
    8-bit dot kernels; amx=True the AMX bf16 prompt kernels."""
    g = GGUFFile(path)
    cfg = load_config(g)
    w = {name: g.tensor(name) for name in g.tensors}
    if "output.weight" not in w:
        w["output.weight"] = w["token_embd.weight"]  # tied classifier
        output_type = g.tensors["token_embd.weight"][1]
    else:
        output_type = g.tensors["output.weight"][1]
    for name in list(w):
        if name.endswith(("attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                          "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")):
            w[name] = Weight(w[name], g.tensors[name][1], quantized_activations, regrouped, amx)
    w["output.weight"] = Weight(w["output.weight"], output_type, quantized_activations,
                                regrouped and "output.weight" in g.tensors, amx)
    return cfg, w


def rmsnorm(x, weight, eps):
    # x: [n, dim]
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x, n_heads, head_dim, positions, base):
    """Rotates adjacent pairs (2i, 2i+1) of each head by pos * base^(-2i/head_dim).
    x: [n, n_heads*head_dim]."""
    n = x.shape[0]
    x = x.reshape(n, n_heads, head_dim // 2, 2)
    i2 = np.arange(0, head_dim, 2, dtype=np.float64)  # 2i
    freq = base ** (-i2 / head_dim)
    angle = np.asarray(positions, dtype=np.float64)[:, None] * freq[None, :]  # [n, head_dim/2]
    c = np.cos(angle)[:, None, :]
    s = np.sin(angle)[:, None, :]
    x0, x1 = x[..., 0], x[..., 1]
    out = np.empty_like(x)
    out[..., 0] = x0 * c - x1 * s
    out[..., 1] = x0 * s + x1 * c
    return out.reshape(n, n_heads * head_dim)


def silu(x):
    return x / (1.0 + np.exp(-x))


def forward(cfg, w, tokens, kv_f16=False):
    """Logits [n_tokens, vocab] (float64) for tokens evaluated from position 0. kv_f16: keys
    (after RoPE) and values are rounded to float16, as cria's default F16 KV cache stores them."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n = tokens.shape[0]
    dim, n_heads, n_kv = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"]
    head_dim = dim // n_heads
    group = n_heads // n_kv
    eps, base = cfg["rms_eps"], cfg["rope_base"]
    positions = np.arange(n)
    causal = np.tril(np.ones((n, n), dtype=bool))

    x = w["token_embd.weight"][tokens].astype(np.float64)  # [n, dim]
    for l in range(cfg["n_layers"]):
        p = "blk.%d." % l
        xb = rmsnorm(x, w[p + "attn_norm.weight"], eps)
        q = xb @ w[p + "attn_q.weight"]  # Weight: x @ W^T, weights stored (out, in)
        k = xb @ w[p + "attn_k.weight"]
        v = xb @ w[p + "attn_v.weight"]
        q = rope(q, n_heads, head_dim, positions, base).reshape(n, n_heads, head_dim)
        k = rope(k, n_kv, head_dim, positions, base).reshape(n, n_kv, head_dim)
        v = v.reshape(n, n_kv, head_dim)
        if kv_f16:
            k = k.astype(np.float32).astype(np.float16).astype(np.float64)
            v = v.astype(np.float32).astype(np.float16).astype(np.float64)
        att_out = np.empty((n, n_heads, head_dim))
        for h in range(n_heads):
            kh = k[:, h // group, :]
            vh = v[:, h // group, :]
            scores = (q[:, h, :] @ kh.T) / np.sqrt(head_dim)  # [n query, n key]
            scores = np.where(causal, scores, -np.inf)
            scores = scores - scores.max(axis=1, keepdims=True)
            e = np.exp(scores)
            probs = e / e.sum(axis=1, keepdims=True)
            att_out[:, h, :] = probs @ vh
        x = x + att_out.reshape(n, dim) @ w[p + "attn_output.weight"]
        xb = rmsnorm(x, w[p + "ffn_norm.weight"], eps)
        gate = xb @ w[p + "ffn_gate.weight"]
        up = xb @ w[p + "ffn_up.weight"]
        x = x + (silu(gate) * up) @ w[p + "ffn_down.weight"]
    x = rmsnorm(x, w["output_norm.weight"], eps)
    return x @ w["output.weight"]


def reference_logits(path, tokens):
    cfg, w = load_model(path)
    return forward(cfg, w, tokens)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: llama_reference.py MODEL.gguf \"ID ID ...\" OUT.f32")
    ids = [int(t) for t in sys.argv[2].split()]
    reference_logits(sys.argv[1], ids).astype("<f4").tofile(sys.argv[3])
