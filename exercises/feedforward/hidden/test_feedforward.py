"""Hidden suite for the `feedforward` exercise (CONTRACT.md section 2).

Column-major data: X has shape (n_input, m). The suite reaches the submission only through the
`student` fixture; it sets the network's weights by attribute assignment (net.W1 = ...) and computes
every expected value itself, with numpy.

Variants accepted (CONTRACT.md): `forward` may return `(A2, cache)` (cache keys Z1, A1, Z2, A2) or a
bare `A2`; `hidden_activation` may be a name ('relu', 'sigmoid', 'tanh') or a function;
`NeuralNetwork` also takes `n_output=1`. For the optional DeepNeuralNetwork the contract names no
hidden activation: ReLU, tanh and sigmoid hidden layers (sigmoid output) are all accepted.
"""
import numpy as np

from grader.suitekit import array, check_elementwise, max_diff, sigmoid as _sigmoid, softmax

ATOL = 1e-6

X_XOR = np.array([[0.0, 0.0, 1.0, 1.0],
                  [0.0, 1.0, 0.0, 1.0]])   # the four XOR points, one per column
Y_XOR = np.array([0, 1, 1, 0])


# ---------------------------------------------------------------------------
# helpers (all computation on the suite's side)
# ---------------------------------------------------------------------------

def _relu(z):
    return np.maximum(0.0, z)


HIDDEN = {"relu": _relu, "sigmoid": _sigmoid, "tanh": np.tanh}


def _as_array(value, what):
    return array(value, what)


def _forward(net, X, what="forward"):
    """(A2, cache) from the student's forward; cache is None when forward returns a bare A2."""
    out = net.forward(X.copy())
    if isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[1], dict):
        return _as_array(out[0], f"{what}'s A2"), out[1]
    return _as_array(out, what), None


def _set_params(net, **params):
    for name, value in params.items():
        setattr(net, name, np.array(value, dtype=float))


def _expected_forward(X, W1, b1, W2, b2, g):
    Z1 = W1 @ X + b1
    A1 = g(Z1)
    Z2 = W2 @ A1 + b2
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": _sigmoid(Z2)}


def _random_params(rng, n_input, n_hidden, scale=1.0):
    return {
        "W1": rng.normal(scale=scale, size=(n_hidden, n_input)),
        "b1": rng.normal(scale=0.5, size=(n_hidden, 1)),
        "W2": rng.normal(scale=scale, size=(1, n_hidden)),
        "b2": rng.normal(scale=0.5, size=(1, 1)),
    }


def _shape(value):
    return np.asarray(value).shape


# ---------------------------------------------------------------------------
# helpers: activations
# ---------------------------------------------------------------------------

def test_sigmoid_helper(student, rng):
    z = np.concatenate([rng.normal(scale=4.0, size=(3, 8)),
                        np.array([[-1000.0, -710.0, -50.0, 0.0, 50.0, 710.0, 1000.0, 2.0]])])
    got = _as_array(student.sigmoid(z.copy()), "sigmoid")
    assert got.shape == z.shape, f"sigmoid returned shape {got.shape}, expected {z.shape}"
    if not np.all(np.isfinite(got)):
        raise AssertionError(
            f"sigmoid returned nan/inf for z = {[float(v) for v in z[~np.isfinite(got)]]}: clip z "
            "(e.g. to [-500, 500]) before np.exp so that it cannot overflow"
        )
    check_elementwise(got, _sigmoid(z), z, "sigmoid")


def test_relu_and_tanh_helpers(student, rng):
    z = np.concatenate([rng.normal(scale=3.0, size=(3, 6)), np.array([[0.0, -1000.0, 1000.0, 1.0, -1.0, 0.5]])])
    check_elementwise(_as_array(student.relu(z.copy()), "relu"), _relu(z), z, "relu")
    check_elementwise(_as_array(student.tanh(z.copy()), "tanh"), np.tanh(z), z, "tanh")


# ---------------------------------------------------------------------------
# NeuralNetwork: parameters
# ---------------------------------------------------------------------------

