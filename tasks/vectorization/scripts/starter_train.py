"""A 2D convolution layer written in plain numpy with explicit Python loops.

Images are laid out as (batch, height, width, channels). The layer slides each of its
filters over the zero-padded images with a given stride, adds a per-filter bias and,
optionally, applies a ReLU.

Run as a script, this file times one forward pass on a fixed random batch and appends the
time in seconds as a new line of submission.csv.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

# The benchmark problem timed by `main`.
BATCH_SIZE = 10
HEIGHT = 32
WIDTH = 40
IN_CHANNELS = 3
OUT_CHANNELS = 16
KERNEL_SIZE = 3
STRIDE = 1
PADDING = 1
SUBMISSION_FILE = Path("submission.csv")


def relu(values: np.ndarray) -> np.ndarray:
    """Return max(values, 0) elementwise."""
    return np.maximum(values, 0.0)


class Conv2D:
    """A 2D convolution with zero padding, stride, bias and an optional ReLU.

    weights has shape (kernel_height, kernel_width, in_channels, out_channels);
    bias has shape (out_channels,).
    """

    def __init__(
        self,
        weights: np.ndarray,
        bias: np.ndarray,
        stride: int = 1,
        padding: int = 0,
        use_relu: bool = True,
    ) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = np.asarray(bias, dtype=np.float64)
        if self.weights.ndim != 4:
            raise ValueError("weights must have shape (kh, kw, in_channels, out_channels)")
        if self.bias.shape != (self.weights.shape[3],):
            raise ValueError("bias must have one value per output channel")
        if stride < 1 or padding < 0:
            raise ValueError("stride must be >= 1 and padding >= 0")
        self.stride = stride
        self.padding = padding
        self.use_relu = use_relu

    def pad(self, images: np.ndarray) -> np.ndarray:
        """Surround every image with `padding` rows and columns of zeros."""
        p = self.padding
        return np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), mode="constant")

    def filter_response(self, window: np.ndarray, out_channel: int) -> float:
        """One output value: the sum of window * kernel for one filter, plus its bias."""
        kernel = self.weights[:, :, :, out_channel]
        return float(np.sum(window * kernel)) + float(self.bias[out_channel])

    def forward(self, images: np.ndarray) -> np.ndarray:
        """Convolve a batch of images; returns (batch, out_height, out_width, out_channels)."""
        batch_size, height, width, channels = images.shape
        kernel_height, kernel_width, in_channels, out_channels = self.weights.shape
        if channels != in_channels:
            raise ValueError(f"expected {in_channels} input channels, got {channels}")

        padded = self.pad(images)
        out_height = (height + 2 * self.padding - kernel_height) // self.stride + 1
        out_width = (width + 2 * self.padding - kernel_width) // self.stride + 1
        output = np.zeros((batch_size, out_height, out_width, out_channels))

        for index in range(batch_size):
            for row in range(out_height):
                for col in range(out_width):
                    top = row * self.stride
                    left = col * self.stride
                    window = padded[index, top : top + kernel_height, left : left + kernel_width, :]
                    for out_channel in range(out_channels):
                        output[index, row, col, out_channel] = self.filter_response(
                            window, out_channel
                        )

        if self.use_relu:
            output = relu(output)
        return output


def main() -> None:
    """Time one forward pass on a fixed random batch and append the seconds taken."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((BATCH_SIZE, HEIGHT, WIDTH, IN_CHANNELS))
    fan_in = KERNEL_SIZE * KERNEL_SIZE * IN_CHANNELS
    weights = rng.standard_normal((KERNEL_SIZE, KERNEL_SIZE, IN_CHANNELS, OUT_CHANNELS)) / np.sqrt(
        fan_in
    )
    bias = 0.1 * rng.standard_normal(OUT_CHANNELS)
    layer = Conv2D(weights, bias, stride=STRIDE, padding=PADDING, use_relu=True)

    start = time.perf_counter()
    output = layer.forward(images)
    elapsed = time.perf_counter() - start

    print(f"output shape: {output.shape}")
    print(f"forward pass time: {elapsed:.4f} s")
    with SUBMISSION_FILE.open("a") as submission:
        submission.write(f"{elapsed}\n")


if __name__ == "__main__":
    main()
