"""``aiar storage`` against the platform's real S3 server (moto_server), not mocks.

What a user relies on: a dataset lands exactly where HISTORIC_DATA training reads it; nothing is
overwritten unless asked; the bytes are checked on the way up and on the way down; an upload that
fails, is interrupted or killed leaves no object and (after the next put) no pending upload; big
files move in bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from generator import defaults
from generator.ops import storage as ops
from tests.conftest import REPO
from tests.ops.conftest import Cli
from tests.waiting import poll

pytestmark = pytest.mark.platform

MiB = 1 << 20


def _write(path: Path, size: int, seed: bytes = b"") -> str:
    """A file of ``size`` pseudo-random bytes (deterministic, fast); its sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        block, counter = b"", 0
        while out.tell() < size:
            block = hashlib.sha512(seed + counter.to_bytes(8, "big")).digest() * 2048  # 128 KiB
            chunk = block[: size - out.tell()]
            out.write(chunk)
            digest.update(chunk)
            counter += 1
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def _pending_uploads(s3: Any, bucket: str, key: str) -> list[str]:
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return [u["UploadId"] for u in uploads if u["Key"] == key]


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return False
        raise
    return True


def _json(text: str) -> Any:
    return json.loads(text)


# --- round trip ---------------------------------------------------------------------------------


def test_put_ls_get_rm_round_trip(
    cli: Cli, platform_s3: Any, platform_bucket: str, unique: str, tmp_path: Path
) -> None:
    source = tmp_path / "history.csv"
    digest = _write(source, 20 * MiB + 123)  # three parts: the composite checksum is over several
    name = f"{unique}/history.csv"

    put = cli("put", str(source), "--as", name, "-o", "json")
    assert put.exit_code == 0, put.stderr
    stored = _json(put.stdout)
    key = defaults.dataset_key(name)  # where training reads fileName from
    assert stored["key"] == key
    assert stored["uri"] == f"s3://{platform_bucket}/{key}"
    assert (stored["size"], stored["sha256"], stored["verified"]) == (20 * MiB + 123, digest, "sha256")
    assert stored["parts"] == 3
    head = platform_s3.head_object(Bucket=platform_bucket, Key=key)
    assert head["Metadata"] == {"sha256": digest}
    assert head["ContentLength"] == 20 * MiB + 123

    listed = _json(cli("ls", "datasets", "-o", "json").stdout)
    mine = [d for d in listed["datasets"] if d["name"] == name]
    assert mine
    assert mine[0]["size"] == 20 * MiB + 123
    assert mine[0]["key"] == key
    assert "models" not in listed

    target = tmp_path / "back.csv"
    got = cli("get", name, "-o", str(target), "--output", "json")
    assert got.exit_code == 0, got.stderr
    assert _json(got.stdout)["verified"] == "sha256"
    assert _sha256(target) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.csv", "history.csv"]  # no partial file left

    removed = cli("rm", name, "--yes", "-o", "json")
    assert removed.exit_code == 0, removed.stderr
    assert _json(removed.stdout) == {"ok": True, "deleted": [f"s3://{platform_bucket}/{key}"]}
    assert not _exists(platform_s3, platform_bucket, key)
    again = cli("rm", name, "--yes")
    assert again.exit_code == 1
    assert f"s3://{platform_bucket}/{key}: not found" in again.stderr


