"""The local test platform is real: Kubernetes objects reconcile, images build, push,
pull and run, messages travel through RabbitMQ and objects through S3."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import docker  # type: ignore[import-untyped]
import pytest
import yaml

from tests.platform.testenv import Platform
from tests.waiting import poll

pytestmark = pytest.mark.platform


@pytest.fixture(scope="session")
def k8s(platform: Platform) -> Any:
    from kubernetes import config, dynamic
    from kubernetes.client import ApiClient

    client = config.new_client_from_config(config_file=str(platform.kubeconfig))
    assert isinstance(client, ApiClient)
    return dynamic.DynamicClient(client)


@pytest.fixture
def namespace(k8s: Any) -> Iterator[str]:
    name = f"platform-{uuid.uuid4().hex[:8]}"
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    ns_api.server_side_apply(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        name=name,
        field_manager="aiar-tests",
        force_conflicts=True,
    )
    sa_api = k8s.resources.get(api_version="v1", kind="ServiceAccount")
    poll("default ServiceAccount", lambda: _exists(sa_api, "default", name), timeout=30, interval=0.5)
    yield name
    ns_api.delete(name=name)


def _exists(api: Any, name: str, namespace: str) -> bool:
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        api.get(name=name, namespace=namespace)
    except NotFoundError:
        return False
    return True


def _condition(obj: Any, kind: str) -> str | None:
    for cond in (obj.status or {}).get("conditions") or []:
        if cond["type"] == kind:
            return str(cond["status"])
    return None


def test_environment_file(platform: Platform) -> None:
    env = yaml.safe_load(platform.env_file.read_text())
    assert env["namespace"] == platform.namespace
    assert env["registry"] == {"url": platform.registry, "insecure": True}
    assert env["base_images"]["python"] == platform.python_base_image
    assert env["storage"]["endpoint"] == platform.s3_endpoint
    assert platform.kubeconfig.is_file()
    assert (platform.rundir / "env.sh").read_text().count("export ") >= 6


def test_deployment_becomes_available(platform: Platform, k8s: Any, namespace: str) -> None:
    deployments = k8s.resources.get(api_version="apps/v1", kind="Deployment")
    labels = {"app": "web"}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": f"{platform.registry}/python-base:bookworm",
                            "command": ["python3", "-m", "http.server"],
                            "ports": [{"containerPort": 8000}],
                        }
                    ]
                },
            },
        },
    }
    deployments.server_side_apply(
        body=body, name="web", namespace=namespace, field_manager="aiar-tests", force_conflicts=True
    )

    def available() -> Any:
        dep = deployments.get(name="web", namespace=namespace)
        return dep if _condition(dep, "Available") == "True" and dep.status.availableReplicas == 2 else None

    dep = poll("Deployment web Available with 2 replicas", available, timeout=120, interval=0.5)
    assert dep.status.readyReplicas == 2


def test_job_runs_to_completion(k8s: Any, namespace: str) -> None:
    jobs = k8s.resources.get(api_version="batch/v1", kind="Job")
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once", "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "once", "image": "localhost/python-base:bookworm", "command": ["true"]}],
                }
            },
        },
    }
    jobs.server_side_apply(
        body=body, name="once", namespace=namespace, field_manager="aiar-tests", force_conflicts=True
    )
    job = poll(
        "Job once Complete",
        lambda: (j := jobs.get(name="once", namespace=namespace)) and _condition(j, "Complete") == "True" and j,
        timeout=120,
        interval=0.5,
    )
    assert job.status.succeeded == 1


def test_kubectl_server_side_apply(platform: Platform, namespace: str) -> None:
    env = {**os.environ, **platform.env()}
    kubectl = env["AIAR_KUBECTL"]  # built with the apiserver, same version
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: {namespace}\ndata:\n  a: b\n"
    subprocess.run(
        [kubectl, "apply", "--server-side", "-f", "-"],
        input=manifest,
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [kubectl, "get", "ns", "-o", "name"], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert f"namespace/{namespace}" in out


def test_kubectl_image_runs(platform: Platform) -> None:
    client = docker.DockerClient(base_url=platform.docker_host, version="1.41")
    env = yaml.safe_load(platform.env_file.read_text())
    output = client.containers.run(env["base_images"]["kubectl"], ["kubectl", "version", "--client"], remove=True)
    assert b"Client Version: v1." in output


def _build_context(files: dict[str, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_image_build_push_pull_run(platform: Platform) -> None:
    client = docker.DockerClient(base_url=platform.docker_host, version="1.41")
    repo = f"{platform.registry}/platform-check"
    tag = uuid.uuid4().hex[:10]
    context = _build_context(
        {
            "Dockerfile": f"FROM {platform.python_base_image}\n"
            "RUN python3 -m venv /opt/venv\n"
            "COPY app.py /app/app.py\n"
            'CMD ["/opt/venv/bin/python", "/app/app.py"]\n',
            "app.py": f"print('hello {tag}')\n",
        }
    )
    client.images.build(fileobj=context, custom_context=True, tag=f"{repo}:{tag}", pull=False, rm=True)
    pushed = list(
        client.images.push(
            repo, tag=tag, stream=True, decode=True, auth_config={"username": "unused", "password": "unused"}
        )
    )
    errors = [item for item in pushed if "error" in item or "errorDetail" in item]
    assert not errors, errors
    client.images.remove(f"{repo}:{tag}", force=True)
    image = client.images.pull(repo, tag=tag)
    assert f"{repo}:{tag}" in image.tags
    output = client.containers.run(f"{repo}:{tag}", remove=True)
    assert output.decode().strip() == f"hello {tag}"
    client.images.remove(f"{repo}:{tag}", force=True)


def test_rabbitmq_publish_consume_across_restart(platform: Platform) -> None:
    import pika

    queue = f"platform-{uuid.uuid4().hex[:8]}"

    def channel() -> Any:
        return pika.BlockingConnection(pika.URLParameters(platform.amqp_url)).channel()

    ch = channel()
    ch.queue_declare(queue=queue, durable=True)
    ch.basic_publish("", queue, b"before restart", pika.BasicProperties(delivery_mode=2))
    ch.connection.close()

    platform.restart_rabbitmq()

    ch = channel()
    method, _props, body = ch.basic_get(queue, auto_ack=True)
    assert method is not None
    assert body == b"before restart"
    ch.basic_publish("", queue, b"after restart")
    method, _props, body = ch.basic_get(queue, auto_ack=True)
    assert body == b"after restart"
    ch.queue_delete(queue)
    ch.connection.close()


def test_s3_put_get_path_style(platform: Platform) -> None:
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=platform.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )
    key = f"platform/{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket="aiar", Key=key, Body=b"payload")
    assert s3.get_object(Bucket="aiar", Key=key)["Body"].read() == b"payload"
    listed = s3.list_objects_v2(Bucket="aiar", Prefix="platform/")
    assert key in [o["Key"] for o in listed.get("Contents", [])]
