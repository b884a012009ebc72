"""The Grafana dashboard asks only for what the gateway and workers export, through the
datasource Grafana is provisioned with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.compose.dashboards import COMPOSE, DASHBOARDS, dashboard_files, load, panels, queries
from tests.compose.promql import PROMETHEUS_SERIES, TARGET_LABELS, Series, exported, references

DATASOURCES = COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = COMPOSE / "grafana" / "provisioning" / "dashboards" / "mpc-api.yml"


@pytest.fixture(scope="module")
def series() -> dict[str, Series]:
    return exported()


def test_exported_names_include_histogram_and_counter_samples(series: dict[str, Series]) -> None:
    assert {"mpc_http_requests_total", "mpc_job_wait_seconds_bucket", "mpc_job_wait_seconds_count"} <= set(series)
    assert {"mpc_queue_depth", "mpc_worker_up", "mpc_gen_ai_client_token_usage_sum"} <= set(series)
    assert "mpc_http_requests" not in series and "mpc_http_requests_total_total" not in series
    assert series["mpc_job_wait_seconds_bucket"].labels == {"queue", "le"}


def query_problems(expr: str, legend_format: str, series: dict[str, Series]) -> list[str]:
    """What is wrong with one dashboard query, measured against the exported series."""
    problems: list[str] = []
    refs = references(expr)
    if refs.unknown_calls:
        problems.append(f"unknown PromQL functions {sorted(refs.unknown_calls)}")
    if not refs.metrics:
        problems.append("names no metric")
    unknown = refs.metrics - set(series) - PROMETHEUS_SERIES
    if unknown:
        problems.append(f"not exported by the gateway or workers: {sorted(unknown)}")
    known = refs.metrics & set(series)
    labels = set(TARGET_LABELS).union(*(series[name].labels for name in known))
    for name, matched in refs.matchers.items():
        allowed = (series[name].labels if name in series else set()) | TARGET_LABELS
        if matched - allowed:
            problems.append(f"{name} has no labels {sorted(matched - allowed)}")
    if refs.grouping - labels:
        problems.append(f"groups by labels none of its metrics has: {sorted(refs.grouping - labels)}")
    for name in sorted(refs.rated & set(series)):
        if series[name].kind == "gauge":
            problems.append(f"rate/increase over the gauge {name}")
    if any(name.endswith("_bucket") for name in known) != ("histogram_quantile" in refs.functions):
        problems.append("_bucket series belong inside histogram_quantile (and only they)")
    if "histogram_quantile" in refs.functions and "le" not in refs.grouping:
        problems.append("histogram_quantile needs the le label kept (by (..., le))")
    legend = set(re.findall(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}", legend_format))
    shown = refs.grouping or labels
    if legend - shown:
        problems.append(f"legend names labels the result does not carry: {sorted(legend - shown)}")
    return problems


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_every_query_names_only_exported_metrics_and_labels(path: Path, series: dict[str, Series]) -> None:
    found = [
        f"{title!r}: {target['expr']}: {problem}"
        for title, target in queries(load(path))
        for problem in query_problems(target["expr"], target.get("legendFormat", ""), series)
    ]
    assert sum(1 for _ in queries(load(path))) > 0
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("expr", "legend", "problem"),
    [
        ("sum(rate(mpc_http_request_total[5m]))", "", "not exported"),
        ("sum by (provider) (rate(mpc_fallbacks_total[5m]))", "{{provider}}", "groups by labels"),
        ('rate(mpc_selections_total{model="x"}[5m])', "", "has no labels ['model']"),
        ("sum(rate(mpc_queue_depth[5m]))", "", "over the gauge"),
        ("sum by (le) (rate(mpc_job_wait_seconds_bucket[5m]))", "", "inside histogram_quantile"),
        ("histogram_quantile(0.9, sum by (queue) (rate(mpc_job_wait_seconds_bucket[5m])))", "", "le label"),
        ("rat(mpc_jobs_finished_total[5m])", "", "unknown PromQL functions"),
        ("sum by (queue) (mpc_jobs_in_progress)", "{{task}}", "legend names"),
    ],
)
def test_the_query_check_catches_mistakes(expr: str, legend: str, problem: str, series: dict[str, Series]) -> None:
    assert any(problem in found for found in query_problems(expr, legend, series))


def test_dashboard_covers_what_operators_watch() -> None:
    exprs = " ".join(target["expr"] for path in dashboard_files() for _, target in queries(load(path)))
    for needed in (
        "mpc_http_requests_total",
        "mpc_http_request_duration_seconds_bucket",
        "mpc_selections_total",
        "mpc_fallbacks_total",
        "mpc_breaker_state",
        "mpc_queue_depth",
        "mpc_queue_oldest_job_age_seconds",
        "mpc_job_wait_seconds_bucket",
        "mpc_jobs_finished_total",
        "mpc_gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
        "mpc_gen_ai_client_token_usage",
        "mpc_workers_live",
        "mpc_jobs_in_progress",
    ):
        assert needed in exprs, f"no panel shows {needed}"
    assert re.search(r"histogram_quantile\([^,]+,\s*sum by \(queue, le\) \(rate\(mpc_job_wait_seconds_bucket", exprs)


def test_datasource_uid_matches_provisioning_and_json_is_sound() -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert len(provisioned) == 1
    source = provisioned[0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    for path in dashboard_files():
        dashboard = load(path)
        assert 36 <= dashboard["schemaVersion"] <= 41
        assert dashboard["uid"] and dashboard["title"] and dashboard.get("id") is None
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == source["uid"], panel["title"]
                assert target["refId"]
        refs = [t["refId"] for panel in panels(dashboard) for t in panel.get("targets", [])]
        assert refs


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]
    compose = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == providers[0]["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(providers[0]["options"]["path"] + "/")
    assert (DASHBOARDS / home.rsplit("/", 1)[1]).is_file()
    # Grafana's $__rate_interval is derived from the datasource's timeInterval: keep it the scrape interval.
    scrape = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())["global"]["scrape_interval"]
    assert yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["jsonData"]["timeInterval"] == scrape
