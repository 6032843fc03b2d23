"""The openvino provider (the ``openvino`` extra, in the dev group so CI runs it): the whole
int8-qdq graph on OpenVINO, scoring like the CPU provider's int8 variant."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from shared.inference.assets import head_assets_dir, load_encoder_assets
from shared.inference.classifier import OnnxClassifier, build_classifier
from shared.inference.graph import build_encoder_graph
from shared.inference.post import load_thresholds
from shared.inference.qdq_int8 import QDQ_RANGES_KEY, linear_inputs
from shared.inference.static_int8 import load_ranges
from shared.inference.variants import ensure_variant
from shared.settings import ModelSettings

pytest.importorskip("onnxruntime_ep_openvino")

TRAINING = Path(__file__).resolve().parents[3] / "shared" / "training"


def _texts(*names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        lines = (TRAINING / name).read_text(encoding="utf-8").splitlines()
        out += [json.loads(x)["text"] for x in lines if x.strip()]
    return out


@pytest.fixture(scope="module")
def openvino_classifier() -> OnnxClassifier:
    return build_classifier(ModelSettings(provider="openvino", intra_op_threads=2))


def test_the_whole_graph_runs_on_openvino(openvino_classifier: OnnxClassifier) -> None:
    assert re.fullmatch(
        r"minilm-l6-int8-qdq@openvino#[0-9a-f]{8}\+head@\S+", openvino_classifier.version
    )
    session = openvino_classifier._encoder.session
    assert session.get_providers()[0] == "OpenVINOExecutionProvider"
    # no node may fall back to ONNX Runtime's own CPU provider
    assert (
        session.get_session_options().get_session_config_entry("session.disable_cpu_ep_fallback")
        == "1"
    )


def test_the_qdq_variant_is_standard_onnx_with_committed_ranges_for_every_layer() -> None:
    assets = load_encoder_assets()
    built = ensure_variant("int8-qdq", cache_dir=ModelSettings().cache_dir, assets=assets)
    model = onnx.load(str(built.path))
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)  # no contrib ops
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") == 24  # 4 linear inputs per layer x 6
    assert ops.count("DequantizeLinear") == 24 + 36  # and the 36 weight matrices
    raw = build_encoder_graph(assets.model_dir)
    assert sorted(linear_inputs(raw)) == sorted(load_ranges(key=QDQ_RANGES_KEY))


def test_scores_like_the_cpu_providers_int8(
    openvino_classifier: OnnxClassifier, classifier: OnnxClassifier
) -> None:
    texts = _texts("contrast.jsonl", "harmful.jsonl")
    ours = openvino_classifier.score_texts(texts)
    diff = np.abs(ours - classifier.score_texts(texts))
    # measured: mean 0.002, 99th percentile 0.03, worst 0.10 (two int8 forms of one encoder)
    assert diff.mean() < 0.01 and diff.max() < 0.2
    alone = np.concatenate([openvino_classifier.score_texts([t]) for t in texts])
    assert np.abs(alone - ours).max() < 5e-3  # measured 9e-4: padding moves OpenVINO a little


def test_contrast_set_stays_below_threshold_on_openvino(
    openvino_classifier: OnnxClassifier,
) -> None:
    thresholds = load_thresholds(head_assets_dir())
    probs = openvino_classifier.score_texts(_texts("contrast.jsonl"))
    flagged = probs[:, openvino_classifier.labels.index("unsafe")] >= thresholds["unsafe"]
    assert flagged.mean() <= 0.10
