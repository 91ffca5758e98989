"""mlab_channel: the pipe between a grader and the untrusted process it runs.

Every test starts a real child process (Python) that plays the agent's code over real pipes:
a well-behaved echo, a child that announces a 2**40-byte message and then floods the pipe, one
that dies inside a message, one that stalls, one that sends garbage, one that never reads.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlab_hpc.grading import GRADER_LIB

sys.path.insert(0, str(GRADER_LIB))  # import the library as graders do

from mlab_channel import (  # noqa: E402
    DEFAULT_MAX_BYTES,
    ChannelClosed,
    ChannelError,
    ChannelTimeout,
    MalformedMessage,
    MessageTooLarge,
    failure_reason,
    read_exactly,
    read_frame,
    read_message,
    write_frame,
    write_message,
)

GENEROUS_S = 30.0  # a bound on "at once" that no loaded machine should reach

PRELUDE = """
import json, os, sys, time
from mlab_channel import read_frame, read_message, write_frame, write_message
inbox, outbox = int(sys.argv[1]), int(sys.argv[2])
def raw(data):
    view = memoryview(data)
    while view:
        view = view[os.write(outbox, view):]
"""


@dataclass
class Child:
    """A child process with a pipe each way: the grader writes ``to_child`` and reads
    ``from_child``."""

    process: subprocess.Popen[bytes]
    to_child: int
    from_child: int


@pytest.fixture
def start() -> Iterator[object]:
    """start(body) runs PRELUDE + body in a child; every child is killed at the end."""
    children: list[Child] = []

    def run(body: str) -> Child:
        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-c", PRELUDE + textwrap.dedent(body), str(child_in), str(child_out)],
            pass_fds=(child_in, child_out),
            env={**os.environ, "PYTHONPATH": str(GRADER_LIB)},
        )
        os.close(child_in)
        os.close(child_out)
        children.append(Child(process, to_child, from_child))
        return children[-1]

    yield run
    for child in children:
        child.process.kill()
        child.process.wait()
        os.close(child.to_child)
        os.close(child.from_child)


def soon(seconds: float = GENEROUS_S) -> float:
    return time.monotonic() + seconds


ECHO = """
while True:
    message = read_message(inbox, max_bytes=None)
    if message.get("op") == "stop":
        break
    write_message(outbox, {"echo": message})
    if "payload" in message:
        write_frame(outbox, read_frame(inbox, max_bytes=None)[::-1])
"""


def test_messages_and_payloads_make_the_round_trip(start) -> None:
    child = start(ECHO)
    messages = [
        {},
        {"op": "encode", "line": 'naïve café — 東京 \u0000 "quoted"\n'},
        {"nested": {"list": [1, 2.5, None, True, [[]]]}, "big": 2**62},
        {"op": "large", "text": "x" * (3 * 1024 * 1024)},  # several pipe buffers long
    ]
    for message in messages:
        write_message(child.to_child, message, soon())
        assert read_message(child.from_child, soon()) == {"echo": message}
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    write_message(child.to_child, {"payload": len(payload)}, soon())
    write_frame(child.to_child, payload, soon())
    assert read_message(child.from_child, soon()) == {"echo": {"payload": len(payload)}}
    back = read_frame(child.from_child, soon(), max_bytes=len(payload))
    assert isinstance(back, bytearray) and bytes(back) == payload[::-1]
    write_message(child.to_child, {"op": "stop"})
    assert child.process.wait(timeout=GENEROUS_S) == 0
    with pytest.raises(ChannelClosed):  # the child has exited: its end is closed
        read_message(child.from_child, soon())


FLOOD = """
raw((2**40).to_bytes(8, "little"))
chunk = b"{" * (1 << 20)
for _ in range(128):  # 128 MiB, then hold the pipe open
    raw(chunk)
