"""Apply-stage pieces that need no platform: out/ checks, ordering, diffs, streams, the gateway."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from generator.apply import ApplyError, gateway
from generator.apply.diff import changed_fields
from generator.apply.images import _stream_errors, build_args
from generator.apply.outdir import read_out
from generator.apply.progress import Progress
from generator.apply.run import phases
from generator.apply.session import open_session
from generator.environment import load_environment
from generator.errors import OutputError
from generator.pipeline import generate
from tests.conftest import EXAMPLE_ENV, REPO


@pytest.fixture(scope="module")
def example_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("out")
    generate([REPO / "bundles" / "quality-classifier"], EXAMPLE_ENV, root / "aiar.lock", root / "out")
    return root / "out"


@pytest.fixture
def out_copy(example_out: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(example_out, tmp_path / "out"))


def test_reads_a_generated_out(example_out: Path) -> None:
    out = read_out(example_out)
    [model] = out.models
    assert {i.role for i in model.images} == {"predict", "train"}
    assert out.parent is not None
    assert out.applyset_id
    assert out.gateway
    assert [o.wait_for for o in model.objects if o.kind == "Job"] == ["Complete"]


def test_an_export_reads_the_images_and_checks_every_file_but_parses_no_object(out_copy: Path) -> None:
    out = read_out(out_copy, kube_objects=False)
    assert [i.ref for i in out.images] == [i.ref for i in read_out(out_copy).images]
    assert out.objects == ()
    assert out.parent is None
    (out_copy / "quality-classifier/k8s/deployment.yaml").write_text("kind: [unparsed")
    with pytest.raises(OutputError, match="content differs"):
        read_out(out_copy, kube_objects=False)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda o: (o / "quality-classifier/build/src/predict.py").write_text("import os\n"), "content differs"),
        (lambda o: (o / "quality-classifier/build/src/extra.py").write_text("x = 1\n"), "not listed"),
        (lambda o: (o / "quality-classifier/k8s/deployment.yaml").unlink(), "missing: out/ is partial"),
    ],
)
def test_refuses_a_tampered_or_partial_out(out_copy: Path, tamper: Any, message: str) -> None:
    tamper(out_copy)
    with pytest.raises(OutputError) as caught:
        read_out(out_copy)
    assert message in str(caught.value)


def test_refuses_another_environment(out_copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "env.yaml"
    other.write_text(EXAMPLE_ENV.read_text().replace("namespace: ml-models", "namespace: elsewhere"))
    with pytest.raises(ApplyError, match="not the environment"):
        open_session(out_copy, other, Progress(quiet=True))


def test_phases_follow_the_documented_order(example_out: Path) -> None:
    kinds = [[o.kind for o in group] for group in phases(read_out(example_out).objects)]
    flat = [k for group in kinds for k in group]
    assert flat.index("ConfigMap") < flat.index("Role") < flat.index("Job") < flat.index("Deployment")
    assert flat.index("Deployment") < flat.index("CronJob") < flat.index("NetworkPolicy")
    assert ["Job"] in kinds


def test_changed_fields_match_list_items_by_name() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}
    want = {"spec": {"containers": [{"name": "b", "image": "y:1"}, {"name": "a", "image": "x:2"}]}}
    assert changed_fields(live, want) == ["spec.containers[name=a].image"]
    assert changed_fields({"a": [1, 2]}, {"a": [1]}) == ["a"]


def test_stream_error_items_fail_the_image() -> None:
    items = [{"status": "Pushing"}, {"errorDetail": {"message": "denied: no"}, "error": "denied: no"}]
    with pytest.raises(ApplyError, match="push failed: denied: no"):
        list(_stream_errors(items, "r/x:1", "push"))


def test_build_args_are_the_declared_ones(example_out: Path) -> None:
    out = read_out(example_out)
    env = load_environment(EXAMPLE_ENV).env
    args = build_args(out.images[0], env, {"HTTPS_PROXY": "http://proxy:3128", "UNRELATED": "x"})
    dockerfile = (out.images[0].context / out.images[0].dockerfile).read_text()
    assert args["PIP_INDEX_URL"] == "https://pypi.org/simple"
    assert args["HTTPS_PROXY"] == "http://proxy:3128"
    assert "UNRELATED" not in args
    assert all(f"ARG {name}=" in dockerfile for name in args if name.startswith("PIP_"))


class _FakeKong(BaseHTTPRequestHandler):
    """DB-less Kong's two routes we use: ``POST /config?check_hash=1`` and ``GET /status``."""

    config_hash = ""
    posts = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        new_hash = str(hash(body["config"]))
        type(self).posts += 1
        changed = new_hash != type(self).config_hash
        type(self).config_hash = new_hash
        self.send_response(201 if changed else 304)
        self.end_headers()

    def do_GET(self) -> None:
        payload = json.dumps({"configuration_hash": type(self).config_hash}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def kong() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeKong)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_gateway_push_then_no_diff_then_out_of_band_change(kong: str) -> None:
    config = b'_format_version: "3.0"\n'
    assert gateway.diff(kong, config, {}).changed
    record = gateway.push(kong, config)
    assert not gateway.diff(kong, config, record).changed
    assert gateway.diff(kong, config + b"services: []\n", record).changed
    _FakeKong.config_hash = "edited-by-hand"
    assert "since the last push" in gateway.diff(kong, config, record).reason
