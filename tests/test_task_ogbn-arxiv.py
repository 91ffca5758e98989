"""The ogbn-arxiv task: node classification on OGB's arXiv citation graph.

The grader (scripts/eval.py, run as the harness runs it) against accuracies computed by hand
on a few test nodes, and invalid submissions with their one-line reasons; prepare.py on a
hand-made miniature of OGB's arxiv.zip through mlab_hpc.data.prepare with from_dir (test
labels masked in public, the answer key only in private, manifest); the --generated graph
byte-identical across runs and PYTHONHASHSEEDs, in OGB's layout; and a whole baseline run of
the starter on the generated graph in smoke mode.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from mlab_hpc.data import MANIFEST, prepare, verify
from mlab_hpc.taskspec import load_task
from tests.task_helpers import COMPLETED, baseline_run, csv_case, generated_twice, run_grader

TASK = "ogbn-arxiv"
TASK_DIR = Path(__file__).resolve().parents[1] / "tasks" / TASK
PUBLIC_GRAPH = Path("public") / "networks" / "ogbn_arxiv"


# --- the grader ---------------------------------------------------------------------------------

ANSWER = "node,label\n7,3\n2,0\n9,39\n"  # three test nodes, in the split file's order


@pytest.mark.parametrize(
    ("submission", "accuracy"),
    [
        ("node,label\n7,3\n2,0\n9,39\n", 100.0),
        # rows in another order, a label written 3.0, padding, an extra column: 2 of 3 right
        ("label,node,p\n39,9,x\n 3.0 , 7 ,y\n5,2,z\n", 200 / 3),
        ("node,label\n7,0\n2,3\n9,38\n", 0.0),
    ],
    ids=["all-right", "two-of-three", "all-wrong"],
)
def test_accuracy_by_hand(tmp_path: Path, submission: str, accuracy: float) -> None:
    workspace, answers = csv_case(tmp_path, ANSWER, submission, dedent=False)

    result = run_grader(TASK, workspace, answers)

    assert result["valid"], result["reason"]
    assert result["metrics"] == {"accuracy": pytest.approx(accuracy)}
    assert result["agent_reported"] is None


@pytest.mark.parametrize(
    ("submission", "reason"),
    [
        (None, "submission.csv is missing from the workspace"),
        ("", "submission.csv cannot be read as CSV"),
        ("0\n3\n0\n39\n", "submission.csv has no node and no label column (columns: 0)"),
        ("node,class\n7,3\n2,0\n9,39\n", "submission.csv has no label column"),
        ("node,label\n7,3\n2,0\n", "has 2 rows for the 3 test nodes: 1 test node missing (9)"),
        ("node,label\n7,3\n2,0\n9,39\n2,0\n", "1 node repeated: 2 (each must appear once)"),
        ("node,label\n7,3\n2,0\n9,39\n4,1\n", "1 node not in the test split (4)"),
        ("node,label\n7,3\nx,0\n9,39\n", "node is not a node index in 1 row (x)"),
        ("node,label\n7,NaN\n2,0\n9,39\n", "label is empty, NaN, not a whole number or not"),
        ("node,label\n7,3\n2,\n9,40\n", "0 to 39 in 2 rows (node 2, 9: , 40)"),
        ("node,label\n7,2.5\n2,0\n9,-1\n", "in 2 rows (node 7, 9: 2.5, -1)"),
    ],
    ids=[
        "missing", "empty", "published-format", "no-label", "missing-row", "repeated",
        "extra-row", "bad-node", "nan", "empty-and-40", "fraction-and-negative",
    ],
)  # fmt: skip
def test_invalid_submissions(tmp_path: Path, submission: str | None, reason: str) -> None:
    workspace, answers = csv_case(tmp_path, ANSWER, submission, dedent=False)

    result = run_grader(TASK, workspace, answers)

    assert not result["valid"]
    assert reason in result["reason"]


def test_a_missing_answer_key_is_the_graders_failure(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "submission.csv").write_text("node,label\n1,1\n")
    done = subprocess.run(
        [
            sys.executable,
            str(TASK_DIR / "scripts" / "eval.py"),
            *("--workspace", ".", "--answers", str(tmp_path), "--out", str(tmp_path / "o.json")),
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
    )

    assert done.returncode != 0
    assert "answer key" in done.stderr


# --- prepare on OGB's archive -------------------------------------------------------------------

# A miniature of arxiv.zip: 6 papers, 5 citations, 3 features each (the real ones have 128).
MINI_LABELS = [4, 0, 39, 4, 17, 2]
MINI_SPLIT = {"train": [0, 1, 2], "valid": [3], "test": [5, 4]}  # test not in index order


def gz(lines: list[str]) -> bytes:
    """Lines as a gzipped text file, as OGB ships its CSV files."""
    return gzip.compress("".join(f"{line}\n" for line in lines).encode())


def mini_archive() -> dict[str, bytes]:
    """The members of the miniature arxiv.zip, by name in the zip."""
    features = [",".join(f"{0.1 * node + k:.6f}" for k in range(3)) for node in range(6)]
    members = {
        "arxiv/RELEASE_v1.txt": b"release 1\n",
        "arxiv/raw/edge.csv.gz": gz(["1,0", "2,0", "3,1", "4,3", "5,2"]),
        "arxiv/raw/node-feat.csv.gz": gz(features),
        "arxiv/raw/node-label.csv.gz": gz([str(label) for label in MINI_LABELS]),
        "arxiv/raw/node_year.csv.gz": gz(["2015", "2016", "2017", "2018", "2019", "2020"]),
        "arxiv/raw/num-node-list.csv.gz": gz(["6"]),
        "arxiv/raw/num-edge-list.csv.gz": gz(["5"]),
        "arxiv/mapping/labelidx2arxivcategeory.csv.gz": gz(["label idx,arxiv category"]),
        "arxiv/mapping/nodeidx2paperid.csv.gz": gz(["node idx,paper id", "0,9657784"]),
        "arxiv/mapping/README.md": b"mappings\n",
    }
    for name, nodes in MINI_SPLIT.items():
        members[f"arxiv/split/time/{name}.csv.gz"] = gz([str(node) for node in nodes])
    return members


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip with folder entries, as the real archive has them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zipped:
        for folder in ("arxiv/", "arxiv/raw/", "arxiv/split/", "arxiv/split/time/"):
            zipped.writestr(folder, b"")
        for name, data in members.items():
            zipped.writestr(name, data)


def test_prepare_masks_the_test_labels_and_keeps_them_private(
    tmp_path: Path, data_root: Path
) -> None:
    members = mini_archive()
    raw = tmp_path / "raw"
    write_zip(raw / "arxiv.zip", members)

    prepared = prepare(load_task(TASK_DIR), "real", data_root, from_dir=raw)

    root = prepared.root
    assert verify(root) == []
    manifest = json.loads((root / MANIFEST).read_text())
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {MANIFEST}
    labels = gzip.decompress((root / PUBLIC_GRAPH / "raw" / "node-label.csv.gz").read_bytes())
    assert labels.decode().split() == ["4", "0", "39", "4", "-1", "-1"]  # nodes 4, 5: test
    for name, data in members.items():  # everything else is copied byte for byte
        if not name.endswith("node-label.csv.gz"):
            assert (root / PUBLIC_GRAPH / name.removeprefix("arxiv/")).read_bytes() == data
    assert (root / PUBLIC_GRAPH / "processed").is_dir()  # OGB's loader saves its cache there
    assert (root / "private" / "answer.csv").read_text() == "node,label\n5,2\n4,17\n"
    assert [p.name for p in (root / "private").iterdir()] == ["answer.csv"]
    sample = (root / "public" / "sample_submission.csv").read_text()
    assert sample == "node,label\n5,0\n4,0\n"
    assert not any(name.startswith("raw/") for name in on_disk), "the raw files are not kept"


def run_prepare(raw: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """prepare.py --raw RAW --out OUT."""
    return subprocess.run(
        [sys.executable, str(TASK_DIR / "scripts" / "prepare.py"), "--raw", str(raw), "--out", out],
        capture_output=True,
        text=True,
    )


def test_prepare_reads_the_unpacked_folder_too(tmp_path: Path) -> None:
    for name, data in mini_archive().items():
        (tmp_path / "raw" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "raw" / name).write_bytes(data)

    done = run_prepare(tmp_path / "raw", tmp_path / "out")

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "private" / "answer.csv").read_text() == "node,label\n5,2\n4,17\n"


@pytest.mark.parametrize(
    ("member", "lines", "reason"),
    [
        ("raw/node-label.csv.gz", ["4", "0", "40", "4", "17", "2"], "node 2 has label 40"),
        ("raw/node-label.csv.gz", ["4", "0", "39"], "has 3 labels for 6 nodes"),
        ("split/time/test.csv.gz", ["5", "3"], "node 3 appears twice in the split"),
        ("split/time/test.csv.gz", ["5", "6"], "names node 6, not one of 0 to 5"),
        ("raw/num-node-list.csv.gz", ["six"], "'six' where a whole number belongs"),
    ],
    ids=["label-40", "short-labels", "node-in-two-splits", "node-outside", "bad-count"],
)
def test_prepare_rejects_a_broken_archive(
    tmp_path: Path, member: str, lines: list[str], reason: str
) -> None:
    members = {**mini_archive(), f"arxiv/{member}": gz(lines)}
    write_zip(tmp_path / "raw" / "arxiv.zip", members)

    done = run_prepare(tmp_path / "raw", tmp_path / "out")

    assert done.returncode != 0
    assert reason in done.stderr


def test_prepare_without_the_archive_says_so(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()

    done = run_prepare(tmp_path / "raw", tmp_path / "out")

    assert done.returncode != 0
    assert "no arxiv.zip" in done.stderr


# --- the generated graph ------------------------------------------------------------------------


def read_gz(path: Path) -> pd.DataFrame:
    """A headerless gzipped CSV, as OGB's loader reads it."""
    return pd.read_csv(path, header=None, compression="gzip")