def test_text_output_names_the_manifest_file_name(cli: Cli, unique: str, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    _write(source, 1000)
    put = cli("put", str(source), "--as", f"{unique}/data.csv")
    assert put.exit_code == 0, put.stderr
    assert f'"fileName": "{unique}/data.csv"' in put.stdout
    listed = cli("ls")
    assert f"{unique}/data.csv" in listed.stdout
    assert "models in s3://" in listed.stdout


def test_overwrite_refused_without_force(
    cli: Cli, platform_s3: Any, platform_bucket: str, unique: str, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first_digest = _write(first, 3 * MiB, b"first")
    second_digest = _write(second, 2 * MiB, b"second")
    name = f"{unique}/data.csv"
    key = defaults.dataset_key(name)
    assert cli("put", str(first), "--as", name).exit_code == 0

    refused = cli("put", str(second), "--as", name)
    assert refused.exit_code == 1
    assert f"s3://{platform_bucket}/{key}: already exists" in refused.stderr
    assert "--force" in refused.stderr
    assert platform_s3.head_object(Bucket=platform_bucket, Key=key)["Metadata"]["sha256"] == first_digest
    assert _pending_uploads(platform_s3, platform_bucket, key) == []

    forced = cli("put", str(second), "--as", name, "--force", "-o", "json")
    assert forced.exit_code == 0, forced.stderr
    assert _json(forced.stdout)["replaced"] is True
    assert platform_s3.head_object(Bucket=platform_bucket, Key=key)["Metadata"]["sha256"] == second_digest


def test_a_writer_that_got_there_first_is_not_overwritten(
    bucket: ops.Bucket, platform_s3: Any, platform_bucket: str, unique: str, tmp_path: Path
) -> None:
    """The existence check and the upload are not one step; the conditional completion closes the gap."""
    source = tmp_path / "mine.csv"
    _write(source, 9 * MiB)
    key = defaults.dataset_key(f"{unique}/race.csv")

    def someone_else(**_: Any) -> None:
        platform_s3.put_object(Bucket=platform_bucket, Key=key, Body=b"theirs")

    bucket.client.meta.events.register("before-call.s3.CompleteMultipartUpload", someone_else)
    with pytest.raises(ops.StorageOpError, match="already exists"):
        ops.put_dataset(bucket, source, f"{unique}/race.csv")
    assert platform_s3.get_object(Bucket=platform_bucket, Key=key)["Body"].read() == b"theirs"
    assert _pending_uploads(platform_s3, platform_bucket, key) == []


# --- checksums ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tamper", ["bytes", "metadata"])
def test_get_detects_a_checksum_mismatch(
    cli: Cli, platform_s3: Any, platform_bucket: str, unique: str, tmp_path: Path, tamper: str
) -> None:
    source = tmp_path / "data.csv"
    digest = _write(source, 2 * MiB)
    name = f"{unique}/data.csv"
    key = defaults.dataset_key(name)
    assert cli("put", str(source), "--as", name).exit_code == 0
    if tamper == "bytes":  # same size and metadata, one byte different: what bit rot or a bad copy does
        body = bytearray(source.read_bytes())
        body[MiB] ^= 0x01
        platform_s3.put_object(Bucket=platform_bucket, Key=key, Body=bytes(body), Metadata={"sha256": digest})
    else:  # the right bytes, a wrong digest beside them
        platform_s3.put_object(Bucket=platform_bucket, Key=key, Body=source.read_bytes(), Metadata={"sha256": "0" * 64})
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    got = cli("get", name, "-o", str(downloads))
    assert got.exit_code == 1
    assert f"s3://{platform_bucket}/{key}: sha256 mismatch" in got.stderr
    assert list(downloads.iterdir()) == []  # neither the target nor the partial file


def test_a_file_changing_during_upload_is_not_stored(
    bucket: ops.Bucket, platform_s3: Any, platform_bucket: str, unique: str, tmp_path: Path
) -> None:
    source = tmp_path / "growing.csv"
    size = 9 * ops.PART_SIZE  # more parts than are read ahead: the last one is read after the first is sent
    _write(source, size)
    key = defaults.dataset_key(f"{unique}/growing.csv")

    def edit_the_end(**_: Any) -> None:
        with source.open("r+b") as file:
            file.seek(size - 1)
            file.write(b"!")

    bucket.client.meta.events.register("before-call.s3.UploadPart", edit_the_end)
    with pytest.raises(ops.StorageOpError, match="changed while it was read"):
        ops.put_dataset(bucket, source, f"{unique}/growing.csv")
    assert not _exists(platform_s3, platform_bucket, key)
    assert _pending_uploads(platform_s3, platform_bucket, key) == []


# --- failures and interrupts --------------------------------------------------------------------


def test_a_failure_after_some_parts_leaves_no_object(
    bucket: ops.Bucket, platform_s3: Any, platform_bucket: str, unique: str, tmp_path: Path
) -> None:
    source = tmp_path / "data.csv"
    _write(source, 5 * ops.PART_SIZE)
    key = defaults.dataset_key(f"{unique}/data.csv")
    sent = []

    def network_fails_on_the_third_part(**_: Any) -> None:
        sent.append(1)
        if len(sent) >= 3:
            raise EndpointConnectionError(endpoint_url=bucket.endpoint)

    bucket.client.meta.events.register("before-call.s3.UploadPart", network_fails_on_the_third_part)
    with pytest.raises(ops.StorageOpError, match="cannot reach the S3 endpoint"):
        ops.put_dataset(bucket, source, f"{unique}/data.csv")
    assert not _exists(platform_s3, platform_bucket, key)
    assert _pending_uploads(platform_s3, platform_bucket, key) == []


# Runs the real command line in a subprocess, each part held for a second, so that a signal lands
# mid-upload: ``python -c DRIVER MARKER storage-args...``; MARKER appears once the first part is sent.
DRIVER = """
import sys, time
from pathlib import Path
import generator.ops.storage as ops
from generator.cli_storage import storage

marker = Path(sys.argv[1])
opened = ops.open_bucket

def throttled(environment_storage):
    bucket = opened(environment_storage)
    bucket.client.meta.events.register("before-call.s3.UploadPart", lambda **_: time.sleep(1.0))
    bucket.client.meta.events.register("after-call.s3.UploadPart", lambda **_: marker.touch())
    return bucket

ops.open_bucket = throttled
storage.main(sys.argv[2:], prog_name="aiar storage")
"""


def _child_env(credentials: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    return {**env, **credentials, "PYTHONPATH": str(REPO), "AWS_EC2_METADATA_DISABLED": "true"}


def _start_throttled_put(
    tmp_path: Path, platform_env: Path, credentials: dict[str, str], name: str
) -> tuple[Any, Path]:
    source = tmp_path / "data.csv"
    if not source.exists():
        _write(source, 5 * ops.PART_SIZE)  # 4 parts in flight, then a fifth: at least two seconds
    marker = tmp_path / "first-part-sent"
    marker.unlink(missing_ok=True)
    args = ["put", str(source), "--as", name, "--env", str(platform_env)]
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(marker), *args],
        cwd=REPO,
        env=_child_env(credentials),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def sent_a_part() -> bool:
        if marker.exists():
            return True
        assert child.poll() is None, child.communicate()
        return False

    poll("the upload to send a part", sent_a_part, timeout=60, interval=0.01)
    return child, source


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupted_upload_leaves_no_object_and_no_pending_upload(
    platform_env: Path,
    credentials: dict[str, str],
    platform_s3: Any,
    platform_bucket: str,
    unique: str,
    tmp_path: Path,
    signum: int,
) -> None:
    name = f"{unique}/data.csv"
    key = defaults.dataset_key(name)
    child, _ = _start_throttled_put(tmp_path, platform_env, credentials, name)
    assert _pending_uploads(platform_s3, platform_bucket, key), "the signal must land mid-upload"
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert not _exists(platform_s3, platform_bucket, key)
    assert _pending_uploads(platform_s3, platform_bucket, key) == []


def test_a_killed_upload_is_cleaned_up_by_the_next_put(
    cli: Cli,
    platform_env: Path,
    credentials: dict[str, str],
    platform_s3: Any,
    platform_bucket: str,
    unique: str,
    tmp_path: Path,
) -> None:
    name = f"{unique}/data.csv"
    key = defaults.dataset_key(name)
    child, source = _start_throttled_put(tmp_path, platform_env, credentials, name)
    child.kill()  # SIGKILL: nothing runs, not even an abort
    child.communicate(timeout=60)
    assert not _exists(platform_s3, platform_bucket, key)
    assert _pending_uploads(platform_s3, platform_bucket, key), "SIGKILL leaves the multipart upload pending"

    again = cli("put", str(source), "--as", name, "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert _json(again.stdout)["stale_uploads_aborted"] >= 1
    assert _pending_uploads(platform_s3, platform_bucket, key) == []
    assert platform_s3.head_object(Bucket=platform_bucket, Key=key)["Metadata"]["sha256"] == _sha256(source)


# --- memory ---------------------------------------------------------------------------------------


# Runs ``python -m generator.cli_storage ARGS`` and, at exit, writes its peak RSS (VmHWM, KiB) to REPORT:
# ``python -c MEASURED REPORT ARGS...``. Measured inside the child because a forked child's ru_maxrss
# (wait4, RUSAGE_CHILDREN) starts from its parent's RSS, here pytest's, while VmHWM starts afresh at exec.
MEASURED = """
import atexit, runpy, sys

report = sys.argv.pop(1)

def peak():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    with open(report, "w") as out:
        out.write(line.split()[1])

atexit.register(peak)
sys.argv[0] = "aiar storage"
runpy.run_module("generator.cli_storage", run_name="__main__", alter_sys=True)
"""


def _peak_rss_mib(args: list[str], credentials: dict[str, str], report: Path) -> tuple[int, float, str]:
    """Run ``python -m generator.cli_storage ARGS``; its exit code, peak RSS in MiB, and stderr."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, str(report), *args],
        cwd=REPO,
        env=_child_env(credentials),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    return done.returncode, int(report.read_text()) / 1024, done.stderr


@pytest.mark.slow
def test_a_large_file_moves_in_bounded_memory(
    platform_env: Path, credentials: dict[str, str], unique: str, tmp_path: Path
) -> None:
    size = 120 * MiB
    source = tmp_path / "big.bin"
    with source.open("wb") as out:  # sparse, with random blocks spread through it
        out.truncate(size)
        for offset in range(0, size, 12 * MiB):
            out.seek(offset)
            out.write(os.urandom(MiB))
    env = ["--env", str(platform_env)]
    name = f"{unique}/big.bin"

    report = tmp_path / "peak-rss"
    rc, baseline, stderr = _peak_rss_mib(["ls", "datasets", *env], credentials, report)
    assert rc == 0, stderr
    rc, put_peak, stderr = _peak_rss_mib(["put", str(source), "--as", name, *env], credentials, report)
    assert rc == 0, stderr
    target = tmp_path / "back.bin"
    rc, get_peak, stderr = _peak_rss_mib(["get", name, "-o", str(target), *env], credentials, report)
    assert rc == 0, stderr

    assert _sha256(target) == _sha256(source)
    print(f"peak RSS: baseline (ls) {baseline:.0f} MiB, put {put_peak:.0f} MiB, get {get_peak:.0f} MiB")
    assert put_peak - baseline < 150, (baseline, put_peak)
    assert get_peak - baseline < 150, (baseline, get_peak)


# --- model files ----------------------------------------------------------------------------------


def test_model_files_listed_fetched_and_deleted_by_version(
    cli: Cli, platform_s3: Any, platform_bucket: str, unique: str, tmp_path: Path
) -> None:
    # What training writes (runtime/training.py): the model file only, with no sha256 metadata.
    for version, body in ((1, b"model one"), (2, b"model two, better")):
        platform_s3.put_object(Bucket=platform_bucket, Key=defaults.model_key(unique, version, "model.pkl"), Body=body)

    listed = _json(cli("ls", "models", "-o", "json").stdout)
    assert "datasets" not in listed
    (mine,) = [m for m in listed["models"] if m["model"] == unique]
    assert mine["latest"] == 2
    assert [(v["version"], [(f["file"], f["size"]) for f in v["files"]]) for v in mine["versions"]] == [
        (1, [("model.pkl", 9)]),
        (2, [("model.pkl", 17)]),
    ]
    assert set(mine["versions"][0]["files"][0]) == {"file", "key", "size", "modified"}

    latest = cli("get", unique, "-o", str(tmp_path), "--output", "json")
    assert latest.exit_code == 0, latest.stderr
    assert _json(latest.stdout)["verified"] == "size"  # no sha256 stored with model files
    assert (tmp_path / "model.pkl").read_bytes() == b"model two, better"
    first = cli("get", f"{unique}:1", "-o", str(tmp_path / "v1.pkl"))
    assert first.exit_code == 0
    assert (tmp_path / "v1.pkl").read_bytes() == b"model one"
    missing = cli("get", f"{unique}:7")
    assert missing.exit_code == 1
    assert "not found (stored versions: 1, 2)" in missing.stderr

    assert cli("rm", f"{unique}:latest", "--yes").exit_code == 1  # deletion names its version
    removed = cli("rm", f"{unique}:1", "--yes", "-o", "json")
    assert _json(removed.stdout)["deleted"] == [f"s3://{platform_bucket}/{defaults.model_key(unique, 1, 'model.pkl')}"]
    (mine,) = [m for m in _json(cli("ls", "models", "-o", "json").stdout)["models"] if m["model"] == unique]
    assert [v["version"] for v in mine["versions"]] == [2]


def test_get_refuses_to_replace_a_local_file(cli: Cli, unique: str, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    _write(source, 100)
    assert cli("put", str(source), "--as", f"{unique}/data.csv").exit_code == 0
    target = tmp_path / "mine.csv"
    target.write_text("my work")
    refused = cli("get", f"{unique}/data.csv", "-o", str(target))
    assert refused.exit_code == 1
    assert "already exists" in refused.stderr
    assert target.read_text() == "my work"
    assert cli("get", f"{unique}/data.csv", "-o", str(target), "--force").exit_code == 0
    assert target.read_bytes() == source.read_bytes()


# --- inputs and errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../up.csv", "a/../b.csv", "/abs.csv", "a//b.csv", "dir/", "back\\slash.csv", "new\nline", "x" * 513, "m:3"],
)
def test_unsafe_names_are_refused_before_anything_is_stored(
    cli: Cli, platform_s3: Any, platform_bucket: str, tmp_path: Path, name: str
) -> None:
    source = tmp_path / "data.csv"
    source.write_text("a,b\n")
    refused = cli("put", str(source), "--as", name, "-o", "json")
    assert refused.exit_code == 1
    answer = _json(refused.stdout)
    assert answer["ok"] is False
    assert answer["error"] == "problems"
    assert len(answer["problems"]) == 1
    assert not _exists(platform_s3, platform_bucket, defaults.dataset_key(name))  # S3 would have kept the key literally


def test_failures_in_json(cli: Cli, platform_bucket: str, unique: str) -> None:
    missing = cli("get", f"{unique}/nothing.csv", "--output", "json")
    assert missing.exit_code == 1
    assert _json(missing.stdout) == {
        "ok": False,
        "error": "problems",
        "problems": [
            {
                "source": f"s3://{platform_bucket}/datasets/{unique}/nothing.csv",
                "pointer": "",
                "line": None,
                "col": None,
                "message": "not found",
            }
        ],
    }


def test_a_source_that_is_not_a_regular_file(cli: Cli, unique: str, tmp_path: Path) -> None:
    refused = cli("put", str(tmp_path), "--as", f"{unique}/dir")
    assert refused.exit_code == 1
    assert "not a regular file" in refused.stderr
    missing = cli("put", str(tmp_path / "absent.csv"), "--as", f"{unique}/absent.csv")
    assert missing.exit_code == 1
    assert "No such file" in missing.stderr


def test_an_unreachable_endpoint_is_one_line(cli: Cli, platform_env: Path, tmp_path: Path) -> None:
    closed = tmp_path / "environment.yaml"
    text = platform_env.read_text()
    endpoint = ops.bucket_for(platform_env).endpoint
    closed.write_text(text.replace(endpoint, "http://127.0.0.1:9"))  # discard port: nothing listens
    result = cli("ls", env_file=closed)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "http://127.0.0.1:9: cannot reach the S3 endpoint (EndpointConnectionError)"
    assert len(lines) == 2
    assert "Traceback" not in result.stderr


def test_missing_credentials_are_named_never_shown(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, credentials: dict[str, str], tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    result = cli("ls")
    assert result.exit_code == 1
    assert "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in result.stderr


def test_credentials_never_appear_in_output(cli: Cli, credentials: dict[str, str], unique: str, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    _write(source, 10)
    outputs = [
        cli("put", str(source), "--as", f"{unique}/data.csv", "-o", "json"),
        cli("ls", "-o", "json"),
        cli("get", f"{unique}/absent.csv"),
    ]
    secret = credentials["AWS_SECRET_ACCESS_KEY"]
    for result in outputs:
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_storage_must_be_configured(cli: Cli, platform_env: Path, tmp_path: Path) -> None:
    import yaml

    document = yaml.safe_load(platform_env.read_text())
    del document["storage"]
    bare = tmp_path / "environment.yaml"
    bare.write_text(yaml.safe_dump(document))
    result = cli("ls", env_file=bare)
    assert result.exit_code == 1
    assert "/storage is not set" in result.stderr


def test_dataset_names_unit() -> None:
    assert ops.dataset_name("quality_history.csv") == "quality_history.csv"
    assert ops.dataset_name("plant-a/2026/history.csv") == "plant-a/2026/history.csv"
    assert ops.parse_ref("quality-classifier:3") == ops.ModelRef("quality-classifier", 3)
    assert ops.parse_ref("quality-classifier:latest") == ops.ModelRef("quality-classifier", None)
    assert ops.parse_ref("quality-classifier") == ops.DatasetRef("quality-classifier")
    assert ops.parse_ref("data:v2.csv") == ops.DatasetRef("data:v2.csv")  # a colon alone is fine


def test_training_records_shown_or_why_not(cli: Cli, platform_s3: Any, platform_bucket: str, unique: str) -> None:
    """The record training stores beside the model file is listed with its version; one that cannot be
    read (not JSON, too large, not an object) says why instead of failing ``ls``."""
    from generator.apply.datasets import MAX_TRAINING_RECORD_BYTES
    from generator.runtime.config import TRAINING_STATS_FILE

    records = {
        1: json.dumps({"trained_at": "2026-12-01T00:00:00Z", "stats": {"rows": 3}}).encode(),
        2: b"{not json",
        3: b"[" + b"0," * MAX_TRAINING_RECORD_BYTES + b"0]",
        4: b"[1, 2]",
    }
    for version, record in records.items():
        key = defaults.model_key(unique, version, "model.pkl")
        platform_s3.put_object(Bucket=platform_bucket, Key=key, Body=b"model")
        platform_s3.put_object(
            Bucket=platform_bucket, Key=key.rpartition("/")[0] + "/" + TRAINING_STATS_FILE, Body=record
        )

    listed = _json(cli("ls", "models", "-o", "json").stdout)
    (mine,) = [m for m in listed["models"] if m["model"] == unique]
    training = {v["version"]: v["training"] for v in mine["versions"]}
    assert training[1] == {"trained_at": "2026-12-01T00:00:00Z", "stats": {"rows": 3}}
    assert training[2] == {"unreadable": "not JSON"}
    assert training[3] == {"unreadable": f"larger than {MAX_TRAINING_RECORD_BYTES} bytes"}
    assert training[4] == {"unreadable": "not a JSON object"}
