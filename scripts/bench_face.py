"""Speed of the face plugin (default: cpu-face): ms per 512x512 driver frame on one core.

    .venv/bin/python scripts/bench_face.py              # 6 drivers x 10 s, written into docs/benchmarks.md
    .venv/bin/python scripts/bench_face.py --seconds 3 --no-doc

The process is pinned to one core (os.sched_setaffinity) and every math library is told to use one
thread (OMP / OpenBLAS / MKL env vars, set before numpy loads; cv2.setNumThreads(1)). Each shared
player's clip, resized to 512x512 and converted to I420 beforehand (what the worker hands the
plugin), drives the next player's enrollment photo; only `convert_video` is timed, after a short
warm-up. The no-face path (a frame with nobody in it) is timed separately.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bodyswap_api import Enrollment, VideoFrame, load_plugin  # noqa: E402
from bodyswap_api.conformance import no_face_frame  # noqa: E402

from scripts.benchmarks import DOC_PATH, load_average, machine, write_section  # noqa: E402
from scripts.quality_face import enrollment_photo  # noqa: E402
from tests.support.media import media_players  # noqa: E402

SECTION = "face-speed"
SIZE = 512
WARMUP = 10


def driver_frames(clip: Path, seconds: float) -> tuple[list[np.ndarray], float]:
    frames = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for frame in container.decode(stream):
            if len(frames) >= seconds * fps:
                break
            rgb = cv2.resize(frame.to_ndarray(format="rgb24"), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1))
    return frames, fps


def timed(session, frames: list[VideoFrame], cpu: list[float] | None = None) -> list[float]:
    """Wall-clock ms per call; with `cpu`, also this thread's CPU ms per call (what the call cost,
    without the time it waited for the core on a shared machine)."""
    out = []
    for frame in frames:
        start, start_cpu = time.perf_counter(), time.thread_time()
        session.convert_video(frame)
        out.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - start_cpu) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="cpu-face")
    parser.add_argument("--seconds", type=float, default=10.0, help="of each driver clip")
    parser.add_argument("--core", type=int, help="the core to pin to (default: the last usable one)")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)

    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    info = machine(opencv=cv2.__version__)
    plugin = load_plugin(args.plugin)
    players = media_players()
    rows, all_ms, all_cpu = [], [], []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    for index, driver in enumerate(players):
        target = players[(index + 1) % len(players)]
        profile = plugin.prepare(Enrollment(photo_rgb=enrollment_photo(target.video)))
        raw, fps = driver_frames(driver.video, args.seconds)
        frames = [
            VideoFrame(SIZE, SIZE, "i420", data, int(i * 1e6 / fps)) for i, data in enumerate(raw)
        ]
        session = plugin.session(None, profile)
        timed(session, frames[:WARMUP])
        cpu: list[float] = []
        ms = timed(session, frames[WARMUP:], cpu)
        session.close()
        all_ms += ms
        all_cpu += cpu
        rows.append((driver.id, target.id, len(ms), *np.percentile(ms, [50, 95, 99]), max(ms), *np.percentile(cpu, [50, 95])))
    session = plugin.session(None, profile)
    empty = [no_face_frame(SIZE, SIZE, "i420", i) for i in range(60)]
    empty = [VideoFrame(f.width, f.height, f.format, f.data, int(i * 40_000)) for i, f in enumerate(empty)]
    no_face_ms = timed(session, empty)
    session.close()
    cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
    info["load_end"] = load_average()

    p50, p95, p99 = np.percentile(all_ms, [50, 95, 99])
    lines = [
        "| driver -> target | frames timed | p50 ms | p95 ms | p99 ms | max ms | CPU p50 / p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {d} -> {t} | {n} | {a:.1f} | {b:.1f} | {c:.1f} | {m:.1f} | {c50:.1f} / {c95:.1f} |"
        for d, t, n, a, b, c, m, c50, c95 in rows
    ]
    cpu50, cpu95 = np.percentile(all_cpu, [50, 95])
    lines.append(
        f"| **all** | {len(all_ms)} | **{p50:.1f}** | **{p95:.1f}** | {p99:.1f} | {max(all_ms):.1f} | **{cpu50:.1f} / {cpu95:.1f}** |"
    )
    nf50, nf95 = np.percentile(no_face_ms, [50, 95])
    lines.append(f"| no face (nobody in front of the camera) | {len(no_face_ms)} | {nf50:.1f} | {nf95:.1f} | | {max(no_face_ms):.1f} | |")
    table = "\n".join(lines)
    print(table)
    share = cpu_s / wall_s if wall_s > 0 else float("nan")
    print(f"this process had {100 * share:.0f} % of its core (CPU time / wall time); load {info['load']} -> {info['load_end']}")
    command = "scripts/bench_face.py" + (" " + shlex.join(sys.argv[1:] if argv is None else argv) if (argv or sys.argv[1:]) else "")
    section = "\n".join([
        "## Face swap speed (cpu-face)",
        "",
        f"Written by `scripts/bench_face.py` (plugin `{args.plugin}`). One process pinned to one core "
        "(`os.sched_setaffinity`), math libraries at one thread, `cv2.setNumThreads(1)`. Each shared player's "
        f"clip resized to {SIZE}x{SIZE} I420 (the worker's format) drives the next player's photo; "
        f"`convert_video` alone is timed, after {WARMUP} warm-up frames; percentiles over every frame. The "
        "tracker runs dlib's detector only when it has no face and every 30 frames to check, so those "
        "frames are the slow tail. CPU ms is the thread's own CPU time per call (`time.thread_time`): "
        "what a frame costs, without the time it waited for a shared core.",
        "",
        f"Machine: {info['cpu']}, pinned to core {core}, Python {info['python']}, OpenCV {info['opencv']}; "
        f"{info['date']}; load average {info['load']} at start, {info['load_end']} at the end; the process "
        f"got {100 * share:.0f} % of its core (CPU time over wall time): on a shared machine the wall-clock "
        "figures include waiting for the core.",
        "",
        f"Command (from the repository root): `.venv/bin/python {command}`",
        "",
        table,
    ])
    if not args.no_doc:
        write_section(SECTION, section)
        print(f"written into {DOC_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
