"""The two entry points: ``serve`` (REST + bus consumers + online training) and ``train`` (the Job)."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ServerConfig
from .drift import DRIFT_REFERENCE_FILE, DriftMonitor
from .metrics import Metrics
from .predictor import Predictor
from .rest import RestApp
from .storage import Storage, StorageError, open_storage
from .usercode import ModelState, PredictCode, TrainCode, import_module
from .workers import SharedReadiness

if TYPE_CHECKING:
    from .bus import Consumer

# The bus (pika) and training modules are imported by the models that use them: a REST-only model
# starts without them (about 0.1 s less from process start to the first answer).

log = logging.getLogger("aiar.server")

MODEL_POLL_S = 5.0
SWAP_GRACE_S = 2.0
"""How long a model replaced by bus training stays open for the requests that already hold it."""


def load_config(path: Path) -> ServerConfig:
    return ServerConfig.model_validate_json(path.read_bytes())


def train_code(config: ServerConfig) -> TrainCode:
    """train() from ``train.py``, or for an H2O model the same call answered by its ``train.jar``."""
    if config.jvm is not None and config.jvm.train_jar is not None:
        from .jartrain import train_code as jar_train_code

        return jar_train_code(config)
    return TrainCode.from_layout(config.code)


def _online(config: ServerConfig) -> bool:
    return bool(config.training and config.training.bus and config.training.bus.online)


class ModelLoader:
    """Fetches the model file and calls load() on a thread, so the server is live (not ready) meanwhile.

    With a ``model_key`` the file comes from storage; until training has uploaded it the loader keeps
    polling. Otherwise a file next to the code is used when present; an online model may start empty.
    """

    def __init__(
        self,
        config: ServerConfig,
        code: PredictCode,
        state: ModelState,
        storage: Storage | None,
        metrics: Metrics,
        stop: threading.Event,
    ) -> None:
        self.config, self.code, self.state = config, code, state
        self.storage, self.metrics, self.stop = storage, metrics, stop
        self.model_dir = Path(os.environ.get("AIAR_MODEL_DIR") or tempfile.mkdtemp(prefix="aiar-"))
        self.on_drift: Callable[[DriftMonitor], None] | None = None
        """Called with the drift monitor once the model and its reference are loaded."""

    def _fetch(self) -> Path | None:
        name = self.config.model_file
        if name is None:
            return None
        key = self.config.model_key
        if key and self.storage is not None and self.storage.exists(key):
            target = self.model_dir / Path(name).name
            self.storage.download(key, target)
            return target
        # Not (yet) in storage: a model file shipped next to the code serves meanwhile.
        src = Path(self.config.code.src_dir)
        return next((p for p in (src / name, src.parent / name) if p.is_file()), None)

    def _drift_reference(self) -> Path | None:
        """The training data's reference: beside the model in storage, else shipped with the code."""
        key = self.config.model_key
        if key and self.storage is not None:
            stored = key.rpartition("/")[0] + "/" + DRIFT_REFERENCE_FILE
            if self.storage.exists(stored):
                target = self.model_dir / DRIFT_REFERENCE_FILE
                self.storage.download(stored, target)
                return target
        shipped = Path(self.config.code.src_dir) / DRIFT_REFERENCE_FILE
        return shipped if shipped.is_file() else None

    def _watch_drift(self) -> None:
        drift = self.config.drift
        if drift is None:
            return
        try:
            path = self._drift_reference()
            monitor = DriftMonitor.load(path, drift.window) if path is not None else None
        except (StorageError, OSError, ValueError) as exc:
            log.warning("no drift reference: %s", exc)
            return
        if monitor is None:
            log.warning("drift is watched but no %s was saved at training", DRIFT_REFERENCE_FILE)
            return
        for name in monitor.inputs:
            self.metrics.input_drift.labels(name).set_function(functools.partial(monitor.score, name))
        if self.on_drift is not None:
            self.on_drift(monitor)

    def _must_wait(self) -> bool:
        stored = bool(self.config.model_file and self.config.model_key and self.storage)
        return stored and not _online(self.config)

    def run(self) -> None:
        while not self.stop.is_set():
            if self.state.version:
                return  # bus training swapped a model in first: nothing left to load
            started = time.perf_counter()
            try:
                path = self._fetch()
                if path is None and self._must_wait():
                    log.info("model %s not in storage yet; retrying in %.0fs", self.config.model_key, MODEL_POLL_S)
                    self.stop.wait(MODEL_POLL_S)
                    continue
                loads = self.code.load is not None and (path is not None or self.code.load_without_file)
                model = self.code.load(path) if (self.code.load and loads) else None
            except StorageError as exc:
                log.warning("%s; retrying in %.0fs", exc, MODEL_POLL_S)
                self.stop.wait(MODEL_POLL_S)
                continue
            except Exception:
                log.exception("load() failed; the server stays not ready")
                return
            seconds = time.perf_counter() - started
            if not self.state.set_first(model):
                if model is not None and self.code.close is not None:
                    self.code.close(model)
                return
            self.state.load_seconds = seconds
            self.metrics.model_load_seconds.set(seconds)
            self.metrics.model_loads.labels("start").inc()
            self._watch_drift()
            log.info("model ready after %.3fs (file: %s)", seconds, path)
            return


