"""Metrics in the Prometheus text format (version 0.0.4), by hand.

Two kinds of source feed one registry:

* live instruments (``Counter``, ``Histogram``) that code updates as things
  happen, such as the request counts and latencies;
* collectors: callables run at scrape time that read a component's own
  statistics (``StashClient.stats``, ``TTLCache.stats``, a scene index's
  ``stats()``) and return ``Family`` objects built with ``counter()`` and
  ``gauge()``.  A component plugs in with ``registry.register(collect)``.

The format is small enough that a dependency would add more than it saves;
the tests read the output back with Prometheus's own parser.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
KINDS = ("counter", "gauge", "histogram")

Labels = Mapping[str, str]
# A series' labels as (name, value) pairs: the key of a family's values.
LabelPairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class Family:
    """One metric: its name, type, help text and samples."""

    name: str
    kind: str
    help: str
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"{self.name!r} is not a metric name")
        if self.kind not in KINDS:
            raise ValueError(f"{self.kind!r} is not one of {KINDS}")

    def add(self, value: float, labels: Labels | None = None, *, suffix: str = "") -> Family:
        pairs = tuple((labels or {}).items())
        for key, _ in pairs:
            if not _LABEL.match(key) or key.startswith("__"):
                raise ValueError(f"{key!r} is not a label name")
        self.samples.append(Sample(self.name + suffix, pairs, float(value)))
        return self


def counter(name: str, help: str, value: float | Mapping[LabelPairs, float] | None = None,
            labels: Labels | None = None) -> Family:
    """A counter family; ``value`` is one number, or {label pairs: number}."""
    return _family(name, "counter", help, value, labels)


def gauge(name: str, help: str, value: float | Mapping[LabelPairs, float] | None = None,
          labels: Labels | None = None) -> Family:
    return _family(name, "gauge", help, value, labels)


def _family(name: str, kind: str, help: str, value: float | Mapping[LabelPairs, float] | None,
            labels: Labels | None) -> Family:
    family = Family(name, kind, help)
    if isinstance(value, Mapping):
        for pairs, number in value.items():
            family.add(number, dict(pairs))
    elif value is not None:
        family.add(value, labels)
    return family


# ---------------------------------------------------------------- live instruments


class Counter:
    """A counter with labels, safe to increment from any thread."""

    def __init__(self, name: str, help: str, label_names: Sequence[str] = ()):
        self._family = Family(name, "counter", help)  # validates the name
        self.label_names = tuple(label_names)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        key = tuple(label_values)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *label_values: str) -> float:
        with self._lock:
            return self._values.get(tuple(label_values), 0.0)

    def collect(self) -> list[Family]:
        family = Family(self._family.name, "counter", self._family.help)
        with self._lock:
            items = sorted(self._values.items())
        for key, number in items:
            family.add(number, dict(zip(self.label_names, key, strict=False)))
        return [family]


# Seconds: from a cached answer (a few ms) to Plex's own limit (~90 s).
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Histogram:
    """A histogram with labels: cumulative buckets, sum and count."""

    def __init__(self, name: str, help: str, label_names: Sequence[str] = (),
                 buckets: Sequence[float] = DEFAULT_BUCKETS):
        self._family = Family(name, "histogram", help)
        self.label_names = tuple(label_names)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., sum, count
        self._lock = threading.Lock()

    def observe(self, value: float, *label_values: str) -> None:
        key = tuple(label_values)
        slot = bisect_left(self.buckets, value)  # the first bucket whose bound is >= value
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = [0.0] * (len(self.buckets) + 2)
            if slot < len(self.buckets):
                series[slot] += 1
            series[-2] += value
            series[-1] += 1

    def count(self, *label_values: str) -> float:
        with self._lock:
            series = self._series.get(tuple(label_values))
            return series[-1] if series else 0.0

    def collect(self) -> list[Family]:
        family = Family(self._family.name, "histogram", self._family.help)
        with self._lock:
            items = sorted((key, list(series)) for key, series in self._series.items())
        for key, series in items:
            labels = dict(zip(self.label_names, key, strict=False))
            running = 0.0
            for bound, number in zip(self.buckets, series, strict=False):  # series ends with the +Inf count
                running += number
                family.add(running, {**labels, "le": _number(bound)}, suffix="_bucket")
            family.add(series[-1], {**labels, "le": "+Inf"}, suffix="_bucket")
            family.add(series[-2], labels, suffix="_sum")
            family.add(series[-1], labels, suffix="_count")
        return [family]


# ---------------------------------------------------------------- registry and text format

Collector = Callable[[], Iterable[Family]]


class MetricsRegistry:
    def __init__(self) -> None:
        self._collectors: list[tuple[str, Collector]] = []
        self._lock = threading.Lock()

    def register(self, collect: Collector, name: str | None = None) -> None:
        """Add a source of families, run at every scrape.  A live instrument's
        ``collect`` method is one too."""
        with self._lock:
            self._collectors.append((name or str(getattr(collect, "__qualname__", "collector")), collect))

    def collect(self) -> list[Family]:
        with self._lock:
            collectors = list(self._collectors)
        families: dict[str, Family] = {}
        for name, collect in collectors:
            try:
                found = list(collect())
            except Exception:  # one broken source must not hide the others
                log.exception("metrics collector %s failed", name)
                continue
            for family in found:
                known = families.get(family.name)
                if known is None:
                    families[family.name] = Family(family.name, family.kind, family.help, list(family.samples))
                elif known.kind == family.kind:
                    known.samples.extend(family.samples)
                else:
                    log.warning("metric %s reported as both %s and %s; the second is dropped",
                                family.name, known.kind, family.kind)
        return list(families.values())

    def render(self) -> str:
        return render(self.collect())


def render(families: Iterable[Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            if sample.labels:
                labels = ",".join(f'{key}="{_escape_label(str(value))}"' for key, value in sample.labels)
                lines.append(f"{sample.name}{{{labels}}} {_number(sample.value)}")
            else:
                lines.append(f"{sample.name} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


# ---------------------------------------------------------------- HTTP requests

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})


# ---------------------------------------------------------------- HTTP requests


def outcome_of(status: int) -> str:
    if status == 403:
        return "denied"
    if status == 503:
        return "unavailable"
    if status >= 500:
        return "error"
    if status >= 400:
        return "client_error"
    return "ok"


class RequestMetrics:
    """Counts and times every request; told by the request log middleware."""

    def __init__(self) -> None:
        self.requests = Counter("s2p_http_requests_total", "HTTP requests answered, by route, method, status "
                                "and outcome (ok, client_error, denied, unavailable, error)",
                                ("route", "method", "status", "outcome"))
        self.latency = Histogram("s2p_http_request_duration_seconds", "Time to answer an HTTP request, by route",
                                 ("route",))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        # Methods come from clients: any other word would be a new series.
        method = method if method in KNOWN_METHODS else "other"
        self.requests.inc(route, method, str(status), outcome_of(status))
        self.latency.observe(seconds, route)

    def collect(self) -> list[Family]:
        return self.requests.collect() + self.latency.collect()
