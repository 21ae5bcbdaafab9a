"""Reference solution for the `perceptron` exercise (instructors only).

Activation functions, their derivatives, a single perceptron trained with the (batch) perceptron
rule, and the optional multi-class and pocket perceptrons. numpy only.
"""
import numpy as np


# ---------------------------------------------------------------------------
# Activation functions (element-wise, same shape out)
# ---------------------------------------------------------------------------

def step_function(z):
    """1 where z >= 0, else 0."""
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, 1.0, 0.0)


def sigmoid(z):
    """Logistic sigmoid 1 / (1 + e^-z), clipped so that large |z| cannot overflow."""
    z = np.clip(np.asarray(z, dtype=float), -500.0, 500.0)
    return 1.0 / (1.0 + np.exp(-z))


def tanh(z):
    """Hyperbolic tangent."""
    return np.tanh(np.asarray(z, dtype=float))


def relu(z):
    """max(0, z)."""
    z = np.asarray(z, dtype=float)
    return np.maximum(0.0, z)


# ---------------------------------------------------------------------------
# Derivatives (with respect to z)
# ---------------------------------------------------------------------------

def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh_derivative(z):
    return 1.0 - np.tanh(np.asarray(z, dtype=float)) ** 2


def relu_derivative(z):
    """0 at z <= 0, 1 above."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, 1.0, 0.0)


ACTIVATIONS = {
    "step": step_function,
    "step_function": step_function,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
}


def _get_activation(activation):
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)}") from None


# ---------------------------------------------------------------------------
# Perceptron
# ---------------------------------------------------------------------------

class Perceptron:
    """A single neuron: y_hat = activation(X @ weights + bias)."""

    def __init__(self, n_inputs, activation="sigmoid", learning_rate=0.01):
        self.n_inputs = int(n_inputs)
        self.activation_name = activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")
        self.activation = _get_activation(activation)
        self.learning_rate = learning_rate
        self.weights = np.random.randn(self.n_inputs) * 0.01
        self.bias = 0.0
        self.errors = []

    def net_input(self, X):
        X = np.asarray(X, dtype=float)
        return X @ np.asarray(self.weights, dtype=float) + self.bias

    def predict(self, X):
        """Activation outputs, shape (n_samples,)."""
        return self.activation(self.net_input(X))

    def fit(self, X, y, epochs=100, verbose=True):
        """Batch perceptron rule: w += lr * X.T @ (y - y_hat), b += lr * sum(y - y_hat)."""
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float).ravel()
        self.errors = []
        report_every = max(1, epochs // 10)
        for epoch in range(epochs):
            y_hat = self.predict(X)
            error = y - y_hat
            self.weights = self.weights + self.learning_rate * (X.T @ error)
            self.bias = self.bias + self.learning_rate * float(np.sum(error))
            mse = float(np.mean(error ** 2))
            self.errors.append(mse)
            if verbose and (epoch % report_every == 0 or epoch == epochs - 1):
                print(f"epoch {epoch + 1}/{epochs}: mse {mse:.4f}")
        return self

    def score(self, X, y):
        """Accuracy with threshold 0.5 (a fraction in [0, 1])."""
        y = np.asarray(y, dtype=float).ravel()
        y_pred = (self.predict(X) >= 0.5).astype(float)
        return float(np.mean(y_pred == y))


# ---------------------------------------------------------------------------
# Optional: multi-class perceptron and the pocket algorithm
# ---------------------------------------------------------------------------

class MultiClassPerceptron:
    """One weight vector per class; predict the class with the highest score.

    Multi-class perceptron rule: on a mistake, move the true class's weights towards x and the
    predicted class's weights away from it.
    """

    def __init__(self, n_classes, learning_rate=0.1):
        self.n_classes = int(n_classes)
        self.learning_rate = learning_rate
        self.weights = None   # (n_classes, n_features), set in fit
        self.bias = np.zeros(self.n_classes)

    def _scores(self, X):
        return np.asarray(X, dtype=float) @ self.weights.T + self.bias

    def fit(self, X, y, epochs=100):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y).astype(int).ravel()
        n_samples, n_features = X.shape
        if self.weights is None or self.weights.shape != (self.n_classes, n_features):
            self.weights = np.zeros((self.n_classes, n_features))
            self.bias = np.zeros(self.n_classes)
        for _ in range(epochs):
            mistakes = 0
            for i in range(n_samples):
                pred = int(np.argmax(self.weights @ X[i] + self.bias))
                if pred != y[i]:
                    mistakes += 1
                    self.weights[y[i]] += self.learning_rate * X[i]
                    self.bias[y[i]] += self.learning_rate
                    self.weights[pred] -= self.learning_rate * X[i]
                    self.bias[pred] -= self.learning_rate
            if mistakes == 0:
                break
        return self

    def predict(self, X):
        """Class ids, shape (n_samples,)."""
        return np.argmax(self._scores(X), axis=1)

    def score(self, X, y):
        return float(np.mean(self.predict(X) == np.asarray(y).ravel()))


class PocketPerceptron(Perceptron):
    """Perceptron that keeps ("pockets") the best weights seen during training."""

    def fit(self, X, y, epochs=100, verbose=True):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float).ravel()
        best_w, best_b = np.array(self.weights, dtype=float), float(self.bias)
        best_acc = self.score(X, y)
        self.errors = []
        for epoch in range(epochs):
            error = y - self.predict(X)
            self.weights = self.weights + self.learning_rate * (X.T @ error)
            self.bias = self.bias + self.learning_rate * float(np.sum(error))
            self.errors.append(float(np.mean(error ** 2)))
            acc = self.score(X, y)
            if acc > best_acc:
                best_acc, best_w, best_b = acc, np.array(self.weights, dtype=float), float(self.bias)
            if verbose and (epoch % max(1, epochs // 10) == 0):
                print(f"epoch {epoch + 1}/{epochs}: accuracy {acc:.3f} (best {best_acc:.3f})")
        self.weights, self.bias = best_w, best_b
        self.best_accuracy = best_acc
        return self
