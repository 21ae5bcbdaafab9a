"""Hidden suite for the `pytorch-advanced` exercise (CONTRACT.md, section 6).

The student's module is reached only through the `student` fixture (a proxy to a sandboxed
process); `remote("torch")` is torch *inside* that process, used to build models, optimizers,
schedulers and data loaders there. Tensors travel by value (detached, on the CPU); `by_ref` keeps
a result in the student process when a test follows its autograd graph.

Expected values are computed here (losses, gradients, accuracy). Held-out Fashion-MNIST labels
never leave this process: the student's model returns logits for the evaluation images and the
accuracy is computed here. Files the student's code writes (checkpoints) are opened only inside
the student process (`remote("torch").load`); nothing is ever unpickled here.

Interfaces where the contract leaves a choice (the notebook documents the first one):
- SelfAttention may return the output tensor or a tuple (output, attention weights). It may take
  (N, seq, features), the positions of each sample attending to each other, or (batch, features)
  as the course writes it, the rows of the batch attending to each other (softmax(Q @ K.T /
  sqrt(d)) @ V): the tests find which input the layer handles and judge it in that sense.
- CustomLoss's penalty may be L2 (the sum of the squared parameters) or L1 (the sum of their
  absolute values, the course's torch.norm(param, 1)).
- train_model's learning-rate scheduler: `scheduler=` a function optimizer -> scheduler (as the
  notebook documents), or `optimizer=` + `scheduler=` objects built by the caller; stepping once
  per epoch (documented) or once per batch are both accepted.
- EarlyStopping may keep the best state in an attribute (a state_dict copy, a copy of the model,
  or a file path), write it to a file, restore it into the model when it stops, or offer a
  restore method.
- train_with_checkpointing may save a state_dict, a dict holding one (e.g. "model_state_dict"),
  or the whole model, anywhere under the working directory.
"""

import itertools
import math
import re

import numpy as np
import torch
import torch.nn.functional as F

from grader.harness.client import Remote, StudentCrashed, StudentError, StudentTimeout, by_ref, call_optional, signature
from grader.suitekit import array, depends_on_input, parameters_used, plain_error, robust_threshold, softmax
from grader.suitekit import attention as attention_formula

# ---------------------------------------------------------------------------
# Fashion-MNIST threshold recipe (bench/calibrate_pytorch_advanced.py runs this same function).
# Data: the grading split (train on 10,000 fixed training images, evaluate on 2,000 fixed test
# images). Inputs: pixels in [0, 1], flattened to (N, 784), *not* standardized. The suite builds
# the loaders (shuffled with a seeded generator; the validation loader holds the first 1,000
# *training* images); the student's train_model builds its own optimizer (Adam in the notebook).
#
# Calibration (bench/calibrate_pytorch_advanced.py, 2 torch threads, 2-core CPU):
#   reference RegularizedMLP(784, [256], 10, 0.2), seeds 0-4: 0.8440 0.8380 0.8485 0.8355 0.8430
#     (min 0.8355; the same with 1 thread: 0.8370 0.8350 0.8475 0.8375 0.8425)
#   softmax regression nn.Linear(784, 10), same train_model call: 0.8030 0.8000 0.8050 0.8045 0.8025
#     (max 0.8050)
#   window: baseline max 0.8050 < threshold <= reference min - 1.5 pp = 0.8205.
#   Rerun seeded as the sandbox is (the seed plan: torch's deterministic algorithms on), seeds 0-4:
#   reference 0.8335 0.8395 0.8465 0.8405 0.8435, baseline 0.8030 0.8000 0.8050 0.8045 0.8025 (the
#   sandbox's seed 0 is the same 0.8335); the manifest's plan (seeds 0-2, margin 0.01, median)
#   passes the reference and fails the baseline.
#   Other correct layer orders (same recipe, seeds 0-4): no BatchNorm 0.8310-0.8400,
#   BatchNorm after ReLU 0.8285-0.8485, Dropout before ReLU 0.8355-0.8485.
# The threshold sits low in the window (0.81: reference min 2.55 pp above, baseline max 0.5 pp
# below) because a correct MLP's accuracy dips by 2-3 pp at an occasional epoch, while the
# baseline's accuracy is smooth (0.800-0.805 over 5 seeds). The margin between the two is thin
# by nature: the baseline here is not converged (trained longer, softmax regression reaches
# 0.82-0.83 on this split, the MLP 0.84-0.85); 10 epochs at lr 5e-4 is where the gap is widest.
# ---------------------------------------------------------------------------
FASHION_HIDDEN = [256]
FASHION_DROPOUT = 0.2
FASHION_EPOCHS = 10
FASHION_LR = 5e-4
FASHION_BATCH = 128
FASHION_VAL = 1000
FASHION_SEED = 0
FASHION_THRESHOLD = 0.81

# Optional keywords (EarlyStopping's verbose): passed only when the signature takes them
QUIET = {"verbose": False}


def _as_device(lib, tensor, device):
    """`tensor` as an argument for the model: by value on the CPU, kept remote on a GPU."""
    if device == "cpu":
        return tensor
    return by_ref(lib("torch").as_tensor, tensor, device=device)


