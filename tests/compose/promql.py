"""What the gateway and workers export, and what a dashboard's PromQL asks for.

`exported()` reads the metric definitions (the same classes the processes instantiate) and
lists every series name a scrape can carry, with its label names. `references()` picks
metric names, label matchers, grouping labels and called functions out of a PromQL
expression. It is a tokenizer, not a full parser: enough for dashboard queries, strict where
a mistake would hide (an unknown function or a name it cannot place fails the test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from metrics.definitions import GatewayMetrics, WorkerMetrics

# Series Prometheus adds to every target itself, and the labels every target gets (job and
# instance from Prometheus, service from compose/prometheus/prometheus.yml).
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
TARGET_LABELS = frozenset({"job", "instance", "service"})

_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
}


@dataclass(frozen=True)
class Series:
    name: str
    kind: str  # counter | gauge | histogram | summary (of the family the series belongs to)
    labels: frozenset[str]


def exported() -> dict[str, Series]:
    """Every series name GatewayMetrics and WorkerMetrics export -> its family's kind and labels.

    Names come from the registries; label names from the metric objects, since a labelled
    metric has no samples (so shows no labels) until a label set is first used.
    """
    out: dict[str, Series] = {}
    for metrics in (GatewayMetrics(), WorkerMetrics()):
        registry: CollectorRegistry = metrics.registry
        labels = {
            family.name: frozenset(getattr(metric, "_labelnames", ()))
            for metric in vars(metrics).values()
            if isinstance(metric, MetricWrapperBase)
            for family in metric.describe()
        }
        for family in registry.collect():
            assert family.name in labels, (
                f"{family.name} is registered but not an attribute of {type(metrics).__name__}"
            )
            for suffix in _SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                out[family.name + suffix] = Series(family.name + suffix, family.type, labels[family.name] | extra)
    return out


FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
        "clamp_min", "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month",
        "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
        "histogram_quantile", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate",
        "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "max_over_time",
        "min_over_time", "minute", "month", "predict_linear", "present_over_time", "quantile_over_time",
        "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "stddev_over_time",
        "stdvar_over_time", "sum_over_time", "time", "timestamp", "vector", "year",
    }
)  # fmt: skip
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
)
KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"})
KEYWORDS |= {"offset", "atan2", "inf", "nan", "Inf", "NaN"}

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_RATED = re.compile(r"\b(?:rate|irate|increase)\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


@dataclass
class References:
    metrics: set[str] = field(default_factory=set)
    matchers: dict[str, set[str]] = field(default_factory=dict)  # metric -> label names matched on
    grouping: set[str] = field(default_factory=set)  # labels in by/without/on/ignoring/group_*
    functions: set[str] = field(default_factory=set)
    rated: set[str] = field(default_factory=set)  # metrics directly under rate/irate/increase
    unknown_calls: set[str] = field(default_factory=set)


def references(expr: str) -> References:
    refs = References()
    text = _STRING.sub('""', expr)  # braces or names inside strings are not syntax
    for match in _SELECTOR.finditer(text):
        name, body = match.group(1), match.group(2)
        labels = set(_MATCHER.findall(body))
        if name is None:  # {__name__="x"} form
            raise AssertionError(f"selector without a metric name in {expr!r}")
        refs.matchers.setdefault(name, set()).update(labels)
    text = _SELECTOR.sub(lambda m: m.group(1) or "", text)
    text = _RANGE.sub("", text)
    refs.rated = set(_RATED.findall(text))
    for match in _GROUPING.finditer(text):
        refs.grouping.update(label.strip() for label in match.group(1).split(",") if label.strip())
    text = _GROUPING.sub(" ", text)
    for match in _IDENT.finditer(text):
        name, called = match.group(1), match.group(2)
        if called:
            (refs.functions if name in FUNCTIONS | AGGREGATIONS else refs.unknown_calls).add(name)
        elif name not in KEYWORDS:
            refs.metrics.add(name)
    return refs