def _uses_own_parameters(net, X, act, what, zero_biases=False):
    """forward(X) is computed from the network's own W1, b1, W2, b2 (as constructed)."""
    params = {k: _as_array(getattr(net, k), k) for k in ("W1", "b1", "W2", "b2")}
    if zero_biases:
        params["b1"], params["b2"] = np.zeros_like(params["b1"]), np.zeros_like(params["b2"])
    A2, _ = _forward(net, X)
    expected = _expected_forward(X, g=HIDDEN[act], **params)["A2"]
    err = max_diff(A2, expected)
    assert err <= ATOL, (
        f"{what}: forward(X) should be sigmoid(W2 @ {act}(W1 @ X + b1) + b2) computed from the network's "
        f"own W1, b1, W2, b2 as constructed (largest difference {err:.3g}, or a wrong shape {A2.shape}): "
        "the parameters must be the attributes forward uses"
    )


def test_parameter_shapes(student, rng):
    for n_input, n_hidden, act in [(2, 4, "relu"), (3, 8, "sigmoid"), (5, 1, "tanh"), (10, 16, "relu")]:
        net = student.NeuralNetwork(n_input, n_hidden, hidden_activation=act)
        expected = {"W1": (n_hidden, n_input), "b1": (n_hidden, 1), "W2": (1, n_hidden), "b2": (1, 1)}
        for name, shape in expected.items():
            got = _shape(getattr(net, name))
            assert got == shape, (
                f"NeuralNetwork({n_input}, {n_hidden}, hidden_activation='{act}').{name} has shape {got}, "
                f"expected {shape}"
            )
        assert np.all(np.isfinite(_as_array(net.W1, "W1"))) and np.all(np.isfinite(_as_array(net.W2, "W2"))), (
            "the initial weights W1 and W2 must be finite numbers"
        )
        _uses_own_parameters(net, rng.normal(size=(n_input, 6)), act,
                             f"NeuralNetwork({n_input}, {n_hidden}, hidden_activation='{act}')")


def test_biases_zero(student, rng):
    for n_input, n_hidden in [(2, 4), (3, 8), (10, 16)]:
        net = student.NeuralNetwork(n_input, n_hidden, hidden_activation="relu")
        for name in ["b1", "b2"]:
            b = _as_array(getattr(net, name), name)
            assert b.size > 0 and np.all(b == 0), (
                f"NeuralNetwork({n_input}, {n_hidden}).{name} should start at zero, got {b.ravel()[:5].tolist()}"
            )
        # zero biases add nothing: the new network computes sigmoid(W2 @ relu(W1 @ X))
        _uses_own_parameters(net, rng.normal(size=(n_input, 5)), "relu",
                             f"NeuralNetwork({n_input}, {n_hidden}) with its zero biases", zero_biases=True)


def test_parameter_counts(student, rng):
    for width in [2, 4, 8, 16]:
        net = student.NeuralNetwork(2, width, hidden_activation="relu")
        count = sum(int(np.asarray(getattr(net, name)).size) for name in ["W1", "b1", "W2", "b2"])
        expected = 2 * width + width + width + 1
        assert count == expected, (
            f"a 2-{width}-1 network should have {expected} parameters (W1, b1, W2, b2), "
            f"yours has {count}"
        )
        # every one of them is a parameter of the network: forward computes with exactly these
        _uses_own_parameters(net, rng.normal(size=(2, 4)), "relu", f"a 2-{width}-1 network")


def test_n_output_keyword(student, rng):
    net = student.NeuralNetwork(3, 4, hidden_activation="relu", n_output=1)
    for name, shape in {"W1": (4, 3), "b1": (4, 1), "W2": (1, 4), "b2": (1, 1)}.items():
        got = _shape(getattr(net, name))
        assert got == shape, f"NeuralNetwork(3, 4, hidden_activation='relu', n_output=1).{name} has shape {got}, expected {shape}"
    X = rng.normal(size=(3, 5))
    A2, _ = _forward(net, X)
    assert A2.shape == (1, 5), f"with n_output=1, forward on 5 samples returned A2 of shape {A2.shape}, expected (1, 5)"
    _uses_own_parameters(net, X, "relu", "NeuralNetwork(3, 4, hidden_activation='relu', n_output=1)")


# ---------------------------------------------------------------------------
# NeuralNetwork: forward pass
# ---------------------------------------------------------------------------

