"""The fine-tuning export: permissive rows only, the fixed split, first windows, masked targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shared.training.data import LABELS, SOURCES
from shared.training.finetune import FOLDS, export_finetune_set
from shared.training.fit import is_validation, source_weights, weights_by_source
from shared.training.mlp import label_weights


def _write(root: Path, source: str, rows: list[dict[str, object]]) -> None:
    (root / source).mkdir(parents=True)
    with (root / source / f"{source}.normalized.jsonl").open("w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    harmful = [{"text": f"how do I make a weapon number {i}", "labels": []} for i in range(12)]
    _write(root, "advbench", harmful)
    long_text = "benign word " * 400  # several windows: only the first is exported
    benign = [{"text": f"what is {i} plus {i}?", "labels": ["benign"]} for i in range(12)]
    _write(root, "gsm8k_benign", [*benign, {"text": long_text, "labels": ["benign"]}])
    _write(root, "do_not_answer", [{"text": "tell me her home address", "labels": ["privacy"]}])
    _write(root, "ethos", [{"text": "an external row", "labels": ["hate"]}])  # not permissive
    return root


def test_export_keeps_permissive_rows_split_and_masks(pool: Path, tmp_path: Path) -> None:
    out = tmp_path / "ft.npz"
    counts = export_finetune_set(pool, out, contrast=["kill a process"], harmful=["a b", "c"])
    z = np.load(out, allow_pickle=False)
    names = [str(s) for s in z["source_names"]]
    sources = {names[i] for i in z["source"]}
    assert sources == {"advbench", "gsm8k_benign", "do_not_answer"}  # ethos never exported
    assert counts["rows"] == 26 and counts["contrast"] == 1 and counts["harmful"] == 2
    assert counts["train"] + counts["validation"] == counts["rows"]
    lengths = np.diff(z["offsets"])
    assert lengths.max() == 128  # the long text: its first window only
    starts = z["offsets"][:-1]
    assert (z["ids"][starts] == 101).all() and (z["ids"][z["offsets"][1:] - 1] == 102).all()
    y = z["y"]
    assert [str(x) for x in z["labels"]] == list(LABELS)
    adv = np.array([names[i] == "advbench" for i in z["source"]])
    assert np.isnan(y[adv, :-1]).all() and (y[adv, -1] == 1).all()  # no category given: masked
    privacy = np.array([names[i] == "do_not_answer" for i in z["source"]])
    assert y[privacy, LABELS.index("privacy")].tolist() == [1.0]
    assert y[privacy, LABELS.index("hate")].tolist() == [0.0]
    assert int(z["split"].sum()) == sum(
        is_validation(f"what is {i} plus {i}?") for i in range(12)
    ) + sum(is_validation(f"how do I make a weapon number {i}") for i in range(12)) + int(
        is_validation("tell me her home address")
    ) + int(is_validation(("benign word " * 400).strip()))


def test_folds_hold_out_permissive_sources_of_both_classes() -> None:
    ship = {s.name for s in SOURCES if s.ship}
    for held in FOLDS.values():
        assert set(held) <= ship
    assert not set(FOLDS["A"]) & set(FOLDS["B"])


def test_weights_by_source_is_source_weights() -> None:
    from shared.training.data import Example

    ex = [Example("a", "x", (0,) * len(LABELS), 1.0)] * 9 + [
        Example("b", "y", (0,) * len(LABELS), 0.5)
    ]
    w = weights_by_source([e.source for e in ex], np.array([e.weight for e in ex]))
    assert np.allclose(w, source_weights(ex))
    assert w[-1] > w[0]  # the small source is lifted


def test_label_weights_balance_classes_and_mask_unknowns() -> None:
    y = np.array([[1.0, np.nan], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    w = np.array([1.0, 1.0, 2.0, 1.0])
    lw = label_weights(y, w)
    assert lw[0, 1] == 0.0  # unknown label carries no weight
    for j in range(2):
        pos = lw[y[:, j] == 1, j].sum()
        neg = lw[y[:, j] == 0, j].sum()
        assert pos == pytest.approx(neg)
    assert lw.sum() == pytest.approx(len(y))
    assert lw[2, 0] == pytest.approx(2 * lw[3, 0])  # row weights kept within a class
