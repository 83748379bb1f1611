"""The bus part of the model server's config: the connection and the prediction queue, and which
models use the bus at all (the checks step asks that too)."""

from __future__ import annotations

from .. import defaults
from ..environment import Environment
from ..load import LoadedBundle
from ..manifest import BusOutput, BusPrediction, BusTraining, Manifest
from ..runtime import config as rc


def uses_bus(loaded: LoadedBundle) -> bool:
    m = loaded.manifest
    bus_in = any(isinstance(p, BusPrediction) for p in m.input.prediction)
    bus_train = any(isinstance(t, BusTraining) for t in m.input.training)
    return bus_in or bus_train or bool(m.output.prediction or m.output.training)


def routing_keys(entries: list[BusPrediction] | list[BusTraining] | list[BusOutput]) -> tuple[str, ...]:
    """Every entry's routing keys, each once, in the manifest's order."""
    keys: list[str] = []
    for entry in entries:
        keys.extend(k.name for k in entry.payload.routingKeys if k.name not in keys)
    return tuple(keys)


def bus_connection(loaded: LoadedBundle, env: Environment) -> rc.BusConnection | None:
    bus = env.message_bus
    if bus is None or not uses_bus(loaded):
        return None
    return rc.BusConnection(host=bus.host, port=bus.port, vhost=bus.vhost)


def prediction_bus(slug: str, m: Manifest) -> rc.PredictionBus | None:
    bus_in = [p for p in m.input.prediction if isinstance(p, BusPrediction)]
    if not bus_in:
        return None
    return rc.PredictionBus(
        input_keys=routing_keys(bus_in),
        output_keys=routing_keys(m.output.prediction),
        queue=defaults.queue_name(slug, "predict"),
        dead_letter_queue=defaults.queue_name(slug, "predict.dead"),
        prefetch=defaults.BUS_PREFETCH,
        max_retries=defaults.BUS_MAX_RETRIES,
    )
