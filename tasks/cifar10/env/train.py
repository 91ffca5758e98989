"""Classify the CIFAR-10 images with a small convolutional network.

Reads the images and labels of data/ (see data_description.txt), keeps 5,000 training images
apart for validation, trains a two-layer CNN with SGD for 5 epochs, printing the training and
validation accuracy after every epoch, then writes submission.csv: one row per test image, in
the order of data/test_images.npy, with the probability of each of the 10 classes.

Runs on a GPU when there is one, otherwise on the CPU. With MLAB_SMOKE=1 in the environment
it trains only 1 epoch of at most 20 batches (a quick check that everything runs).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

SMOKE = os.environ.get("MLAB_SMOKE") == "1"
EPOCHS = 1 if SMOKE else 5
MAX_BATCHES = 20 if SMOKE else None  # per epoch
BATCH_SIZE = 128
VALIDATION_SIZE = 5000
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Net(nn.Module):
    """Two convolution + pooling stages, then two fully connected layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=5)  # 32x32 -> 28x28, pooled to 14x14
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)  # 14x14 -> 10x10, pooled to 5x5
        self.fc1 = nn.Linear(32 * 5 * 5, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, 3, 32, 32) images as floats scaled to [-1, 1]."""
    return torch.from_numpy(images).float().div(127.5).sub(1.0)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of the images whose most probable class is their label, in percent."""
    return 100.0 * (predict(model, images).argmax(1) == labels).float().mean().item()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities (n, 10) of the images, on the CPU."""
    model.eval()
    chunks = [
        F.softmax(model(images[start : start + 1000].to(DEVICE)), dim=1).cpu()
        for start in range(0, len(images), 1000)
    ]
    return torch.cat(chunks)


def main() -> None:
    """Train, report the accuracy, write submission.csv."""
    torch.manual_seed(0)
    images = to_tensor(np.load("data/train_images.npy"))
    labels = torch.from_numpy(np.load("data/train_labels.npy"))
    test_images = to_tensor(np.load("data/test_images.npy"))

    # A seeded tenth (at most 5,000 images) of the training set is kept for validation.
    order = torch.randperm(len(images))
    n_valid = min(VALIDATION_SIZE, len(images) // 10)
    valid, train = order[:n_valid], order[n_valid:]
    train_images, train_labels = images[train], labels[train]
    valid_images, valid_labels = images[valid], labels[valid]

    model = Net().to(DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    for epoch in range(EPOCHS):
        model.train()
        shuffled = torch.randperm(len(train_images))
        for number, start in enumerate(range(0, len(shuffled), BATCH_SIZE)):
            if MAX_BATCHES is not None and number >= MAX_BATCHES:
                break
            batch = shuffled[start : start + BATCH_SIZE]
            x, y = train_images[batch].to(DEVICE), train_labels[batch].to(DEVICE)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        train_accuracy = accuracy(model, train_images, train_labels)
        valid_accuracy = accuracy(model, valid_images, valid_labels)
        print(
            f"Epoch {epoch + 1}/{EPOCHS}: last batch loss {loss.item():.3f}, "
            f"train accuracy {train_accuracy:.2f}%, validation accuracy {valid_accuracy:.2f}%"
        )

    # One row per test image, in order; the columns 0..9 hold the class probabilities.
    probabilities = predict(model, test_images).numpy()
    submission = pd.DataFrame(probabilities, columns=range(10))
    submission.index.name = "index"
    submission.to_csv("submission.csv")
    print(f"Wrote submission.csv ({len(submission)} test images)")


if __name__ == "__main__":
    main()
