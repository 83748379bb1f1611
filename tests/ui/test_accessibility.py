"""``aiar ui`` is usable without a mouse and by assistive technology, checked in a real Chromium.

Names are read from Chromium's own accessibility tree (the DevTools protocol's
``Accessibility.getFullAXTree``), as a screen reader gets them, not from the HTML: every control and
link of every page has a name, every page has one top-level heading and a main landmark. The keyboard
alone reaches every control of a page in document order, each with a visible focus indicator, and
uploading and validating a bundle works from the keyboard (the file chooser aside, which is the
browser's own dialog).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.ui.workspace import Workspace
from tests.apply.harness import Stage, small_bundle
from tests.ui.conftest import serve

pytestmark = [pytest.mark.platform, pytest.mark.slow]

CONTROL_ROLES = {"button", "link", "textbox", "combobox", "checkbox", "radio", "spinbutton", "searchbox", "listbox"}
MODEL = "a11y-model"


def ax_nodes(page: Any) -> list[dict[str, Any]]:
    cdp = page.context.new_cdp_session(page)
    try:
        nodes: list[dict[str, Any]] = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    return [n for n in nodes if not n.get("ignored")]


def role(node: dict[str, Any]) -> str:
    return str(node.get("role", {}).get("value", ""))


def name(node: dict[str, Any]) -> str:
    return str(node.get("name", {}).get("value", "")).strip()


def heading_level(node: dict[str, Any]) -> int | None:
    props = {p["name"]: p["value"].get("value") for p in node.get("properties", [])}
    level = props.get("level")
    return int(level) if level is not None else None


FOCUSABLE = (
    "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), "
    "textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])"
)
DESCRIBE = """el => {
    const s = getComputedStyle(el);
    const shown = !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) && s.visibility !== 'hidden';
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
    const choice = el.type === 'checkbox' || el.type === 'radio' ? '=' + el.value : '';
    return {key: (el.id || '') + '|' + el.tagName + '|' + (el.getAttribute('name') || '') + choice + '|' +
                 (el.getAttribute('href') || '') + '|' + (el.textContent || '').trim().slice(0, 40),
            shown, ring: outline || s.boxShadow !== 'none',
            scroller: el.scrollHeight > el.clientHeight || el.scrollWidth > el.clientWidth};
}"""


def tab_walk(page: Any) -> list[dict[str, Any]]:
    """Each element Tab focuses, from the top of the page, until focus comes back round."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.getSelection().removeAllRanges()")
    seen: list[dict[str, Any]] = []
    for _ in range(200):
        page.keyboard.press("Tab")
        focused = page.evaluate_handle("document.activeElement")
        if page.evaluate("el => el === document.body", focused):
            break
        info = page.evaluate(DESCRIBE, focused)
        if seen and info["key"] == seen[0]["key"]:
            break
        if not seen or info["key"] != seen[-1]["key"]:  # a time input takes one Tab per field
            seen.append(info)
    return seen


def workspace(root: Path, stage: Stage) -> Workspace:
    ws = Workspace(root / "bundles", stage.env_file, root / "aiar.lock", root / "out", stage.platform.kubeconfig)
    ws.bundles.mkdir(parents=True)
    shutil.copytree(small_bundle(root / "src", MODEL.replace("-", " ").title()), ws.bundles / MODEL)
    return ws


PAGES = ("/", "/deploy", f"/deploy/{MODEL}", "/schedule", "/storage")


@pytest.mark.parametrize("path", PAGES)
def test_every_control_has_a_name_and_the_keyboard_reaches_it(
    stage: Stage, page: Any, tmp_path: Path, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in stage.platform.env().items():
        monkeypatch.setenv(variable, value)
    ws = workspace(tmp_path, stage)
    with serve(ws) as url:
        page.goto(url + path)
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.title().strip()
        nodes = ax_nodes(page)
        unnamed = [f"{role(n)} {n.get('backendDOMNodeId')}" for n in nodes if role(n) in CONTROL_ROLES and not name(n)]
        assert unnamed == [], f"{path}: controls without an accessible name: {unnamed}"
        assert [n for n in nodes if role(n) == "main"], f"{path}: no main landmark"
        assert [n for n in nodes if role(n) == "navigation" and name(n)], f"{path}: no named navigation"
        assert [heading_level(n) for n in nodes if role(n) == "heading"].count(1) == 1, f"{path}: not one h1"

        walked = tab_walk(page)
        focusable = page.eval_on_selector_all(FOCUSABLE, f"els => els.map({DESCRIBE})")
        expected = [f["key"] for f in focusable if f["shown"]]
        # Chromium also stops on a scrolled region (a long diff), so it can be scrolled from the keyboard
        reached = [w["key"] for w in walked if w["key"] in expected or not w["scroller"]]
        assert reached[0].split("|")[4] == "Skip to content"  # the first Tab offers to skip the navigation
        assert reached == expected, f"{path}: Tab order differs from the page's controls"
        no_ring = [w["key"] for w in walked if not w["ring"]]
        assert no_ring == [], f"{path}: focused without a visible focus indicator: {no_ring}"


def test_a_bundle_is_uploaded_and_validated_from_the_keyboard(
    stage: Stage, page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in stage.platform.env().items():
        monkeypatch.setenv(variable, value)
    ws = workspace(tmp_path, stage)
    archive = tmp_path / "keyboard-model.zip"
    bundle = small_bundle(tmp_path / "kb-src", "Keyboard Model")
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.make_archive(str(archive.with_suffix("")), "zip", bundle)
    with serve(ws) as url:
        page.goto(f"{url}/deploy")
        chooser = page.get_by_label("Bundle ZIP", exact=True)
        chooser.set_input_files(str(archive))  # the browser's file dialog is not the page's to test
        chooser.focus()
        # from the file control, Tab moves on to the upload button and Enter presses it
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == "Upload and validate":
                break
        else:
            pytest.fail("Tab from the file control never reached 'Upload and validate'")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url == f"{url}/deploy/keyboard-model"
        assert page.locator("#live-problems .ok").count() == 1
        # Skip to content moves focus to the page's main region
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