def test_forward_output_shape(student, rng):
    for n_input, n_hidden, m in [(2, 3, 1), (2, 4, 4), (4, 8, 10), (10, 16, 5), (1, 1, 3)]:
        net = student.NeuralNetwork(n_input, n_hidden, hidden_activation="relu")
        X = rng.normal(size=(n_input, m))
        A2, _ = _forward(net, X)
        assert A2.shape == (1, m), (
            f"NeuralNetwork({n_input}, {n_hidden}).forward on X of shape ({n_input}, {m}) returned A2 of shape "
            f"{A2.shape}, expected (1, {m}) (column-major: one column per sample)"
        )
        assert np.all(np.isfinite(A2)) and np.all((A2 >= 0) & (A2 <= 1)), (
            "forward's output A2 comes from a sigmoid, so every value must lie in [0, 1]"
        )
        _uses_own_parameters(net, X, "relu", f"NeuralNetwork({n_input}, {n_hidden})")


def test_forward_values(student, rng):
    n_input, n_hidden, m = 3, 5, 7
    params = _random_params(rng, n_input, n_hidden)
    X = rng.normal(size=(n_input, m))
    net = student.NeuralNetwork(n_input, n_hidden, hidden_activation="relu")
    _set_params(net, **params)
    A2, _ = _forward(net, X)
    expected = _expected_forward(X, g=_relu, **params)["A2"]
    assert A2.shape == expected.shape, f"forward returned A2 of shape {A2.shape}, expected {expected.shape}"
    err = max_diff(A2, expected)
    assert err <= ATOL, (
        "with W1, b1, W2, b2 set by the test and hidden_activation='relu', forward should compute "
        "A2 = sigmoid(W2 @ relu(W1 @ X + b1) + b2); "
        f"largest difference {err:.3g} (are b1/b2 added as columns, and is W @ X used rather than X @ W?)"
    )


def test_forward_cache(student, rng, note):
    n_input, n_hidden, m = 2, 6, 5
    params = _random_params(rng, n_input, n_hidden)
    X = rng.normal(size=(n_input, m))
    net = student.NeuralNetwork(n_input, n_hidden, hidden_activation="relu")
    _set_params(net, **params)
    A2, cache = _forward(net, X)
    expected = _expected_forward(X, g=_relu, **params)
    if cache is None:
        note("forward returns a bare A2 (accepted); checked A2 only")
        err = max_diff(A2, expected["A2"])
        assert err <= ATOL, f"forward's A2 differs from the expected output by up to {err:.3g}"
        return
    note("forward returns (A2, cache)")
    missing = [k for k in ["Z1", "A1", "Z2", "A2"] if k not in cache]
    assert not missing, (
        f"forward's cache is missing the key(s) {missing}; expected keys Z1, A1, Z2, A2 "
        f"(found {sorted(cache)})"
    )
    for key in ["Z1", "A1", "Z2", "A2"]:
        got = _as_array(cache[key], f"cache['{key}']")
        assert got.shape == expected[key].shape, (
            f"cache['{key}'] has shape {got.shape}, expected {expected[key].shape}"
        )
        err = max_diff(got, expected[key])
        assert err <= ATOL, f"cache['{key}'] differs from the expected value by up to {err:.3g}"
    err = max_diff(A2, expected["A2"])
    assert err <= ATOL, f"the A2 returned by forward differs from the expected output by up to {err:.3g}"


def test_hidden_activation_is_used(student):
    # fixed weights for which relu, sigmoid and tanh hidden layers give clearly different outputs
    params = {
        "W1": np.array([[1.5, -2.0], [-1.0, 0.5], [2.0, 1.0], [-0.5, -1.5]]),
        "b1": np.array([[0.2], [-0.3], [0.1], [0.4]]),
        "W2": np.array([[2.0, -1.5, 1.0, -2.5]]),
        "b2": np.array([[0.3]]),
    }
    X = np.array([[-1.0, 0.5, 1.0, -0.3, 2.0, 0.0],
                  [0.8, -1.2, 1.0, 0.4, -0.5, 0.0]])
    expected = {name: _expected_forward(X, g=g, **params)["A2"] for name, g in HIDDEN.items()}
    for name in HIDDEN:
        net = student.NeuralNetwork(2, 4, hidden_activation=name)
        _set_params(net, **params)
        A2, _ = _forward(net, X)
        if max_diff(A2, expected[name]) <= ATOL:
            continue
        others = [o for o in HIDDEN if o != name and max_diff(A2, expected[o]) <= ATOL]
        hint = f": its output matches a {others[0]} hidden layer" if others else ""
        raise AssertionError(
            f"NeuralNetwork(2, 4, hidden_activation='{name}') does not apply {name} in the hidden layer{hint}"
        )