def fashion_accuracy(module, lib, split, seed=FASHION_SEED, device="cpu", make_model=None):
    """Train `module.RegularizedMLP` (or `make_model()`) with `module.train_model` on the
    Fashion-MNIST grading split; return the accuracy on the held-out images, computed here.

    `lib(name)` imports a library where the model lives (`remote` in the suite,
    `importlib.import_module` in the bench script).
    """
    torch_ = lib("torch")
    data = lib("torch.utils.data")
    torch_.manual_seed(seed)
    if make_model is None:
        model = module.RegularizedMLP(784, list(FASHION_HIDDEN), 10, dropout_rate=FASHION_DROPOUT)
    else:
        model = make_model()
    model = model.to(device)
    x = torch.from_numpy(np.ascontiguousarray(split.x_train.reshape(-1, 784), dtype=np.float32))
    y = torch.from_numpy(np.asarray(split.y_train, dtype=np.int64))
    train_loader = data.DataLoader(data.TensorDataset(x, y), batch_size=FASHION_BATCH, shuffle=True,
                                   generator=torch_.Generator().manual_seed(seed))
    val_loader = data.DataLoader(data.TensorDataset(x[:FASHION_VAL], y[:FASHION_VAL]), batch_size=500)
    module.train_model(model, train_loader, val_loader, epochs=FASHION_EPOCHS, lr=FASHION_LR)
    model.eval()
    x_eval = np.ascontiguousarray(split.x_eval.reshape(-1, 784), dtype=np.float32)
    predictions = []
    for start in range(0, len(x_eval), 1000):
        batch = _as_device(lib, torch.from_numpy(x_eval[start:start + 1000]), device)
        logits = _logits(model(batch), len(x_eval[start:start + 1000]))
        predictions.append(logits.argmax(axis=1))
    predictions = np.concatenate(predictions)
    return float(np.mean(predictions == np.asarray(split.y_eval)))


def _logits(out, n):
    arr = _array(out, "the model's output")
    assert arr.shape == (n, 10), (
        f"RegularizedMLP(784, hidden_sizes, 10) returned shape {arr.shape} for {n} images, "
        f"expected ({n}, 10)")
    return arr


# ---------------------------------------------------------------------------
# Reading what the student returned
# ---------------------------------------------------------------------------

def _array(x, what):
    if isinstance(x, (tuple, list)) and x and isinstance(x[0], torch.Tensor):
        raise AssertionError(f"{what} should be a tensor, got a {type(x).__name__}")
    return array(x, what, should="be a tensor")


def _first(out):
    """SelfAttention may return (output, attention_weights)."""
    if isinstance(out, (tuple, list)) and len(out) >= 1:
        return out[0]
    return out


def _number(x, what):
    arr = _array(x, what)
    assert arr.size == 1, f"{what} should be a single number, got shape {arr.shape}"
    return float(arr.reshape(-1)[0])


def _shape_check(module, x, expected, what):
    out = _array(module(x), what)
    assert out.shape == expected, f"{what} returned shape {out.shape}, expected {expected}"
    assert np.all(np.isfinite(out)), f"{what} returned nan or inf"
    return out


def _computes(remote, module, x, what):
    """Beyond the shape: the output is computed from the input and from the module's parameters."""
    module.eval()
    depends_on_input(_first(module(x)), f"{what} (eval mode)")
    parameters_used(remote, module, x, what)


def _state(model):
    """The model's state_dict, by value, as float64 numpy arrays (integer buffers skipped)."""
    return {k: v.double().numpy() for k, v in model.state_dict().items()
            if isinstance(v, torch.Tensor) and v.is_floating_point()}


def _params(model, lib):
    """Named trainable parameters, by value (buffers such as BatchNorm statistics excluded)."""
    names = lib("builtins").list(lib("builtins").map(lib("operator").itemgetter(0), model.named_parameters()))
    state = _state(model)
    return {k: state[k] for k in names if k in state}


def _same(a, b, atol=1e-6):
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and np.allclose(a[k], b[k], atol=atol, rtol=0)
                                        for k in a)


FAILED = object()


def _try(call, *args, **kwargs):
    """Call into the student process; an ordinary exception there (or a missing attribute) gives
    FAILED. A crash or a timeout still fails the test."""
    try:
        return call(*args, **kwargs)
    except (StudentTimeout, StudentCrashed):
        raise
    except (StudentError, AttributeError):
        return FAILED


def _files(lib, limit=200):
    """{path: (mtime, size)} of (at most `limit`) files under the student process's working directory."""
    os_ = lib("os")
    found = {}
    for folder, dirs, names in lib("builtins").list(os_.walk(".")):
        if folder == "./.runner" or folder.startswith("./.runner/"):
            continue
        for name in names:
            if len(found) >= limit:
                return found
            path = os_.path.join(folder, name)
            found[path] = (_try(os_.path.getmtime, path), _try(os_.path.getsize, path))
    return found


def _changed(before, after):
    return sorted(p for p, stamp in after.items() if before.get(p) != stamp)


def _load_remote(lib, path):
    """torch.load in the student process (never here); FAILED when the file is not a torch file."""
    return _try(lib("torch").load, path, map_location="cpu", weights_only=False)


def _candidate_states(value, lib, depth=0):
    """State dicts (name -> tensor, by value) found in `value`: a state_dict itself, a dict that
    holds one (e.g. {"model_state_dict": ...}), a model handle, or a path to a torch file."""
    if depth > 3:
        return
    if isinstance(value, dict):
        tensors = {k: v for k, v in value.items() if isinstance(v, torch.Tensor)}
        if tensors:
            yield {k: v.double().numpy() for k, v in tensors.items() if v.is_floating_point()}
        for v in value.values():
            if isinstance(v, (dict, list, tuple, Remote, str)):
                yield from _candidate_states(v, lib, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value[:20]:
            if isinstance(v, (dict, list, tuple, Remote, str)):
                yield from _candidate_states(v, lib, depth + 1)
    elif isinstance(value, Remote):
        state_dict = _try(getattr, value, "state_dict")
        if isinstance(state_dict, Remote):
            state = _try(state_dict)
            if isinstance(state, dict):
                yield from _candidate_states(state, lib, depth + 1)
    elif isinstance(value, str) and len(value) < 500:
        if _try(lib("os").path.isfile, value) is True:
            loaded = _load_remote(lib, value)
            if loaded is not FAILED:
                yield from _candidate_states(loaded, lib, depth + 1)


def _toy_classification(rng, n, n_features=20, n_classes=3):
    """A linearly separable-ish toy problem (float32 inputs, int64 labels)."""
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    labels = rng.integers(0, n_classes, size=n)
    x = centers[labels] + rng.normal(size=(n, n_features))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))


