"""Appeals of verdicts: wire contracts (``events``), storage (``store``) and the service.

The outcome rule itself is pure and lives in :mod:`shared.core.appeals`.
"""

__all__: list[str] = []
