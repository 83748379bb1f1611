"""aiar's H2O bridge jar is claimed reproducible: rebuilt from ``java/h2o-bridge`` it has the committed bytes.

Needs Maven and a JDK (``make java`` installs them) and Maven Central, or Maven's cache under
``~/.cache/aiar-maven``; a rebuild takes about ten seconds with a warm cache.
"""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO

BUILD = REPO / "java" / "h2o-bridge" / "build.sh"


def test_the_committed_jar_is_what_the_sources_build() -> None:
    missing = [tool for tool in ("mvn", "javac") if shutil.which(tool) is None]
    assert not missing, f"{', '.join(missing)} not installed: run `make java`"
    result = subprocess.run(["bash", str(BUILD), "--verify"], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rebuilt with the same sha256" in result.stdout
