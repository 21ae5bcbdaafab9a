"""Reference solution for the `pytorch-advanced` exercise (instructors only).

Advanced PyTorch: residual blocks, self-attention, regularization (dropout, batch norm, weight
decay), a training loop with an optional learning-rate scheduler, early stopping, checkpointing,
multi-path blocks and a custom loss.

Conventions the hidden suite relies on (CONTRACT.md, section 6):
- Models take row-major batches `(N, features)`; `RegularizedMLP` also flattens `(N, 1, 28, 28)`.
- `train_model` builds its own Adam optimizer and cross-entropy loss, trains on the device the
  model's parameters are on, and returns a history dict (train/val loss and accuracy per epoch).
  Optional `scheduler`: a function that takes the optimizer and returns a learning-rate
  scheduler (e.g. `lambda opt: StepLR(opt, step_size=5, gamma=0.5)`); it is stepped once per epoch.
- `EarlyStopping(patience, min_delta, verbose)(val_loss, model)` keeps a *copy* of the best state
  in `best_state` and sets `early_stop` after `patience` epochs without improvement.
- `train_with_checkpointing` saves the best model to `best_model.pth` and restores it at the end.
"""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


# ---------------------------------------------------------------------------
# Part 1: Residual connections
# ---------------------------------------------------------------------------

class ResidualBlock(nn.Module):
    """out = relu(body(x) + shortcut(x)); body = Linear-BN-ReLU-Linear-BN.

    The shortcut is the identity when the sizes match, a Linear + BN projection otherwise.
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, out_features)
        self.bn1 = nn.BatchNorm1d(out_features)
        self.fc2 = nn.Linear(out_features, out_features)
        self.bn2 = nn.BatchNorm1d(out_features)
        if in_features != out_features:
            self.shortcut = nn.Sequential(nn.Linear(in_features, out_features),
                                          nn.BatchNorm1d(out_features))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        identity = self.shortcut(x)
        out = F.relu(self.bn1(self.fc1(x)))
        out = self.bn2(self.fc2(out))
        return F.relu(out + identity)


# ---------------------------------------------------------------------------
# Part 2: Self-attention
# ---------------------------------------------------------------------------

class SelfAttention(nn.Module):
    """Scaled dot-product self-attention over a sequence: (N, seq, F) -> (N, seq, F)."""

    def __init__(self, in_features):
        super().__init__()
        self.query = nn.Linear(in_features, in_features)
        self.key = nn.Linear(in_features, in_features)
        self.value = nn.Linear(in_features, in_features)
        self.scale = in_features ** 0.5

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = torch.bmm(q, k.transpose(1, 2)) / self.scale      # (N, seq, seq)
        weights = F.softmax(scores, dim=-1)
        return torch.bmm(weights, v)


# ---------------------------------------------------------------------------
# Part 3: Regularization
# ---------------------------------------------------------------------------

class RegularizedMLP(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout for each hidden size, then a Linear output layer."""

    def __init__(self, input_size, hidden_sizes, output_size, dropout_rate=0.5):
        super().__init__()
        layers = []
        previous = input_size
        for size in hidden_sizes:
            layers += [nn.Linear(previous, size), nn.BatchNorm1d(size), nn.ReLU(),
                       nn.Dropout(dropout_rate)]
            previous = size
        layers.append(nn.Linear(previous, output_size))
        self.network = nn.Sequential(*layers)

    def forward(self, x):
        return self.network(x.view(x.size(0), -1))


def _device_of(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _run_epoch(model, loader, criterion, device, optimizer=None):
    """One pass over `loader`; trains when an optimizer is given. Returns (avg_loss, accuracy)."""
    training = optimizer is not None
    model.train(training)
    total_loss, correct, count = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * targets.size(0)
            correct += (outputs.argmax(dim=1) == targets).sum().item()
            count += targets.size(0)
    return total_loss / max(count, 1), correct / max(count, 1)


def _step_scheduler(scheduler, val_loss):
    if scheduler is None:
        return
    if isinstance(scheduler, optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()


def train_model(model, train_loader, val_loader, epochs=20, lr=0.001, weight_decay=0,
                scheduler=None, verbose=False):
    """Train with Adam (L2 `weight_decay`) and cross-entropy; return the history dict.

    scheduler: optional function optimizer -> learning-rate scheduler, stepped once per epoch.
    """
    device = _device_of(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    lr_scheduler = scheduler(optimizer) if scheduler is not None else None
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "lr": []}
    for epoch in range(epochs):
        train_loss, train_acc = _run_epoch(model, train_loader, criterion, device, optimizer)
        val_loss, val_acc = _run_epoch(model, val_loader, criterion, device)
        history["train_loss"].append(train_loss)
        history["train_acc"].append(train_acc)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        _step_scheduler(lr_scheduler, val_loss)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}: train loss {train_loss:.4f} acc {train_acc:.4f}, "
                  f"val loss {val_loss:.4f} acc {val_acc:.4f}")
    return history


