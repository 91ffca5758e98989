"""Campaign commands (submit, status, cancel): registered on the root group by import."""
