"""The report on a synthetic campaign whose answers are known by construction.

3 tasks x 2 agents x 8 seeds, scored by the harness's own rules and written by its own table
writer. Every expected number below was worked out by hand from the planted scores (the
comments show the arithmetic); none is recomputed with the code under test.
"""

from __future__ import annotations

import json
from fractions import Fraction as F
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.analysis import connect
from mlab_hpc.analysis.report import build_report
from mlab_hpc.analysis.stats import bootstrap_mean, bootstrap_mean_of_means, wilson
from mlab_hpc.analysis.synthetic import PlantedRun, PlantedStep, write_planted_run
from mlab_hpc.cli import main
from mlab_hpc.scoring import Anchors

# cartpole: mean_return, higher is better, normalised s/500; baseline 20, naive 20, human 500,
# so human-relative = (best - 20) / 480.
CARTPOLE = Anchors(baseline=20.0, naive=20.0, human=500.0)
# house-price: mae (lower) for success, rmse_log for human-relative, normalised 1/(1+s);
# naive 3 -> 0.25, human 0 -> 1, so human-relative = (1/(1+best) - 0.25) / 0.75.
HOUSE = Anchors(baseline=1000.0, naive=3.0, human=0.0)
# vectorization: run_time_s (lower) for both, normalised 1/(1+s); naive 3, human 0.
VECTOR = Anchors(baseline=2.0, naive=3.0, human=0.0)


def cp(*scores: float | None) -> list[dict[str, float] | None]:
    return [None if s is None else {"mean_return": s} for s in scores]


def hp(*pairs: tuple[float, float] | None) -> list[dict[str, float] | None]:
    return [None if p is None else {"mae": p[0], "rmse_log": p[1]} for p in pairs]


def vt(*times: float | None) -> list[dict[str, float] | None]:
    return [None if t is None else {"run_time_s": t} for t in times]


def calls(n: int) -> list[dict[str, object]]:
    return [
        {
            "purpose": "agent",
            "model": "m1",
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "cost_usd": 0.25,
            "latency_s": 1.0,
        }
        for _ in range(n)
    ]


def alpha_steps(n: int, **first: object) -> list[PlantedStep]:
    """n steps of agent alpha (model m1): two LLM calls each; the first step as given."""
    steps = [PlantedStep(thought=f"plan {i}", llm_calls=calls(2)) for i in range(n)]
    for key, value in first.items():
        setattr(steps[0], key, value)
    return steps


