"""The inference core: one ONNX Runtime session for the encoder, opened once per process.

``open_session`` picks the providers from settings, opens the cached variant with full graph
optimisation, checks that the requested provider really engaged, and warms the session up.
``Encoder.embed`` runs padded batches; ``InferenceSession.run`` is thread-safe, so one
``Encoder`` serves every thread of the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from numpy.typing import NDArray

from shared.errors import ConfigurationError
from shared.inference.pre import Batch
from shared.inference.providers import ProviderName, check_session_providers, select_providers
from shared.inference.variants import CPU_DISABLED_OPTIMIZERS, VariantFile

__all__ = ["Encoder", "open_session"]


@dataclass(frozen=True, slots=True)
class Encoder:
    """An open encoder session and what it runs on."""

    session: ort.InferenceSession
    variant: str
    provider: ProviderName
    sha256: str

    def run(self, batch: Batch) -> NDArray[np.float32]:
        out = self.session.run(
            ["sentence_embedding"],
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
        )[0]
        return np.asarray(out, dtype=np.float32)

    def embed(
        self, batches: Sequence[Batch], n_windows: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Embeddings of all windows (in batch order) and the text index of each."""
        if not batches:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
        embs = [self.run(b) for b in batches]
        return np.concatenate(embs), np.concatenate([b.text_index for b in batches])


def _with_options(providers: list[str], trt_cache: Path | None) -> list[Any]:
    """TensorRT: fp16 kernels and an engine cache, so engines are built once, not per start."""
    out: list[Any] = []
    for name in providers:
        if name == "TensorrtExecutionProvider" and trt_cache is not None:
            trt_cache.mkdir(parents=True, exist_ok=True)
            opts = {
                "trt_fp16_enable": True,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(trt_cache),
            }
            out.append((name, opts))
        else:
            out.append(name)
    return out


def open_session(
    variant_file: VariantFile,
    *,
    requested_provider: str,
    intra_op_threads: int,
    allow_spinning: bool = False,
    trt_cache: Path | None = None,
) -> Encoder:
    """Open the variant on the chosen providers; raise ProviderUnavailable on a dropped GPU."""
    primary, providers = select_providers(requested_provider, ort.get_available_providers())
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads > 0:
        opts.intra_op_num_threads = intra_op_threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    opts.log_severity_level = 3
    disabled = list(CPU_DISABLED_OPTIMIZERS) if primary == "cpu" else []
    try:
        session = ort.InferenceSession(
            str(variant_file.path),
            opts,
            providers=_with_options(providers, trt_cache),
            disabled_optimizers=disabled,
        )
    except Exception as exc:  # ORT raises bare RuntimeError/Fail subclasses
        raise ConfigurationError(f"cannot open {variant_file.path}: {exc}") from exc
    used = check_session_providers(primary, requested_provider, session.get_providers())
    encoder = Encoder(session, variant_file.variant, used, variant_file.sha256)
    warm = np.array([[101, 7592, 102]], dtype=np.int64)
    encoder.run(Batch(warm, np.ones_like(warm), np.zeros(1, dtype=np.int64)))
    return encoder