def test_generated_graph_has_the_ogb_layout(tmp_path: Path) -> None:
    out = generated_twice(TASK, tmp_path)

    graph = out / PUBLIC_GRAPH
    n = int(read_gz(graph / "raw" / "num-node-list.csv.gz")[0][0])
    features = read_gz(graph / "raw" / "node-feat.csv.gz")
    labels = read_gz(graph / "raw" / "node-label.csv.gz")[0]
    edges = read_gz(graph / "raw" / "edge.csv.gz")
    splits = {
        name: read_gz(graph / "split" / "time" / f"{name}.csv.gz")[0]
        for name in ("train", "valid", "test")
    }
    assert n == 2000 and features.shape == (n, 128) and features.dtypes.eq(float).all()
    assert len(read_gz(graph / "raw" / "node_year.csv.gz")) == n
    assert edges.shape == (int(read_gz(graph / "raw" / "num-edge-list.csv.gz")[0][0]), 2)
    assert edges.to_numpy().min() >= 0 and edges.to_numpy().max() < n
    assert sorted(pd.concat(splits.values())) == list(range(n))  # a partition of the nodes
    assert (labels[splits["test"]] == -1).all()
    assert labels.drop(splits["test"]).between(0, 39).all()
    assert labels.drop(splits["test"]).nunique() == 40
    answer = pd.read_csv(out / "private" / "answer.csv")
    assert list(answer.columns) == ["node", "label"]
    assert list(answer["node"]) == list(splits["test"])
    assert answer["label"].between(0, 39).all()
    assert (graph / "RELEASE_v1.txt").is_file()


# --- a whole baseline run -----------------------------------------------------------------------


def test_baseline_run_on_generated_data(results: Path, data_root: Path) -> None:
    run = baseline_run(TASK, results, "--smoke")

    assert (run["status"], run["final_valid"], run["data_mode"]) == COMPLETED
    assert 5 < run["final_score"] < 100  # one epoch on the generated graph; chance is 2.5%
    # naive = "starter": this very baseline run
    assert run["naive_score"] == pytest.approx(run["final_score"])
    assert run["human_score"] == pytest.approx(78.03)
