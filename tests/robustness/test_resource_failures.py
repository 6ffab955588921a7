"""Resource failures: a model file truncated or deleted while in use, an mmap failure, memory
exhausted under an address-space limit (`ulimit -v`) (also for map mode's private copies,
which are then skipped), and a full disk under `cria quantize`
and saved session state. Each gives a status and a message naming the problem, never a crash
or a hang, and leaves no partial file behind as if it were complete.

The full disk is a 256 KiB tmpfs mounted in a private mount namespace (`unshare -r -m`); where
namespaces are not allowed, a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) stands in for
it, and the test says so.

Environment: CRIA_CLI, CRIA_LIBRARY, CRIA_SHARED_DIR, CRIA_TEST_TMP; PYTHONPATH with the
Python binding (bindings/python).
"""
import os
import resource
import shutil
import signal
import subprocess
import sys

CLI = os.environ["CRIA_CLI"]
SHARED = os.environ["CRIA_SHARED_DIR"]
STORIES = os.path.join(SHARED, "models", "stories260K.gguf")
TMP = os.path.join(os.environ["CRIA_TEST_TMP"], "resources")
HERE = os.path.abspath(__file__)

failures = 0


def check(ok, what, detail=""):
    global failures
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, (": " + detail) if detail else ""))
    if not ok:
        failures += 1


def run(args, limit_as=None, limit_fsize=None, timeout=120):
    """Runs a command with optional address-space / file-size limits; (exit code, stderr)."""
    def limits():
        if limit_as:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
        if limit_fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           preexec_fn=limits)
    except subprocess.TimeoutExpired:
        return "hang", ""
    return r.returncode, r.stderr.decode("utf-8", "replace").strip()


def python(code, **kw):
    return run([sys.executable, "-c", code], **kw)


# ------------------------------------------------------------------------------------------

def truncated_while_mapped():
    """map-shared reads the mapping on every pass: truncating the file in place must give an
    IO error before the next pass instead of SIGBUS; deleting it changes nothing; a model
    loaded in read mode keeps generating the same text from its private copy."""
    code = r'''
import os, shutil, sys, cria
src, path, mode, action = sys.argv[1:5]
shutil.copyfile(src, path)
m = cria.Model(path, load_mode=mode)
s = m.session(seed=1)
before = s.generate("Once upon a time", max_tokens=12, temperature=0).text
if action == "truncate":
    os.truncate(path, os.path.getsize(path) // 2)
else:
    os.remove(path)
s.reset()
try:
    after = s.generate("Once upon a time", max_tokens=12, temperature=0).text
    print("same" if after == before else "different")
except cria.CriaError as e:
    print(type(e).__name__, e)
    s.reset()  # the session stays usable: a new prompt is refused the same way, no crash
    try:
        s.generate("Once", max_tokens=1)
    except cria.CriaError as e2:
        print("again", type(e2).__name__)
'''
    for mode, action, want in (("map-shared", "truncate", "IoError"), ("map-shared", "delete", "same"),
                               ("read", "truncate", "same"), ("map", "delete", "same")):
        path = os.path.join(TMP, "in_use_%s.gguf" % mode)
        r = subprocess.run([sys.executable, "-c", code, STORIES, path, mode, action],
                           capture_output=True, text=True, timeout=120)
        rc, err, out = r.returncode, r.stderr, r.stdout.strip()
        ok = rc == 0 and out.startswith(want) and (want != "IoError" or
                                                      ("truncated while mapped" in out and "again IoError" in out))
        check(ok, "%s load mode, the file %s while in use: %s" % (mode, {"truncate": "truncated", "delete": "deleted"}[action], want),
              out.replace("\n", " | ") if ok else "exit %s %s %s" % (rc, err[-300:], out))
        if os.path.exists(path):
            os.remove(path)


