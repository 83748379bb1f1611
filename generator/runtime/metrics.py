"""Prometheus metrics. Labels are bounded sets (route templates, channels, outcomes), never request data.

Served by several processes (``serve --processes N``, see ``workers.py``), prometheus_client's
multiprocess mode applies: ``PROMETHEUS_MULTIPROC_DIR`` is set for every process before it imports
prometheus_client, each writes its values to files there, and ``/metrics`` (whichever process
answers) reports counters and histograms summed over all processes, ``aiar_model_ready`` as the
minimum over the living ones (1 only when every process can answer; refreshed each
``READY_REFRESH_S``) and ``aiar_model_load_seconds`` as their maximum. The ``process_*`` metrics
(RSS, CPU) are per process, so they are only reported by a single-process server.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
READY_REFRESH_S = 1.0


class Metrics:
    """One registry per server, so tests can run several servers in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        if self.multiprocess_dir is None:
            ProcessCollector(registry=self.registry)  # RSS, CPU, open fds: what capacity planning needs
        r = self.registry
        self.requests = Counter(
            "aiar_http_requests",
            "HTTP requests by route template and status code.",
            ["route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "aiar_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.predictions = Counter(
            "aiar_predictions",
            "Predictions made, by channel (rest, bus).",
            ["channel"],
            registry=r,
        )
        self.errors = Counter(
            "aiar_prediction_errors",
            "Failed predictions by channel and kind (request, predict, processor).",
            ["channel", "kind"],
            registry=r,
        )
        self.bus_messages = Counter(
            "aiar_bus_messages",
            "Bus messages handled, by consumer and outcome (ok, retried, dead_lettered).",
            ["consumer", "outcome"],
            registry=r,
        )
        self.model_load_seconds = Gauge(
            "aiar_model_load_seconds",
            "Time the last model load took (download + load()).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.model_ready = Gauge(
            "aiar_model_ready",
            "1 while the model can answer (loaded; for H2O, its JVM up).",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.model_updates = Counter(
            "aiar_model_updates",
            "Online training updates applied to the live model.",
            registry=r,
        )
        self.model_loads = Counter(
            "aiar_model_loads",
            "Models put live, by source (start: the first load; training: a model bus training swapped in).",
            ["source"],
            registry=r,
        )
        self.training_runs = Counter(
            "aiar_training_runs",
            "Bus trainings run by the server, by outcome (ok, failed).",
            ["outcome"],
            registry=r,
        )
        self.bus_backlog = Gauge(
            "aiar_bus_queue_messages",
            "Messages waiting in a consumer's queue (ready, not yet delivered), measured every few seconds.",
            ["consumer"],
            registry=r,
        )
        self.input_drift = Gauge(
            "aiar_input_drift_psi",
            "Population Stability Index of an input's recent values against the training data (NaN: too few yet).",
            ["input"],
            registry=r,
        )
        # every series exists from the start: an alert on increase() sees the first failure
        for source in ("start", "training"):
            self.model_loads.labels(source)
        for outcome in ("ok", "failed"):
            self.training_runs.labels(outcome)
        self.bus_messages.labels("prediction", "dead_lettered")

    def ready_from(self, ready: Callable[[], bool]) -> None:
        """``aiar_model_ready`` follows ``ready()``: read at each scrape, or with several processes
        written every ``READY_REFRESH_S`` (a scrape reads the other processes' files, not their state)."""
        if self.multiprocess_dir is None:
            self.model_ready.set_function(lambda: 1.0 if ready() else 0.0)
            return

        def refresh() -> None:
            while True:
                self.model_ready.set(1.0 if ready() else 0.0)
                time.sleep(READY_REFRESH_S)

        threading.Thread(target=refresh, name="metrics-ready", daemon=True).start()

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
