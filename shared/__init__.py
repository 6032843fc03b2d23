"""Clearpath's importable library: wire contracts, settings, the pure core and thin adapters."""

import shared._threads  # noqa: F401  (before numpy loads: one BLAS thread)

__all__: list[str] = []
