"""The environment file: where things live, as one reviewed YAML file.

It holds the seed's backend-config values (registry, PIP index, message bus, storage, gateway, data
processor). Secrets are never values here: only names of Kubernetes Secrets or environment variables.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from .errors import EnvironmentFileError, Problem
from .jsonpos import Positions
from .validate import located_problems

DnsLabel = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
SecretName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=128)]
ImageRef = Annotated[
    str, StringConstraints(min_length=1, max_length=512, pattern=r"^[a-z0-9][^\s@]*(@sha256:[0-9a-f]{64})?$")
]
Host = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]


def _no_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "amqp", "amqps"):
        raise ValueError("must be an http(s) or amqp(s) URL")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials; reference a Secret or environment variable instead")
    if not parts.hostname:
        raise ValueError("must name a host")
    return url


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Registry(_Model):
    url: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._/-]+)?$")
    ]
    """Registry host (and optional path), e.g. ``registry.example.com/ml``."""
    insecure: bool = False
    repository_prefix: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")] = "aiar"
    pull_secret: SecretName | None = None
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None


class BaseImages(_Model):
    python: ImageRef
    java: ImageRef | None = None
    """Image holding a Java runtime (JRE 11 or later), required by H2O models: its JRE is copied into them,
    symbolic links resolved in that image first (so it needs ``sh``, ``find`` and ``cp``)."""
    java_home: Annotated[str, StringConstraints(pattern=r"^(/[A-Za-z0-9._-]+)+$")] = "/opt/java/openjdk"
    """Where that image keeps the JRE (``JAVA_HOME``); the default is the Eclipse Temurin images' layout."""
    kubectl: ImageRef | None = None
    """Image with ``kubectl`` on PATH, run by the scale CronJobs; required when a model has a schedule."""


class Pip(_Model):
    index_url: str | None = None
    extra_index_urls: list[str] = Field(default_factory=list)
    trusted_hosts: list[Host] = Field(default_factory=list)

    @field_validator("index_url")
    @classmethod
    def _index(cls, url: str | None) -> str | None:
        return None if url is None else _no_credentials(url)

    @field_validator("extra_index_urls")
    @classmethod
    def _extra(cls, urls: list[str]) -> list[str]:
        return [_no_credentials(u) for u in urls]


class Build(_Model):
    ca_bundle: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    """PEM file (absolute, or relative to the environment file) trusted while installing packages."""


class MessageBus(_Model):
    host: Host
    port: Annotated[int, Field(ge=1, le=65535)] = 5672
    vhost: Annotated[str, StringConstraints(min_length=1, max_length=255)] = "/"
    credentials_secret: SecretName | None = None
    """Secret with keys ``username`` and ``password``."""


class Storage(_Model):
    endpoint: str
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    region: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$")] = "us-east-1"
    credentials_secret: SecretName | None = None
    """Secret with keys ``access_key`` and ``secret_key``."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, url: str) -> str:
        return _no_credentials(url)


LabelKey = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
    ),
]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")]


class PeerSelector(_Model):
    """Pods allowed to reach the models (a NetworkPolicy peer): by their namespace's and their own labels."""

    namespace_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    pod_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)


# Kong's Helm chart labels its pods app.kubernetes.io/name=kong; the namespace is usually "kong".
_KONG_PODS = PeerSelector(
    namespace_labels={"kubernetes.io/metadata.name": "kong"}, pod_labels={"app.kubernetes.io/name": "kong"}
)


class Gateway(_Model):
    host: Host | None = None
    path_prefix: Annotated[str, StringConstraints(pattern=r"^(/[a-z0-9._-]+)+$")] = "/models"
    admin_url: str | None = None
    auth: Literal["key-auth", "jwt"] = "key-auth"
    rate_limit_per_minute: Annotated[int, Field(ge=1)] | None = None
    ingress_from: PeerSelector = _KONG_PODS
    """The gateway's pods: the only peers a model's NetworkPolicy admits to its HTTP port."""

    @field_validator("admin_url")
    @classmethod
    def _admin(cls, url: str | None) -> str | None:
        return None if url is None else _no_credentials(url)


