"""LiveKit in its distributed mode for the tests: a private redis-server on loopback and several
livekit-server nodes that share it (each its own ports), always stopped."""

from __future__ import annotations

import shutil
import socket
import ssl
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


def self_signed_certificate(workdir: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, made with the openssl command, for a TLS redis-server."""
    cert, key = workdir / "redis-cert.pem", workdir / "redis-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def start_redis(workdir: Path, timeout_s: float = 10.0, tls: tuple[Path, Path] | None = None) -> RedisServer:
    """A private redis-server on loopback; with `tls` (certificate, key) it speaks only TLS."""
    if not Path(REDIS_SERVER_BIN).exists():
        raise FileNotFoundError(
            "redis-server is not installed. Run `./bodyswap setup` (it installs Debian's redis-server "
            "with apt-get) or `apt-get install redis-server`."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / f"redis-{port}.log"
    listen = ["--port", str(port)]
    if tls:
        listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(tls[0]),
                  "--tls-key-file", str(tls[1]), "--tls-ca-cert-file", str(tls[0]), "--tls-auth-clients", "no"]
    process = subprocess.Popen(
        [REDIS_SERVER_BIN, "--bind", "127.0.0.1", *listen, "--save", "", "--appendonly", "no",
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
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as plain:
                conn = ssl.create_default_context(cafile=tls[0]).wrap_socket(plain, server_hostname="127.0.0.1") if tls else plain
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