def _loaders(lib, x, y, seed, batch_size=64, n_val=64):
    data = lib("torch.utils.data")
    train = data.DataLoader(data.TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                            generator=lib("torch").Generator().manual_seed(seed))
    val = data.DataLoader(data.TensorDataset(x[:n_val], y[:n_val]), batch_size=n_val)
    return train, val


# ---------------------------------------------------------------------------
# SelfAttention: the two input forms the contract accepts
# ---------------------------------------------------------------------------
# The reference attends over the positions of each sample: (N, seq, F) -> (N, seq, F). The course
# writes SelfAttention for a (batch_size, F) batch whose rows attend to each other
# (softmax(Q @ K.T / sqrt(d)) @ V). The tests find the forms the student's layer handles (an
# output of the input's shape; 3-D first, then 2-D) and judge the layer in the first form in which
# it passes, in that form's own sense.

SEQUENCE = "(N, seq, features)"
ROWS = "(batch, features)"
FORM_NOTES = {
    SEQUENCE: "SelfAttention on (N, seq, features): positions attend within each sample",
    ROWS: "SelfAttention on (batch, features): rows attend to rows (accepted)",
}
FORM_UNITS = {SEQUENCE: "position of a sample", ROWS: "row of the batch"}
SHAPE_CASES = {SEQUENCE: [(4, 5, 8), (2, 7, 16), (3, 1, 12)], ROWS: [(5, 8), (7, 16), (3, 12)]}
ATOL, RTOL = 1e-4, 1e-3          # float32 in the student process, float64 here


def _attention_forms(student, features=8):
    """The input forms SelfAttention(features) handles (its output has the input's shape), in the
    order tried; an AssertionError saying what happened when it handles neither."""
    attention = student.SelfAttention(features)
    attention.eval()
    gen = torch.Generator().manual_seed(30)
    forms, why = [], []
    for form, shape in ((SEQUENCE, (2, 5, features)), (ROWS, (6, features))):
        try:
            result = attention(torch.randn(*shape, generator=gen))
        except StudentError as e:
            if not plain_error(e):
                raise
            why.append(f"on a {form} input of shape {shape} it raised an error ({str(e)[:300]})")
            continue
        try:
            out = _array(_first(result), f"SelfAttention({features})")
        except AssertionError as e:
            why.append(f"on a {form} input of shape {shape}: {e}")
            continue
        if out.shape != shape:
            why.append(f"on a {form} input of shape {shape} it returned shape {out.shape}")
            continue
        forms.append(form)
    if not forms:
        raise AssertionError(
            f"SelfAttention({features}) should return an output of its input's shape, for a (N, seq, features) "
            f"input (the positions of each sample attend to each other) or a (batch, features) input (the rows "
            f"attend to each other); {'; '.join(why)}")
    return forms


def _in_some_form(forms, check, note):
    """Run `check(form)` for each form until one passes; note the form judged. The failure of the
    first form tried is the one reported when none passes."""
    failure = None
    for form in forms:
        notes = []
        try:
            check(form, notes)
        except (AssertionError, StudentError) as e:
            if isinstance(e, StudentError) and not plain_error(e):
                raise
            failure = failure or (form, notes, e)
            continue
        for text in [FORM_NOTES[form], *notes]:
            note(text)
        return
    form, notes, error = failure
    for text in [FORM_NOTES[form], *notes]:
        note(text)
    raise error


def _role_names(*bases):
    names = set()
    for b in bases:
        names |= {b, f"w{b}", f"{b}w", f"{b}proj", f"proj{b}", f"{b}projection", f"{b}linear", f"linear{b}",
                  f"{b}layer", f"{b}fc", f"fc{b}", f"to{b}", f"{b}weight", f"{b}weights", f"{b}net", f"{b}matrix"}
    return names


ROLES = {"query": _role_names("q", "query", "queries"), "key": _role_names("k", "key", "keys"),
         "value": _role_names("v", "value", "values")}


def _role(name):
    """"query", "key" or "value" when the last part of a module or parameter name says so
    (query, q, W_q, q_proj, to_q, ...); None otherwise."""
    last = re.sub(r"[^a-z]", "", name.rsplit(".", 1)[-1].lower())
    return next((role for role, names in ROLES.items() if last in names), None)


def _projections(remote, attention):
    """The student's query, key and value projections, found by name: ({role: [(W, b), ...]},
    exact), with Q = x @ W + b for each candidate (an nn.Linear gives one, a bare parameter
    matrix two orientations). `exact` when all three are nn.Linear layers and they are the layer's
    only parameters (then the output must be the formula's). None when the names do not say."""
    builtins = remote("builtins")
    linear = remote("torch.nn").Linear
    state = {k: v.double().numpy() for k, v in attention.state_dict().items()
             if isinstance(v, torch.Tensor) and v.is_floating_point()}
    parameters = set(builtins.list(builtins.map(remote("operator").itemgetter(0), attention.named_parameters())))
    found, used, all_linear = {}, set(), True
    for name, module in builtins.list(attention.named_modules()):
        role = _role(name) if name else None
        if role is None or f"{name}.weight" not in state or not builtins.isinstance(module, linear):
            continue
        if role in found:
            return None                                             # two candidates: the names do not say
        weight = state[f"{name}.weight"]
        found[role] = [(weight.T, state.get(f"{name}.bias", 0.0))]
        used |= {f"{name}.weight", f"{name}.bias"}
    for name in sorted(parameters - used):
        role = _role(name)
        if role is None or name not in state or state[name].ndim != 2:
            continue
        if role in found:
            return None
        found[role] = [(state[name], 0.0), (state[name].T, 0.0)]
        used.add(name)
        all_linear = False
    if set(found) != set(ROLES):
        return None
    return found, all_linear and parameters <= used


