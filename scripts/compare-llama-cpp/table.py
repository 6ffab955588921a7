"""Table of run.sh's JSON lines: median over rounds per engine, model and load mode, and ratios."""
import json
import os
import statistics
import sys

runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    engine = "cria" if r["engine"] == "cria" else "llama.cpp"
    runs.setdefault((r["model"], r["load"], engine), []).append(r)


def median(rows, key):
    values = [r[key] for r in rows if r.get(key)]
    return statistics.median(values) if values else None


def fmt(x, digits=1):
    return "-" if x is None else "%.*f" % (digits, x)


def ratio(a, b):
    return "-" if a is None or b is None else "%.2fx" % (a / b)


first = next(iter(runs.values()))[0]
print("prompt %d tokens, generation %d tokens, %d threads; median over %d round(s) of medians of %d repetitions"
      % (first["n_prompt"], first["n_gen"], first["threads"], len(next(iter(runs.values()))), first["repetitions"]))
print()
print("| model | load | prompt cria | prompt llama.cpp | ratio | cria of int8 peak | gen cria | gen llama.cpp | ratio "
      "| cria of read probe | llama.cpp of read probe | cria first token (s) | llama.cpp load (s) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
models = sorted({m for m, _, _ in runs})


def share(x):
    return "-" if x is None else "%.0f%%" % (100 * x)


for model in models:
    for load in ("read", "map"):
        c, l = runs.get((model, load, "cria")), runs.get((model, load, "llama.cpp"))
        if not c and not l:
            continue
        if not c or not l:
            print("| %s | %s | only %s ran |" % (os.path.basename(model), load, "cria" if c else "llama.cpp") + " |" * 10)
            continue
        cp, lp = median(c, "prompt_tokens_per_s"), median(l, "prompt_tokens_per_s")
        cg, lg = median(c, "gen_tokens_per_s"), median(l, "gen_tokens_per_s")
        # Shares of the probes cria measured in the same run: generation bytes over the read
        # bandwidth (llama.cpp reads the same weight bytes per token), prompt operations over
        # the int8 multiply-add peak (0 where the CPU has no 8-bit dot instruction probed).
        bytes_per_token, bandwidth = median(c, "weight_bytes_per_token"), median(c, "read_bandwidth")
        int8 = median(c, "prompt_peak_ratio_int8")
        cg_share = cg * bytes_per_token / bandwidth if cg and bandwidth else None
        lg_share = lg * bytes_per_token / bandwidth if lg and bandwidth else None
        ready, llama_load = median(c, "ready_ms"), median(l, "load_ms")
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            os.path.basename(model), load, fmt(cp), fmt(lp), ratio(cp, lp), share(int8), fmt(cg, 2), fmt(lg, 2),
            ratio(cg, lg), share(cg_share), share(lg_share), fmt(ready and ready / 1e3, 2),
            fmt(llama_load and llama_load / 1e3, 2)))
print()
print("Each engine in its faster load mode:")
print()
print("| model | prompt cria | prompt llama.cpp | ratio | gen cria | gen llama.cpp | ratio |")
print("|---|---|---|---|---|---|---|")
for model in models:
    best = {}
    for engine in ("cria", "llama.cpp"):
        for key in ("prompt_tokens_per_s", "gen_tokens_per_s"):
            values = [median(runs[(model, load, engine)], key) for load in ("read", "map")
                      if (model, load, engine) in runs]
            values = [v for v in values if v is not None]
            best[(engine, key)] = max(values) if values else None
    cp, lp = best[("cria", "prompt_tokens_per_s")], best[("llama.cpp", "prompt_tokens_per_s")]
    cg, lg = best[("cria", "gen_tokens_per_s")], best[("llama.cpp", "gen_tokens_per_s")]
    print("| %s | %s | %s | %s | %s | %s | %s |" % (os.path.basename(model), fmt(cp), fmt(lp), ratio(cp, lp),
          fmt(cg, 2), fmt(lg, 2), ratio(cg, lg)))
buffers = sorted({b.split(":", 1)[-1].split(" model buffer")[0].strip() for rows in runs.values() for r in rows
                  for b in r.get("backend", []) if "model buffer" in b})
notes = {"AMX": "AMX: weights repacked for its AMX kernels",
         "CPU_REPACK": "CPU_REPACK: weights repacked for its AVX2/AVX-512 kernels"}
if buffers:
    print()
    explained = [notes[b] for b in buffers if b in notes]
    print("llama.cpp weight buffers: " + ", ".join(buffers) + (" (" + "; ".join(explained) + ")" if explained else ""))
isas = sorted({r["isa"] for (model, load, engine), rows in runs.items() if engine == "cria" for r in rows if "isa" in r})
if isas:
    print("cria kernels: " + ", ".join(isas))
variants = sorted({v for (model, load, engine), rows in runs.items() if engine == "llama.cpp"
                   for r in rows for v in r.get("cpu_variant", [])})
if variants:
    print("llama.cpp CPU backend: " + ", ".join(variants))
devices = sorted({r["device"] for (model, load, engine), rows in runs.items() if engine == "cria" for r in rows
                  if r.get("backend") not in (None, "cpu") and "device" in r})
if devices:
    print("cria device (its read probe is the device memory's): " + "; ".join(devices))
gpus = sorted({r["gpu"] for (model, load, engine), rows in runs.items() if engine == "llama.cpp" for r in rows
               if r.get("gpu", "cpu") != "cpu"})
if gpus:
    print("llama.cpp GPU backend: " + ", ".join(gpus))
