"""Clearpath's runnable services: the workers, the command line and their wiring."""

import shared._threads  # noqa: F401  (before numpy loads: one BLAS thread)

__all__: list[str] = []
