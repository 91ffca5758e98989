"""Find contrails in satellite images: a first segmentation model.

Each record of train/ holds nine infrared bands (band_08.npy ... band_16.npy, H x W x 8: eight
frames ten minutes apart, the labelled frame is index 4) and the labelled contrail mask
human_pixel_masks.npy (H x W x 1). This script turns the labelled frame into a false-colour
image from bands 11, 14 and 15, trains a tiny convolutional network on 90% of the train
records for one epoch, prints its global Dice on the other 10%, then predicts a mask for
every record of test/ and writes submission.csv (record_id, encoded_pixels).

data_description.txt explains the data; evaluation_details.txt the metric and the format.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from encode import rle_encode
from torch import nn
from torch.utils.data import DataLoader, Dataset

LABELLED_FRAME = 4
SMOKE = os.environ.get("MLAB_SMOKE") == "1"  # set only by quick tests: train on a few batches


def false_colour(band11: np.ndarray, band14: np.ndarray, band15: np.ndarray) -> np.ndarray:
    """The "ash" false-colour image (3 x H x W, values 0 to 1) of one frame."""

    def scaled(values: np.ndarray, low: float, high: float) -> np.ndarray:
        return np.clip((values - low) / (high - low), 0.0, 1.0)

    red = scaled(band15 - band14, -4.0, 2.0)
    green = scaled(band14 - band11, -4.0, 5.0)
    blue = scaled(band14, 243.0, 303.0)
    return np.stack([red, green, blue]).astype(np.float32)


class ContrailRecords(Dataset):
    """The false-colour image of the labelled frame and, when there is one, the mask."""

    def __init__(self, folder: Path, record_ids: list[str]) -> None:
        self.folder = folder
        self.record_ids = record_ids

    def __len__(self) -> int:
        return len(self.record_ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        record = self.folder / self.record_ids[index]
        bands = [np.load(record / f"band_{b}.npy")[..., LABELLED_FRAME] for b in (11, 14, 15)]
        image = torch.from_numpy(false_colour(*bands))
        mask_path = record / "human_pixel_masks.npy"
        if mask_path.exists():
            mask = torch.from_numpy(np.load(mask_path)[..., 0].astype(np.float32))
        else:
            mask = torch.zeros(image.shape[1:])
        return image, mask[None]


def global_dice(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """2 |P and T| / (|P| + |T|) over all pixels of all images (1.0 when both are empty)."""
    both = float((predicted * truth).sum())
    total = float(predicted.sum() + truth.sum())
    return 1.0 if total == 0 else 2 * both / total


def main() -> None:
    """Train, validate, predict the test records, write submission.csv."""
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    workers = 2 if device.type == "cuda" else 0

    record_ids = sorted(path.name for path in Path("train").iterdir() if path.is_dir())
    order = np.random.default_rng(42).permutation(len(record_ids))
    n_valid = max(1, len(record_ids) // 10)
    valid_ids = [record_ids[i] for i in order[:n_valid]]
    train_ids = [record_ids[i] for i in order[n_valid:]]
    print(f"Train records: {len(train_ids)}, validation records: {len(valid_ids)}")
    train_loader = DataLoader(
        ContrailRecords(Path("train"), train_ids), batch_size=8, shuffle=True, num_workers=workers
    )
    valid_loader = DataLoader(
        ContrailRecords(Path("train"), valid_ids), batch_size=8, num_workers=workers
    )

    # **********************************************************************************
    # Your model goes here: try other inputs (more bands, more frames), other networks,
    # losses and training schedules. Keep the names model and threshold: used below.
    # **********************************************************************************
    epochs = 1
    max_batches = 4 if SMOKE else None
    model = nn.Sequential(
        nn.BatchNorm2d(3),  # learns to centre and scale the three colours
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 1, 1),
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # contrail pixels are rare: weigh them up in the loss
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([5.0], device=device))
    threshold = 0.5
    for epoch in range(epochs):
        model.train()
        total_loss = 0.0
        for batch, (images, masks) in enumerate(train_loader):
            if max_batches is not None and batch >= max_batches:
                break
            images, masks = images.to(device), masks.to(device)
            loss = loss_fn(model(images), masks)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
        print(f"Epoch {epoch + 1}: mean training loss {total_loss / (batch + 1):.4f}")
    # **********************************************************************************
    # End of the model section.
    # **********************************************************************************

    model.eval()
    predicted, truth = [], []
    with torch.no_grad():
        for images, masks in valid_loader:
            probabilities = torch.sigmoid(model(images.to(device))).cpu()
            predicted.append((probabilities > threshold).float())
            truth.append(masks)
    print(f"Validation global Dice: {global_dice(torch.cat(predicted), torch.cat(truth)):.4f}")

    test_ids = sorted(path.name for path in Path("test").iterdir() if path.is_dir())
    test_set = ContrailRecords(Path("test"), test_ids)
    rows = []
    with torch.no_grad():
        for index, record_id in enumerate(test_ids):
            image, _ = test_set[index]
            probability = torch.sigmoid(model(image[None].to(device)))[0, 0].cpu().numpy()
            rows.append((record_id, rle_encode(probability > threshold)))
    submission = pd.DataFrame(rows, columns=["record_id", "encoded_pixels"])
    submission.to_csv("submission.csv", index=False)
    print(f"Wrote submission.csv for {len(rows)} test records")


if __name__ == "__main__":
    main()