time.sleep(600)
"""


def test_a_huge_announcement_is_refused_before_any_allocation(start) -> None:
    child = start(FLOOD)
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(MessageTooLarge) as refused:
            read_message(child.from_child, soon(20.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - began < GENEROUS_S
    assert peak < 1024 * 1024, f"the grader allocated {peak} bytes for a refused message"
    error = refused.value
    assert isinstance(error, ChannelError) and error.kind == "oversize"
    assert (error.size, error.limit) == (2**40, DEFAULT_MAX_BYTES)
    reason = failure_reason(error, "predict", child.process, budget_s=60, subject="the predictor")
    assert f"announced a message of {2**40} bytes during predict" in reason


def test_the_size_limit_is_per_call(start) -> None:
    child = start("""
        write_message(outbox, {"text": "y" * (2 * 1024 * 1024)})
        write_message(outbox, {"text": "y" * (2 * 1024 * 1024)})
        time.sleep(600)
    """)
    with pytest.raises(MessageTooLarge) as refused:
        read_message(child.from_child, soon(), max_bytes=1024 * 1024)
    assert refused.value.limit == 1024 * 1024
    read_exactly(child.from_child, refused.value.size, soon())  # skip the refused body
    message = read_message(child.from_child, soon(), max_bytes=4 * 1024 * 1024)
    assert len(message["text"]) == 2 * 1024 * 1024


def test_a_child_that_dies_inside_a_message_gives_eof(start) -> None:
    child = start("""
        raw((100).to_bytes(8, "little") + b'{"status": ')
        os._exit(3)
    """)
    with pytest.raises(ChannelClosed) as closed:
        read_message(child.from_child, soon())
    assert closed.value.kind == "eof"
    reason = failure_reason(closed.value, "predict", child.process, budget_s=60)
    assert reason == "the process running the model ended (exit code 3) during predict"


def test_a_child_that_dies_inside_the_size_gives_eof(start) -> None:
    child = start("""
        raw(b"\\x05\\x00")
        os._exit(0)
    """)
    with pytest.raises(ChannelClosed):
        read_frame(child.from_child)  # no deadline: EOF still ends the wait


def test_a_stalled_child_gives_the_timeout(start) -> None:
    child = start("""
        raw((50).to_bytes(8, "little") + b'{"labels": [1, 2')
        time.sleep(600)
    """)
    began = time.monotonic()
    with pytest.raises(ChannelTimeout) as late:
        read_message(child.from_child, soon(0.5))
    assert time.monotonic() - began < GENEROUS_S
    assert late.value.kind == "timeout"
    reason = failure_reason(late.value, "load", child.process, budget_s=3300, budget_note=" (x)")
    assert reason == "load was still running when the grading budget of 3300 s (x) ran out"
    with pytest.raises(ChannelTimeout):  # a deadline already past: no wait at all
        read_message(child.from_child, time.monotonic() - 1)


def test_garbage_is_malformed_and_the_frames_after_it_still_read(start) -> None:
    bad = ['b"{not json"', 'b"[1, 2]"', 'b"\\xff\\xfe\\xfa"', 'b"[" * 200_000', 'b""']
    body = "".join(f"write_frame(outbox, {data})\n" for data in bad)
    child = start(body + 'write_message(outbox, {"status": "ok"})\ntime.sleep(600)\n')
    for _ in bad:
        with pytest.raises(MalformedMessage) as garbage:
            read_message(child.from_child, soon())
        assert garbage.value.kind == "malformed"
    assert read_message(child.from_child, soon()) == {"status": "ok"}
    reason = failure_reason(garbage.value, "encode", child.process, budget_s=1)
    assert reason == "the process running the model sent garbage during encode"


def test_a_child_that_never_reads_cannot_block_the_writer(start) -> None:
    child = start("time.sleep(600)\n")
    began = time.monotonic()
    with pytest.raises(ChannelTimeout):
        write_frame(child.to_child, bytes(8 * 1024 * 1024), soon(0.5))  # > any pipe buffer
    assert time.monotonic() - began < GENEROUS_S
    assert os.get_blocking(child.to_child)  # left as it was


def test_writing_to_a_dead_child_gives_eof(start) -> None:
    child = start("os._exit(0)\n")
    child.process.wait(timeout=GENEROUS_S)
    for deadline in (math.inf, soon()):
        with pytest.raises(ChannelClosed):
            write_message(child.to_child, {"op": "predict", "pad": "z" * 200_000}, deadline)


def test_json_that_is_not_an_object_is_not_a_message() -> None:
    read_fd, write_fd = os.pipe()
    try:
        write_frame(write_fd, json.dumps("a string").encode())
        with pytest.raises(MalformedMessage, match="not an object"):
            read_message(read_fd, soon())
    finally:
        os.close(read_fd)
        os.close(write_fd)


# --- the graders that use it: a hostile child announces 2**40 bytes on the grader's pipe ------

# The child is started as `<grader> --serve <inbox> <outbox> <folder>`: the agent's code finds
# the grader's pipe in sys.argv[3] and writes to it behind the library's back.
ANNOUNCE = (
    "import os, sys, time; os.write(int(sys.argv[3]), {prefix} + (2**40).to_bytes(8, 'little'))"
    "; time.sleep(600)"
)


def test_the_vision_grader_refuses_a_huge_announcement(tmp_path: Path) -> None:
    from tests.test_task_budget_models import answer_key, grade, workspace_with

    predictor = (
        f"def load(d):\n    return 0\ndef predict(s, x):\n    {ANNOUNCE.format(prefix=b'')}\n"
    )
    result = grade(workspace_with(tmp_path, predictor), answer_key(tmp_path), tmp_path)

    assert not result["valid"]
    assert result["reason"] == (
        f"the process running the predictor announced a message of {2**40} bytes during "
        f"predict, over the limit of {DEFAULT_MAX_BYTES} bytes"
    )


def test_the_babylm_grader_refuses_a_huge_payload_after_a_valid_header(tmp_path: Path) -> None:
    from tests.test_task_babylm import case, grade, hand_model

    header = json.dumps({"status": "ok"}).encode()
    prefix = len(header).to_bytes(8, "little") + header
    workspace, answers = case(tmp_path, hand_model(log_probs=ANNOUNCE.format(prefix=prefix)))

    result = grade(workspace, answers)

    assert not result["valid"]
    assert result["reason"] == (
        f"the process running the model announced a message of {2**40} bytes during log_probs "
        "(test line 1), over the limit of 160 bytes"  # 5 rows x 4 tokens x 8 bytes
    )