def _attention_variants(q, k, v, x):
    """(note, output) for the forms of softmax attention accepted, from the projections q, k, v
    of x; note None for the contract's own softmax(Q K^T / sqrt(d)) V."""
    d = q.shape[-1]
    yield None, attention_formula(q, k, v)
    if d != x.shape[-1]:
        yield None, attention_formula(q, k, v, scale=math.sqrt(x.shape[-1]))
    yield "SelfAttention does not divide the scores by sqrt(d) (accepted)", attention_formula(q, k, v, scale=1.0)
    for heads in (2, 4, 8):
        if d % heads == 0 and d > heads and v.shape[-1] % heads == 0:
            yield f"SelfAttention with {heads} heads (accepted)", attention_formula(q, k, v, heads=heads)
    if v.shape == x.shape:
        yield ("SelfAttention adds its input to the attention output, a residual connection (accepted)",
               x + attention_formula(q, k, v))


def _close(got, expected):
    return got.shape == expected.shape and np.allclose(got, expected, rtol=RTOL, atol=ATOL)


def _attention_hint(q, k, v, out):
    scores = q @ np.swapaxes(k, -1, -2)
    if any(_close(out, s @ v) for s in (scores / math.sqrt(q.shape[-1]), scores)):
        return (": the softmax is missing (the attention weights are softmax(Q K^T / sqrt(d)), "
                "each row summing to 1, before they multiply V)")
    if any(_close(out, softmax(s, axis=-2) @ v) for s in (scores / math.sqrt(q.shape[-1]), scores)):
        return (": the softmax runs over the wrong axis (take it over the last one, dim=-1, so that "
                "each query's weights over the keys sum to 1)")
    return ""


def _softmax_weighted(attention, form, features, what):
    """A property of softmax attention that needs no names: each output is a mean of values
    weighted by the softmax (weights summing to 1), so when every position holds the same vector
    r, every output is the one r alone gets, however many positions there are. Without the
    softmax, (Q K^T) V grows with the number of positions."""
    rows = torch.randn(3, features, generator=torch.Generator().manual_seed(33))
    if form == SEQUENCE:
        pairs = [(rows[:, None, :].clone(), rows[:, None, :].repeat(1, 6, 1))]
    else:
        pairs = [(r[None, :].clone(), r[None, :].repeat(6, 1)) for r in rows]
    unit = FORM_UNITS[form]
    for alone, repeated in pairs:
        a = _array(_first(attention(alone)), what)
        b = _array(_first(attention(repeated)), what)
        assert a.shape == tuple(alone.shape) and b.shape == tuple(repeated.shape), (
            f"{what} on a {form} input returned the wrong shape")
        assert np.allclose(b, a, rtol=RTOL, atol=ATOL), (
            f"{what} is not softmax attention: when every {unit} holds the same vector, softmax(Q K^T / sqrt(d)) V "
            f"gives each of them the same output however many there are (the attention weights sum to 1), "
            f"but your layer's output changed with their number: apply the softmax to the scores (over the "
            f"last axis) before multiplying by V")


def _softmax_attention(remote, attention, form, x, out, what, notes):
    """`out`, the layer's output on x, is softmax attention: the suite's own formula from the
    student's query/key/value layers when their names say which is which, else (or when the
    layer holds more than them) the property `_softmax_weighted`."""
    found = _projections(remote, attention)
    if found is not None:
        roles, exact = found
        x64 = x.double().numpy()
        first = None
        for (wq, bq), (wk, bk), (wv, bv) in itertools.product(roles["query"], roles["key"], roles["value"]):
            try:
                q, k, v = x64 @ wq + bq, x64 @ wk + bk, x64 @ wv + bv
            except ValueError:
                continue
            first = first or (q, k, v)
            for text, expected in _attention_variants(q, k, v, x64):
                if _close(out, expected):
                    if text:
                        notes.append(text)
                    return
        if exact:
            raise AssertionError(
                f"{what}'s output on a {form} input is not softmax(Q K^T / sqrt(d)) V computed from its own "
                f"query, key and value layers{_attention_hint(*first, out) if first else ''}")
    _softmax_weighted(attention, form, x.shape[-1], what)
    notes.append(("SelfAttention holds more than its query, key and value layers" if found else
                  "SelfAttention's query, key and value layers were not found by name")
                 + ": its output was checked by a property of softmax attention instead of the formula (accepted)")


def _attention_checks(student, remote, form, notes):
    """Shapes, computation from input and weights, and softmax attention, for three sizes."""
    remote("torch").manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    for i, shape in enumerate(SHAPE_CASES[form]):
        features = shape[-1]
        what = f"SelfAttention({features})"
        attention = student.SelfAttention(features)
        attention.eval()
        x = torch.randn(*shape, generator=gen)
        result = attention(x)
        if isinstance(result, (tuple, list)) and i == 0:
            notes.append("SelfAttention returns a tuple: its first element is taken as the output (accepted)")
        out = _array(_first(result), what)
        assert out.shape == shape, f"{what} on a {form} input of shape {shape} returned shape {out.shape}"
        assert np.all(np.isfinite(out)), f"{what} returned nan or inf"
        _computes(remote, attention, x, what)
        _softmax_attention(remote, attention, form, x, out, what, notes)


def _mixes(student, remote, form, notes):
    """(N, seq, F): changing one position of a sample changes the outputs at its other positions
    and not those of the other sample. (batch, F): changing one row changes the other rows'."""
    remote("torch").manual_seed(0)
    attention = student.SelfAttention(8)
    attention.eval()
    gen = torch.Generator().manual_seed(31)
    x = torch.randn(*((2, 6, 8) if form == SEQUENCE else (6, 8)), generator=gen)
    changed = x.clone()
    first = (0, 0) if form == SEQUENCE else 0         # the first position of sample 0, or the first row
    changed[first] = changed[first] * -3.0 + 1.0
    a = _array(_first(attention(x)), "SelfAttention(8)")
    b = _array(_first(attention(changed)), "SelfAttention(8)")
    assert a.shape == b.shape == tuple(x.shape), "SelfAttention(8) returned the wrong shape"
    if form == SEQUENCE:
        assert not np.allclose(a[0, 1:], b[0, 1:], atol=1e-6), (
            "changing the first position of a sample did not change the outputs at its other positions: "
            "self-attention should mix the positions (softmax(Q K^T / sqrt(d)) V over the sequence axis)")
        assert np.allclose(a[1], b[1], atol=1e-5), (
            "changing a position of one sample changed the output of another sample: on (N, seq, features) "
            "the positions of each sample attend to each other only (torch.bmm, or K.transpose(1, 2))")
    else:
        assert not np.allclose(a[1:], b[1:], atol=1e-6), (
            "changing the first row of the batch did not change the outputs of the other rows: on "
            "(batch, features) the rows attend to each other (softmax(Q @ K.T / sqrt(d)) @ V)")


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------

