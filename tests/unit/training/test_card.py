"""The model card's tables are rendered from metrics.json, means included."""

from __future__ import annotations

import json
from pathlib import Path

from shared.training.card import loso_means, render

ASSETS = Path(__file__).resolve().parents[3] / "shared" / "model_assets"


def test_shipped_metrics_render_every_section() -> None:
    metrics = json.loads((ASSETS / "metrics.json").read_text())
    text = render(metrics)
    for section in ("### Validation (", "### Validation per source", "### External"):
        assert section in text
    assert metrics["head_version"] in text
    for source in metrics["external_per_source"]:
        assert f"| {source} |" in text


def test_loso_means_skip_undefined_values() -> None:
    loso = {
        "a": {"unsafe_auprc": 0.5, "recall_harmful": 0.2, "fpr_benign": None},
        "b": {"unsafe_auprc": None, "recall_harmful": 0.4, "fpr_benign": 0.1},
    }
    assert loso_means(loso) == {"unsafe_auprc": 0.5, "recall_harmful": 0.3, "fpr_benign": 0.1}
