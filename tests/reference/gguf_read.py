"""A minimal GGUF (v2/v3) reader and the block decoders for F32/F16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K, numpy only.

Used by the reference forward pass to decode exactly the bytes a model file holds, and by
the self-tests to parse back what gguf_write.py wrote.
"""
import struct

import numpy as np

from gguf_write import (ALIGNMENT, BLOCK_LAYOUT, GGML_F16, GGML_F32, GGML_Q4_0, GGML_Q8_0,
                        GGUF_ARRAY, GGUF_STRING, QK, _SCALAR_DTYPES, _SCALAR_FORMATS)


class GGUFFile:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self.pos = 0
        if self._take(4) != b"GGUF":
            raise ValueError(path + ": not a GGUF file")
        (self.version,) = self._unpack("<I")
        if self.version not in (2, 3):
            raise ValueError("unsupported GGUF version %d" % self.version)
        n_tensors, n_kv = self._unpack("<QQ")
        self.metadata = {}
        self.metadata_types = {}
        for _ in range(n_kv):
            key = self._string()
            (vtype,) = self._unpack("<I")
            if key in self.metadata:
                raise ValueError("duplicate key " + key)
            self.metadata[key] = self._value(vtype)
            self.metadata_types[key] = vtype
        alignment = self.metadata.get("general.alignment", ALIGNMENT)
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            (n_dims,) = self._unpack("<I")
            ne = self._unpack("<%dQ" % n_dims)
            ggml_type, offset = self._unpack("<IQ")
            infos.append((name, tuple(ne), ggml_type, offset))
        data_start = self.pos + (-self.pos) % alignment
        self.tensors = {}
        for name, ne, ggml_type, offset in infos:
            if offset % alignment:
                raise ValueError(name + ": misaligned offset")
            size = tensor_nbytes(ne, ggml_type)
            begin = data_start + offset
            if begin + size > len(self.data):
                raise ValueError(name + ": data past the end of the file")
            self.tensors[name] = (ne, ggml_type, self.data[begin:begin + size])

    def _take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated GGUF file")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt):
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))

    def _string(self):
        (n,) = self._unpack("<Q")
        return self._take(n).decode("utf-8")

    def _value(self, vtype):
        if vtype == GGUF_STRING:
            return self._string()
        if vtype == GGUF_ARRAY:
            etype, count = self._unpack("<IQ")
            if etype == GGUF_STRING:
                return [self._string() for _ in range(count)]
            dt = np.dtype(_SCALAR_DTYPES[etype])
            return np.frombuffer(self._take(dt.itemsize * count), dtype=dt).copy()
        (v,) = self._unpack(_SCALAR_FORMATS[vtype])
        return v

    def tensor(self, name):
        """Decoded tensor as float64 with numpy shape reversed(ne) (last axis = ne[0])."""
        ne, ggml_type, raw = self.tensors[name]
        return decode_tensor(raw, ne, ggml_type)


def tensor_nbytes(ne, ggml_type):
    n = int(np.prod(ne, dtype=np.int64))
    if ggml_type not in BLOCK_LAYOUT:
        raise ValueError("unsupported ggml type %d" % ggml_type)
    block, nbytes = BLOCK_LAYOUT[ggml_type]
    if ne[0] % block:
        raise ValueError("ne[0]=%d is not a multiple of the block size %d" % (ne[0], block))
    return n // block * nbytes


def dequantize_q8_0(raw, n):
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + QK)
    d = b[:, 0:2].copy().view("<f2").astype(np.float64)  # [blocks, 1]
    q = b[:, 2:].view(np.int8).astype(np.float64)
    return (d * q).reshape(n)


