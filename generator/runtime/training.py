"""Training: from a stored dataset, from a buffer of bus records, or online, record by record.

Training statistics are published to the training output keys as
``{"model": slug, "version": n, "mode": "historic"|"buffer"|"online", "records": count, "stats": ...}``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from . import codec
from .bus import Consumer, Delivery, Publisher, publish_json, run_heartbeating
from .config import TRAINING_STATS_FILE, ServerConfig
from .drift import DRIFT_REFERENCE_FILE, reference_from_csv
from .metrics import Metrics
from .storage import Storage
from .usercode import ModelState, TrainCode

log = logging.getLogger("aiar.training")


class TrainingError(RuntimeError):
    pass


def model_file_name(config: ServerConfig) -> str:
    return config.model_file or "model.bin"


def stats_message(config: ServerConfig, mode: str, records: int | None, stats: Any, error: str | None = None) -> bytes:
    message = {"model": config.model.slug, "version": config.model.version, "mode": mode, "records": records}
    return codec.dumps({**message, "stats": stats} if error is None else {**message, "stats": None, "error": error})


def run_train(config: ServerConfig, code: TrainCode, dataset: Path, workdir: Path, storage: Storage | None) -> Any:
    """Call train(), check it wrote the model file, upload it to ``model_key``; return the stats."""
    stats = train_model(config, code, dataset, workdir)
    upload_model(config, workdir / model_file_name(config), storage, stats, "historic")
    save_drift_reference(config, dataset, workdir, storage)
    return stats


def save_drift_reference(config: ServerConfig, dataset: Path, workdir: Path, storage: Storage | None) -> Path | None:
    """The training data's reference statistics, beside the model (``drift-reference.json``)."""
    if config.drift is None or dataset.suffix.lower() != ".csv":
        return None
    path = workdir / DRIFT_REFERENCE_FILE
    path.write_bytes(codec.dumps(reference_from_csv(dataset, config.drift.inputs, config.drift.bins)))
    if storage is not None and config.model_key:
        storage.upload(path, config.model_key.rpartition("/")[0] + "/" + DRIFT_REFERENCE_FILE)
    return path


def train_model(config: ServerConfig, code: TrainCode, dataset: Path, workdir: Path) -> Any:
    """Call train() into ``workdir``; its stats, once the model file is there."""
    training = config.training
    hyperparameters = dict(training.hyperparameters) if training else {}
    model_path = workdir / model_file_name(config)
    log.info("training %s on %s", config.model.slug, dataset)
    stats = code.train(dataset, hyperparameters, model_path)
    if not model_path.is_file():
        raise TrainingError(f"train() returned but did not write the model file {model_path}")
    return stats


def upload_model(
    config: ServerConfig, model_path: Path, storage: Storage | None, stats: Any = None, mode: str = "historic"
) -> None:
    """The model file to ``model_key``, then its training statistics beside it (the file first: stats
    never describe a model that is not there)."""
    if storage is None or not config.model_key:
        return
    storage.upload(model_path, config.model_key)
    log.info("uploaded the model to %s", config.model_key)
    record = {
        "model": config.model.slug,
        "version": config.model.version,
        "mode": mode,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": config.model_key,
        "stats": stats,
    }
    stats_path = model_path.with_name(TRAINING_STATS_FILE)
    try:
        stats_path.write_bytes(codec.dumps(record))
    except (TypeError, ValueError):  # stats that are not JSON: the record says so rather than failing
        stats_path.write_bytes(codec.dumps({**record, "stats": repr(stats)[:10_000]}))
    storage.upload(stats_path, config.model_key.rpartition("/")[0] + "/" + TRAINING_STATS_FILE)


def train_historic(config: ServerConfig, code: TrainCode, storage: Storage, publisher: Publisher | None) -> Any:
    assert config.training is not None and config.training.historic is not None
    historic = config.training.historic
    with tempfile.TemporaryDirectory(prefix="aiar-train-") as tmp:
        dataset = Path(tmp) / "data" / Path(historic.file_name).name
        storage.download(historic.dataset_key, dataset)
        stats = run_train(config, code, dataset, Path(tmp), storage)
    if publisher is not None and config.training.output_keys:
        publisher.publish(config.training.output_keys, stats_message(config, "historic", None, stats))
    return stats


