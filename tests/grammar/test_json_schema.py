"""cria run --json-schema writes JSON that the schema accepts.

For each schema below, seeded generations at temperature 1 (top-k and top-p off, so that every
token the grammar allows can be drawn) on llama2-tiny-random.gguf (Llama 2's 32,000-token
vocabulary, random weights) and on stories260K.gguf (a 512-token vocabulary): each output must
parse with Python's json, validate with python3-jsonschema, and end because the model ended it
(EOS), never because it ran out of tokens. The schemas bound every string and array, and the
grammar bounds numbers and whitespace, so every sentence has a largest size: -n allows it.

Each run is a process of its own (cria run makes one completion), most of whose time is loading
the model and its vocabulary, so the default is 200 generations per schema, 100 on each model
(under a minute on 2 cores); CRIA_GRAMMAR_RUNS sets the number per schema and model."""
import concurrent.futures
import json
import os
import subprocess
import sys
import time

import jsonschema

SHARED = os.environ["CRIA_SHARED_DIR"]
CLI = os.environ["CRIA_CLI"]
MODELS = [os.path.join(SHARED, "models", m) for m in ("llama2-tiny-random.gguf", "stories260K.gguf")]
RUNS = int(os.environ.get("CRIA_GRAMMAR_RUNS", "100"))

SCHEMAS = {
    "flat": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "color": {"enum": ["red", "green", "blue", "dark \"grey\""]},
            "count": {"type": "integer"},
            "active": {"type": "boolean"},
            "note": {"type": "string", "minLength": 1, "maxLength": 4},
        },
        "required": ["name", "color", "count"],
        "additionalProperties": False,
    },
    "nested": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 8},
            "items": {
                "type": "array",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 2},
                        "owner": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}},
                                  "required": ["name"]},
                    },
                    "required": ["id", "tags"],
                },
            },
        },
        "required": ["title", "items"],
    },
    "numbers": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 6},
    "nullable": {
        "type": "object",
        "properties": {
            "value": {"anyOf": [{"type": "string", "maxLength": 6}, {"type": "integer"}, {"type": "null"}]},
            "label": {"type": ["string", "null"], "maxLength": 5},
            "kind": {"oneOf": [{"const": "a"}, {"$ref": "#/$defs/pair"}]},
        },
        "required": ["value", "label"],
        "$defs": {"pair": {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2}},
    },
}

# The most bytes of each part of a sentence, as the converter's grammar writes them.
WS = 21                       # " ", or "\n" and 20 spaces or tabs
NUMBER = 17 + 17 + 4          # -, 16 digits; ".", 16 digits; "e", a sign, 2 digits
INTEGER = 17
CHAR = 6                      # \uXXXX


def max_bytes(schema, root):
    if "$ref" in schema:
        return max_bytes(root["$defs"][schema["$ref"].split("/")[-1]], root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return max(max_bytes(s, root) for s in schema[key])
    if "const" in schema or "enum" in schema:
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return max(len(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()) for v in values)
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return max(max_bytes_of_type(schema, t, root) for t in types)


def max_bytes_of_type(schema, t, root):
    if t == "string":
        return 2 + CHAR * schema["maxLength"]
    if t in ("integer", "number", "boolean", "null"):
        return {"integer": INTEGER, "number": NUMBER, "boolean": 5, "null": 4}[t]
    if t == "array":
        n = schema["maxItems"]
        return 2 + WS + n * (max_bytes(schema["items"], root) + WS) + max(n - 1, 0) * (1 + WS)
    props = schema.get("properties", {})
    kv = [len(json.dumps(k).encode()) + 1 + 3 * WS + max_bytes(s, root) for k, s in props.items()]
    return 2 + WS + sum(kv) + max(len(kv) - 1, 0) * (1 + WS)


def generate(model, schema_text, seed, max_tokens):
    args = [CLI, "run", "-m", model, "--json-schema", schema_text, "--temp", "1", "--top-k", "0",
            "--top-p", "1", "--seed", str(seed), "-n", str(max_tokens), "-c", str(max_tokens + 8), "-t", "1"]
    return subprocess.run(args, capture_output=True)


def check(result, schema):
    """None when the output is valid, else what is wrong."""
    if result.returncode != 0:
        return f"exit code {result.returncode}: {result.stderr.decode(errors='replace')[-500:]}"
    stop = result.stderr.decode(errors="replace").rsplit("stop: ", 1)[-1].strip()
    if stop != "end of sequence":
        return f"stopped by '{stop}', not by the model ending the text"
    try:
        text = result.stdout.decode("utf-8")
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError) as e:
        return f"not JSON ({e}): {result.stdout[:300]!r}"
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as e:
        return f"invalid: {e.message}: {text[:300]!r}"
    return None


def main():
    start = time.time()
    failures = 0
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, schema in SCHEMAS.items():
            jsonschema.validators.validator_for(schema).check_schema(schema)
            max_tokens = max_bytes(schema, schema) + 2 * WS + 1  # a token has at least one byte; then EOS
            text = json.dumps(schema)
            for model in MODELS:
                for seed in range(RUNS):
                    jobs.append((name, model, seed, max_tokens,
                                 pool.submit(generate, model, text, seed, max_tokens)))
        lengths = {}
        for name, model, seed, max_tokens, future in jobs:
            result = future.result()
            problem = check(result, SCHEMAS[name])
            key = (name, os.path.basename(model))
            lengths.setdefault(key, []).append(len(result.stdout))
            if problem:
                failures += 1
                if failures <= 10:
                    print(f"FAIL {name} on {os.path.basename(model)} seed {seed}: {problem}")
    for (name, model), sizes in lengths.items():
        print(f"{name:9s} {model:26s} {len(sizes)} outputs, {min(sizes)}-{max(sizes)} bytes "
              f"(mean {sum(sizes) / len(sizes):.0f})")
    print(f"{len(jobs) - failures} valid, {failures} failed, {time.time() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
