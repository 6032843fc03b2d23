"""``clearpath demo``: the whole pipeline end to end on the local stack."""

__all__: list[str] = []
