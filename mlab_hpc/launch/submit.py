"""From a campaign plan to jobs: job arrays per resource class, submitted through submitit.

One sbatch per job array: runs are grouped by what they ask for (resource class, CPUs, memory,
GPUs, time, from each task's task.toml), and split at the cluster's MaxArraySize.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit

from ..errors import PrerequisiteError
from ..runrecord import EXECUTORS
from ..taskspec import TaskSpec, get_task
from .campaign import CampaignPaths, RunSpec, read_manifest, record_submission
from .jobs import CampaignRun, GradeRun, JobSettings
from .profiles import ClusterProfile


@dataclass
class JobArray:
    """Runs that share one sbatch: their class and the envelope they all get."""

    resource_class: str
    partition: str | None
    cpus: int
    mem_gb: float
    gpus: int
    time_min: int
    runs: list[RunSpec] = field(default_factory=list)
    signal_delay_s: int = 0

    def envelope(self) -> dict[str, Any]:
        """What every attempt of these runs asks for (recorded with each attempt)."""
        return {
            "signal_delay_s": self.signal_delay_s,
            "resource_class": self.resource_class,
            "requested_cpus": self.cpus,
            "requested_mem_gb": self.mem_gb,
            "requested_gpus": self.gpus,
            "requested_time_min": self.time_min,
            "partition": self.partition,
        }


def slurm_available() -> str | None:
    """None when sbatch answers here, else why not."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH"

    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo failed: {exc}"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no message"]
        return f"sinfo failed: {lines[-1][:200]}"
    return None


def run_time_min(task: TaskSpec, settings: JobSettings, profile: ClusterProfile) -> int:
    """A run's wall-clock request: the task's agent time, then its grader's time limit (the
    job grades the run at its end), plus the profile's margin (a smoke run: the profile's
    ``smoke_time_min``, unless that is longer)."""
    agent_s = settings.options.max_time_s or task.limits.max_time_s
    minutes = math.ceil(agent_s / 60) + math.ceil(task.grader.timeout_s / 60)
    minutes += profile.time_margin_min
    if settings.options.smoke:
        minutes = min(minutes, profile.smoke_time_min)
    return minutes


def grading_time_min(task: TaskSpec, profile: ClusterProfile) -> int:
    """A grading job's wall-clock request: the task's grader time limit plus the profile's
    margin, and at least the profile's ``grade_time_min``."""
    return max(
        profile.grade_time_min, math.ceil(task.grader.timeout_s / 60) + profile.time_margin_min
    )


@dataclass(frozen=True)
class Partition:
    """What the largest node of a partition offers (from sinfo)."""

    name: str
    cpus: int
    mem_mb: int
    gpus: int
    default: bool = False


def _gres_gpus(gres: str) -> int:
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def cluster_partitions() -> dict[str, Partition] | None:
    """Every partition's largest node (sinfo), or None when Slurm does not answer."""
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%P|%c|%m|%G"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    parts: dict[str, Partition] = {}
    for line in proc.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4:
            continue
        name, cpus, mem, gres = fields
        default = name.endswith("*")
        name = name.rstrip("*")
        old = parts.get(name)
        num = [int(x) if x.isdigit() else 0 for x in (cpus.rstrip("+"), mem.rstrip("+"))]
        parts[name] = Partition(
            name,
            max(num[0], old.cpus if old else 0),
            max(num[1], old.mem_mb if old else 0),
            max(_gres_gpus(gres), old.gpus if old else 0),
            default or (old.default if old else False),
        )
    return parts


def cluster_max_array_size(profile: ClusterProfile) -> int | None:
    """How many elements one array may have: the profile's ``max_array_size``, else the
    cluster's MaxArraySize (scontrol show config), else None (no split)."""
    if profile.max_array_size:
        return profile.max_array_size
    try:
        proc = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return int(value.strip())  # indices 0..MaxArraySize-1
    return None


def check_satisfiable(
    arrays: list[JobArray], partitions: dict[str, Partition], profile: ClusterProfile
) -> None:
    """Raise, naming every array no partition node can run (it would pend forever)."""
    problems = []
    for a in arrays:
        name = a.partition or next((p.name for p in partitions.values() if p.default), None)
        part = partitions.get(name or "")
        if part is None:
            problems.append(
                f"{a.resource_class} array: no partition {name!r} in sinfo "
                f"(classes.{a.resource_class}.partition in {profile.path or profile.name})"
            )
            continue
        short = []
        if a.cpus > part.cpus:
            short.append(f"{a.cpus} CPUs (its nodes have {part.cpus})")
        if a.mem_gb * 1024 > part.mem_mb:
            short.append(f"{a.mem_gb:g} GB (its nodes have {part.mem_mb / 1024:.1f})")
        if a.gpus > part.gpus:
            short.append(f"{a.gpus} GPUs (its nodes have {part.gpus})")
        if short:
            tasks = ",".join(sorted({r.task for r in a.runs}))
            problems.append(
                f"{a.resource_class} array of {tasks} asks partition {part.name} for "
                f"{', '.join(short)}"
            )
    if problems:
        raise PrerequisiteError(
            "no partition can run: "
            + "; ".join(problems)
            + f" -> change classes.*.partition in {profile.path or profile.name} "
            "or the tasks' [resources]"
        )