def test_activation_as_function(student, rng):
    params = _random_params(rng, 2, 4, scale=1.5)
    X = rng.normal(size=(2, 6))
    for name in ["relu", "tanh", "sigmoid"]:
        fn = getattr(student, name)
        net = student.NeuralNetwork(2, 4, hidden_activation=fn)
        _set_params(net, **params)
        A2, _ = _forward(net, X)
        # judged against the student's own helper, so that only "accepts a function" is tested here
        Z1 = params["W1"] @ X + params["b1"]
        A1 = _as_array(fn(Z1.copy()), name)
        expected = _sigmoid(params["W2"] @ A1 + params["b2"])
        err = max_diff(A2, expected)
        assert err <= ATOL, (
            f"NeuralNetwork(2, 4, hidden_activation={name}) (the function, not the string '{name}') "
            f"should use that function in the hidden layer; output differs by up to {err:.3g}"
        )


# ---------------------------------------------------------------------------
# predict and XOR
# ---------------------------------------------------------------------------

def test_predict_binary_shape(student, rng):
    n_input, n_hidden = 3, 5
    params = _random_params(rng, n_input, n_hidden, scale=1.5)
    X = rng.normal(size=(n_input, 200))
    Z2 = _expected_forward(X, g=_relu, **params)["Z2"].ravel()
    X = X[:, np.abs(Z2) > 0.05][:, :20]   # no sample sits right at the 0.5 threshold
    m = X.shape[1]
    net = student.NeuralNetwork(n_input, n_hidden, hidden_activation="relu")
    _set_params(net, **params)
    pred = _as_array(net.predict(X.copy()), "predict")
    assert pred.shape == (1, m), f"predict on {m} samples returned shape {pred.shape}, expected (1, {m})"
    assert np.all(np.isin(pred, [0, 1])), "predict should return only 0s and 1s (threshold the output at 0.5)"
    expected = (_expected_forward(X, g=_relu, **params)["A2"] >= 0.5).astype(float)
    wrong = int(np.sum(pred != expected))
    assert wrong == 0, f"predict disagrees with forward's output thresholded at 0.5 on {wrong} of {m} samples"


def _check_xor(student, activation, params):
    net = student.NeuralNetwork(2, 2, hidden_activation=activation)
    _set_params(net, **params)
    pred = _as_array(net.predict(X_XOR.copy()), "predict").ravel()
    assert pred.size == 4, f"predict on the 4 XOR points returned {pred.size} values"
    wrong = [f"({int(a)}, {int(b)})" for (a, b), p, t in zip(X_XOR.T, pred, Y_XOR) if p != t]
    assert not wrong, (
        f"with the hidden weights the test sets and hidden_activation='{activation}', the network "
        f"misclassifies the XOR point(s) {', '.join(wrong)}"
    )


def test_xor_sigmoid_hidden(student):
    # hidden unit 1 ~ OR(x1, x2), hidden unit 2 ~ AND(x1, x2); output ~ OR and not AND
    _check_xor(student, "sigmoid", {
        "W1": [[20.0, 20.0], [20.0, 20.0]], "b1": [[-10.0], [-30.0]],
        "W2": [[20.0, -20.0]], "b2": [[-10.0]],
    })


def test_xor_relu_hidden(student):
    # h1 = relu(x1 + x2), h2 = relu(x1 + x2 - 1); output ~ sigmoid(10 h1 - 20 h2 - 5)
    _check_xor(student, "relu", {
        "W1": [[1.0, 1.0], [1.0, 1.0]], "b1": [[0.0], [-1.0]],
        "W2": [[10.0, -20.0]], "b2": [[-5.0]],
    })


# ---------------------------------------------------------------------------
# optional (bonus)
# ---------------------------------------------------------------------------

