"""The real CRDs of the Prometheus Operator and KEDA, pinned, installed into the local kube-apiserver.

Route: both projects are Go modules, and their module zips (from the Go module proxy, the one
route to their sources that works here) carry the CRDs they release: the Prometheus Operator's
``example/prometheus-operator-crd/*.yaml``, KEDA's ``config/crd/bases/*.yaml``. ``go mod download``
fetches one pinned version into a module cache under the platform's cache directory; each CRD file
is then checked against its sha256 below and copied beside it. Installing is a server-side apply of
each CRD, then a wait for it to be Established: idempotent, and additive to the platform.

The same files give kubeconform its schemas for the custom resources (:func:`kubeconform_schemas`):
each CRD version's ``openAPIV3Schema``, as kubeconform's ``{group}/{kind}_{version}.json`` layout.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..waiting import poll
from .build import go_env
from .config import Layout
from .kube import Api
from .proc import TRANSIENT, StepError, log, run


@dataclass(frozen=True)
class CrdSource:
    module: str
    version: str
    directory: str
    files: dict[str, str]
    """File name -> sha256 of its content."""


PROMETHEUS_OPERATOR = CrdSource(
    "github.com/prometheus-operator/prometheus-operator",
    "v0.79.2",
    "example/prometheus-operator-crd",
    {
        "monitoring.coreos.com_podmonitors.yaml": "0d40a9e5bf3c80e2efaa62e67c3ffc6aac91bb3c1fba3120762361f6e3036dd7",
        "monitoring.coreos.com_prometheusrules.yaml": "c8947e584c8e9cb40a339bb887e5bf9a3cafda8b915b63c7cb077dd4a9f4528e",  # noqa: E501
        "monitoring.coreos.com_servicemonitors.yaml": "86955dec8ac2818f5248a60e470aea98144daef9f4453f39e31399af511ec3ab",  # noqa: E501
    },
)
KEDA = CrdSource(
    "github.com/kedacore/keda/v2",
    "v2.16.1",
    "config/crd/bases",
    {
        "keda.sh_scaledobjects.yaml": "3c91c5423e809a456e67fc47a85a095a2ade29dd00dfc96e92a3aa6d8e6a5526",
        "keda.sh_triggerauthentications.yaml": "a7611dd4c412a2f84719cc804c5f13a10b62dbd172bc54a2164834aab27046d1",
        "keda.sh_clustertriggerauthentications.yaml": "2f1ae82cefc432e30bd1b1fe017e343175f61aba9366e5ec83f6b01ef39978f4",  # noqa: E501
        # the rest of KEDA's CRDs: its operator watches them all (tests/runtime/test_keda.py runs it)
        "keda.sh_scaledjobs.yaml": "3e2a219a14ac5fafea777f3503d94b047e42c0b6c2c446e8b4b544e0198426f0",
        "eventing.keda.sh_cloudeventsources.yaml": "83d611d2150be4d884d35c225c7a41f5849dc15da66b95390c90aa2b1e1435ff",
        "eventing.keda.sh_clustercloudeventsources.yaml": "9c0f23fb2981acf70c300dc7135d583c98c823c3775ce8eaa746c89df450dc67",  # noqa: E501
    },
)
SOURCES = (PROMETHEUS_OPERATOR, KEDA)


def crd_dir(cachedir: Path) -> Path:
    return cachedir / "crds"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_crd_files(cachedir: Path) -> list[Path]:
    """The pinned CRD files, from the cache or fetched once through the Go module proxy."""
    target = crd_dir(cachedir)
    target.mkdir(parents=True, exist_ok=True)
    found: list[Path] = []
    for source in SOURCES:
        wanted = {name: target / f"{source.version}-{name}" for name in source.files}
        if not all(path.is_file() and _sha256(path) == source.files[name] for name, path in wanted.items()):
            log(f"CRDs: go mod download {source.module}@{source.version}")
            env = go_env() | {"GOMODCACHE": str(cachedir / "crds-gomod")}
            proc = run(["go", "mod", "download", "-json", f"{source.module}@{source.version}"], env=env, timeout=900)
            info: dict[str, Any] = json.loads(proc.stdout)
            if "Error" in info:
                raise StepError(f"go mod download {source.module}@{source.version}: {info['Error']}")
            for name, path in wanted.items():
                fetched = Path(info["Dir"]) / source.directory / name
                digest = _sha256(fetched)
                if digest != source.files[name]:
                    raise StepError(f"{fetched}: sha256 {digest}, pinned {source.files[name]}")
                shutil.copyfile(fetched, path)
        found += wanted.values()
    return found


def crd_documents(cachedir: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in ensure_crd_files(cachedir)]


def install_crds(layout: Layout) -> None:
    """Server-side apply every pinned CRD and wait until the API server serves it."""
    api = Api(layout)
    names = []
    for crd in crd_documents(layout.cachedir):
        name = crd["metadata"]["name"]
        api.apply(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", crd)
        names.append(name)

    def established() -> bool:
        for name in names:
            crd = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}") or {}
            conditions = (crd.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return False
        return True

    poll("the CRDs Established", established, timeout=60, retry_on=TRANSIENT)


def _strict(schema: Any) -> Any:
    """kubeconform's -strict reads ``additionalProperties: false`` where the schema lists properties."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def kubeconform_schemas(cachedir: Path) -> str:
    """A kubeconform ``-schema-location`` for the pinned custom resources (written once per pin)."""
    root = crd_dir(cachedir) / "kubeconform"
    pins = hashlib.sha256("".join(sorted(h for s in SOURCES for h in s.files.values())).encode()).hexdigest()
    stamp = root / f".from-{pins[:16]}"
    if not stamp.is_file():
        for crd in crd_documents(cachedir):
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                path = root / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(schema, sort_keys=True))
        stamp.write_text("")
    return f"{root}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"
