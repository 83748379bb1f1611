"""``aiar ui``: serve the web app (Dashboard, Deployer, Scheduler, Storage) over a workspace.

The workspace is what the other commands work on: a bundles directory, an environment file, the
lock file and ``out/``; what the web app deploys is what ``git diff`` shows there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .cli import (
    DEFAULT_BUNDLES,
    EXIT_ERROR,
    _say,
    context_option,
    env_option,
    kubeconfig_option,
    lock_option,
    out_option,
)


@click.command()
@click.option(
    "--bundles",
    "bundles",
    type=click.Path(path_type=Path),
    default=DEFAULT_BUNDLES,
    show_default=True,
    help="Bundles directory: uploads are extracted here, schedules edited here.",
)
@env_option
@lock_option
@out_option
@kubeconfig_option
@context_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token",
    envvar="AIAR_UI_TOKEN",
    default=None,
    help="Access token (env AIAR_UI_TOKEN): needed to bind a non-loopback address; every request must "
    "carry it (Authorization: Bearer, or ?token= once, kept in a cookie). Enforced on loopback too when set.",
)
@click.option(
    "--trust-header",
    default=None,
    metavar="HEADER",
    help="Trust this request header (e.g. X-Forwarded-User) as the user's identity, set by an "
    "authenticating (OIDC) reverse proxy in front; requests without it are refused 401.",
)
@click.option(
    "--allow-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="On a loopback bind, also serve this Host name (a reverse proxy on this machine that passes "
    "the public name on); every other name gets 421, against DNS rebinding.",
)
@click.option("--max-bundle-mib", default=64, show_default=True, type=click.IntRange(1, 1024))
@click.option("--max-dataset-mib", default=2048, show_default=True, type=click.IntRange(1, 1 << 20))
def ui(
    bundles: Path,
    env_file: Path,
    lock_file: Path,
    out: Path,
    kubeconfig: Path | None,
    context: str | None,
    host: str,
    port: int,
    token: str | None,
    trust_header: str | None,
    allowed_hosts: tuple[str, ...],
    max_bundle_mib: int,
    max_dataset_mib: int,
) -> None:
    """Serve the web app on HOST:PORT (default 127.0.0.1:8000)."""
    try:
        import uvicorn

        from .ui.app import Limits, create_app
        from .ui.security import Access
        from .ui.workspace import Workspace
    except ImportError as exc:
        _say(f"aiar ui: {exc.name} is missing: pip install 'aiar[ui]'", err=True)
        sys.exit(EXIT_ERROR)
    if token is not None and len(token) < 16:
        _say("aiar ui: the access token must be at least 16 characters", err=True)
        sys.exit(EXIT_ERROR)
    access = Access(host, port, token or None, trust_header, allowed_hosts)
    problem = access.problem()
    if problem:
        _say(f"aiar ui: {problem}", err=True)
        sys.exit(EXIT_ERROR)
    workspace = Workspace(bundles, env_file, lock_file, out, kubeconfig, context)
    limits = Limits(bundle_bytes=max_bundle_mib * 2**20, dataset_bytes=max_dataset_mib * 2**20)
    app = create_app(workspace, access, limits)
    shown = f"[{host}]" if ":" in host else host
    _say(f"aiar ui: http://{shown}:{port}/  (workspace {bundles}, {env_file}, {out}; Ctrl-C stops)", err=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


if __name__ == "__main__":  # pragma: no cover
    ui()
