"""cria synth: random-weight models in real shapes that other engines load too.

For the 110M shape in Q8_0 and Q4_K (types whose llama.cpp file-type number differs from the
tensor type number) the file must carry llama.cpp's general.file_type, the shape's
hyper-parameters, every tensor in the requested type and shape, and a complete vocabulary
(llama.cpp refuses a file without tokenizer.ggml.*): 32000 distinct pieces, the byte pieces,
<unk>/<s>/</s>. cria then tokenizes text with it and round-trips it, and generates. A
--vocab of the wrong size and an unknown shape fail with a message.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_quantize import CLI, FILE_TYPE, Checks, read_gguf  # noqa: E402

SHARED = os.environ["CRIA_SHARED_DIR"]
TMP = os.path.join(os.environ.get("CRIA_TEST_TMP", "/tmp"), "synth")


def run(*args):
    return subprocess.run([CLI] + list(args), capture_output=True, text=True)


def main():
    os.makedirs(TMP, exist_ok=True)
    check = Checks(verbose=True)

    dim, hidden, layers, vocab = 768, 2048, 12, 32000
    for type_name in ["Q8_0", "Q4_K"]:
        path = os.path.join(TMP, "110m.%s.gguf" % type_name)
        r = run("synth", "--shape", "110m", "--type", type_name, "-o", path)
        check(r.returncode == 0, "synth 110m %s exits 0 (%s)" % (type_name, r.stderr.strip()))
        meta, tensors = read_gguf(path)
        check(meta.get("general.file_type") == FILE_TYPE[type_name],
              "%s: general.file_type %s is llama.cpp's %d" % (type_name, meta.get("general.file_type"),
                                                             FILE_TYPE[type_name]))
        check(meta.get("llama.embedding_length") == dim and meta.get("llama.block_count") == layers
              and meta.get("llama.feed_forward_length") == hidden,
              "%s: hyper-parameters of the 110M shape" % type_name)
        matrices = [n for n, t in tensors.items() if len(t[0]) == 2]
        check(len(matrices) == 2 + 7 * layers and all(tensors[n][1] == type_name for n in matrices),
              "%s: all %d matrices in %s" % (type_name, len(matrices), type_name))
        check(tensors["blk.0.ffn_down.weight"][0] == (hidden, dim)
              and tensors["output.weight"][0] == (dim, vocab), "%s: tensor shapes" % type_name)
        pieces = meta.get("tokenizer.ggml.tokens", [])
        types = meta.get("tokenizer.ggml.token_type", [])
        check(meta.get("tokenizer.ggml.model") == "llama" and len(pieces) == vocab
              and len(set(pieces)) == vocab and len(meta.get("tokenizer.ggml.scores", [])) == vocab,
              "%s: a vocabulary of %d distinct pieces with scores" % (type_name, len(set(pieces))))
        check(pieces[:3] == ["<unk>", "<s>", "</s>"] and types[:3] == [2, 3, 3]
              and pieces[3 + 0x41] == "<0x41>" and types.count(6) == 256,
              "%s: special and byte pieces" % type_name)

    path = os.path.join(TMP, "110m.Q8_0.gguf")
    text = "Once upon a time, 42 cats ate pie!"
    r = run("tokenize", "-m", path, text)
    ids = r.stdout.split()
    check(r.returncode == 0 and len(ids) > 3 and ids[0] == "1", "tokenize with the generated vocabulary: %s" % ids)
    r = run("detokenize", "-m", path, *ids[1:])
    check(r.returncode == 0 and r.stdout.rstrip("\n").lstrip(" ") == text,
          "detokenize gives the text back: %r" % r.stdout)
    r = run("run", "-m", path, "-p", "hello", "-n", "8", "-t", "2")
    check(r.returncode == 0 and r.stdout.startswith("hello") and len(r.stdout.strip()) > len("hello"),
          "cria run generates from the synthesized file: %r" % r.stdout)

    r = run("synth", "--shape", "110m", "--type", "Q8_0", "--vocab",
            os.path.join(SHARED, "models", "stories260K.tok512.bin"), "-o", os.path.join(TMP, "bad.gguf"))
    check(r.returncode != 0 and "512" in r.stderr and "32000" in r.stderr,
          "a vocabulary of the wrong size is refused: %s" % r.stderr.strip())
    r = run("synth", "--shape", "8b", "--type", "Q8_0", "-o", os.path.join(TMP, "bad.gguf"))
    check(r.returncode != 0 and "unknown shape" in r.stderr, "an unknown shape is refused: %s" % r.stderr.strip())

    return check.status()


if __name__ == "__main__":
    sys.exit(main())