def dequantize_q4_0(raw, n):
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + QK // 2)
    d = b[:, 0:2].copy().view("<f2").astype(np.float64)
    qs = b[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8.0
    return (d * q).reshape(n)


GGML_Q4_K, GGML_Q5_K, GGML_Q6_K = 12, 13, 14


def k_quant_scales(b):
    """fp16 d and dmin, and the eight 6-bit (scale, min) pairs packed in bytes 4-15 of Q4_K
    and Q5_K super-blocks."""
    d = b[:, 0:2].copy().view("<f2").astype(np.float64)
    dmin = b[:, 2:4].copy().view("<f2").astype(np.float64)
    s = b[:, 4:16].astype(np.int64)
    sc = np.empty((b.shape[0], 8), dtype=np.int64)
    mn = np.empty_like(sc)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return d * sc, dmin * mn


def dequantize_q4_k(raw, n):
    """Super-blocks of 256: fp16 d and dmin, eight 6-bit (scale, min) pairs packed in 12
    bytes, 128 bytes of nibbles (32 bytes per pair of 32-value sub-blocks: low nibbles the
    first, high nibbles the second); value = d * scale * q - dmin * min."""
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 144)
    scale, mins = k_quant_scales(b)
    qs = b[:, 16:].reshape(-1, 4, 32)
    q = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(-1, 8, 32).astype(np.float64)
    return (scale[:, :, None] * q - mins[:, :, None]).reshape(n)


def dequantize_q5_k(raw, n):
    """Q4_K's super-block with 32 bytes of fifth bits after the scales: bit j of byte l is
    the fifth bit of value l of sub-block j."""
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 176)
    scale, mins = k_quant_scales(b)
    qh = b[:, 16:48].astype(np.int64)
    qs = b[:, 48:].reshape(-1, 4, 32).astype(np.int64)
    low = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(-1, 8, 32)
    fifth = np.stack([(qh >> j) & 1 for j in range(8)], axis=1)  # [blocks, 8, 32]
    q = (low | (fifth << 4)).astype(np.float64)
    return (scale[:, :, None] * q - mins[:, :, None]).reshape(n)


def dequantize_q6_k(raw, n):
    """Super-blocks of 256: 128 bytes of low 4 bits, 64 bytes of high 2 bits, sixteen int8
    scales (one per 16 values), fp16 d; value = d * scale * (q - 32). Each half of 128 values
    takes 64 low-bit bytes and 32 high-bit bytes: values l, l+32, l+64, l+96 share byte l of
    the high bits (2 bits each, from the lowest) and low nibbles of bytes l, l+32."""
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 210)
    ql = b[:, 0:128].reshape(-1, 2, 64).astype(np.int64)
    qh = b[:, 128:192].reshape(-1, 2, 32).astype(np.int64)
    scales = b[:, 192:208].view(np.int8).astype(np.float64)
    d = b[:, 208:210].copy().view("<f2").astype(np.float64)
    q = np.concatenate([
        (ql[:, :, 0:32] & 0x0F) | (((qh >> 0) & 3) << 4),
        (ql[:, :, 32:64] & 0x0F) | (((qh >> 2) & 3) << 4),
        (ql[:, :, 0:32] >> 4) | (((qh >> 4) & 3) << 4),
        (ql[:, :, 32:64] >> 4) | (((qh >> 6) & 3) << 4)], axis=2).reshape(-1, 256)
    y = d * np.repeat(scales, 16, axis=1) * (q - 32).astype(np.float64)
    return y.reshape(n)


def decode_tensor(raw, ne, ggml_type):
    n = int(np.prod(ne, dtype=np.int64))
    if ggml_type == GGML_F32:
        x = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif ggml_type == GGML_F16:
        x = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif ggml_type == GGML_Q8_0:
        x = dequantize_q8_0(raw, n)
    elif ggml_type == GGML_Q4_0:
        x = dequantize_q4_0(raw, n)
    elif ggml_type == GGML_Q4_K:
        x = dequantize_q4_k(raw, n)
    elif ggml_type == GGML_Q5_K:
        x = dequantize_q5_k(raw, n)
    elif ggml_type == GGML_Q6_K:
        x = dequantize_q6_k(raw, n)
    else:
        raise ValueError("unsupported ggml type %d" % ggml_type)
    return x.reshape(tuple(reversed(ne)))
