"""One run, end to end: workspace, agent loop, trace, grading, tables.

``start_run`` lays out the run and drives the agent until it gives a final answer or hits a
limit; ``finalize_run`` grades every snapshot and writes the run's rows to the Parquet tables.
``recover_run`` finalises a run whose process died, from what it had recorded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__, jsonl, tables
from .actions import append_to_research_log
from .agents import AgentContext, make_agent
from .baselines import BaselineCache
from .data import PreparedData, resolve_data
from .diskspace import DiskFull, SpaceReserve, is_disk_full
from .environment import ActionCall, AgentTimedOut, Environment, StepRecord, read_steps
from .errors import DataError, MlabError, PrerequisiteError, SandboxUnavailable
from .grading import Grade, grade_folder, grade_snapshots
from .llm import (
    BudgetExceeded,
    DeadlineReached,
    LLMError,
    LLMSession,
    ModelPlan,
    Models,
    ReplayDiverged,
    plan_models,
    read_usage,
)
from .llm.replay import check_replay_end, check_replay_start, check_replay_step
from .paths import ResultsRoot, RunPaths
from .runrecord import Attempt, ExitReason, RunConfig, RunState
from .sandbox import Sandbox, SandboxLimits, make_sandbox
from .scoring import Anchors, summarize
from .snapshots import SnapshotStore
from .taskspec import Limits, TaskSpec, get_task
from .workspace import Workspace

log = logging.getLogger(__name__)


def _agent_env(config: RunConfig) -> dict[str, str]:
    """Variables of the agent's commands (the grader never gets them)."""
    env = {"MLAB_SEED": str(config.seed)}
    if config.options.smoke:
        env["MLAB_SMOKE"] = "1"
    return env


def baseline_variant(config: RunConfig) -> str:
    """Which cache of baseline scores a run's anchors come from (see baselines.py)."""
    parts = ["generated"] if config.data_mode == "generated" else []
    return ".".join([*parts, "smoke"] if config.options.smoke else parts)


class Progress:
    """Hooks for what a person watches; the default logs."""

    def notice(self, message: str) -> None:
        log.warning(message)

    def started(self, run_id: str, task: TaskSpec, limits: Limits, paths: RunPaths) -> None:
        log.info("run %s started in %s", run_id, paths.dir)

    def action_started(self, step: int, call: ActionCall) -> None:
        log.debug("step %d: %s started", step, call.name)

    def step(self, record: StepRecord, limits: Limits, elapsed_s: float) -> None:
        log.info("step %d %s (%.1fs)", record.step, record.action, record.duration_s)

    def graded(self, step: int, grade: Grade) -> None:
        log.info("graded step %d: valid=%s", step, grade.valid)


def new_run_id(task: str, agent: str, seed: int) -> str:
    safe_agent = re.sub(r"[^A-Za-z0-9_.-]+", "_", agent)[:40]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{task}.{safe_agent}.s{seed}.{stamp}-{secrets.token_hex(2)}"


def effective_limits(task: TaskSpec, config: RunConfig) -> Limits:
    """The task's limits with the run's overrides applied (validated by RunOptions)."""
    return config.options.limits(task.limits)


def sandbox_limits(task: TaskSpec) -> SandboxLimits:
    # RLIMIT_AS caps virtual memory, which numerical libraries reserve well beyond what they use:
    # leave headroom over the task's memory; on clusters, Slurm's cgroups enforce the real limit.
    gb = max(2 * task.resources.mem_gb, task.resources.mem_gb + 4)
    return SandboxLimits(
        mem_bytes=int(gb * 2**30),
        # MLAB_SANDBOX_CGROUP=1: the same cap on all of a command's processes together, where
        # a memory cgroup can be made here (sandbox/cgroup.py)
        whole_mem_bytes=int(gb * 2**30) if os.environ.get("MLAB_SANDBOX_CGROUP") == "1" else None,
        max_procs=1024,
        gpus=task.resources.gpus,
        forbidden_modules=task.forbidden_modules,
        environment=task.environment,
    )


def _exclude_read_only(ws: Workspace) -> Callable[[str], bool]:
    """Snapshots leave out read-only files: they are the task's data, the same every step."""
    return ws.is_read_only_rel


