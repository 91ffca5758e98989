"""The shared command line of every task's prepare.py (mlab_hpc/grader_lib/mlab_prepare.py).

A small prepare.py written here drives ``prepare_main`` the way tasks do, in a real Python
process: usage errors are one line and exit 2 before any builder runs, each mode calls its
builder with OUT/public and OUT/private made, a missing raw file or a PrepareError is one line
and exit 1, and a task's own arguments reach its builder. Every task's prepare.py is checked to
go through the entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from mlab_hpc.grading import GRADER_LIB
from mlab_hpc.taskspec import tasks_root

SCRIPT = '''
"""A toy task's data preparation.

The second line of the docstring.
"""
import json, sys
from pathlib import Path

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main


def record(out: Path, **what: object) -> None:
    (out / "public" / "called.json").write_text(json.dumps(what, sort_keys=True))


def prepare_raw(raw: Path, out: Path) -> None:
    if (raw / "bad").exists():
        raise PrepareError("line 3 of bad has a negative price;\\nfix the source")
    if (raw / "bug").exists():
        raise RuntimeError("a bug in the task's code")
    record(out, builder="raw", rows=(raw / "train.csv").read_text().count("\\n"))


def prepare_generated(out: Path) -> None:
    record(out, builder="generated")


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
'''

WITH_EXTRA = """
from pathlib import Path

from mlab_hpc.grader_lib.mlab_prepare import prepare_main


def extra(parser):
    parser.add_argument("--rows", type=int, default=3)


def prepare_generated(out, args):
    (out / "private" / "rows.txt").write_text(str(args.rows))


prepare_main(None, from_raw=lambda raw, out, args: None, generated=prepare_generated,
             extra_args=extra)
"""


def write_script(tmp_path: Path, text: str = SCRIPT) -> Path:
    script = tmp_path / "task" / "scripts" / "prepare.py"
    script.parent.mkdir(parents=True)
    script.write_text(textwrap.dedent(text))
    return script


def run(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `script` with `args` as the harness does (its own Python, no MLAB_TASK_PARAMS
    unless `env` sets it)."""
    base = {k: v for k, v in os.environ.items() if k != "MLAB_TASK_PARAMS"}
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )


def called(out: Path) -> dict[str, object]:
    return json.loads((out / "public" / "called.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: --out"),
        (("--out", "o"), "one of the arguments --raw --generated is required"),
        (("--generated",), "the following arguments are required: --out"),
        (("--generated", "--raw", "r", "--out", "o"), "not allowed with argument"),
        (("--generated", "--out", "o", "--fast"), "unrecognized arguments: --fast"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    script = write_script(tmp_path)

    done = run(script, *args)

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("prepare.py: error: ")
    assert message in done.stderr and "--help" in done.stderr
    assert not (tmp_path / "o").exists()


def test_generated_calls_the_generated_builder_with_both_folders_made(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    out = tmp_path / "deep" / "out"

    done = run(script, "--generated", "--out", str(out))

    assert done.returncode == 0, done.stderr
    assert called(out) == {"builder": "generated"}
    assert (out / "private").is_dir()


def test_raw_calls_the_raw_builder(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "train.csv").write_text("a\nb\n")

    done = run(script, "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"))

    assert done.returncode == 0, done.stderr
    assert called(tmp_path / "out") == {"builder": "raw", "rows": 2}


def test_a_missing_raw_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    missing = tmp_path / "downloads"

    done = run(script, "--raw", str(missing), "--out", str(tmp_path / "out"))

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"--raw {missing} does not exist" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing was written


def test_a_missing_raw_file_is_one_line_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    (tmp_path / "raw").mkdir()

    done = run(script, "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"))

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"{tmp_path / 'raw' / 'train.csv'} is missing from the raw files" in done.stderr
    assert "mlab-hpc prepare --tasks ID --force" in done.stderr


def test_a_prepare_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "bad").touch()

    done = run(script, "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"))

    assert done.returncode == 1
    assert done.stderr == (
        "prepare.py: error: line 3 of bad has a negative price; fix the source\n"
    )


def test_a_bug_keeps_its_traceback(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "bug").touch()

    done = run(script, "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"))

    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: a bug in the task's code" in done.stderr


def test_an_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    script = write_script(tmp_path)
    (tmp_path / "out").write_text("not a folder")

    done = run(script, "--generated", "--out", str(tmp_path / "out"))

    assert done.returncode == 2
    assert f"--out {tmp_path / 'out'}: {tmp_path / 'out'} is a file" in done.stderr