def memory_limits():
    """Under an address-space limit: reading the file, mapping it, and the KV cache each fail
    with a status naming what could not be had; the process exits normally (no hang in exit)."""
    model = os.path.join(TMP, "110m-q8_0.gguf")
    if not os.path.exists(model):
        rc, err = run([CLI, "synth", "--shape", "110m", "--type", "Q8_0", "-o", model])
        check(rc == 0, "cria synth of a 110M-shaped model", err)
    size = os.path.getsize(model)
    # The CLI's own footprint (its libraries and threads), measured: the limit leaves less than
    # the model needs on top of it.
    base = 0
    for limit_mb in range(32, 2048, 16):
        rc, err = run([CLI, "run", "-m", STORIES, "-p", "a", "-n", "1", "-t", "1"], limit_as=limit_mb << 20)
        if rc == 0:
            base = limit_mb << 20
            break
    check(base > 0, "the CLI runs stories260K within some address-space limit", "%d MiB" % (base >> 20))
    if not base:
        return
    cases = [
        ("read mode, the copy", ["--load", "read"], base + size // 2, r"cannot allocate \d+ MiB to read the file into"),
        ("map mode, the mapping", ["--load", "map-shared"], base + size // 2, r"cannot map: Cannot allocate memory"),
        ("the KV cache", ["--load", "map-shared", "-c", "32768"], base + size + (64 << 20), r"cannot allocate the (key|value) cache \(\d+ MiB\)"),
    ]
    import re
    for what, extra, limit, pattern in cases:
        rc, err = run([CLI, "run", "-m", model, "-p", "a", "-n", "1", "-t", "1"] + extra, limit_as=limit)
        check(rc == 1 and re.search(pattern, err) is not None, "ulimit -v %d MiB, %s" % (limit >> 20, what), err[-200:])
    map_copies_short_of_memory(model, base)
    # Through the C API: the status is CRIA_ERROR_OUT_OF_MEMORY / CRIA_ERROR_IO.
    code = r'''
import sys, cria
try:
    cria.Model(sys.argv[1], load_mode=sys.argv[2])
    print("loaded")
except cria.CriaError as e:
    print(type(e).__name__, e)
'''
    py_base = 0
    for limit_mb in range(64, 2048, 16):
        rc, _ = python("import sys, cria; cria.Model(sys.argv[1])".replace("sys.argv[1]", repr(STORIES)),
                       limit_as=limit_mb << 20)
        if rc == 0:
            py_base = limit_mb << 20
            break
    check(py_base > 0, "Python with the binding loads stories260K within some address-space limit",
          "%d MiB" % (py_base >> 20))
    for mode, want in (("read", "OutOfMemory"), ("map-shared", "IoError")):
        r = subprocess.run([sys.executable, "-c", code, model, mode], capture_output=True, text=True,
                           timeout=120, preexec_fn=lambda: resource.setrlimit(
                               resource.RLIMIT_AS, (py_base + size // 2,) * 2))
        out = r.stdout.strip()
        check(r.returncode == 0 and out.startswith(want), "C API under ulimit -v %d MiB, %s load: %s" % (
              (py_base + size // 2) >> 20, mode, want), out[-200:] or r.stderr[-300:])


def map_copies_short_of_memory(q8_model, base):
    """map mode under an address-space limit that holds the mapping and only about half of the
    private copies: the copies that cannot be had are not made, those matrices are read in the
    mapping, and the text is the one written without the limit. Q8_0 (copied whole at first
    use) and Q6_K (copied a part per pass after the first); under CRIA_ISA=avx2 the kernels
    read both in the file's layout with the copies' bits."""
    q6_model = os.path.join(TMP, "110m-q6_k.gguf")
    if not os.path.exists(q6_model):
        rc, err = run([CLI, "synth", "--shape", "110m", "--type", "Q6_K", "-o", q6_model])
        check(rc == 0, "cria synth of a 110M-shaped Q6_K model", err)
    env = dict(os.environ, CRIA_ISA="avx2")
    for model in (q8_model, q6_model):
        size = os.path.getsize(model)
        limit = base + size + size // 2  # the mapping and half of the copies, by arithmetic
        args = [CLI, "run", "-m", model, "-p", "Once upon a time", "-n", "12", "--temp", "0", "-c", "64",
                "-t", "1", "--load", "map"]
        texts = []
        for limit_as in (None, limit):
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, env=env,
                               preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as)))
                               if limit_as else None)
            texts.append((r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")[-200:]))
        (rc_free, text_free, _), (rc, text, err) = texts
        check(rc_free == 0 and rc == 0 and text == text_free and len(text) > len("Once upon a time"),
              "map mode, %s, ulimit -v %d MiB (mapping %d MiB, copies do not all fit): the same text" % (
                  os.path.basename(model), limit >> 20, size >> 20),
              "" if rc == 0 and text == text_free else "exit %s %s" % (rc, err))


def full_disk_cases(folder, how):
    """cria quantize and a saved session into a full file system: IO status, the message, no
    file left at the destination, an earlier file there left as it was."""
    out = os.path.join(folder, "out.gguf")
    rc, err = run([CLI, "quantize", STORIES, out, "Q8_0"], limit_fsize=how)
    check(rc == 1 and ("No space left on device" in err or "File too large" in err),
          "quantize into a full disk: an error", err[-200:])
    left = sorted(os.listdir(folder))
    check(left == [], "quantize into a full disk: nothing left behind", str(left))
    # An older file at the destination stays as it was.
    with open(out, "wb") as f:
        f.write(b"older file")
    rc, err = run([CLI, "quantize", STORIES, out, "Q8_0"], limit_fsize=how)
    with open(out, "rb") as f:
        kept = f.read()
    check(rc == 1 and kept == b"older file" and sorted(os.listdir(folder)) == ["out.gguf"],
          "quantize over an existing file into a full disk: the old file kept", err[-200:])
    os.remove(out)
    code = r'''
import sys, cria
m = cria.Model(sys.argv[1])
s = m.session(context_length=256)
s.generate("Once upon a time", max_tokens=200, temperature=0)
before = s.n_past
try:
    s.save(sys.argv[2])
    print("saved")
except cria.CriaError as e:
    print(type(e).__name__, e)
print("session unchanged" if s.n_past == before else "session changed")
'''
    # The session's state is smaller than the file system: a filler takes what is left first.
    filler = os.path.join(folder, "filler")
    if how is None:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 1024)
        except OSError:
            pass
        os.close(fd)
    else:
        open(filler, "wb").close()
    state = os.path.join(folder, "chat.state")
    r = subprocess.run([sys.executable, "-c", code, STORIES, state], capture_output=True, text=True,
                       timeout=120, preexec_fn=(lambda: (signal.signal(signal.SIGXFSZ, signal.SIG_IGN),
                                                         resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))))
                       if how is not None else None)
    out = r.stdout.strip()
    check(r.returncode == 0 and out.startswith("IoError") and ("No space left" in out or "File too large" in out)
          and "session unchanged" in out and os.listdir(folder) == ["filler"],
          "saved session state into a full disk: IoError, no file", out.replace("\n", " | ")[-300:] or r.stderr[-300:])
    os.remove(filler)


def full_disk():
    if os.environ.get("CRIA_FULL_DISK_INSIDE"):  # the re-run inside the mount namespace
        folder = os.environ["CRIA_FULL_DISK_INSIDE"]
        full_disk_cases(folder, None)
        return
    folder = os.path.join(TMP, "full")
    os.makedirs(folder, exist_ok=True)
    script = ("mount -t tmpfs -o size=256k cria-full %s && CRIA_FULL_DISK_INSIDE=%s %s %s --full-disk" %
              (folder, folder, sys.executable, HERE))
    probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c", "mount -t tmpfs -o size=4k t %s && umount %s" % (folder, folder)],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        print("full disk: a 256 KiB tmpfs in a private mount namespace")
        r = subprocess.run(["unshare", "-r", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=600)
        sys.stdout.write(r.stdout)
        lines = r.stdout.splitlines()
        passed = sum(line.startswith("ok") for line in lines)
        check(r.returncode == 0 and passed == 4 and not any(line.startswith("FAIL") for line in lines),
              "full-disk cases: %d of 4 passed" % passed, r.stderr[-300:])
    else:
        print("full disk: mount namespaces are not allowed here (%s); a 256 KiB file-size limit "
              "(RLIMIT_FSIZE) stands in for the full disk" % probe.stderr.strip()[-120:])
        full_disk_cases(folder, 256 << 10)
    shutil.rmtree(folder, ignore_errors=True)


def main():
    os.makedirs(TMP, exist_ok=True)
    if "--full-disk" in sys.argv:
        full_disk()
        return 1 if failures else 0
    truncated_while_mapped()
    memory_limits()
    full_disk()
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