def start_run(config: RunConfig, progress: Progress | None = None) -> RunPaths:
    """Create the run and drive the agent to the end; returns the run's paths (not graded yet)."""
    paths = create_run(config, progress)
    drive_run(paths, progress)
    return paths


def create_run(config: RunConfig, progress: Progress | None = None) -> RunPaths:
    """Lay out a new run: its folder, state, workspace and initial snapshot.

    Everything that can be wrong with the request (unknown task or agent, missing data, no
    usable sandbox) fails here, before anything is written.
    """
    progress = progress or Progress()
    task = get_task(config.task)
    results = ResultsRoot(Path(config.results))
    agent = make_agent(config.agent)  # fail early on an unknown agent
    _check_models(config, agent)  # ... and on a model that cannot be used
    data = resolve_data(task, config.data_mode, Path(config.data_root))
    sandbox, warning = make_sandbox(config.options.sandbox, sandbox_limits(task))
    if warning:
        progress.notice(warning)
    limits = effective_limits(task, config)
    run_id = config.run_id or new_run_id(task.id, config.agent, config.seed)
    paths = results.run(run_id)
    paths.dir.mkdir(parents=True, exist_ok=False)
    config = replace(
        config,
        options=config.options.updated(sandbox=sandbox.name),
        run_id=run_id,
        data_mode=data.mode if data else "none",
    )
    state = RunState(
        config=config,
        task_version=task.version,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=time.time(),
        harness_version=__version__,
        image_digest=sandbox.image_digest(),  # sha256 of the .sif (apptainer), else None
        limits=limits,
    )
    state.save(paths)
    workspace = Workspace.create(
        paths.workspace,
        task.env_dir,
        data.public if data else None,
        task.read_only,
        link_protected_data=sandbox.isolates,  # protected files are bound read-only there
    )
    store = SnapshotStore(paths.snapshots, workspace, _exclude_read_only(workspace))
    state.initial_snapshot = store.take(0)
    store.close()
    state.status = "running"
    state.save(paths)
    return paths


def drive_run(
    paths: RunPaths, progress: Progress | None = None, attempt: dict[str, Any] | None = None
) -> None:
    """Drive the agent of a created run to its end, resuming after the last completed step.

    On a resumed run (a requeued Slurm job, say) the workspace is first brought back to the
    last snapshot, undoing whatever the step in flight had half done; the agent gets the
    completed steps as its history. ``attempt`` describes where this attempt runs (Slurm job,
    node, requested resources); it is appended to the run's list of attempts.
    """
    progress = progress or Progress()
    state = RunState.load(paths)
    config = state.config
    task = get_task(config.task)
    agent = make_agent(config.agent)
    sandbox, warning = make_sandbox(_usable_sandbox(config.options.sandbox), sandbox_limits(task))
    if warning:
        progress.notice(warning)
    limits = state.limits or effective_limits(task, config)
    workspace = Workspace(paths.workspace, task.read_only)
    store = SnapshotStore(paths.snapshots, workspace, _exclude_read_only(workspace))
    reserve = store.reserve = SpaceReserve(paths.space_reserve).hold()
    jsonl.repair(paths.steps_log)
    history = read_steps(paths.steps_log)
    if state.attempts:
        restored = store.restore()
        if restored:
            progress.notice(
                f"resuming after step {len(history)}: restored {len(restored)} "
                "file(s) the interrupted step had changed"
            )
    state.attempts.append(
        Attempt.from_dict(
            {**_here(), **(attempt or {}), "started_at": time.time(), "from_step": len(history)}
        )
    )
    state.status, state.pid, state.host = "running", os.getpid(), socket.gethostname()
    state.save(paths)
    llm, models = _open_models(config, paths, len(history))
    env = Environment(
        fast_model=models.fast if models else None,
        edit_model=models.edit if models else None,
        workspace=workspace,
        sandbox=sandbox,
        paths=paths,
        limits=limits,
        snapshots=store,
        start_step=len(history),
        elapsed_s=history[-1].elapsed_s if history else 0.0,
        sandbox_env=_agent_env(config),
        forbidden_phrases=task.forbidden_phrases,
        research_problem=task.research_problem,
    )
    env.done = bool(history and history[-1].done)
    if llm is not None:
        llm.bind_steps(lambda: env.steps_taken + 1)  # calls belong to the step in the making
        llm.bind_deadline(lambda: env.time_left_s)  # actions' calls too end at the time limit
    progress.started(paths.run_id, task, limits, paths)
    try:
        exit_reason, error = _drive(agent, env, task, config, history, progress, models)
    except BaseException:
        # stopped from outside (a requeue, Slurm's time-limit warning): note when this attempt
        # ended and keep whatever the stopper recorded; the next attempt or `status` goes on
        env.close()
        reserve.release()
        if llm is not None:
            llm.close()
        on_disk = RunState.load(paths)
        on_disk.attempts[-1].update(ended_at=time.time(), **_used_resources())
        on_disk.save(paths)
        raise
    env.close()
    reserve.release()
    if llm is not None:
        llm.close()
    state.attempts[-1].update(ended_at=time.time(), **_used_resources())
    state.end(exit_reason, error, elapsed_s=env.elapsed_s, n_steps=env.steps_taken)
    state.save(paths)
    if exit_reason == "disk_full":  # not graded now: the disk has no room for it
        raise PrerequisiteError(error or "the results disk is full")


