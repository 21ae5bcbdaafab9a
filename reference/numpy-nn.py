"""Reference solution for the `numpy-nn` exercise (instructors only).

A small neural-network library in NumPy: layers with forward/backward, losses, a sequential
network with mini-batch training, and (challenge) dropout, batch normalization and Adam.

Data is row-major: a batch has shape (batch, features). Every loss is averaged over the batch
(MSE and binary cross-entropy over all elements), and `backward()` returns the gradient of that
mean, so layers never divide by the batch size themselves. Classification labels are one-hot
(`one_hot_encode`). numpy only.
"""

import numpy as np


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------

class Layer:
    """Base class: forward(input) -> output, backward(grad_output) -> grad_input."""

    def __init__(self):
        self.input = None
        self.output = None
        self.training = True          # read by Dropout and BatchNormalization

    def forward(self, input):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError


class Dense(Layer):
    """Fully connected layer: output = input @ weights.T + bias."""

    def __init__(self, input_size, output_size):
        super().__init__()
        # He initialisation (suits ReLU networks); biases start at zero
        self.weights = np.random.randn(output_size, input_size) * np.sqrt(2.0 / input_size)
        self.bias = np.zeros((1, output_size))
        self.grad_weights = np.zeros_like(self.weights)
        self.grad_bias = np.zeros_like(self.bias)

    def forward(self, input):
        self.input = input
        self.output = input @ self.weights.T + self.bias
        return self.output

    def backward(self, grad_output):
        self.grad_weights = grad_output.T @ self.input
        self.grad_bias = np.sum(grad_output, axis=0, keepdims=True)
        return grad_output @ self.weights


class ReLU(Layer):
    def forward(self, input):
        self.input = input
        self.output = np.maximum(0, input)
        return self.output

    def backward(self, grad_output):
        return grad_output * (self.input > 0)


class Sigmoid(Layer):
    def forward(self, input):
        self.input = input
        self.output = 1.0 / (1.0 + np.exp(-np.clip(input, -500, 500)))
        return self.output

    def backward(self, grad_output):
        return grad_output * self.output * (1.0 - self.output)


class Softmax(Layer):
    """Softmax over the last axis (one probability distribution per row)."""

    def forward(self, input):
        self.input = input
        shifted = input - np.max(input, axis=-1, keepdims=True)     # stable for large inputs
        e = np.exp(shifted)
        self.output = e / np.sum(e, axis=-1, keepdims=True)
        return self.output

    def backward(self, grad_output):
        # Jacobian-vector product of softmax, row by row: s * (g - sum(g * s))
        s = self.output
        return s * (grad_output - np.sum(grad_output * s, axis=-1, keepdims=True))


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------

class Loss:
    """forward(y_pred, y_true) -> scalar; backward() -> d loss / d y_pred (same shape)."""

    def forward(self, y_pred, y_true):
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError


class MSELoss(Loss):
    """Mean squared error over all elements."""

    def forward(self, y_pred, y_true):
        self.y_pred = np.asarray(y_pred, dtype=float)
        self.y_true = np.asarray(y_true, dtype=float).reshape(self.y_pred.shape)
        return float(np.mean((self.y_pred - self.y_true) ** 2))

    def backward(self):
        return 2.0 * (self.y_pred - self.y_true) / self.y_pred.size


class BinaryCrossEntropyLoss(Loss):
    """Mean binary cross-entropy over all elements; predictions clipped away from 0 and 1."""

    def __init__(self, epsilon=1e-12):
        self.epsilon = epsilon

    def forward(self, y_pred, y_true):
        self.y_pred = np.clip(np.asarray(y_pred, dtype=float), self.epsilon, 1 - self.epsilon)
        self.y_true = np.asarray(y_true, dtype=float).reshape(self.y_pred.shape)
        p, y = self.y_pred, self.y_true
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def backward(self):
        p, y = self.y_pred, self.y_true
        return (p - y) / (p * (1 - p)) / p.size