def planted() -> list[PlantedRun]:
    runs: list[PlantedRun] = []

    def add(task: str, agent: str, seed: int, grades, anchors, **kw) -> None:  # type: ignore[no-untyped-def]
        model = "m1" if agent == "alpha" else ""
        if agent == "alpha" and "steps" not in kw:
            kw["steps"] = alpha_steps(len(grades) - 1)
        runs.append(PlantedRun(task, agent, seed, grades, anchors, model=model, **kw))

    timeout = {"status": "timeout", "exit_reason": "max_time"}
    failed = {"status": "failed", "exit_reason": "agent_error", "error": "Traceback\nValueError"}
    crashed = {"status": "failed", "exit_reason": "crashed"}
    # ---- cartpole, alpha: improvements (final-20)/20
    add("cartpole", "alpha", 0, cp(20, 30, 30), CARTPOLE)  # +0.5, best 30
    add("cartpole", "alpha", 1, cp(20, 60, 21), CARTPOLE)  # +0.05 (not > 5%), best 60
    add("cartpole", "alpha", 2, cp(20, 22.5), CARTPOLE)  # +0.125
    add("cartpole", "alpha", 3, cp(20, 50), CARTPOLE)  # +1.5
    add("cartpole", "alpha", 4, cp(20, 40, None), CARTPOLE, **failed)  # invalid final, best 40
    add(
        "cartpole",
        "alpha",
        5,
        cp(20, 19),
        CARTPOLE,  # -0.05, timed out
        steps=alpha_steps(1, error_kind="timeout", exit_code=None),
        **timeout,
    )
    add("cartpole", "alpha", 6, cp(20, 24), CARTPOLE)  # +0.2 (not > 20%)
    add("cartpole", "alpha", 7, cp(20, 100), CARTPOLE)  # +4.0
    # ---- cartpole, beta
    add(
        "cartpole",
        "beta",
        0,
        cp(20, 20),
        CARTPOLE,
        steps=[PlantedStep(error_kind="nonzero_exit", exit_code=1, observation="Traceback")],
    )
    add("cartpole", "beta", 1, cp(20, 20), CARTPOLE)
    add("cartpole", "beta", 2, cp(20, 25), CARTPOLE)  # +0.25
    add("cartpole", "beta", 3, cp(20, 18), CARTPOLE)  # -0.1
    add("cartpole", "beta", 4, cp(20, None), CARTPOLE, **crashed)  # invalid final
    add("cartpole", "beta", 5, cp(20, 20), CARTPOLE)
    add("cartpole", "beta", 6, cp(20, 23), CARTPOLE)  # +0.15 (not > 15%)
    add("cartpole", "beta", 7, cp(20, 20), CARTPOLE, **timeout)
    # ---- house-price, alpha: improvements (1000-mae)/1000; best rmse_log r -> 1/(1+r)
    add("house-price", "alpha", 0, hp((1000, 3), (800, 1), (850, 1.5)), HOUSE)  # +0.15, r 1
    add("house-price", "alpha", 1, hp((1000, 3), (500, 0.25)), HOUSE)  # +0.5, r 0.25
    add("house-price", "alpha", 2, hp((1000, 3), (950, 2)), HOUSE)  # +0.05, r 2
    add("house-price", "alpha", 3, hp((1000, 3), (1100, 3)), HOUSE)  # -0.1, r 3
    add(
        "house-price",
        "alpha",
        4,
        hp((1000, 3), None),
        HOUSE,  # invalid final; killed: OOM
        steps=alpha_steps(1, error_kind="nonzero_exit", exit_code=137, observation="Killed"),
        **timeout,
    )
    add("house-price", "alpha", 5, hp((1000, 3), (700, 1)), HOUSE)  # +0.3 (not > 30%), r 1
    add("house-price", "alpha", 6, hp((1000, 3), (890, 3)), HOUSE)  # +0.11, r 3
    add("house-price", "alpha", 7, hp((1000, 3), (600, 0)), HOUSE)  # +0.4, r 0
    # ---- house-price, beta: the baseline every time; seed 0 crashed before its first step
    add("house-price", "beta", 0, hp((1000, 3)), HOUSE, **crashed)
    for seed in range(1, 8):
        add("house-price", "beta", seed, hp((1000, 3), (1000, 3)), HOUSE)
    # ---- vectorization, alpha: improvements (2-t)/2; best t -> 1/(1+t), start at 2
    add("vectorization", "alpha", 0, vt(2, 1.0), VECTOR)  # +0.5
    add("vectorization", "alpha", 1, vt(2, 1.5), VECTOR)  # +0.25
    add("vectorization", "alpha", 2, vt(2, 1.75), VECTOR)  # +0.125
    add("vectorization", "alpha", 3, vt(2, 2.5), VECTOR, **timeout)  # -0.25, best 2 (start)
    add("vectorization", "alpha", 4, vt(2, 0.5), VECTOR)  # +0.75
    add("vectorization", "alpha", 5, vt(2, 1.25), VECTOR)  # +0.375
    add("vectorization", "alpha", 6, vt(2, None), VECTOR, **failed)  # invalid final, best 2
    add("vectorization", "alpha", 7, vt(2, 1.0), VECTOR)  # +0.5
    # ---- vectorization, beta: the starter's time every time; one LLM failure
    for seed in range(7):
        add(
            "vectorization",
            "beta",
            seed,
            vt(2, 2.0),
            VECTOR,
            steps=[PlantedStep(error_kind="bad_arguments", exit_code=None)] if seed == 3 else None,
        )
    add(
        "vectorization",
        "beta",
        7,
        vt(2, 2.0),
        VECTOR,
        status="llm_error",
        exit_reason="agent_error",
    )
    return runs


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted") / "results"
    for run in planted():
        write_planted_run(root, run)
    return root


