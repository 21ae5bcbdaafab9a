"""Reference solution for the `backprop` exercise (instructors only).

A two-layer network trained with hand-written backpropagation:

    Z1 = W1 @ X + b1      A1 = relu(Z1)
    Z2 = W2 @ A1 + b2     A2 = sigmoid(Z2)
    J  = binary cross-entropy, averaged over the m examples

Data is column-major: X has shape (n_input, m) and Y has shape (1, m).
Parameters live in a dict with keys W1 (n_hidden, n_input), b1 (n_hidden, 1),
W2 (n_output, n_hidden), b2 (n_output, 1). numpy only.
"""

import numpy as np

PARAM_KEYS = ("W1", "b1", "W2", "b2")


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------

def relu(z):
    """max(0, z), element-wise."""
    return np.maximum(0, z)


def relu_derivative(z):
    """1 where z > 0, 0 where z <= 0 (element-wise, float)."""
    return (np.asarray(z) > 0).astype(float)


def sigmoid(z):
    """1 / (1 + e^-z), clipped so that large |z| does not overflow."""
    z = np.clip(z, -500, 500)
    return 1.0 / (1.0 + np.exp(-z))


def binary_cross_entropy(y_true, y_pred, epsilon=1e-15):
    """Mean binary cross-entropy over the m examples.

    y_pred is clipped to [epsilon, 1 - epsilon] so the loss stays finite when a
    prediction is exactly 0 or 1.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.clip(np.asarray(y_pred, dtype=float), epsilon, 1 - epsilon)
    losses = y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred)
    return float(-np.mean(losses))


def compute_simple_derivative():
    """f(x) = (3x + 2)^2 at x = 1, with the chain rule: (f, df/dx) = (25, 30)."""
    x = 1.0
    u = 3 * x + 2          # inner function, du/dx = 3
    f = u ** 2             # outer function, df/du = 2u
    df_dx = 2 * u * 3      # chain rule
    return f, df_dx


# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------

def initialize_parameters(n_input, n_hidden, n_output=1):
    """He initialisation for the weights, zeros for the biases."""
    W1 = np.random.randn(n_hidden, n_input) * np.sqrt(2.0 / n_input)
    b1 = np.zeros((n_hidden, 1))
    W2 = np.random.randn(n_output, n_hidden) * np.sqrt(2.0 / n_hidden)
    b2 = np.zeros((n_output, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def forward_propagation(X, parameters):
    """Returns (A2, cache) with cache keys Z1, A1, Z2, A2."""
    W1, b1 = parameters["W1"], parameters["b1"]
    W2, b2 = parameters["W2"], parameters["b2"]
    Z1 = W1 @ X + b1
    A1 = relu(Z1)
    Z2 = W2 @ A1 + b2
    A2 = sigmoid(Z2)
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
    return A2, cache


def backward_propagation(X, Y, cache, parameters):
    """Gradients of the mean binary cross-entropy: dict dW1, db1, dW2, db2."""
    m = X.shape[1]
    A1, A2, Z1 = cache["A1"], cache["A2"], cache["Z1"]
    W2 = parameters["W2"]

    dZ2 = A2 - Y                                   # sigmoid + BCE
    dW2 = (dZ2 @ A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dA1 = W2.T @ dZ2
    dZ1 = dA1 * relu_derivative(Z1)
    dW1 = (dZ1 @ X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update_parameters(parameters, gradients, learning_rate):
    """Plain gradient descent: p <- p - learning_rate * dp."""
    return {k: parameters[k] - learning_rate * gradients["d" + k] for k in PARAM_KEYS}


def train_network(X, Y, n_hidden=4, learning_rate=0.01, num_iterations=10000, print_cost=True):
    """Full-batch gradient descent. Returns (parameters, costs); a cost every 100 iterations."""
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float).reshape(1, -1)
    parameters = initialize_parameters(X.shape[0], n_hidden, 1)
    costs = []
    for i in range(num_iterations):
        A2, cache = forward_propagation(X, parameters)
        cost = binary_cross_entropy(Y, A2)
        gradients = backward_propagation(X, Y, cache, parameters)
        parameters = update_parameters(parameters, gradients, learning_rate)
        if i % 100 == 0:
            costs.append(cost)
        if print_cost and i % 1000 == 0:
            print(f"Cost after iteration {i}: {cost:.6f}")
    return parameters, costs


# ---------------------------------------------------------------------------
# Gradient checking
# ---------------------------------------------------------------------------

def dictionary_to_vector(parameters):
    """Concatenate W1, b1, W2, b2 (row-major) into one 1-D vector."""
    return np.concatenate([np.ravel(parameters[k]) for k in PARAM_KEYS])


def gradients_to_vector(gradients):
    return np.concatenate([np.ravel(gradients["d" + k]) for k in PARAM_KEYS])


def dict_from_vector(theta, parameters):
    """Inverse of dictionary_to_vector: reshape theta into the shapes of `parameters`."""
    theta = np.ravel(theta)
    out, start = {}, 0
    for k in PARAM_KEYS:
        shape = np.shape(parameters[k])
        size = int(np.prod(shape))
        out[k] = theta[start:start + size].reshape(shape)
        start += size
    return out


def gradient_check(X, Y, parameters, gradients, epsilon=1e-7):
    """Compare `gradients` with central differences of the cost.

    Returns (difference, num_gradients, grad_theta) where
    difference = ||grad - num|| / (||grad|| + ||num||).
    """
    theta = dictionary_to_vector(parameters).astype(float)
    grad_theta = gradients_to_vector(gradients).astype(float)
    num_gradients = np.zeros_like(theta)
    for i in range(theta.size):
        theta_plus = theta.copy()
        theta_plus[i] += epsilon
        A2_plus, _ = forward_propagation(X, dict_from_vector(theta_plus, parameters))
        theta_minus = theta.copy()
        theta_minus[i] -= epsilon
        A2_minus, _ = forward_propagation(X, dict_from_vector(theta_minus, parameters))
        num_gradients[i] = (binary_cross_entropy(Y, A2_plus)
                            - binary_cross_entropy(Y, A2_minus)) / (2 * epsilon)
    numerator = np.linalg.norm(grad_theta - num_gradients)
    denominator = np.linalg.norm(grad_theta) + np.linalg.norm(num_gradients)
    difference = numerator / denominator if denominator > 0 else 0.0
    return float(difference), num_gradients, grad_theta


# ---------------------------------------------------------------------------
# Optional: optimisers with state
# ---------------------------------------------------------------------------

def update_parameters_with_momentum(parameters, gradients, v, beta=0.9, learning_rate=0.01):
    """Momentum (exponentially weighted average of the gradients).

    v["dW1"] = beta * v["dW1"] + (1 - beta) * dW1 ;  W1 = W1 - learning_rate * v["dW1"]
    Returns (parameters, v).
    """
    new_params, new_v = {}, {}
    for k in PARAM_KEYS:
        g = "d" + k
        new_v[g] = beta * v[g] + (1 - beta) * gradients[g]
        new_params[k] = parameters[k] - learning_rate * new_v[g]
    return new_params, new_v


def update_parameters_with_adam(parameters, gradients, m, v, t, beta1=0.9, beta2=0.999,
                                learning_rate=0.01, epsilon=1e-8):
    """Adam. m, v: dicts keyed dW1, db1, dW2, db2; t: the step number (1 for the first step).

    m = beta1 m + (1 - beta1) g ;  v = beta2 v + (1 - beta2) g^2
    p = p - learning_rate * m_hat / (sqrt(v_hat) + epsilon), with
    m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t).
    Returns (parameters, m, v).
    """
    new_params, new_m, new_v = {}, {}, {}
    for k in PARAM_KEYS:
        g = "d" + k
        new_m[g] = beta1 * m[g] + (1 - beta1) * gradients[g]
        new_v[g] = beta2 * v[g] + (1 - beta2) * gradients[g] ** 2
        m_hat = new_m[g] / (1 - beta1 ** t)
        v_hat = new_v[g] / (1 - beta2 ** t)
        new_params[k] = parameters[k] - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
    return new_params, new_m, new_v