def group_arrays(
    runs: list[RunSpec],
    profile: ClusterProfile,
    settings: JobSettings,
    max_array_size: int | None = None,
    grading: bool = False,
) -> list[JobArray]:
    """Job arrays: one per distinct request (class, CPUs, memory, GPUs, time), each split into
    arrays of at most ``max_array_size`` elements. With ``grading``, the arrays of grading
    jobs: each run's time is its task's grading time (`grading_time_min`).

    A run whose time exceeds the partition's limit gets the limit: it is requeued at the limit
    and resumes after its last completed step (up to the profile's max_attempts).
    """
    groups: dict[tuple[Any, ...], list[RunSpec]] = {}
    for spec in runs:
        task = get_task(spec.task)
        rc = profile.resource_class(task.resources.gpus)
        if grading:
            minutes = grading_time_min(task, profile)
        else:
            minutes = run_time_min(task, settings, profile)
        if rc.max_time_min:
            minutes = min(minutes, rc.max_time_min)
        key = (
            rc.name,
            task.resources.cpus,
            float(task.resources.mem_gb),
            task.resources.gpus,
            minutes,
        )
        groups.setdefault(key, []).append(spec)
    arrays = []
    for key in sorted(groups):
        name, cpus, mem_gb, gpus, minutes = key
        members = groups[key]
        size = max(1, max_array_size or len(members))
        for i in range(0, len(members), size):
            arrays.append(
                JobArray(
                    name,
                    profile.classes[name].partition,
                    cpus,
                    mem_gb,
                    gpus,
                    minutes,
                    runs=members[i : i + size],
                    signal_delay_s=profile.signal_delay_s,
                )
            )
    return arrays


# What a job takes from the submitting shell (sbatch --export): the rest, API keys of unused
# providers included, stays behind. Slurm adds its own SLURM_* variables.
JOB_ENV_NAMES = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "SLURM_CONF", "XDG_CACHE_HOME",
    "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "MUJOCO_GL", "OMP_NUM_THREADS",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
)  # fmt: skip
JOB_ENV_PREFIXES = ("MLAB_", "LC_")
# The variables of each model provider: exported only to arrays whose runs use it.
PROVIDER_ENV = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
}


def job_environment(
    array: JobArray, settings: JobSettings | None, environ: Mapping[str, str]
) -> list[str]:
    """The names of the variables an array's jobs get from ``environ`` (sorted).

    The allow-list above, and a provider's variables only when a run of the array (its agent
    model, or the campaign's fast/edit model) is of that provider: a campaign of baseline runs
    carries no API key to its nodes.
    """
    models = [r.model for r in array.runs]
    if settings is not None:
        models += [settings.options.fast_llm, settings.options.edit_llm]
    providers = {m.split(":", 1)[0] for m in models if m}
    names = set(JOB_ENV_NAMES)
    for provider in providers:
        names.update(PROVIDER_ENV.get(provider, ()))
    return sorted(n for n in environ if n in names or n.startswith(JOB_ENV_PREFIXES))


def sbatch_parameters(
    array: JobArray,
    profile: ClusterProfile,
    environ: Mapping[str, str] | None = None,
    settings: JobSettings | None = None,
) -> dict[str, Any]:
    """The submitit SlurmExecutor parameters of one array (what its sbatch script says).

    With ``environ`` (the submitting shell's), the jobs get only the variables of
    :func:`job_environment` (``--export``); without it, sbatch's default (all of them).
    """
    rc = profile.classes[array.resource_class]
    params: dict[str, Any] = {
        "job_name": f"mlab-{array.resource_class}",
        "time": array.time_min,
        "cpus_per_task": array.cpus,
        "mem": f"{math.ceil(array.mem_gb)}GB",
        "array_parallelism": profile.array_parallelism,
        "signal_delay_s": profile.signal_delay_s,
        "setup": list(profile.setup),
    }
    if array.partition:
        params["partition"] = array.partition
    if array.gpus:
        params["gres"] = rc.gres.format(gpus=array.gpus)
    if rc.constraint:
        params["constraint"] = rc.constraint
    if profile.account:
        params["account"] = profile.account
    if profile.qos:
        params["qos"] = profile.qos
    extra: dict[str, Any] = {"requeue": True, **profile.additional}
    if extra.get("requeue") is False:  # a profile's `requeue = false`: sbatch --no-requeue
        del extra["requeue"]
        extra["no-requeue"] = True
    if environ is not None and "export" not in extra:  # a profile may set its own
        names = job_environment(array, settings, environ)
        extra["export"] = ",".join(names) or "NONE"
        # sbatch --export also becomes the job steps' default: the step must get what the
        # batch script itself set (submitit's SUBMITIT_EXECUTOR, the profile's setup lines,
        # e.g. module loads), so srun forwards the batch shell's whole, already filtered,
        # environment
        params["srun_args"] = ["--export=ALL"]
    params["additional_parameters"] = extra
    return params


