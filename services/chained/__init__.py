"""Chained worker: detection → policy → response in one process, one transaction per batch."""

__all__: list[str] = []
