"""A model's Grafana dashboard, built with grafana-foundation-sdk and provisioned as a ConfigMap.

The dashboard is data built with Grafana's own typed builders (no template); its JSON is written with
sorted keys so the same plan gives the same bytes. The ConfigMap carries the Grafana sidecar's label
(the environment's ``observability.dashboard_labels``), which loads every ConfigMap so labelled.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import timeseries as gt
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from ...plan import ModelPlan
from .meta import Obj, metadata
from .monitor import PREDICT_ROUTES, model_selector

DASHBOARD_KEY_SUFFIX = ".json"
_DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# (title, unit, [(PromQL, legend)]) per panel, ``{sel}`` standing for the model's series selector
_Panel = tuple[str, str, list[tuple[str, str]]]


def panels(plan: ModelPlan) -> list[_Panel]:
    monitor = plan.cluster.monitor
    assert monitor is not None
    sel = model_selector(plan)
    found: list[_Panel] = []
    if monitor.rest:
        buckets = f'aiar_http_request_duration_seconds_bucket{{{sel}, route=~"{PREDICT_ROUTES}"}}'
        found += [
            (
                "Requests",
                "reqps",
                [(f"sum by (route, code) (rate(aiar_http_requests_total{{{sel}}}[5m]))", "{{route}} {{code}}")],
            ),
            (
                "Prediction latency",
                "s",
                [
                    (f"histogram_quantile({q}, sum by (le) (rate({buckets}[5m])))", f"p{round(q * 100)}")
                    for q in (0.5, 0.9, 0.99)
                ],
            ),
        ]
    found += [
        (
            "Predictions by channel",
            "ops",
            [(f"sum by (channel) (rate(aiar_predictions_total{{{sel}}}[5m]))", "{{channel}}")],
        ),
        (
            "Errors",
            "ops",
            [(f"sum by (channel, kind) (rate(aiar_prediction_errors_total{{{sel}}}[5m]))", "{{channel}} {{kind}}")],
        ),
    ]
    if monitor.bus_consumers:
        found.append(
            (
                "Bus messages",
                "ops",
                [
                    (
                        f"sum by (consumer, outcome) (rate(aiar_bus_messages_total{{{sel}}}[5m]))",
                        "{{consumer}} {{outcome}}",
                    )
                ],
            )
        )
        found.append(
            ("Bus backlog", "short", [(f"sum by (consumer) (aiar_bus_queue_messages{{{sel}}})", "{{consumer}}")])
        )
    if monitor.drift_inputs:
        found.append(("Input drift (PSI)", "short", [(f"max by (input) (aiar_input_drift_psi{{{sel}}})", "{{input}}")]))
    found += [
        ("Memory (RSS)", "bytes", [(f"process_resident_memory_bytes{{{sel}}}", "{{pod}}")]),
        ("CPU", "percentunit", [(f"rate(process_cpu_seconds_total{{{sel}}}[5m])", "{{pod}}")]),
        (
            "Model loads",
            "short",
            [
                (f"sum by (source) (increase(aiar_model_loads_total{{{sel}}}[1h]))", "{{source}}"),
                (f"sum(aiar_model_ready{{{sel}}})", "ready pods"),
            ],
        ),
    ]
    return found


def dashboard_json(plan: ModelPlan) -> str:
    board = (
        gd.Dashboard(f"aiar / {plan.manifest.name}")
        .uid(f"aiar-{plan.slug}")
        .tags(["aiar", plan.slug])
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("1m")
        .readonly()
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for title, unit, queries in panels(plan):
        panel = gt.Panel().title(title).unit(unit).datasource(_DATASOURCE).span(12).height(8)
        for ref, (expr, legend) in zip("ABCDEFGH", queries, strict=False):
            panel = panel.with_target(
                gp.Dataquery().expr(expr).legend_format(legend).ref_id(ref).range().datasource(_DATASOURCE)
            )
        board = board.with_panel(panel)
    text = json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2)
    return text + "\n"


def dashboard_config_map(plan: ModelPlan) -> Obj:
    monitor = plan.cluster.monitor
    assert monitor is not None
    meta = metadata(plan, f"{plan.slug}-dashboard", "server")
    meta["labels"] = dict(monitor.dashboard_labels) | meta["labels"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {f"aiar-{plan.slug}{DASHBOARD_KEY_SUFFIX}": dashboard_json(plan)},
    }
