"""TaskSpec: one task's facts, loaded from ``tasks/<id>/task.toml`` and validated on load.

Every validation failure is a :class:`TaskSpecError` naming the file, the field and the fix.
The format is documented in docs/task-format.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from .errors import PrerequisiteError, TaskSpecError, UnknownNameError, did_you_mean
from .normalize import Normalizer, NormalizeSyntaxError

Direction = Literal["higher", "lower"]
DELIVERABLES = ("submission", "policy", "model")
DATA_SOURCES = ("kaggle", "huggingface", "torchvision", "ogb", "url", "generated", "none")
FILE_SOURCES = ("huggingface", "torchvision", "ogb", "url")  # sources given as [[data.files]]
ENVIRONMENTS = ("base", "torch", "graph", "nlp", "jax", "rl")
# The forms a task folder may describe beside its full form, as [forms.<name>] tables; the
# form's id is "<name>-<folder id>" (docs/task-format.md, "Forms").
FORMS = ("mini",)
# What a [forms.<name>] table may override; id, deliverable, environment and rl are the
# folder's own (one env/ and scripts/ serve every form).
FORM_KEYS = frozenset(
    {
        "title", "version", "research_problem", "starter", "read_only", "forbidden_modules",
        "forbidden_phrases", "metric", "human_relative", "limits", "resources", "data",
        "grader", "params",
    }
)  # fmt: skip
# The environment variables that tell a task's scripts (prepare.py, eval.py) which task and
# form they serve, and the form's [params] as a JSON object.
PARAMS_ENV = "MLAB_TASK_PARAMS"
TASK_ID_ENV = "MLAB_TASK_ID"
FORM_ENV = "MLAB_TASK_FORM"


@dataclass(frozen=True)
class Metric:
    name: str
    direction: Direction
    unit: str = ""
    # a time or a speed: its anchors hold for one machine only (the analysis keys them by it)
    timed: bool = False
    # A grader metric that is the lower end of the candidate's speedup over the starter timed in
    # the same grading job (paired, interleaved): success is decided on it, beyond the measured
    # noise, instead of against baseline runs graded at other times.
    speedup_metric: str | None = None


@dataclass(frozen=True)
class HumanRelative:
    """How the human-relative score is computed: which metric, its normalisation, the anchors.

    ``naive`` is a number or ``"starter"`` (the mean score of the baseline agent); ``human`` is a
    number or ``"reference"`` (the task's baselines/human/ solution graded on this machine), or
    None for tasks without a published human score (no [human_relative] section): their
    human-relative score stays empty, and the normalised score is the metric turned "higher is
    better".
    """

    metric: str
    direction: Direction
    normalize: Normalizer
    naive: float | str
    human: float | str | None
    naive_source: str = ""
    human_source: str = ""


@dataclass(frozen=True)
class Limits:
    max_steps: int
    max_time_s: float
    action_timeout_s: float


def check_limits(
    max_steps: object, max_time_s: object, action_timeout_s: object, where: str
) -> None:
    """TaskSpecError naming ``where`` and the field unless every limit is finite and positive.

    None means "not given" (the task's own limit applies) and passes.
    """
    for name, value, kind in (
        ("max_steps", max_steps, int),
        ("max_time_s", max_time_s, float),
        ("action_timeout_s", action_timeout_s, float),
    ):
        if value is None:
            continue
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is int:
            ok = ok and float(value).is_integer()
        if not (ok and math.isfinite(value) and value > 0):  # type: ignore[arg-type,operator]
            raise TaskSpecError(
                where, name, f"must be a finite positive {kind.__name__}, got {value!r}"
            )


@dataclass(frozen=True)
class Resources:
    gpus: int = 0
    cpus: int = 1
    mem_gb: float = 4.0


@dataclass(frozen=True)
class DataFile:
    """One file a source delivers: fetched unchanged into the raw folder, checksum checked."""

    url: str
    path: str  # where it lands under the raw folder (default: the URL's last segment)
    sha256: str | None = None
    md5: str | None = None  # some sources (torchvision) publish only an md5


@dataclass(frozen=True)
class DataSpec:
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    files: tuple[DataFile, ...] = ()

    @property
    def needs_preparation(self) -> bool:
        return self.source != "none"


@dataclass(frozen=True)
class GraderSpec:
    inputs: tuple[str, ...]
    timeout_s: float = 600.0


@dataclass(frozen=True)
class RLSpec:
    """The environment a policy is graded in (tasks whose deliverable is "policy")."""

    env_id: str  # the gymnasium id, e.g. "Ant-v5"
    episodes: int  # graded episodes
    max_episode_steps: int  # step cap of each episode


@dataclass(frozen=True)
class ForbiddenPhrase:
    """An agent action whose text contains every one of ``words`` (any case) is refused."""

    words: tuple[str, ...]  # lower case
    message: str

    def matches(self, text: str) -> bool:
        """Whether ``text`` contains every word, ignoring case."""
        folded = text.casefold()
        return all(word in folded for word in self.words)


DEFAULT_PHRASE_MESSAGE = "The task's rules forbid this."


@dataclass(frozen=True)
class TaskSpec:
    """A validated task. ``root`` is the task folder (env/, scripts/, baselines/ live there)."""

    id: str
    version: str
    title: str
    deliverable: str
    environment: str
    research_problem: str
    metric: Metric
    human_relative: HumanRelative
    limits: Limits
    resources: Resources
    data: DataSpec
    grader: GraderSpec
    read_only: tuple[str, ...]
    forbidden_modules: tuple[str, ...]
    root: Path
    rl: RLSpec | None = None
    forbidden_phrases: tuple[ForbiddenPhrase, ...] = ()
    starter: str = "train.py"  # the script the baseline agent runs unchanged
    form: str = "full"  # "full", or the name of the [forms.<name>] table this spec applies
    base_id: str = ""  # the folder's id (the full form's); "" means the same as id
    # [params]: values the task's scripts read (caps, counts) and research_problem's
    # {placeholders} show; given to prepare.py and eval.py as JSON in $MLAB_TASK_PARAMS
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def folder_id(self) -> str:
        """The id of the folder this task lives in (its full form's id)."""
        return self.base_id or self.id

    def script_env(self) -> dict[str, str]:
        """The environment variables a task script (prepare.py, eval.py) is run with: the task
        id, its form and its [params] as a JSON object (sorted keys: the same text each run)."""
        return {
            TASK_ID_ENV: self.id,
            FORM_ENV: self.form,
            PARAMS_ENV: json.dumps(self.params, sort_keys=True),
        }

    @property
    def env_dir(self) -> Path:
        return self.root / "env"

    @property
    def scripts_dir(self) -> Path:
        return self.root / "scripts"

    @property
    def eval_script(self) -> Path:
        return self.scripts_dir / "eval.py"

    @property
    def prepare_script(self) -> Path:
        return self.scripts_dir / "prepare.py"

    @property
    def human_reference_dir(self) -> Path:
        return self.root / "baselines" / "human"

    def summary(self) -> dict[str, Any]:
        """A flat, JSON-friendly description (for ``tasks list --json``)."""
        return {
            "id": self.id,
            "form": self.form,
            "folder": self.folder_id,
            "version": self.version,
            "title": self.title,
            "deliverable": self.deliverable,
            "environment": self.environment,
            "metric": self.metric.name,
            "direction": self.metric.direction,
            "gpus": self.resources.gpus,
            "data_source": self.data.source,
            "max_steps": self.limits.max_steps,
            "max_time_s": self.limits.max_time_s,
            "action_timeout_s": self.limits.action_timeout_s,
            "env_id": self.rl.env_id if self.rl else None,
        }


class _Reader:
    """Pulls typed fields out of a parsed TOML table, raising TaskSpecError with the field path."""

    def __init__(
        self, path: Path, table: dict[str, Any], prefix: str = "", doc: str = "docs/task-format.md"
    ) -> None:
        self.path = path
        self.table = table
        self.prefix = prefix
        self.doc = doc

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> TaskSpecError:
        return TaskSpecError(self.path, self._name(key), problem)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(key, f"is missing: add it (see {self.doc})")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML integers are fine where floats are expected; booleans are never numbers here
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"must be {_kind_names(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise self.fail(key, f"must be {_kind_names(kinds)}, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return str(value)

    def positive(self, key: str, kind: type, default: Any = ...) -> Any:
        value = self.get(key, kind, default)
        if not (value > 0 and math.isfinite(value)):  # NaN and inf would remove the limit
            raise self.fail(key, f"must be a finite positive number, got {value!r}")
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        return tuple(value)

    def tables(self, key: str) -> list[_Reader]:
        """An optional array of tables (``[[key]]``), one reader per table."""
        value = self.get(key, list, [])
        if not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"must be an array of tables: write [[{key}]] sections")
        return [
            _Reader(self.path, v, prefix=f"{self._name(key)}[{i}].") for i, v in enumerate(value)
        ]

    def section(self, key: str, required: bool = True) -> _Reader:
        table = self.get(key, dict, ... if required else {})
        return _Reader(self.path, table, prefix=f"{self._name(key)}.", doc=self.doc)

    def reject_unknown(self, known: set[str]) -> None:
        for key in self.table:
            if key not in known:
                hint = did_you_mean(key, known, n=1)
                raise self.fail(
                    key, f"unknown field.{hint} Known fields here: {', '.join(sorted(known))}"
                )


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a table",
        bool: "true or false",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _anchor(reader: _Reader, key: str, word: str) -> float | str:
    value = reader.get(key, (float, str))
    if isinstance(value, str) and value != word:
        raise reader.fail(key, f'must be a number or "{word}", got {value!r}')
    return value


_HEX = {"sha256": 64, "md5": 32}


CHECKSUMS_FILE = "checksums.toml"  # beside task.toml: sha256 of downloads, keyed by URL


def read_checksums(folder: Path) -> dict[str, str]:
    """URL -> sha256 recorded in ``folder/checksums.toml`` (its ``[sha256]`` table), validated;
    {} when there is no such file. Both forms of a task share it (it is keyed by URL).

    The file is written by ``mlab-hpc prepare --record-checksums`` from a first download
    (mlab_hpc/checksums.py); a site may also write it by hand.
    """
    path = folder / CHECKSUMS_FILE
    if not path.is_file():
        return {}
    raw = _read_toml(path)
    top = _Reader(path, raw)
    top.reject_unknown({"sha256"})
    table = top.section("sha256", required=False)
    out = {}
    for url, digest in table.table.items():
        if not (isinstance(digest, str) and len(digest) == 64 and _is_hex(digest)):
            raise table.fail(url, f"must be 64 hex digits, got {digest!r}")
        out[url] = digest.lower()
    return out


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text.lower())


def _data_files(
    d: _Reader, source: str, recorded: dict[str, str] | None = None
) -> tuple[DataFile, ...]:
    """The ``[[data.files]]`` of a source that is a list of files, validated. A file that pins
    no sha256 takes the one ``recorded`` (checksums.toml) for its URL; a pin that disagrees
    with the recorded one is an error."""
    recorded = recorded or {}
    readers = d.tables("files")
    if source not in FILE_SOURCES:
        if readers:
            raise d.fail("files", f"is only for sources {', '.join(FILE_SOURCES)}")
        if source == "kaggle" and not d.get("competition", str, ""):
            raise d.fail(
                "competition", 'is missing: the Kaggle competition\'s name, e.g. "titanic"'
            )
        return ()
    if not readers:
        raise d.fail("files", f"is missing: source {source!r} needs [[data.files]] with a url each")
    files = []
    for f in readers:
        f.reject_unknown({"url", "path", "sha256", "md5"})
        url = f.get("url", str)
        if not url.startswith(("https://", "http://")):
            raise f.fail("url", f"must be an http(s) address, got {url!r}")
        rel = f.get("path", str, url.rstrip("/").rsplit("/", 1)[-1])
        if rel.startswith("/") or ".." in rel.split("/") or not rel:
            raise f.fail("path", f"must be a relative path inside the raw folder, got {rel!r}")
        sums = {}
        for kind, length in _HEX.items():
            value = f.get(kind, str, None)
            if value is not None and (
                len(value) != length or any(c not in "0123456789abcdef" for c in value.lower())
            ):
                raise f.fail(kind, f"must be {length} hex digits, got {value!r}")
            sums[kind] = value.lower() if value else None
        known = recorded.get(url)
        if known and sums["sha256"] and known != sums["sha256"]:
            raise f.fail(
                "sha256",
                f"pins {sums['sha256']} but {CHECKSUMS_FILE} records {known} for {url}: "
                "remove the wrong one",
            )
        sums["sha256"] = sums["sha256"] or known
        files.append(DataFile(url, rel, **sums))
    paths = [f.path for f in files]
    for rel in paths:
        if paths.count(rel) > 1:
            raise d.fail("files", f"two files land at {rel!r}: give one of them another path")
    return tuple(files)


def _human_relative(top: _Reader, metric: Metric) -> HumanRelative:
    """The [human_relative] section, or the metric itself when the task has none."""
    if "human_relative" not in top.table:
        flip = "s" if metric.direction == "higher" else "0 - s"
        return HumanRelative(metric.name, metric.direction, Normalizer(flip), "starter", None)
    h = top.section("human_relative")
    h.reject_unknown(
        {"metric", "direction", "normalize", "naive", "human", "naive_source", "human_source"}
    )
    hr_metric = h.get("metric", str, metric.name)
    default_direction = metric.direction if hr_metric == metric.name else ...
    expression = h.get("normalize", str, "s")
    try:
        normalizer = Normalizer(expression)
    except NormalizeSyntaxError as exc:
        raise h.fail("normalize", f"{exc} in {expression!r}") from None
    return HumanRelative(
        metric=hr_metric,
        direction=h.choice("direction", ("higher", "lower"), default_direction),  # type: ignore[arg-type]
        normalize=normalizer,
        naive=_anchor(h, "naive", "starter"),
        human=_anchor(h, "human", "reference"),
        naive_source=h.get("naive_source", str, ""),
        human_source=h.get("human_source", str, ""),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed task.toml; TaskSpecError (file, reason) when it is missing or unreadable."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskSpecError(path, "(file)", "does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskSpecError(path, "(syntax)", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise TaskSpecError(
            path, "(encoding)", f"not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise TaskSpecError(path, "(file)", f"cannot be read: {exc.strerror or exc}") from None


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it: tables merge key by key (recursively), every
    other value (a string, a number, a list, an array of tables) replaces the base's."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _form_tables(path: Path, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The file's ``[forms.<name>]`` tables, validated: known form names, known keys."""
    forms = raw.get("forms", {})
    if not isinstance(forms, dict) or not all(isinstance(v, dict) for v in forms.values()):
        raise TaskSpecError(path, "forms", "must hold tables: write [forms.mini] sections")
    for name, table in forms.items():
        if name not in FORMS:
            raise TaskSpecError(
                path, f"forms.{name}", f"unknown form; the forms are: {', '.join(FORMS)}"
            )
        _Reader(path, table, prefix=f"forms.{name}.").reject_unknown(set(FORM_KEYS))
    return forms


def load_task(path: Path, form: str = "full") -> TaskSpec:
    """Load and validate one task.toml (``path`` is the file or its folder).

    ``form="full"`` is the file's own description; another form (``"mini"``) is the file
    with its ``[forms.<form>]`` table laid over it (tables merge key by key, other values
    replace), validated as a whole, with the id ``<form>-<folder id>``. A form's error names
    its field under ``forms.<form>.``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "task.toml"
    raw = _read_toml(path)
    forms = _form_tables(path, raw)
    raw = {k: v for k, v in raw.items() if k != "forms"}
    if form == "full":
        return _build(path, raw, form)
    if form not in forms:
        raise TaskSpecError(path, f"forms.{form}", f"is missing: the file describes no {form} form")
    _build(path, raw, "full")  # the full form's own errors are named as such
    try:
        return _build(path, _merged(raw, forms[form]), form)
    except TaskSpecError as exc:
        raise TaskSpecError(path, f"forms.{form}.{exc.field}", exc.problem) from None


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
# Format specs that show a number in a unit: {max_bytes:GiB} -> "3 GiB".
_UNITS = {
    "GiB": 1024**3, "MiB": 1024**2, "GB": 10**9, "MB": 10**6, "million": 10**6,
    "billion": 10**9,
}  # fmt: skip


def render_text(text: str, params: dict[str, Any]) -> str:
    """``text`` with every ``{name}`` or ``{name:spec}`` replaced by the parameter's value.

    ``spec`` is a Python format spec (``{n:,}`` -> "14,042"), a unit (GiB, MiB, GB, MB,
    million, billion: ``{max_bytes:GiB}`` -> "3 GiB"), or for a list ``or``/``and``
    (``{allowed_dtypes:or}`` -> "float16, bfloat16 or float32"). Braces around anything but a name
    (a JSON example such as ``{"text": ...}``) are left as they are. Raises KeyError naming
    the placeholder whose name is not a parameter, ValueError for a spec that does not fit.
    """

    def fill(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2) or ""
        if name not in params:
            raise KeyError(name)
        value = params[name]
        if spec in _UNITS:
            return f"{value / _UNITS[spec]:g} {spec}"
        if isinstance(value, list):  # {names:or} -> "a, b or c"; {names:and} -> "a, b and c"
            words = [str(v) for v in value]
            if spec not in ("or", "and") or not words:
                raise ValueError(f"{{{name}}} is a list: write {{{name}:or}} or {{{name}:and}}")
            return ", ".join(words[:-1]) + f" {spec} " * (len(words) > 1) + words[-1]
        return format(value, spec)

    return _PLACEHOLDER.sub(fill, text)


def _params(top: _Reader) -> dict[str, Any]:
    """The [params] table: names to strings, numbers, booleans or lists of those."""
    p = top.section("params", required=False)
    for key, value in p.table.items():
        scalars = (str, int, float, bool)
        ok = isinstance(value, scalars) or (
            isinstance(value, list) and all(isinstance(v, scalars) for v in value)
        )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise p.fail(key, "must be a name of letters, digits and _ (a {placeholder})")
        if not ok:
            raise p.fail(key, "must be a string, a number, true/false or a list of those")
    return dict(p.table)


def _build(path: Path, raw: dict[str, Any], form: str) -> TaskSpec:
    """Validate one form's (merged) table into a TaskSpec."""
    top = _Reader(path, raw)
    top.reject_unknown(
        {
            "id",
            "version",
            "title",
            "deliverable",
            "environment",
            "research_problem",
            "starter",
            "read_only",
            "forbidden_modules",
            "forbidden_phrases",
            "rl",
            "metric",
            "human_relative",
            "limits",
            "resources",
            "data",
            "grader",
            "params",
        }
    )

    folder_id = top.get("id", str)
    if folder_id != path.parent.name:
        raise top.fail(
            "id", f"is {folder_id!r} but the folder is {path.parent.name!r}: make them equal"
        )
    task_id = folder_id if form == "full" else f"{form}-{folder_id}"
    params = _params(top)
    research_problem = top.get("research_problem", str).strip()
    if params:
        try:
            research_problem = render_text(research_problem, params)
        except KeyError as exc:
            raise top.fail(
                "research_problem",
                f"{{{exc.args[0]}}} names no parameter: add it to [params] (it has "
                f"{', '.join(sorted(params))})",
            ) from None
        except ValueError as exc:
            raise top.fail(
                "research_problem", f"a placeholder's format does not fit: {exc}"
            ) from None

    m = top.section("metric")
    m.reject_unknown({"name", "direction", "unit", "timed", "speedup_metric"})
    metric = Metric(
        m.get("name", str),
        m.choice("direction", ("higher", "lower")),  # type: ignore[arg-type]
        m.get("unit", str, ""),
        m.get("timed", bool, False),
        m.get("speedup_metric", str, None),
    )

    human_relative = _human_relative(top, metric)

    lim = top.section("limits")
    lim.reject_unknown({"max_steps", "max_time_s", "action_timeout_s"})
    limits = Limits(
        lim.positive("max_steps", int),
        lim.positive("max_time_s", float),
        lim.positive("action_timeout_s", float),
    )

    res = top.section("resources", required=False)
    res.reject_unknown({"gpus", "cpus", "mem_gb"})
    gpus = res.get("gpus", int, 0)
    if gpus < 0:
        raise res.fail("gpus", "must be 0 or more")
    resources = Resources(gpus, res.positive("cpus", int, 1), res.positive("mem_gb", float, 4.0))

    d = top.section("data", required=False)
    source = d.choice("source", DATA_SOURCES, "none")
    data = DataSpec(
        source,
        {k: v for k, v in d.table.items() if k not in ("source", "files")},
        _data_files(d, source, read_checksums(path.parent)),
    )

    g = top.section("grader", required=False)
    g.reject_unknown({"inputs", "timeout_s"})
    grader = GraderSpec(g.strings("inputs", ["**/*"]), g.positive("timeout_s", float, 600.0))

    phrases = []
    for f in top.tables("forbidden_phrases"):
        f.reject_unknown({"words", "message"})
        words = f.strings("words")
        if not words:
            raise f.fail("words", "must list at least one word")
        message = f.get("message", str, DEFAULT_PHRASE_MESSAGE).strip()
        phrases.append(ForbiddenPhrase(tuple(w.casefold() for w in words), message))

    rl: RLSpec | None = None
    if "rl" in top.table:
        r = top.section("rl")
        r.reject_unknown({"env_id", "episodes", "max_episode_steps"})
        rl = RLSpec(
            r.get("env_id", str), r.positive("episodes", int), r.positive("max_episode_steps", int)
        )

    spec = TaskSpec(
        id=task_id,
        version=str(top.get("version", (str, int))),
        title=top.get("title", str, task_id),
        deliverable=top.choice("deliverable", DELIVERABLES),
        environment=top.choice("environment", ENVIRONMENTS),
        research_problem=research_problem,
        metric=metric,
        human_relative=human_relative,
        limits=limits,
        resources=resources,
        data=data,
        grader=grader,
        read_only=top.strings("read_only", []),
        forbidden_modules=top.strings("forbidden_modules", []),
        root=path.parent.resolve(),
        rl=rl,
        forbidden_phrases=tuple(phrases),
        starter=top.get("starter", str, "train.py"),
        form=form,
        base_id="" if form == "full" else folder_id,
        params=params,
    )
    if (spec.deliverable == "policy") != (rl is not None):
        raise TaskSpecError(
            path,
            "rl",
            'is required when deliverable is "policy" (env_id, episodes, max_episode_steps), '
            "and only then",
        )
    if not spec.env_dir.is_dir():
        raise TaskSpecError(path, "(folder)", f"the task has no env/ folder at {spec.env_dir}")
    if "starter" in top.table and not (spec.env_dir / spec.starter).is_file():
        raise top.fail("starter", f"names {spec.env_dir / spec.starter}, which does not exist")
    if not spec.eval_script.is_file():
        raise TaskSpecError(path, "(folder)", f"the task has no grader at {spec.eval_script}")
    if data.needs_preparation and not spec.prepare_script.is_file():
        raise TaskSpecError(
            path, "data.source", f"is {source!r} but {spec.prepare_script} does not exist"
        )
    if human_relative.human == "reference" and not spec.human_reference_dir.is_dir():
        raise TaskSpecError(
            path,
            "human_relative.human",
            f'is "reference" but {spec.human_reference_dir} does not exist',
        )
    return spec


def tasks_root() -> Path:
    """The folder of task folders: $MLAB_TASKS, the source tree's tasks/, or the installed copy."""
    env = os.environ.get("MLAB_TASKS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "tasks", here / "_tasks"):
        if candidate.is_dir():
            return candidate
    return here.parent / "tasks"


@cache
def _forms_cached(path: Path, mtime_ns: int) -> tuple[str, ...]:
    try:
        forms = _read_toml(path).get("forms", {})
    except TaskSpecError:
        return ()  # loading the task reports the problem
    return tuple(name for name in FORMS if isinstance(forms, dict) and name in forms)


def _forms_of(path: Path) -> tuple[str, ...]:
    """The forms (beside the full one) that a task.toml describes, in FORMS order."""
    return _forms_cached(path, path.stat().st_mtime_ns)


def task_ids(root: Path | None = None) -> list[str]:
    """Ids of every task under the tasks root, sorted: each folder with a task.toml (its full
    form) and ``<form>-<folder>`` for each [forms.<form>] table it holds.

    Raises TaskSpecError when a form's id is also a folder's (two tasks, one id).
    """
    root = root or tasks_root()
    if not root.is_dir():
        return []
    ids: list[str] = []
    for folder in sorted(root.iterdir()):
        toml = folder / "task.toml"
        if toml.is_file():
            ids.append(folder.name)
            ids += [f"{form}-{folder.name}" for form in _forms_of(toml)]
    for task_id in ids:
        if ids.count(task_id) > 1:
            raise TaskSpecError(
                root / task_id / "task.toml",
                "id",
                f"{task_id!r} is both this folder and a form of another folder's task.toml "
                "(its [forms] table): remove one of them",
            )
    return sorted(ids)


@cache
def _load_cached(path: Path, stamp: tuple[int, int], form: str) -> TaskSpec:
    return load_task(path, form)


def _stamp(path: Path) -> tuple[int, int]:
    """The modification times of a task.toml and of its checksums.toml (0 when absent)."""
    lock = path.parent / CHECKSUMS_FILE
    return path.stat().st_mtime_ns, lock.stat().st_mtime_ns if lock.is_file() else 0


def get_task(task_id: str, root: Path | None = None) -> TaskSpec:
    """The task with this id: a folder's full form, or ``<form>-<folder>`` for a form its
    task.toml describes; an unknown id raises UnknownNameError with the closest ids."""
    root = root or tasks_root()
    path = root / task_id / "task.toml"
    if path.is_file():
        return _load_cached(path, _stamp(path), "full")
    for form in FORMS:
        if task_id.startswith(f"{form}-"):
            base = root / task_id.removeprefix(f"{form}-") / "task.toml"
            if base.is_file() and form in _forms_of(base):
                return _load_cached(base, _stamp(base), form)
    raise UnknownNameError("task", task_id, task_ids(root))


def all_tasks(root: Path | None = None) -> list[TaskSpec]:
    """Every task under the root, loaded and validated."""
    return [get_task(t, root) for t in task_ids(root)]


# The benchmarks this project re-implements, as task groups for --tasks. The two MLAgentBench
# groups are the published task lists; "mlrb" (the ML Research Benchmark: deliverable "model",
# MLAgentBench's own model tasks babylm and clrs aside; both forms of each task), its halves
# "mlrb-mini" (the mini forms, ids mini-*: 2 h each) and "mlrb-full" (the 24 h forms), and "rl"
# (deliverable "policy") follow from the task files.
TASK_GROUPS: dict[str, tuple[str, ...]] = {
    "mlab": (  # MLAgentBench's 13 tasks
        "cifar10", "imdb", "ogbn-arxiv", "house-price", "spaceship-titanic",
        "parkinsons-disease", "feedback", "fathomnet", "identify-contrails", "clrs", "babylm",
        "vectorization", "llama-inference",
    ),
    "hr-mlab": (  # the human-relative variant's 15 tasks
        "cifar10", "feedback", "house-price", "imdb", "ogbn-arxiv", "parkinsons-disease",
        "spaceship-titanic", "vectorization", "cartpole", "inverted-pendulum", "pusher",
        "bipedal-walker", "ant", "humanoid", "pong",
    ),
}  # fmt: skip
DELIVERABLE_GROUPS = {"mlrb": "model", "rl": "policy"}
# groups of a deliverable group's tasks: name -> (deliverable group, keep mini forms?)
FORM_GROUPS = {"mlrb-mini": ("mlrb", True), "mlrb-full": ("mlrb", False)}


def select_tasks(text: str, root: Path | None = None) -> list[TaskSpec]:
    """The tasks ``--tasks`` names: ``all``, a group (mlab, hr-mlab, mlrb, mlrb-mini, mlrb-full,
    rl), or task ids and groups separated by commas; each task once, in the order named
    (groups in id order).

    An unknown name raises UnknownNameError listing the closest task ids and groups.
    """
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise PrerequisiteError("--tasks is empty: give all, a group or task ids")
    known = task_ids(root)
    chosen: list[str] = []
    for name in names:
        if name == "all":
            ids = known
        elif name in TASK_GROUPS:
            ids = [t for t in TASK_GROUPS[name] if t in known]
        elif name in DELIVERABLE_GROUPS or name in FORM_GROUPS:
            group, mini = FORM_GROUPS.get(name, (name, None))
            kind = DELIVERABLE_GROUPS[group]
            ids = [
                t
                for t in known
                if get_task(t, root).deliverable == kind
                and t not in TASK_GROUPS["mlab"]
                and (mini is None or t.startswith("mini-") == mini)
            ]
        elif name in known:
            ids = [name]
        else:
            groups = ["all", *TASK_GROUPS, *DELIVERABLE_GROUPS, *FORM_GROUPS]
            raise UnknownNameError("task or task group", name, [*known, *groups])
        chosen += [t for t in ids if t not in chosen]
    return [get_task(t, root) for t in chosen]