def _here() -> dict[str, Any]:
    """This process's place: node, Slurm job and array index, GPUs it may use."""
    env = os.environ
    index = env.get("SLURM_ARRAY_TASK_ID")
    array_job = env.get("SLURM_ARRAY_JOB_ID")
    return {
        "node": socket.gethostname(),
        # an array element as ARRAYID_INDEX: the id squeue, sacct, scancel and status use
        "slurm_job_id": f"{array_job}_{index}" if array_job and index else env.get("SLURM_JOB_ID"),
        "slurm_array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "slurm_array_index": int(index) if index and index.isdigit() else None,
        "slurm_partition": env.get("SLURM_JOB_PARTITION"),
        "gpus_visible": env.get("CUDA_VISIBLE_DEVICES"),
    }


def _used_resources() -> dict[str, Any]:
    """What this attempt used so far: CPU seconds and peak memory of the processes it ran."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_s": round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 3),
        "max_rss_mb": round(max(me.ru_maxrss, kids.ru_maxrss) / 1024, 1),
    }


def _drive(
    agent: Any,
    env: Environment,
    task: TaskSpec,
    config: RunConfig,
    history: list[StepRecord],
    progress: Progress,
    models: Models | None = None,
) -> tuple[ExitReason, str | None]:
    """The agent loop; returns (exit reason, error text)."""
    ctx = AgentContext(
        task=task,
        actions=env.actions,
        max_steps=env.limits.max_steps,
        max_time_s=env.limits.max_time_s,
        seed=config.seed,
        model=config.model,
        models=models,
        time_left_s=lambda: env.time_left_s,
        research_log=lambda text, replace: append_to_research_log(
            env.workspace.root, text, replace
        ),
    )
    try:
        check_replay_start(models, config.agent)
        agent.begin(ctx, history)
        last: StepRecord | None = history[-1] if history else None
        while (reason := env.stop_reason()) is None:
            call = env.call_agent(agent.act, last)  # under the run's deadline
            if env.stop_reason() == "max_time":  # it answered, but after the time limit
                env.record_cut("the agent chose its action after the total time limit")
                return "max_time", None
            progress.action_started(env.steps_taken + 1, call)
            last = env.execute(call)
            progress.step(last, env.limits, env.elapsed_s)
            check_replay_step(models, last)
        check_replay_end(models, reason)
        return reason, None
    except (AgentTimedOut, DeadlineReached) as exc:  # time ran out: the step in flight is cut
        env.record_cut(str(exc))
        return "max_time", str(exc)
    except DiskFull as exc:  # the trace could not be written: recorded as far as it could be
        return "disk_full", str(exc)
    except ReplayDiverged as exc:  # a replay that no longer follows its recording
        return "replay_diverged", str(exc)
    except BudgetExceeded as exc:  # a budget of --max-tokens / --max-cost is spent
        return exc.reason, str(exc)
    except LLMError as exc:  # a model failed for good, retries included
        if env.time_left_s <= 0:  # ... after the time limit: the limit ended the run
            env.record_cut(f"a model call ended after the total time limit ({exc})")
            return "max_time", str(exc)
        return "llm_error", str(exc)
    except MlabError as exc:
        return "agent_error", str(exc)
    except Exception as exc:  # an agent's own bug must not lose the run: record it, grade
        if RunState.load(env.paths).status == "ended":
            raise  # the run was ended from outside (Slurm's warning handler): not the agent's doing
        return "agent_error", "".join(traceback.format_exception(exc)).strip()[-4000:]


STATUS_OF_EXIT = {
    "final_answer": "completed",
    "max_steps": "completed",
    "max_time": "timeout",
    "agent_error": "failed",
    "llm_error": "llm_error",  # a language-model call failed after its retries
    "replay_diverged": "replay_diverged",  # a replay left its recording (llm/replay.py)
    "max_tokens": "budget",  # --max-tokens spent
    "max_cost": "budget",  # --max-cost spent
    "crashed": "failed",
    "slurm_timeout": "timeout",  # killed at Slurm's hard time limit
    "max_attempts": "preempted",  # stopped by Slurm more often than the profile allows
    "cancelled": "failed",
    "node_fail": "failed",
    "out_of_memory": "failed",
    "disk_full": "failed",  # the results disk filled up (diskspace.py)
}


def finalize_run(paths: RunPaths, progress: Progress | None = None) -> dict[str, Any]:
    """Grade every step's snapshot, compute the scores, write the run's Parquet rows.

    Returns the runs-table row.
    """
    progress = progress or Progress()
    state = RunState.load(paths)
    state.pid, state.host = os.getpid(), socket.gethostname()
    state.save(paths)  # this process now owns the run: nobody else recovers it
    SpaceReserve(paths.space_reserve).release()  # left by a killed run
    config = state.config
    task = get_task(config.task)
    results = ResultsRoot(paths.dir.parent.parent)
    sandbox, _ = make_sandbox(_usable_sandbox(config.options.sandbox), sandbox_limits(task))
    data = resolve_data(
        task, config.data_mode if config.data_mode != "none" else None, Path(config.data_root)
    )
    run_id = paths.run_id
    constants = {"run_id": run_id, "campaign": config.campaign, "task": task.id}

    jsonl.repair(paths.steps_log)
    bad: list[int] = []
    steps = read_steps(paths.steps_log, bad)
    if bad:
        progress.notice(
            f"run {run_id}: skipped {len(bad)} unreadable line(s) of {paths.steps_log} "
            f"(line {', '.join(map(str, bad[:10]))})"
        )
        state.bad_trace_lines = len(bad)
    tables.write_from_log(
        results.table_file("steps", config.campaign, task.id, run_id),
        "steps",
        paths.steps_log,
        constants,
    )

    jsonl.repair(paths.llm_log)
    tables.write_from_log(
        results.table_file("llm_calls", config.campaign, task.id, run_id),
        "llm_calls",
        paths.llm_log,
        constants,
    )
    usage = read_usage(paths.llm_log)

    workspace = Workspace(paths.workspace, task.read_only)
    store = SnapshotStore(paths.snapshots, workspace, _exclude_read_only(workspace))
    step_snapshots = [(0, state.initial_snapshot)]
    step_snapshots += [(s.step, s.snapshot_id) for s in steps]
    grades = grade_snapshots(
        task,
        sandbox,
        store,
        step_snapshots,
        data.private if data else None,
        paths.grading,
        progress.graded,
    )
    store.close()

    machine = machine_class()
    cache = BaselineCache(results, task, baseline_variant(config), machine)
    anchors = _anchors(task, cache, sandbox, data, paths.grading, progress)
    summary, score_rows = summarize(task, grades, anchors)
    tables.write_table(
        results.table_file("scores", config.campaign, task.id, run_id),
        "scores",
        score_rows,
        constants,
    )

    exit_reason = state.exit_reason or "crashed"
    row = {
        **constants,
        "task_version": task.version,
        "agent": config.agent,
        "model": config.model or "",
        "seed": config.seed,
        "status": STATUS_OF_EXIT.get(exit_reason, "failed"),
        "exit_reason": exit_reason,
        "error": state.error_text,
        "started_at": state.started_at,
        "ended_at": state.ended_at,
        "wall_s": state.elapsed_s,
        "n_steps": len(steps),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        **_attempt_columns(state),
        "sandbox": config.options.sandbox,
        "trusted": sandbox.isolates,  # process: no isolation, so its scores are not trusted
        "data_mode": config.data_mode,
        "smoke": config.options.smoke,
        "env_id": task.rl.env_id if task.rl else None,
        "image_digest": state.image_digest,
        "harness_version": state.harness_version,
        "machine": machine,
        **summary,
    }
    tables.write_table(
        results.table_file("runs", config.campaign, task.id, run_id), "runs", [row], constants
    )
    state.status = "graded"
    state.save(paths)
    return row


def _attempt_columns(state: RunState) -> dict[str, Any]:
    """Where the run ran: the last attempt's job and node, and every attempt's envelope."""
    last = state.attempts[-1] if state.attempts else Attempt(started_at=0.0)
    return {
        "slurm_job_id": last.slurm_job_id,
        "slurm_array_index": last.slurm_array_index,
        "node": last.node or state.host,
        "gpu": last.gpus_visible,
        "attempts": len(state.attempts),
        "attempts_json": json.dumps([a.to_dict() for a in state.attempts], sort_keys=True),
        "requested_cpus": last.requested_cpus,
        "requested_mem_gb": last.requested_mem_gb,
        "requested_gpus": last.requested_gpus,
        "requested_time_min": last.requested_time_min,
    }


def _model_plan(config: RunConfig) -> ModelPlan | None:
    options = config.options
    return plan_models(
        config.model,
        fast=options.fast_llm,
        edit=options.edit_llm,
        base_url=options.base_url,
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        max_cost=options.max_cost,
    )


def validate_config(config: RunConfig) -> None:
    """Fail with one clear line if such a run could not start (task, agent, models).

    ``submit`` calls it on the login node, so that a campaign with a missing API key or a
    misspelt agent fails before anything is queued.
    """
    get_task(config.task)
    _check_models(config, make_agent(config.agent))
    _model_plan(config)


def _check_models(config: RunConfig, agent: Any) -> None:
    """Fail before the run exists when its models cannot be used or its agent needs one."""
    if _model_plan(config) is None and getattr(agent, "requires_llm", False):
        raise PrerequisiteError(
            f"agent '{config.agent}' needs a language model: give --model PROVIDER:NAME "
            "(openai:NAME, anthropic:NAME or replay:FILE)"
        )


def _open_models(
    config: RunConfig, paths: RunPaths, completed_steps: int
) -> tuple[LLMSession | None, Models | None]:
    """The run's models, recording every call in its llm_calls log (None: the run has none)."""
    plan = _model_plan(config)
    if plan is None:
        return None, None
    return plan.open(paths.llm_log, completed_steps=completed_steps)