class ModelSwapper:
    """Puts a model trained from the bus live: a kept copy of its file, loaded, then the old one retired.

    The copy outlives the trainer's scratch directory (an H2O JVM that restarts reads its MOJO
    again). The replaced model stays usable for ``SWAP_GRACE_S`` for the requests that already hold
    it, then is closed (an H2O JVM gets EOF) and its copy deleted, so copies do not pile up.
    """

    def __init__(self, code: PredictCode, state: ModelState, model_dir: Path, metrics: Metrics | None = None) -> None:
        self.code, self.state, self.model_dir, self.metrics = code, state, model_dir, metrics
        self._count = 0
        self._live_dir: Path | None = None

    def swap(self, path: Path) -> None:
        self._count += 1
        kept = self.model_dir / f"trained-{self._count}" / path.name
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, kept)
        try:
            model = self.code.load(kept) if self.code.load else None
        except BaseException:
            shutil.rmtree(kept.parent, ignore_errors=True)
            raise
        old, old_dir, self._live_dir = self.state.replace(model), self._live_dir, kept.parent
        log.info("model replaced by bus training (%s)", path.name)
        if self.metrics is not None:
            self.metrics.model_loads.labels("training").inc()
        timer = threading.Timer(SWAP_GRACE_S, self._retire, args=(old, old_dir))
        timer.daemon = True
        timer.start()

    def _retire(self, model: object, directory: Path | None) -> None:
        if model is not None and self.code.close is not None:
            self.code.close(model)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _after_ready(state: ModelState, stop: threading.Event, consumer: Consumer) -> None:
    # Consuming before the model is loaded would only bounce messages; wait for it.
    while not stop.is_set():
        if state.wait_ready(0.5):
            consumer.run()
            return