def test_residual_block_shapes(student, remote):
    remote("torch").manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    for n_in, n_out in [(16, 16), (16, 32), (32, 8)]:
        block = student.ResidualBlock(n_in, n_out)
        x = torch.randn(8, n_in, generator=gen)
        kind = "identity shortcut" if n_in == n_out else "projection shortcut"
        for mode in ("train", "eval"):
            getattr(block, mode)()
            _shape_check(block, x, (8, n_out),
                         f"ResidualBlock({n_in}, {n_out}) ({kind}, {mode} mode) on a (8, {n_in}) batch")
        _computes(remote, block, x, f"ResidualBlock({n_in}, {n_out})")


def test_self_attention_shape(student, remote, note):
    """SelfAttention(F) on (N, seq, F) or, as the course writes it, on (batch, F): the output has
    the input's shape, is computed from the input and the layer's weights, and is softmax
    attention (checked against softmax(Q K^T / sqrt(d)) V from the layer's own query, key and
    value layers, or by a property of the softmax weights when their names do not say)."""
    forms = _attention_forms(student)
    _in_some_form(forms, lambda form, notes: _attention_checks(student, remote, form, notes), note)


def test_multipath_block_shape(student, remote):
    remote("torch").manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    for features in (16, 10, 64):
        block = student.MultiPathBlock(features)
        x = torch.randn(8, features, generator=gen)
        block.train()
        _shape_check(block, x, (8, features), f"MultiPathBlock({features}) (train mode) on a (8, {features}) batch")
        block.eval()
        _shape_check(block, x, (8, features), f"MultiPathBlock({features}) (eval mode) on a (8, {features}) batch")
        _computes(remote, block, x, f"MultiPathBlock({features})")


def test_advanced_network_shape(student, remote):
    remote("torch").manual_seed(0)
    gen = torch.Generator().manual_seed(3)
    for n_in, n_out in [(784, 10), (20, 3)]:
        net = student.AdvancedNetwork(n_in, n_out)
        x = torch.randn(8, n_in, generator=gen)
        net.train()
        _shape_check(net, x, (8, n_out), f"AdvancedNetwork({n_in}, {n_out}) (train mode) on a (8, {n_in}) batch")
        net.eval()
        _shape_check(net, x, (8, n_out), f"AdvancedNetwork({n_in}, {n_out}) (eval mode) on a (8, {n_in}) batch")
        _computes(remote, net, x, f"AdvancedNetwork({n_in}, {n_out})")


def test_regularized_mlp_shape(student, remote):
    remote("torch").manual_seed(0)
    gen = torch.Generator().manual_seed(4)
    for n_in, hidden, n_out, rate in [(784, [128, 64], 10, 0.5), (20, [32], 3, 0.2), (12, [16, 16, 8], 4, 0.1)]:
        model = student.RegularizedMLP(n_in, hidden, n_out, dropout_rate=rate)
        x = torch.randn(8, n_in, generator=gen)
        what = f"RegularizedMLP({n_in}, {hidden}, {n_out}, dropout_rate={rate})"
        model.train()
        _shape_check(model, x, (8, n_out), f"{what} (train mode) on a (8, {n_in}) batch")
        model.eval()
        _shape_check(model, x, (8, n_out), f"{what} (eval mode) on a (8, {n_in}) batch")
        _computes(remote, model, x, what)


# ---------------------------------------------------------------------------
# Residual skip path, dropout
# ---------------------------------------------------------------------------

def test_residual_skip_path_gradient(student, remote):
    """With every weight and bias of a ResidualBlock(16, 16) set to zero the body outputs zero, so
    whatever gradient reaches the input has come through the identity shortcut."""
    torch_ = remote("torch")
    torch_.manual_seed(0)
    block = student.ResidualBlock(16, 16)
    # as initialised, the body takes part: a gradient of the output reaches its parameters
    parameters_used(remote, block, torch.randn(8, 16, generator=torch.Generator().manual_seed(4)),
                    "ResidualBlock(16, 16)")
    block.eval()
    zeroed = {}
    for name, value in block.state_dict().items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and "running_var" not in name:
            zeroed[name] = torch.zeros_like(value)
        else:
            zeroed[name] = value
    block.load_state_dict(zeroed)

    x_local = torch.randn(8, 16, generator=torch.Generator().manual_seed(5))
    x = by_ref(torch_.as_tensor, x_local)
    by_ref(x.requires_grad_)
    out = by_ref(block, x)
    total = by_ref(out.sum)
    total.backward()
    grad = x.grad
    assert grad is not None, "no gradient reached the block's input"
    grad = _array(grad, "the input's gradient")
    assert grad.shape == (8, 16)
    assert np.all(np.isfinite(grad)), "the input's gradient has nan or inf"
    positive = x_local.numpy() > 0
    assert np.abs(grad).sum() > 0, (
        "with all the block's weights set to zero, no gradient reached the input: when in_features == "
        "out_features the shortcut should be the identity, adding x unchanged to the body's output")
    assert np.all(np.abs(grad[positive]) > 0.5), (
        "with all the block's weights set to zero, the gradient that reaches the input through the "
        "shortcut is too small where the output is positive: the identity shortcut should pass the "
        "gradient unchanged (out = activation(body(x) + x))")


