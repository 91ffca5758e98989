"""Data preparation for the clrs task (Floyd-Warshall of the CLRS-30 benchmark).

    python scripts/prepare.py --raw RAW --out DIR       # RAW holds CLRS30_v1.0.0.tar.gz
    python scripts/prepare.py --generated --out DIR     # a small synthetic data set, offline

--raw reads the official floyd_warshall splits (train: 1000 graphs of 16 nodes, val: 32 of 16,
test: 32 of 64) from DeepMind's CLRS-30 archive, as delivered (the .tar.gz) or unpacked under
RAW. The archive is a TensorFlow Datasets folder; its TFRecord files are read here with numpy
and the standard library alone (a TFRecord is a sequence of length-prefixed records, each a
serialised tf.train.Example protocol buffer), so TensorFlow is not needed.

Both modes write

    DIR/public/train.npz, DIR/public/val.npz   inputs, outputs and hints of every graph
    DIR/private/test.npz                       inputs and the true pointers of the test graphs

with the arrays (N graphs of n nodes, T = n steps of the algorithm)

    pos      (N, n)        float32  node position i / n
    A        (N, n, n)     float32  edge weights (0: no edge)
    adj      (N, n, n)     float32  1 where A is non-zero or on the diagonal
    pi       (N, n, n)     int32    the output: pi[i, j] is the node before j on a shortest
                                    path from i to j (i itself when j == i or j is unreachable)
    hint_pi  (N, T, n, n)  int32    pi before each step k of the algorithm   (train/val only)
    hint_d   (N, T, n, n)  float32  the distances before step k              (train/val only)
    hint_msk (N, T, n, n)  float32  1 where a path is known before step k    (train/val only)
    hint_k   (N, T, n)     float32  one-hot: the intermediate node of step k (train/val only)
    lengths  (N,)          int32    T of each graph                          (train/val only)

--generated samples graphs as CLRS-30 does (Erdos-Renyi, edge probability 0.5, symmetric
weights sqrt(u_ij u_ji + 0.001) with u uniform in [0, 1)) and runs its own Floyd-Warshall:
200 train and 16 val graphs of 8 nodes, 16 test graphs of 16 nodes. The .npz files are
written with fixed zip timestamps, so the output is byte-identical on every run.
"""

from __future__ import annotations

import fnmatch
import io
import struct
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main

ALGORITHM = "floyd_warshall"
SPLITS = ("train", "val", "test")
INPUTS = ("pos", "A", "adj")
HINTS = ("hint_pi", "hint_d", "hint_msk", "hint_k", "lengths")
# CLRS-30's feature names (TFDS keys) -> ours.
FEATURE_NAMES = {
    "input_pos": "pos",
    "input_A": "A",
    "input_adj": "adj",
    "output_Pi": "pi",
    "hint_Pi_h": "hint_pi",
    "hint_D": "hint_d",
    "hint_msk": "hint_msk",
    "hint_k": "hint_k",
    "lengths": "lengths",
}
POINTERS = ("pi", "hint_pi")
GENERATED_SEED = 20_221_108
GENERATED_SIZES = {"train": (200, 8), "val": (16, 8), "test": (16, 16)}  # graphs, nodes
EDGE_PROBABILITY = 0.5
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

Split = dict[str, np.ndarray]


# --- writing ---------------------------------------------------------------------------------


def save_npz(path: Path, arrays: Split) -> None:
    """np.savez, but with fixed timestamps and order, so equal arrays give equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def write_splits(splits: dict[str, Split], out: Path) -> None:
    """public/train.npz and val.npz (everything), private/test.npz (inputs and pi only)."""
    for name in ("train", "val"):
        save_npz(out / "public" / f"{name}.npz", splits[name])
    test = {key: splits["test"][key] for key in (*INPUTS, "pi")}
    save_npz(out / "private" / "test.npz", test)


def typed(split: Split) -> Split:
    """Our dtypes: int32 for pointers and lengths, float32 for everything else."""
    result = {}
    for key, value in split.items():
        if key in POINTERS or key == "lengths":
            result[key] = np.rint(value).astype(np.int32)
        else:
            result[key] = np.asarray(value, dtype=np.float32)
    return result


def check_split(name: str, split: Split) -> None:
    """Raise PrepareError unless shapes agree and every pointer names a node."""
    missing = [key for key in (*INPUTS, "pi") if key not in split]
    if missing:
        raise PrepareError(f"{name}: no {', '.join(missing)} feature")
    graphs, nodes = split["pos"].shape
    if graphs == 0:
        raise PrepareError(f"{name}: no graphs")
    for key in ("A", "adj", "pi"):
        if split[key].shape != (graphs, nodes, nodes):
            raise PrepareError(
                f"{name}: {key} has shape {split[key].shape}, not {(graphs, nodes, nodes)}"
            )
    for key in POINTERS:
        if key in split and ((split[key] < 0) | (split[key] >= nodes)).any():
            raise PrepareError(f"{name}: {key} points outside the {nodes} nodes")


# --- reading the CLRS-30 archive (TFRecord files of tf.train.Example, without TensorFlow) ------


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """A protocol-buffer varint at `at`: (value, position after it)."""
    value = shift = 0
    while True:
        if at >= len(data):
            raise PrepareError("a record ends inside a varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a serialised message; bytes for wire types 1, 2, 5."""
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(data, at)
            yield number, wire, value
        elif wire == 2:
            size, at = read_varint(data, at)
            yield number, wire, data[at : at + size]
            at += size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, data[at : at + size]
            at += size
        else:
            raise PrepareError(f"unsupported protocol-buffer wire type {wire}")


