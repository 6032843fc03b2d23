"""One thread for numpy's BLAS unless the environment says otherwise.

Imported first by ``shared`` and ``services`` (their ``__init__``), so it runs before numpy
loads OpenBLAS in every worker and command. The head's matrices are small (a batch x 384
times 384 x 512) and ONNX Runtime's own thread pool owns the cores: OpenBLAS's pool, which
spins after each call, fought it for the same two cores and cut the int8 classifier with
its head from 495 to 335 msgs/s at batch 32 x 32 tokens (docs/MODEL_CARD.md, "Speed").
Set ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``) explicitly to choose otherwise.
"""

from __future__ import annotations

import os

if "OMP_NUM_THREADS" not in os.environ:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
