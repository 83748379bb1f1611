"""Input drift: how far the inputs the model is asked about moved from the data it was trained on.

The statistic is the Population Stability Index (PSI) per numeric input: the training data's deciles
(its reference, saved with the model at training as ``drift-reference.json``) cut the values into
bins, and ``sum((a - e) * ln(a / e))`` over the bins compares the share ``e`` of the training data
with the share ``a`` of the last ``window`` values seen. 0 is no change; above 0.2 is the usual
"significant shift". It is plain arithmetic over a bounded window (a deque per input), so the server
gains no dependency: frouros, the maintained drift library, pulls numpy and scipy into an image that
has neither. The gauge is computed when scraped, not per request.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DRIFT_REFERENCE_FILE = "drift-reference.json"
MAX_REFERENCE_ROWS = 200_000
"""Rows of the training data read for the reference: bounded work whatever the dataset's size."""
MIN_SAMPLES = 30
"""Below this many values in the window the score is NaN (no alert on a handful of requests)."""
_EPSILON = 1e-4


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def reference(columns: Mapping[str, Iterable[Any]], bins: int) -> dict[str, Any]:
    """The reference of each input: its inner bin edges (quantiles) and the share of values per bin."""
    inputs: dict[str, Any] = {}
    for name, raw in columns.items():
        values = sorted(v for v in (_number(x) for x in raw) if v is not None)
        if len(values) < bins:
            continue
        edges = sorted({values[len(values) * i // bins] for i in range(1, bins)})
        counts = [0] * (len(edges) + 1)
        for v in values:
            counts[bisect.bisect_right(edges, v)] += 1
        inputs[name] = {"edges": edges, "expected": [c / len(values) for c in counts]}
    return {"statistic": "psi", "inputs": inputs}


def reference_from_csv(path: Path, names: Iterable[str], bins: int) -> dict[str, Any]:
    """The reference from a CSV training set's columns named like the inputs (others are ignored)."""
    wanted = set(names)
    columns: dict[str, list[str]] = {}
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        present = [n for n in (reader.fieldnames or ()) if n in wanted]
        columns = {n: [] for n in present}
        for i, row in enumerate(reader):
            if i >= MAX_REFERENCE_ROWS:
                break
            for n in present:
                columns[n].append(row.get(n) or "")
    return reference(columns, bins)


def psi(expected: list[float], actual: list[int]) -> float:
    total = sum(actual)
    score = 0.0
    for e, count in zip(expected, actual, strict=True):
        a = max(count / total, _EPSILON)
        e = max(e, _EPSILON)
        score += (a - e) * math.log(a / e)
    return score


class DriftMonitor:
    """The last ``window`` values of each referenced input, and their PSI against the reference."""

    def __init__(self, ref: Mapping[str, Any], window: int) -> None:
        self.inputs: dict[str, Any] = dict(ref.get("inputs") or {})
        self._values = {name: deque[float](maxlen=window) for name in self.inputs}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, window: int) -> DriftMonitor:
        return cls(json.loads(path.read_text()), window)

    def observe(self, values: Any) -> None:
        if not isinstance(values, Mapping):
            return
        with self._lock:
            for name, window in self._values.items():
                number = _number(values.get(name))
                if number is not None:
                    window.append(number)

    def score(self, name: str) -> float:
        ref = self.inputs[name]
        with self._lock:
            seen = list(self._values[name])
        if len(seen) < MIN_SAMPLES:
            return math.nan
        counts = [0] * len(ref["expected"])
        for v in seen:
            counts[bisect.bisect_right(ref["edges"], v)] += 1
        return psi(ref["expected"], counts)
