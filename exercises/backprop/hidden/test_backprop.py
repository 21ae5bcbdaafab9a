"""Hidden suite for the `backprop` exercise (CONTRACT.md, section 3).

The student's module is reached only through the `student` fixture (a proxy to a sandboxed
process). Everything crosses by value: arrays, numbers, tuples, lists, dicts with str keys.
All expected values are computed here, in float64, with the suite's own forward pass, loss and
gradients; the student's forward pass and loss are never used to judge the backward pass.

Data is column-major: X (n_input, m), Y (1, m); parameters dict W1 (n_hidden, n_input),
b1 (n_hidden, 1), W2 (1, n_hidden), b2 (1, 1).
"""

import numpy as np

from grader.harness.client import call_optional
from grader.suitekit import array as _array, number as _number, rel_err as _rel_diff, sigmoid as _sigmoid

PARAM_KEYS = ("W1", "b1", "W2", "b2")
GRAD_KEYS = ("dW1", "db1", "dW2", "db2")

# Gradient check of the student's backward pass (central differences done here).
GRADCHECK_EPS = 1e-6
GRADCHECK_TOL = 1e-7
KINK_MARGIN = 1e-3        # |Z1| stays this far from the ReLU kink, so finite differences are exact

# XOR: best of 3 runs; widths vary so the runs differ even when the student's
# initialize_parameters seeds numpy itself (the course's own notebook calls np.random.seed(42)).
# Measured on the reference with He, 0.01*randn, N(0,1), Xavier and U(-1,1) inits:
# per-run failure 0-1.5% at 16 units, 0/200 at 24 and 32 units (lr 0.5, 2000-3000 iterations).
XOR_WIDTHS = (16, 24, 32)
XOR_LR = 0.5
XOR_ITERATIONS = 3000


# ---------------------------------------------------------------------------
# The suite's own network (float64)
# ---------------------------------------------------------------------------

def _forward(X, p):
    W1 = np.asarray(p["W1"], dtype=float)
    b1 = np.asarray(p["b1"], dtype=float).reshape(-1, 1)
    W2 = np.asarray(p["W2"], dtype=float)
    b2 = np.asarray(p["b2"], dtype=float).reshape(-1, 1)
    Z1 = W1 @ X + b1
    A1 = np.maximum(0.0, Z1)
    Z2 = W2 @ A1 + b2
    A2 = _sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def _loss(X, Y, p):
    """Mean binary cross-entropy, computed stably from the logits:
    -[y log(sigmoid(z)) + (1 - y) log(1 - sigmoid(z))] = log(1 + e^z) - y z."""
    _, c = _forward(X, p)
    Z2 = c["Z2"]
    return float(np.mean(np.logaddexp(0.0, Z2) - Y * Z2))


def _analytic_grads(X, Y, p):
    m = X.shape[1]
    _, c = _forward(X, p)
    dZ2 = c["A2"] - Y
    dA1 = p["W2"].T @ dZ2
    dZ1 = dA1 * (c["Z1"] > 0)
    return {
        "dW1": dZ1 @ X.T / m,
        "db1": dZ1.sum(axis=1, keepdims=True) / m,
        "dW2": dZ2 @ c["A1"].T / m,
        "db2": dZ2.sum(axis=1, keepdims=True) / m,
    }


def _numeric_grads(X, Y, p, eps=GRADCHECK_EPS):
    grads = {}
    for k in PARAM_KEYS:
        g = np.zeros_like(p[k])
        for idx in np.ndindex(p[k].shape):
            plus = {kk: vv.copy() for kk, vv in p.items()}
            minus = {kk: vv.copy() for kk, vv in p.items()}
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (_loss(X, Y, plus) - _loss(X, Y, minus)) / (2 * eps)
        grads["d" + k] = g
    return grads


def _vec(grads):
    return np.concatenate([np.ravel(grads[k]) for k in GRAD_KEYS])