def test_deep_network_shapes(student, rng):
    n_input, h1, h2, m = 3, 5, 4, 6
    net = student.DeepNeuralNetwork(n_input, h1, h2)
    expected = {"W1": (h1, n_input), "b1": (h1, 1), "W2": (h2, h1), "b2": (h2, 1), "W3": (1, h2), "b3": (1, 1)}
    for name, shape in expected.items():
        got = _shape(getattr(net, name))
        assert got == shape, f"DeepNeuralNetwork({n_input}, {h1}, {h2}).{name} has shape {got}, expected {shape}"
    X = rng.normal(size=(n_input, m))
    A, _ = _forward(net, X, "DeepNeuralNetwork.forward")
    assert A.shape == (1, m), f"DeepNeuralNetwork.forward on {m} samples returned shape {A.shape}, expected (1, {m})"
    params = {k: _as_array(getattr(net, k), k) for k in expected}
    assert _deep_activations(A, X, params), (
        "DeepNeuralNetwork.forward should be computed from the network's own W1..W3, b1..b3 as constructed: "
        "sigmoid(W3 @ g(W2 @ g(W1 @ X + b1) + b2) + b3) with a hidden activation g (relu, tanh or sigmoid)"
    )


def _deep_activations(A, X, params):
    """The hidden activations g (names) for which A is the deep network's output."""
    matches = []
    for name, g in HIDDEN.items():
        A1 = g(params["W1"] @ X + params["b1"])
        A2 = g(params["W2"] @ A1 + params["b2"])
        if max_diff(A, _sigmoid(params["W3"] @ A2 + params["b3"])) <= ATOL:
            matches.append(name)
    return matches


def test_deep_network_forward(student, rng, note):
    n_input, h1, h2, m = 3, 5, 4, 6
    params = {
        "W1": rng.normal(size=(h1, n_input)), "b1": rng.normal(scale=0.5, size=(h1, 1)),
        "W2": rng.normal(size=(h2, h1)), "b2": rng.normal(scale=0.5, size=(h2, 1)),
        "W3": rng.normal(size=(1, h2)), "b3": rng.normal(scale=0.5, size=(1, 1)),
    }
    X = rng.normal(size=(n_input, m))
    net = student.DeepNeuralNetwork(n_input, h1, h2)
    _set_params(net, **params)
    A, _ = _forward(net, X, "DeepNeuralNetwork.forward")
    matches = _deep_activations(A, X, params)
    assert matches, (
        "with W1..W3, b1..b3 set by the test, DeepNeuralNetwork.forward should compute "
        "sigmoid(W3 @ g(W2 @ g(W1 @ X + b1) + b2) + b3) with a hidden activation g (relu, tanh or sigmoid)"
    )
    note(f"DeepNeuralNetwork hidden activation found: {matches[0]}")


def test_softmax_sums_to_one(student, rng):
    z = rng.normal(scale=2.0, size=(4, 7))   # 4 classes, 7 samples (one per column)
    got = _as_array(student.softmax_activation(z.copy()), "softmax_activation")
    assert got.shape == z.shape, f"softmax_activation returned shape {got.shape}, expected {z.shape}"
    sums = got.sum(axis=0)
    assert np.allclose(sums, 1.0, atol=ATOL), (
        "each column (one sample, classes along axis 0) of softmax_activation's output should sum to 1; "
        f"column sums are {np.round(sums, 4).tolist()}"
    )
    assert max_diff(got, softmax(z, axis=0)) <= ATOL, (
        "softmax_activation should be exp(z) / sum(exp(z)) over the class axis (axis 0)"
    )


def test_softmax_stable_large(student):
    z = np.array([[1000.0, -1000.0, 0.0], [1001.0, -1001.0, 1000.0], [999.0, -999.0, -1000.0]])
    got = _as_array(student.softmax_activation(z.copy()), "softmax_activation")
    assert got.shape == z.shape, f"softmax_activation returned shape {got.shape}, expected {z.shape}"
    assert np.all(np.isfinite(got)), (
        "softmax_activation returned nan/inf for inputs around +-1000: subtract the column maximum "
        "before np.exp (this does not change the result)"
    )
    assert max_diff(got, softmax(z, axis=0)) <= ATOL, (
        "softmax_activation gives wrong probabilities for large inputs (e.g. z = 1000, 1001, 999)"
    )
