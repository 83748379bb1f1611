"""Production hygiene and least privilege of the generated objects.

Each workload gets only the credentials and network paths its own code path uses; every container
bounds its ephemeral storage and every emptyDir its size; a model with more than one replica gets a
PodDisruptionBudget and spreads its pods; a DOCKER_LAYERS server is ready when its declared health
route answers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from generator import defaults
from generator.contract import KIND_PHASE
from generator.errors import AiarError
from generator.kinds.docker_layers import ApiRoute
from generator.pipeline import compile_paths, discover_bundles, generate
from generator.plan.cluster import health_route
from tests.cluster.conftest import k8s_files
from tests.cluster.kube_score import findings, kubernetes_files, load_skips, score
from tests.cluster.test_checkov import checkov, failed
from tests.cluster.test_kubeconform import kubeconform
from tests.conftest import EXAMPLE_ENV, REPO, MakeBundle
from tests.helpers import minimal_manifest

YAML_LOADER = YAML(typ="safe", pure=True)
Obj = dict[str, Any]

BUS_SECRET, STORAGE_SECRET = "rabbitmq-credentials", "minio-credentials"
BUS_PORT, STORAGE_PORT = 5672, 9000  # bundles/environment.yaml
TRAIN_PY = "def train(dataset, hyperparameters, model_path):\n    model_path.write_text('m')\n"


def load(path: Path) -> Obj:
    return dict(YAML_LOADER.load(path.read_text()))


def pod_of(obj: Obj) -> Obj | None:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"] if "template" in spec else None


def secrets_used(obj: Obj) -> set[str]:
    pod = pod_of(obj)
    assert pod is not None
    return {
        env["valueFrom"]["secretKeyRef"]["name"]
        for container in pod["containers"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }


def egress_ports(policy: Obj) -> set[int]:
    """Every port the policy lets out, DNS aside."""
    ports = {p["port"] for rule in policy["spec"].get("egress", []) for p in rule["ports"]}
    return ports - {defaults.DNS_PORT}


# --- least privilege -----------------------------------------------------------------------------


def compile_objects(bundle: Path, env: Path, tmp_path: Path) -> dict[str, Obj]:
    """The model's objects by file stem (``deployment``, ``job-train``, ``networkpolicy-training``...)."""
    [model] = compile_paths([bundle], env, tmp_path / "aiar.lock").models
    return {
        Path(path).stem: YAML_LOADER.load(body)
        for path, body in model.files.items()
        if "/k8s/" in path and path.endswith(".yaml")
    }


REST = minimal_manifest()["input"]["prediction"]
HISTORIC = [{"type": "HISTORIC_DATA", "payload": {"dataSource": "STORAGE", "fileName": "history.csv"}}]
BUS_IN = [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "tiny.in"}]}}]
BUS_OUT = [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "tiny.out"}]}}]
MODEL_FILE = {"type": "PYTHON", "payload": {"dependencies": [], "modelFile": "model.pkl"}}