def _random_problem(rng, n_in, n_hidden, m):
    """A small random network and batch, away from the ReLU kink, with live hidden units,
    unsaturated outputs, both classes present and a gradient that is not tiny."""
    for _ in range(1000):
        X = rng.normal(size=(n_in, m))
        Y = np.zeros((1, m))
        Y[0, rng.permutation(m)[: max(1, m // 2)]] = 1.0
        p = {
            "W1": rng.normal(size=(n_hidden, n_in)) * 0.8,
            "b1": rng.normal(size=(n_hidden, 1)) * 0.3,
            "W2": rng.normal(size=(1, n_hidden)),
            "b2": rng.normal(size=(1, 1)) * 0.3,
        }
        A2, c = _forward(X, p)
        if np.min(np.abs(c["Z1"])) < KINK_MARGIN:
            continue
        if not np.all((c["Z1"] > 0).any(axis=1)):
            continue
        if A2.min() < 0.03 or A2.max() > 0.97:
            continue
        if np.linalg.norm(_vec(_analytic_grads(X, Y, p))) < 0.05:
            continue
        return X, Y, p
    raise RuntimeError("could not draw a well-conditioned test network")  # never happens


# ---------------------------------------------------------------------------
# Reading what the student returned
# ---------------------------------------------------------------------------

def _params_dict(x, what, keys=PARAM_KEYS):
    assert isinstance(x, dict), f"{what} should be a dict with keys {list(keys)}, got {type(x).__name__}"
    missing = [k for k in keys if k not in x]
    assert not missing, f"{what} is missing the key(s) {missing} (it has {sorted(x)})"
    return {k: _array(x[k], f"{what}[{k!r}]") for k in keys}


def _forward_result(out):
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        "forward_propagation should return a tuple (A2, cache), got "
        f"{type(out).__name__}{' of length ' + str(len(out)) if isinstance(out, (tuple, list)) else ''}")
    return out[0], out[1]


def _student_cache(student, X, p):
    """The cache handed to the student's backward_propagation.

    The course's cache is a dict with Z1, A1, Z2, A2: the suite passes its own exact values under
    those keys (keeping any extra keys the student's forward adds), so the backward pass is judged
    on its own even if forward_propagation has a bug. A cache in another format (a tuple, say) is
    passed through as the student's forward returned it."""
    _, own = _forward(X, p)
    out = student.forward_propagation(X, p)
    cache = out[1] if isinstance(out, (tuple, list)) and len(out) == 2 else None
    if isinstance(cache, dict):
        merged = dict(cache)
        merged.update(own)
        return merged
    if cache is None:
        return own
    return cache


def _xor():
    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    return X, Y


def _train_result(out):
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        "train_network should return a tuple (parameters, costs)")
    return out[0], out[1]


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------

def test_relu_values(student, rng):
    z = rng.normal(size=(4, 6)) * 3
    z[0, 0] = 0.0
    out = _array(student.relu(z), "relu(z)")
    assert out.shape == z.shape, f"relu returned shape {out.shape} for an input of shape {z.shape}"
    assert np.allclose(out, np.maximum(0, z)), "relu(z) should be max(0, z), element-wise"


def test_relu_derivative_values(student, rng):
    z = rng.normal(size=(3, 7)) * 3
    z[0, :3] = 0.0
    out = _array(student.relu_derivative(z), "relu_derivative(z)")
    assert out.shape == z.shape, (
        f"relu_derivative returned shape {out.shape} for an input of shape {z.shape}")
    expected = (z > 0).astype(float)
    assert np.array_equal(out[z != 0], expected[z != 0]), (
        "relu_derivative(z) should be 1 where z > 0 and 0 where z < 0")
    assert np.all(out[z == 0] == 0), "relu_derivative(0) should be 0 (the course's convention)"


def test_sigmoid_values_and_stability(student, rng):
    z = rng.normal(size=(2, 9)) * 4
    out = _array(student.sigmoid(z), "sigmoid(z)")
    assert out.shape == z.shape, f"sigmoid returned shape {out.shape} for an input of shape {z.shape}"
    assert np.allclose(out, 1 / (1 + np.exp(-z)), rtol=1e-7, atol=1e-12), (
        "sigmoid(z) should be 1 / (1 + e^-z)")
    big = np.array([[-1000.0, -500.0, 0.0, 500.0, 1000.0]])
    out = _array(student.sigmoid(big), "sigmoid(z)")
    assert np.all(np.isfinite(out)), (
        "sigmoid(+-1000) gave nan or inf: clip z (e.g. to [-500, 500]) before calling np.exp")
    assert abs(out[0, 2] - 0.5) < 1e-12, "sigmoid(0) should be 0.5"
    assert out[0, 0] >= 0 and out[0, 0] < 1e-6, "sigmoid(-1000) should be (almost) 0"
    assert out[0, 4] <= 1 and out[0, 4] > 1 - 1e-6, "sigmoid(1000) should be (almost) 1"


def test_binary_cross_entropy_value(student, rng):
    m = 8
    y_true = np.zeros((1, m))
    y_true[0, rng.permutation(m)[:4]] = 1.0
    y_pred = rng.uniform(0.05, 0.95, size=(1, m))
    expected = -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
    got = _number(student.binary_cross_entropy(y_true, y_pred), "binary_cross_entropy(...)")
    hint = ""
    if np.isclose(got, expected * m, rtol=1e-6):
        hint = " It looks like the sum over the examples: divide by m (take the mean)."
    elif np.isclose(got, -expected, rtol=1e-6):
        hint = " It has the wrong sign: the loss is MINUS the mean log-likelihood."
    assert np.isclose(got, expected, rtol=1e-6, atol=1e-9), (
        f"binary_cross_entropy gave {got:.6f} for a batch of {m} examples, expected "
        f"{expected:.6f} = -(1/m) sum(y log(p) + (1-y) log(1-p)).{hint}")


def test_binary_cross_entropy_clipped(student):
    y_true = np.array([[1.0, 0.0, 1.0, 0.0]])
    wrong = np.array([[0.0, 1.0, 0.0, 1.0]])      # confidently wrong: log(0) without clipping
    right = np.array([[1.0, 0.0, 1.0, 0.0]])      # confidently right: 0 * log(0) = nan without clipping
    got_wrong = _number(student.binary_cross_entropy(y_true, wrong), "binary_cross_entropy(...)")
    got_right = _number(student.binary_cross_entropy(y_true, right), "binary_cross_entropy(...)")
    assert np.isfinite(got_right), (
        f"binary_cross_entropy gave {got_right} when the predictions are exactly 0 or 1 and all "
        "correct: clip y_pred to [epsilon, 1 - epsilon] before taking logs (0 * log(0) is nan)")
    assert np.isfinite(got_wrong), (
        f"binary_cross_entropy gave {got_wrong} when the predictions are exactly 0 or 1 and all "
        "wrong: clip y_pred to [epsilon, 1 - epsilon] before taking logs")
    assert 0 <= got_right < 1e-3, (
        f"binary_cross_entropy gave {got_right} for perfect predictions, expected (almost) 0")
    assert got_wrong > 3, (
        f"binary_cross_entropy gave {got_wrong} for confidently wrong predictions, expected a "
        "large loss (clip with a small epsilon such as 1e-15)")


def test_compute_simple_derivative(student):
    out = student.compute_simple_derivative()
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        "compute_simple_derivative() should return a tuple (f, df_dx)")
    f = _number(out[0], "f")
    df = _number(out[1], "df_dx")
    assert abs(f - 25) < 1e-6, f"f(1) = (3*1 + 2)^2 should be 25, got {f}"
    assert abs(df - 30) < 1e-6, (
        f"df/dx at x = 1 should be 30 (chain rule: 2u * 3 with u = 3x + 2 = 5), got {df}")


# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------

def test_initialize_parameters(student):
    for n_in, n_h, n_out in ((5, 7, 1), (3, 4, 2)):
        p = _params_dict(student.initialize_parameters(n_in, n_h, n_out),
                         f"initialize_parameters({n_in}, {n_h}, {n_out})")
        expected = {"W1": (n_h, n_in), "b1": (n_h, 1), "W2": (n_out, n_h), "b2": (n_out, 1)}
        for k, shape in expected.items():
            assert p[k].shape == shape, (
                f"initialize_parameters({n_in}, {n_h}, {n_out}): {k} has shape {p[k].shape}, "
                f"expected {shape}")
        for k in ("b1", "b2"):
            assert np.all(p[k] == 0), f"the biases should start at zero ({k} is not all zeros)"
    p = _params_dict(student.initialize_parameters(40, 30, 1), "initialize_parameters(40, 30, 1)")
    for k in ("W1", "W2"):
        assert np.all(np.isfinite(p[k])), f"{k} contains nan or inf"
        assert np.std(p[k]) > 0, (
            f"all entries of {k} are equal: initialise weights randomly to break the symmetry")
    # 1200 entries, so the sample spread is tight: 0.01 * randn, He (0.22), Glorot (~0.17) and
    # U(-1, 1) (0.58) pass; unscaled randn (1.0) does not.
    assert np.std(p["W1"]) < 0.75, (
        f"the entries of W1 are too large for 40 inputs (standard deviation "
        f"{np.std(p['W1']):.2f}): scale the random weights down, e.g. np.random.randn(...) * 0.01 "
        "or He initialisation np.random.randn(...) * np.sqrt(2 / n_input)")
    assert len(np.unique(np.round(p["W1"], 12), axis=0)) == 30, (
        "some rows of W1 are identical: those hidden units would stay identical during training")


