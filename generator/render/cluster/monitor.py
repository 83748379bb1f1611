"""Prometheus Operator objects of one model: its PodMonitor and its PrometheusRule (the alerts).

Every series the model server exports gets the label ``model="<slug>"`` when scraped (the
PodMonitor's relabeling), so each query names its model without depending on pod names. Every
metric named here is one the server exports (``generator/runtime/metrics.py``); a test reads them
from a running server's ``/metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...plan import ModelPlan
from ...plan.observe import MonitorPlan
from .meta import Obj, metadata, selector
from .workload import HTTP_PORT_NAME

MONITORING_API = "monitoring.coreos.com/v1"
MODEL_LABEL = "model"
"""The label each scraped series of a model carries: its slug."""
PREDICT_ROUTES = ".*/(infer|predict)"
"""The route templates of predictions (the latency objective is theirs, not /metrics' or health's)."""


def model_selector(plan: ModelPlan) -> str:
    return f'{MODEL_LABEL}="{plan.slug}", namespace="{plan.cluster.namespace}"'


def _monitor(plan: ModelPlan) -> MonitorPlan:
    assert plan.cluster.monitor is not None, "rendered only for a monitored model"
    return plan.cluster.monitor


def _metadata(plan: ModelPlan, name: str) -> Obj:
    meta = metadata(plan, name, "server")
    meta["labels"] = dict(_monitor(plan).labels) | meta["labels"]
    return meta


def pod_monitor(plan: ModelPlan) -> Obj:
    """Scrapes ``/metrics`` of the server's pods (a PodMonitor: a bus-only model has no Service)."""
    monitor = _monitor(plan)
    endpoint: Obj = {
        "port": HTTP_PORT_NAME,
        "path": "/metrics",
        "interval": f"{monitor.interval_s}s",
        "relabelings": [{"action": "replace", "targetLabel": MODEL_LABEL, "replacement": plan.slug}],
    }
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": _metadata(plan, plan.slug),
        "spec": {
            "selector": {"matchLabels": selector(plan, "server")},
            "namespaceSelector": {"matchNames": [plan.cluster.namespace]},
            "podMetricsEndpoints": [endpoint],
        },
    }


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str

    @property
    def anchor(self) -> str:
        return self.name.lower()


def alerts(plan: ModelPlan) -> tuple[Alert, ...]:
    """The model's alerts, each only where its metric can exist (REST, bus predictions, bus training,
    a training Job)."""
    monitor = _monitor(plan)
    sel = model_selector(plan)
    found: list[Alert] = []
    # the model's own failures: a malformed request is its sender's (and dead-lettered on the bus)
    errors = f'sum(rate(aiar_prediction_errors_total{{{sel}, kind!="request"}}[5m]))'
    made = f"sum(rate(aiar_predictions_total{{{sel}}}[5m]))"
    found.append(
        Alert(
            "AiarModelErrorRatio",
            # failed / attempted predictions, over every channel; quiet while nothing is asked
            f"{errors} / ({made} + {errors}) > {monitor.error_ratio:g}",
            "10m",
            "warning",
            f"More than {monitor.error_ratio:.0%} of {plan.slug}'s predictions fail",
        )
    )
    if monitor.rest:
        found.append(
            Alert(
                "AiarModelLatencySLO",
                "histogram_quantile(0.99, sum by (le) (rate(aiar_http_request_duration_seconds_bucket"
                f'{{{sel}, route=~"{PREDICT_ROUTES}"}}[5m]))) > {monitor.latency_slo_s:g}',
                "10m",
                "warning",
                f"{plan.slug}'s p99 prediction latency is over {monitor.latency_slo_s:g}s",
            )
        )
    found.append(
        Alert(
            "AiarModelNotReady",
            # per pod: a stopped model (no pods, no series) is not an alert
            f"aiar_model_ready{{{sel}}} == 0",
            "10m",
            "critical",
            f"A pod of {plan.slug} has not been able to answer for 10 minutes",
        )
    )
    if "prediction" in monitor.bus_consumers:
        found.append(
            Alert(
                "AiarModelDeadLetters",
                f'sum(increase(aiar_bus_messages_total{{{sel}, consumer="prediction", outcome="dead_lettered"}}[15m]))'
                " > 0",
                "0m",
                "warning",
                f"Messages to {plan.slug} are going to its dead-letter queue",
            )
        )
    if "training" in monitor.bus_consumers:
        failed = (
            f'sum(increase(aiar_training_runs_total{{{sel}, outcome="failed"}}[1h]))'
            if monitor.bus_training
            else f'sum(increase(aiar_bus_messages_total{{{sel}, consumer="training", outcome="rejected"}}[1h]))'
        )
        found.append(
            Alert("AiarModelTrainingFailures", f"{failed} > 0", "0m", "warning", f"Bus training of {plan.slug} fails")
        )
    if plan.trains_from_storage:
        # the training Job runs before serving and is gone before a scrape could find it: its outcome
        # is kube-state-metrics' (part of every Prometheus Operator stack), by the Job's name
        jobs = f'namespace="{plan.cluster.namespace}", job_name=~"{plan.slug}-train-[0-9a-f]+"'
        found.append(
            Alert(
                "AiarModelTrainingJobFailed",
                f"sum(kube_job_status_failed{{{jobs}}}) > 0",
                "0m",
                "warning",
                f"The training Job of {plan.slug} failed: the model is not (re)trained",
            )
        )
    if monitor.drift_inputs:
        found.append(
            Alert(
                "AiarModelInputDrift",
                f"max by (input) (aiar_input_drift_psi{{{sel}}}) > {monitor.drift_psi:g}",
                "30m",
                "warning",
                f"An input of {plan.slug} drifted from its training data (PSI over {monitor.drift_psi:g})",
            )
        )
    return tuple(found)


def rule_groups(plan: ModelPlan) -> list[Obj]:
    """The rule groups, as both the PrometheusRule's spec and a Prometheus rule file hold them."""
    monitor = _monitor(plan)
    rules: list[Obj] = []
    for alert in alerts(plan):
        rule: Obj = {"alert": alert.name, "expr": alert.expr}
        if alert.for_ != "0m":
            rule["for"] = alert.for_
        rule["labels"] = {"severity": alert.severity, MODEL_LABEL: plan.slug}
        rule["annotations"] = {
            "summary": alert.summary,
            "runbook_url": f"{monitor.runbook_base}#{alert.anchor}",
        }
        rules.append(rule)
    return [{"name": f"aiar-{plan.slug}", "rules": rules}]


def prometheus_rule(plan: ModelPlan) -> Obj:
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": _metadata(plan, plan.slug),
        "spec": {"groups": rule_groups(plan)},
    }
