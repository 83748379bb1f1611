"""Build and push the images ``out/`` names, skipping every one the registry already holds.

Tags are digests of the build context, so "this tag is in the registry" means "this exact image was
built and pushed": no build, no push. An image built but not pushed (an interrupted apply) is found
in the engine's store and only pushed. Builds run one at a time (they saturate a small machine);
registry look-ups run concurrently.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from ..environment import Environment, Registry
from . import ApplyError, fail
from .credentials import Credentials
from .outdir import Image

DOCKER_API_VERSION = "1.41"
"""What podman's Docker-compatible service speaks; also fine for a Docker engine."""

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
REGISTRY_TIMEOUT_S = 15.0

# Docker predefines these build args: they reach RUN steps without being declared, and stay out of
# the image history. A build behind a proxy needs them; the tag does not depend on them, rightly.
PROXY_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")

Action = Literal["present", "pushed", "built"]
"""present: already in the registry; pushed: found locally, pushed; built: built, then pushed."""


@dataclass(frozen=True)
class ImageResult:
    image: Image
    action: Action
    seconds: float


class RegistryClient:
    """Just enough of the registry HTTP API v2 to ask whether a manifest exists."""

    def __init__(self, registry: Registry, credentials: Credentials) -> None:
        self.scheme = "http" if registry.insecure else "https"
        self.credentials = credentials
        self._tokens: dict[str, str] = {}

    def has(self, ref: str) -> bool:
        host, _, rest = ref.partition("/")
        repository, _, tag = rest.rpartition(":")
        url = f"{self.scheme}://{host}/v2/{repository}/manifests/{tag}"
        status, challenge = self._head(url, self._tokens.get(repository))
        if status == 401 and challenge:
            auth = self._authorize(challenge, repository)
            if auth:
                self._tokens[repository] = auth
                status, _ = self._head(url, auth)
        if status == 200:
            return True
        if status == 404:
            return False
        raise fail(ref, f"registry answered {status} to a manifest look-up")

    def _head(self, url: str, authorization: str | None) -> tuple[int, str]:
        # the URL's scheme is checked: the environment file admits http(s) URLs only
        request = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})  # noqa: S310
        if authorization:
            request.add_header("Authorization", authorization)
        try:
            # the URL's scheme is checked: the environment file admits http(s) URLs only
            with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT_S) as response:  # noqa: S310
                return int(response.status), ""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("WWW-Authenticate", "")
        except (urllib.error.URLError, OSError) as exc:
            raise fail(url, f"registry unreachable: {getattr(exc, 'reason', exc)}") from None

    def _authorize(self, challenge: str, repository: str) -> str | None:
        """Answer a Basic or Bearer challenge (the token flow of Docker Hub, Harbor, GitLab, ...)."""
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            return self.credentials.basic()
        if scheme.lower() != "bearer":
            return None
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if "realm" not in fields:
            return None
        query = {"scope": f"repository:{repository}:pull"}
        if "service" in fields:
            query["service"] = fields["service"]
        if urllib.parse.urlsplit(fields["realm"]).scheme not in ("http", "https"):
            return None  # a token service is an http(s) URL; anything else is not followed
        # the realm's scheme is checked just above
        request = urllib.request.Request(fields["realm"] + "?" + urllib.parse.urlencode(query))  # noqa: S310
        basic = self.credentials.basic()
        if basic:
            request.add_header("Authorization", basic)
        try:
            # the realm's scheme is checked above
            with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT_S) as response:  # noqa: S310
                answer = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        token = answer.get("token") or answer.get("access_token")
        return f"Bearer {token}" if token else None


