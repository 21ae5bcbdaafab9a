"""The data-only protocol between the trusted suite and the student process.

A frame is an 8-byte length, a 4-byte header length, a JSON header and binary blobs. Values travel
as a tagged JSON tree; arrays as `.npy` blobs read back with `allow_pickle=False`, torch tensors as
the same `.npy` bytes tagged `$T` (detached, on the CPU; bfloat16 widened to float32). Nothing is
ever unpickled, and the decoder checks every tag, type, depth and size before a test sees the value.

This file is copied next to the student runner, so it imports only the standard library; numpy and
torch are touched only when an array or tensor is already in hand (encode) or one arrives (decode),
so neither delays the start of either process.
"""
from __future__ import annotations

import io
import json
import math
import struct
import sys

MAX_FRAME = 256 * 1024 * 1024   # the largest frame either side accepts
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
ARRAY_KINDS = "biufc"           # bool, int, uint, float, complex: no objects, no structured dtypes


class WireError(Exception):
    """A frame or value that breaks the protocol (too big, malformed, a forbidden type)."""


class Ref:
    """A handle to an object that lives in the student process."""

    __slots__ = ("id", "kind", "callable")

    def __init__(self, id: int, kind: str = "object", callable: bool = False):
        self.id, self.kind, self.callable = id, kind, callable


# ---------------------------------------------------------------- framing

def write_frame(stream, header: dict, blobs: list[bytes] = ()) -> None:
    header = dict(header, blobs=[len(b) for b in blobs])
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    body = struct.pack(">I", len(head)) + head + b"".join(blobs)
    if len(body) > MAX_FRAME:
        raise WireError(f"message of {len(body)} bytes is over the {MAX_FRAME}-byte limit")
    stream.write(struct.pack(">Q", len(body)) + body)
    stream.flush()


