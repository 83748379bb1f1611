"""The generated monitoring objects against the real thing: a running model server, a real Prometheus
(Debian's ``prometheus``) scraping it, and ``promtool`` over every generated rule.

- every query of every generated dashboard panel and alert names a metric a running server exports
  (read from its ``/metrics``, not from a list);
- ``promtool check rules`` passes on each PrometheusRule's groups;
- ``promtool test rules`` proves each alert fires on synthetic series of a sick model and stays quiet
  on those of a healthy one;
- Prometheus scrapes a running server (labelled as the PodMonitor labels it), loads the model's
  rules, and every dashboard query evaluates, with data, through its HTTP API;
- the dashboard JSON loads into grafana-foundation-sdk's typed Dashboard model and round-trips.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from generator.runtime import drift
from tests.conftest import REPO
from tests.platform.proc import free_port, port_open, terminate
from tests.platform.rabbitmq import RabbitNode
from tests.waiting import poll

from .bundles import ECHO_PREDICT, base_config, bus_connection, prediction_bus, write_bundle
from .conftest import RunningServer

TREES = (REPO / "out", REPO / "tests" / "goldens" / "variants")
# a metric selector: a name right before its label matchers (every query names its model's labels)
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


def _objects(kind: str) -> list[dict[str, Any]]:
    found = []
    for tree in TREES:
        for path in sorted(tree.glob("*/k8s/*.yaml")):
            obj = yaml.safe_load(path.read_text())
            if obj["kind"] == kind:
                found.append(obj)
    return found


def _rules() -> list[dict[str, Any]]:
    return _objects("PrometheusRule")


def _dashboards() -> list[dict[str, Any]]:
    boards = []
    for cm in _objects("ConfigMap"):
        if cm["metadata"]["name"].endswith("-dashboard"):
            [text] = cm["data"].values()
            boards.append(json.loads(text))
    return boards


def _panel_queries(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def test_the_trees_have_monitoring_objects() -> None:
    """The checks below are not vacuous: REST and bus models, with and without bus training."""
    alerts = {r["alert"] for obj in _rules() for g in obj["spec"]["groups"] for r in g["rules"]}
    assert alerts == {
        "AiarModelErrorRatio",
        "AiarModelLatencySLO",
        "AiarModelNotReady",
        "AiarModelDeadLetters",
        "AiarModelTrainingFailures",
        "AiarModelTrainingJobFailed",
        "AiarModelInputDrift",
    }
    assert len(_dashboards()) >= 4
    assert {"ScaledObject", "TriggerAuthentication"} <= {o["kind"] for o in _objects("ScaledObject")} | {
        o["kind"] for o in _objects("TriggerAuthentication")
    }


# --- a running server --------------------------------------------------------------------------------


@pytest.fixture
def busy_server(tmp_path: Path, rabbitmq: RabbitNode, start_server: Callable[..., RunningServer]) -> RunningServer:
    """A REST + bus model server that answered REST and bus predictions, one failing of each."""
    name = f"obs-{uuid.uuid4().hex[:8]}"
    bus = prediction_bus(name, max_retries=0)
    src = write_bundle(tmp_path / "bundle", ECHO_PREDICT)
    # the training data's reference, as training saves it: the server scores the drift of a and b
    ref = drift.reference({"a": range(100), "b": [2] * 50 + [3] * 50}, 10)
    (src / drift.DRIFT_REFERENCE_FILE).write_text(json.dumps(ref))
    config = base_config(
        src,
        slug="obs-echo",
        parameters=("a", "b"),
        message_bus=bus_connection(rabbitmq.port),
        prediction_bus=bus,
        drift={"inputs": ["a", "b"]},
    )
    server = start_server(config)
    server.wait_ready()
    with server.client() as client:
        for i in range(5):
            assert client.post("/v2/models/obs-echo/predict", json={"a": i, "b": 2}).status_code == 200
        assert client.post("/v2/models/obs-echo/predict", json={"a": 1}).status_code >= 400
    connection = pika.BlockingConnection(rabbitmq.parameters())
    try:
        channel = connection.channel()
        channel.queue_declare(bus["queue"], durable=True, passive=True)  # the server declared it
        for body in (b'{"a": 1, "b": 2}', b"not json"):
            channel.basic_publish("amq.topic", bus["input_keys"][0], body)
    finally:
        connection.close()

    def handled() -> bool:
        text = server.client().get("/metrics").text
        return 'aiar_predictions_total{channel="bus"} 1.0' in text and 'outcome="dead_lettered"} 1.0' in text

    poll("the server to handle both bus messages", handled, timeout=30)
    return server


def _exported(server: RunningServer) -> set[str]:
    text = server.client().get("/metrics").text
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_every_query_names_an_exported_metric(busy_server: RunningServer) -> None:
    exported = _exported(busy_server)
    queries = [r["expr"] for obj in _rules() for g in obj["spec"]["groups"] for r in g["rules"]]
    queries += [q for board in _dashboards() for q in _panel_queries(board)]
    named = {m for q in queries for m in _SELECTOR.findall(q)}
    assert len(named) >= 10, named
    # the one series not the server's: a training Job's outcome, which kube-state-metrics reports
    assert named - exported == {"kube_job_status_failed"}, f"not exported by the server: {sorted(named - exported)}"


# --- promtool ------------------------------------------------------------------------------------------


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool comes with Debian's prometheus package (tests/platform/config.py APT_PACKAGES)"
    return found


def _rule_file(tmp_path: Path, rule: dict[str, Any]) -> Path:
    path = tmp_path / f"{rule['metadata']['name']}.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: f"{r['metadata']['namespace']}/{r['metadata']['name']}")
def test_promtool_checks_the_rules(tmp_path: Path, rule: dict[str, Any]) -> None:
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(_rule_file(tmp_path, rule))], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule['spec']['groups'])} rules found" in proc.stdout


SICK, HEALTHY = "sick", "healthy"
_ROUTE = "/v2/models/{m}/predict"


def _series(alert: str, state: str) -> list[tuple[dict[str, str], str]]:
    """(labels, values) of the series that make ``alert`` fire (sick) or stay quiet (healthy)."""
    sick = state == SICK
    if alert == "AiarModelErrorRatio":
        return [
            ({"__name__": "aiar_predictions_total", "channel": "rest"}, "0+10x40"),
            (
                {"__name__": "aiar_prediction_errors_total", "channel": "rest", "kind": "predict"},
                "0+10x40" if sick else "0x40",
            ),
            # a client's malformed requests are not the model's failures
            ({"__name__": "aiar_prediction_errors_total", "channel": "rest", "kind": "request"}, "0+50x40"),
        ]
    if alert == "AiarModelLatencySLO":
        bucket = "aiar_http_request_duration_seconds_bucket"
        return [
            ({"__name__": bucket, "route": _ROUTE, "le": "0.005"}, "0x40" if sick else "0+10x40"),
            ({"__name__": bucket, "route": _ROUTE, "le": "10"}, "0+10x40"),
            ({"__name__": bucket, "route": _ROUTE, "le": "+Inf"}, "0+10x40"),
            # slow scrapes of /metrics are not predictions
            ({"__name__": bucket, "route": "/metrics", "le": "0.005"}, "0x40"),
            ({"__name__": bucket, "route": "/metrics", "le": "10"}, "0+10x40"),
            ({"__name__": bucket, "route": "/metrics", "le": "+Inf"}, "0+10x40"),
        ]
    if alert == "AiarModelNotReady":
        return [({"__name__": "aiar_model_ready"}, "0x40" if sick else "1x40")]
    if alert == "AiarModelDeadLetters":
        labels = {"__name__": "aiar_bus_messages_total", "consumer": "prediction"}
        return [
            (labels | {"outcome": "dead_lettered"}, "0+1x40" if sick else "0x40"),
            (labels | {"outcome": "ok"}, "0+100x40"),
        ]
    if alert == "AiarModelTrainingFailures":
        return [
            ({"__name__": "aiar_training_runs_total", "outcome": "failed"}, "0+1x40" if sick else "0x40"),
            ({"__name__": "aiar_training_runs_total", "outcome": "ok"}, "0+1x40"),
            (
                {"__name__": "aiar_bus_messages_total", "consumer": "training", "outcome": "rejected"},
                "0+1x40" if sick else "0x40",
            ),
        ]
    if alert == "AiarModelTrainingJobFailed":
        return [
            # "{model}": the model's name (see _unit_test)
            ({"__name__": "kube_job_status_failed", "job_name": "{model}-train-0123abcd"}, "1x40" if sick else "0x40"),
            # another model's Job is not this one's
            ({"__name__": "kube_job_status_failed", "job_name": "other-train-0123abcd"}, "1x40"),
        ]
    if alert == "AiarModelInputDrift":
        return [
            ({"__name__": "aiar_input_drift_psi", "input": "x1"}, "0.6x40" if sick else "0.05x40"),
            ({"__name__": "aiar_input_drift_psi", "input": "x2"}, "0.01x40"),
        ]
    raise AssertionError(f"no synthetic series for the alert {alert}: add them here")


def _series_text(labels: dict[str, str]) -> str:
    name = labels["__name__"]
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def _unit_test(rule: dict[str, Any], rule_file: Path, state: str) -> dict[str, Any]:
    model = {"model": rule["metadata"]["name"], "namespace": rule["metadata"]["namespace"], "pod": "p-0"}
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    series: dict[str, str] = {}
    for r in rules:
        for labels, values in _series(r["alert"], state):
            named = {k: v.replace("{model}", model["model"]) for k, v in labels.items()}
            series[_series_text(named | model)] = values
    alerts = []
    for r in rules:
        expected = []
        if state == SICK:
            labels = dict(r["labels"])
            if r["alert"] == "AiarModelNotReady":  # not aggregated: the pod's own labels stay
                labels |= model
            if r["alert"] == "AiarModelInputDrift":  # by input: the drifted one
                labels |= {"input": "x1"}
            expected = [{"exp_labels": labels, "exp_annotations": r["annotations"]}]
        alerts.append({"eval_time": "35m", "alertname": r["alert"], "exp_alerts": expected})
    return {
        "rule_files": [rule_file.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": v} for k, v in series.items()],
                "alert_rule_test": alerts,
            }
        ],
    }


@pytest.mark.parametrize("state", [SICK, HEALTHY])
@pytest.mark.parametrize("rule", _rules(), ids=lambda r: f"{r['metadata']['namespace']}/{r['metadata']['name']}")
def test_promtool_proves_each_alert(tmp_path: Path, rule: dict[str, Any], state: str) -> None:
    rule_file = _rule_file(tmp_path, rule)
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(_unit_test(rule, rule_file, state), sort_keys=False))
    proc = subprocess.run([_promtool(), "test", "rules", test_file.name], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_test_has_teeth(tmp_path: Path) -> None:
    """A healthy model's series, expected to fire, fail the unit test: the harness can say no."""
    rule = next(r for r in _rules() if r["metadata"]["name"] == "quality-classifier")
    rule_file = _rule_file(tmp_path, rule)
    test = _unit_test(rule, rule_file, HEALTHY)
    sick = _unit_test(rule, rule_file, SICK)
    test["tests"][0]["alert_rule_test"] = sick["tests"][0]["alert_rule_test"]
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = subprocess.run([_promtool(), "test", "rules", "test.yaml"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert "AiarModelNotReady" in proc.stdout + proc.stderr


# --- a real Prometheus ---------------------------------------------------------------------------------


@pytest.fixture
def prometheus(tmp_path: Path, busy_server: RunningServer) -> Iterator[str]:
    """Prometheus on a free port, scraping ``busy_server`` as the quality classifier's PodMonitor labels
    it, with that model's generated rules loaded."""
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is installed with the platform (tests/platform/config.py)"
    [rule] = [r for r in _rules() if r["metadata"]["name"] == "quality-classifier"]
    rule_file = _rule_file(tmp_path, rule)
    target = busy_server.url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rule_file)],
        "scrape_configs": [
            {
                "job_name": "aiar",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target]}],
                # what the PodMonitor's relabeling and the operator's pod discovery set
                "relabel_configs": [
                    {"target_label": "model", "replacement": "quality-classifier"},
                    {"target_label": "namespace", "replacement": "ml-models"},
                    {"target_label": "pod", "replacement": "quality-classifier-0"},
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        poll("prometheus to listen", lambda: process.poll() is None and port_open(port), timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        terminate(process)


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200, (expr, body)
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_the_server_and_the_dashboard_queries_answer(prometheus: str) -> None:
    sel = 'model="quality-classifier", namespace="ml-models"'

    # enough scrapes for rate() over [5m] (two samples at least)
    def scraped() -> bool | None:
        result = _query(prometheus, f"count_over_time(aiar_model_ready{{{sel}}}[5m])")
        return True if result and float(result[0]["value"][1]) >= 3 else None

    poll("Prometheus to scrape the server three times", scraped, timeout=60, retry_on=(httpx.HTTPError,))
    [bus] = _query(prometheus, f'aiar_predictions_total{{{sel}, channel="bus"}}')
    assert float(bus["value"][1]) == 1.0
    [rest] = _query(prometheus, f'aiar_predictions_total{{{sel}, channel="rest"}}')
    assert float(rest["value"][1]) == 5.0
    [board] = [b for b in _dashboards() if b["uid"] == "aiar-quality-classifier"]
    empty = [q for q in _panel_queries(board) if not _query(prometheus, q)]
    assert not empty, f"dashboard queries without data: {empty}"
    # the model's rules are loaded and evaluate without error; the server is healthy: none fires
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    [group] = [g for g in rules if g["name"] == "aiar-quality-classifier"]

    def evaluated() -> bool | None:
        return True if all(r["health"] == "ok" for r in _group(prometheus)) else None

    poll("the rules to be evaluated", evaluated, timeout=30)
    assert {r["name"] for r in group["rules"]} >= {"AiarModelErrorRatio", "AiarModelNotReady", "AiarModelLatencySLO"}
    firing = [r["name"] for r in _group(prometheus) if r["state"] != "inactive"]
    assert not firing


def _group(prometheus: str) -> list[dict[str, Any]]:
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules: list[dict[str, Any]] = next(g for g in groups if g["name"] == "aiar-quality-classifier")["rules"]
    return rules


# --- the dashboard's schema ------------------------------------------------------------------------------


def test_dashboards_load_into_the_sdk_model() -> None:
    """Grafana's own typed Dashboard model (grafana-foundation-sdk) reads each dashboard back whole."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    for board in _dashboards():
        model = Dashboard.from_json(board)
        assert json.loads(json.dumps(model, cls=JSONEncoder)) == board
        assert model.panels
        assert all(p.targets for p in model.panels)  # type: ignore[union-attr]


def test_every_alert_has_its_runbook_section() -> None:
    """``runbook_url`` points at ``docs/runbooks.md#<alert>``: one section per alert, by that anchor."""
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in (REPO / "docs" / "runbooks.md").read_text().splitlines()
        if line.startswith("## ")
    }
    for obj in _rules():
        for rule in (r for g in obj["spec"]["groups"] for r in g["rules"]):
            anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
            assert anchor == rule["alert"].lower()
            assert anchor in headings, rule["alert"]
