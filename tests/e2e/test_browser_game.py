"""The players' web app end to end: three headless Chromiums with fake cameras and microphones
(made from ../shared/media) play a whole round through the real stack: the room service serving
the built app, a real livekit-server and the real agent worker with the passthrough plugin.

Mid-game one player reloads the page and another loses the network for 8 s (Chromium's offline
mode: its signalling drops while WebRTC media may go on); both must be back in their seats with
their bodies moving for the others.

The room service is this test's own, with the shared portraits as the mirror's sample bodies.
The browsers are driven by frontend/e2e/game.e2e.mjs (playwright-core and Debian's chromium, both
installed by `./bodyswap setup`). Screenshots of every screen land in .run/e2e-screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from scripts.browser_media import make as make_browser_media
from tests.conftest import room_service_settings, serve
from tests.support.livekit_server import REPO_ROOT, free_port
from tests.support.media import MEDIA_DIR

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

FRONTEND = REPO_ROOT / "frontend"
CHROMIUM = Path(os.environ.get("BODYSWAP_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / ".run"
SCREENSHOTS = ARTIFACTS / "e2e-screenshots"
SCRIPT_TIMEOUT_S = 540


def missing_setup() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Node.js 20.19+ is needed for the frontend)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run ./bodyswap setup (it installs Debian's chromium)"
    if not (FRONTEND / "node_modules" / "playwright-core").is_dir():
        return "frontend dependencies are missing: run ./bodyswap setup (npm ci)"
    if not (FRONTEND / "dist" / "index.html").is_file():
        return "the web app is not built: run ./bodyswap setup (npm run build)"
    return None


@pytest.mark.timeout(SCRIPT_TIMEOUT_S + 60)
async def test_three_browsers_play_a_round(livekit_server, agent_worker, tmp_path) -> None:
    problem = missing_setup()
    if problem:
        pytest.fail(problem, pytrace=False)  # a missing piece fails, it never skips
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "rooms")
    settings.sample_bodies_dir = MEDIA_DIR / "photos"
    runner = await serve(settings)
    try:
        await play_in_browsers(f"http://127.0.0.1:{settings.port}")
    finally:
        await runner.cleanup()


async def play_in_browsers(url: str) -> None:
    media = await asyncio.to_thread(
        make_browser_media, ARTIFACTS / "browser-media", 3, 320, 240, 15, 10.0
    )
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    env = {
        **os.environ,
        "BODYSWAP_URL": url,
        "BODYSWAP_BROWSER_MEDIA": json.dumps(media),
        "BODYSWAP_SCREENSHOTS": str(SCREENSHOTS),
        "BODYSWAP_CHROMIUM": str(CHROMIUM),
    }
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        "node", "e2e/game.e2e.mjs",
        cwd=FRONTEND, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []

    async def relay() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            print(line, flush=True)

    try:
        await asyncio.wait_for(asyncio.gather(relay(), process.wait()), SCRIPT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"the browsers did not finish in {SCRIPT_TIMEOUT_S} s:\n" + "\n".join(lines[-60:]))
    (ARTIFACTS / "e2e-browser.log").write_text("\n".join(lines) + "\n")
    assert process.returncode == 0, "\n".join(lines[-80:])
    screenshots = sorted(SCREENSHOTS.glob("*.png"))
    assert len(screenshots) >= 15, [s.name for s in screenshots]
    print(f"browser game passed in {time.monotonic() - started:.0f} s; screenshots in {SCREENSHOTS}")
