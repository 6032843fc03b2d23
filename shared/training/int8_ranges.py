"""``clearpath model calibrate``: measure the int8 variant's activation ranges on training texts.

The int8 variant quantises activations with fixed scales (:mod:`shared.inference.static_int8`).
This runs the fp32 graph over a seeded sample of the training side of the fixed split
(permissively licensed sources only, never validation rows) and records, for every tensor
``quantize_dynamic`` would quantise at run time, the mean over batches of each batch's
minimum and maximum on real tokens; and the same for the input of every linear layer of the
unfused graph, which the ``int8-qdq`` variant (the openvino provider's) quantises. The result
is committed as ``shared/model_assets/int8_ranges.json`` (numbers per tensor, no text).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from shared.inference.pre import TextTokenizer, Window, pack_batches
from shared.inference.qdq_int8 import QDQ_RANGES_KEY
from shared.inference.static_int8 import RANGES_FILE, dynamic_inputs

__all__ = ["activation_ranges", "calibration_texts", "tensor_ranges", "write_ranges"]

#: Rows per calibration batch (windows, grouped by length as the classifier groups them).
CALIBRATION_BATCH = 32


def calibration_texts(datasets: Path, *, n: int, seed: int = 8) -> list[str]:
    """``n`` texts drawn (seeded) from the shipped sources' training side of the fixed split."""
    from shared.training.data import SOURCES, load_pool
    from shared.training.fit import is_validation

    ship = {s.name for s in SOURCES if s.ship}
    pool = [
        e.text
        for e in load_pool(datasets, include_external=False)
        if e.source in ship and not is_validation(e.text)
    ]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def activation_ranges(
    fp32: onnx.ModelProto,
    dynamic_int8: onnx.ModelProto,
    texts: Sequence[str],
    tokenizer: TextTokenizer,
) -> dict[str, tuple[float, float]]:
    """Per tensor the int8 variant quantises: mean over batches of the batch's (min, max)."""
    return tensor_ranges(fp32, dynamic_inputs(dynamic_int8), texts, tokenizer)


def tensor_ranges(
    fp32: onnx.ModelProto,
    names: Sequence[str],
    texts: Sequence[str],
    tokenizer: TextTokenizer,
) -> dict[str, tuple[float, float]]:
    """Per tensor of ``names`` in ``fp32``: mean over batches of each batch's (min, max) on
    real tokens. The int8-qdq variant's are the unfused graph's linear-layer inputs."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    probe = onnx.ModelProto()
    probe.CopyFrom(fp32)
    present = {o.name for o in probe.graph.output}
    for name in names:
        if name not in present:
            probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    # the probed tensors are the fused graph's own: keep ONNX Runtime from fusing further
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    windows = tokenizer.windows(texts)
    batches = pack_batches(
        [Window(j, w.ids) for j, w in enumerate(windows)],
        max_batch=CALIBRATION_BATCH,
        pad_id=tokenizer.pad_id,
    )
    lows: dict[str, list[float]] = {n: [] for n in names}
    highs: dict[str, list[float]] = {n: [] for n in names}
    for batch in batches:
        outs = session.run(
            names, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        )
        real = batch.attention_mask.astype(bool)
        for name, value in zip(names, outs, strict=True):
            v = value[real] if value.shape[:2] == real.shape else value
            lows[name].append(float(v.min()))
            highs[name].append(float(v.max()))
    return {n: (float(np.mean(lows[n])), float(np.mean(highs[n]))) for n in names}


def write_ranges(
    ranges: dict[str, tuple[float, float]],
    *,
    texts: int,
    out: Path = RANGES_FILE,
    qdq_ranges: dict[str, tuple[float, float]] | None = None,
) -> None:
    """The calibration file: ``ranges`` (int8, fused graph) and ``qdq_ranges`` (int8-qdq)."""

    def rounded(r: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
        return {k: [round(v[0], 6), round(v[1], 6)] for k, v in sorted(r.items())}

    doc: dict[str, Any] = {
        "method": "mean over batches of each batch's min and max on real tokens (fp32 graph)",
        "texts": texts,
        "batch": CALIBRATION_BATCH,
        "data": "training side of the fixed split, permissively licensed sources only",
        "ranges": rounded(ranges),
    }
    if qdq_ranges is not None:
        doc[QDQ_RANGES_KEY] = rounded(qdq_ranges)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
