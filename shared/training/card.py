"""The model card's result tables, rendered from ``metrics.json`` (``clearpath model train``).

``python -m shared.training.card [METRICS]`` prints the markdown tables of docs/MODEL_CARD.md's
"Results" section, so the card is regenerated from the numbers, not retyped: validation per
category, validation per source, leave-one-source-out and external, with their means.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["loso_means", "render"]


def _num(value: object, digits: int = 3) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def _per_source(rows: Mapping[str, Mapping[str, Any]], *, categories: bool) -> list[str]:
    head = "| source | rows | unsafe AUPRC | recall (harmful) | FPR (benign) |"
    rule = "|---|---|---|---|---|"
    if categories:
        head += " category AUPRC |"
        rule += "---|"
    out = [head, rule]
    for name, r in rows.items():
        line = (
            f"| {name} | {r['rows']} | {_num(r['unsafe_auprc'])} | {_num(r['recall_harmful'])} "
            f"| {_num(r['fpr_benign'])} |"
        )
        if categories:
            cats = ", ".join(f"{c} {_num(v)}" for c, v in (r.get("category_auprc") or {}).items())
            line += f" {cats} |"
        out.append(line)
    return out


def loso_means(loso: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Means over held-out sources of unsafe AUPRC, harmful recall and benign FPR, where defined."""
    out: dict[str, float] = {}
    for key in ("unsafe_auprc", "recall_harmful", "fpr_benign"):
        values = [float(r[key]) for r in loso.values() if r.get(key) is not None]
        out[key] = round(sum(values) / len(values), 3) if values else float("nan")
    return out


def render(metrics: Mapping[str, Any]) -> str:
    lines = [f"Head `{metrics['head_version']}`, encoder `{metrics['encoder']}`.", ""]
    rows = metrics["rows"]
    lines += [
        f"Rows: train {rows['train']:,} · validation {rows['validation']:,} · "
        f"external {rows['external']:,}.",
        "",
        "### Validation (fixed split, permissive sources, max over windows)",
        "",
        "| category | positives | AUPRC | threshold | F1 @ thr | benign FPR @ thr | ECE "
        "(calibrated) | ECE (raw MLP) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cat, m in metrics["validation"].items():
        lines.append(
            f"| {cat} | {m['positives']} | {_num(m['auprc'])} | {m['threshold']:.2f} | "
            f"{_num(m['f1'])} | {_num(m['benign_fpr'])} | {_num(m['ece'])} | "
            f"{_num(m['ece_uncalibrated'])} |"
        )
    lines += ["", "### Validation per source (unsafe)", ""]
    lines += _per_source(metrics["validation_per_source"], categories=False)
    if "leave_one_source_out" in metrics:
        loso = metrics["leave_one_source_out"]
        means = loso_means(loso)
        lines += [
            "",
            "### Leave-one-source-out",
            "",
            f"Means over held-out sources: unsafe AUPRC **{means['unsafe_auprc']:.3f}**, "
            f"harmful recall **{means['recall_harmful']:.3f}**, benign FPR "
            f"**{means['fpr_benign']:.3f}**.",
            "",
        ]
        lines += _per_source(loso, categories=True)
    lines += ["", "### External (non-permissive; never trained on)", ""]
    lines += _per_source(metrics["external_per_source"], categories=True)
    base = metrics["baseline_alt_profanity_check"]
    contrast, harmful = metrics["contrast"], metrics["harmful"]
    lines += [
        "",
        f"External pooled unsafe AUPRC: **{_num(metrics['external_unsafe_auprc'])}** "
        f"(alt-profanity-check {_num(base['external_unsafe_auprc'])}); validation unsafe AUPRC "
        f"alt-profanity-check {_num(base['validation_unsafe_auprc'])}, harassment "
        f"{_num(base['validation_harassment_auprc'])}.",
        f"Contrast set: `unsafe` flagged {contrast['flagged_unsafe']:.1%} of "
        f"{contrast['prompts']}, any label {contrast['flagged_any']:.1%} (alt-profanity-check "
        f"at 0.5: {base['contrast_flagged_at_0.5']:.1%}). Harmful set: `unsafe` flagged "
        f"{harmful['flagged_unsafe']:.0%} of {harmful['prompts']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    default = Path(__file__).resolve().parent.parent / "model_assets" / "metrics.json"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    sys.stdout.write(render(json.loads(path.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
