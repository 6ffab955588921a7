"""Python bindings for cria (Llama 2 inference) over its C ABI, with ctypes only.

    import cria
    with cria.Model("stories260K.gguf") as model:
        session = model.session(temperature=0)
        for chunk in session.stream("Once upon a time", max_tokens=50):
            print(chunk, end="", flush=True)

Several sessions of one model generate together with cria.generate_batch (one pass over the
weights per step for all of them), or step by step with a cria.Batch.

Install with `pip install ./bindings/python` (the package then carries libcria.so.1; see
setup.py). The shared library is found, in this order, at $CRIA_LIBRARY (an override), next to
this package (cria/libcria.so*), or by the system's loader (libcria.so.1). The package's
__version__ is the version of the library it was built with, which version() reports.

Session.logits() returns an array.array('f'): numpy.frombuffer(logits, dtype=numpy.float32)
or memoryview(logits) use it without a copy.

A Model may be shared by threads; a Session is used by one thread at a time. Errors raise
CriaError (or a subclass named after the status: ContextFull, Cancelled, ...).
"""
from __future__ import annotations

import array
import ctypes
import ctypes.util
import glob
import os
import queue
import threading
from ctypes import (POINTER, Structure, byref, c_bool, c_char, c_char_p, c_float, c_int32,
                    c_size_t, c_uint32, c_uint64, c_void_p)
from dataclasses import dataclass
from typing import (Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar,
                    Union)

__all__ = [
    "ABI_VERSION", "Model", "Session", "Batch", "generate_batch", "ModelInfo", "GenerateResult",
    "CriaError",
    "InvalidArgument", "StructSize", "BufferTooSmall", "InvalidFile", "Unsupported", "IoError",
    "OutOfMemory", "ContextFull", "Cancelled", "InvalidState", "InternalError", "version",
    "__version__",
]

ABI_VERSION = 1  # CRIA_ABI_VERSION of the cria.h these bindings mirror

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

try:  # written into the package by setup.py
    from ._version import __version__
except ImportError:  # used from a source checkout (PYTHONPATH): the loaded library's version
    def __getattr__(name: str) -> Any:
        if name == "__version__":
            return version()
        raise AttributeError("module 'cria' has no attribute %r" % name)

# ---- errors ---------------------------------------------------------------------------------


class CriaError(Exception):
    """A cria call failed. `status` is the cria_status number, `status_name` its name."""

    def __init__(self, status: int, status_name: str, message: str) -> None:
        super().__init__(f"{message} [{status_name}]")
        self.status = status
        self.status_name = status_name
        self.message = message


class InvalidArgument(CriaError):
    """An argument is out of range or inconsistent (CRIA_ERROR_INVALID_ARGUMENT)."""


class StructSize(CriaError):
    """A parameter struct is of an unknown size (CRIA_ERROR_STRUCT_SIZE)."""


class BufferTooSmall(CriaError):
    """An output buffer is too small (CRIA_ERROR_BUFFER_TOO_SMALL); the bindings grow theirs."""


class InvalidFile(CriaError):
    """A model, tokenizer or saved state is damaged or not of a known format."""


class Unsupported(CriaError):
    """The file or request needs something this build of cria does not have."""


class IoError(CriaError):
    """A file could not be opened, read or written."""


class OutOfMemory(CriaError):
    """Host or device memory ran out."""


class ContextFull(CriaError):
    """The session's context has no room for the tokens."""


class Cancelled(CriaError):
    """A callback asked to stop (returned False)."""


class InvalidState(CriaError):
    """The call does not fit the object's state (a closed object, logits before any eval)."""


class InternalError(CriaError):
    """A bug in cria; please report it with the message."""


_ERRORS = {1: InvalidArgument, 2: StructSize, 3: BufferTooSmall, 4: InvalidFile, 5: Unsupported,
           6: IoError, 7: OutOfMemory, 8: ContextFull, 9: Cancelled, 10: InvalidState,
           11: InternalError}
_BUFFER_TOO_SMALL = 3
_CANCELLED = 9

# ---- C declarations (mirroring cria.h) --------------------------------------------------------

_progress_fn = ctypes.CFUNCTYPE(c_bool, c_float, c_void_p)
_text_fn = ctypes.CFUNCTYPE(c_bool, POINTER(c_char), c_size_t, c_void_p)
_sequence_text_fn = ctypes.CFUNCTYPE(c_bool, c_size_t, POINTER(c_char), c_size_t, c_void_p)


class _ModelParams(Structure):
    _fields_ = [("struct_size", c_uint32), ("tokenizer_path", c_char_p),
                ("progress", _progress_fn), ("progress_user_data", c_void_p),
                ("load_mode", c_int32), ("backend", c_char_p), ("device", c_int32),
                ("gpu_layers", c_int32)]


class _ModelInfo(Structure):
    _fields_ = [("struct_size", c_uint32), ("format", c_int32), ("dim", c_int32),
                ("hidden_dim", c_int32), ("n_layers", c_int32), ("n_heads", c_int32),
                ("n_kv_heads", c_int32), ("vocab_size", c_int32), ("context_length", c_int32),
                ("rms_norm_eps", c_float), ("rope_theta", c_float), ("has_vocabulary", c_bool)]


class _ChatMessage(Structure):
    _fields_ = [("role", c_int32), ("content", c_char_p)]


class _LogitBias(Structure):
    _fields_ = [("token", c_int32), ("bias", c_float)]