def split_frame(body: bytes) -> tuple[dict, list[bytes]]:
    """Header and blobs of one frame body (the bytes after the 8-byte length)."""
    if len(body) < 4:
        raise WireError("truncated message")
    (hlen,) = struct.unpack(">I", body[:4])
    if hlen > len(body) - 4:
        raise WireError("truncated message header")
    try:
        header = json.loads(body[4:4 + hlen])
    except ValueError as e:
        raise WireError(f"message header is not JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("blobs"), list):
        raise WireError("message header has the wrong shape")
    blobs, pos = [], 4 + hlen
    for n in header["blobs"]:
        if not isinstance(n, int) or n < 0 or pos + n > len(body):
            raise WireError("message blob sizes do not add up")
        blobs.append(body[pos:pos + n])
        pos += n
    if pos != len(body):
        raise WireError("message has trailing bytes")
    return header, blobs


def frame_length(prefix: bytes) -> int:
    (n,) = struct.unpack(">Q", prefix)
    if n > MAX_FRAME:
        raise WireError(f"message of {n} bytes is over the {MAX_FRAME}-byte limit")
    return n


def read_frame(stream) -> tuple[dict, list[bytes]] | None:
    """Blocking read of one frame (student side); None at end of stream."""
    prefix = _read_exact(stream, 8)
    if prefix is None:
        return None
    body = _read_exact(stream, frame_length(prefix))
    if body is None:
        raise WireError("stream ended inside a message")
    return split_frame(body)


def _read_exact(stream, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- values

def encode(value, blobs: list[bytes], make_ref=None, _depth: int = 0):
    """Tagged JSON tree for `value`; arrays and bytes go to `blobs`.

    `make_ref(obj) -> Ref` turns anything not sent by value into a handle (student side); without
    it such values are an error (the trusted side sends only data and handles it already holds).
    """
    if _depth > MAX_DEPTH:
        raise WireError("value is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else {"$f": float(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$nf": repr(value)}
    if isinstance(value, Ref):
        return {"$r": value.id, "k": value.kind, "c": value.callable}
    if isinstance(value, (bytes, bytearray)):
        blobs.append(bytes(value))
        return {"$b": len(blobs) - 1}
    np = sys.modules.get("numpy")           # no numpy loaded: nothing can be an array
    if np is not None and isinstance(value, np.generic) and value.dtype.kind in ARRAY_KINDS:
        return encode(value.item(), blobs, make_ref, _depth)
    if np is not None and isinstance(value, np.ndarray) and value.dtype.kind in ARRAY_KINDS:
        blobs.append(_npy(value))
        return {"$a": len(blobs) - 1}
    if _is_tensor(value):
        blobs.append(_npy(_tensor_to_numpy(value)))
        return {"$T": len(blobs) - 1}
    if type(value) in (list, tuple):
        tag = "$l" if type(value) is list else "$t"
        return {tag: [encode(v, blobs, make_ref, _depth + 1) for v in value]}
    if isinstance(value, dict) and all(type(k) is str for k in value):   # OrderedDict: state_dict()
        return {"$d": {k: encode(v, blobs, make_ref, _depth + 1) for k, v in value.items()}}
    if make_ref is None:
        raise WireError(f"a {type(value).__name__} cannot be sent to the student process")
    return encode(make_ref(value), blobs)


def decode(tree, blobs: list[bytes], resolve_ref, _depth: int = 0, _count: list | None = None):
    """Inverse of `encode`, checking everything; `resolve_ref(Ref)` maps handles to objects."""
    count = _count if _count is not None else [0]
    count[0] += 1
    if count[0] > MAX_ITEMS:
        raise WireError("value has too many items")
    if _depth > MAX_DEPTH:
        raise WireError("value is nested too deeply")
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if not isinstance(tree, dict) or len(tree) == 0:
        raise WireError(f"unexpected value of type {type(tree).__name__}")
    tag = next(iter(tree))
    body = tree[tag]
    if tag in ("$l", "$t") and isinstance(body, list):
        items = [decode(v, blobs, resolve_ref, _depth + 1, count) for v in body]
        return items if tag == "$l" else tuple(items)
    if tag == "$d" and isinstance(body, dict):
        return {str(k): decode(v, blobs, resolve_ref, _depth + 1, count) for k, v in body.items()}
    if tag == "$a":
        return _load_array(_blob(blobs, body))
    if tag == "$T":
        import torch
        try:
            return torch.from_numpy(_load_array(_blob(blobs, body)))
        except (TypeError, ValueError) as e:    # e.g. a byte order or dtype torch does not take
            raise WireError(f"tensor could not be read: {e}") from None
    if tag == "$b":
        return _blob(blobs, body)
    if tag == "$f" and isinstance(body, float):
        return body
    if tag == "$nf" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$r" and isinstance(body, int):
        kind, is_callable = tree.get("k", "object"), tree.get("c", False)
        if not isinstance(kind, str) or not isinstance(is_callable, bool):
            raise WireError("malformed handle")
        return resolve_ref(Ref(body, kind[:200], is_callable))
    raise WireError(f"unknown value tag {str(tag)[:20]!r}")


def _npy(array) -> bytes:
    import numpy as np
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _is_tensor(value) -> bool:
    torch = sys.modules.get("torch")      # no torch loaded: nothing can be a tensor
    return torch is not None and isinstance(value, torch.Tensor)


def _tensor_to_numpy(tensor):
    import torch
    tensor = tensor.detach()
    if tensor.layout != torch.strided:
        raise WireError("sparse tensors cannot be sent")
    if tensor.dtype == torch.bfloat16:       # numpy has no bfloat16
        tensor = tensor.float()
    try:
        return tensor.cpu().resolve_conj().resolve_neg().numpy()
    except (TypeError, RuntimeError) as e:
        raise WireError(f"a tensor of type {tensor.dtype} cannot be sent: {e}") from None


def _blob(blobs: list[bytes], index) -> bytes:
    if not isinstance(index, int) or not 0 <= index < len(blobs):
        raise WireError("value refers to a missing blob")
    return blobs[index]


def _load_array(data: bytes):
    import numpy as np
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any decoding failure is a protocol error
        raise WireError(f"array could not be read: {type(e).__name__}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in ARRAY_KINDS:
        raise WireError("array has a forbidden dtype")
    return arr