def _usable_sandbox(name: str | None) -> str | None:
    """The recorded sandbox if it still works here (a recovery may run elsewhere), else auto."""
    if name and name in Sandbox.registry and Sandbox.registry[name].unavailable_reason() is None:
        return name
    return None


def _anchors(
    task: TaskSpec,
    cache: BaselineCache,
    sandbox: Sandbox,
    data: PreparedData | None,
    scratch: Path,
    progress: Progress,
) -> Anchors:
    """The anchors a run's grading knows by itself: fixed numbers, and the graded reference.

    A "starter" naive anchor and the baseline of success come from the baseline agent's runs:
    the analysis views compute those when queried, never here.
    """
    hr = task.human_relative
    naive = hr.naive if isinstance(hr.naive, float) else None
    human: float | None
    if hr.human is None or isinstance(hr.human, float):
        human = hr.human
    else:
        ref = cache.reference()
        if ref is None:
            progress.notice(
                f"grading the human reference solution of {task.id} once "
                "(cached in the results root)"
            )
            grade = grade_folder(
                task,
                sandbox,
                [task.env_dir, task.human_reference_dir],
                data.private if data else None,
                scratch,
            )
            cache.set_reference(grade)
            ref = grade.metrics if grade.valid else {}
            if not grade.valid:
                progress.notice(f"the human reference of {task.id} did not grade: {grade.reason}")
        human = ref.get(hr.metric)
    return Anchors(naive_fixed=naive, human=human)