def test_dropout_train_vs_eval(student, remote):
    remote("torch").manual_seed(0)
    model = student.RegularizedMLP(20, [64, 64], 5, dropout_rate=0.5)
    x = torch.randn(32, 20, generator=torch.Generator().manual_seed(6))
    model.train()
    a, b = _array(model(x), "train-mode output"), _array(model(x), "train-mode output")
    assert not np.allclose(a, b), (
        "in train() mode two forward passes on the same batch gave the same output: dropout should "
        "zero a different random subset of units on every pass (is nn.Dropout in the network, "
        "and is the dropout_rate argument used?)")
    model.eval()
    c, d = _array(model(x), "eval-mode output"), _array(model(x), "eval-mode output")
    assert np.array_equal(c, d), (
        "in eval() mode two forward passes on the same batch gave different outputs: dropout must be "
        "off in evaluation (use nn.Dropout, which follows model.train()/model.eval())")


# ---------------------------------------------------------------------------
# Early stopping
# ---------------------------------------------------------------------------

def _stop_flags(student, remote, losses, **kwargs):
    stopper = call_optional(student.EarlyStopping, optional=QUIET, **kwargs)
    model = remote("torch").nn.Linear(4, 2)
    flags = []
    for loss in losses:
        stopper(loss, model)
        flags.append(bool(stopper.early_stop))
    return flags


def _describe(losses, kwargs):
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "default patience"
    return f"EarlyStopping({args}) fed validation losses {losses}"


def test_early_stopping_patience(student, remote):
    cases = [
        # (kwargs, losses, index of the call after which early_stop must be True)
        ({"patience": 3}, [1.0, 0.8, 0.9, 0.85, 0.82], 4),
        ({"patience": 3}, [1.0, 1.1, 1.2, 0.9, 1.0, 0.95, 0.93], 6),   # the counter resets on improvement
        ({}, [1.0, 1.1, 1.05, 1.2, 1.01, 1.3], 5),                      # default patience = 5
        ({"patience": 1}, [0.5, 0.4, 0.45], 2),
        ({"patience": 2, "min_delta": 0.1}, [1.0, 0.95, 0.97], 2),      # improvements below min_delta don't count
        ({"patience": 2, "min_delta": 0.1}, [1.0, 0.85, 0.8, 0.78], 3),
    ]
    for kwargs, losses, stop_at in cases:
        flags = _stop_flags(student, remote, losses, **kwargs)
        expected = [i >= stop_at for i in range(len(losses))]
        if flags != expected:
            first = flags.index(True) if True in flags else None
            when = "never set early_stop" if first is None else f"set early_stop after call {first + 1}"
            raise AssertionError(
                f"{_describe(losses, kwargs)} {when}; it should be set after call {stop_at + 1}, i.e. after "
                f"exactly `patience` calls without an improvement (by more than min_delta) over the best loss")


def test_early_stopping_keeps_best_state(student, remote, note):
    """The stopper is fed five epochs; the model holds different weights at each. The best state
    (epoch 3) must be kept (a copy in an attribute or a file) or restored into the model."""
    torch_ = remote("torch")
    model = torch_.nn.Linear(4, 2)
    before = _files(remote)
    stopper = call_optional(student.EarlyStopping, patience=2, optional=QUIET)
    losses = [1.0, 0.7, 0.5, 0.6, 0.65]
    best = 2

    def weights(i):
        return {"weight": torch.full((2, 4), float(i + 1)), "bias": torch.full((2,), -float(i + 1))}

    for i, loss in enumerate(losses):
        model.load_state_dict(weights(i))
        stopper(loss, model)
    assert bool(stopper.early_stop), (
        f"EarlyStopping(patience=2) fed validation losses {losses} did not set early_stop")

    expected = {k: v.double().numpy() for k, v in weights(best).items()}
    found = [("restored into the model", _state(model))]
    attributes = remote("builtins").vars(stopper)
    for name, value in attributes.items():                            # a copy or a path in an attribute
        found.extend((f"kept in the attribute `{name}`", state) for state in _candidate_states(value, remote))
    for path in _changed(before, _files(remote)):                     # a file it wrote
        found.extend((f"saved to the file {path[2:]}", state) for state in _candidate_states(path, remote))
    for name in ("restore", "restore_best", "restore_best_weights", "load_best", "load_best_model",
                 "load_best_weights", "load_checkpoint"):              # a method that restores it
        method = _try(getattr, stopper, name)
        if isinstance(method, Remote):
            fresh = torch_.nn.Linear(4, 2)
            if _try(method, fresh) is not FAILED:
                found.append((f"restored by the method `{name}(model)`", _state(fresh)))

    matches = [(how, s) for how, s in found if {"weight", "bias"} <= s.keys()
               and all(s[k].shape == expected[k].shape for k in expected)]
    for how, s in matches:
        if all(np.allclose(s[k], expected[k]) for k in expected):
            note(f"the best state was found {how}")
            return
    latest = {k: v.double().numpy() for k, v in weights(len(losses) - 1).items()}
    if any(all(np.allclose(s[k], latest[k]) for k in latest) for _, s in matches[1:]):
        raise AssertionError(
            "EarlyStopping kept a state, but it holds the latest weights, not the best ones: "
            "model.state_dict() shares memory with the model, so keep a copy "
            "(copy.deepcopy(model.state_dict())) when the validation loss improves")
    raise AssertionError(
        "after early stopping, the best model's state (from the epoch with the lowest validation loss) was "
        "found neither in the model, nor in an attribute of the EarlyStopping object (a copy of the "
        "state_dict), nor in a checkpoint file it wrote")


# ---------------------------------------------------------------------------
# Checkpointing
# ---------------------------------------------------------------------------

