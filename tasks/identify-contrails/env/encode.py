"""Run-length encoding of binary masks in the submission format.

Pixels are numbered from 1, top to bottom and then left to right (column by column): in an
H x W image pixel 1 is (row 0, column 0), pixel 2 is (row 1, column 0), pixel H + 1 is
(row 0, column 1). A mask is written as space-separated pairs "start length", sorted and not
overlapping; a mask without any pixel is written "-".
"""

from __future__ import annotations

import numpy as np


def rle_encode(mask: np.ndarray) -> str:
    """The run-length encoding of a 2-D mask (non-zero = contrail), "-" when it is empty."""
    pixels = np.asarray(mask).flatten(order="F") != 0
    padded = np.concatenate([[False], pixels, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # run starts and ends, 0-based
    if len(edges) == 0:
        return "-"
    starts, ends = edges[0::2], edges[1::2]
    return " ".join(f"{start + 1} {end - start}" for start, end in zip(starts, ends, strict=True))


def rle_decode(encoded: str, shape: tuple[int, int]) -> np.ndarray:
    """The H x W mask (uint8, 0 or 1) of a run-length encoding; "-" is the empty mask."""
    flat = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    if encoded.strip() != "-":
        numbers = np.array(encoded.split(), dtype=np.int64)
        for start, length in zip(numbers[0::2], numbers[1::2], strict=True):
            flat[start - 1 : start - 1 + length] = 1
    return flat.reshape(shape, order="F")