class CategoricalCrossEntropyLoss(Loss):
    """-sum(y_true * log(y_pred)) averaged over the batch; y_true one-hot, y_pred probabilities."""

    def __init__(self, epsilon=1e-12):
        self.epsilon = epsilon

    def forward(self, y_pred, y_true):
        self.y_pred = np.clip(np.asarray(y_pred, dtype=float), self.epsilon, 1.0)
        y_true = np.asarray(y_true)
        if y_true.ndim == 1:                       # integer labels are accepted too
            y_true = one_hot_encode(y_true, self.y_pred.shape[1])
        self.y_true = y_true.astype(float)
        return float(-np.sum(self.y_true * np.log(self.y_pred)) / self.y_pred.shape[0])

    def backward(self):
        return -self.y_true / self.y_pred / self.y_pred.shape[0]


def one_hot_encode(y, num_classes):
    """Integer labels (n,) -> one-hot matrix (n, num_classes) of floats."""
    y = np.asarray(y).astype(int).ravel()
    out = np.zeros((y.size, num_classes))
    out[np.arange(y.size), y] = 1.0
    return out


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------

class NeuralNetwork:
    """A stack of layers trained by mini-batch gradient descent."""

    def __init__(self):
        self.layers = []
        self.loss = None
        self.optimizer = None          # optional AdamOptimizer (challenge); None = plain SGD

    def add(self, layer):
        self.layers.append(layer)
        return self

    def set_loss(self, loss):
        self.loss = loss

    def set_optimizer(self, optimizer):
        self.optimizer = optimizer

    def set_training(self, training):
        for layer in self.layers:
            layer.training = training

    def forward(self, X):
        out = X
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def backward(self, grad):
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def update_parameters(self, learning_rate):
        for layer in self.layers:
            if self.optimizer is not None and _has_parameters(layer):
                self.optimizer.update(layer)
                continue
            for param, grad in _parameters(layer):
                setattr(layer, param, getattr(layer, param) - learning_rate * getattr(layer, grad))

    def train_step(self, X, y, learning_rate):
        """One forward/backward/update on a batch; returns the loss before the update."""
        y_pred = self.forward(X)
        loss = self.loss.forward(y_pred, y)
        self.backward(self.loss.backward())
        self.update_parameters(learning_rate)
        return loss

    def fit(self, X_train, y_train, X_val=None, y_val=None, epochs=10, learning_rate=0.01,
            batch_size=32, verbose=True):
        """Mini-batch gradient descent, reshuffling every epoch.

        Returns a history dict: 'loss' (mean training loss per epoch), 'accuracy' (training
        accuracy for one-hot targets) and, when validation data is given, 'val_loss' and
        'val_accuracy'.
        """
        X_train = np.asarray(X_train)
        y_train = np.asarray(y_train)
        n = X_train.shape[0]
        history = {"loss": [], "accuracy": []}
        if X_val is not None:
            history["val_loss"], history["val_accuracy"] = [], []
        for epoch in range(epochs):
            self.set_training(True)
            order = np.random.permutation(n)
            total, correct = 0.0, 0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                xb, yb = X_train[idx], y_train[idx]
                y_pred = self.forward(xb)
                total += self.loss.forward(y_pred, yb) * len(idx)
                self.backward(self.loss.backward())
                self.update_parameters(learning_rate)
                if yb.ndim == 2 and yb.shape[1] > 1:
                    correct += int(np.sum(np.argmax(y_pred, 1) == np.argmax(yb, 1)))
            history["loss"].append(total / n)
            history["accuracy"].append(correct / n)
            message = f"epoch {epoch + 1}/{epochs}: loss {total / n:.4f}"
            if X_val is not None:
                probs = self.predict(X_val)
                val_loss = self.loss.forward(probs, y_val)
                val_acc = float(np.mean(np.argmax(probs, 1) == np.argmax(np.asarray(y_val), 1)))
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(val_acc)
                message += f", val_loss {val_loss:.4f}, val_accuracy {val_acc:.4f}"
            if verbose:
                print(message)
        self.set_training(True)
        return history

    def predict(self, X):
        """Class probabilities (the last layer's output), in evaluation mode."""
        self.set_training(False)
        try:
            return self.forward(np.asarray(X))
        finally:
            self.set_training(True)