def test_checkpoint_written_and_reloadable(student, remote, device, rng, note):
    torch_ = remote("torch")
    x, y = _toy_classification(rng, 256)
    train_loader, val_loader = _loaders(remote, x, y, seed=7)
    torch_.manual_seed(7)
    model = student.RegularizedMLP(20, [32], 3, dropout_rate=0.1).to(device)
    initial = _state(model)
    keys = set(initial)
    before = _files(remote)
    student.train_with_checkpointing(model, train_loader, val_loader, epochs=3, lr=0.01)
    written = _changed(before, _files(remote))
    assert written, "train_with_checkpointing did not write any file under the working directory"

    checkpoints = []
    for path in written:
        for state in _candidate_states(path, remote):
            if set(state) == keys:
                checkpoints.append((path, state))
    assert checkpoints, (
        f"train_with_checkpointing wrote {', '.join(p[2:] if p.startswith('./') else p for p in written)}, but "
        "torch.load of it gives no state_dict of the model (save model.state_dict(), or a dict holding it "
        "under a key such as 'model_state_dict')")

    for path, state in checkpoints:
        torch_.manual_seed(8)
        fresh = student.RegularizedMLP(20, [32], 3, dropout_rate=0.1)
        loaded = _try(fresh.load_state_dict, {k: torch.from_numpy(v).float() for k, v in state.items()}
                      | {k: v for k, v in fresh.state_dict().items() if k not in state})
        if loaded is FAILED:
            continue
        if _same(_state(fresh), state) and not _same(state, initial):
            note(f"checkpoint found: {path[2:] if path.startswith('./') else path}")
            return
    raise AssertionError(
        "the checkpoint train_with_checkpointing saved does not hold trained weights that load back "
        "into a fresh RegularizedMLP of the same shape with load_state_dict")


# ---------------------------------------------------------------------------
# CustomLoss
# ---------------------------------------------------------------------------

def _custom_loss_problem(torch_):
    torch_.manual_seed(11)
    model = torch_.nn.Sequential(torch_.nn.Linear(6, 5), torch_.nn.ReLU(), torch_.nn.Linear(5, 4))
    gen = torch.Generator().manual_seed(12)
    output = torch.randn(10, 4, generator=gen) * 2
    target = torch.randint(0, 4, (10,), generator=gen)
    return model, output, target


# The penalty may be L2 (sum of squares, the reference) or L1 (sum of absolute values: the
# course's own example sums torch.norm(param, 1)); each test says which one it found.
PENALTIES = {
    "L2": lambda p: (p ** 2).sum(),
    "L1": lambda p: p.abs().sum(),
}
PENALTY_NOTES = {"L2": "L2 penalty: the sum of the squared parameters", "L1": "L1 penalty (accepted)"}
PENALTY_WORDS = "the sum of the squares (L2) or of the absolute values (L1) of all model.parameters()"


def _penalty_hint(got, ce, wd, params):
    """What a wrong CustomLoss value looks like it computed (the first match), or ""."""
    def close(value):
        return math.isclose(got, value, rel_tol=1e-5, abs_tol=1e-7)

    totals = {name: float(sum(f(p) for p in params)) for name, f in PENALTIES.items()}
    weights_only = {name: float(sum(f(p) for p in params if p.dim() > 1)) for name, f in PENALTIES.items()}
    if close(ce):
        return ": the weight_decay term is missing"
    if any(close(ce + 0.5 * wd * t) for t in totals.values()):
        return ": drop the 1/2 factor (the contract's formula is weight_decay * penalty)"
    if wd != 1 and any(close(ce + t) for t in totals.values()):
        return ": multiply the penalty by weight_decay"
    if any(close(ce - wd * t) for t in totals.values()):
        return ": add the penalty to the cross-entropy, do not subtract it"
    if close(ce + wd * math.sqrt(totals["L2"])) or close(ce + wd * float(sum(p.norm() for p in params))):
        return (": that is the L2 norm, not squared: use the sum of the squared parameters (L2) or the sum of "
                "their absolute values (L1, torch.norm(param, 1)), not the norm")
    if wd > 0 and any(close(ce + wd * t) for t in weights_only.values()):
        return ": include every parameter (the biases too)"
    return ""


def test_custom_loss_value(student, remote, note):
    model, output, target = _custom_loss_problem(remote("torch"))
    params = [v.double() for v in model.state_dict().values()]    # this model has no buffers
    ce = float(F.cross_entropy(output.double(), target))
    totals = {name: float(sum(f(p) for p in params)) for name, f in PENALTIES.items()}
    got = {wd: _number(student.CustomLoss(wd)(output, target, model), f"CustomLoss({wd})(output, target, model)")
           for wd in (0.0, 0.01, 0.3)}
    for name, total in totals.items():
        if all(math.isclose(value, ce + wd * total, rel_tol=1e-5, abs_tol=1e-6) for wd, value in got.items()):
            note(PENALTY_NOTES[name])
            return
    wd, value = next((wd, value) for wd, value in got.items()
                     if not any(math.isclose(value, ce + wd * t, rel_tol=1e-5, abs_tol=1e-6) for t in totals.values()))
    raise AssertionError(
        f"CustomLoss({wd}) does not equal cross-entropy(output, target) + weight_decay * penalty, the penalty being "
        f"{PENALTY_WORDS}{_penalty_hint(value, ce, wd, params)}")


