"""The one checks step before planning: every problem of the bundle against the environment, all at once.

A bundle that uses the bus, a schedule and Wazuh against an environment with none of them gets three
problems from one run, not one per run; its type's own needs (a JRE image, known layers, a safe
Dockerfile) come in the same run. Planning then assumes these hold.
"""

from __future__ import annotations

from ..environment import LoadedEnvironment
from ..errors import Problem
from ..kinds import kind_of
from ..load import LoadedBundle
from ..manifest import HistoricDataTraining
from .bus import uses_bus


def _common_problems(loaded: LoadedBundle, environment: LoadedEnvironment) -> list[Problem]:
    """What any model's inputs, schedule and monitoring need from the environment."""
    m, env = loaded.manifest, environment.env
    problems: list[Problem] = []
    if uses_bus(loaded) and env.message_bus is None:
        problems.append(
            loaded.problem("/input", "the manifest uses MESSAGE_BUS but the environment has no 'message_bus'")
        )
    if any(isinstance(t, HistoricDataTraining) for t in m.input.training) and env.storage is None:
        problems.append(loaded.problem("/input/training", "HISTORIC_DATA needs 'storage' in the environment"))
    if m.schedule is not None and env.base_images.kubectl is None:
        problems.append(
            loaded.problem("/schedule", "a schedule needs 'base_images.kubectl' in the environment (the scaler image)")
        )
    if m.monitoring is not None and m.monitoring.wazuh and env.wazuh is None:
        problems.append(
            loaded.problem(
                "/monitoring/wazuh", "Wazuh monitoring is enabled but the environment has no 'wazuh' section"
            )
        )
    if m.monitoring is not None and m.monitoring.prometheus and env.observability is None:
        problems.append(
            loaded.problem(
                "/monitoring/prometheus",
                "Prometheus monitoring is enabled but the environment has no 'observability' section",
            )
        )
    if m.monitoring is not None and m.monitoring.drift and not m.has_rest():
        problems.append(
            loaded.problem(
                "/monitoring/drift", "drift is watched on the REST_API parameters, and the manifest has none"
            )
        )
    auto = m.autoscaling
    if auto is not None and auto.minReplicas == 0 and m.has_rest():
        problems.append(
            loaded.problem(
                "/autoscaling/minReplicas",
                "a model with REST input keeps at least 1 replica (a HorizontalPodAutoscaler does not scale to zero)",
            )
        )
    return problems


def check_bundle(loaded: LoadedBundle, environment: LoadedEnvironment) -> list[Problem]:
    """Every problem planning would meet: the common needs, then those of the model's type."""
    return _common_problems(loaded, environment) + kind_of(loaded.manifest).environment_problems(loaded, environment)