def machine_class() -> str:
    """The kind of machine this is, for anchors that hold on one kind only (timed tasks).

    The CPU model, and the models of the GPUs this process may use (from the NVIDIA driver's
    /proc files where they exist): runs on the same kind of machine share timing anchors.
    """
    import platform

    cpu = platform.machine() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith(("model name", "Model")) and ":" in line:
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    root = Path("/proc/driver/nvidia/gpus")
    if visible not in (None, "", "-1") and root.is_dir():
        for info in sorted(root.glob("*/information")):
            try:
                for line in info.read_text(errors="replace").splitlines():
                    if line.startswith("Model:"):
                        gpus.append(line.split(":", 1)[1].strip())
            except OSError:
                continue
    return cpu + (f" | {len(gpus)}x {gpus[0]}" if gpus else "")


def recover_run(
    paths: RunPaths,
    progress: Progress | None = None,
    exit_reason: ExitReason = "crashed",
    error: str = "the run's process ended without finishing; recovered",
) -> dict[str, Any]:
    """Finalise a run whose process died: its recorded steps are kept, graded, and tabled.

    ``exit_reason`` says why it ended when nothing recorded it (a kill: 'crashed'; Slurm's hard
    time limit: 'slurm_timeout'; a cancelled job: 'cancelled').

    A run that cannot be finalised is marked unrecoverable (Unrecoverable), except when what
    is missing is this machine's (the task's data, a sandbox): that error is raised as it is
    and the run stays recoverable where those exist.
    """
    try:
        state = RunState.load(paths)
        if state.exit_reason is None:
            steps = read_steps(paths.steps_log) if paths.steps_log.exists() else []
            state.end(
                exit_reason,
                error,
                ended_at=paths.steps_log.stat().st_mtime if steps else time.time(),
                elapsed_s=steps[-1].elapsed_s if steps else 0.0,
                n_steps=len(steps),
            )
            state.save(paths)
        return finalize_run(paths, progress)
    except (DataError, SandboxUnavailable):
        raise  # this machine lacks something the run needs: not the run's fault
    except Exception as exc:  # a run that cannot be graded must never block the others
        if is_disk_full(exc):  # not the run's fault: it is recovered once there is room
            raise DiskFull(paths.dir, exc, "grading") from exc  # type: ignore[arg-type]
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        mark_unrecoverable(paths, reason)
        raise Unrecoverable(
            f"run {paths.run_id} is unrecoverable ({reason.splitlines()[0][:300]}); "
            "it is marked so in its run.json and later runs skip it"
        ) from exc