# ---------------------------------------------------------------------------
# Part 4: Early stopping and checkpointing
# ---------------------------------------------------------------------------

class EarlyStopping:
    """Stop when the validation loss has not improved by more than `min_delta` for `patience` calls."""

    def __init__(self, patience=5, min_delta=0, verbose=True):
        self.patience = patience
        self.min_delta = min_delta
        self.verbose = verbose
        self.counter = 0
        self.best_loss = None
        self.best_state = None
        self.early_stop = False

    def __call__(self, val_loss, model):
        if self.best_loss is None or val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            # A deep copy: state_dict() shares storage with the live parameters.
            self.best_state = copy.deepcopy(model.state_dict())
            self.counter = 0
        else:
            self.counter += 1
            if self.verbose:
                print(f"EarlyStopping counter: {self.counter} out of {self.patience}")
            if self.counter >= self.patience:
                self.early_stop = True

    def restore(self, model):
        """Load the best state seen into `model`."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def train_with_checkpointing(model, train_loader, val_loader, epochs=50, lr=0.001,
                             checkpoint_path="best_model.pth", patience=5):
    """Train with early stopping; save the best model to `checkpoint_path`; restore it at the end."""
    device = _device_of(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    stopper = EarlyStopping(patience=patience, verbose=False)
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    for epoch in range(epochs):
        train_loss, train_acc = _run_epoch(model, train_loader, criterion, device, optimizer)
        val_loss, val_acc = _run_epoch(model, val_loader, criterion, device)
        for key, value in zip(history, (train_loss, train_acc, val_loss, val_acc)):
            history[key].append(value)
        improved = stopper.best_loss is None or val_loss < stopper.best_loss - stopper.min_delta
        stopper(val_loss, model)
        if improved:
            torch.save({"epoch": epoch, "model_state_dict": model.state_dict(),
                        "optimizer_state_dict": optimizer.state_dict(), "val_loss": val_loss},
                       checkpoint_path)
        if stopper.early_stop:
            break
    checkpoint = torch.load(checkpoint_path, map_location=device)
    model.load_state_dict(checkpoint["model_state_dict"])
    return history


# ---------------------------------------------------------------------------
# Part 5: Multi-path blocks and a complete network
# ---------------------------------------------------------------------------

class MultiPathBlock(nn.Module):
    """Three parallel paths (narrow, wide, direct) concatenated and mixed back to in_features."""

    def __init__(self, in_features):
        super().__init__()
        hidden = max(in_features // 2, 1)
        self.path1 = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                                   nn.Linear(hidden, in_features))
        self.path2 = nn.Sequential(nn.Linear(in_features, in_features * 2), nn.ReLU(),
                                   nn.Linear(in_features * 2, in_features))
        self.path3 = nn.Linear(in_features, in_features)
        self.combine = nn.Linear(in_features * 3, in_features)

    def forward(self, x):
        paths = torch.cat([self.path1(x), self.path2(x), self.path3(x)], dim=1)
        return F.relu(self.combine(paths))


class AdvancedNetwork(nn.Module):
    """Input projection, two residual blocks, a multi-path block, dropout, output layer."""

    def __init__(self, input_size, output_size):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Linear(input_size, 256), nn.BatchNorm1d(256), nn.ReLU())
        self.res1 = ResidualBlock(256, 256)
        self.res2 = ResidualBlock(256, 128)
        self.multi_path = MultiPathBlock(128)
        self.dropout = nn.Dropout(0.3)
        self.output_layer = nn.Linear(128, output_size)

    def forward(self, x):
        x = self.input_layer(x.view(x.size(0), -1))
        x = self.res2(self.res1(x))
        x = self.dropout(self.multi_path(x))
        return self.output_layer(x)


# ---------------------------------------------------------------------------
# Part 6: A custom loss
# ---------------------------------------------------------------------------

class CustomLoss(nn.Module):
    """Cross-entropy + weight_decay * (sum of the squares of all the model's parameters)."""

    def __init__(self, weight_decay=0.01):
        super().__init__()
        self.weight_decay = weight_decay

    def forward(self, output, target, model):
        ce = F.cross_entropy(output, target)
        l2 = sum((p ** 2).sum() for p in model.parameters())
        return ce + self.weight_decay * l2
