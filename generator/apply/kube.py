"""Server-side apply and the few other calls apply needs, through the Kubernetes client's ApiClient.

Raw REST through ``ApiClient`` (rather than the typed APIs) because apply works on whatever kinds
``out/`` holds, as plain dicts, and needs ``application/apply-patch+yaml``, ``dryRun`` and
``force`` on every one of them. The client still does what it is for: kubeconfig, TLS, auth.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import urllib3

from . import ApplyError, fail
from .outdir import ObjectKey, group_of, key_of

FIELD_MANAGER = "aiar"
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
REQUEST_TIMEOUT_S = 30.0


class KubeError(Exception):
    """A Kubernetes API call that did not succeed; ``status`` is the HTTP status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{status} {reason}: {message}")

    @property
    def conflict(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API (from discovery)."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        base = "/api/" + self.api_version if "/" not in self.api_version else "/apis/" + self.api_version
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return base + (f"/{quote(name, safe='')}" if name else "")


class Kube:
    """A cluster, as apply sees it. Thread-safe: applies within a phase run concurrently."""

    def __init__(self, api_client: Any, field_manager: str = FIELD_MANAGER) -> None:
        self._api = api_client
        self.field_manager = field_manager
        self._resources: dict[str, dict[str, Resource]] = {}
        self._preferred: dict[str, str] | None = None
        self._lock = threading.Lock()

    # --- transport -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call; the decoded JSON answer, or KubeError with the API server's own message."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            status, reason, data = self._send(method, path, list(query), headers, body)
        except urllib3.exceptions.HTTPError as exc:
            cause = getattr(exc, "reason", None) or exc
            raise fail(self._api.configuration.host, f"Kubernetes API unreachable: {cause}") from None
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if not 200 <= status < 300:
            detail = decoded if isinstance(decoded, dict) else {}
            raise KubeError(
                status,
                str(detail.get("reason") or reason),
                str(detail.get("message") or data[:200].decode(errors="replace")),
            )
        return decoded

    def request_text(self, method: str, path: str) -> str:
        """One call whose answer is text (a pod's /metrics through the API server's proxy)."""
        try:
            status, reason, data = self._send(method, path, [], {"Accept": "text/plain, */*"}, None)
        except urllib3.exceptions.HTTPError as exc:
            cause = getattr(exc, "reason", None) or exc
            raise fail(self._api.configuration.host, f"Kubernetes API unreachable: {cause}") from None
        if not 200 <= status < 300:
            raise KubeError(status, reason, data[:300].decode(errors="replace"))
        return data.decode(errors="replace")

    def _send(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: Any
    ) -> tuple[int, str, bytes]:
        """Status, reason and raw body of one call, through whichever generated client is installed.

        kubernetes >= 37 splits a call into ``param_serialize`` + ``call_api``; earlier releases (which
        pip picks when botocore pins python-dateutil < 3) have a single ``call_api`` that raises on errors.
        """
        if hasattr(self._api, "param_serialize"):
            _, url, headers, body, _ = self._api.param_serialize(
                method, path, query_params=query, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = self._api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=REQUEST_TIMEOUT_S
            )
            return int(response.status), str(response.reason), bytes(response.read())
        from kubernetes.client.exceptions import ApiException

        try:
            raw = self._api.call_api(
                path,
                method,
                query_params=query,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        except ApiException as exc:
            data = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
            return int(exc.status or 0), str(exc.reason), data
        return int(raw.status), str(raw.reason), bytes(raw.data)

    # --- discovery -------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        with self._lock:
            known = self._resources.get(api_version)
        if known is None:
            path = "/api/" + api_version if "/" not in api_version else "/apis/" + api_version
            try:
                listing = self.request("GET", path)
            except KubeError as exc:
                raise fail(api_version, f"API version not served by the cluster ({exc.status} {exc.reason})") from None
            known = {
                str(r["kind"]): Resource(api_version, str(r["kind"]), str(r["name"]), bool(r["namespaced"]))
                for r in listing.get("resources", [])
                if "/" not in r["name"]  # subresources such as deployments/scale
            }
            with self._lock:
                self._resources[api_version] = known
        if kind not in known:
            raise fail(f"{kind} ({api_version})", "kind not served by the cluster")
        return known[kind]

    def preferred_version(self, group: str) -> str | None:
        """The API version the server prefers for a group ("" is the core group); None if not served."""
        if group == "":
            return "v1"
        if self._preferred is None:
            groups = self.request("GET", "/apis").get("groups", [])
            self._preferred = {str(g["name"]): str(g["preferredVersion"]["groupVersion"]) for g in groups}
        return self._preferred.get(group)

    def resource_of(self, key: ObjectKey) -> Resource | None:
        version = self.preferred_version(key.group)
        return None if version is None else self.resource(version, key.kind)

    # --- objects ---------------------------------------------------------------------------------

    def apply(self, body: Mapping[str, Any], *, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
        """Server-side apply of one object as this field manager; the object the server returns."""
        key = key_of(body)
        resource = self.resource(str(body["apiVersion"]), key.kind)
        query = [("fieldManager", self.field_manager), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        # JSON is YAML: the client serialises the dict as JSON under the apply-patch+yaml content type.
        result: dict[str, Any] = self.request(
            "PATCH", resource.path(key.namespace, key.name), query, dict(body), APPLY_PATCH
        )
        return result

    def json_patch(
        self, api_version: str, key: ObjectKey, ops: Sequence[Mapping[str, Any]], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """An RFC 6902 patch (its ``test`` ops make it all-or-nothing), as this field manager."""
        resource = self.resource(api_version, key.kind)
        query = [("fieldManager", self.field_manager)]
        if dry_run:
            query.append(("dryRun", "All"))
        result: dict[str, Any] = self.request(
            "PATCH", resource.path(key.namespace, key.name), query, list(ops), JSON_PATCH
        )
        return result

    def get(self, api_version: str, key: ObjectKey) -> dict[str, Any] | None:
        resource = self.resource(api_version, key.kind)
        try:
            found: dict[str, Any] = self.request("GET", resource.path(key.namespace, key.name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def list(self, resource: Resource, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = [("labelSelector", label_selector), ("limit", "500")]
            if token:
                query.append(("continue", token))
            page = self.request("GET", resource.path(namespace), query)
            # list items carry neither apiVersion nor kind
            items.extend(
                {"apiVersion": resource.api_version, "kind": resource.kind, **item} for item in page.get("items", [])
            )
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    def delete(self, resource: Resource, namespace: str, name: str, uid: str | None = None) -> bool:
        """Delete (pods and ReplicaSets follow in the background); False if it was already gone.

        The uid precondition makes sure we delete the object we looked at, not a namesake created since.
        """
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", resource.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.status == 404:
                return False
            if exc.status == 409 and uid:  # precondition failed: a different object by now
                return False
            raise
        return True


def connect(kubeconfig: Path | None = None, context: str | None = None) -> Kube:
    """A client from the kubeconfig (``KUBECONFIG`` or ``~/.kube/config``), or in-cluster credentials."""
    import os

    from kubernetes import config
    from kubernetes.client import ApiClient, Configuration

    configuration = Configuration()
    # The client reads KUBECONFIG once, at import; read it per call so the caller's environment counts.
    path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
    try:
        if path is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (config.ConfigException, OSError) as exc:
        raise fail(str(kubeconfig or "kubeconfig"), f"cannot load Kubernetes credentials: {exc}") from None
    configuration.connection_pool_maxsize = 16
    return Kube(ApiClient(configuration))


def describe(exc: KubeError, key: ObjectKey) -> ApplyError:
    """A failed call as a problem naming the object; a conflict's message already names the other manager."""
    if exc.conflict:
        return fail(
            str(key),
            f"{exc.message} (another field manager owns these fields; apply takes them over unless run with "
            "--no-force-conflicts)",
        )
    return fail(str(key), f"{exc.status} {exc.reason}: {exc.message}")


def api_version_of(key: ObjectKey, version: str) -> str:
    return f"{key.group}/{version}" if key.group else version


__all__ = ["FIELD_MANAGER", "Kube", "KubeError", "Resource", "api_version_of", "connect", "describe", "group_of"]
