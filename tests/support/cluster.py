"""LiveKit in its distributed mode for the tests: a private redis-server on loopback and several
livekit-server nodes that share it (each its own ports), always stopped."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .livekit_server import LiveKitServer, free_port, start_livekit_server, stop_process

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
    return start_livekit_server(workdir, timeout_s, redis_address=redis.address)