# The sampler stages after the seed, as cria.h declares them (both structs end with them).
_SAMPLER_STAGE_FIELDS = [("repeat_last_n", c_int32), ("repeat_penalty", c_float),
                         ("frequency_penalty", c_float), ("presence_penalty", c_float),
                         ("min_p", c_float), ("typical_p", c_float),
                         ("logit_bias", POINTER(_LogitBias)), ("n_logit_bias", c_size_t),
                         ("mirostat", c_int32), ("mirostat_tau", c_float), ("mirostat_eta", c_float),
                         ("grammar", c_char_p)]


class _SamplingParams(Structure):
    _fields_ = [("struct_size", c_uint32), ("temperature", c_float), ("top_k", c_int32),
                ("top_p", c_float), ("seed", c_uint64)] + _SAMPLER_STAGE_FIELDS


class _SessionParams(Structure):
    _fields_ = [("struct_size", c_uint32), ("context_length", c_int32), ("n_threads", c_int32),
                ("max_batch", c_int32), ("sampling", POINTER(_SamplingParams)),
                ("context_policy", c_int32), ("shift_keep", c_int32)]


class _EmbedParams(Structure):
    _fields_ = [("struct_size", c_uint32), ("pooling", c_int32), ("normalize", c_bool),
                ("n_threads", c_int32), ("max_batch", c_int32)]


_POOLINGS = {"mean": 0, "last": 1}
_CONTEXT_POLICIES = {"stop": 0, "shift": 1}


class _GenerateParams(Structure):
    _fields_ = [("struct_size", c_uint32), ("temperature", c_float), ("top_k", c_int32),
                ("top_p", c_float), ("seed", c_uint64), ("max_tokens", c_int32),
                ("stop_strings", POINTER(c_char_p)), ("n_stop_strings", c_size_t),
                ("prompt_progress", _progress_fn), ("prompt_progress_user_data", c_void_p)] + _SAMPLER_STAGE_FIELDS


class _GenerateResult(Structure):
    _fields_ = [("struct_size", c_uint32), ("stop_reason", c_int32), ("n_prompt_tokens", c_int32),
                ("n_tokens", c_int32), ("prompt_seconds", ctypes.c_double),
                ("generate_seconds", ctypes.c_double)]


_STOP_REASONS = {0: "end_of_sequence", 1: "max_tokens", 2: "context_full", 3: "stop_string",
                 4: "cancelled"}
_ROLES = {"system": 0, "user": 1, "assistant": 2}


