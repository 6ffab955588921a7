#!/usr/bin/env python3
"""Streams a story from a model with the ctypes bindings (bindings/python).

    pip install ./bindings/python       # in a virtual environment; see docs/packaging.md
    python3 examples/python/story.py [MODEL] [PROMPT]

or from a checkout without installing:

    PYTHONPATH=bindings/python CRIA_LIBRARY=build/capi/libcria.so \
        python3 examples/python/story.py [MODEL] [PROMPT]
"""
import os
import sys

import cria

shared = os.environ.get("CRIA_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(shared, "models", "stories260K.gguf")
prompt = sys.argv[2] if len(sys.argv) > 2 else "Once upon a time"

with cria.Model(path) as model:
    print(f"cria {cria.version()}: {model.info.n_layers} layers, {model.vocab_size} tokens", file=sys.stderr)
    with model.session(temperature=0.8, seed=42) as session:
        # A generator of text chunks; leaving the loop early stops generation.
        print(prompt, end="", flush=True)
        for chunk in session.stream(prompt, max_tokens=100):
            print(chunk, end="", flush=True)
        print()

        # The same with a callback; returning False would cancel.
        session.reset()
        print(prompt, end="", flush=True)
        result = session.generate(prompt, max_tokens=30, temperature=0,
                                  on_text=lambda text: print(text, end="", flush=True) or True)
        print(f"\n[{result.n_tokens} tokens, stopped by {result.stop_reason}]", file=sys.stderr)
