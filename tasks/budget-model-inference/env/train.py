"""Train the digit-sum classifier of predict.py on data/ and leave the deliverable in output/.

    python train.py

Reads every training image at 128x128 pixels, holds out 10% for validation, trains for
EPOCHS epochs (one short epoch when MLAB_SMOKE=1), prints the validation accuracy of the
predicted sums, then writes output/model.pt and a copy of predict.py.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from predict import SumNet, to_tensor
from torch import nn

EPOCHS = 15
BATCH = 64
SMOKE = os.environ.get("MLAB_SMOKE") == "1"


def main() -> None:
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    images = np.load("data/train_images.npy", mmap_mode="r")
    labels = torch.from_numpy(np.load("data/train_labels.npy"))
    # every image at 128x128 once, in chunks (the full-size images may not fit in memory)
    small = torch.cat([to_tensor(images[i : i + 256], "cpu") for i in range(0, len(labels), 256)])
    order = np.random.default_rng(0).permutation(len(labels))
    held = len(labels) // 10
    valid, train = order[:held], order[held:]
    if SMOKE:
        train = train[: 4 * BATCH]
    model = SumNet().to(device)
    epochs = 1 if SMOKE else EPOCHS
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * ((len(train) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(epochs):
        model.train()
        shuffled = np.random.default_rng(epoch).permutation(train)
        for first in range(0, len(shuffled), BATCH):
            rows = torch.from_numpy(shuffled[first : first + BATCH])
            x, y = small[rows].to(device), labels[rows].to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, {time.time() - start:.0f} s",
              flush=True)  # fmt: skip
    model.eval()
    with torch.no_grad():
        rows = torch.from_numpy(valid)
        predicted = model(small[rows].to(device)).argmax(dim=1).cpu()
    print(f"validation accuracy: {(predicted == labels[rows]).float().mean().item():.4f}")
    out = Path("output")
    out.mkdir(exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    shutil.copy("predict.py", out / "predict.py")
    print(f"saved {out}/model.pt and {out}/predict.py")


if __name__ == "__main__":
    main()
