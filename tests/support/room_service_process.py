"""The room service as its own process (`python -m room_service`), for tests that need it apart
from the test's event loop (restarts, or synchronous HTTP clients such as schemathesis)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .livekit_server import REPO_ROOT, LiveKitServer, free_port, stop_process


class RoomServiceProcess:
    def __init__(self, server: LiveKitServer, data_dir: Path, agent_name: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"room-service-{self.port}.log"
        self.env = {
            **os.environ,
            **server.env(),
            "BODYSWAP_ROOM_SERVICE_PORT": str(self.port),
            "BODYSWAP_PUBLIC_URL": self.url,
            "BODYSWAP_DATA_DIR": str(data_dir),
            "BODYSWAP_AGENT_NAME": agent_name,
            "BODYSWAP_SWAP_PLUGIN": "passthrough",  # what these tests check is not the swap
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "room_service"], cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its signals never reach pytest
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"room service exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"room service not healthy:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        """An abrupt crash: no shutdown handlers run."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
