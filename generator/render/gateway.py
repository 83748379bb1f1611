"""Kong declarative configuration (decK / DB-less, ``_format_version: "3.0"``).

One service and one route per model with REST input. The route exposes only the model's Open
Inference Protocol routes: the public ``<path_prefix>/<slug>/v2/...`` reaches the server's ``/v2/...``
(``strip_path`` removes the route path, the service path puts ``/v2`` back), so ``/metrics`` and the
rest of the server stay inside the cluster. A model with ``access.roles`` gets an auth plugin and an
``acl`` allow-list of exactly those roles on its route; :func:`unprotected_routes` is the check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .. import defaults
from ..contract import GATEWAY_DIR, GATEWAY_FILE, KONG_FILE
from ..kinds.docker_layers import ApiRoute
from ..plan import ModelPlan
from ..plan.cluster import GatewayPlan
from ..yamlout import dump_bytes
from . import Files

AUTH_PLUGINS = frozenset({"key-auth", "jwt"})

Obj = dict[str, Any]


def _tags(plan: ModelPlan) -> list[str]:
    # Kong tags: printable ASCII without spaces or commas
    return [defaults.KONG_TAG, f"aiar-model:{plan.slug}", f"aiar-version:{plan.version}"]


def _auth_plugin(gw: GatewayPlan, tags: list[str]) -> Obj:
    if gw.auth == "jwt":
        config: Obj = {"claims_to_verify": ["exp"]}
    else:
        # hide_credentials: the model never sees the caller's key
        config = {"key_names": list(defaults.KONG_KEY_NAMES), "hide_credentials": True}
    return {"name": gw.auth, "config": config, "tags": tags}


def _plugins(gw: GatewayPlan, tags: list[str]) -> list[Obj]:
    plugins: list[Obj] = []
    if gw.roles:
        plugins.append(_auth_plugin(gw, tags))
        plugins.append({"name": "acl", "config": {"allow": list(gw.roles), "hide_groups_header": True}, "tags": tags})
    if gw.rate_limit_per_minute is not None:
        plugins.append(
            {
                "name": "rate-limiting",
                # local: counters per Kong node, no Redis or database needed (DB-less works)
                "config": {"minute": gw.rate_limit_per_minute, "policy": "local", "limit_by": "consumer"},
                "tags": tags,
            }
        )
    return plugins


def _regex_escape(text: str) -> str:
    """Only the regex metacharacters (``re.escape`` also escapes ``-``, noise in a reviewed file)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def _api_route(gw: GatewayPlan, api: ApiRoute, index: int, tags: list[str]) -> Obj:
    """One OpenAPI path of a DOCKER_LAYERS model: matched exactly, forwarded as the server's own path.

    A regex path captures the server-side part (templated segments match one segment), and
    request-transformer sends that as the upstream URI: Kong's ``strip_path`` alone would forward
    only what follows the whole match.
    """
    server_path = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", _regex_escape(api.path))
    rewrite = {"name": "request-transformer", "config": {"replace": {"uri": "$(uri_captures.path)"}}, "tags": tags}
    path = f"~{_regex_escape(gw.path)}(?<path>{server_path})$"
    return _route(gw, f"{gw.service}-api-{index}", path, list(api.methods), False, tags, [rewrite, *_plugins(gw, tags)])


def _route(
    gw: GatewayPlan, name: str, path: str, methods: list[str], strip: bool, tags: list[str], plugins: list[Obj]
) -> Obj:
    """One Kong route to the model's service, HTTPS only; ``strip``: forward only what follows ``path``."""
    route: Obj = {
        "name": name,
        "paths": [path],
        "methods": methods,
        "protocols": ["https"],
        "strip_path": strip,
        "preserve_host": False,
        "tags": tags,
    }
    if gw.host is not None:
        route["hosts"] = [gw.host]
    if plugins:
        route["plugins"] = plugins
    return route


def kong_service(plan: ModelPlan) -> Obj | None:
    gw = plan.cluster.gateway
    if gw is None:
        return None
    tags = _tags(plan)
    if gw.api_routes:
        routes = [_api_route(gw, api, i, tags) for i, api in enumerate(gw.api_routes, start=1)]
        return {"name": gw.service, "url": gw.upstream_url, "tags": tags, "routes": routes}
    route = _route(gw, gw.route, gw.path, ["GET", "POST"], True, tags, _plugins(gw, tags))
    return {"name": gw.service, "url": gw.upstream_url, "tags": tags, "routes": [route]}


def kong_document(services: Sequence[Obj]) -> Obj:
    return {
        "_format_version": defaults.KONG_FORMAT_VERSION,
        # decK manages only entities with this tag: a sync never touches the gateway's other config
        "_info": {"select_tags": [defaults.KONG_TAG]},
        "services": sorted(services, key=lambda s: str(s["name"])),
    }


def render_model_gateway(plan: ModelPlan) -> tuple[Files, Obj | None]:
    service = kong_service(plan)
    if service is None:
        return {}, None
    return {f"{plan.slug}/{GATEWAY_DIR}/{KONG_FILE}": dump_bytes(kong_document([service]))}, service


def render_merged_gateway(services: Sequence[Obj]) -> Files:
    return {GATEWAY_FILE: dump_bytes(kong_document(services))}


def unprotected_routes(document: Obj, roles_by_service: dict[str, Sequence[str]]) -> list[str]:
    """Routes of services that require roles but lack an auth plugin or an ``acl`` allow of exactly them.

    Plugins may sit on the route or its service (Kong applies both); consumer-scoped plugins do not count.
    """
    problems: list[str] = []
    for service in document.get("services", []):
        roles = roles_by_service.get(service.get("name", ""))
        if not roles:
            continue
        for route in service.get("routes", []):
            plugins = [*service.get("plugins", []), *route.get("plugins", [])]
            plugins = [p for p in plugins if p.get("enabled", True) and "consumer" not in p]
            where = f"{service.get('name')}/{route.get('name')}"
            if not any(p.get("name") in AUTH_PLUGINS for p in plugins):
                problems.append(f"{where}: no key-auth or jwt plugin")
            allows = [p.get("config", {}).get("allow") for p in plugins if p.get("name") == "acl"]
            if not allows:
                problems.append(f"{where}: no acl plugin")
            elif any(sorted(a or []) != sorted(roles) for a in allows):
                problems.append(f"{where}: acl allow is not exactly {sorted(roles)}")
    return problems
