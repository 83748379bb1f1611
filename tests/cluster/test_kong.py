"""The gateway file: valid for Kong, and no route with roles reachable without auth and an ACL."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from generator.render.gateway import unprotected_routes
from tests.cluster.kong_check import check_kong
from tests.cluster.tools import tool
from tests.conftest import REPO


def load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def roles_by_service(tree: Path) -> dict[str, Sequence[str]]:
    """What each model's manifest asks for, read back from the bundles that tree was generated from."""
    index = json.loads((tree / "index.json").read_text())
    roles: dict[str, Sequence[str]] = {}
    for slug in index["models"]:
        for bundles in (
            REPO / "bundles",
            REPO / "tests" / "fixtures" / "bundles",
            REPO / "tests" / "cluster" / "fixtures" / "bundles",
        ):
            manifest = bundles / slug / "manifest.json"
            if manifest.exists():
                access = json.loads(manifest.read_text()).get("access")
                roles[slug] = access["roles"] if access else []
    return roles


def kong_files(tree: Path) -> list[Path]:
    return sorted(tree.rglob("kong.yaml"))


def test_deck_file_validate(all_trees: tuple[Path, ...]) -> None:
    files = [f for tree in all_trees for f in kong_files(tree)]
    assert len(files) >= 5
    deck = tool("deck")
    for f in files:
        result = subprocess.run([str(deck), "file", "validate", str(f)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{f}:\n{result.stdout}{result.stderr}"


def test_deck_rejects_a_broken_file(tmp_path: Path) -> None:
    """The validator has teeth: an unknown route field and a dangling service reference both fail."""
    document = load(REPO / "out" / "gateway" / "kong.yaml")
    document["services"][0]["routes"][0]["bogus_field"] = 1
    broken = tmp_path / "kong.yaml"
    broken.write_text(json.dumps(document))
    result = subprocess.run([str(tool("deck")), "file", "validate", str(broken)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "bogus_field" in result.stdout + result.stderr


def test_structural_check_passes_and_has_teeth() -> None:
    document = load(REPO / "out" / "gateway" / "kong.yaml")
    assert check_kong(document) == []
    broken = copy.deepcopy(document)
    broken["_format_version"] = 3.0
    broken["services"][0]["routes"][0]["paths"] = ["models/x"]
    broken["services"][0]["routes"][0]["plugins"].append({"name": "acl", "config": {}})
    assert len(check_kong(broken)) >= 3


def test_routes_with_roles_need_auth_and_exact_acl(all_trees: tuple[Path, ...]) -> None:
    checked = 0
    for tree in all_trees:
        roles = roles_by_service(tree)
        for f in kong_files(tree):
            document = load(f)
            assert unprotected_routes(document, roles) == [], f
            checked += sum(1 for s in document["services"] if roles.get(s["name"]))
    assert checked >= 3  # the quality classifier (key-auth, twice) and the guarded scorer (jwt)


@pytest.mark.parametrize(
    ("mutation", "problem"),
    [
        (lambda r: r.__setitem__("plugins", [p for p in r["plugins"] if p["name"] != "key-auth"]), "no key-auth"),
        (lambda r: r.__setitem__("plugins", [p for p in r["plugins"] if p["name"] != "acl"]), "no acl"),
        (lambda r: next(p for p in r["plugins"] if p["name"] == "acl")["config"]["allow"].append("anyone"), "exactly"),
        (lambda r: next(p for p in r["plugins"] if p["name"] == "key-auth").__setitem__("enabled", False), "no key"),
    ],
    ids=["no-auth", "no-acl", "wider-acl", "auth-disabled"],
)
def test_checker_catches_an_unprotected_route(mutation: Any, problem: str) -> None:
    document = load(REPO / "out" / "gateway" / "kong.yaml")
    service = next(s for s in document["services"] if s["name"] == "quality-classifier")
    mutation(service["routes"][0])
    problems = unprotected_routes(document, {"quality-classifier": ["quality-engineer", "line-supervisor"]})
    assert problems
    assert problem in problems[0]


def test_jwt_environment_gets_jwt(cluster_variants: Path) -> None:
    route = load(cluster_variants / "guarded-scorer" / "gateway" / "kong.yaml")["services"][0]["routes"][0]
    names = [p["name"] for p in route["plugins"]]
    assert names == ["jwt", "acl"]
    assert route["paths"] == ["/ml/v1/guarded-scorer/v2"]


def test_a_bus_only_model_gets_no_route() -> None:
    variants = REPO / "tests" / "goldens" / "variants"
    assert not (variants / "bus-scorer" / "gateway").exists()
    services = load(variants / "gateway" / "kong.yaml")["services"]
    assert [s["name"] for s in services] == ["drift-scorer"]  # the REST variant's, not the bus model's
    assert not (variants / "bus-scorer" / "k8s" / "service.yaml").exists()


def test_merged_file_holds_every_model_service() -> None:
    merged = load(REPO / "out" / "gateway" / "kong.yaml")
    singles = [load(f)["services"][0] for f in sorted((REPO / "out").glob("*/gateway/kong.yaml"))]
    assert merged["services"] == singles
    assert merged["_info"]["select_tags"] == ["aiar"]
    for service in merged["services"]:
        assert f"aiar-model:{service['name']}" in service["tags"]
        if service["name"] == "greeting-service":
            # DOCKER_LAYERS: one route per OpenAPI path; the captured server path is the upstream URI
            for route in service["routes"]:
                assert route["strip_path"] is False
                assert route["paths"][0].startswith("~/models/greeting-service(")
                assert route["plugins"][0]["config"]["replace"]["uri"] == "$(uri_captures.path)"
            continue
        assert service["routes"][0]["strip_path"] is True
        assert service["url"].endswith("/v2")  # public <prefix>/<slug>/v2/... -> upstream /v2/...
