"""The one checks step before planning: everything a bundle needs from the environment, all at once.

A bundle that uses the bus, a schedule and Wazuh against an environment with none of them gets three
problems from one run, not one per run. Planning then assumes these hold.
"""

from __future__ import annotations

from .environment import LoadedEnvironment
from .errors import Problem
from .load import LoadedBundle
from .manifest import BusPrediction, BusTraining, DockerLayersModel, H2OModel, HistoricDataTraining


def uses_bus(loaded: LoadedBundle) -> bool:
    m = loaded.manifest
    bus_in = any(isinstance(p, BusPrediction) for p in m.input.prediction)
    bus_train = any(isinstance(t, BusTraining) for t in m.input.training)
    return bus_in or bus_train or bool(m.output.prediction or m.output.training)


def environment_problems(loaded: LoadedBundle, environment: LoadedEnvironment, local: bool = False) -> list[Problem]:
    """What the bundle needs that the environment lacks, plus the type rules that need both.

    ``local``: for ``aiar serve``, which runs without a cluster: no bus is simply not used, storage
    is a directory, and nothing is built or scheduled.
    """
    m, env = loaded.manifest, environment.env
    problems: list[Problem] = []
    if not local:
        if uses_bus(loaded) and env.message_bus is None:
            problems.append(
                loaded.problem("/input", "the manifest uses MESSAGE_BUS but the environment has no 'message_bus'")
            )
        if any(isinstance(t, HistoricDataTraining) for t in m.input.training) and env.storage is None:
            problems.append(loaded.problem("/input/training", "HISTORIC_DATA needs 'storage' in the environment"))
        if isinstance(m.modelData, H2OModel) and env.base_images.java is None:
            problems.append(
                loaded.problem(
                    "/modelData/type", "an H2O model needs 'base_images.java' (a JRE image) in the environment"
                )
            )
        if m.schedule is not None and env.base_images.kubectl is None:
            problems.append(
                loaded.problem(
                    "/schedule", "a schedule needs 'base_images.kubectl' in the environment (the scaler image)"
                )
            )
        if m.monitoring is not None and m.monitoring.wazuh and env.wazuh is None:
            problems.append(
                loaded.problem(
                    "/monitoring/wazuh", "Wazuh monitoring is enabled but the environment has no 'wazuh' section"
                )
            )
    if isinstance(m.modelData, DockerLayersModel) and m.input.training:
        problems.append(
            loaded.problem("/input/training", "a DOCKER_LAYERS model trains inside its own image: no training input")
        )
    return problems
