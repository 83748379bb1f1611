"""skopeo (OCI layouts, registry copies) and syft (SBOMs): found, run, and kept away from secrets.

Registry credentials reach skopeo in an auth file of a private temporary directory (mode 0600),
never on a command line (where ``ps`` shows them) or in the archive; what the tools print is shown
only on failure, and then with the credentials' values masked.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..apply.credentials import Credentials
from ..errors import Problem
from . import ArchiveError

SKOPEO_ENV = "AIAR_SKOPEO"
SYFT_ENV = "AIAR_SYFT"
TOOLS_DIR = Path.home() / ".cache" / "aiar-tools" / "bin"
TIMEOUT_S = 3600.0
POLICY = {"default": [{"type": "insecureAcceptAnything"}]}
"""skopeo's signature policy: aiar checks the archive's own digests (and signature) instead."""


def find_tool(name: str, env_var: str, hint: str) -> str:
    """The tool named by ``env_var``, else on PATH, else in aiar's tool cache; a clear problem if none."""
    given = os.environ.get(env_var)
    if given:
        if not (Path(given).is_file() and os.access(given, os.X_OK)):
            raise ArchiveError([Problem(env_var, "", f"{given} is not an executable file")])
        return given
    found = shutil.which(name) or (str(TOOLS_DIR / name) if (TOOLS_DIR / name).is_file() else None)
    if found is None:
        raise ArchiveError([Problem(name, "", f"not found on PATH, in {TOOLS_DIR} or in ${env_var}: {hint}")])
    return found


def skopeo() -> str:
    return find_tool("skopeo", SKOPEO_ENV, "install it (Debian: apt-get install skopeo)")


def syft() -> str:
    return find_tool("syft", SYFT_ENV, "build it: bash tests/tools/install_validators.sh (go, from the module proxy)")


class Tools:
    """skopeo runs with a private policy and auth file; ``secrets`` are masked in any output shown."""

    def __init__(self, workdir: Path, secrets: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.secrets = tuple(s for s in secrets if s)
        self.policy = workdir / "policy.json"
        self.policy.write_text(json.dumps(POLICY))
        self.no_auth = workdir / "no-auth.json"
        self.no_auth.write_text(json.dumps({"auths": {}}))

    def mask_also(self, secret: str | None) -> None:
        if secret:
            self.secrets = (*self.secrets, secret)

    def auth_file(self, host: str, credentials: Credentials) -> Path:
        """An auth file holding only ``host``'s credentials (an empty one without credentials)."""
        if credentials.username is None or credentials.password is None:
            return self.no_auth
        path = self.workdir / f"auth-{len(list(self.workdir.glob('auth-*')))}.json"
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"auths": {host: {"auth": token}}}, handle)
        return path

    def run(self, what: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        return self.start(what, argv, env).wait()

    def start(self, what: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Running:
        """``argv`` started; its output is read when it is waited for."""
        # a fixed argv of aiar's own tools, no shell; the refs come from a verified out/
        process = subprocess.Popen(  # noqa: S603
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        return Running(self, what, Path(argv[0]).name, process)

    def mask(self, lines: Sequence[str]) -> list[str]:
        masked = []
        for line in lines:
            for secret in self.secrets:
                line = line.replace(secret, "***")
            masked.append(line)
        return masked

    def start_copy(
        self,
        source: str,
        destination: str,
        *,
        src_auth: Path | None = None,
        dest_auth: Path | None = None,
        src_insecure: bool = False,
        dest_insecure: bool = False,
        dest_shared_blobs: Path | None = None,
    ) -> Running:
        argv = [skopeo(), "--policy", str(self.policy), "copy", "--quiet", "--retry-times", "2"]
        if dest_shared_blobs is not None:  # an OCI destination's blobs in this directory, not its own
            argv += ["--dest-shared-blob-dir", str(dest_shared_blobs)]
        if src_auth is not None:
            argv += ["--src-authfile", str(src_auth)]
        if dest_auth is not None:
            argv += ["--dest-authfile", str(dest_auth)]
        if source.startswith("docker://"):
            argv += [f"--src-tls-verify={'false' if src_insecure else 'true'}"]
        if destination.startswith("docker://"):
            argv += [f"--dest-tls-verify={'false' if dest_insecure else 'true'}"]
        # No user auth file (~/.docker/config.json, $XDG_RUNTIME_DIR/containers/auth.json) is read:
        # only the credentials the environment file names.
        return self.start(source, [*argv, source, destination], {"REGISTRY_AUTH_FILE": str(self.no_auth)})


class Running:
    """A tool's process: waited for (its failure a problem naming ``what``, its output masked) or stopped."""

    def __init__(self, tools: Tools, what: str, name: str, process: subprocess.Popen[str]) -> None:
        self.tools, self.what, self.name, self.process = tools, what, name, process

    def wait(self) -> str:
        try:
            stdout, stderr = self.process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ArchiveError([Problem(self.what, "", f"{self.name} did not finish in {TIMEOUT_S:.0f}s")]) from None
        if self.process.returncode != 0:
            detail = self.tools.mask((stderr or stdout).strip().splitlines()[-5:])
            raise ArchiveError([Problem(self.what, "", f"{self.name} failed: {' / '.join(detail)}")])
        return stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


SYFT_CONFIG = (
    "check-for-app-update: false\nparallelism: 2\nfile:\n  metadata:\n    selection: none\n"
    "default-catalogers:\n  - dpkg-db-cataloger\n  - python-installed-package-cataloger\n"
    "  - java-archive-cataloger\n"
)
"""syft's whole config (given with --config, so no user config is read): no update check (its one
network call for a local image); packages only, not a component per file (which made SBOMs five times
larger and their scan twice as slow); and only the catalogers of what aiar's images hold: Debian's
packages, installed Python packages, and jars (H2O's). The others look for ecosystems these images do
not have, or list setuptools' Windows launchers (``cli-64.exe``...) as applications."""
SYFT_OFFLINE = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}


@contextmanager
def workspace(prefix: str, under: Path | None = None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix, dir=under) as scratch:
        os.chmod(scratch, 0o700)
        yield Path(scratch)
