"""The runtime lexical featuriser (pure Python + numpy): analyser, tf-idf, logits, loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shared.errors import ConfigurationError
from shared.inference.assets import head_assets_dir
from shared.inference.lexical import LexicalModel, analyze, load_lexical
from shared.inference.post import load_head

LABELS = ("a", "unsafe")


def test_word_block_unigrams_and_bigrams_lowercased_with_punctuation_tokens() -> None:
    assert analyze("Kill the PROCESS!", "word") == [
        "w:kill", "w:the", "w:process", "w:!",
        "b:kill the", "b:the process", "b:process !",
    ]  # fmt: skip


def test_char_block_is_padded_word_ngrams() -> None:
    grams = analyze("Hi yo!", "char")
    assert grams == [" hi", "hi ", " hi ", " yo", "yo ", " yo "]
    assert len(analyze("abcd", "char")) == 4 + 3 + 2  # " abcd ": 3-, 4-, 5-grams
    with pytest.raises(ValueError):
        analyze("x", "nope")


def _model() -> LexicalModel:
    word = ["w:kill", "w:process", "b:kill the"]
    char = [" ki", "kil", "ill", "ll "]
    coef = np.arange(14, dtype=np.float32).reshape(7, 2) / 10
    return LexicalModel(
        [("word", word, np.array([1.0, 2.0, 3.0])), ("char", char, np.array([1.0, 1.5, 2.0, 1.0]))],
        coef,
        np.array([-1.0, 0.5], dtype=np.float32),
        LABELS,
    )


def test_tfidf_is_sublinear_idf_weighted_and_l2_normalised_per_block() -> None:
    m = _model()
    rows, cols, vals = m.features(["kill kill the process", "nothing known here"])
    assert set(rows.tolist()) == {0}  # the second text has no in-vocabulary n-gram
    dense = np.zeros(m.n_features)
    dense[cols] = vals
    word = np.array([(1 + np.log(2)) * 1.0, 1 * 2.0, 1 * 3.0])
    np.testing.assert_allclose(dense[:3], word / np.linalg.norm(word))
    char = np.array([1 + np.log(2), (1 + np.log(2)) * 1.5, (1 + np.log(2)) * 2.0, 1 + np.log(2)])
    np.testing.assert_allclose(dense[3:], char / np.linalg.norm(char))
    logits = m.logits(["kill kill the process", "nothing known here"])
    np.testing.assert_allclose(logits[0], dense @ m.coef + m.intercept, rtol=1e-6)
    np.testing.assert_allclose(logits[1], m.intercept)


def test_batched_equals_unbatched_and_repeatable() -> None:
    m = _model()
    texts = ["Kill the process", "", "ill will kill", "KILL " * 50]
    together = m.logits(texts)
    alone = np.concatenate([m.logits([t]) for t in texts])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(m.logits(texts), together)  # the word memo changes nothing


def test_mismatched_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_lexical(tmp_path, LABELS)
    with pytest.raises(ConfigurationError):
        LexicalModel([("word", ["w:a"], np.ones(1))], np.zeros((2, 2)), np.zeros(2), LABELS)


def test_shipped_head_loads_its_lexical_channel_when_it_has_one() -> None:
    meta = json.loads((head_assets_dir() / "head.json").read_text(encoding="utf-8"))
    head = load_head(head_assets_dir())
    if not meta.get("lexical"):
        assert head.lexical is None
        return
    assert head.lexical is not None and head.calib_c is not None
    assert head.lexical.labels == head.labels
    emb = np.zeros((1, head.layers[0][0].shape[0]), dtype=np.float32)
    with pytest.raises(ValueError):
        head.probabilities(emb)
    p = head.probabilities(emb, head.lexical.logits(["hello"]))
    assert p.shape == (1, len(head.labels))
