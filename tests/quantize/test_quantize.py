"""cria quantize against llama.cpp's quantizer.

synth256.f32.gguf is quantized by `cria quantize` to every TYPE. For each TYPE that llama.cpp
made a file of (../shared/models/synth256.TYPE.gguf, from the same F32 file):
  - every tensor gets the type llama.cpp chose (the mixes: Q2_K, Q3_K_M, Q4_K_M, Q5_K_M and
    the Q6_K output matrix) and general.file_type is llama.cpp's number;
  - the relative RMS error of the logits against the F32 model's is not worse than that of
    llama.cpp's file by more than 10% (+0.003 for noise);
  - formats whose encoders are exact (F16, BF16, Q8_0, Q4_0) give byte-identical tensors.
stories260K.gguf (dim 64, hidden 172: no K-quant fits) is quantized to every TYPE, the
fallback types are checked, and the perplexity of a fixed text stays within 10% of F32's.
Also: metadata is copied; a quantized input re-quantizes; converting to a file's own type
copies the bytes; bad arguments fail cleanly. Prints the measured table.
"""
import os
import struct
import subprocess
import sys

import numpy as np

SHARED = os.environ["CRIA_SHARED_DIR"]
CLI = os.environ["CRIA_CLI"]
TMP = os.path.join(os.environ.get("CRIA_TEST_TMP", "/tmp"), "quantize")
M = os.path.join(SHARED, "models")
TEXT = os.path.join(SHARED, "golden", "stories260K.t0.n200.txt")
TOKENS = "1 50 100 200 300 400 500 7 8 9 10 11 260 33 77 411 5 99 123 321"

# ggml type id: (name, block elements, block bytes)
LAYOUT = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
          6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84),
          11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
          14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2)}

TYPES = ["F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K", "Q5_1", "Q5_0", "Q4_K_M",
         "Q4_K", "Q4_1", "Q4_0", "Q3_K_M", "Q3_K", "Q2_K"]
LLAMA = {"F16": "f16", "BF16": "bf16", "Q8_0": "q8_0", "Q6_K": "q6_k", "Q5_K_M": "q5_k_m",
         "Q5_1": "q5_1", "Q5_0": "q5_0", "Q4_K_M": "q4_k_m", "Q4_1": "q4_1", "Q4_0": "q4_0",
         "Q3_K_M": "q3_k_m", "Q2_K": "q2_k"}
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
             "Q2_K": 10, "Q3_K": 11, "Q3_K_M": 12, "Q4_K": 14, "Q4_K_M": 15, "Q5_K": 16,
             "Q5_K_M": 17, "Q6_K": 18, "BF16": 32}
# Types without a llama.cpp file: a bound on the logit error (measured: Q5_K 0.072,
# Q4_K 0.145 (llama.cpp's Q4_K_S, which has a few Q5_K tensors more: 0.137), Q3_K 0.283).
BOUND = {"F32": 0.0, "Q5_K": 0.09, "Q4_K": 0.18, "Q3_K": 0.34}
EXACT = {"F16", "BF16", "Q8_0", "Q4_0"}


def read_gguf(path):
    """(metadata keys -> raw python values for scalars, tensors name -> (ne, type, bytes))."""
    data = open(path, "rb").read()
    pos = 0

    def take(n):
        nonlocal pos
        b = data[pos:pos + n]
        pos += n
        return b

    def unpack(fmt):
        return struct.unpack(fmt, take(struct.calcsize(fmt)))

    def string():
        (n,) = unpack("<Q")
        return take(n).decode("utf-8")

    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
              11: "<q", 12: "<d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, count = unpack("<IQ")
            return [value(et) for _ in range(count)]
        return unpack(scalar[t])[0]

    assert take(4) == b"GGUF"
    version, n_tensors, n_kv = unpack("<IQQ")
    meta = {}
    for _ in range(n_kv):
        key = string()
        (t,) = unpack("<I")
        meta[key] = value(t)
    infos = []
    for _ in range(n_tensors):
        name = string()
        (nd,) = unpack("<I")
        ne = unpack("<%dQ" % nd)
        t, off = unpack("<IQ")
        infos.append((name, ne, t, off))
    align = meta.get("general.alignment", 32)
    start = pos + (-pos) % align
    tensors = {}
    for name, ne, t, off in infos:
        _, block, nbytes = LAYOUT[t]
        size = int(np.prod(ne)) // block * nbytes
        tensors[name] = (ne, LAYOUT[t][0], data[start + off:start + off + size])
    return meta, tensors


