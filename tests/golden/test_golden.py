"""cria run --temp 0 reproduces llama2.c's greedy outputs in ../shared/golden byte for byte.

llama2.c's -n counts forward passes from position 0: it prints one token per pass (the prompt's,
then sampled ones), so cria generates n - len(prompt tokens with BOS) + 1 tokens. Each golden case also runs on every other file that
holds the same weights (GGUF F32, llama2.c version 1 export). CRIA_GOLDEN_ARGS adds options
to every run (a backend: "--backend vulkan -ngl 3"); then each case runs on its first file only.
The first case runs once more on a copy of its model under a non-ASCII (UTF-8) name in
CRIA_TEST_TMP. CRIA_EMULATOR runs the CLI of a cross build ("wine", "qemu-aarch64");
CRIA_GOLDEN_FILES=first runs each case on its first file only (a shorter run under emulation).
CRIA_GOLDEN_THREADS sets the threads of each run (default 2)."""
import os
import shutil
import subprocess
import sys

SHARED = os.environ["CRIA_SHARED_DIR"]
CLI = os.environ["CRIA_CLI"]
M = os.path.join(SHARED, "models")
G = os.path.join(SHARED, "golden")
EXTRA = os.environ.get("CRIA_GOLDEN_ARGS", "").split()
EMULATOR = os.environ.get("CRIA_EMULATOR", "").split()
FIRST_FILE_ONLY = bool(EXTRA) or os.environ.get("CRIA_GOLDEN_FILES") == "first"
THREADS = os.environ.get("CRIA_GOLDEN_THREADS", "2")

STORIES = [("stories260K.bin", "stories260K.tok512.bin"),
           ("stories260K.v1.bin", "stories260K.tok512.bin"),
           ("stories260K.gguf", None)]
AIDREAMS = [("aidreams260K.bin", "aidreams260K.tok512.bin")]

CASES = [  # golden file, prompt, llama2.c -n, model files
    ("stories260K.t0.n200.txt", "", 200, STORIES),
    ("stories260K.once.t0.n200.txt", "Once upon a time", 200, STORIES),
    ("stories260K.park.t0.n256.txt", "Tom and Lily went to the park", 256, STORIES),
    ("aidreams260K.t0.n120.txt", "", 120, AIDREAMS),
    ("aidreams260K.echoes.t0.n128.txt", "Echoes of", 128, AIDREAMS),
]


def run(args):
    return subprocess.run(EMULATOR + [CLI] + args, capture_output=True, check=True).stdout


def non_ascii_copy(name):
    """A copy of fixture `name` at a path with non-ASCII letters in the folder and the file."""
    folder = os.path.join(os.environ["CRIA_TEST_TMP"], "golden-modèles-模型")
    os.makedirs(folder, exist_ok=True)
    copy = os.path.join(folder, "ß-Ω-" + name)
    shutil.copyfile(os.path.join(M, name), copy)
    return copy


def main():
    runs = []  # golden file, prompt, llama2.c -n, model path, vocabulary path or None
    for golden, prompt, steps, models in CASES:
        for model, vocab in models[:1] if FIRST_FILE_ONLY else models:
            runs.append((golden, prompt, steps, os.path.join(M, model), vocab and os.path.join(M, vocab)))
    golden, prompt, steps, models = CASES[0]
    model, vocab = models[0]
    runs.append((golden, prompt, steps, non_ascii_copy(model), vocab and non_ascii_copy(vocab)))
    failures = 0
    for golden, prompt, steps, model, vocab in runs:
        expected = open(os.path.join(G, golden), "rb").read()
        vocab_args = ["--tokenizer", vocab] if vocab else []
        vocab_source = ["--vocab", vocab] if vocab else ["-m", model]
        ids = run(["tokenize"] + vocab_source + [prompt]).split()
        n_generate = steps - len(ids) + 1
        out = run(["run", "-m", model, *vocab_args, "-p", prompt,
                   "-n", str(n_generate), "--temp", "0", "-t", THREADS, *EXTRA])
        ok = out == expected
        failures += not ok
        shown = model if os.path.dirname(model) != M else os.path.basename(model)
        print(f"{'ok  ' if ok else 'FAIL'} {golden} with {shown}: {len(out)} bytes, "
              f"{len(ids)} prompt tokens, {n_generate} generated")
        if not ok:
            at = next((i for i, (a, b) in enumerate(zip(out, expected)) if a != b),
                      min(len(out), len(expected)))
            print(f"     first difference at byte {at}:\n     cria:     {out[max(0, at-40):at+40]!r}"
                  f"\n     llama2.c: {expected[max(0, at-40):at+40]!r}")
    print(f"{len(runs) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
