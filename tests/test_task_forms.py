"""Task forms: one folder, a full task and its mini form ([forms.mini] in task.toml).

Loading, merging and validation on small task folders written here; the shipped ML Research
Benchmark tasks' forms (ids, limits, caps stated in the text); and the caps reaching the
graders through $MLAB_TASK_PARAMS, checked by running the real eval.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlab_hpc.errors import TaskSpecError, UnknownNameError
from mlab_hpc.taskspec import get_task, load_task, render_text, select_tasks, task_ids

MLRB = ["llm-efficiency", "baby-lm", "minipile", "llm-merging", "edge-llm-compression",
        "edge-llm-training"]  # fmt: skip

BASE = """
id = "toy"
version = "1"
title = "A toy task"
deliverable = "submission"
environment = "base"
research_problem = \"\"\"
Write at most {max_rows:,} rows in {max_bytes:MB}; keys like {"text": 1} stay; {kinds:or}.
\"\"\"

[params]
max_rows = 20000
max_bytes = 3000000
kinds = ["csv", "tsv"]

[metric]
name = "accuracy"
direction = "higher"

[limits]
max_steps = 30
max_time_s = 86400
action_timeout_s = 900

[resources]
gpus = 1
mem_gb = 64
"""


def toy(root: Path, text: str, name: str = "toy") -> Path:
    """A task folder `root/name` with this task.toml, an env/ and a grader."""
    folder = root / name
    (folder / "env").mkdir(parents=True)
    (folder / "scripts").mkdir()
    (folder / "scripts" / "eval.py").write_text(
        "import json, os, sys\n"
        "out = sys.argv[sys.argv.index('--out') + 1]\n"
        "params = json.loads(os.environ['MLAB_TASK_PARAMS'])\n"
        "json.dump({'valid': True, 'reason': '', 'metrics': {'accuracy': 1.0}, "
        "'agent_reported': params['max_rows']}, open(out, 'w'))\n"
    )
    (folder / "task.toml").write_text(textwrap.dedent(text))
    return folder


MINI = """
[forms.mini]
title = "A toy task (mini form)"

[forms.mini.params]
max_rows = 500

