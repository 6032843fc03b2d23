"""The training featuriser (scikit-learn counts + scipy tf-idf) and the runtime one agree.

Needs the ``train`` extra (scikit-learn); skipped without it. Texts are written here.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

from shared.inference.lexical import analyze, load_lexical
from shared.training.lexical import fit_lexical, pool_counts, save_lexical

LABELS = ("threat", "unsafe")
TEXTS = [
    "How do I kill a Python process?",
    "I will kill you if you come here again",
    "Kill the lights and lock the door, the movie starts",
    "You are an idiot and everyone hates you",
    "What is the capital of France?",
    "Write a poem about the sea at night",
    "I'm going to hurt you tomorrow, watch out!!",
    "Can you help me with my homework on fractions?",
    "nobody likes you, idiot, go away",
    "The process was killed by the OOM killer",
    "Threatening emails: how should HR respond?",
    "I hate Mondays 😩 so much",
    "go away or I will hurt you 😡",
    "Ceci n'est pas une pipe — café, naïve, Straße",
] * 2


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(len(TEXTS), 2)).astype(np.float64)
    y[3, 0] = np.nan  # an unknown target is masked, not negative
    pc = pool_counts(TEXTS)
    train = np.arange(len(TEXTS)) % 3 != 0
    fl = fit_lexical(
        pc, train, y[train], np.ones(int(train.sum())), LABELS, sizes={"word": 40, "char": 60}
    )
    return pc, train, fl


def test_runtime_features_and_logits_equal_training(fitted) -> None:  # type: ignore[no-untyped-def]
    pc, _, fl = fitted
    x_train = fl.pool_features(pc).toarray()
    rows, cols, vals = fl.model.features(TEXTS)
    x_run = np.zeros_like(x_train)
    x_run[rows, cols] = vals
    np.testing.assert_allclose(x_run, x_train, atol=1e-12)
    np.testing.assert_allclose(fl.model.logits(TEXTS), fl.pool_logits(pc), atol=1e-5)


def test_block_tfidf_equals_scikit_learn(fitted) -> None:  # type: ignore[no-untyped-def]
    _pc, train, fl = fitted
    train_texts = [t for t, k in zip(TEXTS, train, strict=True) if k]
    rows, cols, vals = fl.model.features(TEXTS)
    x_run = np.zeros((len(TEXTS), fl.model.n_features))
    x_run[rows, cols] = vals
    for blk in fl.model.blocks:
        vocab = sorted(blk.vocab, key=blk.vocab.__getitem__)
        ref = TfidfVectorizer(
            analyzer=partial(analyze, block=blk.name), vocabulary=vocab, sublinear_tf=True
        ).fit(train_texts)
        np.testing.assert_allclose(ref.idf_, blk.idf, rtol=1e-12)
        got = x_run[:, blk.offset : blk.offset + len(vocab)]
        np.testing.assert_allclose(got, ref.transform(TEXTS).toarray(), atol=1e-12)


def test_vocabulary_is_chosen_on_train_rows_only(fitted) -> None:  # type: ignore[no-untyped-def]
    _pc, train, fl = fitted
    seen = {g for t, k in zip(TEXTS, train, strict=True) if k for g in analyze(t, "word")}
    word = next(b for b in fl.model.blocks if b.name == "word")
    assert set(word.vocab) <= seen and len(word.vocab) == 40


def test_saved_files_round_trip(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, fl = fitted
    save_lexical(fl.model, tmp_path, recipe={})
    again = load_lexical(tmp_path, LABELS)
    np.testing.assert_allclose(again.logits(TEXTS), fl.model.logits(TEXTS), atol=1e-6)