def test_malformed_task_params_stop_before_any_work(tmp_path: Path) -> None:
    script = write_script(tmp_path)

    done = run(script, "--generated", "--out", str(tmp_path / "out"),
               env={"MLAB_TASK_PARAMS": "[1, 2"})  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "MLAB_TASK_PARAMS is not JSON" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_tasks_own_arguments_reach_its_builder(tmp_path: Path) -> None:
    script = write_script(tmp_path, WITH_EXTRA)

    default = run(script, "--generated", "--out", str(tmp_path / "a"))
    given = run(script, "--generated", "--out", str(tmp_path / "b"), "--rows", "7")
    bad = run(script, "--generated", "--out", str(tmp_path / "c"), "--rows", "many")

    assert default.returncode == 0 and given.returncode == 0, default.stderr + given.stderr
    assert (tmp_path / "a" / "private" / "rows.txt").read_text() == "3"
    assert (tmp_path / "b" / "private" / "rows.txt").read_text() == "7"
    assert bad.returncode == 2 and "--rows: invalid int value: 'many'" in bad.stderr


def test_help_shows_the_task_docstring(tmp_path: Path) -> None:
    done = run(write_script(tmp_path), "--help")

    assert done.returncode == 0
    assert "A toy task's data preparation." in done.stdout
    assert "The second line of the docstring." in done.stdout
    assert "--raw RAW" in done.stdout and "--out OUT" in done.stdout


def test_the_module_imports_without_mlab_hpc_from_the_grader_lib_folder() -> None:
    """As every grader_lib module: importable top-level with the folder on PYTHONPATH."""
    code = "import sys, mlab_prepare; assert 'mlab_hpc' not in sys.modules, sorted(sys.modules)"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(GRADER_LIB)}, cwd="/")  # fmt: skip

    assert done.returncode == 0, done.stderr


NOT_YET: set[str] = set()  # tasks whose prepare.py has its own command line (none left)


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(
            path.parents[1].name,
            marks=[pytest.mark.xfail(strict=True, reason="own argparse block, not yet moved")]
            if path.parents[1].name in NOT_YET
            else [],
        )
        for path in sorted(tasks_root().glob("*/scripts/prepare.py"))
    ],
)
def test_every_tasks_prepare_goes_through_the_entry_point(task: str, tmp_path: Path) -> None:
    script = tasks_root() / task / "scripts" / "prepare.py"

    done = run(script, "--out", str(tmp_path / "out"))

    assert "prepare_main(" in script.read_text()
    assert done.returncode == 2
    assert done.stderr == (
        "prepare.py: error: one of the arguments --raw --generated is required "
        "(see prepare.py --help)\n"
    )


def test_mmlu_sample_draws_the_forms_count_in_file_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data

    rows = [{"question": f"q{i}"} for i in range(40)]
    monkeypatch.setenv("MLAB_TASK_PARAMS", json.dumps({"mmlu_questions": 6}))
    picked = data.mmlu_sample(rows, seed=17)

    assert len(picked) == 6 and picked == sorted(picked, key=rows.index)
    assert data.mmlu_sample(rows, seed=17) == picked != data.mmlu_sample(rows, seed=18)
    monkeypatch.setenv("MLAB_TASK_PARAMS", json.dumps({"mmlu_questions": 40}))
    assert data.mmlu_sample(rows, seed=17) == rows


def test_a_downloaded_model_without_weights_is_one_line(tmp_path: Path) -> None:
    script = tasks_root() / "llm-efficiency" / "scripts" / "prepare.py"
    (tmp_path / "raw" / "base_model").mkdir(parents=True)
    (tmp_path / "raw" / "base_model" / "config.json").write_text("{}")

    done = run(script, "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"),
               env={"MLAB_TASK_PARAMS": json.dumps({"mmlu_questions": 5})})  # fmt: skip

    assert done.returncode == 1
    assert done.stderr == (
        f"prepare.py: error: {tmp_path / 'raw' / 'base_model'} holds no .safetensors weights; "
        "run prepare again\n"
    )


def test_a_delivered_csv_is_read_as_delivered_or_from_the_zip(tmp_path: Path) -> None:
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, read_delivered_csv

    text = '\ufeffid,essay\r\n1,"two\r\nlines"\r\n\r\n2,plain\r\n'
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "train.csv").write_bytes(text.encode())
    (tmp_path / "zipped").mkdir()
    with zipfile.ZipFile(tmp_path / "zipped" / "competition.zip", "w") as zipped:
        zipped.writestr("data/train.csv", text.encode())
    want = (["id", "essay"], [["1", "two\r\nlines"], ["2", "plain"]])

    assert read_delivered_csv(tmp_path / "plain", "train.csv") == want
    assert read_delivered_csv(tmp_path / "zipped", "train.csv") == want
    with pytest.raises(PrepareError, match=r"no test\.csv in .*plain \(nor in a zip file there\)"):
        read_delivered_csv(tmp_path / "plain", "test.csv")
