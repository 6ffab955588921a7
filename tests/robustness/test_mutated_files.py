"""Hostile files: random mutations of real model and vocabulary files must give either a
result or a clean error (exit status 1 with a message naming the problem), never a crash
(a signal), a hang or another exit status. Mutations aim at the parts that steer parsing:
headers, counts, lengths, type ids, offsets, and truncations anywhere.

Environment: CRIA_CLI, CRIA_SHARED_DIR, CRIA_TEST_TMP; CRIA_FUZZ_CASES (default 150 per file).
"""
import os
import random
import struct
import subprocess
import sys

CLI = os.environ["CRIA_CLI"]
MODELS = os.path.join(os.environ["CRIA_SHARED_DIR"], "models")
TMP = os.path.join(os.environ["CRIA_TEST_TMP"], "robustness")
CASES = int(os.environ.get("CRIA_FUZZ_CASES", "150"))
os.makedirs(TMP, exist_ok=True)

INTERESTING = [0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 255, 256, 0x7f, 0x80, 0xff, 0x7fff, 0x8000,
               0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 2**63 - 1, 2**63, 2**64 - 1]


def mutate(data, rng, hot_end):
    """One to four mutations, mostly within the first hot_end bytes (headers and tables)."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        where = rng.randrange(min(len(data), hot_end)) if rng.random() < 0.85 else rng.randrange(len(data))
        if kind < 0.3:  # flip a bit
            data[where] ^= 1 << rng.randrange(8)
        elif kind < 0.6:  # an interesting integer, 4 or 8 bytes wide
            value = rng.choice(INTERESTING)
            width = rng.choice((4, 8))
            packed = struct.pack("<Q", value % 2**64)[:width]
            data[where:where + width] = packed
        elif kind < 0.75:  # a random byte
            data[where] = rng.randrange(256)
        elif kind < 0.9:  # truncate
            del data[rng.randrange(1, len(data)):]
            if not data:
                data = bytearray(b"G")
        else:  # duplicate or drop a run of bytes
            n = rng.randint(1, 64)
            if rng.random() < 0.5:
                data[where:where] = data[where:where + n]
            else:
                del data[where:where + n]
    return bytes(data)


def run(args, path):
    try:
        r = subprocess.run([CLI] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except subprocess.TimeoutExpired:
        return "hang"
    if r.returncode == 0:
        return None
    if r.returncode == 1 and b"error:" in r.stderr:
        return None
    return "exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace")[-300:])


def main():
    rng = random.Random(20261128)
    # (source file, bytes where parsing decisions live, command for a mutated copy at P)
    targets = [
        ("stories260K.gguf", 16384, lambda p: ["run", "-m", p, "-p", "Once", "-n", "2", "--temp", "0", "-t", "1"]),
        ("stories260K.gguf", 16384, lambda p: ["info", "-m", p]),
        ("synth256.q4_k_m.gguf", 12288, lambda p: ["logits", "-m", p, "--tokens", "1 2 3", "-o", p + ".out", "-t", "1"]),
        ("stories260K.bin", 64, lambda p: ["run", "-m", p, "--tokenizer", os.path.join(MODELS, "stories260K.tok512.bin"), "-n", "2", "--temp", "0", "-t", "1"]),
        ("stories260K.v1.bin", 300, lambda p: ["info", "-m", p]),
        ("stories260K.tok512.bin", 6227, lambda p: ["tokenize", "--vocab", p, "Once upon a time"]),
        ("stories260K.tok512.model", 7522, lambda p: ["tokenize", "--vocab", p, "Once upon a time"]),
        ("llama2-vocab.gguf", 4096, lambda p: ["tokenize", "--vocab", p, "Hello world"]),
    ]
    failures = 0
    total = 0
    for name, hot, command in targets:
        original = open(os.path.join(MODELS, name), "rb").read()
        path = os.path.join(TMP, "mutated_" + name)
        bad = 0
        for case in range(CASES):
            data = mutate(original, rng, hot)
            with open(path, "wb") as f:
                f.write(data)
            problem = run(command(path), path)
            total += 1
            if problem:
                bad += 1
                failures += 1
                keep = os.path.join(TMP, "crash_%s_%d" % (name, case))
                os.replace(path, keep)
                print("FAIL %s case %d (kept as %s): %s" % (name, case, keep, problem))
        print("%s %s: %d mutated files, %d crashes or hangs" % ("ok  " if not bad else "FAIL", name, CASES, bad))
    print("%d passed, %d failed" % (total - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
