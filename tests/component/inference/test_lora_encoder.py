"""The LoRA trainer's torch encoder computes what the ONNX graph computes (needs torch: the
``finetune`` extra; skipped without it), so a delta trained there means the same thing here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shared.inference.assets import load_encoder_assets
from shared.inference.classifier import OnnxClassifier
from shared.inference.pre import Batch

torch = pytest.importorskip("torch", reason="the LoRA trainer needs the finetune extra (torch)")


def test_torch_encoder_matches_the_onnx_graph(fp32_classifier: OnnxClassifier) -> None:
    from safetensors.numpy import load_file

    from shared.training.lora import RECIPES, Encoder

    assets = load_encoder_assets()
    cfg = json.loads((assets.model_dir / "config.json").read_text())
    weights = {
        k: v.astype(np.float32)
        for k, v in load_file(str(assets.model_dir / "model.safetensors")).items()
        if v.dtype != np.int64
    }
    ids = np.array([[101, 7592, 2088, 2003, 102, 0, 0], [101, 2129, 2079, 1045, 3102, 1037, 102]])
    mask = (ids != 0).astype(np.int64)
    onnx_emb = fp32_classifier._encoder.run(Batch(ids, mask, np.arange(2)))
    base = Encoder(weights, cfg, None).eval()
    lora = Encoder(weights, cfg, RECIPES[0]).eval()  # B starts at zero: the same function
    with torch.no_grad():
        for enc in (base, lora):
            out = enc(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
            assert np.abs(out - onnx_emb).max() < 1e-5
    delta = lora.delta()
    assert delta["encoder.layer.0.attention.self.query.lora_a"].shape == (16, 384)
    assert delta["encoder.layer.5.intermediate.dense.lora_b"].shape == (1536, 16)
