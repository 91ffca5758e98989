"""Data preparation for the ogbn-arxiv task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds OGB's arxiv.zip
    python scripts/prepare.py --generated --out DIR       # a small synthetic graph, offline

OGB delivers ogbn-arxiv as arxiv.zip, whose folder arxiv/ holds

    RELEASE_v1.txt
    raw/edge.csv.gz              one citation a line: citing node, cited node
    raw/node-feat.csv.gz         128 comma-separated floats a line, one line per node
    raw/node-label.csv.gz        the class (0 to 39) of each node, one a line
    raw/node_year.csv.gz         the publication year of each node
    raw/num-node-list.csv.gz     the number of nodes (one line)
    raw/num-edge-list.csv.gz     the number of edges (one line)
    split/time/train.csv.gz      node indices of the published time split, one a line
    split/time/valid.csv.gz
    split/time/test.csv.gz
    mapping/...                  label and paper id mappings (copied, not needed here)

RAW may hold that zip (any name; the one with arxiv/raw/edge.csv.gz inside) or its unpacked
arxiv/ folder. Every file is copied into DIR/public/networks/ogbn_arxiv/ byte for byte, with
one exception: in raw/node-label.csv.gz the label of every node of the test split is replaced
by -1. The test nodes' true labels go to DIR/private/answer.csv (columns node, label; in the
order of split/time/test.csv.gz). DIR/public/sample_submission.csv gives every test node the
label 0. A RELEASE_v1.txt is written when the archive has none (OGB's loader wants it), and
an empty processed/ folder, where OGB's NodePropPredDataset saves its cache.

--generated writes a small graph (2,000 nodes, 128 features, 40 classes) in the same layout
and runs it through the same code: features carry the class, most citations stay within a
class, and the years give the split (up to 2017 train, 2018 valid, 2019 on test), as OGB's
time split does. One seeded numpy Generator and gzip without timestamps: the output is
byte-identical on every run.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main

NUM_CLASSES = 40
PUBLIC_ROOT = Path("networks") / "ogbn_arxiv"  # where OGB's loader looks under root="networks"
RELEASE = "RELEASE_v1.txt"
LABELS = "raw/node-label.csv.gz"
NUM_NODES = "raw/num-node-list.csv.gz"
SPLITS = ("train", "valid", "test")
REQUIRED = (
    "raw/edge.csv.gz",
    "raw/node-feat.csv.gz",
    LABELS,
    NUM_NODES,
    *(f"split/time/{name}.csv.gz" for name in SPLITS),
)
MASKED = "-1"  # the public label of a test node

GENERATED_NODES = 2000
GENERATED_FEATURES = 128
GENERATED_SEED = 20_200_501
GENERATED_CITATIONS = 6  # per node
GENERATED_SAME_CLASS = 0.75  # share of citations to a node of the same class


# --- reading what OGB delivers ---------------------------------------------------------------


def archive_files(raw: Path) -> dict[str, bytes]:
    """The files of the arxiv/ folder, by path inside it, from a zip in RAW or RAW/arxiv/."""
    folder = raw / "arxiv"
    if (folder / "raw" / "edge.csv.gz").is_file():
        return {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
    for archive in sorted(raw.rglob("*.zip")):
        with zipfile.ZipFile(archive) as zipped:
            names = [name for name in zipped.namelist() if not name.endswith("/")]
            tops = {name.split("/", 1)[0] for name in names if name.endswith("/raw/edge.csv.gz")}
            if len(tops) == 1:
                (top,) = tops
                prefix = f"{top}/"
                return {
                    name.removeprefix(prefix): zipped.read(name)
                    for name in sorted(names)
                    if name.startswith(prefix)
                }
    raise PrepareError(f"no arxiv.zip (with arxiv/raw/edge.csv.gz inside) nor arxiv/ in {raw}")


def gunzip_lines(files: dict[str, bytes], name: str) -> list[str]:
    """The non-empty lines of a gzipped text file of the archive."""
    try:
        text = gzip.decompress(files[name]).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise PrepareError(f"{name} is not gzipped text: {error}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def integers(files: dict[str, bytes], name: str) -> np.ndarray:
    """A gzipped file of one integer a line, as an int64 array."""
    lines = gunzip_lines(files, name)
    try:
        return np.array([int(line) for line in lines], dtype=np.int64)
    except ValueError:
        bad = next(line for line in lines if not line.lstrip("-").isdigit())
        raise PrepareError(f"{name} has {bad[:40]!r} where a whole number belongs") from None


def read_splits(files: dict[str, bytes], num_nodes: int) -> dict[str, np.ndarray]:
    """The train, valid and test node indices, checked: in range, each node at most once."""
    splits = {name: integers(files, f"split/time/{name}.csv.gz") for name in SPLITS}
    seen = np.zeros(num_nodes, dtype=bool)
    for name, nodes in splits.items():
        if len(nodes) == 0:
            raise PrepareError(f"split/time/{name}.csv.gz is empty")
        outside = nodes[(nodes < 0) | (nodes >= num_nodes)]
        if len(outside):
            raise PrepareError(
                f"split/time/{name}.csv.gz names node {outside[0]}, not one of 0 to {num_nodes - 1}"
            )
        counts = np.bincount(nodes, minlength=num_nodes)
        if (counts > 1).any() or seen[nodes].any():
            node = int(np.flatnonzero((counts > 1) | (seen & (counts > 0)))[0])
            raise PrepareError(f"node {node} appears twice in the split (last in {name})")
        seen[nodes] = True
    return splits


def read_labels(files: dict[str, bytes], num_nodes: int) -> np.ndarray:
    """The class of every node, checked: one per node, each 0 to 39."""
    labels = integers(files, LABELS)
    if len(labels) != num_nodes:
        raise PrepareError(f"{LABELS} has {len(labels)} labels for {num_nodes} nodes")
    bad = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if len(bad):
        raise PrepareError(f"{LABELS}: node {bad[0]} has label {labels[bad[0]]}, not 0 to 39")
    return labels


# --- writing the prepared data ----------------------------------------------------------------


def gzip_lines(lines: Iterable[str]) -> bytes:
    """Lines as gzipped text, with no timestamp or file name in the header (reproducible)."""
    return gzip.compress("".join(f"{line}\n" for line in lines).encode(), mtime=0)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A small CSV file with "\\n" line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header), *(",".join(str(value) for value in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")


def split(files: dict[str, bytes], out: Path) -> None:
    """Write DIR/public (the archive, test labels masked) and DIR/private/answer.csv."""
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise PrepareError(f"the archive has no arxiv/{', arxiv/'.join(missing)}")
    (num_nodes, *rest) = integers(files, NUM_NODES).tolist() or [0]
    if rest or num_nodes <= 0:
        raise PrepareError(f"{NUM_NODES} must hold one positive number of nodes")
    labels = read_labels(files, num_nodes)
    test = read_splits(files, num_nodes)["test"]

    public_labels = labels.astype(str)
    public_labels[test] = MASKED
    public = {**files, LABELS: gzip_lines(public_labels)}
    public.setdefault(RELEASE, b"ogbn-arxiv, version 1\n")
    for name, data in sorted(public.items()):
        path = out / "public" / PUBLIC_ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # OGB's NodePropPredDataset saves its cache there without creating the folder
    (out / "public" / PUBLIC_ROOT / "processed").mkdir(exist_ok=True)
    write_csv(out / "public" / "sample_submission.csv", ("node", "label"), ((n, 0) for n in test))
    write_csv(
        out / "private" / "answer.csv", ("node", "label"), zip(test, labels[test], strict=True)
    )


# --- --generated ------------------------------------------------------------------------------


def generated_files(n: int = GENERATED_NODES, seed: int = GENERATED_SEED) -> dict[str, bytes]:
    """A small synthetic ogbn-arxiv in the archive's layout (paths inside arxiv/)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, size=n)
    centres = rng.normal(0.0, 1.0, size=(NUM_CLASSES, GENERATED_FEATURES))
    features = 0.1 * centres[labels] + rng.normal(0.0, 0.1, size=(n, GENERATED_FEATURES))
    # years 2010-2020, more papers in later years, as on arXiv; the split follows the year
    years = 2010 + np.minimum(rng.poisson(7.5, size=n), 10)

    by_class = [np.flatnonzero(labels == c) for c in range(NUM_CLASSES)]
    edges = []
    for node in range(n):
        for _ in range(GENERATED_CITATIONS):
            if rng.random() < GENERATED_SAME_CLASS:
                cited = int(rng.choice(by_class[labels[node]]))
            else:
                cited = int(rng.integers(0, n))
            if cited != node:
                edges.append((node, cited))

    splits = {
        "train": np.flatnonzero(years <= 2017),
        "valid": np.flatnonzero(years == 2018),
        "test": np.flatnonzero(years >= 2019),
    }
    files = {
        RELEASE: b"ogbn-arxiv, version 1 (generated)\n",
        "raw/edge.csv.gz": gzip_lines(f"{a},{b}" for a, b in edges),
        "raw/node-feat.csv.gz": gzip_lines(",".join(f"{v:.6f}" for v in row) for row in features),
        LABELS: gzip_lines(str(label) for label in labels),
        "raw/node_year.csv.gz": gzip_lines(str(year) for year in years),
        NUM_NODES: gzip_lines([str(n)]),
        "raw/num-edge-list.csv.gz": gzip_lines([str(len(edges))]),
        "mapping/labelidx2arxivcategeory.csv.gz": gzip_lines(
            ["label idx,arxiv category", *(f"{c},generated class {c}" for c in range(NUM_CLASSES))]
        ),
        "mapping/nodeidx2paperid.csv.gz": gzip_lines(
            ["node idx,paper id", *(f"{i},{1_000_000 + i}" for i in range(n))]
        ),
        "mapping/README.md": b"Generated data: the mappings are placeholders.\n",
    }
    for name, nodes in splits.items():
        files[f"split/time/{name}.csv.gz"] = gzip_lines(str(node) for node in nodes)
    return files


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=lambda raw, out: split(archive_files(raw), out),
                 generated=lambda out: split(generated_files(), out))  # fmt: skip
