"""Who may use ``aiar ui`` and which requests may change anything: the access token, the trusted
identity header, the Host check, CSRF on every POST, size caps and the hostile-ZIP checks."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from generator.cli_ui import ui
from generator.ui.app import Limits, create_app
from generator.ui.security import CSRF_COOKIE, Access
from generator.ui.workspace import Workspace
from tests.conftest import REPO
from tests.helpers import minimal_manifest

TOKEN = "t0ken-for-the-tests-0123456789"  # noqa: S105 (a test token)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    bundle = tmp_path / "bundles" / "tiny"
    (bundle / "src").mkdir(parents=True)
    (bundle / "manifest.json").write_text(json.dumps(minimal_manifest(), indent=2))
    (bundle / "src" / "predict.py").write_text("def predict(model, x):\n    return x\n")
    return Workspace(
        tmp_path / "bundles", REPO / "bundles" / "environment.yaml", tmp_path / "aiar.lock", tmp_path / "out"
    )


def client(workspace: Workspace, access: Access, limits: Limits | None = None) -> TestClient:
    return TestClient(create_app(workspace, access, limits), base_url=f"http://{access.host}:{access.port}")


def test_binding_off_loopback_needs_a_token_or_a_trusted_header(workspace: Workspace) -> None:
    assert Access("127.0.0.1", 8000).problem() is None
    assert Access("::1", 8000).problem() is None
    assert "access token" in (Access("0.0.0.0", 8000).problem() or "")  # noqa: S104
    assert Access("0.0.0.0", 8000, token=TOKEN).problem() is None  # noqa: S104
    assert Access("10.1.2.3", 8000, trust_header="X-Forwarded-User").problem() is None
    result = CliRunner().invoke(
        ui,
        ["--host", "0.0.0.0", "--bundles", str(workspace.bundles)],  # noqa: S104
        env={"AIAR_UI_TOKEN": ""},
    )
    assert result.exit_code == 1
    assert "needs an access token" in result.output


def test_a_request_without_the_token_is_refused(workspace: Workspace) -> None:
    app = client(workspace, Access("0.0.0.0", 8000, token=TOKEN))  # noqa: S104
    assert app.get("/").status_code == 401
    assert app.get("/static/style.css").status_code == 401
    assert app.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert app.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # once in a link: kept in an HttpOnly SameSite=Strict cookie and taken out of the address
    first = app.get(f"/deploy?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/deploy"
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    assert app.get("/deploy").status_code == 200


def test_a_trusted_identity_header_is_required_and_shown(workspace: Workspace) -> None:
    app = client(workspace, Access("0.0.0.0", 8000, trust_header="X-Forwarded-User"))  # noqa: S104
    assert app.get("/").status_code == 401
    page = app.get("/", headers={"X-Forwarded-User": "ana@example.org"})
    assert page.status_code == 200
    assert "ana@example.org" in page.text


def test_on_loopback_another_host_name_is_refused(workspace: Workspace) -> None:
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 cannot reach the app."""
    app = client(workspace, Access("127.0.0.1", 8000))
    assert app.get("/", headers={"Host": "evil.example:8000"}).status_code == 421
    assert app.get("/", headers={"Host": "localhost:8000"}).status_code == 200


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(workspace: Workspace) -> None:
    app = client(workspace, Access("127.0.0.1", 8000))
    before = (workspace.bundles / "tiny" / "manifest.json").read_bytes()
    fresh = TestClient(app.app, base_url="http://127.0.0.1:8000")
    assert fresh.post("/deploy/tiny/manifest", data={"manifest": "{}"}).status_code == 403  # no session at all
    app.get("/deploy")  # the session cookie
    token = app.cookies[CSRF_COOKIE]
    assert app.post("/deploy/tiny/manifest", data={"manifest": "{}"}).status_code == 403
    assert app.post("/deploy/tiny/manifest", data={"manifest": "{}", "csrf": "x" * 43}).status_code == 403
    assert (
        app.post("/deploy/tiny/validate", data={"manifest": "{}"}, headers={"X-CSRF-Token": "bad"}).status_code == 403
    )
    assert app.post("/models/tiny/stop", data={"csrf": "nope"}).status_code == 403
    assert (workspace.bundles / "tiny" / "manifest.json").read_bytes() == before
    cookie = app.get("/").headers.get("set-cookie")
    assert cookie is None  # the session keeps its token
    saved = app.post("/deploy/tiny/manifest", data={"manifest": "{}", "csrf": token}, follow_redirects=False)
    assert saved.status_code == 422
    assert "required field is missing" in saved.text
    assert app.put("/deploy/tiny/manifest").status_code == 405


