"""Writing the Parquet tables of a run, from its JSON-lines logs, without holding it in memory."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import jsonl
from .schema import SCHEMA_VERSION, SCHEMAS

BATCH_ROWS = 2048
# Fields the JSON-lines logs keep that the tables leave out: the harness's own (resuming a run)
# and each model request's settings (in the run's trace/llm_calls.jsonl, for replay and audit).
LOG_ONLY: dict[str, frozenset[str]] = {
    "steps": frozenset({"done", "elapsed_s"}),
    "llm_calls": frozenset({"finish_reason", "max_tokens", "stop", "temperature"}),
}


def _coerce(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(kind) and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        # a log written before fields were coerced: any value becomes text, valid Unicode
        if not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _batches(
    table: str, rows: Iterable[dict[str, Any]], constants: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    schema = SCHEMAS[table]
    buffer: list[dict[str, Any]] = []

    def flush() -> pa.RecordBatch:
        columns = []
        for f in schema:
            columns.append(pa.array([_coerce(r.get(f.name), f.type) for r in buffer], type=f.type))
        buffer.clear()
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    known = set(schema.names) | LOG_ONLY.get(table, frozenset())
    for row in rows:
        unknown = row.keys() - known
        if unknown:
            raise ValueError(
                f"{table} table: column(s) {', '.join(sorted(unknown))} not in its schema "
                "(mlab_hpc/schema.py): add them there, or do not write them"
            )
        buffer.append({**row, **constants, "schema_version": SCHEMA_VERSION})
        if len(buffer) >= BATCH_ROWS:
            yield flush()
    if buffer:
        yield flush()


def write_table(
    path: Path, table: str, rows: Iterable[dict[str, Any]], constants: dict[str, Any] | None = None
) -> int:
    """Write ``rows`` (dicts; missing columns are null) as one Parquet file, atomically.

    A key that is not a column of the table's schema is a ValueError (a misspelt column would
    otherwise vanish). Epoch-second numbers in timestamp columns become UTC timestamps.
    Returns the row count.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with pq.ParquetWriter(tmp, SCHEMAS[table], compression="zstd") as writer:
            for batch in _batches(table, rows, constants or {}):
                writer.write_batch(batch)
                count += batch.num_rows
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written file left behind
        raise
    tmp.replace(path)
    return count


def write_from_log(path: Path, table: str, log: Path, constants: dict[str, Any]) -> int:
    """Compact a run's JSON-lines log into its Parquet file (streaming, in batches)."""
    return write_table(path, table, jsonl.read(log), constants)
