"""cria embed: one line of unit-length numbers per text, JSON on request, each text's line as
when it is embedded alone."""
import json
import math
import os
import subprocess

CLI = os.environ["CRIA_CLI"]
MODEL = os.path.join(os.environ["CRIA_SHARED_DIR"], "models", "stories260K.gguf")


def embed(*args):
    r = subprocess.run([CLI, "embed", "-m", MODEL, "-t", "1"] + list(args), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def main():
    texts = ["A cat sat on the mat.", "The dog ran after the ball.", "Lily was happy."]
    lines = embed(*texts).splitlines()
    rows = [[float(v) for v in line.split()] for line in lines]
    assert len(rows) == 3 and all(len(r) == 64 for r in rows)
    for r in rows:
        assert abs(math.sqrt(sum(v * v for v in r)) - 1.0) < 1e-5
    assert json.loads(embed("--json", *texts)) == rows
    assert [float(v) for v in embed(texts[1]).split()] == rows[1]
    last = json.loads(embed("--json", "--pooling", "last", "--no-normalize", texts[0]))[0]
    assert abs(math.sqrt(sum(v * v for v in last)) - 1.0) > 1e-3
    bad = subprocess.run([CLI, "embed", "-m", MODEL, "--pooling", "max", "x"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--pooling" in bad.stderr
    print("cria embed: 3 texts, 64 values each, unit length")


if __name__ == "__main__":
    main()
