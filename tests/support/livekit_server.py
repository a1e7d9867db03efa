"""A private livekit-server for the tests: free ports, its own config, always stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LIVEKIT_SERVER_BIN = Path(os.environ.get("BODYSWAP_LIVEKIT_SERVER", REPO_ROOT / "bin" / "livekit-server"))
API_KEY = "testkey"
API_SECRET = "bodyswap-test-secret-0123456789abcdefghij"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveKitServer:
    http_port: int
    process: subprocess.Popen
    log_path: Path
    api_key: str = API_KEY
    api_secret: str = API_SECRET

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        """The environment a Bodyswap process needs to use this server."""
        return {
            "LIVEKIT_URL": self.url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
        }


def start_livekit_server(workdir: Path, timeout_s: float = 20.0, attempts: int = 3) -> LiveKitServer:
    """Start on free ports; a port taken between picking and binding it means another try."""
    for attempt in range(attempts):
        try:
            return _start_once(workdir, timeout_s)
        except PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start_once(workdir: Path, timeout_s: float) -> LiveKitServer:
    if not LIVEKIT_SERVER_BIN.exists():
        raise FileNotFoundError(
            f"livekit-server is not installed at {LIVEKIT_SERVER_BIN}. "
            "Run `./bodyswap setup` (it builds it with the Go module proxy), "
            "or point BODYSWAP_LIVEKIT_SERVER at a livekit-server binary."
        )
    http_port = free_port()
    config = workdir / "livekit-test.yaml"
    config.write_text(
        f"""port: {http_port}
bind_addresses: [127.0.0.1]
rtc:
  tcp_port: {free_port()}
  udp_port: {free_port(socket.SOCK_DGRAM)}
  node_ip: 127.0.0.1
  use_external_ip: false
  enable_loopback_candidate: true
  stun_servers: []
keys:
  {API_KEY}: {API_SECRET}
logging:
  level: info
"""
    )
    log_path = workdir / "livekit-server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(LIVEKIT_SERVER_BIN), "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: its signals never reach pytest
    )
    server = LiveKitServer(http_port, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = log_path.read_text()
            if "address already in use" in log_text:
                raise PortTaken(log_text[-500:])
            raise RuntimeError(f"livekit-server exited early:\n{log_text[-3000:]}")
        try:
            with urllib.request.urlopen(server.http_url, timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    stop_process(process)
    raise TimeoutError(f"livekit-server was not healthy in {timeout_s} s:\n{log_path.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
