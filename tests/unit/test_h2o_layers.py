"""H2O and DOCKER_LAYERS bundles at generate time: what they compile to, and their clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.assets import h2o_jar
from generator.dockerfile import instructions, security_problems
from generator.errors import AiarError
from generator.pipeline import compile_paths
from tests.conftest import MakeBundle
from tests.helpers import minimal_manifest


def h2o_manifest(**payload: Any) -> dict[str, Any]:
    return minimal_manifest(modelData={"type": "H2O", "payload": payload})


def layers_manifest(**payload: Any) -> dict[str, Any]:
    return minimal_manifest(modelData={"type": "DOCKER_LAYERS", "payload": payload})


GOOD_DOCKERFILE = 'FROM python-runtime\nCOPY app /srv/app\nUSER 10001:10001\nENTRYPOINT ["python", "/srv/app/s.py"]\n'


def problems(bundle: Path, env_file: Path, tmp_path: Path) -> list[str]:
    with pytest.raises(AiarError) as caught:
        compile_paths([bundle], env_file, tmp_path / "aiar.lock")
    return [p.render() for p in caught.value.problems]


def compiled_files(bundle: Path, env_file: Path, tmp_path: Path) -> dict[str, bytes]:
    return compile_paths([bundle], env_file, tmp_path / "aiar.lock").files


# --- H2O -----------------------------------------------------------------------------------------


def test_h2o_missing_jar(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    [line] = problems(make_bundle(h2o_manifest(), {"src/readme.txt": "x"}), env_file, tmp_path)
    assert "/modelData/payload/jarFile" in line
    assert "src/predict.jar is missing" in line


def test_h2o_needs_a_java_base_image(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    env_file.write_text(env_file.read_text().replace("  java: docker.io/library/eclipse-temurin:17-jre-jammy\n", ""))
    bundle = make_bundle(h2o_manifest(), {"src/predict.jar": b"PK"})
    [line] = problems(bundle, env_file, tmp_path)
    assert "/modelData/type" in line
    assert "base_images.java" in line


def _h2o_training_manifest(**payload: Any) -> dict[str, Any]:
    manifest = h2o_manifest(**payload)
    manifest["input"]["training"] = [{"type": "HISTORIC_DATA", "payload": {"fileName": "data.csv"}}]
    return manifest


def test_h2o_training_compiles_to_a_train_image(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(_h2o_training_manifest(modelFile="model.zip"), {"src/train.jar": b"PK-train"})
    files = compiled_files(bundle, env_file, tmp_path)
    train = files["tiny-model/build/Dockerfile.train"].decode()
    # the Job's image runs the aiar runtime, which starts train.jar on the JRE copied in
    assert "COPY --from=jre /tmp/aiar-jre /opt/java" in train
    assert '"train"' in train
    assert "--historic-only" in train
    assert files["tiny-model/build/src/train.jar"] == b"PK-train"
    jvm = json.loads(files["tiny-model/server/model-server.json"])["jvm"]
    assert jvm["train_jar"] == "train.jar"
    assert "-XX:MaxRAMPercentage=40" in jvm["train_options"]
    # a MOJO trained in the cluster is scored by aiar's own bridge jar
    assert jvm["jar"] == "predict.jar"
    assert files["tiny-model/build/src/predict.jar"].startswith(b"PK")


def test_h2o_without_training_has_no_train_settings(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    files = compiled_files(make_bundle(h2o_manifest(), {"src/predict.jar": b"PK"}), env_file, tmp_path)
    assert set(json.loads(files["tiny-model/server/model-server.json"])["jvm"]) == {
        "jar",
        "java",
        "options",
        "start_timeout_s",
        "request_timeout_s",
    }


def test_h2o_training_needs_train_jar(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(_h2o_training_manifest(modelFile="model.zip"), {"src/other.txt": "x"})
    [line] = problems(bundle, env_file, tmp_path)
    assert "/input/training" in line
    assert "src/train.jar is missing" in line


def test_h2o_training_needs_model_file(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(_h2o_training_manifest(), {"src/train.jar": b"PK", "src/predict.jar": b"PK"})
    [line] = problems(bundle, env_file, tmp_path)
    assert "/modelData/payload" in line
    assert "'modelFile'" in line


def test_h2o_online_training_is_refused(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    manifest = h2o_manifest(modelFile="model.zip")
    manifest["input"]["training"] = [
        {"type": "MESSAGE_BUS", "payload": {"routingKeys": [{"name": "t.in"}], "online": True}}
    ]
    bundle = make_bundle(manifest, {"src/train.jar": b"PK"})
    assert any("/input/training/0/payload/online" in p for p in problems(bundle, env_file, tmp_path))


def test_h2o_image_has_a_jre_and_the_jar(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    files = compiled_files(make_bundle(h2o_manifest(), {"src/predict.jar": b"PK-user"}), env_file, tmp_path)
    dockerfile = files["tiny-model/build/Dockerfile.predict"].decode()
    assert "FROM docker.io/library/eclipse-temurin:17-jre-jammy AS jre" in dockerfile
    # the JRE's symbolic links resolved in its own image (a Debian JRE links into /etc)
    assert "RUN cp -RP /opt/java/openjdk /tmp/aiar-jre" in dockerfile
    assert "cp -RL" in dockerfile
    assert "COPY --from=jre /tmp/aiar-jre /opt/java" in dockerfile
    assert "USER 10001:10001" in dockerfile
    assert files["tiny-model/build/src/predict.jar"] == b"PK-user"
    config = json.loads(files["tiny-model/server/model-server.json"])
    assert config["jvm"]["jar"] == "predict.jar"
    assert config["model"]["type"] == "H2O"


def test_a_mojo_alone_gets_aiars_jar(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(h2o_manifest(modelFile="model.zip"), {"src/model.zip": b"PK-mojo"})
    files = compiled_files(bundle, env_file, tmp_path)
    assert files["tiny-model/build/src/predict.jar"] == h2o_jar()
    assert files["tiny-model/build/src/model.zip"] == b"PK-mojo"


# --- DOCKER_LAYERS -------------------------------------------------------------------------------


def test_unknown_layer(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(
        layers_manifest(layers=[{"name": "python-runtime"}, {"name": "cobol"}]), {"Dockerfile": GOOD_DOCKERFILE}
    )
    [line] = problems(bundle, env_file, tmp_path)
    assert "/modelData/payload/layers/1/name" in line
    assert "unknown layer 'cobol'" in line
    assert "aiar-server" in line


@pytest.mark.parametrize(
    ("dockerfile", "line_no", "fragment"),
    [
        ('FROM python-runtime\nUSER root\nCMD ["x"]\n', 2, "'USER root' runs the model as root"),
        ("FROM a AS b\nUSER 10001\nFROM python-runtime\nRUN true \\\n  && true\nUSER 0:0\n", 6, "'USER 0:0'"),
        ('# comment\nFROM python-runtime\nCMD ["x"]\n', 2, "sets no USER"),
    ],
)
def test_dockerfile_breaking_security_defaults(
    make_bundle: MakeBundle, env_file: Path, tmp_path: Path, dockerfile: str, line_no: int, fragment: str
) -> None:
    bundle = make_bundle(layers_manifest(layers=[{"name": "python-runtime"}]), {"Dockerfile": dockerfile})
    [line] = problems(bundle, env_file, tmp_path)
    assert f"Dockerfile:{line_no}:1" in line
    assert fragment in line


def test_layers_envvars_openapi_and_gateway(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    openapi = {"openapi": "3.0.3", "paths": {"/score": {"post": {}}, "/items/{id}": {"get": {}}}}
    manifest = layers_manifest(layers=[{"name": "python-runtime"}], envVars={"MODE": "fast $x"}, openapi=openapi)
    manifest["access"] = {"roles": ["analyst"]}
    files = compiled_files(
        make_bundle(manifest, {"Dockerfile": GOOD_DOCKERFILE, "app/s.py": "print()"}), env_file, tmp_path
    )
    dockerfile = files["tiny-model/build/Dockerfile.predict"].decode()
    assert dockerfile.index(" AS python-runtime\n") < dockerfile.index("\nFROM python-runtime\n")
    assert 'ENV MODE="fast \\$x"' in dockerfile
    assert files["tiny-model/build/app/s.py"] == b"print()"
    assert json.loads(files["tiny-model/openapi.json"]) == openapi
    deployment = files["tiny-model/k8s/deployment.yaml"].decode()
    assert "name: MODE" in deployment
    assert "tcpSocket" in deployment
    kong = files["tiny-model/gateway/kong.yaml"].decode()
    assert "~/models/tiny-model(?<path>/items/[^/]+)$" in kong
    assert "name: acl" in kong


def test_environment_layers_override_and_extend(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    (tmp_path / "site.Dockerfile").write_text("FROM registry.example.com/site/base:1 AS site-base\n")
    env_file.write_text(
        env_file.read_text() + "layers:\n  site-base:\n    file: site.Dockerfile\n"
        '  python-runtime:\n    text: "FROM registry.example.com/py:3 AS python-runtime\\n"\n'
    )
    manifest = layers_manifest(layers=[{"name": "site-base"}, {"name": "python-runtime"}])
    files = compiled_files(make_bundle(manifest, {"Dockerfile": GOOD_DOCKERFILE}), env_file, tmp_path)
    dockerfile = files["tiny-model/build/Dockerfile.predict"].decode()
    assert "FROM registry.example.com/site/base:1 AS site-base" in dockerfile
    assert "FROM registry.example.com/py:3 AS python-runtime" in dockerfile
    assert "venv" not in dockerfile


def test_instructions_join_continuations() -> None:
    items = instructions("FROM x\n# c\nRUN a \\\n  # inner comment\n  b\nUSER 1\n")
    assert [(i.line, i.keyword) for i in items] == [(1, "FROM"), (3, "RUN"), (6, "USER")]
    assert security_problems("FROM x\nUSER app\n") == []
