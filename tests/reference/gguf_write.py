"""A minimal GGUF v3 writer and the block quantizers it needs, in numpy only.

Written independently of cria's C++ reader (from the format description) so that the
reference tests check cria against a second implementation of the file format too.

Layout written:
  "GGUF", u32 version (3), u64 tensor count, u64 kv count,
  kv pairs: u64-length string key, u32 value type, value
            (arrays: u32 element type, u64 count, elements),
  tensor infos: name, u32 n_dims, u64 ne[n_dims] (ne[0] contiguous), u32 ggml type,
                u64 offset relative to the start of the data section (aligned),
  zero padding to general.alignment, then the tensor data (each tensor aligned).

All numbers little-endian.
"""
import struct

import numpy as np

# GGUF metadata value types.
GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16 = 0, 1, 2, 3
GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL = 4, 5, 6, 7
GGUF_STRING, GGUF_ARRAY, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT64 = 8, 9, 10, 11, 12

_SCALAR_FORMATS = {
    GGUF_UINT8: "<B", GGUF_INT8: "<b", GGUF_UINT16: "<H", GGUF_INT16: "<h",
    GGUF_UINT32: "<I", GGUF_INT32: "<i", GGUF_FLOAT32: "<f", GGUF_BOOL: "<?",
    GGUF_UINT64: "<Q", GGUF_INT64: "<q", GGUF_FLOAT64: "<d",
}
_SCALAR_DTYPES = {
    GGUF_UINT8: "<u1", GGUF_INT8: "<i1", GGUF_UINT16: "<u2", GGUF_INT16: "<i2",
    GGUF_UINT32: "<u4", GGUF_INT32: "<i4", GGUF_FLOAT32: "<f4", GGUF_BOOL: "<u1",
    GGUF_UINT64: "<u8", GGUF_INT64: "<i8", GGUF_FLOAT64: "<f8",
}

# ggml tensor types.
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0 = 0, 1, 2, 8
TYPE_NAMES = {GGML_F32: "F32", GGML_F16: "F16", GGML_Q4_0: "Q4_0", GGML_Q8_0: "Q8_0"}
TYPE_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}
QK = 32  # elements per Q8_0 / Q4_0 block
BLOCK_BYTES = {GGML_Q8_0: 2 + QK, GGML_Q4_0: 2 + QK // 2}
# (block elements, block bytes) of every type the reader can skip over (decoding covers only
# the four above): F32/F16 and the 32-element / 256-element block formats of ggml.
BLOCK_LAYOUT = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22),
                7: (32, 24), 8: (32, 34), 10: (256, 84), 11: (256, 110), 12: (256, 144),
                13: (256, 176), 14: (256, 210)}

ALIGNMENT = 32

# SentencePiece token types as llama.cpp stores them.
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6


# ---------------------------------------------------------------------------------------
# Quantizers. Each takes a float array of shape [rows, cols] (cols = ne[0], contiguous) and
# returns the raw bytes of the tensor. The matching decoders live in gguf_read.py.