class Unrecoverable(MlabError):
    """A run that could not be finalised; its run.json now says status 'unrecoverable'."""


def mark_unrecoverable(paths: RunPaths, reason: str) -> None:
    """Mark a run as unrecoverable with its reason; a damaged run.json is kept beside it
    (run.json.damaged) and replaced by one that names only the run."""
    try:
        state = RunState.load(paths)
    except (OSError, ValueError):
        if paths.state.exists():
            paths.state.replace(paths.state.with_name("run.json.damaged"))
        task = paths.run_id.split(".", 1)[0]
        state = RunState(config=RunConfig(task=task, run_id=paths.run_id))
    state.status = "unrecoverable"
    state.unrecoverable_reason, state.marked_at = reason, time.time()
    state.save(paths)


def is_abandoned(paths: RunPaths) -> bool:
    """A run not yet graded whose process (on this host) is gone."""
    try:
        state = RunState.load(paths)
    except (OSError, ValueError):
        return False
    if state.status in ("graded", "unrecoverable") or state.pid is None:
        return False
    if state.host != socket.gethostname():
        return False
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def abandoned_runs(results: ResultsRoot) -> list[RunPaths]:
    if not results.runs_dir.is_dir():
        return []
    return [
        results.run(p.name)
        for p in sorted(results.runs_dir.iterdir())
        if (p / "run.json").is_file() and is_abandoned(results.run(p.name))
    ]
