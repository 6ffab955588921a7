"""Malformed model files, one defect each: every way a GGUF or llama2.c file can be wrong gets
its own error, asserted by message and status through the CLI (`cria run`) and through the C
API (cria_model_load, called with ctypes). Files with NaN or infinite weights load (weights
are not scanned) and give the documented result: generation stops with an error naming the
non-finite logits.

The files are built here from a small valid model (gguf_write's synthetic Llama), serialized
section by section so that a defect can cut the file at any boundary or rewrite one field.

Environment: CRIA_CLI, CRIA_LIBRARY (libcria.so), CRIA_SHARED_DIR, CRIA_TEST_TMP.
"""
import ctypes
import os
import re
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import gguf_write as gw  # noqa: E402

CLI = os.environ["CRIA_CLI"]
TMP = os.path.join(os.environ["CRIA_TEST_TMP"], "malformed")
os.makedirs(TMP, exist_ok=True)

CFG = dict(dim=64, hidden_dim=96, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=300,
           context_length=64, rms_eps=1e-5, rope_base=10000.0)
Q4_TENSORS = ("blk.0.attn_q.weight", "blk.1.ffn_up.weight")  # a block type beside F32


# ------------------------------------------------------------------------------------------
# A GGUF file as data: metadata [(key, type, payload)], tensors [(name, ne, type, raw)], and
# a serializer that labels every section so that defects can cut or rewrite them.

class Model:
    def __init__(self):
        w = gw.GGUFWriter()
        weights = gw.random_llama_weights(CFG, np.random.default_rng(11))
        tokens, scores, types = gw.synthetic_vocab(CFG["vocab_size"])
        w.add_string("general.architecture", "llama")
        for key, value in (("context_length", CFG["context_length"]), ("embedding_length", CFG["dim"]),
                           ("feed_forward_length", CFG["hidden_dim"]), ("block_count", CFG["n_layers"]),
                           ("attention.head_count", CFG["n_heads"]),
                           ("attention.head_count_kv", CFG["n_kv_heads"])):
            w.add_u32("llama." + key, value)
        w.add_f32("llama.attention.layer_norm_rms_epsilon", CFG["rms_eps"])
        w.add_f32("llama.rope.freq_base", CFG["rope_base"])
        w.add_string("tokenizer.ggml.model", "llama")
        w.add_array("tokenizer.ggml.tokens", gw.GGUF_STRING, tokens)
        w.add_array("tokenizer.ggml.scores", gw.GGUF_FLOAT32, scores)
        w.add_array("tokenizer.ggml.token_type", gw.GGUF_INT32, types)
        for name, x in weights.items():
            w.add_tensor(name, x, gw.GGML_Q4_0 if name in Q4_TENSORS else gw.GGML_F32)
        self.alignment = w.alignment
        self.kv = [[key, struct.unpack("<I", p[:4])[0], p[4:]] for key, p in w.kv]
        self.tensors = [[name, list(ne), t, raw] for name, ne, t, raw in w.tensors]
        self.tokens = tokens
        self.header = {"magic": b"GGUF", "version": 3, "n_tensors": None, "n_kv": None}
        self.offsets = {}  # tensor index -> offset replacing the computed one

    def set_kv(self, key, value_type, payload):
        for item in self.kv:
            if item[0] == key:
                item[1], item[2] = value_type, payload
                return
        self.kv.append([key, value_type, payload])

    def drop_kv(self, key):
        self.kv = [item for item in self.kv if item[0] != key]

    def tensor(self, name):
        return next(t for t in self.tensors if t[0] == name)

    def index(self, name):
        return next(i for i, t in enumerate(self.tensors) if t[0] == name)

    def sections(self):
        """[(label, bytes)] in file order."""
        out = [("magic", self.header["magic"]), ("version", struct.pack("<I", self.header["version"])),
               ("tensor count", struct.pack("<Q", self.header["n_tensors"] if self.header["n_tensors"]
                                              is not None else len(self.tensors))),
               ("metadata count", struct.pack("<Q", self.header["n_kv"] if self.header["n_kv"]
                                                is not None else len(self.kv)))]
        for key, value_type, payload in self.kv:
            k = key if isinstance(key, bytes) else key.encode()
            out += [("key length of " + repr(key), struct.pack("<Q", len(k))), ("key " + repr(key), k),
                    ("type of " + repr(key), struct.pack("<I", value_type)), ("value of " + repr(key), payload)]
        pad = lambda n: (-n) % self.alignment  # noqa: E731
        offset = 0
        for i, (name, ne, t, raw) in enumerate(self.tensors):
            n = name if isinstance(name, bytes) else name.encode()
            out += [("name of tensor %d" % i, struct.pack("<Q", len(n)) + n),
                    ("dimensions of tensor %d" % i, struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)),
                    ("type of tensor %d" % i, struct.pack("<I", t)),
                    ("offset of tensor %d" % i, struct.pack("<Q", self.offsets.get(i, offset)))]
            offset += len(raw) + pad(len(raw))
        size = sum(len(b) for _, b in out)
        out.append(("padding", b"\0" * pad(size)))
        for i, (_, _, _, raw) in enumerate(self.tensors):
            out.append(("data of tensor %d" % i, raw + b"\0" * pad(len(raw))))
        return out

    def bytes(self):
        return b"".join(b for _, b in self.sections())


