"""Clearpath's runnable services: the workers, the command line and their wiring."""

__all__: list[str] = []
