"""A structural check of Kong declarative config, for the subset aiar writes.

Stands in for ``deck file validate`` where decK cannot be installed (the Go module proxy here refuses
github.com/kong/deck). It encodes Kong 3.x's own rules for these entities (DB-less schema): required
fields, allowed values, unique names, one plugin of a kind per route, the plugins' config fields.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

TOP_LEVEL = {
    "_format_version",
    "_transform",
    "_info",
    "_workspace",
    "services",
    "routes",
    "consumers",
    "plugins",
    "upstreams",
    "certificates",
    "ca_certificates",
    "snis",
    "vaults",
    "consumer_groups",
}
SERVICE_FIELDS = {
    "name",
    "url",
    "protocol",
    "host",
    "port",
    "path",
    "retries",
    "connect_timeout",
    "write_timeout",
    "read_timeout",
    "tags",
    "routes",
    "plugins",
    "enabled",
    "client_certificate",
    "tls_verify",
    "tls_verify_depth",
    "ca_certificates",
}
ROUTE_FIELDS = {
    "name",
    "protocols",
    "methods",
    "hosts",
    "paths",
    "headers",
    "https_redirect_status_code",
    "regex_priority",
    "strip_path",
    "path_handling",
    "preserve_host",
    "request_buffering",
    "response_buffering",
    "snis",
    "sources",
    "destinations",
    "tags",
    "service",
    "plugins",
    "expression",
    "priority",
}
PLUGIN_FIELDS = {
    "name",
    "instance_name",
    "config",
    "enabled",
    "protocols",
    "tags",
    "route",
    "service",
    "consumer",
    "ordering",
}
PLUGIN_CONFIG = {
    "key-auth": {
        "key_names",
        "hide_credentials",
        "anonymous",
        "key_in_header",
        "key_in_query",
        "key_in_body",
        "run_on_preflight",
        "realm",
    },
    "jwt": {
        "uri_param_names",
        "cookie_names",
        "header_names",
        "claims_to_verify",
        "key_claim_name",
        "secret_is_base64",
        "anonymous",
        "run_on_preflight",
        "maximum_expiration",
        "realm",
    },
    # DOCKER_LAYERS routes: the captured server-side path becomes the upstream URI
    "request-transformer": {"http_method", "remove", "rename", "replace", "add", "append"},
    "acl": {"allow", "deny", "hide_groups_header", "include_consumer_groups", "always_use_authenticated_groups"},
    "rate-limiting": {
        "second",
        "minute",
        "hour",
        "day",
        "month",
        "year",
        "limit_by",
        "header_name",
        "path",
        "policy",
        "fault_tolerant",
        "hide_client_headers",
        "error_code",
        "error_message",
        "sync_rate",
        "redis",
    },
}
PROTOCOLS = {"http", "https", "grpc", "grpcs", "tcp", "tls", "udp", "tls_passthrough", "ws", "wss"}
METHOD = re.compile(r"^[A-Z]+$")
NAME = re.compile(r"^[0-9A-Za-z._~-]+$")  # Kong's name type: unreserved URL characters
TAG = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")  # printable ASCII, no space or comma


def _tags(where: str, entity: dict[str, Any], errors: list[str]) -> None:
    errors.extend(
        f"{where}: invalid tag {tag!r}"
        for tag in entity.get("tags", [])
        if not isinstance(tag, str) or not TAG.match(tag)
    )


def _plugin(where: str, plugin: dict[str, Any], errors: list[str]) -> None:
    name = plugin.get("name")
    if name not in PLUGIN_CONFIG:
        errors.append(f"{where}: unknown plugin {name!r}")
        return
    errors.extend(f"{where}/{name}: unknown field {k!r}" for k in sorted(set(plugin) - PLUGIN_FIELDS))
    config = plugin.get("config", {})
    errors.extend(f"{where}/{name}: unknown config field {k!r}" for k in sorted(set(config) - PLUGIN_CONFIG[name]))
    _tags(f"{where}/{name}", plugin, errors)
    if name == "acl" and bool(config.get("allow")) == bool(config.get("deny")):
        errors.append(f"{where}/acl: exactly one of allow and deny must be set")
    if name == "jwt" and not set(config.get("claims_to_verify", [])) <= {"exp", "nbf"}:
        errors.append(f"{where}/jwt: claims_to_verify must be among exp, nbf")
    if name == "rate-limiting":
        windows = [k for k in ("second", "minute", "hour", "day", "month", "year") if k in config]
        if not windows or any(not isinstance(config[k], int) or config[k] < 0 for k in windows):
            errors.append(f"{where}/rate-limiting: needs a non-negative limit for at least one window")
        if config.get("policy", "local") not in ("local", "cluster", "redis"):
            errors.append(f"{where}/rate-limiting: unknown policy")


def _route(where: str, route: dict[str, Any], errors: list[str]) -> None:
    errors.extend(f"{where}: unknown field {k!r}" for k in sorted(set(route) - ROUTE_FIELDS))
    if not any(route.get(k) for k in ("paths", "hosts", "methods", "headers", "snis", "sources", "destinations")):
        errors.append(f"{where}: an http route needs paths, hosts, methods or headers")
    errors.extend(
        f"{where}: path {path!r} must start with / (or ~/ for a regex)"
        for path in route.get("paths", [])
        if not (isinstance(path, str) and path.startswith(("/", "~/")))
    )
    errors.extend(f"{where}: bad method {m!r}" for m in route.get("methods", []) if not METHOD.match(str(m)))
    errors.extend(f"{where}: bad protocol {p!r}" for p in route.get("protocols", []) if p not in PROTOCOLS)
    errors.extend(
        f"{where}: {flag} must be a boolean"
        for flag in ("strip_path", "preserve_host")
        if flag in route and not isinstance(route[flag], bool)
    )
    _tags(where, route, errors)
    seen: set[str] = set()
    for plugin in route.get("plugins", []):
        if plugin.get("name") in seen:
            errors.append(f"{where}: plugin {plugin.get('name')!r} configured twice")
        seen.add(str(plugin.get("name")))
        _plugin(where, plugin, errors)


def check_kong(document: dict[str, Any]) -> list[str]:
    errors: list[str] = [f"unknown top-level key {k!r}" for k in sorted(set(document) - TOP_LEVEL)]
    if document.get("_format_version") != "3.0":
        errors.append("_format_version must be the string '3.0'")
    service_names: set[str] = set()
    route_names: set[str] = set()
    for i, service in enumerate(document.get("services", [])):
        name = service.get("name", "")
        where = f"services/{i} ({name})"
        errors.extend(f"{where}: unknown field {k!r}" for k in sorted(set(service) - SERVICE_FIELDS))
        if not NAME.match(name) or name in service_names:
            errors.append(f"{where}: name missing, invalid or not unique")
        service_names.add(name)
        url = urlsplit(service.get("url", ""))
        if url.scheme not in ("http", "https") or not url.hostname:
            errors.append(f"{where}: url must be http(s)://host[:port][/path]")
        _tags(where, service, errors)
        for plugin in service.get("plugins", []):
            _plugin(where, plugin, errors)
        for route in service.get("routes", []):
            rname = route.get("name", "")
            if not NAME.match(rname) or rname in route_names:
                errors.append(f"{where}/routes ({rname}): name missing, invalid or not unique")
            route_names.add(rname)
            _route(f"{where}/routes ({rname})", route, errors)
    return errors
