"""What the Kubernetes objects promise: restricted pods, selectors, schedules, RBAC, ApplySet, order."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from generator.errors import AiarError
from generator.pipeline import compile_paths, discover_bundles
from tests.cluster.conftest import FIXTURES, GOLDEN_TREES, VARIANT_ENV, k8s_files
from tests.conftest import EXAMPLE_ENV, REPO

YAML_LOADER = YAML(typ="safe", pure=True)


def objects(tree: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(f, YAML_LOADER.load(f.read_text())) for f in k8s_files(tree)]


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return [spec["template"]["spec"]] if "template" in spec else []


def test_every_pod_is_restricted(all_trees: tuple[Path, ...]) -> None:
    pods = 0
    for tree in all_trees:
        for path, obj in objects(tree):
            for pod in pod_specs(obj):
                pods += 1
                assert pod["securityContext"]["runAsNonRoot"] is True, path
                assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, path
                assert pod["automountServiceAccountToken"] is False, path
                for c in pod["containers"]:
                    sc = c["securityContext"]
                    assert sc["allowPrivilegeEscalation"] is False, path
                    assert sc["capabilities"] == {"drop": ["ALL"]}, path
                    assert sc["readOnlyRootFilesystem"] is True, path
                    assert sc["runAsUser"] == 10001, path
                    assert sc["runAsNonRoot"] is True, path
                    assert set(c["resources"]) == {"requests", "limits"}, path
                    for env in c.get("env", []):
                        assert "value" not in env or not env["name"].startswith("AIAR_"), path
    assert pods >= 9


def test_only_the_scaler_gets_an_api_token(all_trees: tuple[Path, ...]) -> None:
    for tree in all_trees:
        for path, obj in objects(tree):
            for pod in pod_specs(obj):
                projected = [v for v in pod["volumes"] if "projected" in v]
                assert bool(projected) == (obj["kind"] == "CronJob"), path


def test_labels_and_selectors(all_trees: tuple[Path, ...]) -> None:
    for tree in all_trees:
        for path, obj in objects(tree):
            labels = obj["metadata"]["labels"]
            if obj["metadata"]["name"] == "aiar-applyset":
                continue
            for key in ("name", "instance", "version", "component", "part-of", "managed-by"):
                assert f"app.kubernetes.io/{key}" in labels, (path, key)
            assert obj["metadata"]["annotations"]["aiar.dev/model-version"] == labels["app.kubernetes.io/version"]
            selectors = []
            if obj["kind"] in ("Deployment",):
                selectors.append(obj["spec"]["selector"]["matchLabels"])
            if obj["kind"] in ("Service",):
                selectors.append(obj["spec"]["selector"])
            if obj["kind"] == "NetworkPolicy":
                selectors.append(obj["spec"]["podSelector"]["matchLabels"])
            for selector in selectors:
                assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}, path


def applyset_id(name: str, namespace: str, kind: str, group: str) -> str:
    # KEP-3659: base64url (RFC 4648 §5, unpadded) of sha256("<name>.<namespace>.<kind>.<group>")
    raw = hashlib.sha256(".".join((name, namespace, kind, group)).encode()).digest()
    return "applyset-" + base64.urlsafe_b64encode(raw).decode().replace("=", "") + "-v1"


def test_applyset_parent_and_members() -> None:
    out = REPO / "out"
    parent = YAML_LOADER.load((out / "k8s" / "applyset.yaml").read_text())
    expected = applyset_id("aiar-applyset", "ml-models", "ConfigMap", "")
    assert parent["metadata"]["labels"]["applyset.kubernetes.io/id"] == expected
    assert parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"].startswith("aiar/v")
    kinds = set(parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"].split(","))
    for path, obj in objects(out):
        if obj is parent or path.name == "applyset.yaml":
            continue
        assert obj["metadata"]["labels"]["applyset.kubernetes.io/part-of"] == expected, path
        assert obj["metadata"]["namespace"] == "ml-models"
        group = obj["apiVersion"].rpartition("/")[0]
        assert (f"{obj['kind']}.{group}" if group else obj["kind"]) in kinds


def test_index_lists_objects_in_apply_order() -> None:
    index = json.loads((REPO / "out" / "index.json").read_text())
    assert index["cluster"]["applyset"]["parent"] == "k8s/applyset.yaml"
    model = index["models"]["quality-classifier"]
    files = model["kubernetes"]
    rank = {
        "ConfigMap": 0,
        "ServiceAccount": 1,
        "Role": 1,
        "RoleBinding": 1,
        "Job": 2,
        "Deployment": 3,
        "Service": 4,
        "PodDisruptionBudget": 4,
        "CronJob": 5,
        "NetworkPolicy": 6,
        "PodMonitor": 7,
        "PrometheusRule": 7,
    }
    kinds = [YAML_LOADER.load((REPO / "out" / f).read_text())["kind"] for f in files]
    assert [rank[k] for k in kinds] == sorted(rank[k] for k in kinds)
    assert set(files) == {
        p.relative_to(REPO / "out").as_posix() for p in (REPO / "out" / "quality-classifier").rglob("k8s/*.yaml")
    }
    [(job_file, condition)] = model["wait_for"].items()
    assert condition == "Complete"
    assert job_file.endswith("job-train.yaml")
    assert model["gateway"] == "quality-classifier/gateway/kong.yaml"


def test_schedule_owns_replicas_and_rbac_is_minimal() -> None:
    out = REPO / "out"
    scheduled = YAML_LOADER.load((out / "quality-classifier" / "k8s" / "deployment.yaml").read_text())
    assert "replicas" not in scheduled["spec"]
    plain = YAML_LOADER.load((out / "injection-model" / "k8s" / "deployment.yaml").read_text())
    assert plain["spec"]["replicas"] == 1
    role = YAML_LOADER.load((out / "quality-classifier" / "k8s" / "role-scaler.yaml").read_text())
    for rule in role["rules"]:
        assert rule["resourceNames"] == ["quality-classifier"]
        assert set(rule["verbs"]) <= {"get", "patch", "update"}
        assert rule["resources"] in (["deployments"], ["deployments/scale"])
    assert [r["verbs"] for r in role["rules"] if r["resources"] == ["deployments"]] == [["get"]]
    for action, replicas, cron in (("start", "1", "0 6 * * 1,2,3,4,5"), ("stop", "0", "0 22 * * 1,2,3,4,5")):
        cron_job = YAML_LOADER.load((out / "quality-classifier" / "k8s" / f"cronjob-{action}.yaml").read_text())
        spec = cron_job["spec"]
        assert spec["schedule"] == cron
        assert spec["timeZone"] == "Europe/Madrid"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] > 0
        args = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--replicas={replicas}" in args
        assert "deployment/quality-classifier" in args


def test_content_hashed_names_follow_content() -> None:
    out = REPO / "out"
    config = YAML_LOADER.load((out / "injection-model" / "k8s" / "configmap.yaml").read_text())
    server = (out / "injection-model" / "server" / "model-server.json").read_text()
    assert config["data"]["model-server.json"] == server
    digest = hashlib.sha256(server.encode()).hexdigest()[:10]
    assert config["metadata"]["name"] == f"injection-model-config-{digest}"
    job = YAML_LOADER.load((out / "injection-model" / "k8s" / "job-train.yaml").read_text())
    assert job["metadata"]["name"].startswith("injection-model-train-")
    assert job["metadata"]["annotations"]["aiar.dev/apply-wait-for"] == "Complete"
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": config["metadata"]["name"]}} in volumes


def test_network_policy_allows_only_what_is_needed() -> None:
    policy = YAML_LOADER.load((REPO / "out" / "injection-model" / "k8s" / "networkpolicy.yaml").read_text())
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = spec["ingress"]
    assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
    ports = sorted(p["port"] for rule in spec["egress"] for p in rule["ports"])
    assert ports == [53, 53, 5672, 9000]  # DNS, the bus, MinIO
    bus_only = YAML_LOADER.load((GOLDEN_TREES[1] / "bus-scorer" / "k8s" / "networkpolicy.yaml").read_text())
    assert "ingress" not in bus_only["spec"]  # no REST, no gateway, no scrapers: all ingress denied


def test_wazuh_sidecar(cluster_variants: Path) -> None:
    deployment = YAML_LOADER.load((cluster_variants / "guarded-scorer" / "k8s" / "deployment.yaml").read_text())
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    agent = containers["wazuh-agent"]
    env = {e["name"]: e for e in agent["env"]}
    assert env["WAZUH_MANAGER"]["value"] == "wazuh-manager.security.svc"
    assert env["WAZUH_REGISTRATION_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "wazuh-enrollment"
    assert "imagePullSecrets" not in deployment["spec"]["template"]["spec"]


def _write(tmp_path: Path, manifest: dict[str, Any], env_text: str) -> tuple[Path, Path]:
    bundle = tmp_path / "b"
    (bundle / "src").mkdir(parents=True)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "src" / "predict.py").write_text("def predict(model, reading):\n    return 1\n")
    env = tmp_path / "env.yaml"
    env.write_text(env_text)
    return bundle, env


@pytest.mark.parametrize(
    ("drop", "pointer", "words"),
    [("wazuh:", "/monitoring/wazuh", "no 'wazuh'"), ("  kubectl:", "/schedule", "base_images.kubectl")],
)
def test_missing_environment_sections_are_clear_errors(tmp_path: Path, drop: str, pointer: str, words: str) -> None:
    manifest = json.loads((FIXTURES / "bundles" / "guarded-scorer" / "manifest.json").read_text())
    lines = VARIANT_ENV.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(drop))
    end = start + 1
    while drop == "wazuh:" and end < len(lines) and lines[end].startswith("  "):
        end += 1
    bundle, env = _write(tmp_path, manifest, "\n".join(lines[:start] + lines[end:]) + "\n")
    with pytest.raises(AiarError) as caught:
        compile_paths([bundle], env, tmp_path / "aiar.lock")
    [problem] = caught.value.problems
    assert problem.pointer == pointer
    assert words in problem.message


def test_examples_compile_with_the_cluster_side() -> None:
    compiled = compile_paths(discover_bundles(REPO / "bundles"), EXAMPLE_ENV, REPO / "aiar.lock")
    assert "gateway/kong.yaml" in compiled.files
    assert "k8s/applyset.yaml" in compiled.files
