"""The actions an agent can take, each a function with explicit, typed parameters.

An action gets the run's :class:`ActionContext` and its own parameters, and returns an
:class:`Outcome`. Anything that goes wrong because of the agent's input is raised as
:class:`ActionError`: the environment turns it into an observation, never a crash.
Parameter descriptions live in ``Annotated`` hints, so the registry can describe every action to
an LLM agent without a second copy of the list.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from .llm.chunks import summarise_long
from .llm.parsing import excerpt, extract_code
from .sandbox import Mount, Sandbox
from .snapshots import EditHistory
from .snapshots import copy_file as copy_keeping_holes
from .workspace import Workspace, WorkspaceError

MAX_INSPECT_LINES = 100
READ_CAP_CHARS = 1_000_000
MAX_ARGUMENTS_CHARS = 100_000  # Execute Script's arguments (Linux caps one at 128 KiB anyway)
UNDERSTAND_CHUNK_CHARS = 12_000  # Understand File reads long files in parts of this size


class ActionError(Exception):
    """An action that cannot be done as asked; ``kind`` is recorded as the step's error_kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Outcome:
    """What an action returns. ``changed``: workspace paths it touched (None: unknown, rescan)."""

    observation: str
    changed: list[str] | None = field(default_factory=list)
    exit_code: int | None = None
    error_kind: str | None = None
    done: bool = False


class TextModel(Protocol):
    """What the LLM-backed actions need from a model: text in, text out."""

    def complete(self, prompt: str, *, purpose: str) -> str: ...


@dataclass
class ActionContext:
    """Everything an action may use: one small object instead of a bag of keyword arguments."""

    workspace: Workspace
    sandbox: Sandbox
    logs_dir: Path
    history: EditHistory
    step: int
    timeout_s: float
    extra_mounts: list[Mount] = field(default_factory=list)
    sandbox_env: dict[str, str] = field(default_factory=dict)
    edit_model: TextModel | None = None
    fast_model: TextModel | None = None
    research_problem: str = ""  # the task's, for Reflection

    def path(self, name: str, *, must_exist: bool = False) -> Path:
        try:
            return self.workspace.resolve(name, must_exist=must_exist)
        except WorkspaceError as exc:
            raise ActionError(exc.kind, str(exc)) from None

    def writable(self, name: str) -> Path:
        path = self.path(name)
        try:
            self.workspace.check_writable(path, name)
        except WorkspaceError as exc:
            raise ActionError(exc.kind, str(exc)) from None
        if path.is_dir():
            raise ActionError("bad_arguments", f"'{name}' is a directory, not a file")
        _refuse_special(path, name)
        return path

    def rel(self, path: Path) -> str:
        return self.workspace.relative(path)

    def mounts(self) -> list[Mount]:
        """The workspace writable, its read-only files bound read-only over it."""
        ro = [Mount(p, writable=False) for p in self.workspace.read_only_mounts()]
        return [Mount(self.workspace.root, writable=True), *ro, *self.extra_mounts]


def _refuse_special(path: Path, name: str) -> None:
    """A FIFO, socket or device is no file to read or write: opening a FIFO blocks forever."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise ActionError("bad_arguments", f"'{name}' is not a regular file")


@dataclass(frozen=True)
class Param:
    name: str
    kind: type
    description: str
    required: bool
    default: Any = None


@dataclass(frozen=True)
class ActionSpec:
    """One registered action: its name as the agent writes it, what it does, its parameters."""

    name: str
    description: str
    params: tuple[Param, ...]
    fn: Callable[..., Outcome]
    needs_model: str | None = None  # "edit" or "fast" for the LLM-backed actions

    def usage(self) -> str:
        """The JSON input the action expects, with each parameter described."""
        lines = ["{"]
        for p in self.params:
            opt = "" if p.required else f" (optional, default {p.default!r})"
            lines.append(f'    "{p.name}": [{p.kind.__name__}] {p.description}{opt}')
        lines.append("}")
        return "\n".join(lines)

    def bind(self, args: Any) -> dict[str, Any]:
        """Check the agent's arguments against the parameters; ActionError when they don't fit."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ActionError(
                "bad_arguments",
                f"the input of {self.name} must be a JSON object "
                f"with these fields:\n{self.usage()}",
            )
        known = {p.name for p in self.params}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ActionError(
                "bad_arguments",
                f"{self.name} has no parameter "
                f"{', '.join(repr(u) for u in unknown)}. Expected:\n{self.usage()}",
            )
        bound: dict[str, Any] = {}
        for p in self.params:
            if p.name not in args:
                if p.required:
                    raise ActionError(
                        "bad_arguments", f"{self.name} needs '{p.name}'. Expected:\n{self.usage()}"
                    )
                bound[p.name] = p.default
                continue
            bound[p.name] = _convert(self.name, p, args[p.name])
        return bound


