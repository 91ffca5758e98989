"""mlab_untrusted: agent code run by a grader sees neither the answer key nor the grader's output.

The grader here runs as the harness runs graders: in the bwrap sandbox, with the answer folder
and the grader library mounted read-only and its output folder writable. The child it starts
tries to read the answers, to overwrite OUT.json and to write elsewhere; it may only write its
scratch folder, and it gets its input through a pipe.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlab_hpc.grading import GRADER_LIB
from mlab_hpc.sandbox import Mount, Sandbox

sys.path.insert(0, str(GRADER_LIB))  # import the library as graders do

CHILD = """
import json, os, sys
seen = {}
for name, op in [
    ("read_answer", lambda: open(os.environ["ANSWERS"] + "/answer.txt").read()),
    ("list_answers", lambda: os.listdir(os.environ["ANSWERS"])),
    ("read_key_file", lambda: open(os.environ["KEY"]).read()),
    ("write_out", lambda: open(os.environ["OUT"] + "/planted.json", "w").write("{}")),
    ("write_workspace", lambda: open("planted.txt", "w").write("x")),
    ("write_scratch", lambda: open(os.environ["TMPDIR"] + "/ok.txt", "w").write("x")),
]:
    try:
        seen[name] = repr(op())
    except OSError as exc:
        seen[name] = f"refused {exc.errno}"
seen["stdin"] = sys.stdin.read()
print(json.dumps(seen))
"""

GRADER = """
import json, subprocess, sys
from pathlib import Path
from mlab_untrusted import untrusted_command
answers, out, ws = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
child = untrusted_command(
    [sys.executable, str(ws / "child.py")],
    hide=[answers, out, ws / "key.txt"],
    scratch=out / "scratch",
    cwd=ws,
)
env = {**child.env, "ANSWERS": str(answers), "OUT": str(out), "KEY": str(ws / "key.txt")}
done = subprocess.run(child.argv, input="the inputs", capture_output=True, text=True, env=env)
(out / "OUT.json").write_text(json.dumps({"hidden": child.hidden, "child": done.stdout,
                                          "err": done.stderr[-2000:]}))
"""


def test_the_child_cannot_see_answers_or_write_the_result(bwrap: Sandbox, tmp_path: Path) -> None:
    answers, out, ws = tmp_path / "answers", tmp_path / "out", tmp_path / "ws"
    for folder in (answers, out, ws):
        folder.mkdir()
    (answers / "answer.txt").write_text("the secret labels")
    (ws / "child.py").write_text(textwrap.dedent(CHILD))
    (ws / "key.txt").write_text("a hidden file beside readable ones")
    (ws / "grader.py").write_text(textwrap.dedent(GRADER))
    result = bwrap.run(
        [bwrap.python, str(ws / "grader.py"), str(answers), str(out), str(ws)],
        cwd=ws,
        mounts=[Mount(ws), Mount(answers), Mount(GRADER_LIB), Mount(out, writable=True)],
        timeout_s=60,
        output_file=tmp_path / "log.txt",
        env={"PYTHONPATH": str(GRADER_LIB)},
    )
    assert result.returncode == 0, result.output
    report = json.loads((out / "OUT.json").read_text())
    assert report["hidden"] is True, report["err"]
    seen = json.loads(report["child"])
    assert seen["read_answer"].startswith("refused") or "secret" not in seen["read_answer"]
    assert seen["list_answers"] == "[]"
    assert seen["read_key_file"] in ("''", "refused 13")  # empty, or not readable at all
    # the output folder is an empty tmpfs to the child: what it writes there goes nowhere
    assert not (out / "planted.json").exists()
    assert seen["write_workspace"].startswith("refused")
    assert seen["write_scratch"] == "1"
    assert seen["stdin"] == "the inputs"
    assert (out / "scratch" / "ok.txt").exists()  # the scratch folder is the grader's to read
    assert not (ws / "planted.txt").exists()


def test_without_a_nested_sandbox_the_child_runs_unhidden_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlab_untrusted

    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    mlab_untrusted._nested_bwrap.cache_clear()
    try:
        child = mlab_untrusted.untrusted_command(
            ["python", "x.py"], hide=[tmp_path / "answers"], scratch=tmp_path / "scratch"
        )
    finally:
        mlab_untrusted._nested_bwrap.cache_clear()
    assert child.argv == ["python", "x.py"] and child.hidden is False
    assert child.env["TMPDIR"] == str(tmp_path / "scratch")


def test_run_captured_keeps_the_start_of_endless_output_and_ends_at_the_timeout() -> None:
    from mlab_untrusted import run_captured

    # 64 MiB on stdout and 1 KiB on stderr: a kept MiB of the first, all of the second
    flood = (
        "import sys\n"
        "sys.stderr.write('e' * 1024)\n"
        "block = 'o' * (1 << 20)\n"
        "for _ in range(64):\n"
        "    sys.stdout.write(block)\n"
    )
    done = run_captured([sys.executable, "-c", flood], env=os.environ, timeout_s=60)
    assert (done.returncode, done.overflow) == (0, True)
    assert done.stdout == "o" * (1 << 20)
    assert done.stderr == "e" * 1024

    quiet = run_captured([sys.executable, "-c", "print('hi')"], env=os.environ, timeout_s=60)
    assert (quiet.returncode, quiet.stdout, quiet.overflow) == (0, "hi\n", False)

    started = time.monotonic()
    stuck = run_captured(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
        env=os.environ,
        timeout_s=1,
    )
    assert (stuck.returncode, stuck.stdout) == (None, "started\n")
    assert time.monotonic() - started < 10
