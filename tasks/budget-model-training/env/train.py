"""Train the small classifier of predict.py on data/ and leave the deliverable in output/.

    python train.py

Holds out 10% of the training images for validation, trains for EPOCHS epochs (one short
epoch when MLAB_SMOKE=1), prints the validation accuracy, then writes output/model.pt and a
copy of predict.py. On a GPU it first caps itself at the task's 6 GB of GPU memory.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from predict import SmallNet, to_tensor
from torch import nn

EPOCHS = 8
BATCH = 128
GPU_MEMORY_CAP_GB = 6.0
SMOKE = os.environ.get("MLAB_SMOKE") == "1"


def main() -> None:
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, GPU_MEMORY_CAP_GB * 1024**3 / total))
    images = np.load("data/train_images.npy", mmap_mode="r")
    labels = np.load("data/train_labels.npy")
    order = np.random.default_rng(0).permutation(len(labels))
    held = len(labels) // 10
    valid, train = order[:held], order[held:]
    if SMOKE:
        train = train[: 4 * BATCH]
    model = SmallNet().to(device)
    epochs = 1 if SMOKE else EPOCHS
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    steps = epochs * ((len(train) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        shuffled = np.random.default_rng(epoch).permutation(train)
        for first in range(0, len(shuffled), BATCH):
            rows = np.sort(shuffled[first : first + BATCH])
            x = to_tensor(images[rows], device)
            if np.random.default_rng(epoch * 7919 + first).random() < 0.5:
                x = x.flip(3)  # horizontal flip of the whole batch
            y = torch.from_numpy(labels[rows]).to(device)
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
            schedule.step()
        print(
            f"epoch {epoch + 1}/{epochs}: loss {loss_fn(model(x), y).item():.3f}, "
            f"{time.time() - start:.0f} s",
            flush=True,
        )
    model.eval()
    correct = 0
    with torch.no_grad():
        for first in range(0, len(valid), 512):
            rows = np.sort(valid[first : first + 512])
            predicted = model(to_tensor(images[rows], device)).argmax(dim=1).cpu().numpy()
            correct += int((predicted == labels[rows]).sum())
    print(f"validation accuracy: {correct / max(1, len(valid)):.4f}")
    out = Path("output")
    out.mkdir(exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    shutil.copy("predict.py", out / "predict.py")
    print(f"saved {out}/model.pt and {out}/predict.py")


if __name__ == "__main__":
    main()