def submit_arrays(
    arrays: list[JobArray],
    executor_name: str,
    paths: CampaignPaths,
    settings: JobSettings,
    profile: ClusterProfile,
    on_done: Callable[[RunSpec, dict[str, Any] | BaseException], None] | None = None,
    local_parallelism: int = 1,
) -> list[dict[str, Any]]:
    """Submit every array; returns what was sent (also appended to submissions.jsonl).

    Slurm: returns at once (one sbatch per array). local/debug: runs the jobs here and waits,
    calling ``on_done`` as each finishes.
    """
    if executor_name not in EXECUTORS:
        raise PrerequisiteError(f"unknown executor {executor_name!r}: {', '.join(EXECUTORS)}")
    folder = paths.submitit_dir / "%j"
    sent: list[dict[str, Any]] = []
    for array in arrays:
        jobs_fn = [CampaignRun(spec, settings, array.envelope()) for spec in array.runs]
        if executor_name == "slurm":
            jobs = _sbatch(array, jobs_fn, folder, settings, profile, paths, len(sent))
        else:
            jobs = _run_here(executor_name, folder, jobs_fn, array, local_parallelism, on_done)
        record = {
            "executor": executor_name,
            "resource_class": array.resource_class,
            "envelope": array.envelope(),
            "run_ids": [s.run_id for s in array.runs],
            "job_ids": [str(j.job_id) for j in jobs],
        }
        # recorded the moment its sbatch returned: a later failure leaves it visible to
        # status and cancel, and a resubmission sees its runs as queued
        record_submission(paths, {"executor": executor_name, "arrays": [record]})
        sent.append(record)
    _drop_template_folder(folder)
    return sent


def _drop_template_folder(folder: Path) -> None:
    """submitit makes its folder argument, ``.../%j``, literally before filling it in per job:
    remove that empty leftover so the submitit folder holds job folders only."""
    if folder.name == "%j" and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def submit_grading(
    paths: CampaignPaths, rows: list[Any], profile: ClusterProfile
) -> list[dict[str, Any]]:
    """Send grading jobs for ``rows`` (``launch.status.RunStatus`` with ``to_grade`` set):
    one array per distinct request of their tasks (the run's resource class, CPUs, memory,
    GPUs, time: `grading_time_min`). Each array is appended to
    submissions.jsonl (kind ``grade``) the moment its sbatch returns; returns those records.
    Grading jobs get no API key: graders call no model.
    """
    specs = {s.run_id: s for s in read_manifest(paths)}
    todo = {r.run_id: r.to_grade for r in rows if r.to_grade is not None}
    settings = JobSettings(results=str(paths.results.root), data_root="")
    arrays = group_arrays(
        [specs[run_id] for run_id in todo],
        profile,
        settings,
        cluster_max_array_size(profile),
        grading=True,
    )
    folder = paths.submitit_dir / "%j"
    sent: list[dict[str, Any]] = []
    for array in arrays:
        fns = [
            GradeRun(
                settings.results,
                spec.run_id,
                todo[spec.run_id]["attempts"],
                todo[spec.run_id]["exit_reason"],
                todo[spec.run_id]["error"],
            )
            for spec in array.runs
        ]
        keyless = dataclasses.replace(
            array, runs=[dataclasses.replace(r, model=None) for r in array.runs]
        )
        params = sbatch_parameters(keyless, profile, os.environ)
        params["job_name"] = f"mlab-grade-{array.resource_class}"
        jobs = _submit(params, fns, folder, 0, array, profile, paths, len(sent))
        record = {
            "executor": "slurm",
            "resource_class": array.resource_class,
            "envelope": array.envelope(),
            "run_ids": [s.run_id for s in array.runs],
            "job_ids": [str(j.job_id) for j in jobs],
            "attempts": [todo[s.run_id]["attempts"] for s in array.runs],
            "endings": [todo[s.run_id]["exit_reason"] for s in array.runs],
        }
        record_submission(paths, {"kind": "grade", "executor": "slurm", "arrays": [record]})
        sent.append(record)
    _drop_template_folder(folder)
    return sent