def string_payload(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack("<Q", len(b)) + b


def u32(v):
    return struct.pack("<I", v)


def f32(v):
    return struct.pack("<f", v)


def truncated_after(label, inside=False):
    """The file cut right after the section named label (or in its middle)."""
    def make(m):
        out = b""
        for name, b in m.sections():
            if name == label:
                return out + (b[:len(b) // 2] if inside else b)
            out += b
        raise KeyError(label)
    return make


def edit(fn):
    def make(m):
        fn(m)
        return m.bytes()
    return make


def set_floats(name, index, value):
    def fn(m):
        t = m.tensor(name)
        a = bytearray(t[3])
        a[4 * index:4 * index + 4] = f32(value)
        t[3] = bytes(a)
    return fn


# ------------------------------------------------------------------------------------------
# The cases: (name, how to make the file, expected message (regex), expected C status).

TRUNC = r"invalid GGUF: file truncated: %s needs \d+ bytes, \d+ left"


def gguf_cases():
    c = []
    add = lambda name, make, msg, status="invalid_file": c.append((name, make, msg, status))  # noqa: E731
    # Truncated at every section boundary, and inside sections.
    add("empty file", lambda m: b"", r"the file is empty")
    add("cut inside the magic", lambda m: b"GG", r"2 bytes are too few for a model file")
    add("cut after the magic", truncated_after("magic"), TRUNC % "version")
    add("cut after the version", truncated_after("version"), TRUNC % "tensor count")
    add("cut after the tensor count", truncated_after("tensor count"), TRUNC % "metadata count")
    add("cut after the metadata count", truncated_after("metadata count"), r"metadata count \d+ is larger than the file can hold")
    add("cut inside a key", truncated_after("key 'general.architecture'", inside=True), r"metadata count 14 is larger than the file can hold")
    add("cut after a key", truncated_after("key 'llama.block_count'"), r"tensor count 21 is larger than the file can hold")
    add("cut inside a string value", truncated_after("value of 'general.architecture'", inside=True), r"metadata count 14 is larger than the file can hold")
    add("cut inside an array", truncated_after("value of 'tokenizer.ggml.tokens'", inside=True), r"metadata 'tokenizer.ggml.tokens': array of 300 elements runs past the end of the file")
    add("cut after the metadata", truncated_after("value of 'tokenizer.ggml.token_type'"), TRUNC % "tensor name")
    add("cut inside a tensor name", truncated_after("name of tensor 3", inside=True), TRUNC % "tensor name")
    add("cut after the tensor infos", truncated_after("offset of tensor %d" % (2 + 9 * CFG["n_layers"])),
        r"(data section starts past the end of the file|runs past the end of the file)")
    add("cut inside the tensor data", truncated_after("data of tensor 5", inside=True),
        r"tensor '[a-z0-9_.]+' \(offset \d+, \d+ bytes\) runs past the end of the file \(\d+ bytes\)")
    add("cut before the last tensor's data", truncated_after("data of tensor %d" % (1 + 9 * CFG["n_layers"])),
        r"tensor 'output.weight' \(offset \d+, \d+ bytes\) runs past the end of the file")
    # Counts and sizes that overflow 64-bit arithmetic.
    add("tensor count 2^63", edit(lambda m: m.header.update(n_tensors=2**63)), r"tensor count 9223372036854775808 is larger than the file can hold")
    add("metadata count 2^64-1", edit(lambda m: m.header.update(n_kv=2**64 - 1)), r"metadata count 18446744073709551615 is larger than the file can hold")
    add("key length 2^64-1", lambda m: (lambda b: b[:24] + struct.pack("<Q", 2**64 - 1) + b[32:])(m.bytes()),
        TRUNC % "metadata key")
    add("string value length 2^63", edit(lambda m: m.set_kv("general.name", gw.GGUF_STRING, struct.pack("<Q", 2**63) + b"x")),
        TRUNC % "string value")
    add("array count 2^62", edit(lambda m: m.set_kv("tokenizer.ggml.scores", gw.GGUF_ARRAY, struct.pack("<IQ", gw.GGUF_FLOAT32, 2**62))),
        r"metadata 'tokenizer.ggml.scores': array of 4611686018427387904 elements runs past the end of the file")
    add("dimensions whose product wraps", edit(lambda m: m.tensor("blk.0.ffn_down.weight").__setitem__(1, [2**32, 2**32 + 1])),
        r"tensor 'blk.0.ffn_down.weight' has an invalid shape \(dimension 1 = 4294967297\)")
    add("a dimension of 2^63", edit(lambda m: m.tensor("output.weight").__setitem__(1, [64, 2**63])),
        r"tensor 'output.weight' has an invalid shape \(dimension 1 = 9223372036854775808\)")
    add("five dimensions", edit(lambda m: m.tensor("output.weight").__setitem__(1, [64, 300, 1, 1, 1])),
        r"tensor 'output.weight' has 5 dimensions \(1 to 4 are allowed\)")
    # Offsets past the end, overlapping, misaligned.
    add("offset past the end", edit(lambda m: m.offsets.__setitem__(4, 2**40)),
        r"tensor 'blk.0.attn_v.weight' \(offset 1099511627776, \d+ bytes\) runs past the end of the file")
    add("offset that wraps", edit(lambda m: m.offsets.__setitem__(4, 2**64 - 32)),
        r"tensor 'blk.0.attn_v.weight' \(offset 18446744073709551584, \d+ bytes\) runs past the end of the file")
    add("overlapping tensors", edit(lambda m: m.offsets.__setitem__(m.index("blk.0.attn_v.weight"), 0)),
        r"tensors '(token_embd|blk.0.attn_v).weight' \(bytes 8288 to \d+\) and '(token_embd|blk.0.attn_v).weight' \(bytes 8288 to \d+\) overlap")
    add("misaligned offset", edit(lambda m: m.offsets.__setitem__(3, 33 * 32 + 4)),
        r"tensor 'blk.0.attn_k.weight' offset 1060 is not a multiple of the alignment 32")
    add("alignment not a power of two", edit(lambda m: m.set_kv("general.alignment", gw.GGUF_UINT32, u32(24))),
        r"general.alignment 24 is not a power of two")
    add("alignment zero", edit(lambda m: m.set_kv("general.alignment", gw.GGUF_UINT32, u32(0))),
        r"general.alignment 0 is not a power of two")
    add("alignment of the wrong type", edit(lambda m: m.set_kv("general.alignment", gw.GGUF_UINT64, struct.pack("<Q", 32))),
        r"general.alignment must be u32, the file has u64")
    # Unknown types.
    add("unknown tensor type", edit(lambda m: m.tensor("blk.1.attn_v.weight").__setitem__(2, 77)),
        r"tensor 'blk.1.attn_v.weight' has unknown type 77, which cria does not support", "unsupported")
    add("unknown metadata type", edit(lambda m: m.set_kv("general.name", 13, b"\0" * 8)),
        r"metadata 'general.name': unknown value type 13")
    add("unknown array element type", edit(lambda m: m.set_kv("general.tags", gw.GGUF_ARRAY, struct.pack("<IQ", 99, 1) + b"\0" * 8)),
        r"metadata 'general.tags': unknown array element type 99")
    add("bool value 2", edit(lambda m: m.set_kv("tokenizer.ggml.add_bos_token", gw.GGUF_BOOL, b"\x02")),
        r"metadata 'tokenizer.ggml.add_bos_token': bool value 2")
    # Wrong types of values and of array elements.
    add("tokens as integers", edit(lambda m: m.set_kv("tokenizer.ggml.tokens", gw.GGUF_ARRAY, struct.pack("<IQ", gw.GGUF_INT32, 300) + b"\0" * 1200)),
        r"'tokenizer.ggml.tokens' must be an array of strings")
    add("scores as strings", edit(lambda m: m.set_kv("tokenizer.ggml.scores", gw.GGUF_ARRAY, struct.pack("<IQ", gw.GGUF_STRING, 300) + string_payload("a") * 300)),
        r"'tokenizer.ggml.scores' element must be a number, the file has string")
    add("token types as floats", edit(lambda m: m.set_kv("tokenizer.ggml.token_type", gw.GGUF_ARRAY, struct.pack("<IQ", gw.GGUF_FLOAT32, 300) + f32(1.0) * 300)),
        r"'tokenizer.ggml.token_type' element must be an integer, the file has f32")
    add("block count as a string", edit(lambda m: m.set_kv("llama.block_count", gw.GGUF_STRING, string_payload("2"))),
        r"metadata 'llama.block_count'.* string")
    add("architecture as a number", edit(lambda m: m.set_kv("general.architecture", gw.GGUF_UINT32, u32(1))),
        r"metadata 'general.architecture' must be a string, the file has u32")
    # Strings: invalid UTF-8 and NUL bytes.
    add("key with invalid UTF-8", edit(lambda m: m.kv.append([b"general.\xff\xfe", gw.GGUF_UINT32, u32(1)])),
        r"a metadata key is not valid UTF-8: 'general.\\xff\\xfe'")
    add("key with a NUL byte", edit(lambda m: m.kv.append([b"general.name\0x", gw.GGUF_UINT32, u32(1)])),
        r"a metadata key 'general.name\\x00x' contains a NUL byte")
    add("tensor name with invalid UTF-8", edit(lambda m: m.tensors.append([b"extra.\xc3(", [32], gw.GGML_F32, b"\0" * 128])),
        r"a tensor name is not valid UTF-8: 'extra.\\xc3\('")
    add("tensor name with a NUL byte", edit(lambda m: m.tensor("output.weight").__setitem__(0, b"output.weight\0")),
        r"a tensor name 'output.weight\\x00' contains a NUL byte")
    add("architecture with a NUL byte", edit(lambda m: m.set_kv("general.architecture", gw.GGUF_STRING, string_payload(b"llama\0"))),
        r"model architecture 'llama\\x00' is not supported", "unsupported")
    add("token with invalid UTF-8", edit(lambda m: m.set_kv("tokenizer.ggml.tokens", gw.GGUF_ARRAY, struct.pack("<IQ", gw.GGUF_STRING, 300) +
                                                               b"".join(string_payload(b"\xe2\x96" if i == 270 else t) for i, t in enumerate(m.tokens)))),
        r"piece 270 is not valid UTF-8: '\\xe2\\x96'")
    add("token with a NUL byte", edit(lambda m: m.set_kv("tokenizer.ggml.tokens", gw.GGUF_ARRAY, struct.pack("<IQ", gw.GGUF_STRING, 300) +
                                                            b"".join(string_payload(b"a\0b" if i == 280 else t) for i, t in enumerate(m.tokens)))),
        r"piece 280 'a\\x00b' contains a NUL byte")
    # Hyper-parameters against each other and against the tensors.
    add("a matrix of the wrong shape", edit(lambda m: m.tensor("blk.1.attn_output.weight").__setitem__(1, [64, 32])),
        r"tensor 'blk.1.attn_output.weight' has shape \[64, 32\], the hyper-parameters need \[64, 64\]")
    add("a norm of the wrong size", edit(lambda m: m.tensor("blk.0.ffn_norm.weight").__setitem__(1, [32])),
        r"tensor 'blk.0.ffn_norm.weight' has 32 elements, the model width is 64")
    add("zero layers", edit(lambda m: m.set_kv("llama.block_count", gw.GGUF_UINT32, u32(0))),
        r"llama.block_count = 0 is outside \[1, 4096\]")
    add("a billion layers", edit(lambda m: m.set_kv("llama.block_count", gw.GGUF_UINT32, u32(10**9))),
        r"llama.block_count = 1000000000 is outside \[1, 4096\]")
    add("zero heads", edit(lambda m: m.set_kv("llama.attention.head_count", gw.GGUF_UINT32, u32(0))),
        r"llama.attention.head_count = 0 is outside \[1, 4096\]")
    add("heads that do not divide the width", edit(lambda m: m.set_kv("llama.attention.head_count", gw.GGUF_UINT32, u32(6))),
        r"llama.embedding_length 64 is not a multiple of llama.attention.head_count 6")
    add("KV heads that do not divide the heads", edit(lambda m: m.set_kv("llama.attention.head_count_kv", gw.GGUF_UINT32, u32(3))),
        r"llama.attention.head_count 4 is not a multiple of llama.attention.head_count_kv 3")
    add("more KV heads than heads", edit(lambda m: m.set_kv("llama.attention.head_count_kv", gw.GGUF_UINT32, u32(8))),
        r"llama.attention.head_count_kv = 8 is outside \[1, 4\]")
    add("negative width", edit(lambda m: m.set_kv("llama.embedding_length", gw.GGUF_INT32, struct.pack("<i", -64))),
        r"llama.embedding_length = -64 is outside \[1, 65536\]")
    add("vocabulary larger than the embedding", edit(lambda m: m.set_kv("tokenizer.ggml.tokens", gw.GGUF_ARRAY, struct.pack("<IQ", gw.GGUF_STRING, 301) +
                                                                            b"".join(string_payload(t) for t in m.tokens + ["extra"]))),
        r"'tokenizer.ggml.scores' has 300 entries for 301 tokens")
    add("vocab_size key against the embedding", edit(lambda m: m.set_kv("llama.vocab_size", gw.GGUF_UINT32, u32(512))),
        r"tensor 'token_embd.weight' has shape \[64, 300\], the hyper-parameters need \[64, 512\]")
    add("missing tensor", edit(lambda m: m.tensors.remove(m.tensor("blk.1.ffn_gate.weight"))),
        r"tensor 'blk.1.ffn_gate.weight' is missing")
    add("duplicate tensor", edit(lambda m: m.tensors.append(list(m.tensor("output_norm.weight")))),
        r"tensor 'output_norm.weight' appears twice")
    add("duplicate key", edit(lambda m: m.kv.append(list(m.kv[1]))),
        r"metadata key 'general.architecture' appears twice")
    add("missing hyper-parameter", edit(lambda m: m.drop_kv("llama.feed_forward_length")),
        r"metadata 'llama.feed_forward_length' is missing")
    # Non-finite numbers where they cannot be.
    add("RMS epsilon NaN", edit(lambda m: m.set_kv("llama.attention.layer_norm_rms_epsilon", gw.GGUF_FLOAT32, f32(float("nan")))),
        r"llama.attention.layer_norm_rms_epsilon nan is not a small positive number")
    add("RoPE base infinite", edit(lambda m: m.set_kv("llama.rope.freq_base", gw.GGUF_FLOAT32, f32(float("inf")))),
        r"llama.rope.freq_base inf is not a finite number above 1")
    add("RoPE base zero", edit(lambda m: m.set_kv("llama.rope.freq_base", gw.GGUF_FLOAT32, f32(0.0))),
        r"llama.rope.freq_base 0 is not a finite number above 1")
    add("norm weight NaN", edit(set_floats("blk.1.attn_norm.weight", 7, float("nan"))),
        r"tensor 'blk.1.attn_norm.weight' has a non-finite value \(nan\) at element 7")
    add("norm weight infinite", edit(set_floats("output_norm.weight", 0, float("-inf"))),
        r"tensor 'output_norm.weight' has a non-finite value \(-inf\) at element 0")
    add("version 4", edit(lambda m: m.header.update(version=4)),
        r"GGUF version 4 is not supported \(cria reads versions 2 and 3\)", "unsupported")
    return c


def llama2c_header(dim=64, hidden=96, layers=2, heads=4, kv_heads=4, vocab=300, seq=64):
    return struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, seq)


def llama2c_floats(dim=64, hidden=96, layers=2, heads=4, kv_heads=4, vocab=300, seq=64):
    head = dim // heads
    kv = head * kv_heads
    n = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * dim * kv + 3 * dim * hidden) + dim + seq * head
    return np.random.default_rng(5).standard_normal(n).astype("<f4") * 0.05


def llama2c_cases():
    good = llama2c_header() + llama2c_floats().tobytes()
    c = []
    add = lambda name, data, msg, status="invalid_file": c.append(("llama2.c: " + name, lambda m, d=data: d, msg, status))  # noqa: E731
    add("cut inside the header", good[:20], r"file truncated|too small|header")
    add("cut in the weights", good[:len(good) // 2], r"\d+ bytes? .*(needs|expected|holds)|truncated")
    add("zero layers", llama2c_header(layers=0) + llama2c_floats().tobytes(), r"n_layers = 0 is outside \[1, 4096\]")
    add("negative layer count", llama2c_header(layers=-2) + llama2c_floats().tobytes(), r"n_layers = -2 is outside \[1, 4096\]")
    add("zero width", llama2c_header(dim=0) + llama2c_floats().tobytes(), r"unknown model format \(neither GGUF nor a llama2.c checkpoint\)")
    add("heads that do not divide the width", llama2c_header(heads=6, kv_heads=6) + llama2c_floats().tobytes(), r"dim 64 is not a multiple of n_heads 6")
    add("trailing bytes", good + b"\0" * 12, r"\d+ bytes? .*(needs|expected|holds|more)|trailing|size")
    return c


# ------------------------------------------------------------------------------------------
# Running a file through the CLI and the C API.

def via_cli(path):
    r = subprocess.run([CLI, "run", "-m", path, "-p", "a", "-n", "2", "--temp", "0", "-t", "1"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stderr.decode("utf-8", "replace").strip()


class CApi:
    def __init__(self, path):
        lib = ctypes.CDLL(path)
        lib.cria_model_params_init.argtypes = [ctypes.c_void_p]
        lib.cria_model_load.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.cria_model_load.restype = ctypes.c_int
        lib.cria_status_name.argtypes = [ctypes.c_int]
        lib.cria_status_name.restype = ctypes.c_char_p
        lib.cria_last_error.restype = ctypes.c_char_p
        lib.cria_model_free.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def load(self, path):
        params = ctypes.create_string_buffer(1024)
        self.lib.cria_model_params_init(params)
        model = ctypes.c_void_p()
        status = self.lib.cria_model_load(path.encode(), params, ctypes.byref(model))
        if status == 0:
            self.lib.cria_model_free(model)
            return "ok", ""
        return self.lib.cria_status_name(status).decode(), self.lib.cria_last_error().decode("utf-8", "replace")


def check_messages(capi, cases):
    failures = 0
    for name, make, pattern, status in cases:
        data = make(Model())
        path = os.path.join(TMP, re.sub(r"[^a-z0-9]+", "_", name.lower()) +
                            (".bin" if name.startswith("llama2.c") else ".gguf"))
        with open(path, "wb") as f:
            f.write(data)
        rc, cli_message = via_cli(path)
        c_status, c_message = capi.load(path)
        problems = []
        if rc != 1 or not re.search(pattern, cli_message):
            problems.append("CLI exit %d: %s" % (rc, cli_message[-400:]))
        if c_status != status or not re.search(pattern, c_message):
            problems.append("C API %s: %s" % (c_status, c_message[-400:]))
        if path not in c_message:
            problems.append("C API message does not name the file")
        if problems:
            failures += 1
            print("FAIL %s (expected %s /%s/)\n  %s" % (name, status, pattern, "\n  ".join(problems)))
        else:
            print("ok   %-40s %s" % (name, c_message.replace(path, "FILE")))
        os.remove(path)
    return failures


def check_non_finite_weights(capi):
    """NaN or infinite weights in a matrix: loading succeeds (weights are not scanned),
    generation stops with an error naming the non-finite logits, through the CLI and the
    C API's sampling call."""
    failures = 0
    for name, index, value in (("output.weight", 5, float("nan")),  # token 0's logit row
                               ("token_embd.weight", 64 + 5, float("inf"))):  # BOS's embedding
        m = Model()
        set_floats(name, index, value)(m)
        path = os.path.join(TMP, "non_finite_weights.gguf")
        with open(path, "wb") as f:
            f.write(m.bytes())
        status, message = capi.load(path)
        rc, cli_message = via_cli(path)
        want = r"non-finite logits"
        if status != "ok" or rc != 1 or not re.search(want, cli_message):
            failures += 1
            print("FAIL %s %r: load %s %s; CLI exit %d: %s" % (name, value, status, message, rc, cli_message[-300:]))
        else:
            print("ok   %s %r: loads; generation: %s" % (name, value, cli_message.replace(path, "FILE")))
        os.remove(path)
    return failures


def main():
    capi = CApi(os.environ["CRIA_LIBRARY"])
    # The unmodified file runs.
    path = os.path.join(TMP, "valid.gguf")
    with open(path, "wb") as f:
        f.write(Model().bytes())
    rc, message = via_cli(path)
    status, c_message = capi.load(path)
    if rc != 0 or status != "ok":
        print("FAIL the valid file does not run: CLI %d %s; C API %s %s" % (rc, message, status, c_message))
        return 1
    cases = gguf_cases() + llama2c_cases()
    failures = check_messages(capi, cases) + check_non_finite_weights(capi)
    print("%d cases, %d failed" % (len(cases) + 2, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
