"""A scheduled model starts with the replicas its schedule gives it at apply time, in its timezone."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from generator.apply.outdir import read_out
from generator.apply.replicas import scheduled_replicas, with_replicas
from generator.pipeline import discover_bundles, generate
from tests.conftest import EXAMPLE_ENV, REPO

MADRID = ZoneInfo("Europe/Madrid")


def _generate(work: Path, env: Path) -> Path:
    shutil.copy(REPO / "aiar.lock", work / "aiar.lock")
    # The quality classifier: Mon-Fri 06:00-22:00, Europe/Madrid.
    generate(discover_bundles(REPO / "bundles"), env, work / "aiar.lock", work / "out")
    return work / "out"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples as committed, without autoscaling: the schedule alone owns the replicas."""
    return _generate(tmp_path_factory.mktemp("replicas"), EXAMPLE_ENV)


@pytest.fixture(scope="module")
def autoscaled_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples with autoscaling on: the quality classifier under an HPA and a schedule."""
    work = tmp_path_factory.mktemp("autoscaled")
    env = work / "environment.yaml"
    env.write_text(EXAMPLE_ENV.read_text() + "autoscaling:\n  enabled: true\n")
    return _generate(work, env)


@pytest.mark.parametrize(
    ("when", "replicas"),
    [
        (datetime(2026, 12, 4, 20, 30, tzinfo=MADRID), 1),  # Friday evening, before the 22:00 stop
        (datetime(2026, 12, 4, 22, 30, tzinfo=MADRID), 0),  # Friday night: stopped until Monday
        (datetime(2026, 12, 5, 12, 0, tzinfo=MADRID), 0),  # Saturday noon
        (datetime(2026, 12, 7, 5, 59, tzinfo=MADRID), 0),  # Monday, a minute before the start
        (datetime(2026, 12, 7, 6, 0, tzinfo=MADRID), 1),  # Monday 06:00 sharp
        # 21:30 UTC on a Friday in summer is 23:30 in Madrid (UTC+2): stopped.
        (datetime(2026, 7, 3, 21, 30, tzinfo=UTC), 0),
        # 20:30 UTC on a Friday in winter is 21:30 in Madrid (UTC+1): running.
        (datetime(2026, 12, 4, 20, 30, tzinfo=UTC), 1),
    ],
)
def test_replicas_follow_the_schedule_in_its_timezone(out: Path, when: datetime, replicas: int) -> None:
    objects = read_out(out).objects
    assert scheduled_replicas(objects, when) == {"quality-classifier": replicas}
    [deployment] = [o for o in objects if o.kind == "Deployment" and o.model == "quality-classifier"]
    assert "replicas" not in deployment.body["spec"]  # out/ stays clock-free
    assert with_replicas(deployment, scheduled_replicas(objects, when))["spec"]["replicas"] == replicas


def test_unscheduled_models_keep_their_own_replicas(out: Path) -> None:
    objects = read_out(out).objects
    [deployment] = [o for o in objects if o.kind == "Deployment" and o.model == "greeting-service"]
    body = with_replicas(deployment, scheduled_replicas(objects, datetime(2026, 12, 5, tzinfo=UTC)))
    assert body is deployment.body


@pytest.mark.parametrize(
    ("when", "replicas"),
    [
        (datetime(2026, 12, 4, 20, 30, tzinfo=MADRID), None),  # running: the HPA's to scale
        (datetime(2026, 12, 4, 22, 30, tzinfo=MADRID), 0),  # stopped: held at 0 (the HPA idles at 0)
        (datetime(2026, 12, 7, 6, 0, tzinfo=MADRID), None),
    ],
)
def test_an_autoscaled_deployment_gets_replicas_only_to_stop(
    autoscaled_out: Path, when: datetime, replicas: int | None
) -> None:
    objects = read_out(autoscaled_out).objects
    [deployment] = [o for o in objects if o.kind == "Deployment" and o.model == "quality-classifier"]
    assert deployment.body["metadata"]["annotations"]["aiar.dev/autoscaled-by"] == "HorizontalPodAutoscaler"
    assert [o.kind for o in objects if o.model == "quality-classifier" and o.kind == "HorizontalPodAutoscaler"]
    body = with_replicas(deployment, scheduled_replicas(objects, when))
    assert body["spec"].get("replicas") == replicas
