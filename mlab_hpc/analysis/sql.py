"""``mlab-hpc sql``: one query over the views, printed or written as table, CSV, JSON or Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import PrerequisiteError

FORMATS = ("table", "csv", "json", "markdown", "parquet")


def one_line(exc: BaseException) -> str:
    """A DuckDB error as one line: its message and hint, without the echo of the query."""
    parts = []
    for line in str(exc).splitlines():
        line = line.strip()
        if line.startswith("LINE "):
            break
        if line:
            parts.append(line)
    return " ".join(parts) or type(exc).__name__


def execute(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyConnection:
    """Run ``query`` (possibly several statements: the last one's result is kept)."""
    if not query.strip():
        raise PrerequisiteError("no query: give one as an argument or with --file")
    try:
        return con.execute(query)
    except duckdb.Error as exc:
        raise PrerequisiteError(f"SQL error: {one_line(exc)}") from None


def _plain(value: Any) -> Any:
    """A JSON-ready value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(_plain(value))
    return str(_plain(value))


def run_sql(
    con: duckdb.DuckDBPyConnection,
    query: str,
    fmt: str = "table",
    output: Path | None = None,
    console: Console | None = None,
) -> str | None:
    """Run a query; returns the text to print (None when it went to ``output`` or a console)."""
    if fmt not in FORMATS:
        raise PrerequisiteError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise PrerequisiteError("--format parquet needs --output FILE")
    result = execute(con, query)
    if result.description is None:  # a statement without rows (SET, CREATE ...)
        return None
    columns = [d[0] for d in result.description]
    if fmt == "parquet":
        assert output is not None
        try:
            # streamed, so results larger than memory work (to_arrow_reader: DuckDB >= 2.0)
            stream = getattr(result, "to_arrow_reader", None) or result.fetch_record_batch  # type: ignore[attr-defined]
            with warnings.catch_warnings():  # DuckDB 2 notes an extra copy: fine for an export
                warnings.simplefilter("ignore", UserWarning)
                reader = stream()
            with pq.ParquetWriter(output, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
        except duckdb.Error as exc:
            raise PrerequisiteError(f"SQL error: {one_line(exc)}") from None
        return None
    try:
        rows = result.fetchall()
    except duckdb.Error as exc:
        raise PrerequisiteError(f"SQL error: {one_line(exc)}") from None
    if fmt == "table" and output is None and console is not None:
        table = Table(*[escape(c) for c in columns], show_edge=False, pad_edge=False)
        for row in rows:
            table.add_row(*[escape(_text(v)) for v in row])
        console.print(table)
        console.print(f"[dim]{len(rows)} rows[/]")
        return None
    if fmt == "json":
        text = json.dumps([dict(zip(columns, map(_plain, r), strict=True)) for r in rows], indent=1)
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_text(v) for v in r] for r in rows])
        text = buf.getvalue()
    else:  # markdown, or a table written to a file
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        for r in rows:
            lines.append("| " + " | ".join(_text(v).replace("|", "\\|") for v in r) + " |")
        text = "\n".join(lines) + "\n"
    if output is not None:
        output.write_text(text if text.endswith("\n") else text + "\n")
        return None
    return text