def _sbatch(
    array: JobArray,
    fns: list[CampaignRun],
    folder: Any,
    settings: JobSettings,
    profile: ClusterProfile,
    paths: CampaignPaths,
    n_before: int,
) -> list[Any]:
    """One sbatch for one array; a refusal becomes a one-line PrerequisiteError."""
    params = sbatch_parameters(array, profile, os.environ, settings)
    return _submit(params, fns, folder, settings.max_attempts, array, profile, paths, n_before)


def _submit(
    params: dict[str, Any],
    fns: list[Any],
    folder: Any,
    max_requeues: int,
    array: JobArray,
    profile: ClusterProfile,
    paths: CampaignPaths,
    n_before: int,
) -> list[Any]:
    """One sbatch of ``fns`` as an array with ``params``; a refusal is one line."""
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=max_requeues)
    executor.update_parameters(**params)
    quiet = io.StringIO()  # submitit echoes sbatch's stderr: it goes into our one line instead
    try:
        with contextlib.redirect_stderr(quiet), executor.batch():
            return [executor.submit(fn) for fn in fns]
    except Exception as exc:  # submitit's FailedJobError, or sbatch not runnable at all
        raise PrerequisiteError(
            sbatch_error_message(str(exc) or quiet.getvalue(), array, profile, paths, n_before)
        ) from None


def sbatch_error_message(
    stderr: str, array: JobArray, profile: ClusterProfile, paths: CampaignPaths, n_before: int
) -> str:
    """One line: what Slurm said, which profile field to change, and what was already sent."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if "fatal:" in ln.lower()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    said = (fatal or errors or lines or ["no message"])[-1][:300]
    low = said.lower()
    where = f"{profile.path or profile.name}"
    field_ = f"classes.{array.resource_class}"
    if "configuration" in low or "slurm.conf" in low or "unable to contact" in low:
        conf = os.environ.get("SLURM_CONF")
        hint = (
            f"set SLURM_CONF to this cluster's slurm.conf (now {conf or 'unset'}) "
            "or submit from a login node"
        )
    elif "feature" in low or "constraint" in low:
        hint = f"change {field_}.constraint in {where}"
    elif "partition" in low:
        hint = f"change {field_}.partition in {where}"
    elif "account" in low:
        hint = f"change account in {where}"
    elif "qos" in low:
        hint = f"change qos in {where}"
    elif "time limit" in low:
        hint = f"lower {field_}.max_time_min in {where}"
    elif "gres" in low or "node configuration" in low or "memory" in low:
        hint = f"change {field_} (partition, gres) in {where} or the tasks' [resources]"
    else:
        hint = f"check [classes.{array.resource_class}] and the options in {where}"
    done = (
        f"; the {n_before} array(s) sent before it are recorded "
        f"(mlab-hpc status/cancel --campaign {paths.name})"
        if n_before
        else ""
    )
    return f"sbatch refused the {array.resource_class} array: {said} -> {hint}{done}"


def _run_here(
    executor_name: str,
    folder: Any,
    fns: list[CampaignRun],
    array: JobArray,
    parallelism: int,
    on_done: Callable[[RunSpec, dict[str, Any] | BaseException], None] | None,
) -> list[Any]:
    """local: submitit's local executor, at most ``parallelism`` jobs at once; debug: each run
    in this process, one after the other (no debugger on failure: the error is reported)."""
    if executor_name == "debug":
        jobs = []
        for i, fn in enumerate(fns):
            try:
                outcome: dict[str, Any] | BaseException = fn()
            except Exception as exc:  # reported like a failed job, and the campaign goes on
                outcome = exc
            if on_done is not None:
                on_done(fn.spec, outcome)
            jobs.append(_InProcessJob(f"debug-{i}"))
        return jobs
    executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(timeout_min=array.time_min, gpus_per_node=array.gpus)
    done: list[submitit.Job[Any]] = []
    pending = list(fns)
    running: list[tuple[CampaignRun, submitit.Job[Any]]] = []
    while pending or running:
        while pending and len(running) < max(1, parallelism):
            fn = pending.pop(0)
            running.append((fn, executor.submit(fn)))
        for item in list(running):
            if item[1].done():
                running.remove(item)
                _finish(item[0], item[1], on_done)
                done.append(item[1])
        time.sleep(0.2)
    return done


@dataclass
class _InProcessJob:
    job_id: str


def _finish(
    fn: CampaignRun,
    job: submitit.Job[Any],
    on_done: Callable[[RunSpec, dict[str, Any] | BaseException], None] | None,
) -> None:
    try:
        outcome: dict[str, Any] | BaseException = job.result()
    except Exception as exc:  # the job's own failure, with submitit's log paths in the message
        outcome = exc
    if on_done is not None:
        on_done(fn.spec, outcome)
