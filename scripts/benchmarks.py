"""What every benchmark and quality script shares: a description of the machine it ran on, and the
writing of its own section of docs/benchmarks.md.

Each script owns the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`; a rerun replaces
only that, so the other scripts' sections and the hand-written notes around them stay as they are.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import shutil
import subprocess
import sys

import psutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
DOC_INTRO = """# Benchmarks

Speed, capacity and quality figures for Bodyswap, each produced by a script under `scripts/` that
prints the exact command to reproduce it. Tests assert behaviour; the numbers live here. Each
section is written by its own script between its own markers, so they can be re-run separately.
"""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def usable_cores() -> str:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return f"{usable} usable of {os.cpu_count()}"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: on a shared machine, what the timings competed with."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def gpu_names() -> str:
    """The GPUs nvidia-smi names, or 'none': says whether the figures come from a CPU or a GPU box."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10,
            ).stdout
            names = [n.strip() for n in out.splitlines() if n.strip()]
            if names:
                return ", ".join(names)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if Path("/proc/driver/nvidia/gpus").exists():
        return "NVIDIA (driver present)"
    return "none"


def livekit_server_version(binary: Path) -> str:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "livekit-server unknown"
    return out.strip().replace("livekit-server version ", "livekit-server ") or "livekit-server unknown"


def reproduce_command(script: str) -> str:
    """The command line that ran `script` (its __file__), relative to the repository root: printed
    beside the figures so anyone can take them again."""
    python = Path(sys.executable)
    try:
        python_text = str(python.relative_to(REPO_ROOT))
    except ValueError:
        python_text = str(python)
    return shlex.join([python_text, str(Path(script).resolve().relative_to(REPO_ROOT)), *sys.argv[1:]])


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of a process and all its descendants, by pid."""
    out: dict[int, float] = {}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return out
    for proc in procs:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots; processes born in between count from zero. (A process
    that exited in between loses its last slice; none should during a window.)"""
    return sum(after[p] - before.get(p, 0.0) for p in after)


def machine(**extra: str) -> dict[str, str]:
    """cpu, cores, python, date and load (at the call), plus what the script adds (library versions)."""
    return {
        "cpu": cpu_name(),
        "cores": usable_cores(),
        "python": platform.python_version(),
        "date": utc_now(),
        "load": load_average(),
        **extra,
    }


def write_section(name: str, body: str, path: Path = DOC_PATH) -> None:
    """Put `body` between the `name` markers of `path`, replacing what was there, or append it."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip(chr(10))}\n{end}"
    text = path.read_text() if path.exists() else DOC_INTRO
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
