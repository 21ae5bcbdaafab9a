"""Reference solution for the `feedforward` exercise (instructors only).

A two-layer network (one hidden layer, sigmoid output) with column-major data: X has shape
(n_input, m). The optional part adds a network with two hidden layers and a stable softmax.
numpy only.
"""
import numpy as np


def sigmoid(z):
    """1 / (1 + e^-z), with z clipped so that large |z| cannot overflow."""
    z = np.clip(np.asarray(z, dtype=float), -500.0, 500.0)
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(0.0, np.asarray(z, dtype=float))


def tanh(z):
    return np.tanh(np.asarray(z, dtype=float))


ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}


def _get_activation(activation):
    """A name ('relu', 'sigmoid', 'tanh') or a function."""
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[str(activation).lower()]
    except KeyError:
        raise ValueError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)} or a function") from None


def _init_scale(activation, fan_in):
    # He initialisation for ReLU, Xavier for sigmoid/tanh
    return np.sqrt((2.0 if activation is relu else 1.0) / fan_in)


class NeuralNetwork:
    """n_input -> n_hidden (hidden_activation) -> n_output (sigmoid)."""

    def __init__(self, n_input, n_hidden, hidden_activation="relu", n_output=1):
        self.n_input, self.n_hidden, self.n_output = int(n_input), int(n_hidden), int(n_output)
        self.hidden_activation = _get_activation(hidden_activation)
        self.W1 = np.random.randn(self.n_hidden, self.n_input) * _init_scale(self.hidden_activation, self.n_input)
        self.b1 = np.zeros((self.n_hidden, 1))
        self.W2 = np.random.randn(self.n_output, self.n_hidden) * np.sqrt(1.0 / self.n_hidden)
        self.b2 = np.zeros((self.n_output, 1))

    def forward(self, X):
        """X (n_input, m) -> (A2 (n_output, m), cache with Z1, A1, Z2, A2)."""
        X = np.asarray(X, dtype=float)
        Z1 = self.W1 @ X + self.b1
        A1 = self.hidden_activation(Z1)
        Z2 = self.W2 @ A1 + self.b2
        A2 = sigmoid(Z2)
        return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}

    def predict(self, X):
        """0/1 predictions, shape (n_output, m), threshold 0.5."""
        A2, _ = self.forward(X)
        return (A2 >= 0.5).astype(int)

    def count_parameters(self):
        return sum(p.size for p in (self.W1, self.b1, self.W2, self.b2))


# ---------------------------------------------------------------------------
# Optional
# ---------------------------------------------------------------------------

def softmax_activation(z):
    """Softmax along the class axis (axis 0, column-major), stable for large z."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)


class DeepNeuralNetwork:
    """n_input -> n_hidden1 -> n_hidden2 (both hidden_activation) -> 1 (sigmoid)."""

    def __init__(self, n_input, n_hidden1, n_hidden2, hidden_activation="relu"):
        self.hidden_activation = _get_activation(hidden_activation)
        sizes = [int(n_input), int(n_hidden1), int(n_hidden2), 1]
        for i in range(3):
            fan_in, fan_out = sizes[i], sizes[i + 1]
            scale = _init_scale(self.hidden_activation, fan_in) if i < 2 else np.sqrt(1.0 / fan_in)
            setattr(self, f"W{i + 1}", np.random.randn(fan_out, fan_in) * scale)
            setattr(self, f"b{i + 1}", np.zeros((fan_out, 1)))

    def forward(self, X):
        X = np.asarray(X, dtype=float)
        Z1 = self.W1 @ X + self.b1
        A1 = self.hidden_activation(Z1)
        Z2 = self.W2 @ A1 + self.b2
        A2 = self.hidden_activation(Z2)
        Z3 = self.W3 @ A2 + self.b3
        A3 = sigmoid(Z3)
        return A3, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2, "Z3": Z3, "A3": A3}

    def predict(self, X):
        A3, _ = self.forward(X)
        return (A3 >= 0.5).astype(int)
