"""Session fixtures: the encoder variants are built once (in the real model cache) per run."""

from __future__ import annotations

import pytest

from shared.inference.classifier import OnnxClassifier, build_classifier
from shared.settings import ModelSettings


@pytest.fixture(scope="session")
def int8_settings() -> ModelSettings:
    return ModelSettings(variant="int8", provider="cpu", intra_op_threads=2)


@pytest.fixture(scope="session")
def classifier(int8_settings: ModelSettings) -> OnnxClassifier:
    return build_classifier(int8_settings)


@pytest.fixture(scope="session")
def fp32_classifier() -> OnnxClassifier:
    return build_classifier(ModelSettings(variant="fp32", provider="cpu", intra_op_threads=2))
