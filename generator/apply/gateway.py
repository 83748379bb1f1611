"""Push the merged Kong declarative config to a DB-less Kong's admin API.

Kong cannot dry-run a config, and what ``GET /config`` returns is Kong's re-serialisation, not our
file, so plan cannot diff contents. What it can compare: the sha256 of the file we last pushed and
Kong's own ``configuration_hash`` right after that push, both recorded on the ApplySet parent.
A different file, or a Kong whose hash moved since (restarted empty, changed by hand), is a change.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from . import fail

FILE_DIGEST = "aiar.dev/gateway-config-sha256"
KONG_HASH = "aiar.dev/gateway-kong-hash"
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class GatewayDiff:
    changed: bool
    reason: str


def digest(config: bytes) -> str:
    return "sha256:" + hashlib.sha256(config).hexdigest()


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    # the URL's scheme is checked: the environment file admits http(s) URLs only
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        # the URL's scheme is checked: the environment file admits http(s) URLs only
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            raw = response.read()
            return int(response.status), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return 304, None
        text = exc.read()[:500].decode(errors="replace")
        raise fail(url, f"Kong admin API answered {exc.code}: {text}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise fail(url, f"Kong admin API unreachable: {getattr(exc, 'reason', exc)}") from None


def live_hash(admin_url: str) -> str:
    _, status = _call("GET", admin_url.rstrip("/") + "/status")
    return str((status or {}).get("configuration_hash") or "")


def diff(admin_url: str, config: bytes, recorded: dict[str, str]) -> GatewayDiff:
    if recorded.get(FILE_DIGEST) != digest(config):
        return GatewayDiff(True, "gateway/kong.yaml differs from the config last pushed")
    if recorded.get(KONG_HASH) != live_hash(admin_url):
        return GatewayDiff(True, "Kong's configuration changed since the last push")
    return GatewayDiff(False, "unchanged")


def push(admin_url: str, config: bytes) -> dict[str, str]:
    """Load the config (Kong skips an identical one: ``check_hash``); what to record on the parent."""
    _call("POST", admin_url.rstrip("/") + "/config?check_hash=1", {"config": config.decode("utf-8")})
    return {FILE_DIGEST: digest(config), KONG_HASH: live_hash(admin_url)}
