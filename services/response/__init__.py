"""Response worker: decisions → verdicts with their refusal receipts."""

__all__: list[str] = []
