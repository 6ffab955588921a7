"""Run by python_pip.sh in a virtual environment where pip installed cria: `import cria` finds
the package and its library by itself; llama2.c's greedy story streams out of it; versions
agree; the logits reach numpy without a copy."""
import array
import importlib.metadata
import os
import sys

import numpy

import cria

assert "CRIA_LIBRARY" not in os.environ and "PYTHONPATH" not in os.environ
package = os.path.dirname(os.path.abspath(cria.__file__))
assert package.startswith(os.path.abspath(sys.prefix)), f"cria imported from {package}, not the venv"
for name in ("libcria.so.1", "py.typed", "_version.py"):
    assert os.path.isfile(os.path.join(package, name)), f"{name} is not in the installed package"
versions = (cria.version(), cria.__version__, importlib.metadata.version("cria"))
assert len(set(versions)) == 1, f"library, package and metadata versions differ: {versions}"
print(f"cria {cria.__version__} from {package}")

shared = os.environ["CRIA_SHARED_DIR"]
with open(os.path.join(shared, "golden", "stories260K.once.t0.n200.txt"), encoding="utf-8") as f:
    golden = f.read()
prompt = "Once upon a time"
with cria.Model(os.path.join(shared, "models", "stories260K.gguf")) as model:
    # llama2.c's -n 200 counts positions from the first (BOS), the prompt's included.
    max_tokens = 200 - len(model.tokenize(prompt)) + 1
    with model.session(temperature=0) as session:
        chunks = []
        for chunk in session.stream(prompt, max_tokens=max_tokens):
            chunks.append(chunk)
        story = prompt + "".join(chunks) + "\n"
        assert story == golden, f"the streamed story is not llama2.c's:\n{story!r}\n{golden!r}"
        print(f"streamed {len(chunks)} chunks, {len(story)} bytes: llama2.c's story")

        logits = session.logits()
        assert isinstance(logits, array.array) and logits.typecode == "f"
        assert len(logits) == model.vocab_size
        view = numpy.frombuffer(logits, dtype=numpy.float32)
        logits[0] = 12345.0  # the same memory, seen through numpy
        assert view[0] == 12345.0
        assert session.sample(view) == 0  # a float32 array goes to the C library as it is
print("python package test passed")
