"""Default-deny NetworkPolicies: each of the model's workloads may reach only what it needs.

A pod selected by a policy with both policy types is denied everything the policy does not list, so
each workload gets one policy that is its whole allow-list.
"""

from __future__ import annotations

from ... import defaults
from ...environment import PeerSelector
from ...plan import ModelPlan
from ...plan.cluster import Access, SchedulePlan
from .meta import Component, Obj, instance, metadata, selector


def _peer(peer: PeerSelector) -> Obj:
    result: Obj = {"podSelector": {"matchLabels": dict(peer.pod_labels)}}
    # namespaceSelector {} would mean every namespace; no namespace labels means "this namespace"
    if peer.namespace_labels:
        result["namespaceSelector"] = {"matchLabels": dict(peer.namespace_labels)}
    return result


def _tcp(*ports: int) -> list[Obj]:
    return [{"port": port, "protocol": "TCP"} for port in ports]


def _dns() -> Obj:
    # resolvers live in kube-system on nearly every cluster, but node-local caches do not; any destination
    return {"ports": [{"port": defaults.DNS_PORT, "protocol": "UDP"}, {"port": defaults.DNS_PORT, "protocol": "TCP"}]}


def _policy(plan: ModelPlan, component: Component, ingress: list[Obj], egress: list[Obj]) -> Obj:
    spec: Obj = {
        "podSelector": {"matchLabels": selector(plan, component)},
        # Both types listed: whatever is not allowed below is denied, in either direction.
        "policyTypes": ["Ingress", "Egress"],
    }
    # An empty list means the same as none, but the API server drops it, and an applied field that
    # the server never keeps would make every apply a change: leave empty rules out.
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(plan, instance(plan, component), component),
        "spec": spec,
    }


def _model_egress(access: Access) -> list[Obj]:
    # The bus and S3 endpoints are host names, which a NetworkPolicy cannot name: open their ports only.
    egress = access.egress
    rules = [_dns()]
    ports = [p for p in (egress.bus_port, egress.storage_port) if p is not None]
    ports += list(egress.wazuh_ports)
    if ports:
        rules.append({"ports": _tcp(*sorted(set(ports)))})
    return rules


def server_policy(plan: ModelPlan) -> Obj:
    peers = [p for p in (plan.cluster.ingress_from, plan.cluster.metrics_scrapers) if p is not None]
    ingress = [{"from": [_peer(p) for p in peers], "ports": _tcp(defaults.HTTP_PORT)}] if peers else []
    return _policy(plan, "server", ingress, _model_egress(plan.cluster.server))


def training_policy(plan: ModelPlan) -> Obj:
    assert plan.cluster.training is not None  # rendered only for a model that trains from storage
    return _policy(plan, "training", [], _model_egress(plan.cluster.training))


def scaler_policy(plan: ModelPlan, schedule: SchedulePlan) -> Obj:
    # The API server is no pod: it is reached by address, those the environment names (api_server).
    api_server = {
        "to": [{"ipBlock": {"cidr": cidr}} for cidr in schedule.api_server_cidrs],
        "ports": _tcp(*schedule.api_server_ports),
    }
    return _policy(plan, "scaler", [], [_dns(), api_server])