def build_args(image: Image, env: Environment, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Values for the ARGs the Dockerfile declares: the environment file's index settings, and any proxy."""
    declared = set(re.findall(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)", _read_dockerfile(image), re.M))
    settings = {
        "PIP_INDEX_URL": env.pip.index_url or "",
        "PIP_EXTRA_INDEX_URL": " ".join(env.pip.extra_index_urls),
        "PIP_TRUSTED_HOST": " ".join(env.pip.trusted_hosts),
    }
    args = {name: value for name, value in settings.items() if name in declared}
    args |= {name: environ[name] for name in PROXY_ARGS if environ.get(name)}
    return args


def _read_dockerfile(image: Image) -> str:
    return (image.context / image.dockerfile).read_text(encoding="utf-8")


def _stream_errors(items: Iterable[Any], ref: str, what: str, keep: int = 15) -> Iterator[str]:
    """The text lines of a build or push stream; an error item (not an exception!) fails the image."""
    tail: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        error = item.get("error") or (item.get("errorDetail") or {}).get("message")
        if error:
            context = "".join(tail[-keep:]).rstrip()
            detail = f"\n{context}" if context else ""
            raise fail(ref, f"{what} failed: {str(error).strip()}{detail}")
        line = item.get("stream") or item.get("status")
        if line:
            text = str(line) if str(line).endswith("\n") else f"{line}\n"
            tail.append(text)
            yield text


class Images:
    """Build and push what is missing; ``docker_factory`` is called only when something must be built."""

    def __init__(
        self,
        env: Environment,
        registry: RegistryClient,
        credentials: Credentials,
        docker_factory: Callable[[], Any],
    ) -> None:
        self.env = env
        self.registry = registry
        self.credentials = credentials
        self._docker_factory = docker_factory
        self._docker: Any = None

    @property
    def docker(self) -> Any:
        if self._docker is None:
            self._docker = self._docker_factory()
        return self._docker

    def missing(self, images: Iterable[Image]) -> list[Image]:
        """Images whose tag is not in the registry (concurrent HEADs)."""
        images = list(images)
        with ThreadPoolExecutor(max_workers=8) as pool:
            present = list(pool.map(lambda i: self.registry.has(i.ref), images))
        return [i for i, found in zip(images, present, strict=True) if not found]

    def ensure(self, image: Image, log: Callable[[str], None], announce: Callable[[str], None]) -> ImageResult:
        """Make the registry hold ``image``: push a local copy, or build then push."""
        start = time.monotonic()
        action: Action = "pushed"
        if not self._local(image.ref):
            announce(f"building {image.ref}")
            self.build(image, log)
            action = "built"
        announce(f"pushing {image.ref}")
        self.push(image, log)
        return ImageResult(image, action, time.monotonic() - start)

    def _local(self, ref: str) -> bool:
        import docker.errors  # type: ignore[import-untyped]

        try:
            self.docker.images.get(ref)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise fail(ref, f"container engine: {exc.explanation or exc}") from None
        return True

    def build(self, image: Image, log: Callable[[str], None]) -> None:
        _follow(
            image.ref,
            "build",
            lambda: self.docker.api.build(
                path=str(image.context),
                dockerfile=image.dockerfile,
                tag=image.ref,
                buildargs=build_args(image, self.env),
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
            ),
            log,
        )
        # Some engines end a failed build without an error item; the tag is the proof.
        if not self._local(image.ref):
            raise fail(image.ref, "build ended without producing the image")

    def push(self, image: Image, log: Callable[[str], None]) -> None:
        _follow(
            image.ref,
            "push",
            lambda: self.docker.api.push(
                image.repository, tag=image.tag, stream=True, decode=True, auth_config=self.credentials.auth_config()
            ),
            log,
        )
        if not self.registry.has(image.ref):
            raise fail(image.ref, "push reported success but the registry does not have the manifest")


def _follow(ref: str, action: str, start: Callable[[], Iterable[Any]], log: Callable[[str], None]) -> None:
    """Start a build or push and log its stream; the engine's failures become one problem for ``ref``."""
    import docker.errors
    import requests

    try:
        for line in _stream_errors(start(), ref, action):
            log(line)
    except docker.errors.APIError as exc:
        raise fail(ref, f"{action} failed: {exc.explanation or exc}") from None
    except requests.exceptions.RequestException as exc:
        raise fail(ref, f"{action} failed: container engine unreachable: {exc}") from None


def docker_client() -> Any:
    """The engine at ``DOCKER_HOST`` (podman's Docker API in the test platform)."""
    import docker

    try:
        return docker.from_env(version=DOCKER_API_VERSION)
    except docker.errors.DockerException as exc:
        raise fail(os.environ.get("DOCKER_HOST", "docker"), f"no container engine: {exc}") from None


__all__ = ["ApplyError", "Credentials", "ImageResult", "Images", "RegistryClient", "build_args", "docker_client"]
