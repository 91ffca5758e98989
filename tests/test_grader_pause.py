"""mlab_pause: while one child of a grader is timed, its rivals' whole process trees are stopped.

Real processes: a rival that forks a spinning helper, and one that leaves an orphan behind
(its parent exits). The orphan case runs in a process of its own, since adopting orphans
makes the caller a child subreaper (not something to do to pytest).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlab_hpc.grader_lib.mlab_pause import Pauser, descendants

ROOT = Path(__file__).resolve().parents[1]

# A process that forks one spinning helper, prints the helper's pid, then spins itself.
FORKS_A_SPINNER = """
import os, sys
helper = os.fork()
if helper == 0:
    while True:
        pass
print(helper, flush=True)
while True:
    pass
"""


def state(pid: int) -> str:
    """The one-letter scheduler state of `pid` (T: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def wait_for_state(pid: int, wanted: set[str], timeout_s: float = 5.0) -> str:
    """Poll until `pid`'s state is in `wanted` (signals are delivered asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while (now := state(pid)) not in wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return now


def spawn(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_a_rival_and_its_helpers_stop_while_another_runs_alone() -> None:
    rival = spawn(FORKS_A_SPINNER)
    timed = spawn("import time\ntime.sleep(60)")
    pauser = Pauser()
    assert rival.stdout is not None
    helper = int(rival.stdout.readline())
    try:
        assert descendants(rival.pid) == {rival.pid, helper}

        pauser.run_alone(timed.pid, [rival.pid])
        assert wait_for_state(rival.pid, {"T"}) == "T"
        assert wait_for_state(helper, {"T"}) == "T"
        assert state(timed.pid) != "T"

        # turns change: the rival's tree runs again and the other one is stopped
        pauser.run_alone(rival.pid, [timed.pid])
        assert wait_for_state(helper, {"R", "S"}) in {"R", "S"}
        assert wait_for_state(rival.pid, {"R", "S"}) in {"R", "S"}
        assert wait_for_state(timed.pid, {"T"}) == "T"

        pauser.resume_all()
        assert wait_for_state(timed.pid, {"S", "R"}) in {"S", "R"}
    finally:
        pauser.resume_all()
        os.kill(helper, signal.SIGKILL)
        for process in (rival, timed):
            process.kill()
            process.wait()


# Runs in a process of its own: a rival leaves a spinning orphan (its parent exits at once),
# which adopt_orphans makes this process's child, so it is stopped with the rival.
ORPHAN_SCRIPT = """
import json, os, subprocess, sys, time
sys.path.insert(0, {root!r})
from mlab_hpc.grader_lib.mlab_pause import Pauser

adopt = sys.argv[1] == "adopt"
pauser = Pauser(adopt_orphans=adopt)
leaves_an_orphan = (
    "import os, sys\\n"
    "if os.fork() == 0:\\n"
    "    print(os.getpid(), flush=True)\\n"
    "    while True:\\n"
    "        pass\\n"
    "os._exit(0)\\n"
)
rival = subprocess.Popen([sys.executable, "-c", leaves_an_orphan], stdout=subprocess.PIPE)
orphan = int(rival.stdout.readline())
rival.wait()
timed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
pauser.run_alone(timed.pid, [rival.pid])
time.sleep(0.3)
stat = open(f"/proc/{{orphan}}/stat").read()
parent = int(stat[stat.rindex(")") + 2 :].split()[1])
print(json.dumps({{"state": stat[stat.rindex(")") + 2], "adopted": parent == os.getpid()}}))
pauser.resume_all()
os.kill(orphan, 9)
timed.kill()
"""


def run_orphan_script(mode: str) -> dict[str, object]:
    script = ORPHAN_SCRIPT.format(root=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_an_orphan_left_by_a_rival_is_stopped_when_the_grader_adopts_orphans() -> None:
    assert run_orphan_script("adopt") == {"state": "T", "adopted": True}
    # without adoption it escapes to init and keeps running: what the PID namespace of the
    # nested sandbox (or adopt_orphans, in the grader's own process) is for
    assert run_orphan_script("plain") == {"state": "R", "adopted": False}
