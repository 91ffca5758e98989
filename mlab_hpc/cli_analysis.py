"""Analysis commands (report, sql, show): registered on the root group by import."""
