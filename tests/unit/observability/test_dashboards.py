"""deploy/grafana: provisioning files and the dashboard's structure; PromQL extraction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.support import promql

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "pipeline-overview.json"
RULES = DEPLOY / "prometheus" / "rules" / "clearpath.rules.yml"
#: Labels a legend may show: bounded by code (stages, actions, categories, profiles, ...).
BOUNDED = {
    "stage",
    "action",
    "category",
    "profile",
    "reason",
    "group",
    "partition",
    "detector",
    "result",
    "operation",
    "outcome",
    "route",
    "status",
}


def test_provisioning_files() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (datasource,) = source["datasources"]
    assert datasource["type"] == "prometheus" and "${PROMETHEUS_URL}" in datasource["url"]
    provider = yaml.safe_load((provisioning / "dashboards" / "provider.yml").read_text())
    assert provider["providers"][0]["type"] == "file"


def test_dashboard_structure() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"]["type"] == "prometheus", panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            assert legend <= BOUNDED, f"{panel['title']}: unbounded legend {legend - BOUNDED}"
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in (
        "throughput",
        "p99",
        "end-to-end",
        "refusal",
        "actions",
        "cache",
        "lag",
        "dead letters",
        "batch size",
        "inference",
        "ready",
        "appeal",
        "overturn",
        "gateway",
    ):
        assert topic in titles, topic


def test_expressions_are_extracted_and_only_read_clearpath_series() -> None:
    exprs = [e for _, e in promql.dashboard_exprs(DASHBOARD)]
    exprs += [e for _, _, e in promql.rule_exprs(RULES)]
    assert len(exprs) > 25
    recorded = {name for kind, name, _ in promql.rule_exprs(RULES) if kind == "record"}
    for expr in exprs:
        names = promql.metric_names(promql.for_query(expr))
        assert names, expr
        assert all(n.startswith("clearpath_") or n in recorded or n == "up" for n in names), names


def test_signals_split_conditions_and_drop_thresholds_and_offsets() -> None:
    expr = "a:b:rate5m > 14.4 * 0.01 and on (profile) a:b:rate1h > 14.4 * 0.01"
    assert promql.signals(expr) == ["a:b:rate5m", "a:b:rate1h"]
    spike = "r > 2 * avg_over_time(r[1d] offset 10m) + 0.05 and on (p) v > 0.5"
    assert promql.signals(spike) == ["r", "2 * avg_over_time(r[1d]) + 0.05", "v"]
    assert promql.signals('x == 0 or up{job="j"} == 0') == ["x", 'up{job="j"}']
    assert promql.signals("(sum(rate(e[5m])) > 0.1)") == ["sum(rate(e[5m]))"]
    assert promql.metric_names('sum by (le) (rate(x_bucket{le="0.25"}[5m])) / y:z') == {
        "x_bucket",
        "y:z",
    }
