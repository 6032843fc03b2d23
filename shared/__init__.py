"""Clearpath's importable library: wire contracts, settings, the pure core and thin adapters."""

__all__: list[str] = []