[forms.mini.limits]
max_time_s = 7200
"""


def test_both_forms_are_listed_and_the_mini_form_lays_its_table_over_the_full(
    tmp_path: Path,
) -> None:
    toy(tmp_path, BASE + MINI)

    assert task_ids(tmp_path) == ["mini-toy", "toy"]
    full, mini = get_task("toy", tmp_path), get_task("mini-toy", tmp_path)

    assert (full.id, full.form, full.folder_id) == ("toy", "full", "toy")
    assert (mini.id, mini.form, mini.folder_id) == ("mini-toy", "mini", "toy")
    assert mini.root == full.root and mini.eval_script == full.eval_script
    assert mini.title == "A toy task (mini form)"
    # tables merge key by key: the limits and params the mini form does not name stay
    assert (mini.limits.max_steps, mini.limits.max_time_s) == (30, 7200)
    assert mini.params == {"max_rows": 500, "max_bytes": 3000000, "kinds": ["csv", "tsv"]}
    assert full.params["max_rows"] == 20000
    assert (mini.resources.gpus, mini.resources.mem_gb) == (1, 64)


def test_placeholders_state_each_forms_values_and_leave_other_braces(tmp_path: Path) -> None:
    toy(tmp_path, BASE + MINI)

    full, mini = get_task("toy", tmp_path), get_task("mini-toy", tmp_path)

    tail = 'in 3 MB; keys like {"text": 1} stay; csv or tsv.'
    assert full.research_problem == "Write at most 20,000 rows " + tail
    assert mini.research_problem == "Write at most 500 rows " + tail


def test_render_text_units_and_lists() -> None:
    params = {"b": 3 * 1024**3, "p": 600_000_000, "d": ["float16", "bfloat16", "float32"]}
    assert render_text("{b:GiB}, {p:million}, {d:or}, {d:and}", params) == (
        "3 GiB, 600 million, float16, bfloat16 or float32, float16, bfloat16 and float32"
    )
    assert render_text("{} {{x}} { x }", {"x": 1}) == "{} {1} { x }"
    assert render_text("{one:or}", {"one": ["csv"]}) == "csv"
    with pytest.raises(ValueError, match="is a list"):
        render_text("{d}", params)
    with pytest.raises(KeyError):
        render_text("{missing}", params)


def test_an_unknown_key_in_the_form_names_the_file_and_the_key(tmp_path: Path) -> None:
    extra = MINI.replace('(mini form)"', '(mini form)"\ndeliverable = "policy"')
    folder = toy(tmp_path, BASE + extra)

    with pytest.raises(TaskSpecError) as err:
        get_task("toy", tmp_path)  # the file is wrong, whichever form is asked for

    assert err.value.path == folder / "task.toml"
    assert err.value.field == "forms.mini.deliverable"
    assert "unknown field" in str(err.value)


def test_a_form_other_than_mini_is_refused(tmp_path: Path) -> None:
    toy(tmp_path, BASE + "\n[forms.tiny]\ntitle = 'x'\n")

    with pytest.raises(TaskSpecError, match="forms.tiny.*unknown form; the forms are: mini"):
        get_task("toy", tmp_path)


def test_an_error_in_the_merged_form_is_named_under_forms_mini(tmp_path: Path) -> None:
    toy(tmp_path, BASE + MINI.replace("max_time_s = 7200", "max_time_s = -1"))

    assert get_task("toy", tmp_path).limits.max_time_s == 86400  # the full form is fine
    with pytest.raises(TaskSpecError) as err:
        get_task("mini-toy", tmp_path)
    assert err.value.field == "forms.mini.limits.max_time_s"


def test_a_placeholder_that_names_no_parameter_is_an_error(tmp_path: Path) -> None:
    toy(tmp_path, BASE.replace("{max_rows:,}", "{max_row}"))

    with pytest.raises(TaskSpecError, match=r"\{max_row\} names no parameter"):
        get_task("toy", tmp_path)


def test_a_folder_named_like_a_form_is_refused(tmp_path: Path) -> None:
    toy(tmp_path, BASE + MINI)
    toy(tmp_path, BASE.replace('id = "toy"', 'id = "mini-toy"'), name="mini-toy")

    with pytest.raises(TaskSpecError, match="both this folder and a form"):
        task_ids(tmp_path)


def test_a_task_without_the_form_has_no_mini_id(tmp_path: Path) -> None:
    toy(tmp_path, BASE)

    assert task_ids(tmp_path) == ["toy"]
    with pytest.raises(UnknownNameError, match="Did you mean 'toy'"):
        get_task("mini-toy", tmp_path)
    with pytest.raises(TaskSpecError, match="describes no mini form"):
        load_task(tmp_path / "toy", "mini")


def test_the_grader_gets_its_forms_params(tmp_path: Path) -> None:
    """script_env() is what the harness gives prepare.py and eval.py."""
    toy(tmp_path, BASE + MINI)
    for task_id, rows in (("toy", 20000), ("mini-toy", 500)):
        task = get_task(task_id, tmp_path)
        env = task.script_env()
        assert env["MLAB_TASK_ID"] == task_id and json.loads(env["MLAB_TASK_PARAMS"])["max_rows"]
        out = tmp_path / f"{task_id}.json"
        subprocess.run(
            [sys.executable, str(task.eval_script), "--out", str(out)],
            env={**os.environ, **env},
            check=True,
        )
        assert json.loads(out.read_text())["agent_reported"] == rows


# --- the shipped ML Research Benchmark tasks ---------------------------------------------------


@pytest.mark.parametrize("task_id", MLRB)
def test_mlrb_tasks_have_a_24_hour_full_form_and_a_2_hour_mini_form(task_id: str) -> None:
    full, mini = get_task(task_id), get_task(f"mini-{task_id}")

    assert (full.form, mini.form, mini.folder_id) == ("full", "mini", task_id)
    assert (full.limits.max_time_s, mini.limits.max_time_s) == (86400, 7200)
    assert full.resources.gpus == mini.resources.gpus == 1
    assert full.deliverable == mini.deliverable == "model"
    assert mini.title.endswith("(mini form)") and not full.title.endswith("(mini form)")
    assert full.version == mini.version == "1"
    # the grader's timeout leaves room for its own budget
    for task in (full, mini):
        assert task.params["budget_s"] < task.grader.timeout_s
        assert {"max_parameters", "max_bytes"} <= set(task.params)
    # each form fetches its own files; none is listed twice
    assert full.data.files != mini.data.files


def _stated(task_text: str, value: int) -> bool:
    """Whether the text states this cap in one of the units the tasks use."""
    units = {"GiB": 1024**3, "GB": 10**9, "MB": 10**6, "million": 10**6}
    return any(f"{value / size:g} {unit}" in task_text for unit, size in units.items())


@pytest.mark.parametrize("task_id", [t for base in MLRB for t in (base, f"mini-{base}")])
def test_the_research_problem_states_the_caps_the_grader_enforces(task_id: str) -> None:
    task = get_task(task_id)
    text = " ".join(task.research_problem.split())

    assert "{" not in text.replace('{"text"', "")  # every placeholder filled
    assert _stated(text, task.params["max_bytes"]), task_id
    if task_id.endswith("edge-llm-compression"):
        assert "no more parameters than the base" in text
        assert "float16" in text and ("bfloat16" in text) == task_id.startswith("mini-")
    else:
        assert _stated(text, task.params["max_parameters"]), task_id


def test_the_mini_forms_keep_their_published_caps() -> None:
    caps = {t: (get_task(t).params["max_parameters"], get_task(t).params["max_bytes"])
            for t in (f"mini-{b}" for b in MLRB)}  # fmt: skip
    assert caps == {
        "mini-llm-efficiency": (600_000_000, 3 * 1024**3),
        "mini-baby-lm": (200_000_000, 2 * 1024**3),
        "mini-minipile": (200_000_000, 2 * 1024**3),
        "mini-llm-merging": (600_000_000, 3 * 1024**3),
        "mini-edge-llm-compression": (500_000_000, 600 * 10**6),
        "mini-edge-llm-training": (150_000_000, 600 * 10**6),
    }


def test_task_groups_split_the_mlrb_forms() -> None:
    ids = [t.id for t in select_tasks("mlrb")]
    mini = [t.id for t in select_tasks("mlrb-mini")]
    full = [t.id for t in select_tasks("mlrb-full")]

    assert set(MLRB) <= set(full) and {f"mini-{t}" for t in MLRB} <= set(mini)
    assert sorted(mini + full) == sorted(ids)
    assert all(get_task(t).limits.max_time_s == 86400 for t in full if t in MLRB)