def test_forward_propagation_shapes(student, rng):
    for n_in, n_h, m in ((2, 4, 4), (3, 8, 1), (5, 6, 11)):
        p = {"W1": rng.normal(size=(n_h, n_in)), "b1": rng.normal(size=(n_h, 1)),
             "W2": rng.normal(size=(1, n_h)), "b2": rng.normal(size=(1, 1))}
        X = rng.normal(size=(n_in, m))
        A2, _ = _forward_result(student.forward_propagation(X, p))
        A2 = _array(A2, "A2")
        assert A2.shape == (1, m), (
            f"with X of shape {X.shape} (n_input, m) and {n_h} hidden units, A2 has shape "
            f"{A2.shape}, expected (1, {m})")
        assert np.allclose(A2, _forward(X, p)[0], rtol=1e-6, atol=1e-9), (
            f"with X of shape {X.shape} and {n_h} hidden units, A2 has the right shape but not the "
            "values of sigmoid(W2 @ relu(W1 @ X + b1) + b2)")


def test_forward_propagation_values(student, rng):
    n_in, n_h, m = 3, 5, 6
    p = {"W1": rng.normal(size=(n_h, n_in)), "b1": rng.normal(size=(n_h, 1)),
         "W2": rng.normal(size=(1, n_h)), "b2": rng.normal(size=(1, 1))}
    X = rng.normal(size=(n_in, m))
    expected_A2, expected = _forward(X, p)
    A2, cache = _forward_result(student.forward_propagation(X, p))
    A2 = _array(A2, "A2")
    assert A2.size == m, f"A2 has {A2.size} values for {m} examples"
    assert np.allclose(A2.reshape(1, m), expected_A2, rtol=1e-6, atol=1e-9), (
        "A2 is not sigmoid(W2 @ relu(W1 @ X + b1) + b2): check the order of the matrix products "
        "(W1 @ X, not X @ W1), the biases and the activations (ReLU hidden, sigmoid output)")
    if isinstance(cache, dict):
        for k in ("Z1", "A1", "Z2", "A2"):
            if k in cache:
                got = _array(cache[k], f"cache[{k!r}]")
                assert got.size == expected[k].size and np.allclose(
                    got.reshape(expected[k].shape), expected[k], rtol=1e-6, atol=1e-9), (
                    f"cache[{k!r}] does not hold {k} of the forward pass")


def test_backward_propagation_gradient_check(student, rng):
    sizes = ((2, 3, 4), (3, 5, 6), (4, 8, 10), (5, 4, 7))
    for n_in, n_h, m in sizes:
        X, Y, p = _random_problem(rng, n_in, n_h, m)
        cache = _student_cache(student, X, p)
        grads = _params_dict(student.backward_propagation(X, Y, cache, p),
                             "backward_propagation(...)", keys=GRAD_KEYS)
        for k in PARAM_KEYS:
            assert grads["d" + k].shape == p[k].shape, (
                f"d{k} has shape {grads['d' + k].shape} but {k} has shape {p[k].shape}: a gradient "
                "has the shape of its parameter (use keepdims=True when summing the biases)")
        numeric = _numeric_grads(X, Y, p)
        diff = _rel_diff(_vec(grads), _vec(numeric))
        if diff < GRADCHECK_TOL:
            continue
        per_key = {k: _rel_diff(grads[k], numeric[k]) for k in GRAD_KEYS}
        bad = [k for k in GRAD_KEYS if per_key[k] > 1e-6]
        hints = []
        if np.allclose(_vec(grads), m * _vec(numeric), rtol=1e-5, atol=1e-12):
            hints.append("your gradients are m times too large: divide by m (the loss is a mean)")
        elif np.allclose(_vec(grads), -_vec(numeric), rtol=1e-5, atol=1e-12):
            hints.append("your gradients have the wrong sign: dZ2 = A2 - Y")
        elif set(bad) <= {"dW1", "db1"}:
            hints.append("the output layer is right but the hidden layer is not: check "
                         "dA1 = W2.T @ dZ2 and dZ1 = dA1 * relu_derivative(Z1)")
        elif set(bad) <= {"dW2", "db2"}:
            hints.append("the output layer is wrong: dZ2 = A2 - Y, dW2 = dZ2 @ A1.T / m, "
                         "db2 = sum(dZ2, axis=1, keepdims=True) / m")
        hint = (" Hint: " + hints[0] + ".") if hints else ""
        report = ", ".join(f"{k} {per_key[k]:.1e}" for k in GRAD_KEYS)
        raise AssertionError(
            f"gradient check failed on a network with {n_in} inputs, {n_h} hidden units and "
            f"{m} examples: relative difference {diff:.2e} between your gradients and central "
            f"differences of the loss (must be < {GRADCHECK_TOL:g}). Per parameter: {report}.{hint}")


