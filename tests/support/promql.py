"""PromQL of the dashboard and the rules, and how a real Prometheus is asked about it.

Judging an expression that has no data. A dashboard query or a recording rule must
return data. An alert condition is a boolean tree and may rightly be false, so it is
judged by its *signals*: :func:`signals` removes ``offset`` modifiers (a shift in time
does not change which series exist, and a fresh Prometheus has no yesterday), splits the
condition at its top-level ``and``/``or``/``unless`` and comparison operators, and drops
operands that are plain numbers; every remaining operand must return data. Metrics that
are exported but legitimately unobserved in a short run (labelled children appear on
first use) are judged by Prometheus's own metadata of the scrape instead.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "dashboard_exprs",
    "for_query",
    "metadata_names",
    "metric_names",
    "query",
    "rule_exprs",
    "signals",
]

_GRAFANA = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}
_OFFSET = re.compile(r"\s+offset\s+-?\d+[smhdwy]\w*")
_OPERATOR = re.compile(
    r"\s*(?:\band\b|\bor\b|\bunless\b|==|!=|>=|<=|>|<)\s*(?:bool\b\s*)?"
    r"(?:(?:on|ignoring)\s*\([^)]*\)\s*)?(?:(?:group_left|group_right)\s*(?:\([^)]*\))?\s*)?"
)
_NUMBER = re.compile(r"^[\d.\s*/+\-()]+$")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {
    "sum",
    "by",
    "rate",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "offset",
    "bool",
    "le",
    "histogram_quantile",
    "increase",
    "deriv",
    "avg_over_time",
    "group_left",
    "group_right",
    "without",
    "max",
    "min",
    "avg",
    "count",
}


def dashboard_exprs(path: Path) -> list[tuple[str, str]]:
    """(panel title, expression) for every target of every panel."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    return [
        (str(panel["title"]), str(target["expr"]))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def rule_exprs(path: Path) -> list[tuple[str, str, str]]:
    """(``record`` or ``alert``, its name, expression) for every rule."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for group in data["groups"]:
        for rule in group["rules"]:
            kind = "record" if "record" in rule else "alert"
            lines = [line.partition("#")[0] for line in str(rule["expr"]).splitlines()]
            out.append((kind, str(rule[kind]), " ".join(" ".join(lines).split())))
    return out


def for_query(expr: str) -> str:
    """A dashboard expression with Grafana's interval variables replaced."""
    for variable, value in _GRAFANA.items():
        expr = expr.replace(variable, value)
    return expr


def _split_top_level(expr: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(expr):
        char = expr[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == '"':
            i = expr.index('"', i + 1)
        elif depth == 0 and (match := _OPERATOR.match(expr, i)) and match.end() > i:
            text = match.group().strip()
            if text and (not text[0].isalpha() or _word_boundary(expr, i, match.end())):
                parts.append(expr[start:i])
                start = i = match.end()
                continue
        i += 1
    parts.append(expr[start:])
    return [p.strip() for p in parts if p.strip()]


def _word_boundary(expr: str, begin: int, end: int) -> bool:
    before = expr[begin - 1] if begin else " "
    return not (before.isalnum() or before in "_:")


def _unwrap(expr: str) -> str:
    while expr.startswith("(") and expr.endswith(")"):
        depth = 0
        for i, char in enumerate(expr):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and i < len(expr) - 1:
                return expr
        expr = expr[1:-1].strip()
    return expr


def signals(expr: str) -> list[str]:
    """The operands of a condition that must each have data (see the module docstring)."""
    expr = _OFFSET.sub("", " ".join(expr.split()))
    parts = _split_top_level(expr)
    if len(parts) == 1:
        inner = _unwrap(parts[0])
        return [inner] if inner == parts[0] else signals(inner)
    out: list[str] = []
    for part in parts:
        if not _NUMBER.match(part):
            out.extend(signals(part))
    return out


def metric_names(expr: str) -> set[str]:
    """Metric and recording-rule names an expression reads."""
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    stripped = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped
    )
    names = set(_NAME.findall(stripped))
    return {
        n
        for n in names
        if n not in _KEYWORDS and not n.isdigit() and ("_" in n or ":" in n or n == "up")
    }


def _get(url: str, path: str, params: dict[str, str]) -> Any:
    full = f"{url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(full, timeout=10) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise AssertionError(f"{path} {params}: {body}")
    return body["data"]


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """The instant-vector result of ``expr`` now (a scalar becomes one sample)."""
    data = _get(url, "/api/v1/query", {"query": expr})
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def metadata_names(url: str) -> set[str]:
    """Metric family names Prometheus saw TYPE/HELP for in its scrapes (samples or not)."""
    return set(_get(url, "/api/v1/metadata", {}))