_PARAMS = (("weights", "grad_weights"), ("bias", "grad_bias"),
           ("gamma", "grad_gamma"), ("beta", "grad_beta"))


def _parameters(layer):
    return [(p, g) for p, g in _PARAMS if hasattr(layer, p) and hasattr(layer, g)]


def _has_parameters(layer):
    return bool(_parameters(layer))


# ---------------------------------------------------------------------------
# Challenge: dropout, batch normalization, Adam
# ---------------------------------------------------------------------------

class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability dropout_rate and scale the
    survivors by 1 / (1 - dropout_rate); in evaluation (training = False), the identity."""

    def __init__(self, dropout_rate=0.5):
        super().__init__()
        self.dropout_rate = dropout_rate
        self.mask = None

    def forward(self, input):
        if not self.training or self.dropout_rate == 0:
            self.mask = np.ones_like(input)
            return input
        keep = 1.0 - self.dropout_rate
        self.mask = (np.random.rand(*np.shape(input)) < keep) / keep
        return input * self.mask

    def backward(self, grad_output):
        return grad_output * self.mask


class BatchNormalization(Layer):
    """Batch normalization over the batch axis, with learnable gamma (scale) and beta (shift).

    Training: normalise with the batch mean and (biased) variance and update the running
    statistics as running = momentum * running + (1 - momentum) * batch. Evaluation
    (training = False): normalise with the running statistics.
    """

    def __init__(self, num_features, momentum=0.9, epsilon=1e-5):
        super().__init__()
        self.momentum, self.epsilon = momentum, epsilon
        self.gamma = np.ones((1, num_features))
        self.beta = np.zeros((1, num_features))
        self.grad_gamma = np.zeros_like(self.gamma)
        self.grad_beta = np.zeros_like(self.beta)
        self.running_mean = np.zeros((1, num_features))
        self.running_var = np.ones((1, num_features))

    def forward(self, input):
        if self.training:
            mean = np.mean(input, axis=0, keepdims=True)
            var = np.var(input, axis=0, keepdims=True)
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            mean, var = self.running_mean, self.running_var
        self.std = np.sqrt(var + self.epsilon)
        self.x_hat = (input - mean) / self.std
        return self.gamma * self.x_hat + self.beta

    def backward(self, grad_output):
        self.grad_gamma = np.sum(grad_output * self.x_hat, axis=0, keepdims=True)
        self.grad_beta = np.sum(grad_output, axis=0, keepdims=True)
        g = grad_output * self.gamma
        if not self.training:                      # running statistics are constants
            return g / self.std
        return (g - np.mean(g, axis=0, keepdims=True)
                - self.x_hat * np.mean(g * self.x_hat, axis=0, keepdims=True)) / self.std


class AdamOptimizer:
    """Adam, one state (m, v, t) per layer: `update(layer)` moves the layer's parameters
    (weights/bias, gamma/beta) using the gradients its last backward pass stored."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.state = {}

    def update(self, layer):
        state = self.state.setdefault(id(layer), {"t": 0, "m": {}, "v": {}})
        state["t"] += 1
        t = state["t"]
        for param, grad_name in _parameters(layer):
            g = getattr(layer, grad_name)
            m = self.beta1 * state["m"].get(param, 0.0) + (1 - self.beta1) * g
            v = self.beta2 * state["v"].get(param, 0.0) + (1 - self.beta2) * g ** 2
            state["m"][param], state["v"][param] = m, v
            m_hat = m / (1 - self.beta1 ** t)
            v_hat = v / (1 - self.beta2 ** t)
            setattr(layer, param,
                    getattr(layer, param) - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon))
