"""checksums.toml: the sha256 of a task's downloads recorded on a first download
(`prepare --record-checksums`) and pinned from then on, over real HTTP (a local server plays
the internet, as in test_data_download)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.checksums import record
from mlab_hpc.cli import main
from mlab_hpc.errors import DataError, TaskSpecError
from mlab_hpc.taskspec import load_task, read_checksums
from tests.test_data_download import PAYLOAD, PAYLOAD_SHA256, URL, make_task
from tests.test_data_download import mirror as mirror  # noqa: F401 (a fixture, served below)

UNPINNED = f"""
[[data.files]]
url = "{URL}"
path = "sub/table.csv"
"""


def prepare_cli(tmp_path: Path, *args: str) -> str:
    done = CliRunner().invoke(
        main, ["prepare", "--tasks", "urltask", "--data-root", str(tmp_path / "data"), *args]
    )
    assert done.exit_code == 0, done.output
    return done.output


@pytest.mark.usefixtures("mirror")  # serves tmp_path / "mirror"
def test_a_first_download_records_its_checksums_and_later_ones_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_task(tmp_path / "tasks", UNPINNED)
    monkeypatch.setenv("MLAB_TASKS", str(tmp_path / "tasks"))
    assert load_task(folder).data.files[0].sha256 is None

    out = prepare_cli(tmp_path, "--record-checksums")

    assert f"1 new sha256 in {folder / 'checksums.toml'}" in out
    assert f'"{URL}" = "{PAYLOAD_SHA256}"' in out
    assert read_checksums(folder) == {URL: PAYLOAD_SHA256}
    assert load_task(folder).data.files[0].sha256 == PAYLOAD_SHA256  # pinned from now on
    # recording again adds nothing and leaves the file as it was
    before = (folder / "checksums.toml").read_bytes()
    assert "0 new sha256" in prepare_cli(tmp_path, "--record-checksums")
    assert (folder / "checksums.toml").read_bytes() == before
    # the source changes: the next download is refused against the recorded digest
    served = tmp_path / "mirror" / "data.example.org" / "sets" / "v1" / "table.csv"
    served.write_bytes(PAYLOAD + b"5,1\n")
    done = CliRunner().invoke(
        main, ["prepare", "--tasks", "urltask", "--data-root", str(tmp_path / "d2")]
    )
    assert done.exit_code != 0
    assert f"differs from the pinned {PAYLOAD_SHA256}" in done.output


@pytest.mark.usefixtures("mirror")
def test_a_recorded_digest_is_never_overwritten(tmp_path: Path) -> None:
    folder = make_task(tmp_path / "tasks", UNPINNED)
    from mlab_hpc.data import prepare

    prepare(load_task(folder), "real", tmp_path / "data")
    (folder / "checksums.toml").write_text(f'[sha256]\n"{URL}" = "{"a" * 64}"\n')

    with pytest.raises(DataError, match=f"downloaded with sha256 {PAYLOAD_SHA256}, but"):
        record(load_task(folder), tmp_path / "data")
    assert read_checksums(folder) == {URL: "a" * 64}


def test_recording_needs_prepared_real_data(tmp_path: Path) -> None:
    folder = make_task(tmp_path / "tasks", UNPINNED)

    with pytest.raises(DataError, match="no prepared real data .* run mlab-hpc prepare"):
        record(load_task(folder), tmp_path / "data")
    done = CliRunner().invoke(main, ["prepare", "--tasks", "cartpole", "--data", "generated",
                                     "--record-checksums"])  # fmt: skip
    assert done.exit_code != 0 and "records a real download" in done.output


def test_a_bad_or_contradicting_checksums_file_names_the_file_and_url(tmp_path: Path) -> None:
    folder = make_task(tmp_path / "tasks", UNPINNED)
    lock = folder / "checksums.toml"

    lock.write_text(f'[sha256]\n"{URL}" = "abc"\n')
    with pytest.raises(TaskSpecError) as err:
        load_task(folder)
    assert err.value.path == lock and err.value.field == f"sha256.{URL}"

    lock.write_text(f'[sha256]\n"{URL}" = "{"b" * 64}"\n')
    pinned = UNPINNED + f'sha256 = "{"c" * 64}"\n'
    (folder / "task.toml").write_text(
        (folder / "task.toml").read_text().replace(textwrap.dedent(UNPINNED), pinned)
    )
    with pytest.raises(TaskSpecError, match="pins c{64} but checksums.toml records b{64}"):
        load_task(folder)


def test_both_forms_take_the_recorded_digest(tmp_path: Path) -> None:
    mini = f"""
    [forms.mini]
    title = "mini"
    [[forms.mini.data.files]]
    url = "{URL}"
    path = "sub/table.csv"
    """
    folder = make_task(tmp_path / "tasks", UNPINNED + textwrap.dedent(mini))
    (folder / "checksums.toml").write_text(f'[sha256]\n"{URL}" = "{PAYLOAD_SHA256}"\n')

    for form in ("full", "mini"):
        assert load_task(folder, form).data.files[0].sha256 == PAYLOAD_SHA256