def cria(*args):
    r = subprocess.run([CLI] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("cria %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def logits(model):
    out = os.path.join(TMP, "logits.f32")
    cria("logits", "-m", model, "--tokens", TOKENS, "-o", out)
    return np.fromfile(out, dtype=np.float32).astype(np.float64)


def perplexity(model):
    for line in cria("perplexity", "-m", model, "-f", TEXT).splitlines():
        if line.startswith("perplexity:"):
            return float(line.split()[1])
    raise RuntimeError("no perplexity printed")


def rel_rms(x, ref):
    return float(np.sqrt(((x - ref) ** 2).sum() / (ref ** 2).sum()))


class Checks:
    """check(cond, what) records a failed check (and prints it, or every check if verbose);
    status() prints the verdict and returns the exit status."""

    def __init__(self, verbose=False):
        self.failures = []
        self.verbose = verbose

    def __call__(self, cond, what):
        if not cond:
            self.failures.append(what)
        if self.verbose or not cond:
            print(("ok   " if cond else "FAIL ") + what)

    def status(self):
        if self.failures:
            print("%d check(s) failed" % len(self.failures))
            return 1
        print("all checks passed")
        return 0


def main():
    os.makedirs(TMP, exist_ok=True)
    check = Checks()

    f32 = os.path.join(M, "synth256.f32.gguf")
    stories = os.path.join(M, "stories260K.gguf")
    ref = logits(f32)
    stories_ref = logits(stories)
    stories_ppl = perplexity(stories)
    src_meta, _ = read_gguf(f32)
    rows = []
    for t in TYPES:
        out = os.path.join(TMP, "synth256.%s.gguf" % t)
        cria("quantize", f32, out, t)
        meta, tensors = read_gguf(out)
        check(meta["general.file_type"] == FILE_TYPE[t], "%s: general.file_type" % t)
        for key, v in src_meta.items():
            if key != "general.file_type":
                check(meta.get(key) == v, "%s: metadata %s copied" % (t, key))
        for name, (ne, typ, _) in tensors.items():
            if len(ne) == 1:
                check(typ == "F32", "%s: %s stays F32" % (t, name))
        err = rel_rms(logits(out), ref)
        theirs = theirs_ppl = None
        if t in LLAMA:
            lf = os.path.join(M, "synth256.%s.gguf" % LLAMA[t])
            lmeta, ltensors = read_gguf(lf)
            check(lmeta["general.file_type"] == FILE_TYPE[t], "%s: llama.cpp's file_type" % t)
            check(sorted(tensors) == sorted(ltensors), "%s: same tensors" % t)
            for name, (ne, typ, raw) in ltensors.items():
                mine = tensors.get(name)
                if not mine:
                    continue
                check(mine[1] == typ, "%s: %s is %s, llama.cpp chose %s" % (t, name, mine[1], typ))
                if t in EXACT and typ == t:
                    check(mine[2] == raw, "%s: %s bytes equal llama.cpp's" % (t, name))
            theirs = rel_rms(logits(lf), ref)
            theirs_ppl = perplexity(lf)
            check(err <= theirs * 1.10 + 0.003,
                  "%s: logit error %.4f vs llama.cpp %.4f" % (t, err, theirs))
        else:
            check(err <= BOUND[t], "%s: logit error %.4f over %.2f" % (t, err, BOUND[t]))
        ppl = perplexity(out)

        sout = os.path.join(TMP, "stories260K.%s.gguf" % t)
        cria("quantize", stories, sout, t)
        _, st = read_gguf(sout)
        s_err = rel_rms(logits(sout), stories_ref)
        s_ppl = perplexity(sout)
        check(np.isfinite(s_ppl) and s_ppl <= stories_ppl * 1.10,
              "%s: stories260K perplexity %.4f vs F32 %.4f" % (t, s_ppl, stories_ppl))
        # Fallbacks: hidden 172 is no multiple of 32; 64 is none of 256.
        down = st["blk.0.ffn_down.weight"][1]
        check(down == ("F32" if t == "F32" else "BF16" if t == "BF16" else "F16"),
              "%s: ffn_down (rows of 172) is %s" % (t, down))
        q = st["blk.0.attn_q.weight"][1]
        expect_q = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q3_K_M": "Q4_0", "Q4_K": "Q5_0",
                    "Q4_K_M": "Q5_0", "Q5_K": "Q5_1", "Q5_K_M": "Q5_1", "Q6_K": "Q8_0"}.get(t, t)
        check(q == expect_q, "%s: attn_q (rows of 64) is %s, expected %s" % (t, q, expect_q))
        size = os.path.getsize(sout)
        rows.append((t, err, theirs, ppl, theirs_ppl, s_err, s_ppl, size))

    # A quantized input re-quantizes (decoded, then encoded); its own type is copied as is.
    q8 = os.path.join(M, "synth256.q8_0.gguf")
    out = os.path.join(TMP, "requant.gguf")
    cria("quantize", q8, out, "Q4_K_M")
    err = rel_rms(logits(out), ref)
    check(err < 0.16, "Q8_0 -> Q4_K_M: logit error %.4f" % err)
    cria("quantize", os.path.join(M, "synth256.q4_k_m.gguf"), out, "Q4_K_M")
    _, a = read_gguf(out)
    _, b = read_gguf(os.path.join(M, "synth256.q4_k_m.gguf"))
    check(all(a[n][2] == b[n][2] for n in b), "Q4_K_M -> Q4_K_M copies every tensor")
    # F16 input (stories260K.f16.gguf) to Q8_0 runs.
    out16 = os.path.join(TMP, "stories.f16.q8_0.gguf")
    cria("quantize", os.path.join(M, "stories260K.f16.gguf"), out16, "q8_0")
    check(perplexity(out16) <= stories_ppl * 1.02, "F16 -> Q8_0 perplexity")
    # Bad arguments.
    for args in (["quantize", f32, out, "Q7_K"], ["quantize", f32, out],
                 ["quantize", os.path.join(TMP, "missing.gguf"), out, "Q4_0"]):
        r = subprocess.run([CLI] + args, capture_output=True, text=True)
        check(r.returncode != 0 and "error" in r.stderr, "cria %s fails" % " ".join(args[1:]))

    print("F32 perplexity: synth256 %.1f, stories260K %.4f" % (perplexity(f32), stories_ppl))
    print("| TYPE | synth256 logit rel. RMS: cria | llama.cpp | synth256 ppl: cria | llama.cpp "
          "| stories260K logit rel. RMS | stories260K ppl | stories260K bytes |")
    for t, err, theirs, ppl, tppl, s_err, s_ppl, size in rows:
        print("| %s | %.4f | %s | %.0f | %s | %.4f | %.4f | %d |" % (
            t, err, "%.4f" % theirs if theirs is not None else "-", ppl,
            "%.0f" % tppl if tppl is not None else "-", s_err, s_ppl, size))
    return check.status()


if __name__ == "__main__":
    sys.exit(main())
