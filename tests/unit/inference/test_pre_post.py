"""Tokenising into windows, length-grouped packing, max over windows, head maths, action rule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from shared.errors import ConfigurationError
from shared.inference.assets import load_encoder_assets
from shared.inference.core import spread
from shared.inference.post import (
    DenseLayers,
    load_head,
    load_thresholds,
    max_over_windows,
    sigmoid,
)
from shared.inference.pre import TextTokenizer, Window, balanced_rows, pack_batches


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer(load_encoder_assets().tokenizer_file, max_tokens=16)


def test_short_text_is_one_window_with_specials(tokenizer: TextTokenizer) -> None:
    (w,) = tokenizer.windows(["This is a test"])
    assert w.ids[0] == 101 and w.ids[-1] == 102 and len(w.ids) == 6


def test_long_text_is_split_into_overlapping_windows_not_cut(tokenizer: TextTokenizer) -> None:
    text = " ".join(f"w{i}" for i in range(60))
    body_ids = tokenizer.windows([text])
    assert len(body_ids) > 3
    assert all(len(w.ids) <= 16 for w in body_ids)
    # Every token of the text appears in some window.
    whole = TextTokenizer(load_encoder_assets().tokenizer_file, max_tokens=512).windows([text])[0]
    covered = {t for w in body_ids for t in w.ids}
    assert set(whole.ids) <= covered


def test_empty_text_still_gets_a_window(tokenizer: TextTokenizer) -> None:
    assert [len(w.ids) for w in tokenizer.windows([""])] == [2]


def test_packing_groups_by_length_and_pads_to_longest_in_group() -> None:
    windows = [Window(i, tuple(range(1, n + 1))) for i, n in enumerate([3, 10, 4, 9])]
    batches = pack_batches(windows, max_batch=2)
    assert [b.input_ids.shape for b in batches] == [(2, 10), (2, 4)]
    assert sorted(int(i) for b in batches for i in b.text_index) == [0, 1, 2, 3]
    assert int(batches[1].attention_mask.sum()) == 7


def test_max_over_windows() -> None:
    probs = np.array([[0.1, 0.9], [0.7, 0.2], [0.3, 0.3]], dtype=np.float32)
    out = max_over_windows(probs, np.array([0, 0, 1]), 2)
    assert np.allclose(out, [[0.7, 0.9], [0.3, 0.3]])


def test_head_round_trip_and_calibration(tmp_path: Path) -> None:
    w = np.eye(3, 2, dtype=np.float32)
    np.savez(tmp_path / "head.npz", w0=w, b0=np.zeros(2, dtype=np.float32))
    meta = {
        "version": "t1", "layers": 1, "labels": ["hate", "unsafe"],
        "calibration": {"hate": {"a": 2.0, "b": -1.0}, "unsafe": {"a": 1.0, "b": 0.0}},
    }  # fmt: skip
    (tmp_path / "head.json").write_text(json.dumps(meta))
    head = load_head(tmp_path)
    p = head.probabilities(np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
    assert p[0].tolist() == pytest.approx([float(sigmoid(np.array(1.0))), 0.5], abs=1e-6)


def test_the_heads_onnx_layers_compute_what_numpy_does() -> None:
    rng = np.random.default_rng(3)
    layers = (
        (
            rng.standard_normal((16, 8)).astype(np.float32),
            rng.standard_normal(8).astype(np.float32),
        ),
        (rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)),
    )
    x = rng.standard_normal((5, 16)).astype(np.float32)
    expected = np.maximum(x @ layers[0][0] + layers[0][1], 0.0) @ layers[1][0] + layers[1][1]
    np.testing.assert_allclose(DenseLayers(layers)(x), expected, rtol=1e-5, atol=1e-5)


def test_a_loaded_head_runs_its_layers_in_onnx_runtime_with_the_same_result(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(4)
    np.savez(
        tmp_path / "head.npz",
        w0=rng.standard_normal((6, 4)).astype(np.float32), b0=np.ones(4, dtype=np.float32),
        w1=rng.standard_normal((4, 2)).astype(np.float32), b1=np.zeros(2, dtype=np.float32),
    )  # fmt: skip
    meta = {
        "version": "t2", "layers": 2, "labels": ["hate", "unsafe"],
        "calibration": {"hate": {"a": 1.0, "b": 0.0}, "unsafe": {"a": 1.0, "b": 0.0}},
    }  # fmt: skip
    (tmp_path / "head.json").write_text(json.dumps(meta))
    head = load_head(tmp_path)
    assert head.dense is not None
    emb = rng.standard_normal((7, 6)).astype(np.float32)
    numpy_head = dataclasses.replace(head, dense=None)
    np.testing.assert_allclose(head.logits(emb), numpy_head.logits(emb), rtol=1e-5, atol=1e-5)
    assert head.logits(emb[:0]).shape == (0, 2)


def test_missing_head_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_head(tmp_path)


def test_shipped_thresholds_cover_every_label() -> None:
    from shared.inference.assets import head_assets_dir

    thresholds = load_thresholds(head_assets_dir())
    labels = json.loads((head_assets_dir() / "head.json").read_text())["labels"]
    assert set(labels) == set(thresholds)
    assert all(0.0 < t < 1.0 for t in thresholds.values())


def test_windows_of_a_long_text_carry_their_character_spans(tokenizer: TextTokenizer) -> None:
    text = "Alpha beta gamma, delta! " * 12
    short, *long_windows = tokenizer.windows(["Just one window", text])
    assert short.span is None and short.text(["Just one window"]) == "Just one window"
    assert len(long_windows) > 2
    texts = ["Just one window", text]
    for w in long_windows:
        assert w.span is not None
        piece = w.text(texts)
        assert piece == text[w.span[0] : w.span[1]] and piece.strip() == piece
        # the span re-tokenises to the window's own tokens
        (again,) = tokenizer.windows([piece])
        assert again.ids == w.ids


def _windows(lengths: list[int]) -> list[Window]:
    return [Window(i, tuple(range(1, n + 1))) for i, n in enumerate(lengths)]


def test_a_token_budget_caps_rows_times_width_and_keeps_every_window_once() -> None:
    lengths = [30, 8, 8, 8, 8, 8, 5, 5, 70, 3]
    batches = pack_batches(_windows(lengths), max_batch=64, max_tokens=32)
    for b in batches:
        rows, width = b.input_ids.shape
        assert rows * width <= 32 or rows == 1, (rows, width)
    # the 70-token window is longer than the budget: it runs alone, not cut
    assert batches[0].input_ids.shape == (1, 70)
    assert sorted(int(i) for b in batches for i in b.text_index) == list(range(len(lengths)))
    widths = [b.input_ids.shape[1] for b in batches]
    assert widths == sorted(widths, reverse=True), "longest first, so padding stays small"
    assert [b.input_ids.shape for b in batches] == [(1, 70), (1, 30), (4, 8), (4, 8)]


def test_without_a_budget_only_the_row_cap_applies() -> None:
    batches = pack_batches(_windows([40] * 5), max_batch=2)
    assert [b.input_ids.shape for b in batches] == [(2, 40), (2, 40), (1, 40)]


def test_spread_splits_the_largest_batches_until_every_run_has_work() -> None:
    (one,) = pack_batches(_windows([6, 6, 6, 6, 6]), max_batch=8)
    parts = spread([one], 2)
    assert [len(p) for p in parts] == [3, 2]
    assert np.concatenate([p.text_index for p in parts]).tolist() == one.text_index.tolist()
    assert np.array_equal(np.concatenate([p.input_ids for p in parts]), one.input_ids)
    assert [len(p) for p in spread([one], 4)] == [1, 1, 1, 2]
    single = pack_batches(_windows([6]), max_batch=8)
    assert [len(p) for p in spread(single, 2)] == [1], "a single row cannot be split"
    assert len(spread(pack_batches(_windows([6] * 4), max_batch=1), 2)) == 4, "enough already"


def test_split_keeps_at_least_one_row_per_piece() -> None:
    (batch,) = pack_batches(_windows([200, 200, 200]), max_batch=8)
    # a budget below one window's width (e.g. 256 tokens for a 512-token window) still runs it
    assert [len(p) for p in batch.split(0)] == [1, 1, 1]
    assert [len(p) for p in batch.split(2)] == [2, 1]


def _cost(lengths: list[int], sizes: list[int]) -> list[int]:
    starts = np.cumsum([0, *sizes[:-1]])
    return [rows * lengths[int(a)] for a, rows in zip(starts, sizes, strict=True)]


def test_balanced_rows_cut_evenly_instead_of_filling_the_first_batch() -> None:
    # ten short texts of the benchmark mix: 247 tokens under a 256-token budget would fill one
    # batch of 8 x 29 and leave 2 rows; run two at a time, they must finish together
    lengths = [29, 28, 26, 25, 25, 24, 24, 23, 22, 21]
    for multiple in (1, 2):
        sizes = balanced_rows(lengths, max_batch=64, max_tokens=256, multiple=multiple)
        assert sizes == [5, 5]
        assert _cost(lengths, sizes) == [145, 120]


def test_balanced_rows_round_the_count_up_to_a_multiple_and_keep_the_caps() -> None:
    lengths = sorted([30, 30, 28, 20, 20, 20, 19, 18, 12, 12, 12, 11, 10, 9, 8, 8, 7], reverse=True)
    for multiple in (1, 2, 3, 4):
        sizes = balanced_rows(lengths, max_batch=5, max_tokens=96, multiple=multiple)
        assert sum(sizes) == len(lengths) and min(sizes) >= 1
        assert len(sizes) % multiple == 0
        assert max(sizes) <= 5
        assert max(_cost(lengths, sizes)) <= 96
    # fewer rows than runs: one row each, never an empty batch
    assert balanced_rows([9, 8, 7], max_batch=8, max_tokens=256, multiple=4) == [1, 1, 1]
    assert balanced_rows([], max_batch=8) == []


def test_balanced_rows_minimise_the_largest_batch() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        lengths = sorted(rng.integers(3, 60, size=int(rng.integers(1, 40))).tolist(), reverse=True)
        multiple = int(rng.integers(1, 4))
        sizes = balanced_rows(lengths, max_batch=16, max_tokens=256, multiple=multiple)
        worst = max(_cost(lengths, sizes))
        # no other cut into as many consecutive batches has a smaller largest one
        for cap in range(lengths[0], worst):
            i, used = 0, 0
            while i < len(lengths):
                i += max(1, min(16, cap // lengths[i], len(lengths) - i))
                used += 1
            assert used > len(sizes), (lengths, sizes, cap)
