"""Writes the hand-made seed inputs of the fuzz targets into tests/fuzz/corpus/: small GGUF
models of several weight types, a llama2.c checkpoint of both layouts, and small vocabularies
in the three vocabulary formats. The shared fixtures are added to the corpora when fuzzing
(scripts/fuzz.sh); the saved-session seed is a conversation saved by `cria chat` (/save) on
stories260K.
Run: /usr/bin/python3 tests/fuzz/make_seeds.py"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import gguf_write  # noqa: E402


def corpus(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gguf_seeds():
    cfg = dict(dim=32, hidden_dim=64, n_layers=1, n_heads=4, n_kv_heads=2, vocab_size=260,
               context_length=64, rms_eps=1e-5, rope_base=10000.0)
    rng = np.random.default_rng(7)
    for tied in (False, True):
        weights = gguf_write.random_llama_weights(cfg, rng, tied=tied)
        for type_name, targets in (("F32", ["gguf"]), ("Q4_0", ["gguf", "model_capi"]), ("Q8_0", ["model_capi"])):
            path = "/tmp/cria-seed.gguf"
            gguf_write.write_llama_gguf(path, cfg, weights, gguf_write.TYPE_BY_NAME[type_name])
            data = open(path, "rb").read()
            name = "tiny-%s%s.gguf" % (type_name.lower(), "-tied" if tied else "")
            for target in targets:
                corpus(target, name, data)
    os.remove("/tmp/cria-seed.gguf")


def llama2c_seeds():
    dim, hidden, layers, heads, kv_heads, vocab, seq = 8, 16, 1, 2, 2, 32, 16
    head = dim // heads
    kv_dim = head * kv_heads
    counts = [vocab * dim, layers * dim, layers * dim * dim, layers * dim * kv_dim, layers * dim * kv_dim,
              layers * dim * dim, layers * dim, layers * hidden * dim, layers * dim * hidden,
              layers * hidden * dim, dim, seq * head // 2, seq * head // 2]
    floats = np.random.default_rng(3).standard_normal(sum(counts)).astype("<f4") * 0.1
    legacy = struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, seq) + floats.tobytes()
    corpus("llama2c", "tiny-legacy.bin", legacy)
    separate = struct.pack("<7i", dim, hidden, layers, heads, kv_heads, -vocab, seq) + floats.tobytes() + \
        (np.ones(vocab * dim, "<f4") * 0.01).tobytes()
    corpus("llama2c", "tiny-separate-classifier.bin", separate)
    # "version 1": magic, version, the seven numbers, the shared-classifier flag, padding to 256.
    header = b"ak42" + struct.pack("<i7iB", 1, dim, hidden, layers, heads, kv_heads, vocab, seq, 1)
    header += b"\0" * (256 - len(header))
    v1_counts = counts[1:2] + counts[6:7] + counts[10:11] + [counts[0]] + counts[2:6] + counts[7:10]
    v1 = np.random.default_rng(4).standard_normal(sum(v1_counts)).astype("<f4") * 0.1
    corpus("llama2c", "tiny-v1.bin", header + v1.tobytes())


def pieces():
    out = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    out += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    words = ["\u2581", "e", "t", "a", "\u2581t", "he", "\u2581the", "\u2581a", "in", "\u2581in"]
    out += [(w, -float(i), 1) for i, w in enumerate(words)]
    return out


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def vocabulary_seeds():
    ps = pieces()
    # llama2.c tokenizer.bin: max piece length, then per piece a score, a length and the bytes.
    body = b""
    for text, score, _ in ps:
        raw = text.encode()
        body += struct.pack("<fi", score, len(raw)) + raw
    corpus("vocabulary", "tiny-tokenizer.bin", struct.pack("<i", max(len(p[0].encode()) for p in ps)) + body)
    # SentencePiece ModelProto: repeated pieces (1), trainer_spec (2: model_type BPE, byte_fallback),
    # normalizer_spec (3: add_dummy_prefix, remove_extra_whitespaces off).
    model = b""
    for text, score, kind in ps:
        piece = field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(kind))
        model += field(1, 2, piece)
    trainer = field(3, 0, varint(2)) + field(35, 0, varint(1))
    normalizer = field(3, 0, varint(1)) + field(4, 0, varint(0))
    model += field(2, 2, trainer) + field(3, 2, normalizer)
    corpus("vocabulary", "tiny-tokenizer.model", model)


def tokenizer_seeds():
    texts = [b"\x00Hello world", b"\x01Once upon a time", b"\x0a<s>[INST] hi [/INST]</s>",
             b"\x03\xe2\x96\x81\xf0\x9f\x98\x80 \xff\xfe caf\xc3\xa9", b"\x05  many   spaces  ", b"\x08\n\t\r"]
    for i, t in enumerate(texts):
        corpus("tokenizer", "text-%d" % i, t)


if __name__ == "__main__":
    gguf_seeds()
    llama2c_seeds()
    vocabulary_seeds()
    tokenizer_seeds()
