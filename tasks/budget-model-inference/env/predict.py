"""The predictor the grader runs: load(model_dir) once, then predict(state, images) per batch.

train.py copies this file into output/ beside the weights it saves (output/model.pt). The
network is defined here so that training and inference share one definition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

SIDE = 128  # every image is read at SIDE x SIDE pixels
SUMS = 46  # digit sums 0..45


class SumNet(nn.Module):
    """Four convolution blocks, global max pooling, a classifier over the 46 possible sums."""

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
            block(1, width), block(width, width), block(width, 2 * width),
            block(2 * width, 4 * width),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * width * 8 * 8, 256), nn.ReLU(inplace=True),
            nn.Linear(256, SUMS),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def to_tensor(images: np.ndarray, device: str) -> torch.Tensor:
    """uint8 (n, h, w) -> float (n, 1, SIDE, SIDE) in [0, 1] on ``device`` (area resize)."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).to(device)
    x = x.unsqueeze(1).float().div(255.0)
    return F.interpolate(x, size=(SIDE, SIDE), mode="area") if x.shape[-1] != SIDE else x


def load(model_dir: str) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SumNet()
    model.load_state_dict(torch.load(Path(model_dir) / "model.pt", map_location=device))
    return {"model": model.to(device).eval(), "device": device}


@torch.no_grad()
def predict(state: dict, images: np.ndarray) -> list[int]:
    return state["model"](to_tensor(images, state["device"])).argmax(dim=1).tolist()
