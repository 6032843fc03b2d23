"""Build the encoder's ONNX variants once and cache them with a checksum.

* ``fp32`` — the graph from :mod:`shared.inference.graph`, fused by ONNX Runtime's transformer
  optimizer (EmbedLayerNormalization, Attention, BiasGelu; residual Add + LayerNormalization
  left unfused, because the fused CPU kernel is slow — see ``_optimize``).
* ``int8`` — the fused fp32 graph quantised with per-channel int8 weights on the linear
  layers only: the MatMuls, and the Attention nodes that hold the fused Q/K/V projection (in
  an unfused graph those are MatMuls too). Embeddings and LayerNorms stay float; the default
  per-tensor settings distort embeddings badly (see docs/MODEL_CARD.md). Activations are
  quantised with fixed scales measured on training texts (:mod:`shared.inference.static_int8`),
  so a text's scores do not depend on what shares its batch.
* ``fp16`` — for GPU providers: the optimizer's GPU fusions, weights in float16, float32 I/O.
* ``int8-qdq`` — the int8 variant for the OpenVINO provider: the unfused fp32 graph with int8
  QuantizeLinear/DequantizeLinear around every linear layer (:mod:`shared.inference.qdq_int8`);
  standard ONNX only, which OpenVINO folds into its own int8 kernels.

Each file is named by variant, the encoder weights' hash, the builder version and, for the
quantised variants, a digest of the activation ranges it was built with; it is written
atomically, and a ``.sha256`` sidecar is checked on every load; a mismatch rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import onnx

from shared.inference.assets import EncoderAssets
from shared.inference.graph import build_encoder_graph
from shared.inference.qdq_int8 import QDQ_RANGES_KEY, with_qdq
from shared.inference.static_int8 import load_ranges, with_static_activations

__all__ = [
    "BUILDER_VERSION",
    "CPU_DISABLED_OPTIMIZERS",
    "VARIANTS",
    "Variant",
    "VariantFile",
    "dynamic_int8",
    "ensure_variant",
    "file_sha256",
    "stale_files",
    "variant_file_name",
]

Variant = Literal["fp32", "int8", "fp16", "int8-qdq"]
VARIANTS: tuple[Variant, ...] = ("fp32", "int8", "fp16", "int8-qdq")
#: Every variant file's name starts with this.
FILE_PREFIX = "minilm-l6-"
#: A temporary build file younger than this may belong to a build in progress.
TMP_GRACE_S = 3600.0
#: Bump when the graph builder or the variant recipes change: cached files are then rebuilt.
BUILDER_VERSION = 4
_log = logging.getLogger(__name__)
#: ONNX Runtime graph optimisers a CPU session must not run on the CPU variants (see _optimize).
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


class VariantFile:
    """A built variant on disk and its checksum."""

    def __init__(self, variant: Variant, path: Path, sha256: str) -> None:
        self.variant = variant
        self.path = path
        self.sha256 = sha256


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_save(model: onnx.ModelProto, dest: Path) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        digest = file_sha256(Path(tmp))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dest.with_suffix(".sha256").write_text(digest + "\n", encoding="utf-8")
    return digest


class _DropOrtRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


@contextmanager
def _quiet_builders() -> Iterator[None]:
    """The optimizer and quantizer log advice at INFO/WARNING (some via the root logger)."""
    names = ("onnxruntime.transformers", "onnxruntime.quantization")
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    drop = _DropOrtRecords()
    root = logging.getLogger()
    for lg, _ in saved:
        lg.setLevel(logging.ERROR)
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
        for lg, level in saved:
            lg.setLevel(level)


def _optimize(raw: onnx.ModelProto, hidden: int, heads: int, *, use_gpu: bool) -> onnx.ModelProto:
    from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]
    from onnxruntime.transformers.fusion_options import (  # type: ignore[import-untyped]
        FusionOptions,
    )

    opts = FusionOptions("bert")
    # On CPU, ONNX Runtime's SkipLayerNormalization kernel is ~10x slower than Add plus
    # LayerNormalization (2.5 ms vs 0.25 ms + 0.2 ms at 1024x384; a fifth of the int8 model's
    # time): CPU variants keep the two, and sessions on the CPU do not re-fuse them
    # (``CPU_DISABLED_OPTIMIZERS``). GPU kernels are fast fused.
    opts.enable_skip_layer_norm = use_gpu
    opts.enable_bias_skip_layer_norm = use_gpu
    optimized = optimizer.optimize_model(
        raw,
        model_type="bert",
        num_heads=heads,
        hidden_size=hidden,
        opt_level=0,
        use_gpu=use_gpu,
        only_onnxruntime=False,
        optimization_options=opts,
    )
    if use_gpu:
        optimized.convert_float_to_float16(keep_io_types=True)
    model: onnx.ModelProto = optimized.model
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return model


def _quantize_int8(fp32_path: Path) -> onnx.ModelProto:
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "int8.onnx"
        quantize_dynamic(
            fp32_path,
            out,
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            reduce_range=False,
            weight_type=QuantType.QInt8,
            # Contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape inference.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return onnx.load(str(out))


def dynamic_int8(*, cache_dir: Path, assets: EncoderAssets) -> onnx.ModelProto:
    """The int8 graph with run-time activation scales (what calibration measures for)."""
    fp32 = ensure_variant("fp32", cache_dir=cache_dir, assets=assets)
    with _quiet_builders():
        return _quantize_int8(fp32.path)


def _cached(path: Path, variant: Variant) -> VariantFile | None:
    sidecar = path.with_suffix(".sha256")
    if not (path.is_file() and sidecar.is_file()):
        return None
    expected = sidecar.read_text(encoding="utf-8").strip()
    actual = file_sha256(path)
    if actual != expected:
        _log.warning("cached %s variant %s fails its checksum; rebuilding", variant, path)
        return None
    return VariantFile(variant, path, actual)


#: The quantised variants and the section of the ranges file each one's scales come from.
_RANGES_KEYS: dict[str, str] = {"int8": "ranges", "int8-qdq": QDQ_RANGES_KEY}


def _digest(ranges: dict[str, tuple[float, float]]) -> str:
    """Eight hex digits naming a set of activation ranges."""
    canonical = json.dumps(sorted(ranges.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]


def _ranges_for(variant: Variant) -> dict[str, tuple[float, float]]:
    """The committed activation ranges ``variant`` is built with (none for float variants)."""
    return load_ranges(key=_RANGES_KEYS[variant]) if variant in _RANGES_KEYS else {}


def variant_file_name(variant: Variant, assets: EncoderAssets) -> str:
    """The cache file name this build gives ``variant``.

    Named by the encoder weights' hash, the builder version and, for the quantised variants,
    a digest of the committed activation ranges, so a recalibration names a new file instead
    of serving the stale one (and a missing ranges file fails here, before the slow build).
    """
    stem = f"{FILE_PREFIX}{variant}-{assets.weights_sha256[:12]}-b{BUILDER_VERSION}"
    ranges = _ranges_for(variant)
    if variant in _RANGES_KEYS:
        stem += f"-r{_digest(ranges)}"
    return f"{stem}.onnx"


def stale_files(cache_dir: Path, assets: EncoderAssets) -> list[Path]:
    """Variant files (and their sidecars) in ``cache_dir`` that this build would never serve.

    Earlier builder versions, other encoder weights or older activation ranges name other
    files, so every upgrade leaves the previous ones behind (~60-90 MB each). Only files named
    like variants are considered; anything else in the directory is left alone.
    """
    current = {variant_file_name(v, assets) for v in VARIANTS}
    keep = current | {Path(n).with_suffix(".sha256").name for n in current}
    found = [
        p
        for p in sorted(cache_dir.glob(f"{FILE_PREFIX}*"))
        if p.is_file() and p.suffix in (".onnx", ".sha256") and p.name not in keep
    ]
    # an interrupted build leaves its temporary file; a young one may be a build in progress
    cutoff = time.time() - TMP_GRACE_S
    found += sorted(
        p for p in cache_dir.glob("*.onnx.tmp") if p.is_file() and p.stat().st_mtime < cutoff
    )
    return found


def ensure_variant(variant: Variant, *, cache_dir: Path, assets: EncoderAssets) -> VariantFile:
    """The cached variant, built (and its prerequisites built) on first use."""
    path = cache_dir / variant_file_name(variant, assets)
    hit = _cached(path, variant)
    if hit is not None:
        return hit
    _log.info("building %s encoder variant at %s", variant, path)
    cfg_hidden, cfg_heads = assets.hidden_size, assets.num_heads
    if variant == "int8":
        model = with_static_activations(
            dynamic_int8(cache_dir=cache_dir, assets=assets), _ranges_for(variant)
        )
    elif variant == "int8-qdq":
        model = with_qdq(build_encoder_graph(assets.model_dir), _ranges_for(variant))
    else:
        raw = build_encoder_graph(assets.model_dir)
        with _quiet_builders():
            model = _optimize(raw, cfg_hidden, cfg_heads, use_gpu=variant == "fp16")
    digest = _atomic_save(model, path)
    return VariantFile(variant, path, digest)