def _convert(action: str, p: Param, value: Any) -> Any:
    if p.kind is int:
        if isinstance(value, bool):
            raise ActionError("bad_arguments", f"{action}: '{p.name}' must be an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ActionError(
            "bad_arguments", f"{action}: '{p.name}' must be an integer, got {value!r}"
        )
    if p.kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ActionError(
            "bad_arguments", f"{action}: '{p.name}' must be a string, got {type(value).__name__}"
        )
    return value


REGISTRY: dict[str, ActionSpec] = {}


def action(
    name: str, needs_model: str | None = None
) -> Callable[[Callable[..., Outcome]], Callable[..., Outcome]]:
    """Register ``fn(ctx, **params)`` as the action ``name``; its docstring is the description."""

    def register(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        hints = typing.get_type_hints(fn, include_extras=True)
        params = []
        for pname, param in list(inspect.signature(fn).parameters.items())[1:]:
            hint = hints[pname]
            kind, desc = typing.get_args(hint)[0], typing.get_args(hint)[1]
            required = param.default is inspect.Parameter.empty
            params.append(Param(pname, kind, desc, required, None if required else param.default))
        doc = inspect.getdoc(fn) or ""
        REGISTRY[name] = ActionSpec(name, doc, tuple(params), fn, needs_model)
        return fn

    return register


# --------------------------------------------------------------------------- file actions
@action("List Files")
def list_files(
    ctx: ActionContext,
    dir_path: Annotated[str, 'a folder relative to the workspace, e.g. "."'] = ".",
) -> Outcome:
    """List the files and folders in a folder of the workspace (folders end with '/')."""
    path = ctx.path(dir_path, must_exist=True)
    if not path.is_dir():
        raise ActionError("bad_arguments", f"'{dir_path}' is a file, not a folder")
    names = sorted(f"{p.name}/" if p.is_dir() else p.name for p in path.iterdir())
    return Outcome("\n".join(names) if names else "(the folder is empty)")


@action("Read File")
def read_file(
    ctx: ActionContext, file_name: Annotated[str, "a file relative to the workspace"]
) -> Outcome:
    """Read a whole text file of the workspace."""
    path = ctx.path(file_name, must_exist=True)
    if path.is_dir():
        raise ActionError("bad_arguments", f"'{file_name}' is a folder: use List Files")
    _refuse_special(path, file_name)
    size = path.stat().st_size
    with path.open("rb") as fh:  # never more than the cap in memory, whatever the file's size
        raw = fh.read(READ_CAP_CHARS * 4)
    if b"\x00" in raw[:8192]:
        raise ActionError(
            "binary_file",
            f"'{file_name}' is a binary file ({size} bytes) and cannot be shown as text",
        )
    text = raw.decode("utf-8", "replace")
    if len(text) > READ_CAP_CHARS or size > len(raw):
        text = text[:READ_CAP_CHARS] + f"\n[... cut at {READ_CAP_CHARS} characters ...]"
    return Outcome(text)


def _backup(ctx: ActionContext, path: Path) -> None:
    """Remember the file's content before this step, so that Undo Edit Script can restore it.

    Called after a successful write: the previous content is the one at the last snapshot.
    """
    ctx.history.record(ctx.rel(path))


@action("Write File")
def write_file(
    ctx: ActionContext,
    file_name: Annotated[str, "a file relative to the workspace"],
    content: Annotated[str, "the full text to write; replaces what is there"],
) -> Outcome:
    """Write a text file in the workspace, replacing it if it exists."""
    path = ctx.writable(file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    _backup(ctx, path)
    return Outcome(
        f"File {file_name} written successfully ({len(content)} characters).",
        changed=[ctx.rel(path)],
    )


@action("Append File")
def append_file(
    ctx: ActionContext,
    file_name: Annotated[str, "a file relative to the workspace"],
    content: Annotated[str, "the text to add at the end of the file"],
) -> Outcome:
    """Append text to a file of the workspace (created if missing)."""
    path = ctx.writable(file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(content)
    _backup(ctx, path)
    return Outcome(
        f"File {file_name} appended successfully ({len(content)} characters).",
        changed=[ctx.rel(path)],
    )


@action("Copy File")
def copy_file(
    ctx: ActionContext,
    source: Annotated[str, "the file to copy, relative to the workspace"],
    destination: Annotated[str, "where to copy it, relative to the workspace"],
) -> Outcome:
    """Copy a file of the workspace to another name in the workspace."""
    src = ctx.path(source, must_exist=True)
    if src.is_dir():
        raise ActionError("bad_arguments", f"'{source}' is a folder; only files can be copied")
    _refuse_special(src, source)
    dst = ctx.writable(destination)
    dst.parent.mkdir(parents=True, exist_ok=True)
    copy_keeping_holes(src, dst)  # a sparse file stays sparse
    _backup(ctx, dst)
    return Outcome(f"File {source} copied to {destination}.", changed=[ctx.rel(dst)])


@action("Undo Edit Script")
def undo_edit_script(
    ctx: ActionContext, script_name: Annotated[str, "the file whose last change to undo"]
) -> Outcome:
    """Undo the last change made to a file by a write, append, copy or edit action."""
    path = ctx.writable(script_name)
    rel = ctx.rel(path)
    try:
        before = ctx.history.undo(rel)
    except KeyError:
        raise ActionError(
            "nothing_to_undo", f"there is no change of '{script_name}' to undo"
        ) from None
    if before is None:
        path.unlink(missing_ok=True)
        return Outcome(
            f"Undid the creation of {script_name}: the file no longer exists.", changed=[rel]
        )
    path.write_bytes(before)
    text = before.decode("utf-8", errors="replace")
    return Outcome(f"Content of {script_name} after undo:\n{text}", changed=[rel])


@action("Inspect Script Lines")
def inspect_script_lines(
    ctx: ActionContext,
    script_name: Annotated[str, "a file relative to the workspace"],
    start_line_number: Annotated[int, "first line to show (1-based)"],
    end_line_number: Annotated[int, f"last line to show; at most {MAX_INSPECT_LINES} lines"],
) -> Outcome:
    """Show a range of lines of a file, numbered."""
    path = ctx.path(script_name, must_exist=True)
    _refuse_special(path, script_name)
    if start_line_number < 1 or end_line_number < start_line_number:
        raise ActionError("bad_arguments", "need 1 <= start_line_number <= end_line_number")
    if end_line_number - start_line_number + 1 > MAX_INSPECT_LINES:
        raise ActionError("bad_arguments", f"at most {MAX_INSPECT_LINES} lines at a time")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    shown = lines[start_line_number - 1 : end_line_number]
    body = "\n".join(f"{i}: {line}" for i, line in enumerate(shown, start_line_number))
    return Outcome(
        f"{script_name} has {len(lines)} lines. Lines {start_line_number}-"
        f"{min(end_line_number, len(lines))}:\n{body}"
    )


# --------------------------------------------------------------------------- execution
def _run_python(ctx: ActionContext, argv: list[str], label: str) -> Outcome:
    log = ctx.logs_dir / f"step-{ctx.step:05d}.out"
    result = ctx.sandbox.run(
        [ctx.sandbox.python, *argv],
        cwd=ctx.workspace.root,
        mounts=ctx.mounts(),
        timeout_s=ctx.timeout_s,
        output_file=log,
        env=ctx.sandbox_env,
    )
    output = result.output if result.output.strip() else "(no output)"
    if result.timed_out:
        return Outcome(
            f"{label} was stopped: it ran past the time limit of one action "
            f"({ctx.timeout_s:g} s), and every process it started was killed. "
            f"Output before it was stopped:\n{output}",
            changed=None,
            error_kind="timeout",
        )
    if result.returncode != 0:
        return Outcome(
            f"{label} failed with exit code {result.returncode}. Output:\n{output}",
            changed=None,
            exit_code=result.returncode,
            error_kind="nonzero_exit",
        )
    return Outcome(f"{label} has been executed. Output:\n{output}", changed=None, exit_code=0)


_TOKEN = re.compile(r"""[^\s'"\\]+|'[^']*'|"(?:[^"\\]|\\.)*"|\\.|\\$|\s+|['"]""", re.S)
_DQ_ESCAPE = re.compile(r'\\([\\"])')  # inside double quotes only \\ and \" are escapes


def split_arguments(text: str) -> list[str]:
    """Split a command line as a POSIX shell would (quotes, backslashes), in linear time.

    The same words as ``shlex.split`` gives (which builds each word one character at a
    time and takes minutes over one long word). ValueError for an unclosed quote.
    """
    words: list[str] = []
    current: list[str] = []
    started = False
    for match in _TOKEN.finditer(text):
        piece = match.group()
        first = piece[0]
        if first.isspace():
            if started:
                words.append("".join(current))
                current, started = [], False
            continue
        started = True
        if first == "'":
            if len(piece) == 1:
                raise ValueError("No closing quotation")
            current.append(piece[1:-1])
        elif first == '"':
            if len(piece) == 1:
                raise ValueError("No closing quotation")
            current.append(_DQ_ESCAPE.sub(lambda m: m.group(1), piece[1:-1]))
        elif first == "\\":
            if len(piece) == 1:
                raise ValueError("No escaped character")
            current.append(piece[1])
        else:
            current.append(piece)
    if started:
        words.append("".join(current))
    return words


@action("Execute Script")
def execute_script(
    ctx: ActionContext,
    script_name: Annotated[str, "a Python script in the workspace"],
    arguments: Annotated[str, "command-line arguments for the script"] = "",
) -> Outcome:
    """Run a Python script of the workspace and show everything it printed."""
    path = ctx.path(script_name, must_exist=True)
    if path.suffix != ".py" or not path.is_file():
        raise ActionError("bad_arguments", f"'{script_name}' is not a Python (.py) file")
    if len(arguments) > MAX_ARGUMENTS_CHARS:
        raise ActionError(
            "bad_arguments",
            f"the arguments are {len(arguments)} characters long; at most "
            f"{MAX_ARGUMENTS_CHARS} are accepted: pass large inputs in a file instead",
        )
    try:
        extra = split_arguments(arguments)
    except ValueError as exc:
        raise ActionError("bad_arguments", f"cannot parse the arguments: {exc}") from None
    return _run_python(ctx, ["-u", ctx.rel(path), *extra], f"The script {script_name}")


@action("Python REPL")
def python_repl(
    ctx: ActionContext,
    command: Annotated[str, "Python code to run (a fresh interpreter each time)"],
) -> Outcome:
    """Run a short piece of Python code in the workspace and show its output."""
    return _run_python(ctx, ["-u", "-c", command], "The code")


# --------------------------------------------------------------------------- research log
RESEARCH_LOG = "research_log.log"


def append_to_research_log(root: Path, text: str, replace: bool = False) -> None:
    """Append an LLM agent's own entry to the workspace's research_log.log (what Reflection
    reads), or rewrite the log (a resumed run); a log the agent made unwritable is left alone."""
    path = root / RESEARCH_LOG
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return
    try:
        with path.open("w" if replace else "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError:
        pass


@action("Append Summary to Research Log")
def append_research_log(
    ctx: ActionContext, content: Annotated[str, "a summary of what was learned or done"]
) -> Outcome:
    """Add a note to research_log.log in the workspace, to be retrieved later."""
    path = ctx.writable(RESEARCH_LOG)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(content.rstrip("\n") + "\n")
    return Outcome("The summary was appended to the research log.", changed=[RESEARCH_LOG])


# --------------------------------------------------------------------------- LLM-backed actions
def _model(ctx: ActionContext, role: str) -> TextModel:
    model = ctx.edit_model if role == "edit" else ctx.fast_model
    if model is None:
        raise ActionError(
            "llm_unavailable",
            f"this action needs a language model (--{role}-llm) and the run has none configured",
        )
    return _ObservedModel(model)


class _ObservedModel:
    """A model whose failure (after its retries, or a refused request such as a prompt too long)
    becomes the action's observation instead of the end of the run.

    A call that the run's total time limit ended (DeadlineReached) cuts the step instead: its
    error kind is ``cut``, and the run, out of time, ends ``timeout`` after recording it.
    """

    def __init__(self, model: TextModel) -> None:
        self._model = model

    def complete(self, prompt: str, *, purpose: str) -> str:
        from .llm.base import DeadlineReached, LLMError

        try:
            return self._model.complete(prompt, purpose=purpose)
        except DeadlineReached as exc:
            raise ActionError("cut", f"{exc}: the step is cut, nothing was changed") from None
        except LLMError as exc:
            message = f"the language model of this action failed: {exc}"
            raise ActionError("llm_error", message) from None


def _checked_code(ctx: ActionContext, reply: str, old: str, new: str, save_name: str) -> None:
    """Refuse (ActionError) to save an empty reply, or a Python file that does not parse unless
    the original did not parse either; the observation says why and shows the reply's start."""
    import ast

    if not new.strip():
        raise ActionError("bad_edit", "the edit model's reply held no code; nothing was saved")
    if not save_name.endswith(".py"):
        return
    try:
        ast.parse(new)
    except (SyntaxError, ValueError) as exc:
        try:
            ast.parse(old)
        except (SyntaxError, ValueError):
            return  # it was broken before: an edit may fix it in several steps
        line = getattr(exc, "lineno", None)
        why = f"line {line}: {getattr(exc, 'msg', exc)}" if line else str(exc)
        raise ActionError(
            "bad_edit",
            f"the edited {save_name} would not be valid Python ({why}); nothing was saved and "
            f"{save_name} is unchanged. The edit model replied:\n{excerpt(reply, 1000)}",
        ) from None


@action("Understand File", needs_model="fast")
def understand_file(
    ctx: ActionContext,
    file_name: Annotated[str, "a file relative to the workspace"],
    things_to_look_for: Annotated[str, "what to find out from the file"],
) -> Outcome:
    """Read a file with a language model and report what it says about the given questions."""
    path = ctx.path(file_name, must_exist=True)
    _refuse_special(path, file_name)
    model = _model(ctx, "fast")
    text = path.read_text(encoding="utf-8", errors="replace")

    def ask(chunk: str) -> str:
        return model.complete(
            f"A part of the file {file_name}:\n{chunk}\n\nFrom this part only, report on: "
            f"{things_to_look_for}\nSay so when this part says nothing about it.",
            purpose="understand",
        )

    def merge(parts: list[str]) -> str:
        joined = "\n\n".join(f"[part {i}]\n{p}" for i, p in enumerate(parts, 1))
        return model.complete(
            f"Reports on successive parts of the file {file_name}:\n{joined}\n\nMerge them into "
            f"one report on: {things_to_look_for}",
            purpose="understand",
        )

    return Outcome(summarise_long(text, ask, merge, UNDERSTAND_CHUNK_CHARS))


@action("Edit Script (AI)", needs_model="edit")
def edit_script(
    ctx: ActionContext,
    script_name: Annotated[str, "the script to edit (created if missing)"],
    edit_instruction: Annotated[str, "what to change, precisely"],
    save_name: Annotated[str, "where to save the edited script"],
) -> Outcome:
    """Have a language model edit a whole script; the result is saved and its diff shown."""
    src = ctx.path(script_name)
    _refuse_special(src, script_name)
    dst = ctx.writable(save_name)
    model = _model(ctx, "edit")
    old = src.read_text(encoding="utf-8", errors="replace") if src.exists() else ""
    reply = model.complete(
        f"Script {script_name}:\n```\n{old}```\n\nEdit instruction: {edit_instruction}\n"
        "Answer with the complete new script in one ```python code block.",
        purpose="edit",
    )
    new = extract_code(reply)
    _checked_code(ctx, reply, old, new, save_name)
    dst.write_text(new, encoding="utf-8")
    _backup(ctx, dst)
    return Outcome(_diff(old, new, script_name, save_name), changed=[ctx.rel(dst)])


@action("Edit Script Segment (AI)", needs_model="edit")
def edit_script_segment(
    ctx: ActionContext,
    script_name: Annotated[str, "the script to edit"],
    start_line_number: Annotated[int, "first line of the segment (1-based)"],
    end_line_number: Annotated[int, "last line of the segment"],
    edit_instruction: Annotated[str, "what to change in the segment"],
    save_name: Annotated[str, "where to save the edited script"],
) -> Outcome:
    """Have a language model edit a range of lines of a script; the result is saved, diff shown."""
    src = ctx.path(script_name, must_exist=True)
    _refuse_special(src, script_name)
    dst = ctx.writable(save_name)
    model = _model(ctx, "edit")
    lines = src.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    if not 1 <= start_line_number <= end_line_number <= max(len(lines), 1):
        raise ActionError(
            "bad_arguments",
            f"the script has {len(lines)} lines; "
            "need 1 <= start_line_number <= end_line_number <= that",
        )
    segment = "".join(lines[start_line_number - 1 : end_line_number])
    reply = model.complete(
        f"Lines {start_line_number}-{end_line_number} of {script_name}:\n```\n{segment}```\n\n"
        f"Edit instruction: {edit_instruction}\n"
        "Answer with the new lines in one ```python code block.",
        purpose="edit",
    )
    new_segment = extract_code(reply)
    old = "".join(lines)
    new = "".join(lines[: start_line_number - 1]) + new_segment + "".join(lines[end_line_number:])
    _checked_code(ctx, reply, old, new, save_name)
    dst.write_text(new, encoding="utf-8")
    _backup(ctx, dst)
    return Outcome(_diff(old, new, script_name, save_name), changed=[ctx.rel(dst)])


@action("Reflection", needs_model="fast")
def reflection(
    ctx: ActionContext, things_to_reflect_on: Annotated[str, "what to think about"]
) -> Outcome:
    """Think about the research so far with a language model, using the research log."""
    model = _model(ctx, "fast")
    log = ctx.workspace.root / RESEARCH_LOG
    notes = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return Outcome(
        model.complete(
            f"The research problem:\n{ctx.research_problem.strip() or '(not given)'}\n\n"
            f"The research log so far:\n{notes.strip() or '(empty)'}\n\n"
            f"Reflect on this: {things_to_reflect_on}\nAnswer in a few paragraphs, "
            "keeping to what the log shows.",
            purpose="reflect",
        )
    )


@action("Retrieval from Research Log", needs_model="fast")
def retrieval_from_research_log(
    ctx: ActionContext,
    current_plan: Annotated[str, "the current plan, to pick what matters from the log"],
) -> Outcome:
    """Summarise the research log with a language model, focused on the current plan."""
    model = _model(ctx, "fast")
    log = ctx.workspace.root / RESEARCH_LOG
    notes = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return Outcome(
        model.complete(
            f"Research log:\n{notes}\n\nCurrent plan: {current_plan}\n"
            "Summarise what in the log matters for it.",
            purpose="summarise",
        )
    )


def _diff(old: str, new: str, src: str, dst: str) -> str:
    import difflib

    diff = "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), src, dst)
    )
    return f"The edited file is saved to {dst}. Here is the diff:\n{diff or '(no change)'}"


# --------------------------------------------------------------------------- the end
@action("Final Answer")
def final_answer(
    ctx: ActionContext,
    final_answer: Annotated[str, "a short description of the final solution"] = "",
) -> Outcome:
    """Declare the work finished; the run ends and the workspace is graded."""
    return Outcome("The run ends here; the final workspace will be graded.", done=True)


def describe(names: list[str] | None = None) -> str:
    """Every action (or the named ones) with its description and input, for an agent prompt."""
    specs = [REGISTRY[n] for n in (names or list(REGISTRY))]
    return "\n\n".join(f"- {s.name}: {s.description}\n  Input: {s.usage()}" for s in specs)


def args_json(args: Any) -> str:
    """Arguments as JSON text, whatever the agent sent."""
    try:
        return json.dumps(args, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return json.dumps(repr(args))
