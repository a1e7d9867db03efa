"""The real agent worker (`python -m agent start`) as a subprocess of the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .livekit_server import REPO_ROOT, LiveKitServer, free_port, stop_process

REGISTERED_MARK = "registered worker"


@dataclass
class AgentWorker:
    agent_name: str
    process: subprocess.Popen
    log_path: Path
    metrics_port: int
    registered: threading.Event = field(default_factory=threading.Event)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics_text(self) -> str:
        """What Prometheus would scrape from the worker (its job processes included)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()


def start_agent_worker(
    server: LiveKitServer,
    workdir: Path,
    agent_name: str,
    timeout_s: float = 60.0,
    extra_env: dict[str, str] | None = None,
    log_name: str | None = None,
) -> AgentWorker:
    metrics_port = free_port()
    env = {
        **os.environ,
        **server.env(),
        "BODYSWAP_AGENT_NAME": agent_name,
        "BODYSWAP_AGENT_HEALTH_PORT": str(free_port()),
        "BODYSWAP_AGENT_METRICS_PORT": str(metrics_port),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "agent", "start"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: its signals never reach pytest
    )
    worker = AgentWorker(agent_name, process, workdir / f"agent-{log_name or agent_name}.log", metrics_port)

    def copy_log() -> None:
        with worker.log_path.open("wb") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if REGISTERED_MARK.encode() in line:
                    worker.registered.set()

    threading.Thread(target=copy_log, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not worker.registered.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"agent worker did not register:\n{worker.log_text()[-4000:]}")
    return worker