def _round_half_away(v):
    """C's roundf on float32 values: halves round away from zero (numpy's round goes to
    even). Done in float64, where |v| + 0.5 is exact for every float32 v."""
    v = np.asarray(v, dtype=np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def quantize_q8_0(x):
    x = np.asarray(x, dtype=np.float32)
    assert x.shape[-1] % QK == 0, "Q8_0 needs rows that are a multiple of 32"
    blocks = x.reshape(-1, QK)
    amax = np.max(np.abs(blocks), axis=1)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = _round_half_away(blocks * inv[:, None])
    q = np.clip(q, -127, 127).astype(np.int8)
    out = np.empty((blocks.shape[0], 2 + QK), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quantize_q4_0(x):
    x = np.asarray(x, dtype=np.float32)
    assert x.shape[-1] % QK == 0, "Q4_0 needs rows that are a multiple of 32"
    blocks = x.reshape(-1, QK)
    idx = np.argmax(np.abs(blocks), axis=1)
    m = blocks[np.arange(blocks.shape[0]), idx]  # the largest magnitude, sign kept
    d = m / np.float32(-8)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = np.floor(blocks * inv[:, None] + np.float32(8.5))
    q = np.clip(q, 0, 15).astype(np.uint8)
    out = np.empty((blocks.shape[0], 2 + QK // 2), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").reshape(-1, 1).view(np.uint8)
    # Byte j: element j in the low nibble, element j+16 in the high nibble.
    out[:, 2:] = q[:, : QK // 2] | (q[:, QK // 2:] << 4)
    return out.tobytes()


def encode_tensor(x, ggml_type):
    """Raw bytes of x ([..., ne0] float array) stored as ggml_type."""
    if ggml_type == GGML_F32:
        return np.ascontiguousarray(x, dtype="<f4").tobytes()
    if ggml_type == GGML_F16:
        return np.ascontiguousarray(x, dtype="<f2").tobytes()
    if ggml_type == GGML_Q8_0:
        return quantize_q8_0(x)
    if ggml_type == GGML_Q4_0:
        return quantize_q4_0(x)
    raise ValueError("unsupported ggml type %r" % (ggml_type,))


# ---------------------------------------------------------------------------------------
# The writer.

def _pack_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


class GGUFWriter:
    def __init__(self, alignment=ALIGNMENT):
        self.alignment = alignment
        self.kv = []       # (key, bytes of type + value)
        self.tensors = []  # (name, ne tuple, ggml type, raw bytes)
        self.add_u32("general.alignment", alignment)

    # Metadata.
    def _add(self, key, value_type, payload):
        if any(k == key for k, _ in self.kv):
            raise ValueError("duplicate key " + key)
        self.kv.append((key, struct.pack("<I", value_type) + payload))

    def add_scalar(self, key, value_type, value):
        self._add(key, value_type, struct.pack(_SCALAR_FORMATS[value_type], value))

    def add_u32(self, key, v): self.add_scalar(key, GGUF_UINT32, v)
    def add_i32(self, key, v): self.add_scalar(key, GGUF_INT32, v)
    def add_f32(self, key, v): self.add_scalar(key, GGUF_FLOAT32, v)
    def add_bool(self, key, v): self.add_scalar(key, GGUF_BOOL, v)

    def add_string(self, key, s):
        self._add(key, GGUF_STRING, _pack_string(s))

    def add_array(self, key, elem_type, values):
        head = struct.pack("<IQ", elem_type, len(values))
        if elem_type == GGUF_STRING:
            body = b"".join(_pack_string(v) for v in values)
        else:
            body = np.asarray(values, dtype=_SCALAR_DTYPES[elem_type]).tobytes()
        self._add(key, GGUF_ARRAY, head + body)

    # Tensors.
    def add_tensor(self, name, x, ggml_type):
        """x: numpy array whose LAST axis is ne[0] (the contiguous dimension)."""
        x = np.asarray(x)
        ne = tuple(int(n) for n in reversed(x.shape))
        if ggml_type in BLOCK_BYTES and ne[0] % QK != 0:
            raise ValueError("%s: ne[0]=%d is not a multiple of %d" % (name, ne[0], QK))
        self.tensors.append((name, ne, ggml_type, encode_tensor(x, ggml_type)))

    def _pad(self, n):
        return (-n) % self.alignment

    def to_bytes(self):
        out = bytearray()
        out += b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, payload in self.kv:
            out += _pack_string(key) + payload
        offset = 0
        offsets = []
        for name, ne, ggml_type, raw in self.tensors:
            offsets.append(offset)
            out += _pack_string(name) + struct.pack("<I", len(ne))
            out += struct.pack("<%dQ" % len(ne), *ne)
            out += struct.pack("<IQ", ggml_type, offset)
            offset += len(raw) + self._pad(len(raw))
        out += b"\0" * self._pad(len(out))
        for (name, ne, ggml_type, raw), off in zip(self.tensors, offsets):
            out += raw + b"\0" * self._pad(len(raw))
        return bytes(out)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())


# ---------------------------------------------------------------------------------------
# A small synthetic Llama vocabulary and a whole model file.

def synthetic_vocab(vocab_size):
    """<unk>, <s>, </s>, the 256 byte pieces, then ordinary pieces. Unique pieces."""
    assert vocab_size >= 3 + 256 + 1
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL]
    tokens += ["<0x%02X>" % b for b in range(256)]
    types += [TOKEN_BYTE] * 256
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    pieces = ["\u2581"] + list(letters) + ["\u2581" + c for c in letters]
    pieces += [c.upper() for c in letters] + list(".,!?'")
    pieces += ["\u2581" + a + b for a in letters for b in letters]
    pieces += [a + b for a in letters for b in letters]
    seen = set(tokens)
    for p in pieces:
        if len(tokens) == vocab_size:
            break
        if p not in seen:
            seen.add(p)
            tokens.append(p)
            types.append(TOKEN_NORMAL)
    assert len(tokens) == vocab_size, "vocabulary too large for the synthetic pieces"
    # SentencePiece-like scores: control/byte pieces 0, ordinary pieces decreasing, so that
    # longer/merged pieces rank below the single characters listed first.
    scores = [0.0] * 259 + [-float(i) for i in range(vocab_size - 259)]
    return tokens, scores, types


def write_llama_gguf(path, cfg, weights, weight_type, vocab=True):
    """Writes a llama GGUF.

    cfg: dict with dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
         context_length, rms_eps, rope_base.
    weights: dict name -> float array with shape (ne1, ne0) for matrices, (ne0,) for norms;
             'output.weight' absent means a tied classifier.
    weight_type: ggml type for every matrix (norms stay F32); may also be a dict
                 name -> type.
    """
    w = GGUFWriter()
    w.add_string("general.architecture", "llama")
    w.add_string("general.name", "cria reference test model")
    w.add_u32("llama.context_length", cfg["context_length"])
    w.add_u32("llama.embedding_length", cfg["dim"])
    w.add_u32("llama.feed_forward_length", cfg["hidden_dim"])
    w.add_u32("llama.block_count", cfg["n_layers"])
    w.add_u32("llama.attention.head_count", cfg["n_heads"])
    w.add_u32("llama.attention.head_count_kv", cfg["n_kv_heads"])
    w.add_u32("llama.rope.dimension_count", cfg["dim"] // cfg["n_heads"])
    w.add_f32("llama.attention.layer_norm_rms_epsilon", cfg["rms_eps"])
    w.add_f32("llama.rope.freq_base", cfg["rope_base"])
    if vocab:
        tokens, scores, types = synthetic_vocab(cfg["vocab_size"])
        w.add_string("tokenizer.ggml.model", "llama")
        w.add_array("tokenizer.ggml.tokens", GGUF_STRING, tokens)
        w.add_array("tokenizer.ggml.scores", GGUF_FLOAT32, scores)
        w.add_array("tokenizer.ggml.token_type", GGUF_INT32, types)
        w.add_u32("tokenizer.ggml.bos_token_id", 1)
        w.add_u32("tokenizer.ggml.eos_token_id", 2)
        w.add_u32("tokenizer.ggml.unknown_token_id", 0)
    for name, x in weights.items():
        if x.ndim == 1:
            t = GGML_F32  # norms
        elif isinstance(weight_type, dict):
            t = weight_type.get(name, GGML_F32)
        else:
            t = weight_type
        w.add_tensor(name, x, t)
    w.write(path)


def tensor_names(n_layers, tied):
    names = ["token_embd.weight"]
    for l in range(n_layers):
        names += ["blk.%d.%s.weight" % (l, s) for s in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
            "ffn_norm", "ffn_gate", "ffn_down", "ffn_up")]
    names.append("output_norm.weight")
    if not tied:
        names.append("output.weight")
    return names


def random_llama_weights(cfg, rng, tied=False, scale=0.05):
    """Random weights as numpy arrays shaped (ne1, ne0), i.e. (out, in) for matrices."""
    dim, hidden, vocab = cfg["dim"], cfg["hidden_dim"], cfg["vocab_size"]
    head_dim = dim // cfg["n_heads"]
    kv_dim = head_dim * cfg["n_kv_heads"]

    def mat(rows, cols, s=scale):
        return (rng.standard_normal((rows, cols)) * s).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    # cfg["emb_scale"] (default 0.5): small embeddings make mean(x^2) comparable to the RMS
    # epsilon in the first layer, so that a wrong epsilon shows in the logits.
    w = {"token_embd.weight": mat(vocab, dim, cfg.get("emb_scale", 0.5))}
    for l in range(cfg["n_layers"]):
        p = "blk.%d." % l
        # Projections scaled ~1/sqrt(fan_in) so every stage keeps activations of order 1;
        # attention projections a bit larger so the softmax is not uniform.
        w[p + "attn_norm.weight"] = norm(dim)
        w[p + "attn_q.weight"] = mat(dim, dim, 2.0 / np.sqrt(dim))
        w[p + "attn_k.weight"] = mat(kv_dim, dim, 2.0 / np.sqrt(dim))
        w[p + "attn_v.weight"] = mat(kv_dim, dim, 1.0 / np.sqrt(dim))
        w[p + "attn_output.weight"] = mat(dim, dim, 0.5 / np.sqrt(dim))
        w[p + "ffn_norm.weight"] = norm(dim)
        w[p + "ffn_gate.weight"] = mat(hidden, dim, 1.0 / np.sqrt(dim))
        w[p + "ffn_down.weight"] = mat(dim, hidden, 0.5 / np.sqrt(hidden))
        w[p + "ffn_up.weight"] = mat(hidden, dim, 1.0 / np.sqrt(dim))
    w["output_norm.weight"] = norm(dim)
    if not tied:
        w["output.weight"] = mat(vocab, dim, 1.0 / np.sqrt(dim))
    return w
