"""The web app's own unit tests (Vitest: the game state reducer, the API client, components), run
as part of `./bodyswap test` so CI covers them. `cd frontend && npm test` runs them alone."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.livekit_server import REPO_ROOT

FRONTEND = REPO_ROOT / "frontend"


@pytest.mark.timeout(240)
def test_vitest_passes() -> None:
    if shutil.which("npm") is None or not (FRONTEND / "node_modules" / "vitest").is_dir():
        pytest.fail("the web app's packages are missing: run ./bodyswap setup", pytrace=False)
    result = subprocess.run(
        ["npm", "test", "--silent", "--", "--reporter=dot"],
        cwd=FRONTEND, capture_output=True, text=True, timeout=230,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
