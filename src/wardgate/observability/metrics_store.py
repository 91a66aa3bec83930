"""Counters and histograms cheap enough for the request path: a family keeps one cell per label tuple in a dict,
and recording is a dict lookup and a few float additions (prometheus_client's ``labels().inc()`` costs several
times that). With several workers each cell also lives in this process's shared file (``metrics_shared``), one
8-byte store per value changed, so a scrape of any worker sees every worker's numbers at once.

Labels whose value is ``""`` are left out of a sample (Prometheus reads an empty label as an absent one): that is
how an opt-in label (``team``) stays out of the output when it is off.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from wardgate.observability.metrics_shared import SharedFile, entry_key, process_token

LabelValues = tuple[str, ...]
_DOUBLE = struct.Struct("d").pack


class CounterCell:
    __slots__ = ("labels", "position", "value")

    def __init__(self, labels: dict[str, str], position: int) -> None:
        self.labels = labels
        self.position = position
        self.value = 0.0


class HistogramCell:
    __slots__ = ("counts", "labels", "positions", "sum")

    def __init__(self, labels: dict[str, str], buckets: int, positions: list[int]) -> None:
        self.labels = labels
        self.counts = [0] * buckets
        """Per bucket (not cumulative), as the shared files keep them."""
        self.sum = 0.0
        self.positions = positions
        """Where each bucket's count lives in the shared file, then the sum's; empty for one process alone."""


class Counter:
    """A counter family: ``inc(label values, amount)``."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], shared: SharedFile | None) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.cells: dict[LabelValues, CounterCell] = {}
        self._shared = shared

    def inc(self, key: LabelValues, amount: float = 1.0) -> None:
        cell = self.cells.get(key)
        if cell is None:
            cell = self._add(key)
        value = cell.value = cell.value + amount
        shared = self._shared
        if shared is not None:  # SharedFile.write, inlined: this is the request path
            position = cell.position
            shared.m[position : position + 8] = _DOUBLE(value)

    def _add(self, key: LabelValues) -> CounterCell:
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected, got {len(key)}")
        labels = _labels(self.labelnames, key)
        position = -1
        if self._shared is not None:
            position = self._shared.slot(entry_key(self.name, self.name + "_total", labels, self.documentation))
        cell = self.cells[key] = CounterCell(labels, position)
        return cell

    def collect(self) -> Metric:
        metric = Metric(self.name, self.documentation, "counter")
        for cell in self.cells.values():
            metric.add_sample(self.name + "_total", cell.labels, cell.value)
        return metric


class Histogram:
    """A histogram family: ``observe(label values, value)``. ``bounds`` are the upper bounds (``le``), ascending;
    +Inf is added."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        bounds: Sequence[float],
        shared: SharedFile | None,
    ) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"{name}: bucket bounds must be distinct and ascending")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds: tuple[float, ...] = (*(float(b) for b in bounds), math.inf)
        self._le = tuple(floatToGoString(b) for b in self.bounds)  # type: ignore[no-untyped-call]
        self.cells: dict[LabelValues, HistogramCell] = {}
        self._shared = shared

    def observe(self, key: LabelValues, value: float) -> None:
        cell = self.cells.get(key)
        if cell is None:
            cell = self._add(key)
        index = bisect_left(self.bounds, value)  # the first bucket whose bound is >= value
        counts = cell.counts
        count = counts[index] = counts[index] + 1
        total = cell.sum = cell.sum + value
        shared = self._shared
        if shared is not None:  # SharedFile.write, inlined
            m, position = shared.m, cell.positions[index]
            m[position : position + 8] = _DOUBLE(count)
            position = cell.positions[-1]
            m[position : position + 8] = _DOUBLE(total)

    def _add(self, key: LabelValues) -> HistogramCell:
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected, got {len(key)}")
        labels = _labels(self.labelnames, key)
        positions: list[int] = []
        shared = self._shared
        if shared is not None:  # every bucket now: the merge only shows buckets some file has
            bucket = self.name + "_bucket"
            positions = [
                shared.slot(entry_key(self.name, bucket, {**labels, "le": le}, self.documentation)) for le in self._le
            ]
            positions.append(shared.slot(entry_key(self.name, self.name + "_sum", labels, self.documentation)))
        cell = self.cells[key] = HistogramCell(labels, len(self.bounds), positions)
        return cell

    def collect(self) -> Metric:
        metric = Metric(self.name, self.documentation, "histogram")
        for cell in self.cells.values():
            total = 0
            for le, count in zip(self._le, cell.counts, strict=True):
                total += count
                metric.add_sample(self.name + "_bucket", {**cell.labels, "le": le}, float(total))
            metric.add_sample(self.name + "_count", cell.labels, float(total))
            metric.add_sample(self.name + "_sum", cell.labels, cell.sum)
        return metric


class Store(Collector):
    """This process's families. ``directory`` (several workers): values also go to this process's shared files,
    and a scrape reads the merge of every worker's files instead of ``collect``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.token = process_token()
        self.families: list[Counter | Histogram] = []
        self._counters: SharedFile | None = None
        self._histograms: SharedFile | None = None
        if directory is not None:
            self._counters = SharedFile(directory / f"counter_{self.token}.db")
            self._histograms = SharedFile(directory / f"histogram_{self.token}.db")

    def counter(self, name: str, documentation: str, labelnames: Sequence[str]) -> Counter:
        family = Counter(name, documentation, labelnames, self._counters)
        self.families.append(family)
        return family

    def histogram(self, name: str, documentation: str, labelnames: Sequence[str], bounds: Sequence[float]) -> Histogram:
        family = Histogram(name, documentation, labelnames, bounds, self._histograms)
        self.families.append(family)
        return family

    def collect(self) -> Iterator[Metric]:
        """Families with samples (as the merge of shared files shows them)."""
        for family in self.families:
            if family.cells:
                yield family.collect()

    def close(self) -> None:
        for shared in (self._counters, self._histograms):
            if shared is not None:
                shared.close()


def _labels(names: tuple[str, ...], values: LabelValues) -> dict[str, str]:
    return {name: value for name, value in zip(names, values, strict=True) if value != ""}
