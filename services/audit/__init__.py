"""Audit sink: audit events → the per-partition hash chains in PostgreSQL."""

__all__: list[str] = []
