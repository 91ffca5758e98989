"""`mlab-hpc sql`, `show`, `import-mlagentbench`, and the views on incomplete results roots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mlab_hpc.analysis import connect
from mlab_hpc.analysis.cache import TableCache
from mlab_hpc.analysis.db import analysis_dir, column_block, duckdb_type, views_sql
from mlab_hpc.analysis.synthetic import PlantedRun, PlantedStep, write_planted_run
from mlab_hpc.cli import main
from mlab_hpc.paths import TABLES
from mlab_hpc.schema import SCHEMAS
from mlab_hpc.scoring import Anchors

ANCHORS = Anchors(naive_fixed=20.0, human=500.0)


def invoke(results: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--results", str(results), *args])
    return result.exit_code, result.output


def one_run(results: Path, seed: int = 0, **kw: object) -> PlantedRun:
    run = PlantedRun(
        "cartpole",
        "alpha",
        seed,
        [{"mean_return": 20.0}, {"mean_return": 60.0}, None],
        ANCHORS,
        steps=[
            PlantedStep(
                action="Write File",
                args={"file_name": "policy.py", "content": "x"},
                thought="write a policy",
                observation="File policy.py written successfully.",
                llm_calls=[
                    {
                        "purpose": "agent",
                        "model": "m",
                        "prompt_tokens": 7,
                        "completion_tokens": 3,
                        "cost_usd": 0.5,
                        "latency_s": 0.1,
                    }
                ],
            ),
            PlantedStep(
                observation="Traceback: boom\nline two\nline three",
                error_kind="nonzero_exit",
                exit_code=1,
            ),
        ],
        **kw,  # type: ignore[arg-type]
    )
    write_planted_run(results, run)
    return run


def test_views_of_a_results_root_without_files(tmp_path: Path) -> None:
    con = connect(tmp_path / "nothing", cache=False)
    for table in (*TABLES, "run_outcomes", "best_so_far", "step_errors"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    described = dict(con.execute("DESCRIBE runs").fetchall()[i][:2] for i in range(3))
    assert described == {"schema_version": "INTEGER", "run_id": "VARCHAR", "campaign": "VARCHAR"}
    code, out = invoke(tmp_path / "nothing", "report")
    assert code == 1 and "no runs in" in out and len(out.strip().splitlines()) == 1


def test_views_without_llm_calls_have_the_tables_columns(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = one_run(results)
    for f in (results / "tables" / "llm_calls").rglob("*.parquet"):
        f.unlink()
    for cache in (False, True):
        con = connect(results, cache=cache)
        columns = [r[0] for r in con.execute("DESCRIBE llm_calls").fetchall()]
        assert columns == [f.name for f in SCHEMAS["llm_calls"]]
        assert con.execute("SELECT count(*) FROM llm_calls").fetchone() == (0,)
        assert con.execute("SELECT run_id FROM runs").fetchall() == [(run.run_id,)]


def test_views_sql_column_blocks_match_the_schema() -> None:
    """The static blocks (for the DuckDB CLI) hold schema columns with the schema's types."""
    text = (analysis_dir() / "views.sql").read_text()
    for table, schema in SCHEMAS.items():
        block = text.split(f"-- BEGIN columns {table}\n")[1].split("-- END columns")[0]
        declared = [line.strip().rstrip(",") for line in block.strip().splitlines()]
        types = {f.name: duckdb_type(f.type) for f in schema}
        for line in declared:
            kind, name = line.removeprefix("NULL::").split(" AS ")
            assert types[name] == kind, (table, name)
        assert column_block(table) in views_sql()


def test_views_run_from_a_plain_duckdb_connection(tmp_path: Path) -> None:
    """What `duckdb -c ".read analysis/views.sql"` does: variables, then the file as written."""
    results = tmp_path / "results"
    one_run(results)
    con = duckdb.connect()
    con.execute("SET VARIABLE mlab_results = ?", [str(results)])
    con.execute("SET VARIABLE mlab_analysis = ?", [str(analysis_dir())])
    con.execute((analysis_dir() / "views.sql").read_text())
    for query in sorted((analysis_dir() / "queries").glob("*.sql")):
        con.execute(query.read_text()).fetchall()
    # no baseline run in this root: success is unknown (NULL), never a silent failure
    assert con.execute("SELECT count(*), any_value(success_10) FROM run_outcomes").fetchone() == (
        1,
        None,
    )


