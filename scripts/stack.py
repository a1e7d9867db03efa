"""`./bodyswap up`: start the whole stack locally, wait until it is healthy, print the URL.

Starts livekit-server, the room service and the agent worker as child processes, prefixes each
one's log lines with its name, and on Ctrl-C (or SIGTERM) stops every process it started. A second
run while one is up says so and exits instead of failing on a busy port.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.settings import AgentSettings
from room_service.settings import RoomServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[1]


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    livekit_config: Path = Field(
        REPO_ROOT / "livekit.yaml",
        validation_alias="BODYSWAP_STACK_LIVEKIT_CONFIG",
        description="livekit-server configuration the stack runs with",
    )
    livekit_server: Path = Field(
        REPO_ROOT / "bin" / "livekit-server", validation_alias="BODYSWAP_LIVEKIT_SERVER"
    )
    run_dir: Path = Field(
        REPO_ROOT / ".run",
        validation_alias="BODYSWAP_STACK_RUN_DIR",
        description="Holds the lock that tells a second run the stack is already up",
    )
    startup_timeout_s: float = Field(90.0, validation_alias="BODYSWAP_STACK_STARTUP_TIMEOUT_S")


class StackError(Exception):
    pass


@dataclass
class Service:
    """A child process, how to tell it is healthy, and the ports it needs free."""

    name: str
    command: list[str]
    health_url: str
    ports: list[tuple[str, int]]
    ready_mark: str | None = None  # a log line that must also appear before it counts as up
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    seen_ready_mark: threading.Event = field(default_factory=threading.Event)
    last_lines: list[str] = field(default_factory=list)

    def start(self, color: str) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
        )
        threading.Thread(target=self._relay_output, args=(color,), daemon=True).start()

    def _relay_output(self, color: str) -> None:
        assert self.process and self.process.stdout
        prefix = f"{color}{self.name:>8} |\033[0m " if color else f"{self.name:>8} | "
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.last_lines = (self.last_lines + [line])[-30:]
            if self.ready_mark and self.ready_mark in line:
                self.seen_ready_mark.set()
            print(prefix + line, flush=True)

    def healthy(self) -> bool:
        if self.ready_mark and not self.seen_ready_mark.is_set():
            return False
        try:
            with urllib.request.urlopen(self.health_url, timeout=1) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def livekit_ports(config_path: Path) -> tuple[str, int, list[tuple[str, int]]]:
    config = yaml.safe_load(config_path.read_text())
    port = int(config.get("port", 7880))
    rtc = config.get("rtc", {})
    host = (config.get("bind_addresses") or ["127.0.0.1"])[0]
    ports = [("LiveKit HTTP/WebSocket", port), ("LiveKit RTC TCP", int(rtc.get("tcp_port", 7881)))]
    return host, port, ports


DEVELOPMENT_SAMPLES = REPO_ROOT.parent / "shared" / "media" / "photos"


def development_samples(rooms: RoomServiceSettings) -> dict[str, str]:
    """Locally, the mirror's sample bodies are the shared portraits unless the operator set some."""
    if rooms.sample_bodies_dir is None and DEVELOPMENT_SAMPLES.is_dir():
        return {"BODYSWAP_SAMPLE_BODIES_DIR": str(DEVELOPMENT_SAMPLES)}
    return {}


def build_services(stack: StackSettings) -> list[Service]:
    if not stack.livekit_server.exists():
        raise StackError(
            f"livekit-server is not installed at {stack.livekit_server}; run ./bodyswap setup"
        )
    rooms, agent = RoomServiceSettings(), AgentSettings()
    lk_host, lk_port, lk_ports = livekit_ports(stack.livekit_config)
    livekit_env = {
        "LIVEKIT_URL": f"ws://{lk_host}:{lk_port}",
        "LIVEKIT_API_KEY": agent.livekit_api_key,
        "LIVEKIT_API_SECRET": agent.livekit_api_secret,
    }
    python = sys.executable
    return [
        Service(
            "livekit",
            [str(stack.livekit_server), "--config", str(stack.livekit_config), "--bind", lk_host],
            f"http://{lk_host}:{lk_port}/",
            lk_ports,
        ),
        Service(
            "rooms",
            [python, "-m", "room_service"],
            f"http://{rooms.host}:{rooms.port}/healthz",
            [("room service", rooms.port)],
            env={**livekit_env, **development_samples(rooms)},
        ),
        Service(
            "agent",
            [python, "-m", "agent", "start"],
            f"http://{agent.health_host}:{agent.health_port}/",
            [("agent health", agent.health_port)]
            + ([("agent metrics", agent.metrics_port)] if agent.metrics_port else []),
            ready_mark="registered worker",
            env=livekit_env,
        ),
    ]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class StackLock:
    """An flock on .run/stack.lock, held while the stack runs; it also records the URL."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / "stack.lock"
        self._file = self.path.open("a+")

    def acquire(self) -> None:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            try:
                info = json.loads(self._file.read() or "{}")
            except json.JSONDecodeError:
                info = {}
            where = f" at {info['url']}" if "url" in info else ""
            pid = f" (pid {info['pid']})" if "pid" in info else ""
            raise StackError(
                f"Bodyswap is already running{pid}{where}. "
                "Open that URL, or stop the other run with Ctrl-C before starting a new one."
            ) from None

    def record(self, **info: object) -> None:
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(info))
        self._file.flush()


def wait_until_healthy(services: list[Service], timeout_s: float, stopping: threading.Event) -> None:
    deadline = time.monotonic() + timeout_s
    for service in services:
        while not service.healthy():
            if stopping.is_set():
                raise StackError("stopped before the stack was up")
            assert service.process is not None
            if service.process.poll() is not None:
                tail = "\n".join(service.last_lines[-15:])
                raise StackError(f"{service.name} exited with code {service.process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise StackError(f"{service.name} was not healthy within {timeout_s:.0f} s")
            time.sleep(0.2)
        print(f"   stack | {service.name} is up", flush=True)


def run(stack: StackSettings) -> int:
    lock = StackLock(stack.run_dir)
    lock.acquire()
    services = build_services(stack)
    busy = [f"{what} port {port}" for s in services for what, port in s.ports if port_in_use(port)]
    if busy:
        raise StackError(
            f"{', '.join(busy)} already in use by another program; stop it or change the port "
            "(see README, Configuration)"
        )

    stopping = threading.Event()

    def request_stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    colors = ["\033[36m", "\033[35m", "\033[33m"] if sys.stdout.isatty() else ["", "", ""]
    url = RoomServiceSettings().public_url
    try:
        for service, color in zip(services, colors):
            service.start(color)
        wait_until_healthy(services, stack.startup_timeout_s, stopping)
        lock.record(pid=os.getpid(), url=url)
        print(f"\n   Bodyswap is up. Open {url}\n   Press Ctrl-C to stop.\n", flush=True)
        while not stopping.wait(0.5):
            for service in services:
                if service.process and service.process.poll() is not None:
                    raise StackError(f"{service.name} stopped unexpectedly; stopping the stack")
        return 0
    finally:
        print("   stack | stopping", flush=True)
        for service in reversed(services):
            service.stop()
        lock.record()
        print("   stack | stopped", flush=True)


def main() -> int:
    try:
        return run(StackSettings())
    except StackError as e:
        print(f"bodyswap: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
