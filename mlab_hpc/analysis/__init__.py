"""Analysis of the result tables: DuckDB views, the report, one run's page, importers.

The SQL lives in ``analysis/`` (views.sql, queries/*.sql) so that it also runs from the DuckDB
command line; this package runs it, adds confidence intervals and renders the results.
"""

from .db import analysis_dir, connect

__all__ = ["analysis_dir", "connect"]
