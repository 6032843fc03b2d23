"""Detection worker: requests → detections (lexical, PII and the classifier, in batches)."""

__all__: list[str] = []
