"""Label the animals in deep-sea images and flag out-of-sample images (FathomNet 2023).

Reads the labelled training images (multilabel_classification/train.csv and images/), trains a
small convolutional network with one sigmoid output per category of category_key.csv for one
epoch on downscaled images, reports its loss and MAP@20 on a 30% validation part, then ranks
the categories of every image of object_detection/eval.json and writes submission.csv
(id, categories, osd). The osd column (how likely the image is out-of-sample) is a constant
0.5 for now, which scores like a coin toss: one minus the highest category probability, for
example, would be a first real guess.

data_description.txt explains the data, the submission and the metric. Runs on a GPU when
there is one. With MLAB_SMOKE=1 in the environment (quick tests only) it trains on at most
256 images.
"""

from __future__ import annotations

import ast
import json
import os

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

SIZE = 128  # images are downscaled to SIZE x SIZE pixels
EPOCHS = 1
BATCH_SIZE = 64
TOP_K = 20  # categories written per image
OSD = 0.5  # the out-of-sample score written for every image
SMOKE = os.environ.get("MLAB_SMOKE") == "1"
SMOKE_IMAGES = 256
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_image(path: str) -> np.ndarray:
    """An image as a uint8 array (SIZE, SIZE, 3)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.uint8)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (n, SIZE, SIZE, 3) as a float batch (n, 3, SIZE, SIZE) in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).to(DEVICE)


def label_matrix(cells: pd.Series, category_ids: list[int]) -> np.ndarray:
    """One row of 0/1 per image from train.csv's categories cells such as "[1.0, 9.0]"."""
    column = {category: index for index, category in enumerate(category_ids)}
    labels = np.zeros((len(cells), len(category_ids)), dtype=np.float32)
    for row, cell in enumerate(cells):
        for category in ast.literal_eval(cell):
            labels[row, column[int(category)]] = 1.0
    return labels


def small_cnn(n_outputs: int) -> nn.Module:
    """Four 5x5 convolution blocks and two hidden dense layers; one logit per category."""
    blocks: list[nn.Module] = []
    channels = 3
    for width in (16, 32, 64, 64):
        blocks += [
            nn.Conv2d(channels, width, kernel_size=5),
            nn.ReLU(),
            nn.BatchNorm2d(width),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
        ]
        channels = width
    side = SIZE
    for _ in range(4):
        side = (side - 4) // 2
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(channels * side * side, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(64, n_outputs),
    )


def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Category probabilities (n, categories) of uint8 images."""
    model.eval()
    with torch.no_grad():
        batches = [
            torch.sigmoid(model(to_tensor(images[start : start + BATCH_SIZE]))).cpu().numpy()
            for start in range(0, len(images), BATCH_SIZE)
        ]
    return np.concatenate(batches) if batches else np.zeros((0, 0))


def map_at_k(labels: np.ndarray, probabilities: np.ndarray, k: int = TOP_K) -> float:
    """Mean average precision at k of the probability rankings against 0/1 labels."""
    precisions = []
    for truth, scores in zip(labels, probabilities, strict=True):
        ranked = np.argsort(-scores, kind="stable")[:k]
        hits = np.cumsum(truth[ranked])
        precision = (hits / np.arange(1, len(ranked) + 1)) * truth[ranked]
        precisions.append(precision.sum() / max(min(truth.sum(), k), 1))
    return float(np.mean(precisions))


def train(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Train for EPOCHS epochs; returns the mean loss of the last epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = np.random.default_rng(0)
    losses = []
    for _ in range(EPOCHS):
        model.train()
        losses = []
        order = generator.permutation(len(images))
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(
                model(to_tensor(images[batch])), torch.from_numpy(labels[batch]).to(DEVICE)
            )
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return float(np.mean(losses))


def main() -> None:
    """Train, validate, predict the held-out images, write submission.csv."""
    torch.manual_seed(0)
    category_ids = [int(i) for i in pd.read_csv("category_key.csv")["id"]]
    train_df = pd.read_csv("multilabel_classification/train.csv", dtype={"id": str})
    if SMOKE:
        train_df = train_df.iloc[:SMOKE_IMAGES]
    with open("object_detection/train.json") as file:
        train_images = json.load(file)["images"]
    by_stem = {
        os.path.splitext(image["file_name"])[0]: image["file_name"] for image in train_images
    }
    images = np.stack([load_image(os.path.join("images", by_stem[i])) for i in train_df["id"]])
    labels = label_matrix(train_df["categories"], category_ids)

    order = np.random.default_rng(20).permutation(len(images))
    n_valid = int(0.3 * len(images))
    valid, fit = order[:n_valid], order[n_valid:]

    # ******************************************************************************
    # Your modelling goes here: try other networks, image sizes, augmentations and
    # out-of-sample scores. Keep the names model and predict(): they are used below.
    # ******************************************************************************
    model = small_cnn(len(category_ids)).to(DEVICE)
    train_loss = train(model, images[fit], labels[fit])
    valid_map = map_at_k(labels[valid], predict(model, images[valid]))
    # ******************************************************************************
    # End of the modelling section.
    # ******************************************************************************

    print(f"Train loss: {train_loss:.4f}")
    print(f"Validation MAP@20: {valid_map:.4f}")

    with open("object_detection/eval.json") as file:
        names = [image["file_name"] for image in json.load(file)["images"]]
    probabilities = predict(model, np.stack([load_image(os.path.join("images", n)) for n in names]))
    rows = []
    for name, scores in zip(names, probabilities, strict=True):
        ranked = np.argsort(-scores, kind="stable")[:TOP_K]
        categories = " ".join(str(category_ids[index]) for index in ranked)
        rows.append((os.path.splitext(name)[0], categories, OSD))
    pd.DataFrame(rows, columns=["id", "categories", "osd"]).to_csv("submission.csv", index=False)


if __name__ == "__main__":
    main()