def test_cache_is_incremental(tmp_path: Path) -> None:
    results = tmp_path / "results"
    one_run(results, seed=0)
    cache = TableCache(results, tmp_path / "cache")
    first = cache.refresh("runs")
    assert len(first) == 1 and cache.refresh("runs") == first  # nothing new: nothing rewritten
    one_run(results, seed=1)
    second = cache.refresh("runs")
    assert first[0] in second and len(second) == 2  # one new chunk for the new run
    one_run(results, seed=0, status="timeout")  # a run's file rewritten: its partition rebuilt
    third = cache.refresh("runs")
    assert first[0] not in third and len(third) == 1
    rows = duckdb.execute("SELECT seed, status FROM read_parquet(?) ORDER BY seed", [third])
    assert rows.fetchall() == [(0, "timeout"), (1, "completed")]
    # a folder unchanged for a while is trusted without a stat of each file; a new file in it
    # (written by rename, as every writer here does) changes its mtime and is found
    folder = next((results / "tables" / "runs").glob("campaign=*/task=*"))
    os.utime(folder, (time.time() - 60, time.time() - 60))
    assert cache.refresh("runs") == third
    assert cache.refresh("runs") == third
    one_run(results, seed=2)
    assert len(cache.refresh("runs")) == 2
    assert connect(results).execute("SELECT count(*) FROM runs").fetchone() == (3,)


