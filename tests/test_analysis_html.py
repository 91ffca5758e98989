"""The HTML report opened in headless Chromium (Debian's chromium): it loads and shows its plots."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.analysis.html import run_page_name
from mlab_hpc.cli import main
from mlab_hpc.snapshots import SnapshotStore
from mlab_hpc.workspace import Workspace

from .test_analysis_cli import one_run

CHECK_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<iframe id="report" src="index.html" width="1400" height="900"></iframe>
<script>
document.getElementById("report").addEventListener("load", function () {
  var doc = this.contentDocument;
  var images = Array.prototype.map.call(doc.images, function (img) {
    return {alt: img.alt, complete: img.complete, width: img.naturalWidth,
            height: img.naturalHeight};
  });
  var out = document.createElement("pre");
  out.id = "result";
  out.textContent = JSON.stringify({title: doc.title, images: images,
    tables: doc.querySelectorAll("table").length,
    links: Array.prototype.map.call(doc.querySelectorAll("a[href^='runs/']"),
                                    function (a) { return a.getAttribute("href"); })});
  document.body.appendChild(out);
});
</script></body></html>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "Chromium is needed for this test: apt-get install -y chromium (.ci/apt-packages.txt)"
    )


def dump_dom(url: str, profile: Path) -> tuple[str, str]:
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--allow-file-access-from-files",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, result.stderr


def with_snapshots(results: Path, run_id: str) -> None:
    """A snapshot store for the run, made by the harness's own SnapshotStore: step 1 edits."""
    run_dir = results / "runs" / run_id
    ws = Workspace(run_dir / "workspace")
    ws.root.mkdir(parents=True)
    (ws.root / "train.py").write_text("print('hello')\nx = 1\n")
    store = SnapshotStore(run_dir / "snapshots", ws)
    store.take(0)
    (ws.root / "train.py").write_text("print('hello')\nx = 2\n")
    (ws.root / "policy.py").write_text("def act(obs):\n    return 0\n")
    store.take(1)
    store.close()


def test_html_report_opens_in_chromium_with_its_plots(tmp_path: Path) -> None:
    results = tmp_path / "results"
    runs = [one_run(results, seed=s) for s in range(3)]
    with_snapshots(results, runs[0].run_id)
    out = tmp_path / "report"
    cli = CliRunner().invoke(
        main, ["--results", str(results), "report", "--format", "html", "--out", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    (out / "check.html").write_text(CHECK_PAGE)
    dom, log = dump_dom((out / "check.html").as_uri(), tmp_path / "profile")
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found, f"the check page did not run:\n{dom[-2000:]}\n{log[-2000:]}"
    page = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert page["title"] == "mlab-hpc report"
    assert len(page["images"]) == 3
    for image in page["images"]:  # every plot decoded, with a real size
        assert image["complete"] and image["width"] > 200 and image["height"] > 100, image
    assert page["tables"] >= 10
    assert sorted(page["links"]) == sorted(f"runs/{run_page_name(r.run_id)}" for r in runs)
    for problem in ("Uncaught", "Failed to load resource", "ERR_FILE_NOT_FOUND"):
        assert problem not in log, log[-2000:]

    dom, log = dump_dom((out / "runs" / run_page_name(runs[0].run_id)).as_uri(), tmp_path / "p2")
    assert "Step 1: Write File" in dom and "write a policy" in dom  # thought and action
    assert "Traceback: boom" in dom  # a full observation
    assert '<span class="del">-x = 1</span>' in dom and '<span class="add">+x = 2</span>' in dom
    assert "added</b> policy.py" in dom
    assert "claude" not in dom and ">agent<" in dom  # the step's LLM call is listed
    other = (out / "runs" / run_page_name(runs[1].run_id)).read_text()
    assert "No snapshot store for this run here" in other
