"""LiveKit in its distributed mode for the tests: a private redis-server on loopback and several
livekit-server nodes that share it (each its own ports), always stopped."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .livekit_server import API_KEY, API_SECRET, LIVEKIT_SERVER_BIN, LiveKitServer, free_port, stop_process

REDIS_SERVER_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


def start_redis(workdir: Path, timeout_s: float = 10.0) -> RedisServer:
    if not Path(REDIS_SERVER_BIN).exists():
        raise FileNotFoundError(
            "redis-server is not installed. Run `./bodyswap setup` (it installs Debian's redis-server "
            "with apt-get) or `apt-get install redis-server`."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / f"redis-{port}.log"
    process = subprocess.Popen(
        [REDIS_SERVER_BIN, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--protected-mode", "yes"],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return RedisServer(port, process, log_path)
        except OSError:
            time.sleep(0.1)
    stop_process(process)
    raise TimeoutError(f"redis-server did not answer:\n{log_path.read_text()[-2000:]}")


def start_livekit_node(workdir: Path, redis: RedisServer, timeout_s: float = 20.0) -> LiveKitServer:
    """One node of a distributed LiveKit: rooms, participants and agent dispatch go through Redis,
    so a client of any node reaches a room hosted on another."""
    workdir.mkdir(parents=True, exist_ok=True)
    http_port = free_port()
    config = workdir / "livekit-test.yaml"  # the name LiveKitServer's helpers expect beside the log
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
redis:
  address: {redis.address}
keys:
  {API_KEY}: {API_SECRET}
logging:
  level: info
"""
    )
    log_path = workdir / "livekit-server.log"
    process = subprocess.Popen(
        [str(LIVEKIT_SERVER_BIN), "--config", str(config)],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = LiveKitServer(http_port, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"livekit-server exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(server.http_url, timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    stop_process(process)
    raise TimeoutError(f"livekit node was not healthy in {timeout_s} s:\n{log_path.read_text()[-3000:]}")
