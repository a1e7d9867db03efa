"""A private livekit-server for the tests: free ports, its own config, always stopped."""

from __future__ import annotations

import os
import random
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


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free now and that the kernel will not hand to an outgoing connection meanwhile.

    The kernel's own pick (bind to 0) comes from its ephemeral range, the same range every client
    socket of the suite draws from, so a server started a moment later could find it taken. Ports
    below that range are only ever taken by an explicit bind."""
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randint(10_000, low - 1) if low > 11_000 else 0
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port below the ephemeral range")


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


def start_livekit_server(
    workdir: Path, timeout_s: float = 20.0, attempts: int = 3, redis_address: str | None = None
) -> LiveKitServer:
    """Start on free ports; a port taken between picking and binding it means another try.

    With `redis_address` the server is one node of a distributed LiveKit."""
    for attempt in range(attempts):
        try:
            return _start_once(workdir, timeout_s, redis_address)
        except PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start_once(workdir: Path, timeout_s: float, redis_address: str | None) -> LiveKitServer:
    if not LIVEKIT_SERVER_BIN.exists():
        raise FileNotFoundError(
            f"livekit-server is not installed at {LIVEKIT_SERVER_BIN}. "
            "Run `./bodyswap setup` (it builds it with the Go module proxy), "
            "or point BODYSWAP_LIVEKIT_SERVER at a livekit-server binary."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    http_port = free_port()
    redis_config = f"redis:\n  address: {redis_address}\n" if redis_address else ""
    config = workdir / "livekit-test.yaml"  # test_ops_faults restarts a node from it
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
{redis_config}keys:
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