def _find_library() -> str:
    """$CRIA_LIBRARY, else the library inside the package, else the system's."""
    env = os.environ.get("CRIA_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    local = sorted(glob.glob(os.path.join(here, "libcria.so*")))
    if local:
        return local[0]
    found = ctypes.util.find_library("cria")
    if found:
        return found
    return "libcria.so.%d" % ABI_VERSION


def _declare(lib: ctypes.CDLL) -> None:
    S = c_int32  # cria_status
    P = c_void_p
    sigs = {
        "cria_version": (c_char_p, []),
        "cria_abi_version": (c_uint32, []),
        "cria_abi_check": (c_bool, [c_uint32]),
        "cria_status_name": (c_char_p, [c_int32]),
        "cria_last_error": (c_char_p, []),
        "cria_model_params_init": (None, [POINTER(_ModelParams)]),
        "cria_model_load": (S, [c_char_p, POINTER(_ModelParams), POINTER(P)]),
        "cria_model_free": (None, [P]),
        "cria_model_info_init": (None, [POINTER(_ModelInfo)]),
        "cria_model_get_info": (S, [P, POINTER(_ModelInfo)]),
        "cria_model_vocab_size": (S, [P, POINTER(c_int32)]),
        "cria_model_bos": (S, [P, POINTER(c_int32)]),
        "cria_model_eos": (S, [P, POINTER(c_int32)]),
        "cria_model_token_piece": (S, [P, c_int32, c_char_p, c_size_t, POINTER(c_size_t)]),
        "cria_tokenize": (S, [P, c_char_p, c_size_t, c_uint32, POINTER(c_int32), c_size_t,
                              POINTER(c_size_t)]),
        "cria_detokenize": (S, [P, POINTER(c_int32), c_size_t, c_char_p, c_size_t,
                                POINTER(c_size_t)]),
        "cria_chat_apply_template": (S, [P, POINTER(_ChatMessage), c_size_t, POINTER(c_int32),
                                         c_size_t, POINTER(c_size_t)]),
        "cria_sampling_params_init": (None, [POINTER(_SamplingParams)]),
        "cria_session_params_init": (None, [POINTER(_SessionParams)]),
        "cria_session_create": (S, [P, POINTER(_SessionParams), POINTER(P)]),
        "cria_session_free": (None, [P]),
        "cria_session_reset": (S, [P]),
        "cria_session_set_sampling": (S, [P, POINTER(_SamplingParams)]),
        "cria_session_n_past": (S, [P, POINTER(c_int32)]),
        "cria_session_context_length": (S, [P, POINTER(c_int32)]),
        "cria_session_eval": (S, [P, POINTER(c_int32), c_size_t, c_size_t, POINTER(c_size_t)]),
        "cria_session_logits": (S, [P, POINTER(c_float), c_size_t, POINTER(c_size_t)]),
        "cria_session_sample": (S, [P, POINTER(c_int32)]),
        "cria_session_sample_logits": (S, [P, POINTER(c_float), c_size_t, POINTER(c_int32)]),
        "cria_session_accept": (S, [P, c_int32, c_char_p, c_size_t, POINTER(c_size_t)]),
        "cria_session_flush_text": (S, [P, c_char_p, c_size_t, POINTER(c_size_t)]),
        "cria_generate_params_init": (None, [POINTER(_GenerateParams)]),
        "cria_generate_result_init": (None, [POINTER(_GenerateResult)]),
        "cria_generate_tokens": (S, [P, POINTER(c_int32), c_size_t, POINTER(_GenerateParams),
                                     _text_fn, P, POINTER(_GenerateResult)]),
        "cria_generate_batch": (S, [POINTER(P), POINTER(c_char_p), c_size_t, POINTER(_GenerateParams),
                                    _sequence_text_fn, P, POINTER(_GenerateResult)]),
        "cria_batch_create": (S, [POINTER(P)]),
        "cria_batch_free": (None, [P]),
        "cria_batch_add": (S, [P, P, POINTER(c_int32), c_size_t]),
        "cria_batch_accept": (S, [P, P, c_int32, c_char_p, c_size_t, POINTER(c_size_t)]),
        "cria_batch_eval": (S, [P]),
        "cria_session_tokens": (S, [P, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
        "cria_session_n_evaluated": (S, [P, POINTER(ctypes.c_int64)]),
        "cria_session_truncate": (S, [P, c_int32]),
        "cria_session_shift": (S, [P, c_int32, c_int32]),
        "cria_session_state_save": (S, [P, c_void_p, c_size_t, POINTER(c_size_t)]),
        "cria_session_state_load": (S, [P, c_void_p, c_size_t]),
        "cria_session_state_save_file": (S, [P, c_char_p]),
        "cria_session_state_load_file": (S, [P, c_char_p]),
        "cria_json_schema_to_grammar": (S, [c_char_p, c_char_p, c_size_t, POINTER(c_size_t)]),
        "cria_embed_params_init": (None, [POINTER(_EmbedParams)]),
        "cria_model_embedding_size": (S, [P, POINTER(c_int32)]),
        "cria_embed": (S, [P, POINTER(c_char_p), c_size_t, POINTER(_EmbedParams), POINTER(c_float),
                           c_size_t, POINTER(c_size_t)]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args


_lib: Optional[ctypes.CDLL] = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(_find_library())
        _declare(lib)
        if not lib.cria_abi_check(ABI_VERSION):
            raise ImportError(lib.cria_last_error().decode("utf-8", "replace"))
        _lib = lib
    return _lib


def _sized_bytes(call: Callable[..., int]) -> bytes:
    """What call(buf, capacity, need_ptr) writes, with a buffer that grows until it fits (a
    call refused with BUFFER_TOO_SMALL changes nothing)."""
    need = c_size_t()
    cap = 64
    while True:
        buf = ctypes.create_string_buffer(cap)
        status = call(buf, cap, byref(need))
        if status == _BUFFER_TOO_SMALL and need.value + 1 > cap:
            cap = need.value + 1
            continue
        _check(status)
        return buf.raw[:need.value]


def _token_text(call: Callable[..., int]) -> str:
    return _text(_sized_bytes(call))


def _check(status: int) -> None:
    if status != 0:
        lib = _library()
        name = lib.cria_status_name(status).decode()
        message = lib.cria_last_error().decode("utf-8", "replace")
        raise _ERRORS.get(status, CriaError)(status, name, message)


def json_schema_to_grammar(schema: Union[str, dict]) -> str:
    """(Unstable.) The GBNF grammar of the JSON texts a JSON Schema accepts, for the grammar=
    sampling option. `schema` is JSON text or a dict. Raises InvalidArgument with the line and
    column of a malformed schema, or the keyword that is not supported."""
    import json
    text = schema if isinstance(schema, str) else json.dumps(schema)
    lib = _library()
    return _text(_sized_bytes(lambda buf, cap, need: lib.cria_json_schema_to_grammar(
        text.encode("utf-8"), buf, cap, need)))


def version() -> str:
    """The loaded library's version, e.g. "0.2.0" (cria_version())."""
    return _library().cria_version().decode()


def _path(p: PathLike) -> bytes:
    p = os.fspath(p)
    return p if isinstance(p, bytes) else p.encode("utf-8", "surrogateescape")


def _int_array(values: Sequence[int]) -> ctypes.Array:
    return (c_int32 * len(values))(*values)


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _float_array(values: Sequence[float]) -> ctypes.Array:
    """A ctypes float array of values: over the same memory when values is a writable,
    contiguous float32 buffer (array('f'), a numpy float32 vector), else a copy."""
    try:
        view: Optional[memoryview] = memoryview(values)  # type: ignore[arg-type]
    except TypeError:
        view = None
    if view is not None and view.format == "f" and view.ndim == 1 and view.c_contiguous:
        if view.readonly:
            return (c_float * len(view)).from_buffer_copy(view)
        return (c_float * len(view)).from_buffer(view)
    return (c_float * len(values))(*values)


# ---- models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """A model's hyper-parameters (Model.info); format is "gguf" or "llama2c"."""

    format: str
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    context_length: int
    rms_norm_eps: float
    rope_theta: float
    has_vocabulary: bool


_Self = TypeVar("_Self", bound="_Handle")


class _Handle:
    """An object of the C library: closed by close(), by leaving a with block, or when
    collected. Subclasses name their _free function and what they are (for messages)."""

    _free = ""
    _what = ""
    _handle: Optional[c_void_p] = None
    _lib: ctypes.CDLL

    def close(self) -> None:
        """Frees the C object now (later calls raise InvalidState); closing twice is harmless."""
        if self._handle:
            getattr(self._lib, self._free)(self._handle)
            self._handle = None

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 -- interpreter shutdown
            pass

    def _h(self) -> c_void_p:
        if not self._handle:
            raise InvalidState(10, "invalid_state", "the %s is closed" % self._what)
        return self._handle


class Model(_Handle):
    """A loaded model (GGUF or llama2.c), immutable and shareable across threads.

    progress: optional callable(fraction) -> bool; returning False (or raising) cancels the
    load with Cancelled (or the exception raised).
    load_mode: "read" (default: weights read into private memory and rearranged for the
    CPU's kernels), "map" (the file mapped, near-instant load; each weight matrix copied to
    private memory and rearranged during the first evaluations, then as fast as "read", with
    the same results throughout) or "map-shared" (unstable: weights used in place from the mapping,
    pages shared between processes, slower generation).
    backend: "auto" (default: the best one built that has a device), "cpu", "reference"
    (plain scalar f32, slow: the oracle), or a GPU backend where one is built; device: the
    index among the backend's devices; gpu_layers (unstable): with a GPU backend, how many
    layers from the first run on the device, the rest on the CPU (-1, default: all; 0: none).
    """

    def __init__(self, path: PathLike, tokenizer_path: Optional[PathLike] = None,
                 progress: Optional[Callable[[float], bool]] = None, load_mode: str = "read",
                 backend: str = "auto", device: int = 0, gpu_layers: int = -1) -> None:
        lib = _library()
        self._lib = lib
        self._handle = None
        params = _ModelParams()
        lib.cria_model_params_init(byref(params))
        modes = {"read": 0, "map": 1, "map-shared": 2}
        if load_mode not in modes:
            raise ValueError("load_mode is 'read', 'map' or 'map-shared', not %r" % (load_mode,))
        params.load_mode = modes[load_mode]
        params.backend = backend.encode("utf-8")
        params.device = device
        params.gpu_layers = gpu_layers
        if tokenizer_path is not None:
            params.tokenizer_path = _path(tokenizer_path)
        raised: List[BaseException] = []
        if progress is not None:
            def on_progress(fraction, _user):
                try:
                    return bool(progress(fraction))
                except BaseException as e:  # noqa: BLE001 -- re-raised below
                    raised.append(e)
                    return False
            params.progress = _progress_fn(on_progress)
        handle = c_void_p()
        status = lib.cria_model_load(_path(path), byref(params), byref(handle))
        if raised:
            raise raised[0]
        _check(status)
        self._handle = handle

    _free, _what = "cria_model_free", "model"

    def close(self) -> None:
        """Frees the model. Sessions created from it must not be used afterwards."""
        super().close()

    @property
    def info(self) -> ModelInfo:
        """The model's hyper-parameters."""
        i = _ModelInfo()
        self._lib.cria_model_info_init(byref(i))
        _check(self._lib.cria_model_get_info(self._h(), byref(i)))
        return ModelInfo("gguf" if i.format == 0 else "llama2c", i.dim, i.hidden_dim, i.n_layers,
                         i.n_heads, i.n_kv_heads, i.vocab_size, i.context_length,
                         i.rms_norm_eps, i.rope_theta, bool(i.has_vocabulary))

    def _int_query(self, fn: Callable[..., int]) -> int:
        v = c_int32()
        _check(fn(self._h(), byref(v)))
        return v.value

    @property
    def vocab_size(self) -> int:
        """The number of tokens in the vocabulary (the length of Session.logits())."""
        return self._int_query(self._lib.cria_model_vocab_size)

    @property
    def bos(self) -> int:
        """The beginning-of-sequence token id."""
        return self._int_query(self._lib.cria_model_bos)

    @property
    def eos(self) -> int:
        """The end-of-sequence token id."""
        return self._int_query(self._lib.cria_model_eos)

    def token_piece(self, token: int) -> str:
        """The vocabulary piece of a token id, in SentencePiece form ("▁" for spaces)."""
        return _text(_sized_bytes(
            lambda b, c, n: self._lib.cria_model_token_piece(self._h(), token, b, c, n)))

    def tokenize(self, text: str, add_bos: bool = True, add_eos: bool = False,
                 parse_special: bool = False) -> List[int]:
        """Token ids of text, with BOS first unless add_bos is False; parse_special reads
        "<s>" and "</s>" in the text as the special tokens."""
        data = text.encode("utf-8")
        flags = (1 if add_bos else 0) | (2 if add_eos else 0) | (4 if parse_special else 0)
        need = c_size_t()
        cap = len(data) + 4
        while True:
            out = (c_int32 * cap)()
            status = self._lib.cria_tokenize(self._h(), data, len(data), flags, out, cap,
                                             byref(need))
            if status == _BUFFER_TOO_SMALL and need.value > cap:
                cap = need.value
                continue
            _check(status)
            return list(out[:need.value])

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of token ids (invalid UTF-8 replaced)."""
        arr = _int_array(tokens)
        return _text(_sized_bytes(
            lambda b, c, n: self._lib.cria_detokenize(self._h(), arr, len(tokens), b, c, n)))

    def chat_template(self, messages: Iterable[Union[Tuple[str, str], dict]]) -> List[int]:
        """Token ids of a conversation in the Llama 2 chat format ([INST], <<SYS>>).

        messages: (role, content) pairs or {"role": ..., "content": ...} dicts; roles are
        "system" (optional, first), then "user" and "assistant" alternating, ending with "user".
        """
        items = []
        for m in messages:
            role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
            if role not in _ROLES:
                raise InvalidArgument(1, "invalid_argument", f"unknown role {role!r}")
            items.append((_ROLES[role], content.encode("utf-8")))
        arr = (_ChatMessage * len(items))(*[_ChatMessage(r, c) for r, c in items])
        need = c_size_t()
        status = self._lib.cria_chat_apply_template(self._h(), arr, len(items), None, 0,
                                                    byref(need))
        if status != _BUFFER_TOO_SMALL:
            _check(status)
        out = (c_int32 * max(need.value, 1))()
        _check(self._lib.cria_chat_apply_template(self._h(), arr, len(items), out, need.value,
                                                  byref(need)))
        return list(out[:need.value])

    def embed(self, texts: Sequence[str], pooling: str = "mean",
              normalize: bool = True) -> List[List[float]]:
        """(Unstable.) One embedding per text (tokenized with BOS): the final hidden state of
        the last token ("last") or the mean over the tokens ("mean"), L2-normalized unless
        normalize is False. The texts are evaluated together."""
        if pooling not in _POOLINGS:
            raise ValueError("pooling is 'mean' or 'last', not %r" % (pooling,))
        dim = self._int_query(self._lib.cria_model_embedding_size)
        params = _EmbedParams()
        self._lib.cria_embed_params_init(byref(params))
        params.pooling, params.normalize = _POOLINGS[pooling], normalize
        encoded = [t.encode("utf-8") for t in texts]
        arr = (c_char_p * max(len(encoded), 1))(*encoded)
        out = (c_float * max(len(encoded) * dim, 1))()
        n = c_size_t()
        _check(self._lib.cria_embed(self._h(), arr, len(encoded), byref(params), out,
                                    len(encoded) * dim, byref(n)))
        return [list(out[i * dim:(i + 1) * dim]) for i in range(len(encoded))]

    def session(self, **options: Any) -> "Session":
        """A new Session over this model (see Session for the options)."""
        return Session(self, **options)


# ---- sessions -------------------------------------------------------------------------------


@dataclass
class GenerateResult:
    """What Session.generate and generate_batch return: the whole text, why it stopped, the
    token counts and the seconds spent on the prompt and on generating."""

    text: str
    stop_reason: str  # end_of_sequence, max_tokens, context_full, stop_string, cancelled
    n_prompt_tokens: int
    n_tokens: int
    prompt_seconds: float
    generate_seconds: float


_STAGE_DEFAULTS = dict(repeat_penalty=1.0, repeat_last_n=64, frequency_penalty=0.0,
                       presence_penalty=0.0, min_p=0.0, typical_p=1.0, logit_bias=None,
                       mirostat=0, mirostat_tau=5.0, mirostat_eta=0.1, grammar=None)


def _set_stages(params: Any, stages: dict) -> ctypes.Array:
    """Copies the sampler stages (a dict like _STAGE_DEFAULTS) into a _SamplingParams or
    _GenerateParams; returns the logit-bias array, which must live as long as params."""
    for name in ("repeat_penalty", "repeat_last_n", "frequency_penalty", "presence_penalty",
                 "min_p", "typical_p", "mirostat", "mirostat_tau", "mirostat_eta"):
        setattr(params, name, stages[name])
    bias = sorted((stages["logit_bias"] or {}).items())
    array = (_LogitBias * max(len(bias), 1))(*[_LogitBias(int(t), float(b)) for t, b in bias])
    params.logit_bias = ctypes.cast(array, POINTER(_LogitBias))
    params.n_logit_bias = len(bias)
    grammar = stages["grammar"]
    params.grammar = grammar.encode("utf-8") if isinstance(grammar, str) else grammar
    return array


def _sampling(temperature: float, top_k: int, top_p: float, seed: int,
              stages: dict) -> Tuple[_SamplingParams, ctypes.Array]:
    s = _SamplingParams()
    _library().cria_sampling_params_init(byref(s))
    s.temperature, s.top_k, s.top_p, s.seed = temperature, top_k, top_p, seed
    return s, _set_stages(s, stages)


def _stages(given: dict) -> dict:
    unknown = set(given) - set(_STAGE_DEFAULTS)
    if unknown:
        raise TypeError("unknown sampling option(s): " + ", ".join(sorted(unknown)))
    return {**_STAGE_DEFAULTS, **given}


class Session(_Handle):
    """A sequence over a Model: KV cache, logits, sampler and text decoder.

    Options: context_length (0: the model's), n_threads (0: all cores), max_batch,
    context_policy ("stop": a full context raises ContextFull; "shift", unstable: keep the first
    shift_keep positions and drop the oldest half of the rest, re-evaluating nothing), and the
    sampling used by sample()/stream() and by default generate(): temperature (0: greedy),
    top_k, top_p, seed, and (unstable) repeat_penalty, repeat_last_n, frequency_penalty,
    presence_penalty, min_p, typical_p, logit_bias ({token id: bias}, -inf bans) and mirostat
    (2: Mirostat 2.0, with mirostat_tau and mirostat_eta), as llama.cpp defines them, and
    grammar (GBNF text; json_schema_to_grammar() makes one from a JSON Schema). Use a session
    from one thread at a time.
    """

    def __init__(self, model: Model, context_length: int = 0, n_threads: int = 0,
                 max_batch: int = 256, temperature: float = 0.8, top_k: int = 40,
                 top_p: float = 0.95, seed: int = 0, context_policy: str = "stop",
                 shift_keep: int = 0, **stages: Any) -> None:
        self._lib = model._lib
        self.model = model  # keeps the model alive
        self._handle = None
        self._sampling = (temperature, top_k, top_p, seed)
        self._stages = _stages(stages)
        samp, _bias = _sampling(*self._sampling, self._stages)
        params = _SessionParams()
        self._lib.cria_session_params_init(byref(params))
        params.context_length, params.n_threads, params.max_batch = context_length, n_threads, max_batch
        params.sampling = ctypes.pointer(samp)
        if context_policy not in _CONTEXT_POLICIES:
            raise ValueError("context_policy is 'stop' or 'shift', not %r" % (context_policy,))
        params.context_policy, params.shift_keep = _CONTEXT_POLICIES[context_policy], shift_keep
        handle = c_void_p()
        _check(self._lib.cria_session_create(model._h(), byref(params), byref(handle)))
        self._handle = handle
        self._vocab = model.vocab_size

    _free, _what = "cria_session_free", "session"

    def reset(self) -> None:
        """Empties the session (context, logits, sampler state) for a new text."""
        _check(self._lib.cria_session_reset(self._h()))

    def set_sampling(self, temperature: float = 0.8, top_k: int = 40, top_p: float = 0.95,
                     seed: int = 0, **stages: Any) -> None:
        """Replaces the sampling used by sample()/stream() and by default generate() (the
        options of Session)."""
        chosen = _stages(stages)
        s, _bias = _sampling(temperature, top_k, top_p, seed, chosen)
        _check(self._lib.cria_session_set_sampling(self._h(), byref(s)))
        self._sampling = (temperature, top_k, top_p, seed)
        self._stages = chosen

    @property
    def n_past(self) -> int:
        """The number of positions in the context."""
        v = c_int32()
        _check(self._lib.cria_session_n_past(self._h(), byref(v)))
        return v.value

    @property
    def context_length(self) -> int:
        """The session's context length in positions."""
        v = c_int32()
        _check(self._lib.cria_session_context_length(self._h(), byref(v)))
        return v.value

    # -- rewind, context shift and saved state (unstable) --

    @property
    def tokens(self) -> List[int]:
        """The tokens at positions 0 .. n_past-1."""
        n = self.n_past
        arr = (c_int32 * max(n, 1))()
        count = c_size_t()
        _check(self._lib.cria_session_tokens(self._h(), arr, n, byref(count)))
        return list(arr[:count.value])

    @property
    def n_evaluated(self) -> int:
        """Positions evaluated since the session was created (what rewinding spares)."""
        v = ctypes.c_int64()
        _check(self._lib.cria_session_n_evaluated(self._h(), byref(v)))
        return v.value

    def truncate(self, n_keep: int) -> None:
        """Removes positions n_keep .. n_past-1 without evaluating the kept ones again; the
        sampler is reset with the kept tokens in its penalties' window."""
        _check(self._lib.cria_session_truncate(self._h(), n_keep))

    def shift(self, n_keep: int, n_discard: int) -> None:
        """Removes positions n_keep .. n_keep+n_discard-1 and moves the later ones down
        (their cached keys re-rotated), evaluating nothing."""
        _check(self._lib.cria_session_shift(self._h(), n_keep, n_discard))

    def save_state(self) -> bytes:
        """The session (cache, tokens, logits, pending text, sampler) as bytes."""
        need = c_size_t()
        status = self._lib.cria_session_state_save(self._h(), None, 0, byref(need))
        if status != _BUFFER_TOO_SMALL:
            _check(status)
        buf = ctypes.create_string_buffer(need.value)
        _check(self._lib.cria_session_state_save(self._h(), buf, need.value, byref(need)))
        return buf.raw[:need.value]

    def load_state(self, state: bytes) -> None:
        """Takes back what save_state() gave, for a session of the same model and sampling;
        raises InvalidFile (damaged bytes) or InvalidArgument (another model) and then
        changes nothing."""
        _check(self._lib.cria_session_state_load(self._h(), state, len(state)))

    def save(self, path: PathLike) -> None:
        """save_state() to a file, written whole or not at all."""
        _check(self._lib.cria_session_state_save_file(self._h(), _path(path)))

    def load(self, path: PathLike) -> None:
        """load_state() from a file written by save()."""
        _check(self._lib.cria_session_state_load_file(self._h(), _path(path)))

    # -- step API --

    def eval(self, tokens: Sequence[int], max_positions: int = 0) -> int:
        """Evaluates up to max_positions (0: all) of tokens; returns how many were."""
        arr = _int_array(tokens)
        done = c_size_t()
        _check(self._lib.cria_session_eval(self._h(), arr, len(tokens), max_positions,
                                           byref(done)))
        return done.value

    def logits(self) -> "array.array[float]":
        """The logits of the last evaluated position, one per vocabulary entry, as a new
        array.array('f') that the C library writes into: numpy.frombuffer(logits,
        dtype=numpy.float32) and memoryview(logits) use it without a copy."""
        out = array.array("f", [0.0]) * self._vocab
        address, _ = out.buffer_info()
        n = c_size_t()
        _check(self._lib.cria_session_logits(self._h(), ctypes.cast(address, POINTER(c_float)),
                                             self._vocab, byref(n)))
        del out[n.value:]
        return out

    def sample(self, logits: Optional[Sequence[float]] = None) -> int:
        """Draws a token from the current logits, or from `logits` when given (any sequence of
        floats; a float32 buffer such as logits() or a numpy float32 array is read in place)."""
        tok = c_int32()
        if logits is None:
            _check(self._lib.cria_session_sample(self._h(), byref(tok)))
        else:
            arr = _float_array(logits)
            _check(self._lib.cria_session_sample_logits(self._h(), arr, len(arr), byref(tok)))
        return tok.value

    def accept(self, token: int) -> str:
        """Appends a token (evaluating it) and returns the text it completes."""
        return _token_text(lambda buf, cap, need: self._lib.cria_session_accept(self._h(), token, buf, cap, need))

    def flush_text(self) -> str:
        """The text still held back by the decoder (an incomplete UTF-8 sequence, replaced)."""
        need = c_size_t()
        buf = ctypes.create_string_buffer(64)
        status = self._lib.cria_session_flush_text(self._h(), buf, 64, byref(need))
        if status == _BUFFER_TOO_SMALL:
            buf = ctypes.create_string_buffer(need.value + 1)
            status = self._lib.cria_session_flush_text(self._h(), buf, need.value + 1, byref(need))
        _check(status)
        return _text(buf.raw[:need.value])

    def _prompt_ids(self, prompt: Union[str, Sequence[int]]) -> List[int]:
        if isinstance(prompt, str):
            return self.model.tokenize(prompt, add_bos=self.n_past == 0)
        return list(prompt)

    def stream(self, prompt: Union[str, Sequence[int]], max_tokens: int = -1,
               stop: Sequence[str] = (), positions_per_step: int = 0) -> Iterator[str]:
        """A generator of text chunks: generate() with the session's sampling, chunk by chunk.

        The prompt is evaluated first, positions_per_step positions per call (0: the session's
        max_batch). Generation then runs on a helper thread that waits for each chunk to be
        taken before it goes on; leaving the loop (or calling .close()) cancels it, and the
        session holds what was generated so far. A stop string ends the stream unyielded.
        """
        ids = self._prompt_ids(prompt)
        if len(ids) > self.context_length - self.n_past:
            raise ContextFull(8, "context_full", "the prompt does not fit in the free context")
        done = 0
        while done < len(ids):
            done += self.eval(ids[done:], positions_per_step)
        chunks: "queue.Queue" = queue.Queue(maxsize=1)
        replies: "queue.Queue" = queue.Queue(maxsize=1)
        end = object()
        failed: List[BaseException] = []

        def on_text(chunk: str) -> bool:
            chunks.put(chunk)
            return replies.get()

        def run() -> None:
            try:
                self.generate([], max_tokens, stop, on_text)
            except BaseException as e:  # noqa: BLE001 -- re-raised in the consumer
                failed.append(e)
            finally:
                chunks.put(end)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        go_on = True
        try:
            while True:
                chunk = chunks.get()
                if chunk is end:
                    break
                go_on = False  # until the consumer asks for the next chunk
                yield chunk
                go_on = True
                replies.put(True)
        finally:
            if not go_on:  # the consumer left while the generator waits for its reply
                replies.put(False)
                while chunks.get() is not end:
                    replies.put(False)
            worker.join()
        if failed:
            raise failed[0]

    # -- high level --

    def generate(self, prompt: Union[str, Sequence[int]], max_tokens: int = -1,
                 stop: Sequence[str] = (), on_text: Optional[Callable[[str], object]] = None,
                 temperature: Optional[float] = None, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, seed: Optional[int] = None,
                 on_prompt_progress: Optional[Callable[[float], bool]] = None) -> GenerateResult:
        """Generates text for a prompt (text, or token ids such as chat_template's; an empty
        prompt continues from the session's logits).

        on_text(chunk) receives the text as it is produced; returning False cancels (the
        result's stop_reason is then "cancelled"); an exception raised in it cancels and is
        re-raised. Sampling defaults to the session's. Returns a GenerateResult with the
        whole text.
        """
        ids = self._prompt_ids(prompt)
        arr = _int_array(ids)
        call = _GenerateCall(self._sampling + (self._stages,), max_tokens, stop, temperature, top_k, top_p, seed,
                             on_prompt_progress, lambda _i, chunk: on_text is None or on_text(chunk) is not False,
                             1)
        status = self._lib.cria_generate_tokens(self._h(), arr, len(ids), byref(call.params),
                                                _text_fn(lambda p, n, _u: call.text(0, p, n)), None,
                                                call.results)
        return call.finish(status)[0]


class _GenerateCall:
    """The parameters, callbacks and results of one cria_generate_tokens / _batch call."""

    def __init__(self, sampling: tuple, max_tokens: int, stop: Sequence[str],
                 temperature: Optional[float], top_k: Optional[int], top_p: Optional[float],
                 seed: Optional[int], on_prompt_progress: Optional[Callable[[float], bool]],
                 on_text: Callable[[int, str], bool], n: int) -> None:
        lib = _library()
        t, k, p, s, stages = sampling
        self.params = params = _GenerateParams()
        lib.cria_generate_params_init(byref(params))
        self._bias = _set_stages(params, stages)  # kept alive for the call
        params.temperature = t if temperature is None else temperature
        params.top_k = k if top_k is None else top_k
        params.top_p = p if top_p is None else top_p
        params.seed = s if seed is None else seed
        params.max_tokens = max_tokens
        stops = [x.encode("utf-8") for x in stop]
        self._stops = (c_char_p * max(len(stops), 1))(*stops)  # kept alive for the call
        params.stop_strings = self._stops
        params.n_stop_strings = len(stops)
        self.raised: List[BaseException] = []
        self.pieces: List[List[str]] = [[] for _ in range(n)]
        self.prompt_cancelled = False
        self._on_text = on_text
        self._on_progress = on_prompt_progress
        if on_prompt_progress is not None:
            self._progress = _progress_fn(self._progress_cb)  # kept alive for the call
            params.prompt_progress = self._progress
        self.results = (_GenerateResult * n)()
        for r in self.results:
            lib.cria_generate_result_init(byref(r))

    def text(self, index: int, ptr: Any, length: int) -> bool:
        try:
            chunk = _text(ctypes.string_at(ptr, length))
            self.pieces[index].append(chunk)
            return bool(self._on_text(index, chunk))
        except BaseException as e:  # noqa: BLE001 -- re-raised by finish
            self.raised.append(e)
            return False

    def _progress_cb(self, fraction: float, _user: Any) -> bool:
        try:
            go_on = bool(self._on_progress(fraction))
        except BaseException as e:  # noqa: BLE001
            self.raised.append(e)
            go_on = False
        self.prompt_cancelled = self.prompt_cancelled or not go_on
        return go_on

    def finish(self, status: int) -> List[GenerateResult]:
        if self.raised:
            raise self.raised[0]
        if status != _CANCELLED or self.prompt_cancelled:
            _check(status)  # a cancelled prompt raises Cancelled; a cancelled text is a result
        return [GenerateResult("".join(p), _STOP_REASONS.get(r.stop_reason, "unknown"), r.n_prompt_tokens,
                               r.n_tokens, r.prompt_seconds, r.generate_seconds)
                for p, r in zip(self.pieces, self.results)]


def generate_batch(sessions: Sequence[Session], prompts: Sequence[str], max_tokens: int = -1,
                   stop: Sequence[str] = (), on_text: Optional[Callable[[int, str], object]] = None,
                   temperature: Optional[float] = None, top_k: Optional[int] = None,
                   top_p: Optional[float] = None, seed: Optional[int] = None,
                   on_prompt_progress: Optional[Callable[[float], bool]] = None) -> List[GenerateResult]:
    """Session.generate for several sessions of one model at once (UNSTABLE): prompts[i] for
    sessions[i]. Each step samples every sequence still going and evaluates the new tokens in
    one pass over the weights; each sequence gets the text generate() gives it alone.
    on_text(i, chunk) returning False stops sequence i. Sampling defaults to sessions[0]'s.
    """
    if len(sessions) != len(prompts):
        raise ValueError("%d sessions but %d prompts" % (len(sessions), len(prompts)))
    if not sessions:
        return []
    handles = (c_void_p * len(sessions))(*[x._h() for x in sessions])
    texts = (c_char_p * len(prompts))(*[x.encode("utf-8") for x in prompts])
    call = _GenerateCall(sessions[0]._sampling + (sessions[0]._stages,), max_tokens, stop, temperature, top_k,
                         top_p, seed,
                         on_prompt_progress,
                         lambda i, chunk: on_text is None or on_text(i, chunk) is not False, len(sessions))
    status = _library().cria_generate_batch(handles, texts, len(sessions), byref(call.params),
                                            _sequence_text_fn(lambda i, p, n, _u: call.text(i, p, n)),
                                            None, call.results)
    return call.finish(status)


class Batch(_Handle):
    """Tokens of several sessions of one model evaluated in one pass (UNSTABLE).

        batch = cria.Batch()
        for s in sessions:
            text = batch.accept(s, s.sample())   # the token's text now
        batch.eval()                             # one pass for all of them

    Use a batch from one thread at a time, with sessions no other thread is using.
    """

    def __init__(self) -> None:
        self._lib = _library()
        self._handle = None
        self._queued: List[Session] = []  # keeps the sessions alive until eval
        handle = c_void_p()
        _check(self._lib.cria_batch_create(byref(handle)))
        self._handle = handle

    _free, _what = "cria_batch_free", "batch"

    def close(self) -> None:
        super().close()
        self._queued = []

    def add(self, session: Session, tokens: Sequence[int]) -> None:
        """Queues given tokens (a prompt) for session, as Session.eval."""
        arr = _int_array(tokens)
        _check(self._lib.cria_batch_add(self._h(), session._h(), arr, len(tokens)))
        self._queued.append(session)

    def accept(self, session: Session, token: int) -> str:
        """Queues a generated token for session and returns its text, as Session.accept."""
        text = _token_text(lambda buf, cap, need: self._lib.cria_batch_accept(self._h(), session._h(), token, buf,
                                                                            cap, need))
        self._queued.append(session)
        return text

    def eval(self) -> None:
        """Evaluates every queued token in one pass (or a few) and empties the batch."""
        try:
            _check(self._lib.cria_batch_eval(self._h()))
        finally:
            self._queued = []