def test_update_parameters(student, rng):
    p = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)),
         "W2": rng.normal(size=(1, 4)), "b2": rng.normal(size=(1, 1))}
    g = {"d" + k: rng.normal(size=v.shape) for k, v in p.items()}
    lr = 0.3
    new = _params_dict(student.update_parameters(p, g, lr), "update_parameters(...)")
    for k in PARAM_KEYS:
        expected = p[k] - lr * g["d" + k]
        assert new[k].shape == p[k].shape, f"{k} changed shape from {p[k].shape} to {new[k].shape}"
        hint = ""
        if np.allclose(new[k], p[k] + lr * g["d" + k]):
            hint = " (it moved uphill: subtract the gradient)"
        assert np.allclose(new[k], expected, rtol=1e-9, atol=1e-12), (
            f"{k} should become {k} - learning_rate * d{k}{hint}")


# ---------------------------------------------------------------------------
# Gradient checking
# ---------------------------------------------------------------------------

def _student_difference(student, X, Y, p, grads):
    out = student.gradient_check(X, Y, p, grads)
    if isinstance(out, (tuple, list)):
        assert len(out) >= 1, "gradient_check returned an empty tuple"
        out = out[0]
    return _number(out, "the difference returned by gradient_check")


def test_gradient_check_accepts_correct_gradients(student, rng):
    for n_in, n_h, m in ((3, 4, 5), (2, 5, 6)):
        X, Y, p = _random_problem(rng, n_in, n_h, m)
        grads = _analytic_grads(X, Y, p)
        diff = _student_difference(student, X, Y, p, grads)
        assert np.isfinite(diff) and 0 <= diff < 1e-6, (
            f"given correct gradients, gradient_check reported a difference of {diff:.3g} "
            "(expected < 1e-6). It should be ||grad - num|| / (||grad|| + ||num||) with "
            "num[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps), using the same "
            "parameter order for theta and the gradient vector")
    # a check that accepts right gradients must measure them: wrong ones (m times too large) are not small
    wrong = _student_difference(student, X, Y, p, {k: v * m for k, v in grads.items()})
    assert np.isfinite(wrong) and wrong > 1e-3, (
        f"gradient_check reported a difference of {wrong:.3g} for gradients {m} times too large, as small "
        "as for the correct ones: it must compare the gradients it is given with numerical ones")


def test_gradient_check_flags_wrong_gradients(student, rng):
    X, Y, p = _random_problem(rng, 3, 4, 6)
    good = _analytic_grads(X, Y, p)
    m = X.shape[1]
    _, c = _forward(X, p)
    no_mask = dict(good)                       # forgot relu_derivative in the hidden layer
    no_mask["dW1"] = (p["W2"].T @ (c["A2"] - Y)) @ X.T / m
    no_mask["db1"] = (p["W2"].T @ (c["A2"] - Y)).sum(axis=1, keepdims=True) / m
    wrong_sets = [("every gradient m times too large (a missing 1/m)",
                   {k: v * m for k, v in good.items()})]
    if _rel_diff(_vec(no_mask), _vec(good)) > 0.05:
        wrong_sets.append(("a hidden layer without the ReLU derivative", no_mask))
    right = _student_difference(student, X, Y, p, good)
    assert np.isfinite(right) and 0 <= right < 1e-6, (
        f"given the correct gradients of this network, gradient_check reported a difference of "
        f"{right:.3g} (expected < 1e-6): a check that flags wrong gradients must also accept right ones")
    for label, wrong in wrong_sets:
        diff = _student_difference(student, X, Y, p, wrong)
        assert np.isfinite(diff) and diff > 1e-3, (
            f"given wrong gradients ({label}), gradient_check reported a difference of "
            f"{diff:.3g}; it should be large (> 1e-3). Compare the gradients you are given with "
            "the numerical ones, normalised: ||grad - num|| / (||grad|| + ||num||)")


