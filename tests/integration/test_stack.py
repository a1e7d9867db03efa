"""`./bodyswap up`'s launcher: starts everything, prints the URL, refuses a second run, stops all."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.livekit_server import API_KEY, API_SECRET, REPO_ROOT, free_port

pytestmark = pytest.mark.integration


def stack_env(tmp_path: Path) -> dict[str, str]:
    lk_port, rooms_port = free_port(), free_port()
    config = tmp_path / "livekit.yaml"
    config.write_text(
        f"""port: {lk_port}
bind_addresses: [127.0.0.1]
rtc: {{tcp_port: {free_port()}, udp_port: {free_port(socket.SOCK_DGRAM)}, node_ip: 127.0.0.1,
      use_external_ip: false, enable_loopback_candidate: true, stun_servers: []}}
keys: {{{API_KEY}: {API_SECRET}}}
"""
    )
    return {
        **os.environ,
        "BODYSWAP_STACK_LIVEKIT_CONFIG": str(config),
        "BODYSWAP_STACK_RUN_DIR": str(tmp_path / "run"),
        "BODYSWAP_ROOM_SERVICE_PORT": str(rooms_port),
        "BODYSWAP_PUBLIC_URL": f"http://127.0.0.1:{rooms_port}",
        "BODYSWAP_AGENT_HEALTH_PORT": str(free_port()),
        "BODYSWAP_AGENT_NAME": "bodyswap-stack-test",
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "TEST_LIVEKIT_PORT": str(lk_port),  # read by the test only
    }


def launch(env: dict[str, str]) -> tuple[subprocess.Popen, queue.Queue]:
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.stack"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    return process, lines


def wait_for_line(lines: queue.Queue, needle: str, timeout_s: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r}; last lines:\n{''.join(seen[-30:])}")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_up_prints_the_url_refuses_a_second_run_and_stops_everything_on_ctrl_c(tmp_path):
    env = stack_env(tmp_path)
    first, lines = launch(env)
    try:
        url = wait_for_line(lines, "Bodyswap is up. Open", 120).split("Open", 1)[1].strip()
        assert url == env["BODYSWAP_PUBLIC_URL"]
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
            assert response.status == 200

        second = subprocess.run(
            [sys.executable, "-m", "scripts.stack"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
        assert second.returncode == 1
        assert "already running" in second.stderr and url in second.stderr
        assert first.poll() is None  # the first run is untouched

        first.send_signal(signal.SIGINT)
        assert first.wait(60) == 0
    finally:
        if first.poll() is None:
            first.kill()
    rooms_port = int(env["BODYSWAP_ROOM_SERVICE_PORT"])
    agent_port = int(env["BODYSWAP_AGENT_HEALTH_PORT"])
    livekit_port = int(env["TEST_LIVEKIT_PORT"])
    assert port_free(rooms_port) and port_free(agent_port) and port_free(livekit_port)


def test_up_names_a_port_another_program_holds(tmp_path):
    env = stack_env(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["BODYSWAP_ROOM_SERVICE_PORT"])))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "scripts.stack"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert f"room service port {env['BODYSWAP_ROOM_SERVICE_PORT']} already in use" in result.stderr
