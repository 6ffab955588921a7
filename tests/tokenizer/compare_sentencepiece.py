#!/usr/bin/env python3
"""Compares cria's tokenizer with python3-sentencepiece, id for id.

Generates a corpus of byte strings (ASCII, whitespace runs, many scripts, emoji with ZWJ
sequences, combining marks, control bytes, long words, empty strings and invalid UTF-8),
encodes it with `cria tokenize --jsonl --hex` in one process and with SentencePiece, and
compares. Then decodes SentencePiece's ids with `cria detokenize --jsonl --hex` (plain and
through the streaming decoder) and compares with SentencePiece's decode, checks round trips
wherever SentencePiece round-trips, and decodes random id sequences.

Texts travel as hex inside JSON strings so that invalid UTF-8 survives the trip.

usage: compare_sentencepiece.py --cli CRIA --source NAME [--count N] [--seed S]
Sources (files in $CRIA_SHARED_DIR/models):
  llama2-model  llama2-tokenizer.model       vs sentencepiece(llama2-tokenizer.model)
  llama2-bin    llama2-tokenizer.bin         vs the same
  llama2-gguf   llama2-vocab.gguf            vs the same
  llama2-tiny   -m llama2-tiny-random.gguf   vs the same
  stories-model stories260K.tok512.model     vs sentencepiece(stories260K.tok512.model)
  stories-bin   stories260K.tok512.bin       vs that model with GGUF/llama2.c semantics*
  stories-gguf  -m stories260K.gguf          vs the same*
* stories260K.tok512.model says remove_extra_whitespaces=true (SentencePiece's default) and
  unk_surface " \\342\\201\\207 " (an escaped string); a .bin or GGUF file carries neither, and
  cria (like llama.cpp) then keeps whitespace as is and prints " \u2047 " for <unk>. The
  reference for those sources is the .model with those two fields reset (edited in its
  protobuf bytes here), so that everything else is compared exactly.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import sentencepiece as spm


# ------------------------------------------------------------------------------------------
# Protobuf editing for the stories reference (no protobuf package needed).
# ------------------------------------------------------------------------------------------

def _varint(b, i):
    r = 0
    s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def _fields(b):
    i = 0
    while i < len(b):
        start = i
        key, i = _varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            _, i = _varint(b, i)
            yield f, w, b[start:i], None
        elif w == 1:
            i += 8
            yield f, w, b[start:i], None
        elif w == 5:
            i += 4
            yield f, w, b[start:i], None
        elif w == 2:
            n, j = _varint(b, i)
            i = j + n
            yield f, w, b[start:i], b[j:i]
        else:
            raise ValueError("wire type %d" % w)


def _rewrite(msg, drop, append=b""):
    return b"".join(raw for f, w, raw, _ in _fields(msg) if f not in drop) + append


def gguf_semantics_model(model_bytes):
    """The model with remove_extra_whitespaces=false and the default unk_surface."""
    out = bytearray()
    for f, w, raw, payload in _fields(model_bytes):
        if f == 2:
            body = _rewrite(payload, {44})
        elif f == 3:
            body = _rewrite(payload, {4}, _enc_varint((4 << 3) | 0) + _enc_varint(0))
        else:
            out += raw
            continue
        out += _enc_varint((f << 3) | 2) + _enc_varint(len(body)) + body
    return bytes(out)


# ------------------------------------------------------------------------------------------
# Corpus
# ------------------------------------------------------------------------------------------

WORDS = ("the of and to in is was he for it with as his on be at by had are but from or "
         "have an they which one you were her all she there would their we him been has when "
         "who will more no if out so said what up its about into than them can only other new "
         "some could time these two may then do first any my now such like our over man me "
         "even most made after also did many before must through back years where much your "
         "way well down should because each just those people Mr how too little state good "
         "very make world still own see men work long get here between both life being under "
         "never day same another know while last might us great old year off come since "
         "against go came right used take three Once upon a time Tom Lily park dog happy "
         "don't isn't I'm we'll 1234 3.14159 2023-10-01 e-mail http://example.com/a?b=c&d "
         "naïve café résumé Zürich straße Ελληνικά русский язык").split()

RANGES = {
    "cjk": (0x4E00, 0x9FFF), "hiragana": (0x3041, 0x3096), "katakana": (0x30A1, 0x30FA),
    "hangul": (0xAC00, 0xD7A3), "cyrillic": (0x0410, 0x044F), "arabic": (0x0621, 0x064A),
    "devanagari": (0x0905, 0x0939), "greek": (0x0391, 0x03C9), "hebrew": (0x05D0, 0x05EA),
    "thai": (0x0E01, 0x0E3A), "latin1": (0x00A0, 0x00FF), "emoji": (0x1F600, 0x1F64F),
    "emoji2": (0x1F300, 0x1F5FF), "symbols": (0x2000, 0x2BFF), "cjk_ext_b": (0x20000, 0x2A6DF),
    "private": (0xE000, 0xF8FF), "combining": (0x0300, 0x036F),
}
ZWJ_SEQUENCES = ["\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466",
                 "\U0001F3F3\uFE0F\u200D\U0001F308", "\U0001F469\U0001F3FD\u200D\U0001F4BB",
                 "\U0001F1EF\U0001F1F5", "\U0001F44D\U0001F3FF", "\u2764\uFE0F",
                 "\U0001F9D1\u200D\U0001F91D\u200D\U0001F9D1", "1\uFE0F\u20E3"]
SPECIAL_TEXT = ["<s>", "</s>", "<unk>", "<0x41>", "<0x0A>", "\u2581", "\u2581\u2581", "\uFFFD",
                "\u2028", "\uFEFF", "\u200B", "\U0010FFFF", "\uFFFF", "\u00A0", "\u3000"]
INVALID = [b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80",
           b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
           b"\xf8\x88\x80\x80\x80", b"\xc3", b"\xe3\x81", b"\xf0\x9f\x98", b"\xe2\x96",
           b"\xc3\x28", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc", b"\xef\xbf\xbd"]


def rand_chars(r, name, n):
    lo, hi = RANGES[name]
    return "".join(chr(r.randint(lo, hi)) for _ in range(n))


def fragment(r):
    k = r.randrange(20)
    if k == 0:
        return " " * r.randint(1, 12)
    if k == 1:
        return "".join(r.choice([" ", "\t", "\n", "\r\n", "  ", "\u3000", "\v", "\f"])
                       for _ in range(r.randint(1, 8)))
    if k in (2, 3, 4, 5):
        return " ".join(r.choice(WORDS) for _ in range(r.randint(1, 12)))
    if k == 6:
        return rand_chars(r, r.choice(["cjk", "hiragana", "katakana", "hangul"]), r.randint(1, 20))
    if k == 7:
        return rand_chars(r, r.choice(["cyrillic", "arabic", "devanagari", "greek", "hebrew",
                                       "thai", "latin1"]), r.randint(1, 15))
    if k == 8:
        return "".join(r.choice(ZWJ_SEQUENCES) if r.random() < 0.5 else
                       rand_chars(r, r.choice(["emoji", "emoji2"]), 1) for _ in range(r.randint(1, 6)))
    if k == 9:
        base = rand_chars(r, r.choice(["cyrillic", "greek", "latin1"]), r.randint(1, 5))
        return "".join(c + rand_chars(r, "combining", r.randint(0, 3)) for c in base)
    if k == 10:
        return "".join(chr(r.choice(list(range(0, 32)) + [127] + list(range(0x80, 0xA0))))
                       for _ in range(r.randint(1, 6)))
    if k == 11:
        return r.choice("abcdefghijklmnopqrstuvwxyz") * r.randint(2, 300)
    if k == 12:
        return "".join(r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                       for _ in range(r.randint(20, 400)))
    if k == 13:
        return r.choice(SPECIAL_TEXT) * r.randint(1, 3)
    if k == 14:
        return rand_chars(r, r.choice(["symbols", "cjk_ext_b", "private"]), r.randint(1, 6))
    if k == 15:
        return str(r.randint(0, 10 ** r.randint(1, 15)))
    if k == 16:
        return "".join(r.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(r.randint(1, 8)))
    if k == 17:
        return "".join(chr(r.randint(0x20, 0x7E)) for _ in range(r.randint(1, 30)))
    if k == 18:
        return "".join(chr(r.randint(0x80, 0x10FFFF)) for _ in range(r.randint(1, 5)))
    return r.choice(WORDS).capitalize() + r.choice([".", ",", "!", "?", ":", ";", ""])


def to_bytes(s):
    # Lone surrogates cannot appear; chr() above may produce them from the full range.
    return s.encode("utf-8", "surrogatepass")


def make_string(r):
    k = r.randrange(100)
    if k < 2:
        return b""
    if k < 12:
        # Invalid UTF-8 mixed with text, or random bytes.
        parts = []
        for _ in range(r.randint(1, 6)):
            if r.random() < 0.5:
                parts.append(r.choice(INVALID))
            elif r.random() < 0.5:
                parts.append(bytes(r.randrange(256) for _ in range(r.randint(1, 8))))
            else:
                parts.append(to_bytes(fragment(r)))
        return b"".join(parts)
    n = r.randint(1, 8)
    sep = r.choice(["", " ", " ", "", "\n", "  "])
    return to_bytes(sep.join(fragment(r) for _ in range(n)))


def make_corpus(count, seed):
    r = random.Random(seed)
    fixed = [b"", b" ", b"  ", b"a", b" a", b"a ", b"  hello  world  ", b"\n", b"\t\t",
             b"Hello world", b"\x00", b"\x00\x00abc\x00", "\u2581".encode(), " \u2581 ".encode(),
             b"<s>", b"</s>", b"<unk>", b"\xff\xfe", "\U0001F468\u200D\U0001F469".encode(),
             ("a" * 5000).encode(), ("ab" * 3000).encode(), (" " * 1000).encode()]
    out = list(fixed)
    while len(out) < count:
        out.append(make_string(r))
    return out


# ------------------------------------------------------------------------------------------


def run_cli(args, lines, tmp, name):
    path = os.path.join(tmp, name + ".jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    proc = subprocess.run(args + ["--jsonl", "--hex", "-f", path], capture_output=True)
    if proc.returncode != 0:
        sys.exit("FAIL: %s exited %d: %s" % (" ".join(args), proc.returncode,
                                                proc.stderr.decode(errors="replace")))
    out = proc.stdout.decode("utf-8").split("\n")
    if out and out[-1] == "":
        out.pop()
    if len(out) != len(lines):
        sys.exit("FAIL: %s: %d lines in, %d out" % (" ".join(args), len(lines), len(out)))
    return [json.loads(x) for x in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.environ.get("CRIA_CLI"))
    ap.add_argument("--shared", default=os.environ.get("CRIA_SHARED_DIR"))
    ap.add_argument("--source", required=True)
    # CRIA_TOKENIZER_CORPUS caps the corpus where the code paths matter more than the
    # statistics (the sanitizer builds).
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--random-decodes", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    cap = int(os.environ.get("CRIA_TOKENIZER_CORPUS", "0"))
    if cap > 0:
        a.count = min(a.count, cap)
        a.random_decodes = min(a.random_decodes, cap // 5)
    if not a.cli or not a.shared:
        sys.exit("need --cli and --shared (or CRIA_CLI and CRIA_SHARED_DIR)")
    models = os.path.join(a.shared, "models")
    llama = os.path.join(models, "llama2-tokenizer.model")
    stories = os.path.join(models, "stories260K.tok512.model")
    sources = {
        "llama2-model": (["--vocab", llama], llama, False),
        "llama2-bin": (["--vocab", os.path.join(models, "llama2-tokenizer.bin")], llama, False),
        "llama2-gguf": (["--vocab", os.path.join(models, "llama2-vocab.gguf")], llama, False),
        "llama2-tiny": (["-m", os.path.join(models, "llama2-tiny-random.gguf")], llama, False),
        "stories-model": (["--vocab", stories], stories, False),
        "stories-bin": (["--vocab", os.path.join(models, "stories260K.tok512.bin")], stories, True),
        "stories-gguf": (["-m", os.path.join(models, "stories260K.gguf")], stories, True),
    }
    if a.source not in sources:
        sys.exit("unknown source %s; one of %s" % (a.source, ", ".join(sources)))
    vocab_args, ref_model, gguf_sem = sources[a.source]
    with open(ref_model, "rb") as f:
        model_bytes = f.read()
    if gguf_sem:
        model_bytes = gguf_semantics_model(model_bytes)
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)

    t0 = time.time()
    corpus = make_corpus(a.count, a.seed)
    expected = [sp.encode(s) for s in corpus]
    t1 = time.time()
    got = run_cli([a.cli, "tokenize", "--no-bos"] + vocab_args, [json.dumps(s.hex()) for s in corpus],
                  tmp, "encode")
    t2 = time.time()
    failures = 0

    def report(kind, i, detail):
        nonlocal failures
        failures += 1
        if failures <= 15:
            print("MISMATCH %s #%d: %s" % (kind, i, detail))

    for i, (s, e, g) in enumerate(zip(corpus, expected, got)):
        if e != g:
            report("encode", i, "input=%r\n  sentencepiece=%s\n  cria=%s" % (s[:200], e[:40], g[:40]))
    enc_mismatch = failures

    # Decode SentencePiece's ids: equal to SentencePiece's decode, with and without streaming.
    lines = [json.dumps(e) for e in expected]
    dec = run_cli([a.cli, "detokenize"] + vocab_args, lines, tmp, "decode")
    dec_stream = run_cli([a.cli, "detokenize", "--stream"] + vocab_args, lines, tmp, "decode_stream")
    round_trips = 0
    for i, (s, e, d, ds) in enumerate(zip(corpus, expected, dec, dec_stream)):
        want = sp.decode(e).encode("utf-8", "surrogatepass")
        d = bytes.fromhex(d)
        ds = bytes.fromhex(ds)
        if d != want:
            report("decode", i, "ids=%s\n  sentencepiece=%r\n  cria=%r" % (e[:40], want[:100], d[:100]))
        if ds != d:
            report("stream-decode", i, "ids=%s\n  decode=%r\n  stream=%r" % (e[:40], d[:100], ds[:100]))
        if want == s:
            round_trips += 1
            if d != s:
                report("round-trip", i, "input=%r decoded=%r" % (s[:100], d[:100]))
    dec_mismatch = failures - enc_mismatch

    # Random id sequences, biased towards the interesting pieces.
    r = random.Random(a.seed + 1)
    n = sp.get_piece_size()
    byte_ids = [i for i in range(n) if sp.is_byte(i)]
    special = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    space_ids = [i for i in range(n) if sp.id_to_piece(i).startswith("\u2581")]
    seqs = []
    for _ in range(a.random_decodes):
        seq = []
        for _ in range(r.randint(0, 12)):
            k = r.random()
            pool = byte_ids if k < 0.4 else special if k < 0.5 else space_ids if k < 0.7 else None
            seq.append(r.choice(pool) if pool else r.randrange(n))
        seqs.append(seq)
    lines = [json.dumps(x) for x in seqs]
    rd = run_cli([a.cli, "detokenize"] + vocab_args, lines, tmp, "random")
    rds = run_cli([a.cli, "detokenize", "--stream"] + vocab_args, lines, tmp, "random_stream")
    for i, (seq, d, ds) in enumerate(zip(seqs, rd, rds)):
        want = sp.decode(seq).encode("utf-8", "surrogatepass")
        if bytes.fromhex(d) != want:
            report("random-decode", i, "ids=%s\n  sentencepiece=%r\n  cria=%r" % (seq, want, bytes.fromhex(d)))
        if ds != d:
            report("random-stream-decode", i, "ids=%s" % seq)
    rnd_mismatch = failures - enc_mismatch - dec_mismatch
    t3 = time.time()
    print("source %s: %d strings (%d bytes), encode mismatches %d; decode/stream/round-trip "
          "mismatches %d (%d strings round-trip in SentencePiece); %d random id sequences, "
          "mismatches %d; sentencepiece %.1fs, cria encode %.1fs, total %.1fs" %
          (a.source, len(corpus), sum(len(s) for s in corpus), enc_mismatch, dec_mismatch,
           round_trips, len(seqs), rnd_mismatch, t1 - t0, t2 - t1, t3 - t0))
    if failures:
        print("FAIL: %d mismatches" % failures)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="cria_tok_", dir=os.environ.get("CRIA_TEST_TMP"))
    try:
        rc = main()
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    sys.exit(rc)