def test_dict_from_vector(student, rng):
    shapes = {"W1": (4, 3), "b1": (4, 1), "W2": (1, 4), "b2": (1, 1)}
    p = {k: rng.normal(size=s) for k, s in shapes.items()}
    n = sum(int(np.prod(s)) for s in shapes.values())
    theta = rng.normal(size=n)
    # Accepted layouts: keys in the order W1, b1, W2, b2 (the course's) or W1, W2, b1, b2;
    # each parameter flattened row by row (ravel) or column by column.
    layouts = []
    for order in (("W1", "b1", "W2", "b2"), ("W1", "W2", "b1", "b2")):
        for flat in ("C", "F"):
            exp, i = {}, 0
            for k in order:
                size = int(np.prod(shapes[k]))
                exp[k] = theta[i:i + size].reshape(shapes[k], order=flat)
                i += size
            layouts.append(exp)
    got = _params_dict(student.dict_from_vector(theta, p), "dict_from_vector(theta, parameters)")
    for k in PARAM_KEYS:
        assert got[k].shape == shapes[k], (
            f"dict_from_vector: {k} has shape {got[k].shape}, expected {shapes[k]} (the shape of "
            f"parameters[{k!r}])")
    assert any(all(np.allclose(got[k], exp[k]) for k in PARAM_KEYS) for exp in layouts), (
        "dict_from_vector(theta, parameters) should cut theta into W1, b1, W2, b2 (in that "
        "order) and reshape each piece to the shape of the matching parameter")


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

def test_training_lowers_loss(student, rng):
    m = 40
    Y = np.zeros((1, m))
    Y[0, m // 2:] = 1.0
    X = rng.normal(scale=0.7, size=(2, m)) + np.where(Y > 0, 1.0, -1.0)
    params, costs = _train_result(call_optional(
        student.train_network, X, Y, n_hidden=8, learning_rate=0.5, num_iterations=2000,
        optional={"print_cost": True}))
    costs = _array(costs, "costs").ravel()
    assert costs.size >= 2, (
        f"train_network returned {costs.size} cost(s) for 2000 iterations; record the cost "
        "regularly (e.g. every 100 iterations) in the costs list")
    assert np.all(np.isfinite(costs)), "the costs list contains nan or inf"
    assert costs[-1] < costs[0], (
        f"the cost did not go down: first recorded {costs[0]:.4f}, last {costs[-1]:.4f} "
        "(2-D blobs, 8 hidden units, learning_rate 0.5, 2000 iterations)")
    p = _params_dict(params, "the parameters returned by train_network")
    final = _loss(X, Y, p)
    assert np.isfinite(final) and final < 0.5, (
        f"after training on two well-separated blobs the loss of the returned parameters is "
        f"{final:.4f} (expected < 0.5): the returned parameters have not learned")


def test_train_network_solves_xor(student):
    X, Y = _xor()
    results = []
    for n_hidden in XOR_WIDTHS:
        params, _ = _train_result(call_optional(
            student.train_network, X, Y, n_hidden=n_hidden, learning_rate=XOR_LR,
            num_iterations=XOR_ITERATIONS, optional={"print_cost": False}))
        p = _params_dict(params, "the parameters returned by train_network")
        A2, _ = _forward(X, p)
        correct = int(np.sum((A2 > 0.5) == (Y > 0.5)))
        results.append(f"{n_hidden} hidden units: {correct}/4")
        if correct == 4:
            return
    raise AssertionError(
        f"train_network did not learn XOR in any of {len(XOR_WIDTHS)} runs "
        f"(learning_rate={XOR_LR}, num_iterations={XOR_ITERATIONS}): " + "; ".join(results)
        + ". Predictions use your returned parameters with threshold 0.5.")


# ---------------------------------------------------------------------------
# Challenge (bonus)
# ---------------------------------------------------------------------------

def _optimizer_state(rng):
    p = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=(3, 1)),
         "W2": rng.normal(size=(1, 3)), "b2": rng.normal(size=(1, 1))}
    # gradients of magnitude 0.2..2, so where epsilon sits (inside or outside the sqrt) is moot
    g = {"d" + k: rng.choice([-1.0, 1.0], size=v.shape) * rng.uniform(0.2, 2.0, size=v.shape)
         for k, v in p.items()}
    return p, g