@pytest.fixture(scope="module")
def report_json(campaign: Path) -> dict:
    result = CliRunner().invoke(main, ["--results", str(campaign), "report", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def cells(report_json: dict, section: str) -> dict[tuple, dict]:
    rows = report_json["sections"][section]["rows"]
    keys = ("task", "agent") if "task" in rows[0] else ("agent",)
    return {tuple(r[k] for k in keys): r for r in rows}


def assert_close(a: object, b: object) -> None:
    """Equal up to float rounding (sums in another order), recursively."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_close(a[k], b[k])
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_close(x, y)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def approx(value: float | F) -> object:
    return pytest.approx(float(value), rel=1e-12, abs=1e-12)


def test_overview_counts_every_run(report_json: dict) -> None:
    meta = report_json["meta"]
    assert meta["n_runs"] == 48 and meta["n_tasks"] == 3 and meta["n_agents"] == 2
    # failed: cartpole a4, b4; house b0; vector a6 -- timeout: cartpole a5, b7; house a4;
    # vector a3 -- llm_error: vector b7
    assert meta["status_counts"] == {"completed": 39, "failed": 4, "timeout": 4, "llm_error": 1}
    assert meta["campaigns"] == ["synthetic"]


def test_success_rate_is_direction_aware_and_counts_failed_runs(report_json: dict) -> None:
    got = cells(report_json, "success_rate")
    expected = {  # (n_success, n_completed, n_valid_final) of 8 runs
        ("cartpole", "alpha"): (5, 6, 7),  # 0.5, 0.125, 1.5, 0.2, 4.0
        ("cartpole", "beta"): (2, 6, 7),  # 0.25, 0.15
        ("house-price", "alpha"): (5, 7, 7),  # 0.15, 0.5, 0.3, 0.11, 0.4
        ("house-price", "beta"): (0, 7, 8),
        ("vectorization", "alpha"): (6, 6, 7),  # 0.5, 0.25, 0.125, 0.75, 0.375, 0.5
        ("vectorization", "beta"): (0, 7, 8),
    }
    assert set(got) == set(expected)
    for key, (k, completed, valid) in expected.items():
        row = got[key]
        assert row["n_runs"] == 8, key
        assert (row["n_success"], row["n_completed"], row["n_valid_final"]) == (k, completed, valid)
        assert row["success_rate"] == approx(F(k, 8)), key
    assert got[("cartpole", "alpha")]["model"] == "m1" and got[("cartpole", "beta")]["model"] == ""
    # Wilson 95% of 5/8, 2/8, 0/8 and 6/8 (published tables, 4 decimals)
    for key, (lo, hi) in {
        ("cartpole", "alpha"): (0.3057, 0.8632),
        ("cartpole", "beta"): (0.0715, 0.5907),
        ("house-price", "beta"): (0.0, 0.3244),
        ("vectorization", "alpha"): (0.4093, 0.9285),
    }.items():
        assert got[key]["success_rate_lo"] == pytest.approx(lo, abs=5e-5), key
        assert got[key]["success_rate_hi"] == pytest.approx(hi, abs=5e-5), key


def test_success_at_every_threshold(report_json: dict) -> None:
    got = cells(report_json, "success_thresholds")
    expected = {  # successes at 5, 10, 15, 20, 30%; "more than": a change of exactly t fails
        ("cartpole", "alpha"): (5, 5, 4, 3, 3),
        ("cartpole", "beta"): (2, 2, 1, 1, 0),
        ("house-price", "alpha"): (5, 5, 3, 3, 2),
        ("house-price", "beta"): (0, 0, 0, 0, 0),
        ("vectorization", "alpha"): (6, 6, 5, 5, 4),
        ("vectorization", "beta"): (0, 0, 0, 0, 0),
    }
    for key, counts in expected.items():
        for t, k in zip((5, 10, 15, 20, 30), counts, strict=True):
            assert got[key][f"success_{t}"] == approx(F(k, 8)), (key, t)
            lo, hi = wilson(k, 8)
            assert got[key][f"success_{t}_lo"] == pytest.approx(lo, abs=1e-12)
            assert got[key][f"success_{t}_hi"] == pytest.approx(hi, abs=1e-12)


def test_improvement_among_valid_final_submissions(report_json: dict) -> None:
    got = cells(report_json, "improvement")
    expected = {  # (n_valid_final, mean)
        ("cartpole", "alpha"): (7, F(6325, 1000) / 7),  # .5+.05+.125+1.5-.05+.2+4
        ("cartpole", "beta"): (7, F(3, 10) / 7),  # .25-.1+.15
        ("house-price", "alpha"): (7, F(141, 100) / 7),  # .15+.5+.05-.1+.3+.11+.4
        ("house-price", "beta"): (8, F(0)),
        ("vectorization", "alpha"): (7, F(9, 4) / 7),  # .5+.25+.125-.25+.75+.375+.5
        ("vectorization", "beta"): (8, F(0)),
    }
    for key, (n, mean) in expected.items():
        assert got[key]["n_valid_final"] == n, key
        assert got[key]["improvement"] == approx(mean), key
    # identical values: the bootstrap interval is that value
    assert got[("house-price", "beta")]["improvement_lo"] == 0.0
    assert got[("house-price", "beta")]["improvement_hi"] == 0.0
    lo, hi = (
        got[("vectorization", "alpha")]["improvement_lo"],
        got[("vectorization", "alpha")]["improvement_hi"],
    )
    assert -0.25 <= lo < float(F(9, 4) / 7) < hi <= 0.75


# human-relative of each run, from its best snapshot
HR = {
    ("cartpole", "alpha"): [
        F(10, 480),
        F(40, 480),
        F(5, 960),
        F(30, 480),
        F(20, 480),
        F(0),
        F(4, 480),
        F(80, 480),
    ],
    ("cartpole", "beta"): [F(0), F(0), F(5, 480), F(0), F(0), F(0), F(3, 480), F(0)],
    # 1/(1+r) for r = 1, .25, 2, 3, 3 (start), 1, 3, 0 -> (n - 1/4) / (3/4)
    ("house-price", "alpha"): [F(1, 3), F(11, 15), F(1, 9), F(0), F(0), F(1, 3), F(0), F(1)],
    ("house-price", "beta"): [F(0)] * 8,
    # 1/(1+t) for t = 1, 1.5, 1.75, 2 (start), .5, 1.25, 2 (start), 1
    ("vectorization", "alpha"): [
        F(1, 3),
        F(1, 5),
        F(5, 33),
        F(1, 9),
        F(5, 9),
        F(7, 27),
        F(1, 9),
        F(1, 3),
    ],
    ("vectorization", "beta"): [F(1, 9)] * 8,
}


def test_human_relative_from_the_best_snapshot(report_json: dict) -> None:
    got = cells(report_json, "human_relative")
    for key, values in HR.items():
        assert got[key]["n_scored"] == 8 and got[key]["n_runs"] == 8
        assert got[key]["human_relative"] == approx(sum(values) / 8), key
    beta = got[("vectorization", "beta")]
    assert beta["human_relative_lo"] == pytest.approx(1 / 9) == beta["human_relative_hi"]


def test_human_relative_mean_over_tasks(report_json: dict) -> None:
    got = cells(report_json, "human_relative_overall")
    for agent in ("alpha", "beta"):
        per_task = [sum(v) / 8 for (t, a), v in HR.items() if a == agent]
        assert got[(agent,)]["n_tasks"] == 3 and got[(agent,)]["n_runs"] == 24
        assert got[(agent,)]["human_relative"] == approx(sum(per_task) / 3), agent
        lo, hi = bootstrap_mean_of_means(
            [[float(v) for v in vals] for (t, a), vals in sorted(HR.items()) if a == agent]
        )
        assert got[(agent,)]["human_relative_lo"] == pytest.approx(lo, rel=1e-12)
        assert got[(agent,)]["human_relative_hi"] == pytest.approx(hi, rel=1e-12)


def test_outcomes_errors_effort_and_cost(report_json: dict) -> None:
    outcomes = {
        (r["task"], r["agent"], r["status"], r["exit_reason"]): r
        for r in report_json["sections"]["outcomes"]["rows"]
    }
    assert outcomes[("cartpole", "alpha", "completed", "final_answer")]["n_runs"] == 6
    assert outcomes[("cartpole", "alpha", "failed", "agent_error")]["n_runs"] == 1
    assert outcomes[("cartpole", "beta", "failed", "crashed")]["n_runs"] == 1
    assert outcomes[("vectorization", "beta", "llm_error", "agent_error")]["share"] == 1 / 8

    errors = {
        (r["task"], r["agent"], r["category"]): r for r in report_json["sections"]["errors"]["rows"]
    }
    assert set(errors) == {
        ("cartpole", "alpha", "timeout"),
        ("cartpole", "beta", "script_error"),
        ("house-price", "alpha", "oom"),
        ("vectorization", "beta", "format"),
    }
    assert all(
        r["n_steps"] == 1 and r["n_runs_hit"] == 1 and r["of_runs"] == 8 for r in errors.values()
    )

    effort = cells(report_json, "effort")
    # cartpole alpha: steps 2,2,1,1,2,1,1,1 (planted 1 s each)
    assert effort[("cartpole", "alpha")]["steps"] == approx(F(11, 8))
    assert effort[("cartpole", "alpha")]["wall_s"] == approx(F(11, 8))
    # house-price beta: one run with no step
    assert effort[("house-price", "beta")]["steps"] == approx(F(7, 8))

    cost = cells(report_json, "cost")
    # alpha: two calls a step, 100 + 20 tokens and $0.25 each
    assert cost[("cartpole", "alpha")]["llm_calls"] == approx(F(22, 8))
    assert cost[("cartpole", "alpha")]["prompt_tokens"] == approx(F(2200, 8))
    assert cost[("cartpole", "alpha")]["total_cost_usd"] == approx(F(22, 4))
    assert cost[("cartpole", "beta")]["llm_calls"] == 0
    llm = report_json["sections"]["llm_calls"]["rows"]
    assert [(r["agent"], r["purpose"], r["n_calls"]) for r in llm] == [("alpha", "agent", 56)]


def test_recorded_success_matches_the_views(campaign: Path) -> None:
    """The runs table's success (scoring.py) and the views' success_10 agree on every run."""
    con = connect(campaign, cache=False)
    rows = con.execute(
        "SELECT run_id, success, success_10, improvement, improvement_final, final_valid "
        "FROM run_outcomes"
    ).fetchall()
    assert len(rows) == 48
    for run_id, success, s10, imp, imp_view, valid in rows:
        assert success == s10, run_id
        if valid:
            assert imp == pytest.approx(imp_view), run_id


def test_campaign_filter_and_cache_agree(campaign: Path) -> None:
    in_place = build_report(connect(campaign, cache=False), campaign).to_json()["sections"]
    cached = build_report(connect(campaign), campaign).to_json()["sections"]
    assert_close(in_place, cached)
    none = connect(campaign, ["other"])
    assert none.execute("SELECT count(*) FROM run_outcomes").fetchone() == (0,)


def test_bootstrap_of_a_known_distribution() -> None:
    # resampled means of {0,0,0,0,1,1,1,1} are Binomial(8, 1/2)/8: P(X<=0) = 1/256 < 2.5% <
    # P(X<=1) = 9/256, and P(X<=6) = 247/256 < 97.5% < P(X<=7) = 255/256 -> [1/8, 7/8]
    assert bootstrap_mean([0, 0, 0, 0, 1, 1, 1, 1]) == (0.125, 0.875)
    assert bootstrap_mean([0.5]) == (None, None)
    assert bootstrap_mean([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert wilson(0, 0) == (None, None)
    lo, hi = wilson(3, 8)
    assert (round(lo, 4), round(hi, 4)) == (0.1368, 0.6943)