class DataProcessor(_Model):
    url: str
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _no_credentials(url)


class Wazuh(_Model):
    manager: Host
    agent_image: ImageRef
    """Must run as a non-root user: the pod is held to Pod Security Standards *restricted*."""
    registration_secret: SecretName | None = None
    """Secret with key ``password``: the manager's agent enrollment password."""
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1)] = Field(
        default_factory=lambda: [1514, 1515]
    )
    """Manager ports the agent connects to (events, enrollment); opened in the NetworkPolicy."""


LayerName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class Layer(_Model):
    """A Dockerfile fragment that DOCKER_LAYERS bundles name in ``layers``: its text, or a file holding it."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=65536)] | None = None
    file: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    """Absolute, or relative to the environment file."""

    @model_validator(mode="after")
    def _one_source(self) -> Layer:
        if (self.file is None) == (self.text is None):
            raise ValueError("a layer needs exactly one of 'text' and 'file'")
        return self


class Environment(_Model):
    """The environment file, as written."""

    namespace: DnsLabel
    registry: Registry
    base_images: BaseImages
    pip: Pip = Pip()
    build: Build = Build()
    message_bus: MessageBus | None = None
    storage: Storage | None = None
    gateway: Gateway = Gateway()
    data_processor: DataProcessor | None = None
    wazuh: Wazuh | None = None
    metrics_scrapers: PeerSelector | None = None
    """Prometheus' pods, admitted to every model's HTTP port for ``/metrics``; none when unset."""
    layers: dict[LayerName, Layer] = Field(default_factory=dict)
    """Dockerfile fragments for DOCKER_LAYERS bundles, beside (and overriding) those shipped with aiar."""


@dataclass(frozen=True)
class LoadedEnvironment:
    """The environment plus the files it references, read at the I/O edge."""

    env: Environment
    digest: str
    ca_bundle: bytes | None
    layers: dict[str, str] = field(default_factory=dict)
    """The environment's Dockerfile fragments by name, ``file`` ones read."""


def _yaml_positions(node: Any, pointer: str, positions: Positions) -> Any:
    """Plain data from ruamel's round-trip nodes, recording line:col (1-based) by pointer."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            child = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            kl, kc, vl, vc = node.lc.data[key]
            positions.keys[child] = (kl + 1, kc + 1)
            positions.values[child] = (vl + 1, vc + 1)
            out[str(key) if not isinstance(key, str) else key] = _yaml_positions(value, child, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            line, col = node.lc.data[i]
            positions.values[f"{pointer}/{i}"] = (line + 1, col + 1)
            items.append(_yaml_positions(value, f"{pointer}/{i}", positions))
        return items
    # ruamel's scalars are subclasses (ScalarInt, ScalarFloat, ...): strict validation wants the base types.
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


# The fast path's subset of YAML: block mappings of plain scalars, spaces, comments, ASCII. Anything
# else (sequences, quotes, flow style, anchors, tags, multi-line scalars, duplicate keys, numbers other
# than small decimal integers...) goes to ruamel, which also reads this subset exactly like this.
_SIMPLE_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_./-]*):(?: +(.*))?")
_SIMPLE_TEXT = re.compile(r"[\x20-\x7e\n]*")
_SIMPLE_STRING = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@+=-]*(?:[: ][A-Za-z0-9_./@+=-]+)*")
_SIMPLE_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_SIMPLE_WORDS: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("null", "Null", "NULL"), None),
}
# Words that some YAML reader reads as something else than a string: left to ruamel.
_SIMPLE_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _NotSimple(Exception):
    pass


def _simple_scalar(text: str) -> Any:
    if text in _SIMPLE_WORDS:
        return _SIMPLE_WORDS[text]
    if _SIMPLE_INT.fullmatch(text):
        return int(text)
    if _SIMPLE_STRING.fullmatch(text) and text.lower() not in _SIMPLE_RESERVED:
        return text
    raise _NotSimple


def _simple_yaml(text: str) -> dict[str, Any] | None:
    """The document when ``text`` is in the fast path's subset, else None (then ruamel reads it)."""
    if not _SIMPLE_TEXT.fullmatch(text):
        return None
    root: dict[str, Any] = {}
    # open mappings, innermost last: (indent of their keys, mapping); and a key still without a value
    stack: list[tuple[int, dict[str, Any]]] = []
    pending: tuple[int, dict[str, Any], str] | None = None
    try:
        for line in text.split("\n"):
            stripped = line.lstrip(" ")
            if not stripped or stripped.startswith("#"):
                continue
            match = _SIMPLE_LINE.fullmatch(line)
            if match is None:
                raise _NotSimple
            indent = len(match.group(1))
            key = match.group(2)
            value = match.group(3) or ""
            value = "" if value.startswith("#") else value.split(" #", 1)[0].rstrip(" ")
            if key.lower() in _SIMPLE_RESERVED or "#" in value:
                raise _NotSimple
            if pending is not None:
                parent_indent, parent, parent_key = pending
                pending = None
                if indent > parent_indent:
                    child: dict[str, Any] = {}
                    parent[parent_key] = child
                    stack.append((indent, child))
                else:
                    parent[parent_key] = None
            if not stack:
                if indent != 0:
                    raise _NotSimple
                stack.append((0, root))
            while indent < stack[-1][0]:
                stack.pop()
            if indent != stack[-1][0]:
                raise _NotSimple  # deeper than a scalar's key (a continuation line) or between levels
            mapping = stack[-1][1]
            if key in mapping:
                raise _NotSimple  # ruamel reports it, with its position
            if value:
                mapping[key] = _simple_scalar(value)
            else:
                mapping[key] = None
                pending = (indent, mapping, key)
    except _NotSimple:
        return None
    return root or None


