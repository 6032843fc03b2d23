"""The ONNX graph built from safetensors matches an independent numpy forward pass."""

from __future__ import annotations

import json

import numpy as np

from shared.inference.classifier import OnnxClassifier
from shared.inference.pre import pack_batches
from tests.unit.inference.reference_forward import REFERENCE_FILE, reference_embed


def _embed(clf: OnnxClassifier, texts: list[str]) -> np.ndarray:
    enc, tok = clf._encoder, clf._tokenizer
    windows = tok.windows(texts)
    batches = pack_batches(windows, max_batch=8, pad_id=tok.pad_id)
    emb, idx = enc.embed(batches, len(windows))
    out = np.zeros_like(emb)
    out[idx] = emb
    return out


def test_fp32_graph_matches_committed_reference_vectors(fp32_classifier: OnnxClassifier) -> None:
    ref = json.loads(REFERENCE_FILE.read_text())
    expected = np.array(ref["embeddings"])
    got = _embed(fp32_classifier, ref["texts"])  # batched together, padded
    cos = (got * expected).sum(axis=1)
    assert cos.min() >= 0.9999
    assert np.abs(got - expected).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_reference_file_still_matches_the_numpy_forward(fp32_classifier: OnnxClassifier) -> None:
    from shared.inference.assets import load_encoder_assets

    ref = json.loads(REFERENCE_FILE.read_text())
    live = reference_embed(load_encoder_assets().model_dir, (ref["texts"][0],))
    assert np.abs(live[0] - np.array(ref["embeddings"][0])).max() < 1e-6


def test_int8_stays_close_to_fp32(
    classifier: OnnxClassifier, fp32_classifier: OnnxClassifier
) -> None:
    ref = json.loads(REFERENCE_FILE.read_text())
    cos = (_embed(classifier, ref["texts"]) * np.array(ref["embeddings"])).sum(axis=1)
    assert cos.min() >= 0.96
