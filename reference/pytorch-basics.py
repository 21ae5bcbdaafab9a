"""Reference solution for the `pytorch-basics` exercise (instructors only).

- `SimpleNN(input_size, hidden_size, output_size)`: Linear -> ReLU -> Linear.
- `MNISTClassifier()`: a small CNN (two 3x3 conv blocks with max-pooling, then a 128-unit hidden
  layer), 206,922 parameters; takes (N, 1, 28, 28) images or flat (N, 784) rows, returns logits (N, 10).
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
    """conv(1->16) -> pool -> conv(16->32) -> pool -> fc(1568->128) -> fc(128->10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.view(-1, 1, 28, 28)                 # accepts (N, 784) as well as (N, 1, 28, 28)
        x = self.pool(F.relu(self.conv1(x)))      # (N, 16, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))      # (N, 32, 7, 7)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


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