def test_custom_loss_backpropagates(student, remote, note):
    """The loss is a tensor in the autograd graph: backward() gives the model's parameters the
    gradient of cross-entropy + weight_decay * penalty (L2 or L1, whichever it matches)."""
    torch_ = remote("torch")
    torch_.manual_seed(14)
    model = torch_.nn.Linear(6, 4)
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(10, 6, generator=gen)
    target = torch.randint(0, 4, (10,), generator=gen)
    wd = 0.05
    out = by_ref(model, x)
    loss = by_ref(student.CustomLoss(wd), out, target, model)
    backward = _try(getattr, loss, "backward")
    assert backward is not FAILED and callable(backward), (
        "CustomLoss returned something without .backward(): return the loss as a tensor (no .item())")
    backward()
    got = {}
    for name in ("weight", "bias"):
        grad = remote("operator").attrgetter(f"{name}.grad")(model)
        assert grad is not None, f"after loss.backward() the model's {name} has no gradient"
        got[name] = _array(grad, f"the {name} gradient")
    expected = {}
    for penalty, f in PENALTIES.items():
        state = {k: v.double().clone().requires_grad_() for k, v in model.state_dict().items()}
        reference = (F.cross_entropy(x.double() @ state["weight"].T + state["bias"], target)
                     + wd * sum(f(p) for p in state.values()))
        reference.backward()
        expected[penalty] = {k: v.grad.numpy() for k, v in state.items()}
    for name in got:
        assert got[name].shape == expected["L2"][name].shape, (
            f"after CustomLoss(...).backward() the {name} gradient has shape {got[name].shape}, expected "
            f"{expected['L2'][name].shape}")
    for penalty, grads in expected.items():
        if all(np.allclose(got[name], grads[name], rtol=1e-4, atol=1e-6) for name in got):
            note(PENALTY_NOTES[penalty])
            return
    wrong = next((name for name in got if not any(np.allclose(got[name], grads[name], rtol=1e-4, atol=1e-6)
                                                  for grads in expected.values())), "weight")
    raise AssertionError(
        f"after CustomLoss(...).backward() the {wrong} gradient is not the gradient of cross-entropy + "
        f"weight_decay * penalty, the penalty being {PENALTY_WORDS} (is the penalty computed from the "
        f"parameters themselves, as tensors, without .item() or .detach()?)")


# ---------------------------------------------------------------------------
# Learning-rate scheduler
# ---------------------------------------------------------------------------

def _scheduler_parameter(student, remote):
    """The names of train_model's scheduler and optimizer parameters (None when absent)."""
    names = (signature(student.train_model) or {}).get("parameters", [])
    scheduler = next((n for n in names if n == "scheduler"), None) or next((n for n in names if "sched" in n), None)
    optimizer = next((n for n in names if n in ("optimizer", "optim", "opt")), None)
    return scheduler, optimizer


def test_scheduler_honoured(student, remote, device, rng, note):
    """StepLR(step_size=1, gamma=0) sets the learning rate to 0 after its first step: if
    train_model steps the scheduler it is given, training for 3 epochs leaves the weights where
    1 epoch left them (and 3 epochs without it do not)."""
    torch_ = remote("torch")
    scheduler_name, optimizer_name = _scheduler_parameter(student, remote)
    assert scheduler_name is not None, (
        "train_model has no `scheduler` parameter: add scheduler=None, a function that takes the optimizer "
        "and returns a learning-rate scheduler (see the notebook), and step it once per epoch")
    if optimizer_name is not None:
        note(f"train_model takes `{optimizer_name}=` and `{scheduler_name}=`: the test passes an Adam optimizer "
             f"and a StepLR scheduler built on it (accepted)")
    else:
        note(f"train_model takes `{scheduler_name}=`: the test passes a function optimizer -> StepLR")
    x, y = _toy_classification(rng, 256)
    step_lr = remote("torch.optim.lr_scheduler").StepLR

    def run(epochs, with_scheduler):
        torch_.manual_seed(21)
        model = torch_.nn.Linear(20, 3).to(device)
        train_loader, val_loader = _loaders(remote, x, y, seed=21)
        kwargs = {}
        if with_scheduler and optimizer_name is not None:
            optimizer = torch_.optim.Adam(model.parameters(), lr=0.01)
            kwargs = {optimizer_name: optimizer, scheduler_name: step_lr(optimizer, step_size=1, gamma=0.0)}
        elif with_scheduler:
            kwargs = {scheduler_name: remote("functools").partial(step_lr, step_size=1, gamma=0.0)}
        start = _params(model, remote)
        student.train_model(model, train_loader, val_loader, epochs=epochs, lr=0.01, **kwargs)
        return start, _params(model, remote)

    start, plain_1 = run(1, False)
    _, plain_3 = run(3, False)
    assert not _same(plain_1, plain_3, atol=1e-7), (
        "train_model(..., epochs=3) left the same weights as epochs=1: does it train for `epochs` epochs?")
    start, sched_1 = run(1, True)
    _, sched_3 = run(3, True)
    assert not _same(start, sched_1, atol=1e-7), (
        "with the scheduler, train_model did not change the weights in its first epoch: step the "
        "scheduler after the epoch's optimizer steps, not before them")
    assert _same(sched_1, sched_3, atol=1e-6), (
        "a StepLR(step_size=1, gamma=0) scheduler passed to train_model should set the learning rate to 0 "
        "after the first epoch, but the weights kept changing: call scheduler.step() once per epoch")


# ---------------------------------------------------------------------------
# Challenge
# ---------------------------------------------------------------------------

def test_self_attention_mixes_positions(student, remote, note):
    """Each output mixes the inputs it attends over: on (N, seq, F), changing one position of a
    sample changes the outputs at its other positions (and not those of another sample); on
    (batch, F), the course's form, changing one row changes the other rows' outputs."""
    forms = _attention_forms(student)
    _in_some_form(forms, lambda form, notes: _mixes(student, remote, form, notes), note)


# ---------------------------------------------------------------------------
# Fashion-MNIST accuracy threshold (last: the only slow test)
# ---------------------------------------------------------------------------

def test_fashion_mnist_accuracy(student, remote, device, datasets, seeds):
    # the seed sets the model's initial weights and the loader's shuffling (and the sandbox's seeds)
    robust_threshold(
        lambda seed: fashion_accuracy(student, remote, datasets["fashion-mnist"], seed=seed, device=device),
        FASHION_THRESHOLD, seeds, what="held-out accuracy",
        failure=(f"RegularizedMLP(784, {FASHION_HIDDEN}, 10, dropout_rate={FASHION_DROPOUT}) trained by your "
                 f"train_model (epochs={FASHION_EPOCHS}, lr={FASHION_LR}, batches of {FASHION_BATCH}, pixels in "
                 "[0, 1]) on Fashion-MNIST"))
