"""docs/metrics.md lists every exported metric, with its
type and labels as metrics/definitions.py defines them."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from metrics.definitions import GatewayMetrics, WorkerMetrics

METRICS_MD = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Metric table rows of docs/metrics.md: metric -> (type, labels in order)."""
    rows = {}
    for line in METRICS_MD.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`mpc_\w+`", cells[0]):
            rows[cells[0].strip("`")] = (cells[1], tuple(re.findall(r"`(\w+)`", cells[2])))
    return rows


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    defined = {}
    for metrics in (GatewayMetrics(), WorkerMetrics()):
        for metric in vars(metrics).values():
            if isinstance(metric, MetricWrapperBase):
                (family,) = metric.describe()
                name = family.name + ("_total" if family.type == "counter" else "")
                defined[name] = (family.type, tuple(getattr(metric, "_labelnames", ())))
    assert documented() == defined