def test_the_csrf_cookie_is_samesite_strict(workspace: Workspace) -> None:
    response = client(workspace, Access("127.0.0.1", 8000)).get("/")
    cookie = response.headers["set-cookie"].lower()
    assert CSRF_COOKIE in cookie
    assert "samesite=strict" in cookie
    assert "httponly" in cookie


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_uploads_are_capped_and_go_through_the_hostile_zip_checks(workspace: Workspace) -> None:
    app = client(workspace, Access("127.0.0.1", 8000), Limits(bundle_bytes=4096))
    app.get("/")
    token = app.cookies[CSRF_COOKIE]
    big = app.post(
        "/deploy/upload", data={"csrf": token}, files={"bundle": ("b.zip", b"x" * 10_000, "application/zip")}
    )
    assert big.status_code == 413
    evil = _zip({"manifest.json": json.dumps(minimal_manifest()).encode(), "../escape.py": b"x"})
    refused = app.post("/deploy/upload", data={"csrf": token}, files={"bundle": ("evil.zip", evil, "application/zip")})
    assert refused.status_code == 422
    assert "escape.py" in refused.text
    assert not (workspace.bundles / "evil").exists()
    assert not (workspace.bundles / "escape.py").exists()
    good = _zip(
        {
            "manifest.json": json.dumps(minimal_manifest()).encode(),
            "src/predict.py": b"def predict(m, x):\n  return x\n",
        }
    )
    ok = app.post(
        "/deploy/upload",
        data={"csrf": token},
        files={"bundle": ("good.zip", good, "application/zip")},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/deploy/good"
    assert (workspace.bundles / "good" / "src" / "predict.py").is_file()
    again = app.post("/deploy/upload", data={"csrf": token}, files={"bundle": ("good.zip", good, "application/zip")})
    assert again.status_code == 422
    assert "exists" in again.text


def test_bundle_names_in_urls_cannot_leave_the_bundles_directory(workspace: Workspace) -> None:
    app = client(workspace, Access("127.0.0.1", 8000))
    assert app.get("/deploy/..%2F..%2Fetc").status_code == 404
    assert app.get("/deploy/.hidden").status_code == 404


def test_on_loopback_the_host_check_holds_with_a_trusted_header_too(workspace: Workspace) -> None:
    """A rebinding page is same-origin with itself: it could set the proxy's header and read the CSRF
    token. On loopback the Host check therefore holds whatever else is configured."""
    access = Access("127.0.0.1", 8000, trust_header="X-Forwarded-User")
    evil = TestClient(create_app(workspace, access), base_url="http://evil.example:8000")
    before = (workspace.bundles / "tiny" / "manifest.json").read_bytes()
    assert evil.get("/deploy/tiny", headers={"X-Forwarded-User": "anyone"}).status_code == 421
    assert (
        evil.post("/deploy/tiny/manifest", data={"manifest": "PWNED"}, headers={"X-Forwarded-User": "x"}).status_code
        == 421
    )
    assert (workspace.bundles / "tiny" / "manifest.json").read_bytes() == before
    # a proxy on this machine that passes its public name on: allowed by name only
    named = Access("127.0.0.1", 8000, trust_header="X-Forwarded-User", allowed_hosts=("aiar.example.org",))
    proxied = TestClient(create_app(workspace, named), base_url="http://aiar.example.org:8000")
    assert proxied.get("/", headers={"X-Forwarded-User": "ana"}).status_code == 200
    assert TestClient(create_app(workspace, named), base_url="http://evil.example:8000").get("/").status_code == 421


def test_with_a_token_and_a_trusted_header_both_are_required(workspace: Workspace) -> None:
    app = client(workspace, Access("0.0.0.0", 8000, token=TOKEN, trust_header="X-Forwarded-User"))  # noqa: S104
    assert app.get("/deploy", headers={"X-Forwarded-User": "x"}).status_code == 401
    assert app.get("/deploy", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
    both = {"X-Forwarded-User": "x", "Authorization": f"Bearer {TOKEN}"}
    assert app.get("/deploy", headers=both).status_code == 200


def test_the_token_link_redirects_to_a_local_path_only(workspace: Workspace) -> None:
    """``GET //evil.example/x?token=...`` must not answer ``Location: //evil.example/x`` (another site)."""
    import asyncio
    import threading

    app = create_app(workspace, Access("0.0.0.0", 8000, token=TOKEN))  # noqa: S104
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "//evil.example/x", "raw_path": b"//evil.example/x", "query_string": f"token={TOKEN}".encode(),
        "headers": [(b"host", b"127.0.0.1:8000")], "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1),
        "root_path": "",
    }  # fmt: skip
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    # in a thread of its own: another test (playwright's) may have left an event loop on this one
    runner = threading.Thread(target=lambda: asyncio.run(app(scope, receive, send)))  # type: ignore[arg-type]
    runner.start()
    runner.join(30)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = dict(start["headers"])  # type: ignore[call-overload]
    assert start["status"] == 303
    assert headers[b"location"] == b"/evil.example/x"


def test_caps_follow_the_exact_upload_routes(workspace: Workspace) -> None:
    """A bundle named like an upload route gets the form's cap, not the upload's."""
    app = client(workspace, Access("127.0.0.1", 8000), Limits(form_bytes=2048))
    app.get("/")
    token = app.cookies[CSRF_COOKIE]
    answer = app.post("/deploy/upload-x/manifest", data={"manifest": "x" * 10_000, "csrf": token})
    assert answer.status_code == 413


def test_an_unknown_dashboard_action_does_nothing(workspace: Workspace) -> None:
    app = client(workspace, Access("127.0.0.1", 8000))
    app.get("/")
    token = app.cookies[CSRF_COOKIE]
    assert app.post("/models/tiny/anything", data={"csrf": token}).status_code == 404
