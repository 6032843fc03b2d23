"""Training, calibration and evaluation of the classifier head (the ``train`` extra).

Nothing here is imported at serving time; the entry point is
:func:`shared.training.run.train_and_evaluate`.
"""

__all__: list[str] = []
