"""The functional core: pure, synchronous functions over frozen models.

Nothing here awaits, logs, reads the clock or touches a client; time, config and
collaborators are passed in.
"""

__all__: list[str] = []