def packed_varints(data: bytes) -> list[int]:
    """The int64 values of a packed repeated varint field (two's complement)."""
    values, at = [], 0
    while at < len(data):
        value, at = read_varint(data, at)
        values.append(value - (1 << 64) if value >= 1 << 63 else value)
    return values


def feature_values(feature: bytes) -> np.ndarray:
    """The values of a tf.train.Feature: float_list (2) or int64_list (3), packed or not."""
    for kind, _, value_list in fields(feature):
        if kind not in (2, 3) or not isinstance(value_list, bytes):
            raise PrepareError(f"feature kind {kind} is neither a float nor an int64 list")
        floats: list[np.ndarray] = []
        ints: list[int] = []
        for _, wire, value in fields(value_list):
            if kind == 2:  # packed floats (wire 2) or one float (wire 5)
                floats.append(np.frombuffer(value, dtype="<f4"))  # type: ignore[arg-type]
            elif wire == 2:
                ints.extend(packed_varints(value))  # type: ignore[arg-type]
            else:
                ints.append(value - (1 << 64) if value >= 1 << 63 else value)  # type: ignore[operator]
        if kind == 2:
            return np.concatenate(floats) if floats else np.zeros(0, np.float32)
        return np.asarray(ints, dtype=np.int64)
    return np.zeros(0, np.float32)


def parse_example(record: bytes) -> dict[str, np.ndarray]:
    """The features of a serialised tf.train.Example, as flat numpy arrays."""
    result: dict[str, np.ndarray] = {}
    for _, _, features in fields(record):  # Example.features (1)
        for _, _, entry in fields(features):  # Features.feature (1): map entries
            name, value = "", b""
            for number, _, part in fields(entry):  # type: ignore[arg-type]
                if number == 1:
                    name = part.decode()  # type: ignore[union-attr]
                elif number == 2:
                    value = part  # type: ignore[assignment]
            result[name] = feature_values(value)
    return result


def tfrecords(data: bytes) -> Iterator[bytes]:
    """The records of a TFRecord file: u64 length, u32 CRC, data, u32 CRC (CRCs not checked)."""
    at = 0
    while at < len(data):
        if at + 12 > len(data):
            raise PrepareError("a TFRecord file ends inside a record header")
        (length,) = struct.unpack_from("<Q", data, at)
        start = at + 12
        if start + length + 4 > len(data):
            raise PrepareError("a TFRecord file ends inside a record")
        yield data[start : start + length]
        at = start + length + 4


def shape_example(flat: dict[str, np.ndarray]) -> Split:
    """One graph's features under our names, reshaped: n from pos, T from hint_k."""
    missing = [key for key in FEATURE_NAMES if key not in flat]
    if missing:
        raise PrepareError(f"an example has no {', '.join(missing)} feature")
    nodes = flat["input_pos"].size
    steps = flat["hint_k"].size // max(nodes, 1)
    shapes = {
        "pos": (nodes,),
        "A": (nodes, nodes),
        "adj": (nodes, nodes),
        "pi": (nodes, nodes),
        "hint_pi": (steps, nodes, nodes),
        "hint_d": (steps, nodes, nodes),
        "hint_msk": (steps, nodes, nodes),
        "hint_k": (steps, nodes),
        "lengths": (),
    }
    shaped = {}
    for key, ours in FEATURE_NAMES.items():
        values = flat[key]
        if values.size != int(np.prod(shapes[ours])):
            raise PrepareError(f"{key} has {values.size} values, not {shapes[ours]} for n={nodes}")
        shaped[ours] = values.reshape(shapes[ours])
    return shaped


def stack(examples: list[Split], name: str) -> Split:
    """The graphs of a split stacked along a new first axis (they all have the same size)."""
    if not examples:
        raise PrepareError(f"no {ALGORITHM}_{name} examples in the archive")
    sizes = {example["pos"].size for example in examples}
    if len(sizes) > 1:
        raise PrepareError(f"{name}: graphs of different sizes {sorted(sizes)}")
    return typed({key: np.stack([ex[key] for ex in examples]) for key in examples[0]})


