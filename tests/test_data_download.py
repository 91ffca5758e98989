"""Downloads of task data over real HTTP, and --from imports.

A local HTTP server plays the internet: it serves a folder laid out as the mirror layout of
$MLAB_DOWNLOAD_MIRROR (``<host>/<path>``), so fetch_url, the checksums, the retries and the
whole `prepare` path run for real; only the address changes.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlab_hpc import data
from mlab_hpc.data import MANIFEST, fetch_url, mirrored, prepare, verify
from mlab_hpc.errors import DataError, TaskSpecError
from mlab_hpc.taskspec import load_task

PAYLOAD = b"id,label\n1,0\n2,1\n3,1\n4,0\n"
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
URL = "https://data.example.org/sets/v1/table.csv"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror folder; /flaky/... fails with 503 the first `failures` times."""

    failures: dict[str, int] = {}
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        type(self).requests.append(self.path)
        left = self.failures.get(self.path, 0)
        if left:
            self.failures[self.path] = left - 1
            self.send_error(503, "busy")
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder served over HTTP on 127.0.0.1 and set as MLAB_DOWNLOAD_MIRROR."""
    root = tmp_path / "mirror"
    (root / "data.example.org" / "sets" / "v1").mkdir(parents=True)
    (root / "data.example.org" / "sets" / "v1" / "table.csv").write_bytes(PAYLOAD)

    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

    _Handler.failures = {}
    _Handler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MLAB_DOWNLOAD_MIRROR", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setattr(data, "BACKOFF_S", 0.01)
    yield root
    server.shutdown()
    server.server_close()


def test_mirrored_address_keeps_host_and_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLAB_DOWNLOAD_MIRROR", raising=False)
    assert mirrored(URL) == URL
    monkeypatch.setenv("MLAB_DOWNLOAD_MIRROR", "http://m.local/cache/")
    assert mirrored(URL) == "http://m.local/cache/data.example.org/sets/v1/table.csv"
    assert mirrored("https://h/x.zip?download=1") == "http://m.local/cache/h/x.zip?download=1"


def test_fetch_checks_sha256_and_md5(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "table.csv"
    assert fetch_url(URL, dest, sha256=PAYLOAD_SHA256, md5=PAYLOAD_MD5) == PAYLOAD_SHA256
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("table.csv.part").exists()
    # a second fetch of a file whose checksum matches asks the server nothing
    before = len(_Handler.requests)
    assert fetch_url(URL, dest, sha256=PAYLOAD_SHA256) == PAYLOAD_SHA256
    assert len(_Handler.requests) == before


def test_fetch_refuses_a_checksum_mismatch(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "table.csv"
    with pytest.raises(DataError, match="sha256 .* differs from the pinned 0{64}"):
        fetch_url(URL, dest, sha256="0" * 64)
    with pytest.raises(DataError, match="md5 .* differs from the pinned f{32}"):
        fetch_url(URL, dest, md5="f" * 32)
    assert list(tmp_path.glob("table.csv*")) == []  # neither the file nor a .part is left


def test_fetch_fails_at_once_on_404_and_retries_503(mirror: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="HTTP 404"):
        fetch_url("https://data.example.org/missing.bin", tmp_path / "missing.bin")
    assert _Handler.requests == ["/data.example.org/missing.bin"]

    _Handler.failures["/data.example.org/sets/v1/table.csv"] = 2
    fetch_url(URL, tmp_path / "t.csv", sha256=PAYLOAD_SHA256)
    assert (tmp_path / "t.csv").read_bytes() == PAYLOAD
    assert _Handler.requests.count("/data.example.org/sets/v1/table.csv") == 3

    _Handler.failures["/data.example.org/sets/v1/table.csv"] = 10
    with pytest.raises(DataError, match="after 4 attempts: HTTP 503") as failed:
        fetch_url(URL, tmp_path / "u.csv")
    # the way out for a machine without internet is named
    assert "prepare --from DIR" in str(failed.value) and "--data generated" in str(failed.value)
    assert "MLAB_DOWNLOAD_MIRROR" in str(failed.value)


# --- a whole `prepare` of a task whose source is a list of files --------------------------


def make_task(root: Path, files: str, task_id: str = "urltask") -> Path:
    """A minimal task folder whose prepare.py splits table.csv (first 3 rows public)."""
    folder = root / task_id
    (folder / "env").mkdir(parents=True)
    (folder / "scripts").mkdir()
    (folder / "env" / "train.py").write_text("print('hello')\n")
    (folder / "scripts" / "eval.py").write_text("raise SystemExit(0)\n")
    (folder / "scripts" / "prepare.py").write_text(
        textwrap.dedent(
            """
            import argparse, pathlib
            p = argparse.ArgumentParser()
            p.add_argument("--raw", type=pathlib.Path)
            p.add_argument("--generated", action="store_true")
            p.add_argument("--out", type=pathlib.Path)
            a = p.parse_args()
            lines = (a.raw / "sub" / "table.csv").read_text().splitlines()
            (a.out / "public").mkdir()
            (a.out / "private").mkdir()
            (a.out / "public" / "train.csv").write_text("\\n".join(lines[:3]) + "\\n")
            (a.out / "private" / "answer.csv").write_text("\\n".join(lines[3:]) + "\\n")
            """
        )
    )
    (folder / "task.toml").write_text(
        textwrap.dedent(
            f"""
            id = "{task_id}"
            version = "1"
            deliverable = "submission"
            environment = "base"
            research_problem = "Predict the label."
            [metric]
            name = "accuracy"
            direction = "higher"
            [limits]
            max_steps = 3
            max_time_s = 60
            action_timeout_s = 30
            [data]
            source = "url"
            """
        )
        + textwrap.dedent(files)
    )
    return folder


PINNED = f"""
[[data.files]]
url = "{URL}"
path = "sub/table.csv"
sha256 = "{PAYLOAD_SHA256}"
"""


def test_prepare_downloads_splits_and_records_the_source(mirror: Path, tmp_path: Path) -> None:
    task = load_task(make_task(tmp_path / "tasks", PINNED))
    prepared = prepare(task, "real", tmp_path / "data")
    assert verify(prepared.root) == []
    assert (prepared.public / "train.csv").read_text() == "id,label\n1,0\n2,1\n"
    assert (prepared.private / "answer.csv").read_text() == "3,1\n4,0\n"
    manifest = json.loads((prepared.root / MANIFEST).read_text())
    assert manifest["sources"] == {
        "sub/table.csv": {"url": URL, "sha256": PAYLOAD_SHA256, "pinned": True, "checked": True}
    }
    assert not (prepared.root / "raw").exists()  # the download is not kept beside the split
    # a second prepare is a no-op: nothing is fetched again
    before = len(_Handler.requests)
    prepare(task, "real", tmp_path / "data")
    assert len(_Handler.requests) == before


def test_prepare_with_a_changed_source_leaves_nothing(mirror: Path, tmp_path: Path) -> None:
    (mirror / "data.example.org" / "sets" / "v1" / "table.csv").write_bytes(PAYLOAD + b"5,1\n")
    task = load_task(make_task(tmp_path / "tasks", PINNED))
    with pytest.raises(DataError, match="differs from the pinned"):
        prepare(task, "real", tmp_path / "data")
    assert list((tmp_path / "data" / "urltask" / "v1").iterdir()) == []  # no partial dataset


def test_prepare_from_downloaded_files_checks_them(tmp_path: Path) -> None:
    task = load_task(make_task(tmp_path / "tasks", PINNED))
    raw = tmp_path / "downloads"
    (raw / "sub").mkdir(parents=True)
    (raw / "sub" / "table.csv").write_bytes(PAYLOAD)
    prepared = prepare(task, "real", tmp_path / "data", from_dir=raw)
    assert json.loads((prepared.root / MANIFEST).read_text())["sources"]["sub/table.csv"][
        "checked"
    ]

    (raw / "sub" / "table.csv").write_bytes(b"id,label\n")
    with pytest.raises(DataError, match="task.toml pins"):
        prepare(task, "real", tmp_path / "other", from_dir=raw)
    (raw / "sub" / "table.csv").unlink()
    with pytest.raises(DataError, match=r"has no sub/table.csv \(the file https://"):
        prepare(task, "real", tmp_path / "other", from_dir=raw)


def test_prepare_imports_a_dataset_prepared_elsewhere(mirror: Path, tmp_path: Path) -> None:
    task = load_task(make_task(tmp_path / "tasks", PINNED))
    elsewhere = prepare(task, "real", tmp_path / "site-a").root
    here = prepare(task, "real", tmp_path / "site-b", from_dir=elsewhere)
    assert verify(here.root) == []
    assert (here.public / "train.csv").read_bytes() == (elsewhere / "public/train.csv").read_bytes()

    tampered = tmp_path / "tampered"
    shutil.copytree(elsewhere, tampered)
    (tampered / "public" / "train.csv").write_text("id,label\n1,1\n2,0\n")
    with pytest.raises(DataError, match="does not verify: .*sha256 differs"):
        prepare(task, "real", tmp_path / "site-c", from_dir=tampered)

    other = load_task(make_task(tmp_path / "tasks", PINNED, task_id="othertask"))
    with pytest.raises(DataError, match="holds task urltask v1 .*not othertask v1"):
        prepare(other, "real", tmp_path / "site-d", from_dir=elsewhere)


@pytest.mark.parametrize(
    ("files", "field", "problem"),
    [
        ("", "data.files", "is missing"),
        ('[[data.files]]\nurl = "ftp://x/y"\n', "data.files[0].url", "http(s)"),
        (f'[[data.files]]\nurl = "{URL}"\nsha256 = "abc"\n', "data.files[0].sha256", "64 hex"),
        (f'[[data.files]]\nurl = "{URL}"\npath = "../x"\n', "data.files[0].path", "relative"),
        (f'[[data.files]]\nurl = "{URL}"\nsha1 = "ab"\n', "data.files[0].sha1", "unknown field"),
        (
            f'[[data.files]]\nurl = "{URL}"\n[[data.files]]\nurl = "{URL}"\n',
            "data.files",
            "two files land at 'table.csv'",
        ),
    ],
)
def test_bad_data_files_are_named(tmp_path: Path, files: str, field: str, problem: str) -> None:
    with pytest.raises(TaskSpecError) as raised:
        load_task(make_task(tmp_path, files))
    assert field in str(raised.value) and problem in str(raised.value)
