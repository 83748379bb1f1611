"""``aiar ui`` end to end in a real headless Chromium against the local platform: upload a bundle,
see its validation error at its line, fix it, generate, plan, apply, find it on the Dashboard with
the figures of ``aiar status -o json``, stop and start it, change its schedule; upload, download and
delete a dataset. Each page's screenshot is taken; ``make screenshots`` writes them to docs/ (committed,
shown in the README)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from generator.ui.workspace import Workspace
from tests.apply.harness import Stage, small_bundle
from tests.platform.testenv import Platform
from tests.ui.conftest import DOCS, serve
from tests.waiting import poll

pytestmark = [pytest.mark.platform, pytest.mark.slow]


@pytest.fixture
def platform_environ(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process server's clients (docker SDK, boto3) find the platform as the CLI's do."""
    for name, value in platform.env().items():
        monkeypatch.setenv(name, value)


def workspace_for(root: Path, stage: Stage) -> Workspace:
    (root / "bundles").mkdir(parents=True)
    return Workspace(root / "bundles", stage.env_file, root / "aiar.lock", root / "out", stage.platform.kubeconfig)


def shot(page: Any, name: str, width: int = 1280) -> None:
    """Each page as a PNG: into docs/ (the README's) only with AIAR_UPDATE_SCREENSHOTS=1 (`make
    screenshots`), else into a temp dir: a test run leaves the repository as it was."""
    target = DOCS if os.environ.get("AIAR_UPDATE_SCREENSHOTS") == "1" else Path(tempfile.gettempdir()) / "aiar-ui"
    target.mkdir(exist_ok=True)
    if width != 1280:
        page.set_viewport_size({"width": width, "height": 800})
    page.screenshot(path=str(target / name), full_page=width == 1280)
    page.set_viewport_size({"width": 1280, "height": 800})


def broken_zip(root: Path) -> tuple[Path, str, int]:
    """The test bundle as a ZIP whose manifest says ``"version": 0``; its fixed text and the line."""
    bundle = small_bundle(root / "src", "UI Model")
    manifest = json.loads((bundle / "manifest.json").read_text())
    fixed = json.dumps(manifest, indent=2) + "\n"
    broken = json.dumps({"version": 0, **manifest}, indent=2) + "\n"
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if '"version"' in text)
    archive = root / "ui-model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                rel = path.relative_to(bundle).as_posix()
                z.writestr(rel, broken if rel == "manifest.json" else path.read_text())
    return archive, fixed, line