# (manifest overrides, what the server uses, what the training Job uses or None for no Job)
ACCESS_CASES: dict[str, tuple[dict[str, Any], set[str], set[str] | None]] = {
    "REST only: nothing": ({}, set(), None),
    # the runtime polls model_key in storage for the model file, trained or not
    "a model file: storage": ({"modelData": MODEL_FILE}, {STORAGE_SECRET}, None),
    # the server does not publish REST predictions; only bus predictions are published
    "REST with a bus output: nothing": ({"output": {"prediction": BUS_OUT}}, set(), None),
    "bus predictions: the bus": (
        {"input": {"prediction": BUS_IN}, "output": {"prediction": BUS_OUT}},
        {BUS_SECRET},
        None,
    ),
    "historic training: storage for both": (
        {"input": {"prediction": REST, "training": HISTORIC}, "modelData": MODEL_FILE},
        {STORAGE_SECRET},
        {STORAGE_SECRET},
    ),
    # the Job publishes its statistics; the server has nothing to do with the bus
    "historic training with a training output: the Job publishes": (
        {"input": {"prediction": REST, "training": HISTORIC}, "output": {"training": BUS_OUT}, "modelData": MODEL_FILE},
        {STORAGE_SECRET},
        {STORAGE_SECRET, BUS_SECRET},
    ),
    "bus training: the server consumes and uploads": (
        {
            "input": {
                "prediction": REST,
                "training": [{"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "t"}], "buffer": 10}}],
            },
            "modelData": MODEL_FILE,
        },
        {STORAGE_SECRET, BUS_SECRET},
        None,
    ),
}
PORT_OF = {BUS_SECRET: BUS_PORT, STORAGE_SECRET: STORAGE_PORT}


@pytest.mark.parametrize("case", list(ACCESS_CASES))
def test_each_workload_gets_only_what_it_uses(make_bundle: MakeBundle, tmp_path: Path, case: str) -> None:
    overrides, server_uses, job_uses = ACCESS_CASES[case]
    bundle = make_bundle(
        minimal_manifest(**overrides),
        {"src/predict.py": "def predict(m, x):\n    return x\n", "src/train.py": TRAIN_PY},
    )
    objects = compile_objects(bundle, EXAMPLE_ENV, tmp_path)
    assert secrets_used(objects["deployment"]) == server_uses
    assert egress_ports(objects["networkpolicy"]) == {PORT_OF[s] for s in server_uses}
    if job_uses is None:
        assert "job-train" not in objects
        assert "networkpolicy-training" not in objects
        return
    assert secrets_used(objects["job-train"]) == job_uses
    assert egress_ports(objects["networkpolicy-training"]) == {PORT_OF[s] for s in job_uses}


def test_a_docker_layers_server_gets_no_storage() -> None:
    """The bundle's own server never reads aiar's storage: no S3 credentials, no path to S3."""
    k8s = REPO / "out" / "greeting-service" / "k8s"
    assert secrets_used(load(k8s / "deployment.yaml")) == set()
    assert egress_ports(load(k8s / "networkpolicy.yaml")) == set()


def test_wazuh_ports_are_the_servers_alone(make_bundle: MakeBundle, tmp_path: Path) -> None:
    """The agent is a sidecar of the Deployment: the training Job's pods have no agent to let out."""
    env = tmp_path / "env.yaml"
    env.write_text(
        EXAMPLE_ENV.read_text()
        + "wazuh:\n  manager: wazuh.security.svc\n  agent_image: registry.example.com/wazuh-agent:4.9.0\n"
    )
    manifest = minimal_manifest(
        input={"prediction": REST, "training": HISTORIC}, modelData=MODEL_FILE, monitoring={"wazuh": True}
    )
    objects = compile_objects(
        make_bundle(manifest, {"src/predict.py": "def predict(m, x):\n    return x\n", "src/train.py": TRAIN_PY}),
        env,
        tmp_path,
    )
    assert {1514, 1515} <= egress_ports(objects["networkpolicy"])
    assert egress_ports(objects["networkpolicy-training"]) == {STORAGE_PORT}


def scaler_rules(policy: Obj) -> tuple[list[Obj], Obj]:
    dns, *others = policy["spec"]["egress"]
    assert "to" not in dns
    assert {p["port"] for p in dns["ports"]} == {defaults.DNS_PORT}
    [api_server] = others
    return dns["ports"], api_server


def test_the_scaler_reaches_only_the_api_server(cluster_variants: Path) -> None:
    # the default: private addresses on the API server's ports, never the internet
    _, default = scaler_rules(load(REPO / "out" / "quality-classifier" / "k8s" / "networkpolicy-scaler.yaml"))
    assert default["to"] == [{"ipBlock": {"cidr": cidr}} for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    assert default["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]
    # named in the environment (tests/cluster/fixtures/env-cluster.yaml): exactly those addresses
    _, named = scaler_rules(load(cluster_variants / "guarded-scorer" / "k8s" / "networkpolicy-scaler.yaml"))
    assert named["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "172.18.0.2/32"}}]


@pytest.mark.parametrize(
    ("setting", "pointer"),
    [
        ("api_server:\n  cidrs: [10.0.0.1/8]\n", "/api_server/cidrs/0"),  # host bits set
        ("api_server:\n  cidrs: [kubernetes.default]\n", "/api_server/cidrs/0"),
        ("api_server:\n  cidrs: []\n", "/api_server/cidrs"),
        ("api_server:\n  ports: [0]\n", "/api_server/ports/0"),
    ],
)
def test_a_bad_api_server_setting_is_refused(tmp_path: Path, setting: str, pointer: str) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(EXAMPLE_ENV.read_text() + setting)
    with pytest.raises(AiarError) as caught:
        compile_paths(discover_bundles(REPO / "bundles"), env, tmp_path / "aiar.lock")
    assert pointer in {p.pointer for p in caught.value.problems}


# --- resources and volumes -----------------------------------------------------------------------


def test_every_container_bounds_ephemeral_storage_and_every_emptydir_its_size(all_trees: tuple[Path, ...]) -> None:
    checked = 0
    for tree in all_trees:
        for path in k8s_files(tree):
            pod = pod_of(load(path))
            if pod is None:
                continue
            for container in pod["containers"] + pod.get("initContainers", []):
                checked += 1
                for side in ("requests", "limits"):
                    assert "ephemeral-storage" in container["resources"][side], (path, container["name"], side)
            for volume in pod["volumes"]:
                if "emptyDir" in volume:
                    assert volume["emptyDir"].get("sizeLimit"), (path, volume["name"])
    assert checked >= 12


def test_the_manifest_resources_keep_the_ephemeral_storage_defaults() -> None:
    """The manifest sets cpu and memory (its extension has no other names): ephemeral storage stays default."""
    deployment = load(REPO / "out" / "quality-classifier" / "k8s" / "deployment.yaml")
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == "250m"
    assert resources["limits"]["memory"] == "512Mi"
    assert resources["requests"]["ephemeral-storage"] == defaults.RESOURCE_REQUESTS["ephemeral-storage"]
    assert resources["limits"]["ephemeral-storage"] == defaults.RESOURCE_LIMITS["ephemeral-storage"]


# --- more than one replica -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples as if every model ran three replicas (scheduled ones: as their start CronJobs scale to)."""
    root = tmp_path_factory.mktemp("replicated")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(defaults, "REPLICAS", 3)
        generate(discover_bundles(REPO / "bundles"), EXAMPLE_ENV, root / "aiar.lock", root / "out")
    return root / "out"


def test_one_replica_gets_no_budget_and_no_spread() -> None:
    for path in k8s_files(REPO / "out"):
        obj = load(path)
        assert obj["kind"] != "PodDisruptionBudget", path
        if obj["kind"] == "Deployment":
            assert "topologySpreadConstraints" not in obj["spec"]["template"]["spec"], path


def test_replicas_get_a_budget_and_spread(replicated: Path) -> None:
    index = json.loads((replicated / "index.json").read_text())
    deployments = [p for p in k8s_files(replicated) if p.name == "deployment.yaml"]
    assert len(deployments) == len(discover_bundles(REPO / "bundles")) >= 5
    for path in deployments:
        deployment = load(path)
        selector = deployment["spec"]["selector"]["matchLabels"]
        budget = load(path.with_name("poddisruptionbudget.yaml"))
        assert budget["apiVersion"] == "policy/v1"
        assert budget["spec"] == {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        }
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in spread] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
        for constraint in spread:
            assert constraint["labelSelector"] == {"matchLabels": selector}
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
            assert constraint["maxSkew"] == 1
        # in apply order: after the Deployment and its Service, before the CronJobs and policies
        order = index["models"][path.parent.parent.name]["kubernetes"]
        kinds = [load(replicated / f)["kind"] for f in order]
        assert [KIND_PHASE[k] for k in kinds] == sorted(KIND_PHASE[k] for k in kinds)
    assert KIND_PHASE["PodDisruptionBudget"] == KIND_PHASE["Deployment"]
    scheduled = load(replicated / "quality-classifier" / "k8s" / "deployment.yaml")
    assert "replicas" not in scheduled["spec"]  # still the CronJobs' to set


def test_replicas_pass_kube_score_and_kubeconform(replicated: Path) -> None:
    report = score(kubernetes_files(replicated))
    skips = load_skips()
    unexplained = [f for f in findings(report) if not any(s.covers(f) for s in skips)]
    assert not unexplained, unexplained
    for obj in report:
        if obj["type_meta"]["kind"] != "Deployment":
            continue
        wanted = {"deployment-has-poddisruptionbudget", "pod-topology-spread-constraints"}
        # kube-score counts an absent spec.replicas (a scheduled model's) as one
        if obj["object_meta"]["name"] != "quality-classifier":
            wanted.add("deployment-replicas")
        graded = {c["check"]["id"]: c for c in obj["checks"] if c["check"]["id"] in wanted}
        assert set(graded) == wanted
        for check in graded.values():
            assert not check["skipped"], (obj["object_name"], check)
            assert check["grade"] == 10, (obj["object_name"], check)
    files = [p for p in k8s_files(replicated) if p.name in ("poddisruptionbudget.yaml", "deployment.yaml")]
    assert not [r for r in kubeconform(files) if r["status"] != "statusValid"]


def test_replicas_pass_checkov(replicated: Path) -> None:
    reports = checkov(replicated, ("kubernetes",))
    assert not failed(reports), "\n".join(failed(reports))


# --- readiness of DOCKER_LAYERS servers ------------------------------------------------------------


def test_a_declared_health_route_is_the_readiness_probe() -> None:
    [container] = load(REPO / "out" / "greeting-service" / "k8s" / "deployment.yaml")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    # alive as long as it accepts connections: a health route reporting a dependency down must not restart it
    assert "tcpSocket" in container["livenessProbe"]
    assert "tcpSocket" in container["startupProbe"]


def test_without_a_health_route_readiness_stays_tcp(tmp_path: Path) -> None:
    bundle = tmp_path / "greeting-service"
    shutil.copytree(REPO / "bundles" / "greeting-service", bundle)
    document = json.loads((bundle / "openapi.json").read_text())
    del document["paths"]["/health"]
    (bundle / "openapi.json").write_text(json.dumps(document))
    objects = compile_objects(bundle, EXAMPLE_ENV, tmp_path)
    [container] = objects["deployment"]["spec"]["template"]["spec"]["containers"]
    assert "tcpSocket" in container["readinessProbe"]


def route(path: str, *methods: str) -> ApiRoute:
    return ApiRoute(path, methods or ("GET",))


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ((route("/health"), route("/readyz")), "/readyz"),  # the readiness name wins
        ((route("/api/v1/health"), route("/health")), "/health"),  # then the shortest
        ((route("/health", "POST"),), None),  # a probe only GETs
        ((route("/{name}/health"),), None),  # a template is no path to probe
        ((route("/livez"), route("/healthcheck")), None),  # not readiness names
        ((), None),
    ],
)
def test_health_route(routes: tuple[ApiRoute, ...], expected: str | None) -> None:
    assert health_route(routes) == expected
