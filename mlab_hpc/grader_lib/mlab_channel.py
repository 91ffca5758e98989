"""Length-prefixed messages over a pipe between a grader and the untrusted process it runs.

A grader that runs the agent's code (a model, a predictor, a script) through
``mlab_untrusted`` talks to it over two pipes. The framing is one size, 8 bytes little-endian,
then that many bytes: a *frame*. A *message* is a frame that holds a JSON object. A binary
payload (an array, a matrix) travels as a frame of its own after the message that describes
it.

The child is hostile, so every read from it is bounded:

- in time: ``deadline`` is a ``time.monotonic()`` instant (``math.inf``: wait for ever, for
  the child's side, which trusts the grader);
- in size: a frame announcing more than ``max_bytes`` is refused as soon as its 8-byte size
  has been read, before anything is allocated for it (``DEFAULT_MAX_BYTES`` unless the call
  says otherwise; ``None`` lifts the cap, for reading what the trusted grader wrote).

Every failure raises a ``ChannelError``, whose ``kind`` says which: ``"timeout"``
(ChannelTimeout), ``"eof"`` (ChannelClosed: the other end closed its pipe or died),
``"oversize"`` (MessageTooLarge) or ``"malformed"`` (MalformedMessage: not UTF-8 JSON, not an
object, nested too deep). After a timeout or an oversize refusal the pipe is out of step
(part of a frame is left unread): the grader stops the child rather than read on.
``failure_reason`` turns any of them into the one-line reason a grader reports.

Used by graders from the task's scripts/eval.py and by the library's model and predictor
graders; the harness mounts this folder read-only and puts it on the grader's PYTHONPATH. It
imports only the standard library.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import time
from typing import Any, ClassVar

SIZE_BYTES = 8  # the little-endian size in front of every frame
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # 64 MiB: far above any reply the graders expect
_WRITE_CHUNK = 1 << 24


class ChannelError(Exception):
    """A frame could not be read or written; ``kind`` says why (see the subclasses)."""

    kind: ClassVar[str] = "error"


class ChannelTimeout(ChannelError):
    """The deadline passed before the whole frame was read (or written)."""

    kind = "timeout"


class ChannelClosed(ChannelError):
    """The other end closed its pipe (it exited or died), before or inside a frame."""

    kind = "eof"


class MessageTooLarge(ChannelError):
    """A frame announced more bytes than the reader accepts; nothing was allocated for it."""

    kind = "oversize"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size} bytes was announced, over the limit of {limit}")
        self.size = size
        self.limit = limit


class MalformedMessage(ChannelError):
    """A message frame did not hold a JSON object (bad UTF-8, bad JSON, too deep, not a dict)."""

    kind = "malformed"


def _wait(fd: int, event: int, deadline: float) -> None:
    """Return once ``fd`` is ready for ``event`` (or has hung up); ChannelTimeout past the
    deadline. Returns at once when the deadline is infinite (the call then blocks instead)."""
    if deadline == math.inf:
        return
    poller = select.poll()
    poller.register(fd, event)
    wait_s = deadline - time.monotonic()
    if wait_s <= 0 or not poller.poll(math.ceil(wait_s * 1000)):
        raise ChannelTimeout(f"the deadline passed waiting on fd {fd}")


def read_exactly(fd: int, size: int, deadline: float = math.inf) -> bytearray:
    """Exactly ``size`` bytes from ``fd``, read before ``deadline`` (a monotonic instant).

    ChannelTimeout when the deadline passes first, ChannelClosed when the writer closes its end
    first. The buffer is allocated at once: callers bound ``size`` first (read_frame does).
    """
    buffer = bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        _wait(fd, select.POLLIN, deadline)
        got = os.readv(fd, [view[done:]])
        if not got:
            raise ChannelClosed(f"the writer closed fd {fd} after {done} of {size} bytes")
        done += got
    return buffer


def read_frame(
    fd: int, deadline: float = math.inf, max_bytes: int | None = DEFAULT_MAX_BYTES
) -> bytearray:
    """One frame's bytes (writable). MessageTooLarge, before any allocation, when its size is
    over ``max_bytes`` (None: no cap, only for reading from the trusted side)."""
    size = int.from_bytes(read_exactly(fd, SIZE_BYTES, deadline), "little")
    if max_bytes is not None and size > max_bytes:
        raise MessageTooLarge(size, max_bytes)
    return read_exactly(fd, size, deadline)


def read_message(
    fd: int, deadline: float = math.inf, max_bytes: int | None = DEFAULT_MAX_BYTES
) -> dict[str, Any]:
    """One message (a JSON object) written by write_message, under read_frame's bounds.

    MalformedMessage when the frame is not UTF-8 JSON, not an object, or nested too deep.
    """
    data = read_frame(fd, deadline, max_bytes)
    try:
        message = json.loads(data)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise MalformedMessage(f"not JSON: {type(error).__name__}") from None
    if not isinstance(message, dict):
        raise MalformedMessage(f"a JSON {type(message).__name__}, not an object")
    return message


def write_frame(fd: int, data: bytes | bytearray | memoryview, deadline: float = math.inf) -> None:
    """Write ``data`` as one frame (its size, then its bytes).

    With a finite ``deadline``, a reader that stops reading cannot block the writer past it
    (ChannelTimeout; the fd is non-blocking for the call). ChannelClosed when the reader is gone.
    """
    payload = memoryview(data).cast("B")
    parts = [memoryview(len(payload).to_bytes(SIZE_BYTES, "little")), payload]
    blocking = deadline == math.inf
    if not blocking:
        os.set_blocking(fd, False)
    try:
        for view in parts:
            while view:
                try:
                    view = view[os.write(fd, view[:_WRITE_CHUNK]) :]
                except BlockingIOError:
                    _wait(fd, select.POLLOUT, deadline)
    except BrokenPipeError:
        raise ChannelClosed(f"the reader of fd {fd} is gone") from None
    finally:
        if not blocking:
            os.set_blocking(fd, True)


def write_message(fd: int, message: dict[str, Any], deadline: float = math.inf) -> None:
    """Write ``message`` (JSON-able) as one frame; write_frame's deadline and errors."""
    write_frame(fd, json.dumps(message).encode(), deadline)


def failure_reason(
    error: ChannelError,
    what: str,
    process: subprocess.Popen[Any] | None,
    *,
    subject: str = "the model",
    budget_s: float,
    budget_note: str = "",
) -> str:
    """The one-line reason a grader reports when reading ``what`` from the process running
    ``subject`` failed with ``error``. For a closed pipe it waits (up to 30 s) for the
    process's exit code; ``budget_note`` follows the budget in the timeout's sentence."""
    if isinstance(error, ChannelTimeout):
        return (
            f"{what} was still running when the grading budget of {budget_s:.0f} s"
            f"{budget_note} ran out"
        )
    if isinstance(error, ChannelClosed):
        code: int | str = "unknown"
        if process is not None:
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                code = "none: it closed its pipe"
        return f"the process running {subject} ended (exit code {code}) during {what}"
    if isinstance(error, MessageTooLarge):
        return (
            f"the process running {subject} announced a message of {error.size} bytes during "
            f"{what}, over the limit of {error.limit} bytes"
        )
    return f"the process running {subject} sent garbage during {what}"