def cli_status(stage: Stage, ws: Workspace, model: str) -> dict[str, Any]:
    result = stage.aiar("status", model, "--out", ws.out, "--env", ws.env_file, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    found: dict[str, Any] = json.loads(result.stdout)["models"][0]
    return found


def row(page: Any, model: str) -> dict[str, str]:
    cells = page.locator(f'tr[data-model="{model}"] td[data-field]')
    return {c.get_attribute("data-field"): c.inner_text().strip() for c in cells.all()}


def test_deploy_operate_and_schedule_a_model(stage: Stage, page: Any, tmp_path: Path, platform_environ: None) -> None:
    ws = workspace_for(tmp_path / "ws", stage)
    archive, fixed, line = broken_zip(tmp_path)
    model = "ui-model"
    with serve(ws) as url:
        # 1. upload: the manifest's error at its line
        page.goto(f"{url}/deploy")
        page.get_by_label("Bundle ZIP", exact=True).set_input_files(str(archive))
        page.get_by_role("button", name="Upload and validate").click()
        page.wait_for_url(f"{url}/deploy/{model}")
        problem = page.locator("#live-problems li").first
        assert re.match(rf"{line}:\d+ /version Input should be greater than or equal to 1", problem.inner_text())
        assert (ws.bundles / model / "manifest.json").is_file()
        shot(page, "ui-deployer-validation.png")
        # 2. fix it in the editor: validated as typed, by aiar's validator
        page.get_by_role("textbox", name=re.compile("^Manifest")).fill(fixed)
        page.locator("#live-problems .ok").wait_for()
        page.get_by_role("button", name="Save manifest").click()
        page.get_by_role("button", name="Generate out/").wait_for()
        assert page.locator("details summary", has_text=f"{model}/k8s/").count() > 0  # the diff against out/
        shot(page, "ui-deployer-diff.png")
        # 3. generate, plan, apply with live progress
        page.get_by_role("button", name="Generate out/").click()
        page.wait_for_url(re.compile(rf"{url}/deploy/{model}/plan"))
        assert "to create" in page.get_by_role("status").inner_text()
        assert page.locator("td.action-create").count() > 0
        shot(page, "ui-deployer-plan.png")
        page.get_by_role("button", name=f"Apply {model}").click()
        page.locator('#job-state[data-state="done"]').wait_for(timeout=400_000)
        assert page.locator("#job-log").inner_text().strip()
        shot(page, "ui-deployer-apply.png")
        # 4. the Dashboard shows what `aiar status -o json` says
        page.get_by_role("link", name="See it on the Dashboard").click()

        def running() -> dict[str, str] | None:
            page.reload()
            cells = row(page, model)
            return cells if cells.get("state", "").startswith("running") else None

        cells = poll("the model running on the Dashboard", running, timeout=120, interval=2)
        status = cli_status(stage, ws, model)
        assert status["state"] == "running"
        assert cells["version"].splitlines()[0] == status["version_deployed"]
        assert cells["replicas"] == f"{status['replicas_ready']}/{status['replicas_desired']}"
        assert cells["started_at"] == (status["started_at"] or "-")
        assert cells["url"].split()[0] == (status["public_urls"] or [status["cluster_url"]])[0]
        assert cells["training"] == "-"
        shot(page, "ui-dashboard.png")
        shot(page, "ui-dashboard-narrow.png", width=420)
        # 5. stop and start
        page.get_by_role("button", name=f"Stop {model}").click()
        assert f"stopped {model}" in page.get_by_role("status").first.inner_text()
        assert row(page, model)["state"].startswith("stopped")
        assert cli_status(stage, ws, model)["state"] == "stopped"
        page.get_by_role("button", name=f"Start {model}").click()
        assert f"started {model}" in page.get_by_role("status").first.inner_text()
        poll("running again", running, timeout=120, interval=2)
        assert cli_status(stage, ws, model)["state"] == "running"
        # 6. the schedule: the manifest rewritten, out/ re-generated, next runs shown
        page.get_by_role("link", name="Scheduler").click()
        card = page.locator(f'section[data-bundle="{model}"]')
        card.get_by_label("Timezone").fill("Europe/Madrid")
        card.get_by_role("group", name="start rule 1").get_by_label("Time").fill("08:00")
        card.get_by_role("group", name="start rule 1").get_by_label("Mon").check()
        card.get_by_role("group", name="stop rule 1").get_by_label("Time").fill("20:00")
        card.get_by_role("button", name=f"Save schedule of {model}").click()
        assert "saved the schedule" in page.get_by_role("status").first.inner_text()
        written = json.loads((ws.bundles / model / "manifest.json").read_text())
        assert written["schedule"] == {
            "timezone": "Europe/Madrid",
            "start": [{"days": ["MON"], "at": "08:00"}],
            "stop": [{"at": "20:00"}],
        }
        assert (ws.out / model / "k8s" / "cronjob-start.yaml").is_file()
        nxt = page.locator(f'section[data-bundle="{model}"] [data-field="next"]').inner_text()
        assert re.search(r"Next start: \d{4}-\d\d-\d\dT08:00\+0[12]:00", nxt), nxt
        assert re.search(r"next stop: \d{4}-\d\d-\d\dT20:00\+0[12]:00", nxt), nxt
        shot(page, "ui-scheduler.png")


def test_upload_download_and_delete_a_dataset(
    platform: Platform, platform_env: Path, page: Any, tmp_path: Path, platform_environ: None
) -> None:
    ws = Workspace(tmp_path / "bundles", platform_env, tmp_path / "aiar.lock", tmp_path / "out")
    ws.bundles.mkdir()
    name = f"ui-{uuid.uuid4().hex[:8]}.csv"
    data = tmp_path / "history.csv"
    data.write_bytes(b"x,y\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(20_000)))
    with serve(ws) as url:
        page.goto(f"{url}/storage")
        page.get_by_label("File", exact=True).set_input_files(str(data))
        page.get_by_label("Name").fill(name)
        page.get_by_role("button", name="Upload").click()
        page.locator(f'tr[data-dataset="{name}"]').wait_for()
        assert "stored s3://" in page.get_by_role("status").first.inner_text()
        cells = page.locator(f'tr[data-dataset="{name}"] td').all_inner_texts()
        assert cells[0] == "218.1 KiB"
        shot(page, "ui-storage.png")
        with page.expect_download() as info:
            page.locator(f'tr[data-dataset="{name}"]').get_by_role("link", name="Download").click()
        saved = tmp_path / "downloaded.csv"
        info.value.save_as(saved)
        assert saved.read_bytes() == data.read_bytes()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name=f"Delete {name}").click()
        page.wait_for_url(re.compile(r"/storage\?m=deleted"))
        assert page.locator(f'tr[data-dataset="{name}"]').count() == 0
    shutil.rmtree(tmp_path / "bundles")