def test_sql_formats_and_errors(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = one_run(results)
    code, out = invoke(
        results, "sql", "SELECT run_id, n_steps, success_10 FROM run_outcomes", "--format", "json"
    )
    assert code == 0
    assert json.loads(out) == [{"run_id": run.run_id, "n_steps": 2, "success_10": None}]
    code, out = invoke(
        results, "sql", "SELECT task, count(*) AS n FROM runs GROUP BY ALL", "--format", "csv"
    )
    assert (code, out) == (0, "task,n\ncartpole,1\n")
    code, out = invoke(
        results,
        "sql",
        "--file",
        str(analysis_dir() / "queries/success_rate.sql"),
        "--format",
        "csv",
    )
    assert code == 0 and out.splitlines()[0].startswith("task,agent,model,kind,n_runs")
    target = tmp_path / "out.parquet"
    code, _ = invoke(
        results, "sql", "SELECT * FROM steps", "--format", "parquet", "--output", str(target)
    )
    assert code == 0 and pq.read_table(target).num_rows == 2
    code, out = invoke(results, "sql", "SELECT task FROM runz")
    assert code == 1 and len(out.strip().splitlines()) == 1
    assert out.startswith("Error: SQL error: Catalog Error") and "runs" in out
    code, out = invoke(results, "sql", "SELEC 1")
    assert code == 1 and "syntax error" in out and len(out.strip().splitlines()) == 1
    code, out = invoke(results, "sql", "SELECT count(*) AS n FROM runs")
    assert code == 0 and "1 rows" in out


def test_show_prints_steps_scores_and_llm_calls(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = one_run(results)
    code, out = invoke(results, "show", run.run_id[:14])  # a unique prefix is enough
    assert code == 0, out
    assert run.run_id in out and "failed" not in out.splitlines()[2]
    assert "Write File" in out and "policy.py" in out and "nonzero_exit" in out
    assert "invalid" in out  # the final snapshot
    assert "60.0" in out  # best so far after step 1
    assert "1 (10 tok)" in out  # one LLM call of 7 + 3 tokens
    assert "line three" not in out  # heads only ...
    code, out = invoke(results, "show", run.run_id, "--full")
    assert code == 0 and "line three" in out and "write a policy" in out
    code, out = invoke(results, "show", "cartpole.alpa")
    assert code == 2 and "unknown run 'cartpole.alpa'" in out and "Did you mean" in out


def _mlagentbench_logs(root: Path) -> Path:
    """Logs as MLAgentBench writes them: two runs of a research agent, one of the baseline."""

    def run(
        exp: str,
        task: str,
        name: str,
        steps: list[tuple[str, dict, str]],
        time_s: float | None,
        error: str | None = None,
    ) -> str:
        d = root / "final_exp_logs" / exp / task / name
        (d / "env_log" / "tool_logs").mkdir(parents=True)
        (d / "agent_log").mkdir()
        trace = {
            "steps": [
                {
                    "action": {"name": a, "args": args},
                    "observation": obs,
                    "timestamp": 1000.0 + 10 * i,
                }
                for i, (a, args, obs) in enumerate(steps)
            ],
            "low_level_steps": [],
            "action_infos": {},
            "task_description": "improve",
        }
        (d / "env_log" / "trace.json").write_text(json.dumps(trace))
        if time_s is not None:
            (d / "env_log" / "overall_time.txt").write_text(str(time_s))
        if error:
            (d / "env_log" / "error.txt").write_text(error)
        history = [
            {
                "step_idx": i + 1,
                "action": {
                    "Reflection": "hm",
                    "Thought": f"try {i}",
                    "Action": a,
                    "Action Input": "{}",
                },
                "observation": obs,
            }
            for i, (a, _args, obs) in enumerate(steps)
        ]
        (d / "agent_log" / f"agent_{len(steps) - 1}_{len(steps) - 1}.json").write_text(
            json.dumps({"history_steps": history})
        )
        block = (
            "\n===================prompt=====================\nHuman: do it Assistant:"
            "\n===================claude-v1 response (2000)=====================\nok"
            "\n===================tokens=====================\n"
            "Number of prompt tokens: 11\nNumber of sampled tokens: 4\n\n\n"
        )
        (d / "agent_log" / "step_0_log.log").write_text(block * 2)
        (d / "env_log" / "tool_logs" / "step_1_tool_log.log").write_text(block)
        return f"/lfs/old/machine/final_exp_logs/{exp}/{task}/{name}/env_log/trace.json"

    def result(
        path: str,
        final: float,
        scores: list[float],
        steps: list[int],
        final_answer: bool,
        error: str = "",
    ) -> dict:
        return {
            "path": path,
            "summary": "",
            "rubric_questions": {},
            "score": scores,
            "score_steps": steps,
            "submitted_final_answer": final_answer,
            "final_score": final,
            "total_time": 25.0,
            "error": error,
            "extra": {"oom_error": False, "connection_error": False},
        }

    exec_train = ("Execute Script", {"script_name": "train.py"}, "accuracy 0.5")
    edit = ("Edit Script (AI)", {"script_name": "train.py", "edit_instruction": "more"}, "edited")
    final = ("Final Answer", {"final_answer": "done"}, "end")
    bad = ("Execute Script", "not json", "ActionInputParsingError: oops")
    paths = {
        "base": run("sanity_check", "cifar10_training", "1", [exec_train, final], 25.0),
        "good": run(
            "research", "cifar10_training", "7", [exec_train, edit, exec_train, final], 25.0
        ),
        "bad": run("research", "cifar10_training", "8", [bad, exec_train], None, "Traceback"),
    }
    evals = {
        paths["base"]: result(paths["base"], 0.5, [0.5], [0], True),
        paths["good"]: result(paths["good"], 0.6, [0.5, 0.0, 0.7], [0, 1, 2], True),
        paths["bad"]: result(paths["bad"], -1, [], [], False, "Traceback"),
    }
    eval_file = root / "results_cifar10.json"
    eval_file.write_text(json.dumps(evals))
    return eval_file


def test_import_mlagentbench(tmp_path: Path) -> None:
    eval_file = _mlagentbench_logs(tmp_path / "logs")
    results = tmp_path / "results"
    code, out = invoke(
        results, "import-mlagentbench", str(eval_file), "--logs", str(tmp_path / "logs")
    )
    assert code == 0, out
    assert "imported 3 runs (8 steps, 9 LLM calls)" in out
    con = connect(results, ["mlagentbench"])
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT agent || '/' || split_part(run_id, '.', 4), task, status, exit_reason, "
            "n_steps, final_score, valid_final, baseline_score, improvement_final, success_10, "
            "best_score, wall_s FROM run_outcomes"
        ).fetchall()
    }
    assert rows["baseline/1"] == (
        "cifar10",
        "completed",
        "final_answer",
        2,
        50.0,
        True,
        50.0,
        0.0,
        False,
        50.0,
        25.0,
    )
    # accuracies are fractions in MLAgentBench, % here: 0.6 -> 60.0 over the baseline's 50.0:
    # +20%, a success; best 70.0 at trace step 2 (step 3 here)
    good = rows["research/7"]
    assert good[:7] == ("cifar10", "completed", "final_answer", 4, 60.0, True, 50.0)
    assert good[7] == pytest.approx(0.2) and good[8] is True and good[9] == 70.0
    # no final score (-1), an error: failed, and counted as such
    assert rows["research/8"][:6] == ("cifar10", "failed", "agent_error", 2, None, False)
    assert rows["research/8"][8] is False
    steps = con.execute(
        "SELECT step, action, thought, duration_s, error_kind FROM steps "
        "WHERE run_id LIKE '%research.cifar10.7' ORDER BY step"
    ).fetchall()
    assert [s[1] for s in steps] == [
        "Execute Script",
        "Edit Script (AI)",
        "Execute Script",
        "Final Answer",
    ]
    assert steps[0][2] == "Reflection: hm\nThought: try 0" and steps[1][3] == 10.0
    bad_steps = con.execute(
        "SELECT error_kind FROM steps WHERE run_id LIKE '%.8' ORDER BY step"
    ).fetchall()
    assert bad_steps == [("bad_arguments",), (None,)]
    scores = con.execute(
        "SELECT step, raw_score, valid FROM scores WHERE run_id LIKE '%.7' ORDER BY step"
    ).fetchall()
    assert scores == [(1, 50.0, True), (2, None, False), (3, 70.0, True), (4, 60.0, True)]
    calls = con.execute(
        "SELECT step, purpose, model, prompt_tokens, completion_tokens FROM llm_calls "
        "WHERE run_id LIKE '%.7' ORDER BY step, purpose"
    ).fetchall()
    assert calls == [
        (1, "agent", "claude-v1", 11, 4),
        (1, "agent", "claude-v1", 11, 4),
        (2, "edit", "claude-v1", 11, 4),
    ]
    code, out = invoke(results, "report", "--campaign", "mlagentbench", "--format", "json")
    success = json.loads(out)["sections"]["success_rate"]["rows"]
    assert [(r["agent"], r["n_runs"], r["n_success"]) for r in success] == [
        ("baseline", 1, 0),
        ("research", 2, 1),
    ]


