"""Builds the cria package with cria's shared library inside it, so that `import cria` needs
neither PYTHONPATH nor CRIA_LIBRARY:

    ./scripts/build.sh && pip install ./bindings/python      # takes build/capi/libcria.so.1
    CRIA_LIBRARY=/opt/cria/lib/libcria.so.1 pip install ./bindings/python

The library copied into the package is $CRIA_LIBRARY when set, else build/capi/libcria.so.1 of
the checkout this directory belongs to. The package's version is that library's cria_version(),
and its ABI must be the one the bindings mirror. The wheel is tagged for this platform (it holds
a native library, linked against this system's oneDNN, OpenBLAS and C++ runtime) but for any
Python 3, since it uses ctypes only. Build files go to a temporary directory, not into the
checkout.
"""
import atexit
import ctypes
import os
import re
import shutil
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def bundled_library() -> str:
    given = os.environ.get("CRIA_LIBRARY")
    path = given or os.path.join(HERE, "..", "..", "build", "capi", "libcria.so.1")
    if not os.path.isfile(path):
        raise SystemExit(
            "cria: no C library to put in the package at %s. Build cria first (./scripts/build.sh), "
            "or set CRIA_LIBRARY to a built or installed libcria.so.1 "
            "(e.g. CRIA_LIBRARY=/opt/cria/lib/libcria.so.1 pip install ./bindings/python)." % path)
    return os.path.realpath(path)


def library_version(path: str) -> str:
    """cria_version() of the library, after checking that its ABI is the bindings' one."""
    with open(os.path.join(HERE, "cria", "__init__.py"), encoding="utf-8") as f:
        abi = int(re.search(r"^ABI_VERSION = (\d+)", f.read(), re.M).group(1))
    lib = ctypes.CDLL(path)
    lib.cria_version.restype = ctypes.c_char_p
    lib.cria_abi_version.restype = ctypes.c_uint32
    if lib.cria_abi_version() != abi:
        raise SystemExit("cria: %s implements C ABI %d but these bindings mirror ABI %d"
                         % (path, lib.cria_abi_version(), abi))
    return lib.cria_version().decode()


LIBRARY = bundled_library()
VERSION = library_version(LIBRARY)


class BuildWithLibrary(build_py):
    """build_py, plus the shared library and _version.py in the built package."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "cria")
        shutil.copyfile(LIBRARY, os.path.join(target, "libcria.so.1"))
        with open(os.path.join(target, "_version.py"), "w", encoding="utf-8") as f:
            f.write('"""Written by setup.py: the version of the library in this package."""\n'
                    "__version__ = %r\n" % VERSION)


commands = {"build_py": BuildWithLibrary}
try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        """A wheel for this platform (native library inside) and any Python 3 (no extension)."""

        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            return ("py3", "none", super().get_tag()[2])

    commands["bdist_wheel"] = PlatformWheel
except ImportError:  # without the wheel package, setuptools' own defaults
    pass

# Build and metadata files in a temporary directory, removed at exit.
scratch = tempfile.mkdtemp(prefix="cria-python-build-")
atexit.register(shutil.rmtree, scratch, True)

setup(
    version=VERSION,
    cmdclass=commands,
    options={"build": {"build_base": os.path.join(scratch, "build")},
             "egg_info": {"egg_base": scratch}},
)
