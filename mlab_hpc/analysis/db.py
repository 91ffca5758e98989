"""A DuckDB connection with the analysis views (analysis/views.sql) over a results root."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from ..errors import PrerequisiteError
from ..paths import TABLES, ResultsRoot
from ..schema import SCHEMAS
from .cache import TableCache, readable

_DUCKDB_TYPES = {
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def analysis_dir() -> Path:
    """The folder of views.sql and queries/: the source tree's analysis/, or the installed copy."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "analysis", here / "_analysis"):
        if (candidate / "views.sql").is_file():
            return candidate
    raise PrerequisiteError(
        f"analysis/views.sql not found beside {here}: reinstall mlab-hpc (pip install -e .)"
    )


def duckdb_type(kind: pa.DataType) -> str:
    """The DuckDB type name of an Arrow type used in mlab_hpc.schema."""
    try:
        return _DUCKDB_TYPES[kind]
    except KeyError:
        raise ValueError(f"no DuckDB type for Arrow type {kind}") from None


def column_block(table: str) -> str:
    """The typed NULL columns of a table, as in views.sql's BEGIN/END columns blocks."""
    return ",\n".join(f"        NULL::{duckdb_type(f.type)} AS {f.name}" for f in SCHEMAS[table])


def normalize_block() -> str:
    """The macro ``mlab_normalize(task, s)``: each task's normalisation (task.toml) in SQL.

    The views compute anchors when queried, so they normalise raw scores themselves; this is
    the same expression as the harness's (mlab_hpc/normalize.py), NULL where it is undefined.
    """
    from ..taskspec import all_tasks

    cases = "\n".join(
        f"    WHEN '{t.id}' THEN {t.human_relative.normalize.to_sql('s')}"
        for t in sorted(all_tasks(), key=lambda t: t.id)
    )
    return (
        "-- mlab-hpc regenerates this macro from the tasks' [human_relative] normalize on load\n"
        f"CREATE OR REPLACE MACRO mlab_normalize(task, s) AS CASE task\n{cases}\nEND;"
    )


def views_sql(listing: bool = True) -> str:
    """views.sql with its column blocks regenerated from mlab_hpc/schema.py.

    The normalisation macro is regenerated from the tasks' files too.

    ``listing=False`` leaves out the statements that list each table's files under the results
    root (for callers that set ``mlab_src_<table>`` themselves).
    """
    text = (analysis_dir() / "views.sql").read_text()
    for table in TABLES:
        pattern = re.compile(rf"(-- BEGIN columns {table}\n).*?(\n\s*-- END columns {table})", re.S)
        # a replacement string: backslashes doubled (none in practice), groups by number
        block = column_block(table).replace("\\", "\\\\")
        text, count = pattern.subn(rf"\g<1>{block}\g<2>", text)
        if count != 1:
            raise PrerequisiteError(f"analysis/views.sql: no column block for table {table}")
    block = normalize_block().replace("\\", "\\\\")
    text, count = re.subn(
        r"(-- BEGIN normalize\n).*?(-- END normalize)", rf"\g<1>{block}\n\g<2>", text, flags=re.S
    )
    if count != 1:
        raise PrerequisiteError("analysis/views.sql: no normalize block")
    if not listing:
        text = re.sub(r"-- BEGIN found\n.*?-- END found\n", "", text, flags=re.S)
    return text


def run_files(results: Path, table: str, run_ids: Sequence[str]) -> list[str]:
    """The Parquet files of the given runs in one table (found by name, without a scan)."""
    found: list[str] = []
    base = glob.escape(str(ResultsRoot(results).table_dir(table)))
    for run_id in run_ids:
        found += glob.glob(f"{base}/*/*/{glob.escape(run_id)}.parquet")
    return sorted(found)


def connect(
    results: Path,
    campaigns: Sequence[str] = (),
    *,
    cache: bool = True,
    run_ids: Sequence[str] | None = None,
    notice: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views over ``results``.

    - ``campaigns``: keep only these campaigns (default: all).
    - ``cache``: read the compacted cache (refreshed first) instead of one file per run.
    - ``run_ids``: read only these runs' files (for one run's page; no cache needed).
    - ``notice``: told when the cache compacts many files (that takes a while, once).
    """
    con = duckdb.connect()
    con.execute("SET VARIABLE mlab_results = ?", [str(results)])
    con.execute("SET VARIABLE mlab_analysis = ?", [str(analysis_dir())])
    if campaigns:
        con.execute("SET VARIABLE mlab_campaigns = ?::VARCHAR[]", [list(campaigns)])
    sources: dict[str, list[str]] | None = None
    if run_ids is not None:
        sources = {t: run_files(results, t, run_ids) for t in TABLES}
        # the anchors of these runs come from the baseline runs of their tasks: every runs
        # file of those tasks' partitions (task=<id>), not of the whole results root
        partitions = sorted({Path(f).parent.name for f in sources["runs"]})
        base = glob.escape(str(ResultsRoot(results).table_dir("runs")))
        sources["runs"] = sorted(
            f for p in partitions for f in glob.glob(f"{base}/*/{glob.escape(p)}/*.parquet")
        )
    elif cache:
        sources = TableCache(results, notice=notice).refresh_all()
    else:
        sources = {
            t: sorted(glob.glob(f"{glob.escape(str(results / 'tables' / t))}/**/*.parquet",
                                recursive=True))
            for t in TABLES
        }
    if run_ids is not None or not cache:  # the cache's own chunks were checked when written
        sources = {t: readable(files, notice) for t, files in sources.items()}
    if sources is not None:
        for table, files in sources.items():
            con.execute(f"SET VARIABLE mlab_src_{table} = ?::VARCHAR[]", [files])
    con.execute(views_sql(listing=sources is None))
    return con


def run_outcome(results: Path, run_id: str) -> dict[str, object] | None:
    """One run's row of the run_outcomes view (anchors as of now), or None if not tabled."""
    con = connect(results, run_ids=[run_id])
    try:
        cur = con.execute("SELECT * FROM run_outcomes WHERE run_id = ?", [run_id])
        names = [d[0] for d in cur.description]
        row = cur.fetchone()
    finally:
        con.close()
    return dict(zip(names, row, strict=True)) if row is not None else None