def split_of(member: str) -> str | None:
    """The split a floyd_warshall TFRecord file of the archive belongs to, else None."""
    parts = Path(member).parts
    for split in SPLITS:
        if f"{ALGORITHM}_{split}" in parts and fnmatch.fnmatch(parts[-1], "*.tfrecord*"):
            return split
    return None


def raw_files(raw: Path) -> Iterable[tuple[str, bytes]]:
    """(path, bytes) of every floyd_warshall TFRecord file: unpacked under RAW, else in .tar.gz."""
    unpacked = sorted(p for p in raw.rglob("*") if p.is_file() and split_of(p.as_posix()))
    if unpacked:
        yield from ((p.as_posix(), p.read_bytes()) for p in unpacked)
        return
    archives = sorted(raw.glob("*.tar.gz")) + sorted(raw.glob("*.tgz")) + sorted(raw.glob("*.tar"))
    if not archives:
        raise PrepareError(
            f"no CLRS30 archive (*.tar.gz) and no {ALGORITHM} TFRecord files in {raw}"
        )
    for archive in archives:
        with tarfile.open(archive, "r|*") as tar:  # one streaming pass over a large archive
            for member in tar:
                if member.isfile() and split_of(member.name):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield member.name, handle.read()


def read_raw(raw: Path) -> dict[str, Split]:
    """The three official splits of floyd_warshall from the CLRS-30 files in RAW."""
    examples: dict[str, list[tuple[str, Split]]] = {split: [] for split in SPLITS}
    for path, data in raw_files(raw):
        split = split_of(path)
        assert split is not None
        examples[split].extend((path, shape_example(parse_example(r))) for r in tfrecords(data))
    splits = {}
    for split, found in examples.items():
        found.sort(key=lambda item: item[0])  # shard order; records keep their order in a shard
        splits[split] = stack([example for _, example in found], split)
    return splits


# --- --generated -----------------------------------------------------------------------------


def random_graph(rng: np.random.Generator, nodes: int, p: float = EDGE_PROBABILITY) -> np.ndarray:
    """A weighted undirected Erdos-Renyi graph sampled as CLRS-30 samples them (self-loops too)."""
    edges = rng.binomial(1, p, size=(nodes, nodes))
    edges *= edges.T
    weights = rng.uniform(0.0, 1.0, size=(nodes, nodes))
    weights = np.sqrt(weights * weights.T + 1e-3)
    return edges * weights


def floyd_warshall(weights: np.ndarray) -> Split:
    """Floyd-Warshall on a weight matrix (0 = no edge): inputs, output pi and the hints."""
    nodes = weights.shape[0]
    known = (weights != 0) | np.eye(nodes, dtype=bool)
    dist = weights.astype(np.float64).copy()
    pi = np.repeat(np.arange(nodes)[:, None], nodes, axis=1)  # pi[i, j] = i at the start
    hints: dict[str, list[np.ndarray]] = {"hint_pi": [], "hint_d": [], "hint_msk": [], "hint_k": []}
    for k in range(nodes):
        hints["hint_pi"].append(pi.copy())
        hints["hint_d"].append(dist.copy())
        hints["hint_msk"].append(known.astype(np.float64))
        hints["hint_k"].append(np.eye(nodes)[k])
        through = known[:, k, None] & known[None, k, :]
        via = dist[:, k, None] + dist[None, k, :]
        better = through & (~known | (via < dist))
        dist = np.where(better, via, dist)
        pi = np.where(better, pi[k][None, :], pi)
        known = known | through
    return {
        "pos": np.arange(nodes) / nodes,
        "A": weights,
        "adj": known_at_start(weights),
        "pi": pi,
        **{key: np.stack(values) for key, values in hints.items()},
        "lengths": np.asarray(nodes),
    }


def known_at_start(weights: np.ndarray) -> np.ndarray:
    """The adjacency input: 1 where there is an edge and on the diagonal."""
    return ((weights != 0) | np.eye(weights.shape[0], dtype=bool)).astype(np.float64)


def generated_splits(seed: int = GENERATED_SEED) -> dict[str, Split]:
    """Train, val and test splits of synthetic Floyd-Warshall graphs, from one seeded Generator."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, (graphs, nodes) in GENERATED_SIZES.items():
        examples = [floyd_warshall(random_graph(rng, nodes)) for _ in range(graphs)]
        splits[split] = stack(examples, split)
    return splits


def write_checked(splits: dict[str, Split], out: Path) -> None:
    """Check every split, then write them all under `out`."""
    for name, split in splits.items():
        check_split(name, split)
    write_splits(splits, out)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=lambda raw, out: write_checked(read_raw(raw), out),
                 generated=lambda out: write_checked(generated_splits(), out))  # fmt: skip
