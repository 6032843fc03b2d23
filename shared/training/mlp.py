"""A small MLP head in numpy: one hidden ReLU layer, masked multi-label BCE, Adam, weight decay.

Unknown targets (NaN) contribute no loss. Row weights combine source weights and per-label
class balance. Trained full-batch-free: minibatches of 512, fixed epochs, seeded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["fit_mlp", "fit_mlp_cached", "label_weights"]

F = NDArray[np.float64]


def label_weights(y: F, w: F) -> F:
    """Per-row, per-label loss weights: the row weight ``w`` where the label is known (0 where
    it is NaN), rescaled per label so that positives and negatives carry equal total weight;
    the whole matrix sums to the number of rows."""
    n, k = y.shape
    known = ~np.isnan(y)
    t = np.nan_to_num(y)
    lw = np.zeros_like(t)
    for j in range(k):
        kj = known[:, j]
        pos = (w * (kj & (t[:, j] == 1))).sum()
        neg = (w * (kj & (t[:, j] == 0))).sum()
        lw[:, j] = np.where(t[:, j] == 1, 0.5 / max(pos, 1e-9), 0.5 / max(neg, 1e-9)) * w * kj
    out: F = lw * (n / max(k, 1))
    return out


def fit_mlp(
    x: F,
    y: F,
    w: F,
    *,
    hidden: int = 256,
    epochs: int = 40,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch: int = 512,
    seed: int = 0,
) -> tuple[tuple[F, F], tuple[F, F]]:
    """Return ((W1, b1), (W2, b2)) so that logits = relu(x W1 + b1) W2 + b2."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    k = y.shape[1]
    t = np.nan_to_num(y)
    lw = label_weights(y, w)
    params = [
        rng.normal(0, np.sqrt(2.0 / d), (d, hidden)), np.zeros(hidden),
        rng.normal(0, np.sqrt(1.0 / hidden), (hidden, k)), np.zeros(k),
    ]  # fmt: skip
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, batch):
            idx = order[s : s + batch]
            xb, tb, wb = x[idx], t[idx], lw[idx]
            h_pre = xb @ params[0] + params[1]
            h = np.maximum(h_pre, 0.0)
            z = h @ params[2] + params[3]
            p = 0.5 * (1.0 + np.tanh(0.5 * z))
            gz = (p - tb) * wb / len(idx)
            gw2 = h.T @ gz
            gb2 = gz.sum(0)
            gh = (gz @ params[2].T) * (h_pre > 0)
            grads = [xb.T @ gh, gh.sum(0), gw2, gb2]
            step += 1
            for i, g in enumerate(grads):
                if i in (0, 2):
                    g = g + weight_decay * params[i]
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                mh = m[i] / (1 - 0.9**step)
                vh = v[i] / (1 - 0.999**step)
                params[i] = params[i] - lr * mh / (np.sqrt(vh) + 1e-8)
    return (params[0], params[1]), (params[2], params[3])


def fit_mlp_cached(
    x: F, y: F, w: F, *, cache_dir: Path | None, **kwargs: Any
) -> tuple[tuple[F, F], tuple[F, F]]:
    """``fit_mlp``, memoised on disk by the digest of its inputs and hyper-parameters.

    The fit is deterministic (seeded), so a cached result is the result; a re-run of
    ``clearpath model train`` with unchanged data (e.g. after adding the lexical channel, or
    for leave-one-source-out) does not pay for the same MLP twice.
    """
    if cache_dir is None:
        return fit_mlp(x, y, w, **kwargs)
    h = hashlib.sha256()
    for a in (x, y, w):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    h.update(repr(sorted(kwargs.items())).encode())
    where = cache_dir / f"mlp-{h.hexdigest()[:16]}.npz"
    if where.is_file():
        with np.load(where) as z:
            return (z["w0"], z["b0"]), (z["w1"], z["b1"])
    (w0, b0), (w1, b1) = fit_mlp(x, y, w, **kwargs)
    where.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=where.parent, suffix=".npz")
    os.close(fd)
    np.savez(tmp, w0=w0, b0=b0, w1=w1, b1=b1)
    os.replace(tmp, where)
    return (w0, b0), (w1, b1)