def serve(
    config: ServerConfig,
    host: str,
    port: int | None = None,
    workers: int = 4,
    sockets: list[socket.socket] | None = None,
    shared: SharedReadiness | None = None,
) -> int:
    """Serve until stopped; ``sockets``: already listening ones, ``shared``: the readiness of all the
    processes (both for one of the processes of ``--processes N``)."""
    import uvicorn

    metrics = Metrics()
    state = ModelState()
    if config.jvm is not None:  # the compiler gave the model a JVM part: H2O
        from . import jvm

        code, health = jvm.predict_code(config)
        state.health = lambda: health(state.model)
    elif config.runner == "onnx":
        from .onnx_model import predict_code

        code = predict_code(config)
    else:
        code = PredictCode.from_layout(config.code, len(config.rest.parameters) if config.rest else 1)
    storage = open_storage(config.storage) if config.storage else None
    # read at each scrape: an H2O model whose JVM is restarting is loaded but cannot answer
    metrics.ready_from(lambda: state.ready)
    predictor = Predictor(config, code, state)
    app = RestApp(config, predictor, metrics, workers=workers)
    if shared is not None:
        shared.publish_from(lambda: state.ready)
        app.all_ready = shared.all_ready
    stop = threading.Event()
    loader = ModelLoader(config, code, state, storage, metrics, stop)
    loader.on_drift = predictor.watch
    threads = [threading.Thread(target=loader.run, name="model-loader", daemon=True)]
    if config.message_bus and config.prediction_bus:
        from .bus import Consumer
        from .bus_predict import PredictionHandler

        bus = config.prediction_bus
        consumer = Consumer(
            "prediction",
            config.message_bus,
            bus.queue,
            bus.input_keys,
            PredictionHandler(config.message_bus, bus, predictor, metrics),
            bus.prefetch,
            stop=stop,
        )
        consumer.on_depth = metrics.bus_backlog.labels("prediction").set
        threads.append(
            threading.Thread(target=_after_ready, args=(state, stop, consumer), name="bus-prediction", daemon=True)
        )
        if config.rest is None:
            # The bus is this model's only input: it is ready only while that input is connected.
            state.health = _also(
                state.health, lambda: None if consumer.connected.is_set() else "the bus is not connected"
            )
    buffered = config.training.bus if config.training else None
    if config.message_bus and buffered is not None and not buffered.online:
        # Buffered bus training runs beside serving: each new model is swapped in as soon as it exists.
        from .training import BufferTrainer, training_consumer

        swapper = ModelSwapper(code, state, loader.model_dir, metrics)
        trainer = BufferTrainer(config, train_code(config), storage, on_model=swapper.swap, metrics=metrics)
        training = training_consumer(config, trainer, "buffer-training")
        training.stop = stop
        training.on_depth = metrics.bus_backlog.labels("training").set
        threads.append(threading.Thread(target=training.run, name="bus-training", daemon=True))
    if config.message_bus and _online(config):
        from .training import OnlineUpdater, training_consumer

        updater = OnlineUpdater(config, _update_function(config, code), state, metrics)
        consumer = training_consumer(config, updater, "online-training")
        consumer.stop = stop
        consumer.on_depth = metrics.bus_backlog.labels("training").set
        threads.append(
            threading.Thread(target=_after_ready, args=(state, stop, consumer), name="bus-online-training", daemon=True)
        )
    for thread in threads:
        thread.start()
    listen = port if port is not None else (config.rest.port if config.rest else 8080)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=listen,
            lifespan="off",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    )
    try:
        server.run(sockets=sockets)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        if app.executor is not None:
            app.executor.shutdown(wait=False, cancel_futures=True)
    return 0


def _also(first: Callable[[], str | None] | None, second: Callable[[], str | None]) -> Callable[[], str | None]:
    """Both health checks: the first reason either gives (None when both can answer)."""
    if first is None:
        return second
    return lambda: first() or second()


def _update_function(config: ServerConfig, code: PredictCode) -> object:
    """update() from train.py (where the contract puts it), else from predict.py."""
    from .training import TrainingError

    try:
        update = TrainCode.from_layout(config.code).update
    except Exception:  # no train.py in this image: predict.py may carry update() instead
        update = None
    if update is None:
        update = code.update or getattr(import_module(config.code, config.code.predict_module), "update", None)
    if not callable(update):
        raise TrainingError("online training needs an update(model, record, hyperparameters)")
    return update


def train(config: ServerConfig, rounds: int | None = None, historic_only: bool = False) -> int:
    """Historic data first if configured, then (unless ``historic_only``) buffered bus training.

    The Kubernetes training Job runs ``historic_only`` so that it completes and serving can start;
    the prediction server then consumes the bus training keys itself and swaps each new model in.
    """
    from .bus import Publisher
    from .training import BufferTrainer, TrainingError, train_historic, training_consumer

    training = config.training
    if training is None or (training.historic is None and training.bus is None):
        log.error("this model has no training input")
        return 1
    code = train_code(config)
    storage = open_storage(config.storage) if config.storage else None
    if training.historic is not None:
        if storage is None:
            log.error("HISTORIC_DATA training needs storage in the config")
            return 1
        publisher = Publisher(config.message_bus) if config.message_bus else None
        try:
            stats = train_historic(config, code, storage, publisher)
        except TrainingError as exc:
            log.error("historic training failed: %s", exc)
            return 1
        finally:
            if publisher is not None:
                publisher.close()
        log.info("historic training done: %s", stats)
    if not historic_only and training.bus is not None and not training.bus.online and config.message_bus is not None:
        trainer = BufferTrainer(config, code, storage, rounds=rounds)
        consumer = training_consumer(config, trainer, "buffer-training")
        consumer.stop = trainer.finished
        consumer.run()
    return 0