def parse_environment(text: str, source: str) -> Environment:
    document = _simple_yaml(text)
    if document is not None:
        try:
            return Environment.model_validate(document)
        except ValidationError:
            pass  # read again below, with positions, to locate every problem
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p).split("\n")[0]
        raise EnvironmentFileError([Problem(source, "", f"invalid YAML: {message}", line, col)]) from None
    positions = Positions()
    document = _yaml_positions(raw, "", positions)
    if not isinstance(document, dict):
        raise EnvironmentFileError([Problem(source, "", "the environment file must be a YAML mapping", 1, 1)])
    try:
        return Environment.model_validate(document)
    except ValidationError as exc:
        raise EnvironmentFileError(located_problems(exc, document, positions, source)) from None


def load_environment(path: Path) -> LoadedEnvironment:
    """Read the environment file and the CA bundle it names."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EnvironmentFileError([Problem(source, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvironmentFileError([Problem(source, "", "not UTF-8 text")]) from None
    env = parse_environment(text, source)
    digest = hashlib.sha256(raw)
    ca_bundle = None
    if env.build.ca_bundle is not None:
        ca_path = Path(env.build.ca_bundle)
        if not ca_path.is_absolute():
            ca_path = path.parent / ca_path
        try:
            ca_bundle = ca_path.read_bytes()
        except OSError as exc:
            raise EnvironmentFileError(
                [Problem(source, "/build/ca_bundle", f"cannot read {ca_path}: {exc.strerror}")]
            ) from None
        if b"-----BEGIN CERTIFICATE-----" not in ca_bundle:
            raise EnvironmentFileError([Problem(source, "/build/ca_bundle", f"{ca_path} holds no PEM certificate")])
        digest.update(b"\0ca\0" + ca_bundle)
    layers: dict[str, str] = {}
    for name, layer in sorted(env.layers.items()):
        if layer.text is not None:
            layers[name] = layer.text
            continue
        assert layer.file is not None
        layer_path = Path(layer.file) if Path(layer.file).is_absolute() else path.parent / layer.file
        try:
            layers[name] = layer_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise EnvironmentFileError(
                [Problem(source, f"/layers/{name}/file", f"cannot read {layer_path}: {why}")]
            ) from None
        digest.update(b"\0layer\0" + name.encode() + b"\0" + layers[name].encode())
    return LoadedEnvironment(env, "sha256:" + digest.hexdigest(), ca_bundle, layers)
