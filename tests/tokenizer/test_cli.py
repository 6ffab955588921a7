#!/usr/bin/env python3
"""cria tokenize / detokenize: output formats, JSON input, and error messages."""
import os
import subprocess
import sys

CLI = os.environ["CRIA_CLI"]
MODELS = os.path.join(os.environ["CRIA_SHARED_DIR"], "models")
LLAMA = os.path.join(MODELS, "llama2-tokenizer.model")
failures = 0


def run(args, stdin=None):
    p = subprocess.run([CLI] + args, input=stdin, capture_output=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(name, cond, detail=""):
    global failures
    if not cond:
        failures += 1
        print("FAIL %s %s" % (name, detail))
    else:
        print("ok   %s" % name)


rc, out, err = run(["tokenize", "--vocab", LLAMA, "hello world"])
check("ids with BOS", rc == 0 and out == "1 22172 3186\n", repr(out + err))
rc, out, err = run(["tokenize", "--vocab", LLAMA, "--no-bos", "hello", "world"])
check("words joined, --no-bos", rc == 0 and out == "22172 3186\n", repr(out + err))
rc, out, err = run(["tokenize", "--vocab", LLAMA, "--pieces", "hello world"])
check("--pieces", rc == 0 and out == "<s> \u2581hello \u2581world\n", repr(out + err))
rc, out, err = run(["tokenize", "-m", os.path.join(MODELS, "llama2-vocab.gguf"), "--special", "<s>hi</s>"])
check("--special with -m GGUF", rc == 0 and out.split()[:2] == ["1", "1"] and out.split()[-1] == "2", repr(out + err))
rc, out, err = run(["tokenize", "--vocab", LLAMA, "--jsonl", "--no-bos"],
                   b'"hello world"\n"\\ud83d\\ude00 \\u00e9\\n\\t\\"\\\\\\/"\n  ""  \n')
import sentencepiece as spm  # noqa: E402
sp = spm.SentencePieceProcessor(model_file=LLAMA)
want = "%s\n%s\n[]\n" % (sp.encode("hello world"), sp.encode("\U0001F600 \u00e9\n\t\"\\/"))
check("--jsonl escapes and surrogate pairs", rc == 0 and out == want, repr(out + err))
for bad, what in [(b'"ok"\n"bad\\x"\n', "line 2"), (b'"a"\n"\\ud800"\n', "unpaired surrogate"),
                  (b'"unterminated\n', "unterminated"), (b'123\n', "expected a string"),
                  (b'"a" "b"\n', "after the value"), (b'"\xff"\n', "invalid UTF-8"),
                  (b'"tab\there"\n', "control character")]:
    rc, out, err = run(["tokenize", "--vocab", LLAMA, "--jsonl"], bad)
    check("invalid JSON %r" % bad, rc == 1 and what in err and "invalid JSON" in err, repr(err))
rc, out, err = run(["tokenize", "--vocab", LLAMA, "--jsonl", "--hex", "--no-bos"], b'"61ff62"\n')
check("--jsonl --hex carries invalid UTF-8", rc == 0 and out == "[263, 30140, 29890]\n", repr(out + err))
rc, out, err = run(["tokenize", "-m", os.path.join(MODELS, "stories260K.bin"), "hi"])
check("llama2.c checkpoint needs --vocab", rc == 1 and "--vocab" in err, repr(err))
rc, out, err = run(["tokenize", "-m", os.path.join(MODELS, "stories260K.bin"), "--vocab",
                    os.path.join(MODELS, "stories260K.tok512.bin"), "Once upon a time"])
check("llama2.c checkpoint with --vocab", rc == 0 and out.startswith("1 "), repr(out + err))

rc, out, err = run(["detokenize", "--vocab", LLAMA, "1", "22172", "3186"])
check("detokenize ids", rc == 0 and out == "hello world\n", repr(out + err))
rc, out, err = run(["detokenize", "--vocab", LLAMA, "32000"])
check("detokenize out of range", rc == 1 and "32000" in err and "outside the vocabulary" in err, repr(err))
rc, out, err = run(["detokenize", "--vocab", LLAMA, "-5"])
check("detokenize negative id", rc == 1 and "-5" in err, repr(err))
rc, out, err = run(["detokenize", "--vocab", LLAMA, "12x"])
check("detokenize not a number", rc == 1 and "12x" in err, repr(err))
rc, out, err = run(["detokenize", "--vocab", LLAMA, "--jsonl"], b"[1, 22172]\n[]\n[3186,0]\n")
check("detokenize --jsonl", rc == 0 and out == '"hello"\n""\n"world \u2047 "\n', repr(out + err))
rc, out, err = run(["detokenize", "--vocab", LLAMA, "--jsonl"], b"[1, 22172]\n[1, 99999]\n")
check("detokenize --jsonl range error names the line", rc == 1 and "line 2" in err, repr(err))
rc, out, err = run(["detokenize", "--vocab", LLAMA, "--jsonl"], b"[1, 2.5]\n")
check("detokenize --jsonl rejects fractions", rc == 1 and "line 1" in err, repr(err))
rc, out, err = run(["detokenize", "--vocab", LLAMA, "--raw", "--stream", "22172"])
check("detokenize --raw --stream", rc == 0 and out == "hello", repr(out + err))

print("FAIL: %d" % failures if failures else "PASS")
sys.exit(1 if failures else 0)
