"""The inference core: the encoder's ONNX Runtime session(s), opened once per process.

``open_session`` picks the providers from settings, opens the cached variant with full graph
optimisation, checks that the requested provider really engaged, and warms the session up;
on a CPU with ``parallel_runs`` > 1 it also opens a one-thread session for parallel runs.
``Encoder.embed`` runs padded batches; ``InferenceSession.run`` is thread-safe, so one
``Encoder`` serves every thread of the process. The ``openvino`` provider opens the session
through its plugin (:mod:`shared.inference.openvino`) and threads inside OpenVINO.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from numpy.typing import NDArray

from shared.errors import ConfigurationError, ProviderUnavailable
from shared.inference.pre import Batch
from shared.inference.providers import (
    ProviderName,
    available_cpus,
    check_session_providers,
    select_providers,
)
from shared.inference.variants import CPU_DISABLED_OPTIMIZERS, VariantFile

__all__ = ["Encoder", "open_session"]


@dataclass(frozen=True, slots=True)
class Encoder:
    """An open encoder session and what it runs on."""

    session: ort.InferenceSession
    variant: str
    provider: ProviderName
    sha256: str
    #: Runs in flight at once (CPU), each on one thread of ``solo`` (a one-thread session).
    parallel: int = 1
    solo: ort.InferenceSession | None = None
    pool: ThreadPoolExecutor | None = None

    @property
    def runs_at_once(self) -> int:
        """How many batches ``embed`` runs at once (1 without parallel runs)."""
        return self.parallel if self.pool is not None else 1

    def run(self, batch: Batch) -> NDArray[np.float32]:
        return _run(self.session, batch)

    def _run_solo(self, batch: Batch) -> NDArray[np.float32]:
        assert self.solo is not None
        return _run(self.solo, batch)

    def embed(
        self, batches: Sequence[Batch], n_windows: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Embeddings of all windows (in batch order) and the text index of each."""
        if not batches:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
        runs = spread(batches, self.parallel) if self.pool is not None else list(batches)
        if self.pool is not None and len(runs) >= self.parallel:
            embs = list(self.pool.map(self._run_solo, runs))
        else:  # too few rows to keep every run busy: one run at a time, threads per operator
            runs = list(batches)
            embs = [self.run(b) for b in runs]
        return np.concatenate(embs), np.concatenate([b.text_index for b in runs])


def _run(session: ort.InferenceSession, batch: Batch) -> NDArray[np.float32]:
    out = session.run(
        ["sentence_embedding"],
        {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
    )[0]
    return np.asarray(out, dtype=np.float32)


def spread(batches: Sequence[Batch], runs: int) -> list[Batch]:
    """``batches``, the largest split by rows until there are at least ``runs`` (when they can be):
    a small batch still keeps every run busy."""
    out = list(batches)
    while len(out) < runs:
        i = max(range(len(out)), key=lambda k: len(out[k]))
        if len(out[i]) < 2:
            break
        out[i : i + 1] = out[i].split((len(out[i]) + 1) // 2)
    return out


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
    parallel_runs: int = 1,
) -> Encoder:
    """Open the variant on the chosen providers; raise ProviderUnavailable on a dropped GPU.

    ``parallel_runs`` > 1 (CPU only) also opens a one-thread session and runs that many
    batches on it at once whenever a call has enough rows to keep them all busy: on a few
    cores this beats splitting every operator over threads, whose per-operator hand-offs
    cost more than the small runs gain. Fewer rows (one short text) run on the main session,
    whose operators use ``intra_op_threads``. The second session costs a second copy of the
    weights (about 60 MB for int8: the file is 58 MB).
    """
    primary, providers = select_providers(requested_provider, ort.get_available_providers())
    parallel = parallel_runs if primary == "cpu" else 1

    def session_with(threads: int) -> ort.InferenceSession:
        if primary == "openvino":  # OpenVINO runs its own threads; no parallel runs
            from shared.inference.openvino import session_options

            ov_opts = session_options(ort, threads=threads or available_cpus())
            try:
                return ort.InferenceSession(str(variant_file.path), ov_opts)
            except Exception as exc:
                raise ProviderUnavailable(
                    f"OpenVINO cannot run {variant_file.path}: {exc}"
                ) from exc
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 0:
            opts.intra_op_num_threads = threads
        spin = "1" if allow_spinning else "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        opts.log_severity_level = 3
        disabled = list(CPU_DISABLED_OPTIMIZERS) if primary == "cpu" else []
        try:
            return ort.InferenceSession(
                str(variant_file.path),
                opts,
                providers=_with_options(providers, trt_cache),
                disabled_optimizers=disabled,
            )
        except Exception as exc:  # ORT raises bare RuntimeError/Fail subclasses
            raise ConfigurationError(f"cannot open {variant_file.path}: {exc}") from exc

    session = session_with(intra_op_threads)
    used = check_session_providers(primary, requested_provider, session.get_providers())
    solo = session_with(1) if parallel > 1 else None
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="onnx-run") if solo else None
    encoder = Encoder(
        session, variant_file.variant, used, variant_file.sha256, parallel, solo, pool
    )
    warm = np.array([[101, 7592, 102]], dtype=np.int64)
    warm_batch = Batch(warm, np.ones_like(warm), np.zeros(1, dtype=np.int64))
    encoder.run(warm_batch)
    if solo is not None:
        _run(solo, warm_batch)
    return encoder
