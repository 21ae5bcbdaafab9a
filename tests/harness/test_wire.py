"""The data-only protocol: values round-trip, and anything that is not plain data is refused."""
import io
import json
import pickle
import struct

import numpy as np
import pytest

from grader.harness import wire


def roundtrip(value, make_ref=None, resolve=lambda r: r):
    blobs = []
    tree = wire.encode(value, blobs, make_ref)
    buf = io.BytesIO()
    wire.write_frame(buf, {"value": tree}, blobs)
    buf.seek(0)
    header, got_blobs = wire.read_frame(buf)
    return wire.decode(header["value"], got_blobs, resolve)


def test_plain_values_roundtrip():
    value = {"a": [1, 2.5, None, True, "s"], "t": (1, (2, 3)), "nan": float("nan"), "b": b"\x00\x01",
             "big": 2**70}
    out = roundtrip(value)
    assert out["a"] == [1, 2.5, None, True, "s"]
    assert out["t"] == (1, (2, 3)) and isinstance(out["t"], tuple)
    assert np.isnan(out["nan"]) and out["b"] == b"\x00\x01"
    assert out["big"] == float(2**70)


def test_arrays_keep_dtype_and_shape():
    for arr in (np.arange(12, dtype=np.int16).reshape(3, 4), np.ones((2, 0)), np.array([True, False]),
                np.asfortranarray(np.random.default_rng(0).normal(size=(3, 5)))):
        out = roundtrip(arr)
        assert out.dtype == arr.dtype and out.shape == arr.shape and np.array_equal(out, arr)
    assert roundtrip(np.float32(1.5)) == 1.5


def test_objects_become_refs_only_where_allowed():
    class Thing:
        pass
    with pytest.raises(wire.WireError):
        wire.encode(Thing(), [])
    out = roundtrip([Thing()], make_ref=lambda obj: wire.Ref(5, "Thing", False))
    assert isinstance(out[0], wire.Ref) and out[0].id == 5 and out[0].kind == "Thing"


def _frame(header: dict, blobs=()) -> dict:
    return wire.split_frame(struct.pack(">I", len(json.dumps(dict(header, blobs=[len(b) for b in blobs])).encode()))
                            + json.dumps(dict(header, blobs=[len(b) for b in blobs])).encode() + b"".join(blobs))


def test_pickled_object_array_is_refused():
    buf = io.BytesIO()
    np.save(buf, np.array([object(), 1], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError):
        wire.decode({"$a": 0}, [buf.getvalue()], lambda r: r)
    with pytest.raises(wire.WireError):
        wire.decode({"$a": 0}, [pickle.dumps([1, 2])], lambda r: r)


@pytest.mark.parametrize("tree", [{"$x": 1}, {"$a": 3}, {"$nf": "1e999"}, {"$r": "7"}, {}, [1, 2]])
def test_malformed_values_are_refused(tree):
    with pytest.raises(wire.WireError):
        wire.decode(tree, [], lambda r: r)


def test_deep_nesting_and_huge_frames_are_refused():
    tree = 1
    for _ in range(wire.MAX_DEPTH + 5):
        tree = {"$l": [tree]}
    with pytest.raises(wire.WireError):
        wire.decode(tree, [], lambda r: r)
    with pytest.raises(wire.WireError):
        wire.frame_length(struct.pack(">Q", wire.MAX_FRAME + 1))
    with pytest.raises(wire.WireError):
        wire.split_frame(b"\x00\x00\x00\x10{}")


def test_blob_sizes_must_add_up():
    header, blobs = _frame({"x": 1}, [b"abc"])
    assert blobs == [b"abc"] and header["x"] == 1
    bad = struct.pack(">I", 13) + b'{"blobs":[9]}' + b"abc"
    with pytest.raises(wire.WireError):
        wire.split_frame(bad)


def test_tensors_roundtrip_as_detached_cpu_tensors():
    import torch
    weight = torch.nn.Parameter(torch.arange(6, dtype=torch.float32).reshape(2, 3))
    out = roundtrip({"w": weight * 2, "i": torch.tensor([1, 2], dtype=torch.int64),
                     "bf": torch.ones(2, dtype=torch.bfloat16), "t": torch.ones(3, 2).t()})
    assert isinstance(out["w"], torch.Tensor) and not out["w"].requires_grad
    assert torch.equal(out["w"], torch.arange(6, dtype=torch.float32).reshape(2, 3) * 2)
    assert out["i"].dtype == torch.int64 and out["bf"].dtype == torch.float32
    assert out["t"].shape == (2, 3)


def test_a_state_dict_travels_as_a_dict():
    import torch
    state = torch.nn.Linear(3, 2).state_dict()          # an OrderedDict of tensors
    out = roundtrip(state)
    assert type(out) is dict and set(out) == {"weight", "bias"}
    assert torch.equal(out["weight"], state["weight"])


def test_a_tensor_torch_cannot_hold_is_a_protocol_error():
    import torch  # noqa: F401 - the student environment has it (student-requirements.txt)
    blobs = []
    wire.encode(np.arange(3, dtype=">f8"), blobs)            # big-endian: numpy yes, torch no
    with pytest.raises(wire.WireError):
        wire.decode({"$T": 0}, blobs, lambda r: r)


def test_a_tensor_frame_is_npy_not_pickle():
    import torch
    blobs = []
    tree = wire.encode(torch.zeros(2), blobs)
    assert set(tree) == {"$T"} and blobs[0].startswith(b"\x93NUMPY")
    with pytest.raises(wire.WireError):      # a pickled object array behind a tensor tag is refused
        buf = io.BytesIO()
        np.save(buf, np.array([object()]), allow_pickle=True)
        wire.decode({"$T": 0}, [buf.getvalue()], lambda r: r)
