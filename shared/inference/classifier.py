"""``OnnxClassifier``: the Detector that turns texts into calibrated per-category scores.

pre (tokenise, window, group by length) → core (one ONNX Runtime session) → post (head,
stacked with the lexical n-gram channel when the head ships one, calibration, max over
windows). Synchronous and thread-safe: the detection worker calls
``detect`` off the event loop, from any thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.core.detection import DetectionInput, Findings
from shared.inference.assets import head_assets_dir, load_encoder_assets
from shared.inference.core import Encoder, open_session
from shared.inference.post import Head, load_head, max_over_windows
from shared.inference.pre import TextTokenizer, Window, pack_batches
from shared.inference.providers import available_cpus, resolve_variant, select_providers
from shared.inference.variants import ensure_variant
from shared.settings import ModelSettings

__all__ = ["UNSAFE", "OnnxClassifier", "build_classifier", "build_encoder"]

#: The label of "any harmful category applies".
UNSAFE = "unsafe"


class OnnxClassifier:
    """MiniLM-L6 encoder + calibrated head; one instance (one ``Encoder``) per process."""

    def __init__(
        self,
        *,
        encoder: Encoder,
        tokenizer: TextTokenizer,
        head: Head,
        max_batch: int = 64,
        max_tokens: int | None = None,
    ) -> None:
        self._encoder = encoder
        self._tokenizer = tokenizer
        self._head = head
        self._max_batch = max_batch
        self._max_tokens = max_tokens
        served = f"minilm-l6-{encoder.variant}@{encoder.provider}#{encoder.sha256[:8]}"
        self._version = f"{served}+head@{head.version}"

    @property
    def version(self) -> str:
        """e.g. ``minilm-l6-int8@cpu#1b7c0f3d+head@2026.11.1``: variant, provider, file, head."""
        return self._version

    @property
    def labels(self) -> tuple[str, ...]:
        """The categories scored, ``unsafe`` included."""
        return self._head.labels

    def score_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Calibrated probabilities, [len(texts), len(labels)], max over each text's windows."""
        if not texts:
            return np.zeros((0, len(self._head.labels)), dtype=np.float32)
        windows = self._tokenizer.windows(texts)
        numbered = [Window(j, w.ids) for j, w in enumerate(windows)]
        batches = pack_batches(
            numbered,
            max_batch=self._max_batch,
            pad_id=self._tokenizer.pad_id,
            max_tokens=self._max_tokens,
            multiple=self._encoder.runs_at_once,
        )
        emb, window_index = self._encoder.embed(batches, len(windows))
        text_index = np.array([windows[j].text_index for j in window_index], dtype=np.int64)
        lexical = self._head.lexical
        lex = None
        if lexical is not None:  # per window: the whole text, or the window's character span
            lex = lexical.logits([w.text(texts) for w in windows])[window_index]
        return max_over_windows(self._head.probabilities(emb, lex), text_index, len(texts))

    def detect(self, items: Sequence[DetectionInput]) -> list[Findings]:
        """One Findings per item, in order; scores are calibrated probabilities per category."""
        probs = self.score_texts([it.text for it in items])
        labels = self._head.labels
        return [
            Findings(scores={lab: float(row[j]) for j, lab in enumerate(labels)}) for row in probs
        ]


def build_encoder(
    settings: ModelSettings, *, variant: str | None = None
) -> tuple[Encoder, TextTokenizer]:
    """Open the encoder session (building and caching the variant on first use)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    assets = load_encoder_assets()
    primary, _ = select_providers(settings.provider, ort.get_available_providers())
    chosen = resolve_variant(variant or settings.variant, primary)
    # OpenVINO reads standard ONNX: the int8 variant in QDQ form (shared.inference.qdq_int8).
    form = "int8-qdq" if primary == "openvino" else chosen
    vfile = ensure_variant(form, cache_dir=settings.cache_dir, assets=assets)
    encoder = open_session(
        vfile,
        requested_provider=settings.provider,
        intra_op_threads=settings.intra_op_threads,
        allow_spinning=settings.allow_spinning,
        trt_cache=settings.cache_dir / "tensorrt",
        parallel_runs=settings.parallel_runs or available_cpus(),
    )
    tokenizer = TextTokenizer(assets.tokenizer_file, max_tokens=settings.max_tokens)
    return encoder, tokenizer


def build_classifier(settings: ModelSettings, *, head_dir: Path | None = None) -> OnnxClassifier:
    """The process's classifier: variant built/cached on first use, session opened and warm."""
    encoder, tokenizer = build_encoder(settings)
    head = load_head(head_dir or head_assets_dir())
    # The token budget keeps ONNX Runtime's CPU runs in cache; a GPU wants its batches whole,
    # and so does OpenVINO (its AMX kernels are fastest on whole batches; docs/MODEL_CARD.md).
    budget = settings.batch_tokens if encoder.provider == "cpu" else None
    return OnnxClassifier(encoder=encoder, tokenizer=tokenizer, head=head, max_tokens=budget)