def records_csv(records: list[dict[str, Any]]) -> bytes:
    """Bus records as CSV for H2O's parser: a header of every key (first seen first), a row per record.

    Strings are written as they are, numbers and booleans as their JSON text, nested values as JSON,
    and a missing or null value as an empty cell (H2O reads it as NA). Keys H2O cannot take as a
    column name (empty, a leading ``#``, a quote or a line break) are a :class:`TrainingError`.
    """
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    unusable = [key for key in columns if not key or key.startswith("#") or any(c in key for c in '"\r\n')]
    if unusable:
        names = ", ".join(json.dumps(key) for key in unusable)
        raise TrainingError(f"record keys that cannot be CSV column names for H2O: {names}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow(_cell(record.get(column)) for column in columns)
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return codec.dumps(value).decode()


def buffer_bytes(records: list[dict[str, Any]], buffer_format: str) -> bytes:
    if buffer_format == "csv":
        return records_csv(records)
    return b"".join(codec.dumps(r) + b"\n" for r in records)


class BufferTrainer:
    """Collects ``buffer`` records unacked, trains on them (JSON lines, or CSV for H2O), then acks them all.

    Holding the acks until the model is uploaded means a crash mid-way loses nothing: the broker
    redelivers the whole buffer. That is why prefetch must be at least ``buffer``. A training that
    fails (train() raised, or the new model does not load) is reported on the training output keys
    and its records are dropped: trained again, they would fail again.
    """

    def __init__(
        self,
        config: ServerConfig,
        code: TrainCode,
        storage: Storage | None,
        rounds: int | None = None,
        on_model: Callable[[Path], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        assert config.training is not None and config.training.bus is not None
        self.metrics = metrics
        self.on_model = on_model
        """Called with the new model file before it is uploaded: the prediction server swaps it in,
        and raises when it cannot (a model that does not load is never published)."""
        self.config = config
        self.code = code
        self.storage = storage
        self.size = config.training.bus.buffer
        self.rounds_left = rounds
        self.finished = threading.Event()
        self.records: list[dict[str, Any]] = []

    def on_connected(self, channel: BlockingChannel) -> None:
        self.records = []  # unacked records of a dead connection come back by redelivery

    def handle(self, channel: BlockingChannel, delivery: Delivery) -> None:
        record = _record(delivery.body)
        if record is None:
            channel.basic_reject(delivery.tag, requeue=False)
            return
        self.records.append(record)
        if len(self.records) < self.size:
            return
        with tempfile.TemporaryDirectory(prefix="aiar-train-") as tmp:
            # Only the training's own failures are caught: the connection's propagate to the consumer.
            stats, failure = run_heartbeating(channel, lambda: self._attempt(Path(tmp)))
        assert self.config.training is not None
        if failure is None:
            message = stats_message(self.config, "buffer", len(self.records), stats)
        else:
            log.error("bus training on %d records failed; they are dropped: %s", len(self.records), failure)
            message = stats_message(self.config, "buffer", len(self.records), None, error=str(failure)[:1000])
        if self.metrics is not None:
            self.metrics.training_runs.labels("ok" if failure is None else "failed").inc()
        publish_json(channel, _exchange(self.config), self.config.training.output_keys, message)
        if failure is None:
            channel.basic_ack(delivery.tag, multiple=True)
        else:
            channel.basic_nack(delivery.tag, multiple=True, requeue=False)
        self.records = []
        if self.rounds_left is not None:
            self.rounds_left -= 1
            if self.rounds_left <= 0:
                self.finished.set()

    def _attempt(self, workdir: Path) -> tuple[Any, Exception | None]:
        """Train on the buffer, swap the model in, then upload it; ``(stats, None)`` or ``(None, why)``."""
        try:
            dataset = workdir / f"buffer.{self.code.buffer_format}"
            dataset.write_bytes(buffer_bytes(self.records, self.code.buffer_format))
            stats = train_model(self.config, self.code, dataset, workdir)
            model_path = workdir / model_file_name(self.config)
            if self.on_model is not None:
                self.on_model(model_path)
            upload_model(self.config, model_path, self.storage, stats, "buffer")
        except TrainingError as exc:
            return None, exc
        except Exception as exc:  # the bundle's own code raised: its traceback helps its author
            log.exception("bus training failed")
            return None, exc
        return stats, None


class OnlineUpdater:
    """Applies update(model, record, hyperparameters) to the live model, one record at a time."""

    def __init__(self, config: ServerConfig, update: Any, state: ModelState, metrics: Metrics) -> None:
        self.config = config
        self.update = update
        self.state = state
        self.metrics = metrics
        self.hyperparameters = dict(config.training.hyperparameters) if config.training else {}
        self.records = 0

    def on_connected(self, channel: BlockingChannel) -> None:
        pass

    def handle(self, channel: BlockingChannel, delivery: Delivery) -> None:
        record = _record(delivery.body)
        if record is None:
            channel.basic_reject(delivery.tag, requeue=False)
            return
        try:
            with self.state.update_lock:
                self.state.set(self.update(self.state.model, record, self.hyperparameters))
        except Exception:
            # Requeueing would replay the same failure forever: log it and drop the record.
            log.exception("update() failed; the record is dropped")
            channel.basic_reject(delivery.tag, requeue=False)
            self.metrics.bus_messages.labels("training", "rejected").inc()
            return
        self.records += 1
        self.metrics.model_updates.inc()
        assert self.config.training is not None
        publish_json(
            channel,
            _exchange(self.config),
            self.config.training.output_keys,
            stats_message(self.config, "online", self.records, None),
        )
        channel.basic_ack(delivery.tag)


def _exchange(config: ServerConfig) -> str:
    return config.message_bus.exchange if config.message_bus else "amq.topic"


def _record(body: bytes) -> dict[str, Any] | None:
    try:
        record = codec.loads(body)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        log.error("dropping a training record that is not a JSON object")
        return None
    return record


def training_consumer(config: ServerConfig, handler: Any, name: str) -> Consumer:
    assert config.message_bus is not None and config.training and config.training.bus
    bus = config.training.bus
    return Consumer(
        name=name,
        config=config.message_bus,
        queue=bus.queue,
        keys=bus.input_keys,
        handler=handler,
        prefetch=bus.buffer if not bus.online else 16,
    )
