"""Files larger than the memory available: the default read mode would need a private copy
that does not fit, so cria uses the file mapping instead. A bogus huge file then ends in a
quick clean error (not an out-of-memory kill), and a valid model padded past the memory size
(sparse, so no disk is used) still loads and generates llama2.c's story."""
import os
import shutil
import subprocess
import sys
import time

CLI = os.environ["CRIA_CLI"]
SHARED = os.environ["CRIA_SHARED_DIR"]
TMP = os.environ["CRIA_TEST_TMP"]


def available_memory():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def main():
    available = available_memory()
    if available is None:
        print("FAIL: /proc/meminfo has no MemAvailable")
        return 1
    size = available + (1 << 30)
    failures = 0

    bogus = os.path.join(TMP, "larger-than-memory.gguf")
    with open(bogus, "wb") as f:
        f.truncate(size)  # sparse: all zeros, no disk blocks
    start = time.time()
    r = subprocess.run([CLI, "run", "-m", bogus, "-p", "hi", "-n", "2"], capture_output=True, timeout=120)
    took = time.time() - start
    os.remove(bogus)
    ok = r.returncode != 0 and b"unknown model format" in r.stderr and took < 30
    print("%s zero-filled %.1f GB file: clean error in %.2f s: %s" % (
        "ok  " if ok else "FAIL", size / 1e9, took, r.stderr.decode(errors="replace").strip()))
    failures += not ok

    padded = os.path.join(TMP, "larger-than-memory-model.gguf")
    shutil.copyfile(os.path.join(SHARED, "models", "stories260K.gguf"), padded)
    with open(padded, "r+b") as f:
        f.truncate(size)
    golden = open(os.path.join(SHARED, "golden", "stories260K.once.t0.n200.txt"), "rb").read()
    r = subprocess.run([CLI, "run", "-m", padded, "-p", "Once upon a time", "-n", "196", "--temp", "0"],
                       capture_output=True, timeout=300)
    os.remove(padded)
    ok = r.returncode == 0 and r.stdout == golden
    print("%s a model padded to %.1f GB loads (mapped) and generates llama2.c's story (exit %d)" % (
        "ok  " if ok else "FAIL", size / 1e9, r.returncode))
    failures += not ok
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