def test_views_and_queries_from_the_duckdb_cli(tmp_path: Path) -> None:
    """The documented command line: the `duckdb` shell, from the repository's root folder."""
    duckdb_cli = shutil.which("duckdb")
    if duckdb_cli is None:
        pytest.fail("the DuckDB CLI is needed for this test: pip install -e '.[dev]' (duckdb-cli)")
    results = tmp_path / "results"
    one_run(results)
    commands = [
        duckdb_cli,
        "-csv",
        "-c",
        f"SET VARIABLE mlab_results = '{results}'",
        "-c",
        ".read analysis/views.sql",
        "-c",
        "SELECT count(*) AS n, sum(n_steps) AS steps FROM run_outcomes",
        "-c",
        "SELECT count(*) AS calls FROM llm_calls",
        "-c",
        ".read analysis/queries/success_rate.sql",
    ]
    done = subprocess.run(
        commands, cwd=analysis_dir().parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    blocks = done.stdout.strip().split("\n")
    assert blocks[:4] == ["n,steps", "1,2", "calls", "1"]
    assert blocks[4].startswith("task,agent,model,kind,n_runs") and blocks[5].startswith(
        "cartpole,alpha,"
    )
    # a results root without any file yet: empty views, no error
    done = subprocess.run(
        [
            duckdb_cli,
            "-csv",
            "-c",
            f"SET VARIABLE mlab_results = '{tmp_path / 'none'}'",
            "-c",
            ".read analysis/views.sql",
            "-c",
            "SELECT count(*) AS n FROM step_errors",
        ],
        cwd=analysis_dir().parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout.split()) == (0, ["n", "0"]), done.stderr


def test_views_sql_in_the_repository_matches_the_schema() -> None:
    """The DuckDB-shell copy of the column lists is the one mlab-hpc would generate."""
    from mlab_hpc.analysis.db import analysis_dir, views_sql

    assert (analysis_dir() / "views.sql").read_text() == views_sql(), (
        "analysis/views.sql is behind mlab_hpc/schema.py: regenerate it with python -c "
        "\"from mlab_hpc.analysis.db import views_sql, analysis_dir; "
        "(analysis_dir() / 'views.sql').write_text(views_sql())\""
    )
