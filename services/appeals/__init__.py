"""The appeals worker: appeals from ``clearpath.appeals.v1``, through the same service as HTTP."""

__all__: list[str] = []
