"""The predictor the grader runs: load(model_dir) once, then predict(state, images) per batch.

train.py copies this file into output/ beside the weights it saves (output/model.pt). The
network is defined here so that training and inference share one definition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

CLASSES = 100


class SmallNet(nn.Module):
    """Three convolution blocks, global average pooling, a linear classifier."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()

        def block(inputs: int, outputs: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
                nn.BatchNorm2d(outputs),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(
            block(3, width), block(width, 2 * width), block(2 * width, 4 * width)
        )
        self.classifier = nn.Linear(4 * width, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def to_tensor(images: np.ndarray, device: str) -> torch.Tensor:
    """uint8 (n, h, w, 3) -> float (n, 3, h, w) in [-1, 1] on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def load(model_dir: str) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SmallNet()
    model.load_state_dict(torch.load(Path(model_dir) / "model.pt", map_location=device))
    return {"model": model.to(device).eval(), "device": device}


@torch.no_grad()
def predict(state: dict, images: np.ndarray) -> list[int]:
    logits = state["model"](to_tensor(images, state["device"]))
    return logits.argmax(dim=1).tolist()
