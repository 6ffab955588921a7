"""The same cria binary on CPUs without AVX-512 (QEMU's Haswell: AVX2, FMA, F16C) and without
AVX (Nehalem: SSE4.2): it must choose its kernels at run time, never execute an instruction the
CPU lacks, and give llama2.c's greedy story and the native logits."""
import os
import shutil
import subprocess
import sys

import numpy as np

CLI = os.environ["CRIA_CLI"]
SHARED = os.environ["CRIA_SHARED_DIR"]
TMP = os.path.join(os.environ["CRIA_TEST_TMP"], "portability")
os.makedirs(TMP, exist_ok=True)
QEMU = shutil.which("qemu-x86_64")
failures = 0
checks = 0


def check(ok, what):
    global failures, checks
    checks += 1
    failures += not ok
    print(("ok   " if ok else "FAIL ") + what, flush=True)


def run(cpu, args, env=None):
    cmd = ([QEMU, "-cpu", cpu] if cpu else []) + [CLI] + args
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                          env=dict(os.environ, **(env or {})))


def main():
    if not QEMU:
        print("FAIL qemu-x86_64 is missing (scripts/install-deps.sh installs qemu-user)")
        print("0 passed, 1 failed")
        return 1
    models = os.path.join(SHARED, "models")
    golden = open(os.path.join(SHARED, "golden", "stories260K.once.t0.n200.txt"), "rb").read()
    ids = " ".join(str(i) for i in range(1, 41))
    native = os.path.join(TMP, "native.f32")
    r = run(None, ["logits", "-m", os.path.join(models, "synth256.q4_k_m.gguf"), "--tokens", ids,
                   "-o", native, "--gemm", "onednn-f32", "-t", "2"])
    check(r.returncode == 0, "native logits")
    # Regrouped weights (read mode): the AVX-512 integer kernels here (not the AMX bf16 ones
    # a prompt takes on CPUs that have AMX), the AVX2 ones under QEMU.
    native_grouped = os.path.join(TMP, "native-grouped.f32")
    r = run(None, ["logits", "-m", os.path.join(models, "synth256.q4_k_m.gguf"), "--tokens", ids,
                   "-o", native_grouped, "--gemm", "kernels", "--load", "read", "-t", "2"],
            env={"CRIA_ISA": "avx512"})
    check(r.returncode == 0, "native logits, regrouped")
    for cpu in ("Haswell", "Nehalem"):
        r = run(cpu, ["run", "-m", os.path.join(models, "stories260K.gguf"), "-p", "Once upon a time",
                      "-n", "196", "--temp", "0", "-t", "2"])
        check(r.returncode == 0 and r.stdout == golden,
              "%s: greedy story equals llama2.c's (exit %d)" % (cpu, r.returncode))
        out = os.path.join(TMP, cpu + ".f32")
        # 40 positions: the prompt path through oneDNN's f32 GEMM (what auto picks for the
        # file's layout where bf16 is missing and no integer kernel reads that layout), on the
        # file's layout (map-shared: map mode would copy and regroup the weights).
        r = run(cpu, ["logits", "-m", os.path.join(models, "synth256.q4_k_m.gguf"), "--tokens", ids,
                      "-o", out, "-t", "2", "--load", "map-shared", "--gemm", "onednn-f32"])
        ok = r.returncode == 0
        if ok:
            a, b = np.fromfile(out, dtype="<f4"), np.fromfile(native, dtype="<f4")
            err = float(np.abs(a - b).max() / np.abs(b).max())
            ok = a.shape == b.shape and err < 1e-4
        check(ok, "%s: Q4_K_M prompt logits equal the native f32 GEMM's (exit %d)" % (cpu, r.returncode))
        if cpu == "Haswell":
            out = os.path.join(TMP, cpu + "-grouped.f32")
            r = run(cpu, ["logits", "-m", os.path.join(models, "synth256.q4_k_m.gguf"), "--tokens", ids,
                          "-o", out, "-t", "2", "--gemm", "kernels", "--load", "read"])
            ok = r.returncode == 0
            if ok:
                a, b = np.fromfile(out, dtype="<f4"), np.fromfile(native_grouped, dtype="<f4")
                err = float(np.abs(a - b).max() / np.abs(b).max())
                ok = a.shape == b.shape and err < 1e-4
            check(ok, "%s: regrouped Q4_K_M logits (AVX2 kernels) equal the native AVX-512 ones "
                      "(exit %d)" % (cpu, r.returncode))
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
