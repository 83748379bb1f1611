"""A bundle cannot replace what aiar generates in an image's build context, nor talk its Dockerfile past
the non-root USER check: heredocs, variables, quoting and line continuations are read as BuildKit reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import dockerfile as reader
from generator.errors import AiarError
from generator.pipeline import compile_paths
from tests.conftest import MakeBundle
from tests.helpers import minimal_manifest

GOOD = "FROM python-runtime\nUSER 10001:10001\n"


def layers_manifest(*layers: str) -> dict[str, Any]:
    return minimal_manifest(
        modelData={"type": "DOCKER_LAYERS", "payload": {"layers": [{"name": name} for name in layers]}}
    )


def problems(bundle: Path, env_file: Path, tmp_path: Path) -> list[str]:
    with pytest.raises(AiarError) as caught:
        compile_paths([bundle], env_file, tmp_path / "aiar.lock")
    return [p.render() for p in caught.value.problems]


def messages(dockerfile: str) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in reader.security_problems(dockerfile)]


# --- (A) bundle files that would take the place of generated ones ---------------------------------


def test_layers_bundle_cannot_replace_generated_files(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    shadows = {
        "Dockerfile.predict": "FROM python-runtime\n",  # would drop the layers, labels and USER check
        ".dockerignore": "*\n",
        "aiar_runtime.zip": "not aiar's",
        "aiar-layers/aiar-server-requirements.txt": "evil==1\n",
        ".containerignore": "*\n",  # Podman reads it instead of .dockerignore
        "Dockerfile.predict.dockerignore": "*\n",  # BuildKit reads it instead of .dockerignore
    }
    bundle = make_bundle(layers_manifest("aiar-server"), {"Dockerfile": GOOD, **shadows})
    found = problems(bundle, env_file, tmp_path)
    assert len(found) == len(shadows)  # every one at once
    for name in shadows:
        assert any(f"entry {name!r}:" in line and line.startswith(str(bundle)) for line in found), name
    assert any("aiar writes 'Dockerfile.predict' into the image's build context itself" in line for line in found)
    assert any("instead of aiar's '.dockerignore'" in line for line in found)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("DOCKERFILE.PREDICT", "aiar writes 'Dockerfile.predict' into the image's build context itself (the same file"),
        ("aiar-layers", "aiar writes 'aiar-layers/aiar-server-requirements.txt', so this must stay a directory"),
        ("aiar_runtime.zip/x.py", "aiar writes the file 'aiar_runtime.zip', which cannot hold other files"),
    ],
)
def test_names_that_would_be_one_path_on_some_file_systems(
    make_bundle: MakeBundle, env_file: Path, tmp_path: Path, name: str, reason: str
) -> None:
    bundle = make_bundle(layers_manifest("aiar-server"), {"Dockerfile": GOOD, name: "x"})
    [line] = problems(bundle, env_file, tmp_path)
    assert f"entry {name!r}: {reason}" in line


def test_h2o_bundle_cannot_shadow_aiars_jar(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    # a MOJO without a jar: aiar ships its bridge as src/predict.jar, next to the bundle's src/ files
    manifest = minimal_manifest(modelData={"type": "H2O", "payload": {"modelFile": "model.zip"}})
    for extra, reason in [
        ("src/PREDICT.JAR", "aiar writes 'src/predict.jar' into the image's build context itself (the same file"),
        ("src/predict.jar/x", "aiar writes the file 'src/predict.jar', which cannot hold other files"),
    ]:
        bundle = make_bundle(manifest, {"src/model.zip": "PK", extra: "x"})
        [line] = problems(bundle, env_file, tmp_path)
        assert f"entry {extra!r}: {reason}" in line


def test_other_bundle_files_keep_their_names(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    # openapi.json is written beside the build context, not in it; a Dockerfile.* below the root is the bundle's
    files = {"Dockerfile": GOOD, "openapi.json": "{}", "app/Dockerfile.predict": "mine", "Dockerfile.dev": "mine"}
    compiled = compile_paths([make_bundle(layers_manifest("python-runtime"), files)], env_file, tmp_path / "l").files
    build = "tiny-model/build/"
    assert compiled[build + "openapi.json"] == b"{}"
    assert compiled[build + "app/Dockerfile.predict"] == b"mine"
    assert compiled[build + "Dockerfile.dev"] == b"mine"
    assert b"AS python-runtime" in compiled[build + "Dockerfile.predict"]


def test_python_bundle_sources_still_reach_the_context(make_bundle: MakeBundle, env_file: Path, tmp_path: Path) -> None:
    bundle = make_bundle(minimal_manifest(), {"src/predict.py": "def predict(m, x):\n    return x\n", "src/.x": ""})
    files = compile_paths([bundle], env_file, tmp_path / "aiar.lock").files
    assert files["tiny-model/build/src/predict.py"].startswith(b"def predict")
    assert files["tiny-model/build/src/.x"] == b""


# --- (B) the non-root USER check --------------------------------------------------------------------

BYPASSES = [
    # heredoc text is not an instruction: a fake USER in it does not count...
    ("run heredoc", "FROM python-runtime\nUSER root\nRUN <<EOF\nUSER app\nEOF\n", 2),
    ("copy heredoc", "FROM python-runtime\nUSER root\nCOPY <<EOF /etc/motd\nUSER app\nEOF\n", 2),
    ("chomped", "FROM python-runtime\nUSER root\nRUN <<-EOF\n\tUSER app\n\tEOF\n", 2),
    ("two heredocs", 'FROM python-runtime\nUSER root\nRUN <<A cat - <<"B"\nx\nA\nUSER app\nB\n', 2),
    ("quoted", "FROM python-runtime\nUSER root\nRUN <<'EOF' sh\nUSER app\nEOF\n", 2),
    ("onbuild", "FROM python-runtime\nUSER root\nONBUILD RUN <<EOF\nUSER app\nEOF\n", 2),
    ("onbuild flag", "FROM python-runtime\nUSER root\nONBUILD --x RUN <<EOF\nUSER app\nEOF\n", 2),
    ("fake stage", "FROM python-runtime\nUSER root\nRUN <<EOF\nFROM python-runtime\nUSER app\nEOF\n", 2),
    ("continued opener", "FROM python-runtime\nUSER root\nRUN cat <<EOF \\\n  > /x\nUSER app\nEOF\n", 2),
    # ...variables cannot be checked...
    ("arg", "FROM python-runtime\nARG U=root\nUSER ${U}\n", 3),
    ("env", "FROM python-runtime\nENV U=root\nUSER $U:$U\n", 3),
    # ...nor quotes and escapes, which builders remove
    ("quotes", 'FROM python-runtime\nUSER "root"\n', 2),
    ("escape", "FROM python-runtime\nUSER r\\oot\n", 2),
    # lines are cut and joined as BuildKit does
    ("keyword split", "FROM python-runtime\nUSER 10001\nUS\\\nER root\n", 3),
    ("blank in continuation", "FROM python-runtime\nUSER root\nRUN true \\\n\nUSER 10001\n", 2),
    ("carriage return", "FROM python-runtime\nUSER root\nRUN true\rUSER 10001\n", 2),
    ("line separator", "FROM python-runtime\nUSER root\nRUN true\u2028USER 10001\n", 2),
    ("tab", "FROM python-runtime\nUSER 10001\nUSER\troot\n", 3),
    ("unicode keyword", "FROM python-runtime\nUSER root\nu\u017fer 10001\n", 2),  # Go does not read 'ſ' as 's'
    ("dotted I", "FROM python-runtime\nUSER root\nONBU\u0130LD RUN <<EOF\nUSER 10001\nEOF\n", 2),  # Go reads 'İ' as 'i'
    ("uid 00", "FROM python-runtime\nUSER 00\n", 2),
]


@pytest.mark.parametrize(("case", "dockerfile", "line"), BYPASSES, ids=[b[0] for b in BYPASSES])
def test_bypasses_are_refused(case: str, dockerfile: str, line: int) -> None:
    [(at, message)] = messages(dockerfile)
    assert at == line, message


def test_variables_are_refused_with_advice() -> None:
    [(_, message)] = messages("FROM python-runtime\nARG U=root\nUSER ${U}\n")
    assert "'USER ${U}' takes the user from a variable" in message
    assert "write the user literally" in message


def test_a_heredoc_bypass_is_located_in_the_bundles_dockerfile(
    make_bundle: MakeBundle, env_file: Path, tmp_path: Path
) -> None:
    dockerfile = "FROM python-runtime\nUSER root\nRUN <<EOF\nUSER 10001\nEOF\n"
    bundle = make_bundle(layers_manifest("python-runtime"), {"Dockerfile": dockerfile})
    [line] = problems(bundle, env_file, tmp_path)
    assert f"{bundle}/Dockerfile:2:1: 'USER root' runs the model as root" in line


@pytest.mark.parametrize(
    ("dockerfile", "line", "fragment"),
    [
        ("FROM python-runtime\nUSER 0\n", 2, "'USER 0' runs the model as root"),
        ("FROM python-runtime\nuser root:root\n", 2, "'USER root:root' runs the model as root"),
        ("FROM python-runtime\nUSER 0:0\n", 2, "'USER 0:0' runs the model as root"),
        ("FROM python-runtime\nUSER 10001\nRUN <<EOF\necho hi\nEOF\nUSER root\n", 6, "'USER root'"),  # seen after
        ("FROM python-runtime\nCOPY <<EOF /x\nUSER 10001\nEOF\n", 1, "sets no USER"),
    ],
)
def test_normal_refusals(dockerfile: str, line: int, fragment: str) -> None:
    [(at, message)] = messages(dockerfile)
    assert at == line
    assert fragment in message


@pytest.mark.parametrize(
    "dockerfile",
    [
        GOOD,
        "FROM python-runtime\nuser app\n",
        "# syntax=docker/dockerfile:1\nFROM python-runtime AS app\nUSER 10001:10001\n",
        "FROM python-runtime\nRUN <<EOF\nset -e\nUSER root\nEOF\nUSER 10001\n",
        "FROM python-runtime\nUSER 10001\nRUN <<EOF psql\nSELECT *\nFROM t\nEOF\n",  # SQL is no stage
        'FROM python-runtime\nUSER 10001\nRUN ["sh", "-c", "cat <<EOF"]\n',  # exec form has no heredoc
        "FROM python-runtime\nUSER 10001\nRUN cat <<\\EOF > /x\n$HOME\nEOF\nRUN cat <<<hi\n",
        "FROM python-runtime\nUSER 10001\nRUN cat <<EOF > ${HOME}/x\nhi\nEOF\n",
        "FROM python-runtime\r\nUSER 10001\r\nRUN <<EOF\r\nUSER root\r\nEOF\r\n",
        "FROM python-runtime\nRUN a \\\n  # a comment inside\n  b\nUSER 10001\n",
    ],
)
def test_ordinary_dockerfiles_pass(dockerfile: str) -> None:
    assert messages(dockerfile) == []


def test_builders_without_heredocs_are_held_to_the_rule_too() -> None:
    # BuildKit: 'USER root' is heredoc text. An engine without heredocs runs it, and the delimiter
    # CMD is an instruction too, so that image would build and run as root.
    [(at, message)] = messages("FROM python-runtime\nUSER 10001\nRUN <<CMD\nUSER root\nCMD\n")
    assert at == 4
    assert "runs the model as root" in message
    assert "without heredoc support" in message


@pytest.mark.parametrize(
    ("dockerfile", "line", "fragment"),
    [
        ("FROM python-runtime\nUSER 10001\nRUN <<EOF\necho\n", 3, "the heredoc <<EOF has no line 'EOF' ending it"),
        ('FROM python-runtime\nUSER root\nRUN echo "<<EOF"\nUSER 1\nEOF\n', 3, "for some builders and not"),
        ("FROM python-runtime\nUSER root\nRUN cat <<$X\nUSER 1\n$X\n", 3, "builders differ on what ends"),
        ("FROM python-runtime\nUSER root\nRUN cat <<EOF>out\nUSER 1\nEOF\n", 3, "builders differ on what ends"),
        ('FROM python-runtime\nUSER root\nRUN cat <<EOF "\nUSER 1\nEOF\n', 3, "a quote left open"),
        ("FROM python-runtime\nUSER root\nRUN cat ${X:- <<A}\nUSER 1\nA}\n", 3, "${...} expansion"),
        ('FROM python-runtime\nUSER 10001\nRUN ["true"] <<CMD\nUSER root\nCMD\n', 3, "a JSON array with more text"),
        ("FROM python-runtime\nUSER root\nRUN echo \\\\\nUSER 1\n", 3, "ends in two escape characters"),
        ("FROM python-runtime\nUSER 1\nRUN true \\\n", 3, "ends inside a line continuation"),
        ("# escape=`\nFROM python-runtime\nUSER root\nRUN echo \\\nUSER 1\n", 1, "'# escape=`' directive is only"),
        ("\ufeffFROM python-runtime\nUSER 1\n", 1, "byte-order mark"),
    ],
)
def test_what_builders_read_differently_is_refused(dockerfile: str, line: int, fragment: str) -> None:
    found = messages(dockerfile)
    assert (line, fragment) in [(at, fragment) for at, message in found if fragment in message], found


def test_parse_finds_instructions_and_heredocs_where_buildkit_does() -> None:
    text = (
        "# escape=`\n"  # a file of its own: the directive applies
        "FROM x\n"
        "RUN a `\n"
        "  b\n"
        "run <<-EOF cat - 2<<'END'\n"
        "\tFROM fake\n"
        "\tEOF\n"
        "USER fake\n"
        "END\n"
        "\n"
        "COPY <<EOF /x\n"
        "EOF\n"
        "user 1\n"
    )
    read = reader.parse(text)
    assert read.problems == ()
    assert [(i.line, i.keyword, i.heredocs) for i in read.instructions] == [
        (2, "FROM", ()),
        (3, "RUN", ()),
        (5, "RUN", ("EOF", "END")),
        (11, "COPY", ("EOF",)),
        (13, "USER", ()),
    ]
    assert read.instructions[1].argument == "a   b"  # joined with nothing between, as BuildKit does


LINE = st.text(alphabet=st.sampled_from([*"UuSsEeRrOoTt FfMm01\\\t\"'$<-#", "\r", "\u2028"]), max_size=12)


FAKES = st.sampled_from(["USER app", "user 10001:10001", "FROM python-runtime", "  USER 1", "EOF ", "\tEOF"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(FAKES, LINE.filter(lambda line: line.rstrip("\r") != "EOF")), max_size=6))
def test_nothing_in_a_heredoc_satisfies_the_check(body: list[str]) -> None:
    dockerfile = "FROM python-runtime\nUSER root\nRUN <<EOF\n" + "".join(f"{line}\n" for line in body) + "EOF\n"
    assert reader.security_problems(dockerfile)


ORACLE_CASES = [dockerfile for _, dockerfile, _ in BYPASSES] + [
    "FROM x\nRUN <<EOF\n\tEOF\nEOF\nUSER 2\n",
    "FROM x\nRUN cat<<EOF\nUSER 1\n",
    "FROM x\nRUN a\\ <<EOF\nUSER 1\n",
    "FROM x\nRUN cat\x1c<<EOF\nUSER 1\n",
    "FROM x\nRUN cat\xa0<<EOF\nUSER 1\nEOF\n",
    "FROM x\nRUN --mount=type=cache,target=/c cat <<EOF\nUSER 1\nEOF\nUSER 2\n",
    "FROM x\nCMD <<EOF\nUSER 1\nEOF\n",
]


def test_the_split_matches_buildkits_own_parser() -> None:
    """Where the PyPI package ``dockerfile`` (BuildKit's Go parser, binary wheels) is installed."""
    buildkit = pytest.importorskip("dockerfile")
    for dockerfile in ORACLE_CASES:
        read = reader.parse(dockerfile)
        if not read.problems:  # a refused text has no split to compare
            theirs = [c.start_line for c in buildkit.parse_string(dockerfile)]
            assert [i.line for i in read.instructions] == theirs, dockerfile


def test_exec_form_opens_no_heredoc() -> None:
    read = reader.parse('FROM x\nRUN ["sh", "-c", "cat", "<<EOF"]\nEOF\n')
    assert [(i.keyword, i.heredocs) for i in read.instructions] == [("FROM", ()), ("RUN", ()), ("EOF", ())]


def test_the_server_layer_installs_as_the_model_images_do(
    make_bundle: MakeBundle, env_file: Path, tmp_path: Path
) -> None:
    # the environment's index, trusted host and CA bundle reach the aiar-server layer's pip; the CA
    # is mounted for that step, never copied into a layer
    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (env_file.parent / "site-ca.pem").write_bytes(ca)
    text = env_file.read_text().replace(
        "pip:\n  index_url: https://pypi.org/simple\n",
        "pip:\n  index_url: https://pypi.factory.internal/simple\n  trusted_hosts: [pypi.factory.internal]\n"
        "build:\n  ca_bundle: site-ca.pem\n",
    )
    assert "site-ca.pem" in text
    env_file.write_text(text)
    dockerfile = "FROM aiar-server\nCOPY src /app/src\nUSER 10001:10001\n"
    files = compile_paths(
        [make_bundle(layers_manifest("aiar-server"), {"Dockerfile": dockerfile})], env_file, tmp_path / "l"
    ).files
    build = "tiny-model/build/"
    assert files[build + "aiar-layers/ca.pem"] == ca
    layer = files[build + "Dockerfile.predict"].decode()
    layer = layer[layer.index("AS aiar-server-build") : layer.index("AS aiar-server\n")]
    assert 'ARG PIP_INDEX_URL="https://pypi.factory.internal/simple"' in layer
    assert 'ARG PIP_TRUSTED_HOST="pypi.factory.internal"' in layer
    assert "RUN --mount=type=bind,source=aiar-layers/ca.pem,target=/tmp/aiar-build/ca.pem" in layer
    assert "PIP_CERT=/tmp/aiar-build/ca.pem /opt/venv/bin/pip install" in layer
    assert "COPY aiar-layers/ca.pem" not in layer
