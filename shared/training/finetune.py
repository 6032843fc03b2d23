"""The encoder fine-tuning set and its transfer folds (pure numpy; no torch here).

``clearpath model finetune-export`` writes the permissive pool as token ids and targets into one
``.npz`` for the LoRA trainer (:mod:`shared.training.lora`), which needs a GPU and torch and so
runs elsewhere. Token ids are the dataset's text in another form: the file is derived data
for a training run, never committed (the repository gets the trained delta only).

What is exported, and why:

* permissive sources only (``Source.ship``): external sources are never fitted on, so the
  trainer never sees them and they stay an honest transfer check for the shipped model;
* the fixed split (``sha1(text) mod 5``): ``split`` is 1 for validation rows;
* each text's **first window** (at most ``max_tokens`` ids with [CLS]/[SEP]), as the head is
  trained on first-window embeddings;
* targets with NaN where a label is unknown, each row's own weight and its source, so the
  trainer recomputes source weights and per-label balance for any subset of sources;
* the contrast and harmful sets we wrote (``contrast_*``/``harmful_*``): scored for the run's
  report only, never fitted on.

``FOLDS`` are the leave-group-out folds the trainer uses to decide whether fine-tuning
transfers better than the frozen encoder: each holds out whole sources of three kinds at
once (harmful prompts, benign prompts, user-generated abuse), so a held-out group has both
classes and out-of-source AUPRC is defined.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shared.training.data import LABELS, SOURCES, load_pool
from shared.training.fit import is_validation, target_matrix

if TYPE_CHECKING:
    from shared.inference.pre import TextTokenizer

__all__ = ["FOLDS", "export_finetune_set"]

#: Leave-group-out folds over permissive sources (fixed before any fine-tune was run).
FOLDS: dict[str, tuple[str, ...]] = {
    "A": (
        "advbench", "strongreject", "simple_safety_tests",
        "coconot_pref", "arena_hard_benign",
        "convabuse", "toxigen_demonstrations",
    ),
    "B": (
        "harmbench", "do_not_answer",
        "medquad_questions", "counsel_chat",
        "hatemoji_build", "reddit_cssrs_suicide",
    ),
}  # fmt: skip


def _ragged(windows: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(windows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(w) for w in windows])
    flat = np.fromiter((t for w in windows for t in w), dtype=np.int64, count=int(offsets[-1]))
    if flat.size and flat.max() > np.iinfo(np.int16).max:
        raise ValueError("token id does not fit int16")
    return flat.astype(np.int16), offsets


def _first_windows(tok: TextTokenizer, texts: list[str]) -> list[tuple[int, ...]]:
    first: dict[int, tuple[int, ...]] = {}
    for w in tok.windows(texts):
        first.setdefault(w.text_index, w.ids)
    return [first[i] for i in range(len(texts))]


def export_finetune_set(
    datasets: Path, out: Path, *, contrast: list[str], harmful: list[str], max_tokens: int = 128
) -> dict[str, int]:
    """Write the fine-tuning set to ``out`` (.npz); return row counts."""
    # Imported here: the GPU trainer imports FOLDS from this module without the serving stack.
    from shared.inference.assets import load_encoder_assets
    from shared.inference.pre import TextTokenizer

    examples = load_pool(datasets, include_external=False)
    ship = {s.name for s in SOURCES if s.ship}
    examples = [e for e in examples if e.source in ship]
    tok = TextTokenizer(load_encoder_assets().tokenizer_file, max_tokens=max_tokens)
    names = [s.name for s in SOURCES if s.ship]
    ids, off = _ragged(_first_windows(tok, [e.text for e in examples]))
    c_ids, c_off = _ragged(_first_windows(tok, contrast))
    h_ids, h_off = _ragged(_first_windows(tok, harmful))
    split = np.array([is_validation(e.text) for e in examples], dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        allow_pickle=False,
        ids=ids,
        offsets=off,
        y=target_matrix(examples).astype(np.float32),
        row_weight=np.array([e.weight for e in examples], dtype=np.float32),
        source=np.array([names.index(e.source) for e in examples], dtype=np.int16),
        source_names=np.array(names),
        labels=np.array(LABELS),
        split=split,
        contrast_ids=c_ids,
        contrast_offsets=c_off,
        harmful_ids=h_ids,
        harmful_offsets=h_off,
    )
    return {
        "rows": len(examples),
        "train": int((split == 0).sum()),
        "validation": int(split.sum()),
        "contrast": len(contrast),
        "harmful": len(harmful),
    }