def test_momentum_step(student, rng):
    p, g = _optimizer_state(rng)
    v = {k: rng.normal(size=val.shape) * 0.5 for k, val in g.items()}
    beta, lr = 0.8, 0.05
    out = student.update_parameters_with_momentum(p, g, v, beta=beta, learning_rate=lr)
    assert isinstance(out, (tuple, list)) and len(out) >= 2, (
        "update_parameters_with_momentum should return a tuple (parameters, v)")
    new_p = _params_dict(out[0], "the parameters returned by update_parameters_with_momentum")
    new_v = _params_dict(out[1], "the velocity returned by update_parameters_with_momentum",
                         keys=GRAD_KEYS)
    # Accepted: the course's exponentially weighted average v = beta v + (1 - beta) g, and the
    # classical heavy-ball form v = beta v + g; in both, parameter = parameter - lr * v.
    variants = {
        "v = beta*v + (1-beta)*g": {k: beta * v[k] + (1 - beta) * g[k] for k in GRAD_KEYS},
        "v = beta*v + g": {k: beta * v[k] + g[k] for k in GRAD_KEYS},
    }
    ok = False
    for exp_v in variants.values():
        if all(np.allclose(new_v[k], exp_v[k], rtol=1e-7, atol=1e-10) for k in GRAD_KEYS) and all(
                np.allclose(new_p[k], p[k] - lr * exp_v["d" + k], rtol=1e-7, atol=1e-10)
                for k in PARAM_KEYS):
            ok = True
    assert ok, (
        "one momentum step (beta=0.8, learning_rate=0.05, a non-zero velocity) does not match "
        "v = beta * v + (1 - beta) * grad, parameter = parameter - learning_rate * v, applied to "
        "every parameter with the velocity keyed dW1, db1, dW2, db2")


def test_adam_step(student, rng):
    beta1, beta2, lr = 0.8, 0.99, 0.02
    for t, fresh in ((1, True), (3, False)):
        p, g = _optimizer_state(rng)
        if fresh:
            m = {k: np.zeros_like(val) for k, val in g.items()}
            v = {k: np.zeros_like(val) for k, val in g.items()}
        else:
            m = {k: rng.normal(size=val.shape) * 0.5 for k, val in g.items()}
            v = {k: rng.uniform(0.2, 1.0, size=val.shape) for k, val in g.items()}
        out = student.update_parameters_with_adam(p, g, m, v, t, learning_rate=lr,
                                                  beta1=beta1, beta2=beta2)
        assert isinstance(out, (tuple, list)) and len(out) >= 3, (
            "update_parameters_with_adam should return a tuple (parameters, m, v)")
        new_p = _params_dict(out[0], "the parameters returned by update_parameters_with_adam")
        new_m = _params_dict(out[1], "m returned by update_parameters_with_adam", keys=GRAD_KEYS)
        new_v = _params_dict(out[2], "v returned by update_parameters_with_adam", keys=GRAD_KEYS)
        state = "a fresh (zero) state at t=1" if fresh else "a non-zero state at t=3"
        for k in PARAM_KEYS:
            gk = "d" + k
            exp_m = beta1 * m[gk] + (1 - beta1) * g[gk]
            exp_v = beta2 * v[gk] + (1 - beta2) * g[gk] ** 2
            assert np.allclose(new_m[gk], exp_m, rtol=1e-7, atol=1e-10), (
                f"Adam, {state}: m[{gk!r}] should be beta1 * m + (1 - beta1) * grad")
            assert np.allclose(new_v[gk], exp_v, rtol=1e-7, atol=1e-10), (
                f"Adam, {state}: v[{gk!r}] should be beta2 * v + (1 - beta2) * grad**2")
            m_hat = exp_m / (1 - beta1 ** t)
            v_hat = exp_v / (1 - beta2 ** t)
            exp_p = p[k] - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
            assert np.allclose(new_p[k], exp_p, rtol=1e-6, atol=1e-7), (
                f"Adam, {state}: {k} should move by -learning_rate * m_hat / (sqrt(v_hat) + eps) "
                "with the bias corrections m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t) "
                "(t is the step number you are given)")
