"""Reference solution for the `pytorch-basics` exercise (instructors only).

- `SimpleNN(input_size, hidden_size, output_size)`: Linear -> ReLU -> Linear.
- `MNISTClassifier()`: a multilayer perceptron 784-512-256-10 (535,818 parameters); takes
  (N, 1, 28, 28) images or flat (N, 784) rows, returns logits (N, 10). (A small CNN scores higher
  but trains several times slower on a busy 2-core CPU; the MLP keeps the suite well inside its
  time budget.)
- `train_epoch(model, train_loader, criterion, optimizer, device)` -> (avg_loss, accuracy)
- `evaluate(model, test_loader, criterion, device)` -> (avg_loss, accuracy), under torch.no_grad()

Accuracy is returned as a fraction in [0, 1]; the loss is averaged over examples.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleNN(nn.Module):
    """A fully connected network with one hidden layer."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.fc2(self.relu(self.fc1(x)))


class MNISTClassifier(nn.Module):
    """A multilayer perceptron 784 -> 512 -> 256 -> 10 with ReLU (535,818 parameters)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)                 # (N, 1, 28, 28) or (N, 784) -> (N, 784)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def train_epoch(model, train_loader, criterion, optimizer, device):
    """One pass over train_loader; returns (average loss per example, accuracy as a fraction)."""
    model.train()
    total_loss, correct, total = 0.0, 0, 0
    for inputs, targets in train_loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * targets.size(0)
        correct += (outputs.argmax(dim=1) == targets).sum().item()
        total += targets.size(0)
    return total_loss / total, correct / total


def evaluate(model, test_loader, criterion, device):
    """Loss and accuracy on test_loader without updating anything; returns (avg_loss, accuracy)."""
    model.eval()
    total_loss, correct, total = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in test_loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = model(inputs)
            total_loss += criterion(outputs, targets).item() * targets.size(0)
            correct += (outputs.argmax(dim=1) == targets).sum().item()
            total += targets.size(0)
    return total_loss / total, correct / total
